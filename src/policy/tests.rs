use std::path::PathBuf;
use std::sync::OnceLock;

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use pretty_assertions::assert_eq;
use proptest::prelude::*;

use super::*;
use crate::assurance::{Level, SourceKind};
use crate::fallback::{Directory, Referral, WardCode};
use crate::i18n::Lang;

fn manifest(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog::load(manifest("samples/catalog.toml")).unwrap())
}

fn directory() -> &'static Directory {
    static DIRECTORY: OnceLock<Directory> = OnceLock::new();
    DIRECTORY.get_or_init(|| Directory::load(manifest("samples/wards.toml")).unwrap())
}

fn t0() -> DateTime<Utc> {
    // Monday 2 March 2026, 09:00 in Vietnam.
    Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap()
}

fn login(level: Option<Level>, minutes_ago: i64) -> Assurance {
    Assurance::new(
        level,
        "https://sso.example.vn",
        SourceKind::UserinfoClaim,
        Some(t0() - Duration::minutes(minutes_ago)),
    )
}

/// A login whose level is the `acr` of that login (a provider that may raise it when asked).
fn acr_login(level: Option<Level>, minutes_ago: i64) -> Assurance {
    Assurance::new(
        level,
        "https://sso.example.vn",
        SourceKind::IdTokenAcr,
        Some(t0() - Duration::minutes(minutes_ago)),
    )
}

fn birth() -> Procedure {
    catalog().procedure("1.001193").unwrap().clone()
}

fn ctx() -> Context {
    Context::new(t0()).with_ward(WardCode::parse("30316").unwrap())
}

const LEVEL1_CATALOG: &str = r#"
[[procedure]]
code = "9.000001"
name_vi = "Thủ tục mẫu mức độ 1"
name_en = "Sample level 1 procedure"
online_level = 1
max_auth_age_minutes = 60
fee_vi = "Miễn lệ phí"
fee_en = "Free"
processing_time_vi = "Trong ngày"
processing_time_en = "Same day"
documents = [{ vi = "Tờ khai", en = "Form" }]
authority_vi = "Ủy ban nhân dân cấp xã"
authority_en = "Commune People's Committee"
legal_basis_vi = "Dữ liệu thử nghiệm"
legal_basis_en = "Test data"
source = "test fixture"
"#;

fn level1_procedure() -> Procedure {
    Catalog::from_toml(LEVEL1_CATALOG, "inline.toml")
        .unwrap()
        .procedure("9.000001")
        .unwrap()
        .clone()
}

// ---- decide: one rule per test ----

#[test]
fn no_session_signs_in_with_the_requirement() {
    let decision = decide(&birth(), None, &ctx());
    let Decision::SignIn(sign_in) = &decision else {
        panic!("{decision:?}")
    };
    assert_eq!(
        sign_in.requirement,
        Requirement {
            level: Level::Two,
            max_age_seconds: 1800
        }
    );
    assert_eq!(decision.reason(), ReasonCode::NoSession);
    assert_eq!(decision.kind_str(), "sign_in");
    assert!(!decision.diagnostics().signed_in);
}

#[test]
fn fresh_level_two_goes_online_until_auth_time_plus_max_age() {
    let decision = decide(&birth(), Some(&login(Some(Level::Two), 5)), &ctx());
    let Decision::Online(grant) = decision else {
        panic!("{decision:?}")
    };
    assert_eq!(grant.level, Level::Two);
    assert_eq!(grant.procedure.as_str(), "1.001193");
    assert_eq!(grant.max_age_seconds, 1800);
    assert_eq!(grant.expires_at, t0() + Duration::minutes(25));
    assert_eq!(grant.reason, ReasonCode::LevelMet);
    assert_eq!(grant.diagnostics.auth_age_seconds, Some(300));
}

#[test]
fn level_two_goes_online_even_after_an_earlier_failure_or_step_up() {
    let ctx = ctx()
        .with_step_up_tried(true)
        .with_last_login(Some(LoginFailure::Cancelled));
    let decision = decide(&birth(), Some(&login(Some(Level::Two), 0)), &ctx);
    assert_eq!(decision.kind_str(), "online");
}

