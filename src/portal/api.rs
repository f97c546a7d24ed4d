//! The JSON API and the operations routes.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use super::gateway::Gateway;
use super::resident::{ResidentQuery, referral_json};
use crate::i18n::Lang;
use crate::integrations::axum::OptionalSession;
use crate::policy::{Decision, Diagnostics, Procedure};

/// A JSON error body: `{"error": code, "message": text}`.
pub(crate) fn json_error(status: StatusCode, error: &str, message: &str) -> Response {
    (status, Json(json!({"error": error, "message": message}))).into_response()
}

pub(crate) fn procedure_json(procedure: &Procedure, lang: Lang) -> Value {
    let name = procedure.name();
    json!({
        "code": procedure.code().as_str(),
        "name": lang.pick(&name.vi, &name.en),
        "name_vi": name.vi,
        "name_en": name.en,
        "required_level": procedure.online_level().number(),
        "max_auth_age_seconds": procedure.max_auth_age().num_seconds(),
        "presence_required": procedure.presence_required(),
        "assisted_submission": procedure.assisted_submission(),
        "fee": procedure.fee(),
        "processing_time": procedure.processing_time(),
        "documents": procedure.documents(),
        "fields": procedure.fields(),
        "example": procedure.example(),
    })
}

/// `GET /api/procedures`.
pub(crate) async fn procedures(
    State(gw): State<Arc<Gateway>>,
    Query(query): Query<ResidentQuery>,
) -> Response {
    let lang = query.lang();
    let list: Vec<Value> = gw
        .catalog
        .procedures()
        .iter()
        .map(|p| procedure_json(p, lang))
        .collect();
    Json(list).into_response()
}

/// `GET /api/procedures/{code}/decision`.
pub(crate) async fn decision(
    State(gw): State<Arc<Gateway>>,
    OptionalSession(session): OptionalSession,
    Path(code): Path<String>,
    Query(query): Query<ResidentQuery>,
    headers: HeaderMap,
) -> Response {
    let Some(procedure) = gw.procedure(&code) else {
        return json_error(
            StatusCode::NOT_FOUND,
            "unknown_procedure",
            "no procedure has this code",
        );
    };
    let decision = gw.evaluate(procedure, session.as_ref(), &query).await;
    // Like the page, the answer reuses the ticket the client already holds for this procedure
    // (its ticket cookie), so asking again is not a new referral: no new ticket to store, no
    // second referral in the audit trail.
    let mut ticket_cookie = None;
    let referral = match decision {
        Decision::InPerson(_) => gw
            .referral_with_ticket(
                procedure,
                &decision,
                gw.held_ticket(&headers, procedure),
                None,
            )
            .await
            .map(|(referral, ticket)| {
                ticket_cookie = gw.ticket_cookie(&ticket);
                referral_json(&referral, &ticket)
            }),
        _ => None,
    };
    let mut body = DecisionBody::new(&decision, procedure);
    body.referral = referral;
    if matches!(decision, Decision::SignIn(_) | Decision::StepUp(_)) {
        body.login_url = Some(format!("/login?procedure={}", procedure.code()));
    }
    let mut response = Json(body).into_response();
    if let Some(cookie) = ticket_cookie {
        super::auth::append_cookie(&mut response, &cookie);
    }
    response
}

/// The decision API's answer, serialised straight from the decision (no `serde_json::Value`
/// tree per request). The fields are in alphabetical order, the order [`decision_json`]'s map
/// gives them, so the bytes are the same.
#[derive(Debug, Serialize)]
struct DecisionBody<'a> {
    decision: &'static str,
    diagnostics: SortedDiagnostics<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grant: Option<GrantBody>,
    level: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    login_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_age: Option<i64>,
    reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    referral: Option<Value>,
    required_level: u8,
}

