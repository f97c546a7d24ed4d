//! Page fragments that depend only on the procedure and the language, rendered once.
//!
//! Most of a procedure page is the same HTML on every request: the application form's fields,
//! its attachment input and buttons, and the checklist of documents depend only on the
//! procedure and the language. They are rendered when the gateway is built, by the same
//! templates that render them on demand, into [`Markup`] (escaped once, at start-up), and a
//! request copies them into its page.
//! The home ward's name and unit word, which every page's shell shows, the session panel's
//! sign-out button and the draft-claim form's field are made once per language too.
//! What depends on the request — the session panel, the idempotency key, the CSRF token, the
//! grant's expiry, a draft's saved answers — is still rendered per request.

use std::collections::HashMap;

use super::html::{ButtonKind, Markup, button};
use super::pages::{checklist, form_fields};
use crate::fallback::Ward;
use crate::i18n::Lang;
use crate::policy::{Catalog, Procedure, ProcedureCode};

/// The fragments of one procedure in one language.
#[derive(Debug)]
pub(crate) struct ProcedureHtml {
    /// The form's fields, attachment input and buttons, without saved answers and without the
    /// idempotency key.
    pub(crate) blank_fields: Markup,
    /// The documents to prepare, the fee and the processing time.
    pub(crate) checklist: Markup,
}

impl ProcedureHtml {
    fn render(lang: Lang, procedure: &Procedure) -> Self {
        Self {
            blank_fields: form_fields(lang, procedure, None),
            checklist: checklist(lang, procedure),
        }
    }
}

/// The home ward's texts of the page shell in one language.
#[derive(Debug, Default)]
pub(crate) struct WardTexts {
    /// The name with the province ([`Ward::full_name`]).
    pub(crate) full_name: String,
    /// `phường`, `xã`… ([`Ward::unit_word`]).
    pub(crate) unit_word: String,
}

impl WardTexts {
    fn new(lang: Lang, ward: &Ward) -> Self {
        Self {
            full_name: ward.full_name().get(lang).to_owned(),
            unit_word: ward.unit_word().get(lang).to_owned(),
        }
    }
}

/// Fragments of the procedure page that depend only on the language.
#[derive(Debug)]
pub(crate) struct LangHtml {
    /// The session panel's sign-out button.
    pub(crate) sign_out_button: Markup,
    /// The draft-claim form's field and button.
    pub(crate) claim_fields: Markup,
}

impl LangHtml {
    fn render(lang: Lang) -> Self {
        Self {
            sign_out_button: button(ButtonKind::Secondary, lang.pick("Đăng xuất", "Sign out")),
            claim_fields: super::draft_claim::claim_fields(lang),
        }
    }
}

/// The fragments of every procedure of a catalog, in both languages.
#[derive(Debug)]
pub(crate) struct ProcedureHtmlCache {
    /// Vietnamese, then English.
    by_code: HashMap<ProcedureCode, [ProcedureHtml; 2]>,
    /// Vietnamese, then English.
    home_ward: [WardTexts; 2],
    /// Vietnamese, then English.
    by_lang: [LangHtml; 2],
}

impl Default for ProcedureHtmlCache {
    /// No procedure and no ward; the fragments that depend only on the language.
    fn default() -> Self {
        Self {
            by_code: HashMap::new(),
            home_ward: Default::default(),
            by_lang: [LangHtml::render(Lang::Vi), LangHtml::render(Lang::En)],
        }
    }
}

impl ProcedureHtmlCache {
    /// Renders the fragments of every procedure in `catalog`, and the texts of `home_ward`.
    pub(crate) fn new(catalog: &Catalog, home_ward: &Ward) -> Self {
        let by_code = catalog
            .procedures()
            .iter()
            .map(|procedure| {
                (
                    procedure.code(),
                    [
                        ProcedureHtml::render(Lang::Vi, procedure),
                        ProcedureHtml::render(Lang::En, procedure),
                    ],
                )
            })
            .collect();
        Self {
            by_code,
            home_ward: [
                WardTexts::new(Lang::Vi, home_ward),
                WardTexts::new(Lang::En, home_ward),
            ],
            by_lang: [LangHtml::render(Lang::Vi), LangHtml::render(Lang::En)],
        }
    }