#[test]
fn a_level_one_acr_login_steps_up_once_then_goes_in_person() {
    let level1 = acr_login(Some(Level::One), 1);
    let first = decide(&birth(), Some(&level1), &ctx());
    let Decision::StepUp(step_up) = &first else {
        panic!("{first:?}")
    };
    assert_eq!(step_up.reason, ReasonCode::LevelBelowRequired);
    assert_eq!(step_up.requirement.level, Level::Two);
    assert_eq!(first.diagnostics().have, Some(Level::One));
    assert_eq!(first.diagnostics().need, Level::Two);

    let second = decide(&birth(), Some(&level1), &ctx().with_step_up_tried(true));
    let Decision::InPerson(route) = &second else {
        panic!("{second:?}")
    };
    assert_eq!(route.reason, ReasonCode::LevelBelowRequired);
    assert!(route.diagnostics.step_up_tried);
    assert_eq!(route.diagnostics.have, Some(Level::One));
    assert!(!route.can_retry_sign_in);
}

#[test]
fn a_level_one_account_goes_in_person_without_a_step_up() {
    // VNeID's `accountLevel` names the account: signing in again would return level 1 again.
    let decision = decide(&birth(), Some(&login(Some(Level::One), 1)), &ctx());
    let Decision::InPerson(route) = &decision else {
        panic!("{decision:?}")
    };
    assert_eq!(route.reason, ReasonCode::LevelBelowRequired);
    assert!(!route.can_retry_sign_in);
    assert!(!route.diagnostics.step_up_tried);
    assert_eq!(route.diagnostics.have, Some(Level::One));
    assert_eq!(route.diagnostics.need, Level::Two);
}

#[test]
fn a_level_one_acr_that_answered_a_level_two_request_is_the_accounts_level() {
    // The relying party marks an `acr` level below the one the login asked for.
    let answered = acr_login(Some(Level::One), 1).with_account_level(true);
    assert!(answered.is_account_level());
    let decision = decide(&birth(), Some(&answered), &ctx());
    assert_eq!(decision.kind_str(), "in_person");
    assert_eq!(decision.reason(), ReasonCode::LevelBelowRequired);
    // A claim-sourced level is the account's whatever the flag says.
    assert!(
        login(Some(Level::One), 1)
            .with_account_level(false)
            .is_account_level()
    );
    assert!(!acr_login(Some(Level::One), 1).is_account_level());
}

#[test]
fn a_level_one_account_still_steps_up_for_freshness_on_a_level_one_procedure() {
    let procedure = level1_procedure();
    let old = login(Some(Level::One), 60 * 24);
    let decision = decide(&procedure, Some(&old), &ctx());
    assert_eq!(decision.kind_str(), "step_up");
    assert_eq!(decision.reason(), ReasonCode::AuthenticationTooOld);
}

#[test]
fn unrecognised_level_is_treated_as_below_required() {
    let decision = decide(&birth(), Some(&login(None, 1)), &ctx());
    assert_eq!(decision.kind_str(), "step_up");
    assert_eq!(decision.reason(), ReasonCode::LevelBelowRequired);
    assert_eq!(decision.diagnostics().have, None);
    assert!(decision.diagnostics().signed_in);
}

#[test]
fn old_login_steps_up_with_max_age_then_goes_in_person() {
    let old = login(Some(Level::Two), 31);
    let first = decide(&birth(), Some(&old), &ctx());
    let Decision::StepUp(step_up) = &first else {
        panic!("{first:?}")
    };
    assert_eq!(step_up.reason, ReasonCode::AuthenticationTooOld);
    assert_eq!(step_up.requirement.max_age_seconds, 1800);
    assert_eq!(first.diagnostics().auth_age_seconds, Some(31 * 60));

    let second = decide(&birth(), Some(&old), &ctx().with_step_up_tried(true));
    assert_eq!(second.kind_str(), "in_person");
    assert_eq!(second.reason(), ReasonCode::StepUpAlreadyTried);
}

#[test]
fn login_exactly_at_max_age_is_still_fresh() {
    let decision = decide(&birth(), Some(&login(Some(Level::Two), 30)), &ctx());
    assert_eq!(decision.kind_str(), "online");
}

