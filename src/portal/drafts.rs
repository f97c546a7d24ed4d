//! Drafts saved server-side: the resident's unfinished dossier, kept for the in-person counter
//! (linked to the referral ticket, expiring with it) and deleted once the dossier is filed.

use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::auth::{append_cookie, internal_error, not_found};
use super::gateway::Gateway;
use super::resident::ResidentQuery;
use super::submit::dossier_from_form;
use crate::integrations::axum::OptionalSession;
use crate::policy::Procedure;
use crate::session::{Session, find_cookie};
use crate::store::{Draft, DraftId};

/// How long a draft is kept when no ticket holds it longer (as long as a ticket lives).
pub(crate) const DRAFT_TTL: Duration = Duration::days(14);

/// Purpose bound into the draft cookie.
const DRAFT_PURPOSE: &str = "dossier-draft";

#[derive(Serialize, Deserialize)]
struct HeldDraft {
    #[serde(rename = "p")]
    procedure: String,
    #[serde(rename = "d")]
    draft: String,
    /// The subject pseudonym of the resident who saved it: on a shared device, the draft is
    /// theirs only. Cookies from before ownership lack it and are shown to nobody signed in.
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
}

impl Gateway {
    pub(crate) fn draft_cookie_name(&self) -> String {
        self.cookies.cookie_name("wardgate-draft")
    }

    /// The answers of a stored (sealed) draft, for the form or the counter.
    pub(crate) fn draft_answers(&self, draft: &Draft) -> Option<serde_json::Value> {
        self.sealer.open_draft(draft.id.as_str(), &draft.data).ok()
    }

    /// The draft this browser saved for `procedure`, if it is still kept (its data sealed) and
    /// belongs to whoever is signed in now: the next person on a shared device never sees,
    /// pre-fills, links or deletes the previous one's draft. `reader` is the session the
    /// handler already opened.
    pub(crate) async fn held_draft(
        &self,
        headers: &HeaderMap,
        procedure: &Procedure,
        reader: Option<&Session>,
    ) -> Option<Draft> {
        let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
        let name = self.draft_cookie_name();
        let held: HeldDraft = self
            .key_ring
            .open(
                DRAFT_PURPOSE,
                &name,
                self.clock.now(),
                find_cookie(cookies, &name)?,
            )
            .ok()?;
        if held.procedure != procedure.code().as_str() {
            return None;
        }
        if held.owner.as_deref() != reader.map(Session::subject) {
            return None;
        }
        let id = DraftId::from_stored(held.draft);
        self.store.draft(&id, self.clock.now()).await.ok().flatten()
    }

    /// The `Set-Cookie` value remembering `draft` in this browser until it expires.
    pub(crate) fn draft_cookie(&self, draft: &Draft, owner: &str) -> Option<String> {
        let name = self.draft_cookie_name();
        let held = HeldDraft {
            procedure: draft.procedure.as_str().to_owned(),
            draft: draft.id.as_str().to_owned(),
            owner: Some(owner.to_owned()),
        };
        let sealed = self
            .key_ring
            .seal(
                self.random.as_ref(),
                DRAFT_PURPOSE,
                &name,
                draft.expires_at,
                &held,
            )
            .ok()?;
        self.cookies
            .set_cookie(&name, &sealed, draft.expires_at - self.clock.now())
            .ok()
    }
}

/// `POST /procedures/{code}/draft`: saves the form as it is, without validating it.
pub(crate) async fn save_draft(
    State(gw): State<Arc<Gateway>>,
    OptionalSession(session): OptionalSession,
    Path(code): Path<String>,
    Query(query): Query<ResidentQuery>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let lang = query.lang();
    let Some(procedure) = gw.procedure(&code) else {
        return not_found(lang);
    };
    let back = format!("/procedures/{}?lang={}", procedure.code(), lang.code());
    let Some(session) = session else {
        return Redirect::to(&back).into_response();
    };
    let token = form
        .iter()
        .find(|(k, _)| k == super::html::CSRF_FIELD)
        .map(|(_, v)| v.as_str());
    if !token.is_some_and(|t| session.csrf_token().matches(t)) {
        return (
            StatusCode::FORBIDDEN,
            "the form has expired; reload the page",
        )
            .into_response();
    }
    let now = gw.clock.now();
    let answers = dossier_from_form(procedure, &form);
    let draft = match gw.held_draft(&headers, procedure, Some(&session)).await {
        Some(mut draft) => {
            draft.saved_at = now;
            draft.keep_until(now + DRAFT_TTL)
        }
        None => {
            let Ok(draft) = Draft::new(
                procedure.code(),
                Some(gw.default_ward),
                serde_json::Value::Null,
                now,
                DRAFT_TTL,
                gw.random.as_ref(),
            ) else {
                return internal_error(lang);
            };
            draft
        }
    };
    // Drafts hold the same personal data as dossiers: sealed at rest, bound to the draft id.
    let Ok(sealed) = gw.sealer.seal_draft(draft.id.as_str(), &answers) else {
        return internal_error(lang);
    };
    let draft = Draft {
        data: sealed,
        ..draft
    };
    if gw.store.save_draft(&draft).await.is_err() {
        return internal_error(lang);
    }
    let mut response = Redirect::to(&format!("{back}&saved=1")).into_response();
    if let Some(cookie) = gw.draft_cookie(&draft, session.subject()) {
        append_cookie(&mut response, &cookie);
    }
    response
}