/// [`Diagnostics`] with its fields in alphabetical order.
#[derive(Debug, Serialize)]
struct SortedDiagnostics<'a> {
    auth_age_seconds: Option<i64>,
    chose_in_person: bool,
    have: Option<crate::Level>,
    login_failure: &'a Option<crate::policy::LoginFailure>,
    max_age_seconds: i64,
    need: crate::Level,
    presence_required: bool,
    signed_in: bool,
    step_up_tried: bool,
}

#[derive(Debug, Serialize)]
struct GrantBody {
    expires_at: chrono::DateTime<chrono::Utc>,
    max_age: i64,
}

impl<'a> DecisionBody<'a> {
    fn new(decision: &'a Decision, procedure: &Procedure) -> Self {
        let d: &'a Diagnostics = decision.diagnostics();
        let (grant, max_age) = match decision {
            Decision::Online(grant) => (
                Some(GrantBody {
                    expires_at: grant.expires_at,
                    max_age: grant.max_age_seconds,
                }),
                None,
            ),
            Decision::StepUp(step_up) => (None, Some(step_up.requirement.max_age_seconds)),
            Decision::SignIn(sign_in) => (None, Some(sign_in.requirement.max_age_seconds)),
            Decision::InPerson(_) => (None, None),
        };
        Self {
            decision: decision.kind_str(),
            diagnostics: SortedDiagnostics {
                auth_age_seconds: d.auth_age_seconds,
                chose_in_person: d.chose_in_person,
                have: d.have,
                login_failure: &d.login_failure,
                max_age_seconds: d.max_age_seconds,
                need: d.need,
                presence_required: d.presence_required,
                signed_in: d.signed_in,
                step_up_tried: d.step_up_tried,
            },
            grant,
            level: d.have.map(crate::Level::number),
            login_url: None,
            max_age,
            reason: decision.reason().as_str(),
            referral: None,
            required_level: procedure.online_level().number(),
        }
    }
}

/// The contract's decision object (without the referral).
pub(crate) fn decision_json(decision: &Decision, procedure: &Procedure) -> Value {
    let diagnostics = decision.diagnostics();
    let mut body = json!({
        "decision": decision.kind_str(),
        "level": diagnostics.have.map(crate::Level::number),
        "required_level": procedure.online_level().number(),
        "reason": decision.reason().as_str(),
        "diagnostics": diagnostics,
    });
    match decision {
        Decision::Online(grant) => {
            body["grant"] =
                json!({"expires_at": grant.expires_at, "max_age": grant.max_age_seconds});
        }
        Decision::StepUp(step_up) => {
            body["max_age"] = Value::from(step_up.requirement.max_age_seconds);
        }
        Decision::SignIn(sign_in) => {
            body["max_age"] = Value::from(sign_in.requirement.max_age_seconds);
        }
        Decision::InPerson(_) => {}
    }
    body
}