#[test]
fn missing_or_future_auth_time_counts_as_too_old() {
    let no_time = Assurance::new(
        Some(Level::Two),
        "https://sso.example.vn",
        SourceKind::IdTokenAcr,
        None,
    );
    let decision = decide(&birth(), Some(&no_time), &ctx());
    assert_eq!(decision.reason(), ReasonCode::AuthenticationTooOld);

    let future = login(Some(Level::Two), -2);
    assert_eq!(
        decide(&birth(), Some(&future), &ctx()).reason(),
        ReasonCode::AuthenticationTooOld
    );
    let skewed = Assurance::new(
        Some(Level::Two),
        "https://sso.example.vn",
        SourceKind::IdTokenAcr,
        Some(t0() + Duration::seconds(30)),
    );
    assert_eq!(decide(&birth(), Some(&skewed), &ctx()).kind_str(), "online");
}

#[test]
fn presence_required_goes_in_person_even_at_level_two() {
    let certified_copy = catalog().procedure("2.000815").unwrap().clone();
    let decision = decide(&certified_copy, Some(&login(Some(Level::Two), 0)), &ctx());
    let Decision::InPerson(route) = &decision else {
        panic!("{decision:?}")
    };
    assert_eq!(route.reason, ReasonCode::PresenceRequired);
    assert!(route.diagnostics.presence_required);
    assert!(!route.can_retry_sign_in);
}

#[test]
fn resident_choice_goes_in_person_and_keeps_the_chosen_point() {
    let ctx = ctx()
        .with_chose_in_person(true)
        .with_reception_point("nhon-hung")
        .with_lang(Lang::En);
    let decision = decide(&birth(), Some(&login(Some(Level::Two), 0)), &ctx);
    let Decision::InPerson(route) = decision else {
        panic!("{decision:?}")
    };
    assert_eq!(route.reason, ReasonCode::ResidentChoseInPerson);
    assert_eq!(route.reception_point.as_deref(), Some("nhon-hung"));
    assert_eq!(route.lang, Lang::En);
    assert!(route.can_retry_sign_in);
}

#[test]
fn failed_logins_go_in_person_with_their_reason() {
    let cases = [
        (LoginFailure::Cancelled, ReasonCode::ResidentCancelled, true),
        (LoginFailure::NoEid, ReasonCode::NoEid, true),
        (
            LoginFailure::ProviderUnavailable,
            ReasonCode::ProviderUnavailable,
            true,
        ),
        (
            LoginFailure::LevelNotReachable,
            ReasonCode::LevelBelowRequired,
            false,
        ),
    ];
    for (failure, reason, retry) in cases {
        let decision = decide(&birth(), None, &ctx().with_last_login(Some(failure)));
        let Decision::InPerson(route) = &decision else {
            panic!("{failure:?}: {decision:?}")
        };
        assert_eq!(route.reason, reason, "{failure:?}");
        assert_eq!(route.can_retry_sign_in, retry, "{failure:?}");
        assert_eq!(route.diagnostics.login_failure, Some(failure));
    }
}

#[test]
fn level_one_procedure_accepts_level_one() {
    let decision = decide(
        &level1_procedure(),
        Some(&login(Some(Level::One), 10)),
        &ctx(),
    );
    let Decision::Online(grant) = decision else {
        panic!("{decision:?}")
    };
    assert_eq!(grant.level, Level::One);
    assert_eq!(grant.max_age_seconds, 3600);
}

#[test]
fn reason_codes_have_stable_names_and_texts() {
    let names: Vec<&str> = ReasonCode::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        names,
        [
            "no_session",
            "no_eid",
            "level_below_required",
            "authentication_too_old",
            "step_up_already_tried",
            "resident_cancelled",
            "provider_unavailable",
            "presence_required",
            "resident_chose_in_person",
            "level_met"
        ]
    );
    for reason in ReasonCode::ALL {
        assert_eq!(
            serde_json::to_value(reason).unwrap(),
            serde_json::json!(reason.as_str())
        );
        assert!(!reason.text(Lang::Vi).is_empty());
        assert!(!reason.text(Lang::En).is_empty());
    }
}