    /// The fragments that depend only on `lang`.
    pub(crate) fn lang(&self, lang: Lang) -> &LangHtml {
        let [vi, en] = &self.by_lang;
        match lang {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }

    /// The home ward's texts in `lang`.
    pub(crate) fn home_ward(&self, lang: Lang) -> &WardTexts {
        let [vi, en] = &self.home_ward;
        match lang {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }

    /// The fragments of `procedure` in `lang`.
    pub(crate) fn get(&self, procedure: &Procedure, lang: Lang) -> Option<&ProcedureHtml> {
        let [vi, en] = self.by_code.get(&procedure.code())?;
        Some(match lang {
            Lang::Vi => vi,
            Lang::En => en,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/catalog.toml");
        match Catalog::load(path) {
            Ok(catalog) => catalog,
            Err(error) => unreachable!("the sample catalog loads: {error}"),
        }
    }

    fn ward() -> Ward {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/wards.toml");
        let directory = match crate::fallback::Directory::load(path) {
            Ok(directory) => directory,
            Err(error) => unreachable!("the sample directory loads: {error}"),
        };
        let Some(ward) = directory.wards().first() else {
            unreachable!("the sample directory has wards");
        };
        ward.clone()
    }

    #[test]
    fn the_home_wards_texts_are_what_the_ward_gives() {
        let ward = ward();
        let cache = ProcedureHtmlCache::new(&catalog(), &ward);
        for lang in [Lang::Vi, Lang::En] {
            let texts = cache.home_ward(lang);
            assert_eq!(texts.full_name, ward.full_name().get(lang));
            assert_eq!(texts.unit_word, ward.unit_word().get(lang));
        }
        assert!(
            cache
                .home_ward(Lang::Vi)
                .full_name
                .starts_with(&ward.name_vi)
        );
        assert_eq!(cache.home_ward(Lang::En).unit_word, "ward");
    }

    #[test]
    fn cached_fragments_are_what_rendering_on_demand_gives() {
        let catalog = catalog();
        let cache = ProcedureHtmlCache::new(&catalog, &ward());
        assert!(!catalog.procedures().is_empty());
        for procedure in catalog.procedures() {
            for lang in [Lang::Vi, Lang::En] {
                let cached = cache.get(procedure, lang);
                let Some(cached) = cached else {
                    unreachable!("every procedure of the catalog is cached");
                };
                assert_eq!(cached.blank_fields.0, form_fields(lang, procedure, None).0);
                assert_eq!(cached.checklist.0, checklist(lang, procedure).0);
            }
        }
        for lang in [Lang::Vi, Lang::En] {
            let cached = cache.lang(lang);
            let sign_out = button(ButtonKind::Secondary, lang.pick("Đăng xuất", "Sign out"));
            assert_eq!(cached.sign_out_button.0, sign_out.0);
            assert_eq!(
                cached.claim_fields.0,
                super::super::draft_claim::claim_fields(lang).0
            );
            assert_eq!(
                cache.lang(lang).claim_fields.0,
                ProcedureHtmlCache::default().lang(lang).claim_fields.0
            );
        }
        assert!(
            cache
                .lang(Lang::En)
                .sign_out_button
                .0
                .contains(">Sign out</button>")
        );
        assert!(cache.lang(Lang::Vi).claim_fields.0.contains("Mã lịch hẹn"));
        assert!(
            !cache
                .lang(Lang::Vi)
                .claim_fields
                .0
                .contains("Appointment code")
        );
    }

    #[test]
    fn hostile_catalog_text_comes_out_escaped() {
        // What a mistaken or malicious catalog edit could put into labels, options, documents
        // and fees. As TOML basic strings: `\"` is a double quote.
        let hostile = r#"<script>alert('x')</script> \"q\" & 'a'"#;
        let escaped = "&lt;script&gt;alert('x')&lt;/script&gt; &quot;q&quot; &amp; 'a'";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/catalog.toml");
        let Ok(text) = std::fs::read_to_string(path) else {
            unreachable!("the sample catalog is readable");
        };
        let text = text
            .replace("\"Child's full name\"", &format!("\"{hostile}\""))
            .replace("\"Sex\"", &format!("\"{hostile}\""))
            .replace("\"Female\"", &format!("\"{hostile}\""))
            .replace("\"Birth registration form\"", &format!("\"{hostile}\""))
            .replace(
                "\"Free when registered on time (within 60 days of the birth)\"",
                &format!("\"{hostile}\""),
            );
        let catalog = match Catalog::from_toml(&text, path) {
            Ok(catalog) => catalog,
            Err(error) => unreachable!("the edited catalog loads: {error}"),
        };
        let Some(birth) = catalog.procedure("1.001193") else {
            unreachable!("the birth registration is in the catalog");
        };
        let fragments = ProcedureHtmlCache::new(&catalog, &ward());
        let Some(cached) = fragments.get(birth, Lang::En) else {
            unreachable!("every procedure of the catalog is cached");
        };
        for html in [&cached.blank_fields.0, &cached.checklist.0] {
            assert!(!html.contains("<script"), "{html}");
            assert!(!html.contains("\"q\""), "{html}");
        }
        let fields = &cached.blank_fields.0;
        // The text field's label, the select's label and one of its options.
        assert_eq!(fields.matches(escaped).count(), 3, "{fields}");
        assert!(fields.contains(&format!("<label for=\"field-child_name\">{escaped}")));
        assert!(fields.contains(&format!("<option value=\"nu\">{escaped}</option>")));
        // A document to prepare and the fee.
        let checklist = &cached.checklist.0;
        assert!(
            checklist.contains(&format!("<li>{escaped}</li>")),
            "{checklist}"
        );
        assert!(
            checklist.contains(&format!("<dd>{escaped}</dd>")),
            "{checklist}"
        );
    }

    #[test]
    fn a_procedure_of_another_catalog_is_not_cached() {
        let cache = ProcedureHtmlCache::default();
        let catalog = catalog();
        let Some(procedure) = catalog.procedures().first() else {
            unreachable!("the sample catalog has procedures");
        };
        assert!(cache.get(procedure, Lang::Vi).is_none());
    }
}