/// `GET /.well-known/jwks.json`: the keys that verify receipts and tickets.
pub(crate) async fn jwks(State(gw): State<Arc<Gateway>>) -> Response {
    let mut response = Json(gw.signing_key.jwks()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// `GET /api/openapi.json`.
pub(crate) async fn openapi() -> Response {
    Json(super::openapi::openapi_document()).into_response()
}

/// `GET /healthz`: the process is up.
pub(crate) async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// `GET /readyz`: whether the identity provider and the store answer.
///
/// Without the store nothing works: `503` with `status: unavailable`, so the instance is taken
/// out of rotation. Without the provider the portal still serves procedures, referrals,
/// bookings and signed-in residents' submissions: `200` with `status: degraded`, so a load
/// balancer keeps it in rotation while the body tells monitoring what is wrong.
pub(crate) async fn readyz(State(gw): State<Arc<Gateway>>) -> Response {
    // Every provider is probed; the gateway is ready only when all answer (a resident may
    // choose any of them), degraded otherwise.
    let mut reachable = Vec::with_capacity(gw.providers().len());
    for candidate in gw.providers() {
        let up = candidate.relying_party().is_reachable().await;
        reachable.push((candidate.id().as_str(), up));
    }
    let provider = reachable.iter().all(|(_, up)| *up);
    // A cheap read the store must answer: today's bookings at the home ward.
    let today = gw
        .clock
        .now()
        .with_timezone(&crate::fallback::vietnam())
        .date_naive();
    let store = gw
        .store
        .bookings_on(gw.default_ward, None, today)
        .await
        .is_ok();
    let (code, status) = match (store, provider) {
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        (true, false) => (StatusCode::OK, "degraded"),
        (true, true) => (StatusCode::OK, "ready"),
    };
    let mut body = json!({
        "status": status,
        "identity_provider": if provider { "reachable" } else { "unreachable" },
        "database": if store { "reachable" } else { "unreachable" },
    });
    // The first provider's breaker (the only one in most portals).
    if let Some(circuit) = gw.default_provider().circuit_state() {
        body["identity_provider_circuit"] = Value::from(circuit.as_str());
    }
    if reachable.len() > 1 {
        let each: serde_json::Map<String, Value> = reachable
            .iter()
            .map(|(id, up)| {
                let state = if *up { "reachable" } else { "unreachable" };
                ((*id).to_owned(), Value::from(state))
            })
            .collect();
        body["identity_providers"] = Value::Object(each);
    }
    (code, Json(body)).into_response()
}

/// `GET /metrics`.
pub(crate) async fn metrics(State(gw): State<Arc<Gateway>>) -> Response {
    gw.metrics.response()
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::*;
    use crate::Level;
    use crate::assurance::{Assurance, SourceKind};
    use crate::fallback::WardCode;
    use crate::policy::{Catalog, Context, LoginFailure, decide};

    fn procedure() -> Procedure {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/catalog.toml");
        Catalog::load(path)
            .unwrap()
            .procedure("1.001193")
            .unwrap()
            .clone()
    }

    /// Every kind of decision, with and without the optional fields.
    fn decisions(procedure: &Procedure) -> Vec<Decision> {
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap();
        let ctx = || Context::new(now).with_ward(WardCode::parse("30316").unwrap());
        let login = |level, minutes_ago| {
            Assurance::new(
                level,
                "https://sso.example.vn",
                SourceKind::UserinfoClaim,
                Some(now - Duration::minutes(minutes_ago)),
            )
        };
        vec![
            decide(procedure, Some(&login(Some(Level::Two), 5)), &ctx()),
            decide(procedure, Some(&login(Some(Level::Two), 600)), &ctx()),
            decide(procedure, Some(&login(Some(Level::One), 5)), &ctx()),
            decide(procedure, None, &ctx()),
            decide(
                procedure,
                None,
                &ctx().with_last_login(Some(LoginFailure::NoEid)),
            ),
            decide(procedure, None, &ctx().with_chose_in_person(true)),
        ]
    }

    #[test]
    fn the_typed_answer_serialises_to_the_same_bytes_as_the_value_built_one() {
        let procedure = procedure();
        let decisions = decisions(&procedure);
        let kinds: Vec<&str> = decisions.iter().map(Decision::kind_str).collect();
        for kind in ["online", "step_up", "sign_in", "in_person"] {
            assert!(kinds.contains(&kind), "no {kind} decision among {kinds:?}");
        }
        for decision in &decisions {
            let mut expected = decision_json(decision, &procedure);
            let mut typed = DecisionBody::new(decision, &procedure);
            if matches!(decision, Decision::SignIn(_) | Decision::StepUp(_)) {
                let url = format!("/login?procedure={}", procedure.code());
                expected["login_url"] = Value::from(url.clone());
                typed.login_url = Some(url);
            }
            if matches!(decision, Decision::InPerson(_)) {
                let referral = json!({"ticket_code": "ABCD-2345"});
                expected["referral"] = referral.clone();
                typed.referral = Some(referral);
            }
            assert_eq!(
                serde_json::to_string(&typed).unwrap(),
                serde_json::to_string(&expected).unwrap(),
                "{}",
                decision.kind_str()
            );
        }
    }
}