#[test]
fn decision_serialises_with_kind_and_reason() {
    let decision = decide(
        &birth(),
        None,
        &ctx().with_last_login(Some(LoginFailure::NoEid)),
    );
    let json = serde_json::to_value(&decision).unwrap();
    assert_eq!(json["kind"], "in_person");
    assert_eq!(json["kind"], decision.kind_str());
    assert_eq!(json["reason"], "no_eid");
    assert_eq!(json["ward"], "30316");
    assert_eq!(json["diagnostics"]["need"], 2);
    assert_eq!(json["diagnostics"]["login_failure"], "no_eid");
}

// ---- properties ----

#[derive(Clone, Debug)]
struct Persona {
    level: Option<Option<Level>>,
    minutes_ago: i64,
    has_auth_time: bool,
}

fn persona() -> impl Strategy<Value = Persona> {
    (
        prop_oneof![
            Just(None),
            Just(Some(None)),
            Just(Some(Some(Level::One))),
            Just(Some(Some(Level::Two)))
        ],
        -5i64..120,
        any::<bool>(),
    )
        .prop_map(|(level, minutes_ago, has_auth_time)| Persona {
            level,
            minutes_ago,
            has_auth_time,
        })
}

fn assurance_of(p: &Persona, level: Option<Level>) -> Assurance {
    Assurance::new(
        level,
        "https://sso.example.vn",
        SourceKind::UserinfoClaim,
        p.has_auth_time
            .then(|| t0() - Duration::minutes(p.minutes_ago)),
    )
}

fn context_strategy() -> impl Strategy<Value = Context> {
    (
        any::<bool>(),
        any::<bool>(),
        prop_oneof![
            Just(None),
            Just(Some(LoginFailure::Cancelled)),
            Just(Some(LoginFailure::NoEid)),
            Just(Some(LoginFailure::ProviderUnavailable)),
            Just(Some(LoginFailure::LevelNotReachable)),
        ],
        prop_oneof![
            Just(None),
            Just(Some("nhon-hung")),
            Just(Some("no-such-point"))
        ],
        any::<bool>(),
    )
        .prop_map(|(tried, chose, failure, point, english)| {
            let mut ctx = ctx()
                .with_step_up_tried(tried)
                .with_chose_in_person(chose)
                .with_last_login(failure)
                .with_lang(if english { Lang::En } else { Lang::Vi });
            if let Some(point) = point {
                ctx = ctx.with_reception_point(point);
            }
            ctx
        })
}

fn all_procedures() -> Vec<Procedure> {
    let mut all = catalog().procedures().to_vec();
    all.push(level1_procedure());
    all
}

proptest! {
    #[test]
    fn raising_the_level_never_leaves_online(
        p in persona(),
        ctx in context_strategy(),
        index in 0usize..10,
    ) {
        let procedures = all_procedures();
        let procedure = &procedures[index % procedures.len()];
        let ladder = [None, Some(Level::One), Some(Level::Two)];
        let mut was_online = false;
        for level in ladder {
            let decision = decide(procedure, Some(&assurance_of(&p, level)), &ctx);
            let online = matches!(decision, Decision::Online(_));
            prop_assert!(!was_online || online, "level {level:?} left online: {decision:?}");
            was_online = online;
        }
    }

    #[test]
    fn the_same_inputs_give_the_same_decision(
        p in persona(),
        ctx in context_strategy(),
        index in 0usize..10,
    ) {
        let procedures = all_procedures();
        let procedure = &procedures[index % procedures.len()];
        let assurance = p.level.map(|level| assurance_of(&p, level));
        let first = decide(procedure, assurance.as_ref(), &ctx);
        let second = decide(procedure, assurance.as_ref(), &ctx);
        prop_assert_eq!(first, second);
    }

    #[test]
    fn every_persona_and_procedure_gets_an_actionable_outcome(
        p in persona(),
        ctx in context_strategy(),
        index in 0usize..10,
    ) {
        let procedures = all_procedures();
        let procedure = &procedures[index % procedures.len()];
        let assurance = p.level.map(|level| assurance_of(&p, level));
        let decision = decide(procedure, assurance.as_ref(), &ctx);
        prop_assert_eq!(decision.procedure(), procedure.code());
        prop_assert_eq!(decision.diagnostics().need, procedure.online_level());
        match &decision {
            Decision::Online(grant) => {
                prop_assert!(grant.expires_at >= ctx.now);
                prop_assert!(!procedure.presence_required());
                prop_assert!(assurance.as_ref().is_some_and(|a| a.meets(procedure.online_level())));
            }
            Decision::SignIn(sign_in) => {
                prop_assert!(assurance.is_none());
                prop_assert_eq!(sign_in.requirement.level, procedure.online_level());
            }
            Decision::StepUp(step_up) => {
                prop_assert!(!ctx.step_up_tried, "step-up asked twice");
                prop_assert_eq!(step_up.requirement.level, procedure.online_level());
            }
            Decision::InPerson(route) => {
                let referral = Referral::build(directory(), procedure, route, ctx.now);
                let referral = referral.map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(!referral.procedure.documents.is_empty());
                prop_assert!(!referral.reason_text.vi.is_empty() && !referral.reason_text.en.is_empty());
                prop_assert!(referral.point.next_open.is_some());
                prop_assert_eq!(referral.level2.working_days, 3);
            }
        }
    }

    #[test]
    fn a_level_one_account_is_never_asked_to_step_up_for_its_level(
        minutes_ago in -2i64..=120,
        ctx in context_strategy(),
        index in 0usize..10,
    ) {
        let procedures = all_procedures();
        let procedure = &procedures[index % procedures.len()];
        let decision = decide(procedure, Some(&login(Some(Level::One), minutes_ago)), &ctx);
        if let Decision::StepUp(step_up) = &decision {
            prop_assert_eq!(step_up.reason, ReasonCode::AuthenticationTooOld);
        }
    }

    #[test]
    fn a_fresh_level_two_login_always_goes_online(
        minutes_ago in 0i64..=30,
        tried in any::<bool>(),
        failure in prop_oneof![Just(None), Just(Some(LoginFailure::Cancelled)), Just(Some(LoginFailure::NoEid))],
        index in 0usize..10,
    ) {
        let procedures = all_procedures();
        let procedure = &procedures[index % procedures.len()];
        prop_assume!(!procedure.presence_required() && procedure.max_auth_age() >= Duration::minutes(30));
        let ctx = ctx().with_step_up_tried(tried).with_last_login(failure);
        let decision = decide(procedure, Some(&login(Some(Level::Two), minutes_ago)), &ctx);
        prop_assert_eq!(decision.kind_str(), "online");
    }
}

// ---- catalog ----

#[test]
fn sample_catalog_has_the_ward_procedures() {
    let catalog = catalog();
    assert!(catalog.is_sample());
    assert!(catalog.procedures().len() >= 8);
    for code in [
        "1.001193", "1.000656", "1.000894", "1.004873", "1.004222", "1.004194", "2.000815",
        "1.013124",
    ] {
        let p = catalog
            .procedure(code)
            .unwrap_or_else(|| panic!("missing {code}"));
        assert_eq!(p.online_level(), Level::Two, "{code}");
        assert!(!p.documents().is_empty(), "{code}");
        assert!(p.validate_dossier(&p.example()).is_ok(), "{code}");
    }
    assert!(catalog.procedure("2.000815").unwrap().presence_required());
    assert!(catalog.procedure("9.999999").is_none());
}

#[test]
fn validate_dossier_names_every_bad_field_without_values() {
    let birth = birth();
    // The example with five bad answers and one unknown field.
    let mut dossier = birth.example();
    for (name, value) in [
        ("child_name", serde_json::json!(42)),
        ("child_birth_date", serde_json::json!("2026-02-30")),
        ("child_sex", serde_json::json!("khac")),
        ("mother_citizen_id", serde_json::json!("08919000000")),
        ("phone", serde_json::json!("12ab")),
        ("nickname", serde_json::json!("Bé Na")),
    ] {
        dossier[name] = value;
    }
    let errors = birth.validate_dossier(&dossier).unwrap_err();
    let got: Vec<(String, FieldProblem)> =
        errors.into_iter().map(|e| (e.field, e.problem)).collect();
    assert_eq!(
        got,
        vec![
            ("child_name".to_owned(), FieldProblem::WrongType),
            ("child_birth_date".to_owned(), FieldProblem::InvalidDate),
            ("child_sex".to_owned(), FieldProblem::NotAnOption),
            (
                "mother_citizen_id".to_owned(),
                FieldProblem::InvalidCitizenId
            ),
            ("phone".to_owned(), FieldProblem::InvalidPhone),
            ("nickname".to_owned(), FieldProblem::Unknown),
        ]
    );
    let missing = birth.validate_dossier(&serde_json::json!({})).unwrap_err();
    assert_eq!(missing.len(), 13, "{missing:?}");
    assert!(missing.iter().all(|e| e.problem == FieldProblem::Missing));
    assert!(!missing.iter().any(|e| e.field == "father_citizen_id"));
    let not_object = birth.validate_dossier(&serde_json::json!([1])).unwrap_err();
    assert_eq!(not_object[0].problem, FieldProblem::NotAnObject);
    let mut long = birth.example();
    long["child_name"] = serde_json::json!("A".repeat(101));
    long["phone"] = serde_json::json!("+84912345678");
    let too_long = birth.validate_dossier(&long).unwrap_err();
    assert_eq!(too_long[0].problem, FieldProblem::TooLong { max: 100 });
    assert_eq!(too_long.len(), 1);
    assert_eq!(
        too_long[0].to_string(),
        "field `child_name`: is longer than 100 characters"
    );
}

fn broken(name: &str) -> CatalogError {
    let path = manifest(&format!("tests/data/catalog/{name}.toml"));
    Catalog::load(&path).unwrap_err()
}

fn invalid(error: CatalogError) -> (Option<String>, String, ConfigProblem) {
    match error {
        CatalogError::Invalid {
            procedure,
            field,
            problem,
            path,
        } => {
            assert_eq!(path.extension().and_then(|e| e.to_str()), Some("toml"));
            (procedure, field, problem)
        }
        other => panic!("expected invalid, got {other:?}"),
    }
}

fn syntax(error: CatalogError) -> (usize, Option<String>, Option<String>, String) {
    match error {
        CatalogError::Syntax {
            line,
            procedure,
            field,
            message,
            ..
        } => (line, procedure, field, message),
        other => panic!("expected syntax, got {other:?}"),
    }
}

#[test]
fn broken_catalog_unknown_field_names_procedure_field_and_line() {
    let error = broken("unknown_field");
    let text = error.to_string();
    let (line, procedure, field, message) = syntax(error);
    assert_eq!(line, 36);
    assert_eq!(procedure.as_deref(), Some("1.001193"));
    assert_eq!(field.as_deref(), Some("fees"));
    assert!(message.contains("unknown field `fees`"), "{message}");
    assert!(
        text.contains("unknown_field.toml`:36:1: procedure `1.001193`: field `fees`"),
        "{text}"
    );
}

#[test]
fn broken_catalog_missing_field_names_the_procedure() {
    let (_, procedure, _, message) = syntax(broken("missing_field"));
    assert_eq!(procedure.as_deref(), Some("1.001193"));
    assert!(message.contains("missing field `name_en`"), "{message}");
}

#[test]
fn broken_catalog_bad_level_and_bad_code() {
    let (line, procedure, field, message) = syntax(broken("bad_level"));
    assert_eq!(
        (line, procedure.as_deref(), field.as_deref()),
        (6, Some("1.001193"), Some("online_level"))
    );
    assert!(
        message.contains("level must be 1 or 2, found 3"),
        "{message}"
    );
    let (line, _, field, message) = syntax(broken("bad_code"));
    assert_eq!((line, field.as_deref()), (3, Some("code")));
    assert!(
        message.contains("invalid procedure code `1 001193`"),
        "{message}"
    );
}

#[test]
fn broken_catalog_malformed_toml_gives_a_line() {
    let (line, _, _, _) = syntax(broken("malformed"));
    assert_eq!(line, 8);
}

#[test]
fn broken_catalog_invalid_values() {
    assert_eq!(
        invalid(broken("missing_translation")),
        (
            Some("1.001193".into()),
            "documents[0]".into(),
            ConfigProblem::MissingTranslation
        )
    );
    assert_eq!(
        invalid(broken("duplicate_code")),
        (
            Some("1.001193".into()),
            "code".into(),
            ConfigProblem::Duplicate
        )
    );
    assert_eq!(
        invalid(broken("bad_example")),
        (
            Some("1.001193".into()),
            "example".into(),
            ConfigProblem::ExampleRejected {
                fields: vec!["child_name".into(), "child_nam".into()]
            }
        )
    );
    assert_eq!(
        invalid(broken("max_age_zero")),
        (
            Some("1.001193".into()),
            "max_auth_age_minutes".into(),
            ConfigProblem::OutOfRange {
                min: 1,
                max: 1440,
                found: 0
            }
        )
    );
    assert_eq!(
        invalid(broken("select_without_options")),
        (
            Some("1.001193".into()),
            "fields[0].options".into(),
            ConfigProblem::Empty
        )
    );
    assert_eq!(
        invalid(broken("empty")),
        (None, "procedure".into(), ConfigProblem::Empty)
    );
}

#[test]
fn broken_catalog_error_message_names_file_procedure_and_field() {
    let text = broken("duplicate_code").to_string();
    assert!(
        text.ends_with(
            "duplicate_code.toml`: procedure `1.001193`: field `code`: appears more than once"
        ),
        "{text}"
    );
    let missing = Catalog::load("/no/such/catalog.toml").unwrap_err();
    assert!(matches!(missing, CatalogError::Read { .. }));
    assert!(
        missing
            .to_string()
            .starts_with("catalog `/no/such/catalog.toml`: cannot read")
    );
}

#[test]
fn procedure_code_is_inline_and_validated() {
    let code = ProcedureCode::parse("1.001193").unwrap();
    assert_eq!(code.as_str(), "1.001193");
    assert_eq!(format!("{code:?}"), "ProcedureCode(1.001193)");
    assert!(ProcedureCode::parse("").is_err());
    assert!(ProcedureCode::parse("1.0011931234567890").is_err());
    assert!(ProcedureCode::parse("1/2").is_err());
}

// ---- the sample catalog as the law has it ----

#[test]
fn no_procedure_asks_for_a_document_abolished_by_decree_07_2025() {
    // Birth registration: no parents' marriage certificate; marriage registration of Vietnamese
    // citizens: no certificate of marital status (Decree 07/2025/NĐ-CP, letter 481/BTP-HTQTCT).
    for code in ["1.001193", "1.013124"] {
        for doc in catalog().procedure(code).unwrap().documents() {
            assert!(
                !doc.vi.to_lowercase().contains("kết hôn"),
                "{code}: {}",
                doc.vi
            );
            assert!(
                !doc.en.to_lowercase().contains("marriage"),
                "{code}: {}",
                doc.en
            );
        }
    }
    for doc in catalog().procedure("1.000894").unwrap().documents() {
        assert!(!doc.vi.contains("tình trạng hôn nhân"), "{}", doc.vi);
        assert!(!doc.en.contains("marital status"), "{}", doc.en);
    }
}

#[test]
fn every_procedure_names_its_authority_legal_basis_source_and_counter() {
    for p in catalog().procedures() {
        let code = p.code();
        assert!(!p.authority().vi.trim().is_empty(), "{code}");
        assert!(!p.authority().en.trim().is_empty(), "{code}");
        assert!(!p.legal_basis().vi.trim().is_empty(), "{code}");
        assert!(!p.source().trim().is_empty(), "{code}");
        if p.code_confirmed() {
            assert!(
                p.source().ends_with(&format!("ma_thu_tuc={code}")),
                "{code}: a confirmed code links its page on the national portal"
            );
        }
        let residence = p.name().vi.starts_with("Đăng ký thường trú")
            || p.name().vi.starts_with("Đăng ký tạm trú");
        assert_eq!(p.counter() == Counter::Police, residence, "{code}");
        assert!(p.processing_working_days().is_some(), "{code}");
    }
}

#[test]
fn unconfirmed_codes_are_listed() {
    let unconfirmed: Vec<String> = catalog()
        .procedures()
        .iter()
        .filter(|p| !p.code_confirmed())
        .map(|p| p.code().to_string())
        .collect();
    // Confirm these against the national procedure database, then set `code_confirmed` and
    // remove them from this list.
    assert_eq!(unconfirmed, ["1.004222", "1.004194", "1.013124"]);
}

#[test]
fn civil_status_checklists_name_the_identity_document_and_its_number_is_enough() {
    for code in [
        "1.001193", "1.000656", "1.000894", "1.004873", "1.004222", "1.004194",
    ] {
        let docs = catalog().procedure(code).unwrap().documents();
        let id = docs
            .iter()
            .find(|d| d.vi.contains("thẻ căn cước"))
            .unwrap_or_else(|| panic!("{code} names no identity document"));
        assert!(
            id.vi.contains("hộ chiếu") && id.vi.contains("căn cước công dân"),
            "{code}"
        );
        assert!(
            id.vi.contains("số định danh cá nhân") && id.vi.contains("tra cứu"),
            "{code}"
        );
        assert!(id.en.contains("is enough"), "{code}");
    }
}

#[test]
fn on_time_fees_say_what_on_time_means() {
    let birth = catalog().procedure("1.001193").unwrap().fee();
    assert!(
        birth.vi.contains("trong 60 ngày kể từ ngày sinh"),
        "{}",
        birth.vi
    );
    assert!(
        birth.en.contains("within 60 days of the birth"),
        "{}",
        birth.en
    );
    let death = catalog().procedure("1.000656").unwrap().fee();
    assert!(
        death.vi.contains("trong 15 ngày kể từ ngày mất"),
        "{}",
        death.vi
    );
    assert!(
        death.en.contains("within 15 days of the death"),
        "{}",
        death.en
    );
}

#[test]
fn the_birth_form_has_the_fields_of_the_official_declaration() {
    let birth = catalog().procedure("1.001193").unwrap();
    let names: Vec<&str> = birth.fields().iter().map(|f| f.name.as_str()).collect();
    for wanted in [
        "child_name",
        "child_birth_date",
        "child_sex",
        "child_ethnicity",
        "child_nationality",
        "place_of_birth",
        "home_town",
        "requester_name",
        "requester_relationship",
        "copies",
        "delivery",
    ] {
        assert!(names.contains(&wanted), "the birth form lacks `{wanted}`");
    }
    let delivery = birth
        .fields()
        .iter()
        .find(|f| f.name == "delivery")
        .unwrap();
    let ways: Vec<&str> = delivery.options.iter().map(|o| o.value.as_str()).collect();
    assert_eq!(ways, ["tai_trung_tam", "buu_chinh", "dien_tu"]);
    assert_eq!(birth.validate_dossier(&birth.example()), Ok(()));
}

#[test]
fn procedure_names_are_the_full_official_ones() {
    let name = |code| catalog().procedure(code).unwrap().name().vi;
    assert_eq!(
        name("2.000815"),
        "Chứng thực bản sao từ bản chính giấy tờ, văn bản do cơ quan, tổ chức có thẩm quyền của Việt Nam cấp hoặc chứng nhận"
    );
    assert!(name("2.000884").starts_with("Chứng thực chữ ký trong các giấy tờ, văn bản (áp dụng cho cả trường hợp chứng thực điểm chỉ"));
    assert!(name("1.013124").starts_with("Liên thông thủ tục hành chính về đăng ký khai sinh"));
}

#[test]
fn a_catalog_without_legal_basis_or_source_is_refused() {
    let without_source = LEVEL1_CATALOG.replace("source = \"test fixture\"\n", "");
    let error = Catalog::from_toml(&without_source, "inline.toml").unwrap_err();
    assert!(
        error.to_string().contains("missing field `source`"),
        "{error}"
    );
    let empty_basis = LEVEL1_CATALOG.replace(
        "legal_basis_vi = \"Dữ liệu thử nghiệm\"",
        "legal_basis_vi = \" \"",
    );
    match Catalog::from_toml(&empty_basis, "inline.toml").unwrap_err() {
        CatalogError::Invalid { field, problem, .. } => {
            assert_eq!(field, "legal_basis_vi");
            assert_eq!(problem, ConfigProblem::Empty);
        }
        other => panic!("{other:?}"),
    }
}
