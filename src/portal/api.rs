//! The JSON API and the operations routes.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::gateway::Gateway;
use super::resident::{NoTicket, ReferralWithTicket, ResidentQuery};
use super::ticket_allowance::ClientAddress;
use crate::Level;
use crate::fallback::Referral;
use crate::i18n::{Lang, LocalText};
use crate::integrations::axum::OptionalSession;
use crate::policy::{Decision, Diagnostics, Field, Procedure, ProcedureCode, ReasonCode};

/// The body of every JSON refusal: a stable code and a readable message, and for some refusals
/// the part of the request or the dossier concerned.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody<'a> {
    /// A stable error code, for example `unknown_procedure` or `idempotency_key_reused`.
    error: &'a str,
    /// A human-readable explanation, in English.
    message: &'a str,
    /// The part of the request refused, for example `attachments[0]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    /// The dossier an `Idempotency-Key` was already used for (`idempotency_key_reused`).
    #[serde(skip_serializing_if = "Option::is_none")]
    dossier_code: Option<String>,
}

impl<'a> ErrorBody<'a> {
    pub(crate) fn new(error: &'a str, message: &'a str) -> Self {
        Self {
            error,
            message,
            field: None,
            dossier_code: None,
        }
    }

    /// Names the part of the request refused.
    pub(crate) fn field(mut self, field: String) -> Self {
        self.field = Some(field);
        self
    }

    /// Names the dossier concerned.
    pub(crate) fn dossier_code(mut self, code: String) -> Self {
        self.dossier_code = Some(code);
        self
    }

    pub(crate) fn response(&self, status: StatusCode) -> Response {
        (status, Json(self)).into_response()
    }
}

/// A JSON error body: `{"error": code, "message": text}`.
pub(crate) fn json_error(status: StatusCode, error: &str, message: &str) -> Response {
    ErrorBody::new(error, message).response(status)
}

/// A procedure of the catalog, as `GET /api/procedures` lists it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Procedure)]
pub(crate) struct ProcedureBody<'a> {
    /// The procedure's national code.
    code: ProcedureCode,
    /// The name in the requested language.
    name: String,
    /// The name in Vietnamese.
    name_vi: String,
    /// The name in English.
    name_en: String,
    /// The level needed to file online.
    required_level: Level,
    /// How old the authentication may be at submission, in seconds.
    max_auth_age_seconds: i64,
    /// Whether the resident must come in person whatever their level.
    presence_required: bool,
    /// Whether staff can file it online with the resident at the counter.
    assisted_submission: bool,
    /// The fee.
    fee: LocalText,
    /// How long processing takes.
    processing_time: LocalText,
    /// What to bring or attach.
    documents: &'a [LocalText],
    /// The fields of the dossier.
    fields: &'a [Field],
    /// A valid example dossier.
    #[schema(value_type = Object)]
    example: Value,
}

impl<'a> ProcedureBody<'a> {
    fn new(procedure: &'a Procedure, lang: Lang) -> Self {
        let name = procedure.name();
        Self {
            code: procedure.code(),
            name: lang.pick(&name.vi, &name.en).to_owned(),
            name_vi: name.vi,
            name_en: name.en,
            required_level: procedure.online_level(),
            max_auth_age_seconds: procedure.max_auth_age().num_seconds(),
            presence_required: procedure.presence_required(),
            assisted_submission: procedure.assisted_submission(),
            fee: procedure.fee(),
            processing_time: procedure.processing_time(),
            documents: procedure.documents(),
            fields: procedure.fields(),
            example: procedure.example(),
        }
    }
}

/// `GET /api/procedures`.
#[utoipa::path(
    get,
    path = "/api/procedures",
    tag = "procedures",
    operation_id = "listProcedures",
    summary = "The procedures of the ward's catalog",
    params(super::openapi::LangParam),
    security(()),
    responses(
        (status = 200, description = "Every procedure, with the level it needs online and the fields of its dossier.", body = [ProcedureBody<'static>]),
        (status = 429, response = super::openapi::TooManyRequests),
        (status = 431, response = super::openapi::HeadersTooLarge),
    )
)]
pub(crate) async fn procedures(
    State(gw): State<Arc<Gateway>>,
    Query(query): Query<ResidentQuery>,
) -> Response {
    let lang = query.lang();
    let list: Vec<ProcedureBody<'_>> = gw
        .catalog
        .procedures()
        .iter()
        .map(|p| ProcedureBody::new(p, lang))
        .collect();
    Json(list).into_response()
}

/// `GET /api/procedures/{code}/decision`.
#[utoipa::path(
    get,
    path = "/api/procedures/{code}/decision",
    tag = "procedures",
    operation_id = "decide",
    summary = "What the current resident can do for a procedure",
    description = "Never fails for lack of assurance: not being signed in, a level too low or a resident who must go in person are decisions, answered with `200`. An `in_person` answer sets the ticket cookie (`__Host-wardgate-ticket` over https, `wardgate-ticket` on a plain-http development host); sent back, it makes the next answer carry the same ticket instead of a new referral. Without a session, one address gets at most 10 new tickets an hour; past that (or when the store fails) the referral comes without `ticket`, and `ticket_unavailable` says why. A failed sign-in (`access_denied`, `login_required`, `unmet_authentication_requirements`, or a lower level than asked) is remembered by the `wardgate-failed-logins` cookie: the answer stays `in_person` until `POST /procedures/{code}/try-again` (a form; with a session it carries `csrf_token`) clears it.",
    params(super::openapi::ProcedureCodeParam, super::openapi::DecisionQuery),
    security((), ("session" = [])),
    responses(
        (status = 200, description = "The decision.", body = DecisionBody),
        (status = 404, response = super::openapi::UnknownProcedure),
        (status = 429, response = super::openapi::TooManyRequests),
        (status = 431, response = super::openapi::HeadersTooLarge),
    )
)]
pub(crate) async fn decision(
    State(gw): State<Arc<Gateway>>,
    OptionalSession(session): OptionalSession,
    Path(code): Path<String>,
    Query(query): Query<ResidentQuery>,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
) -> Response {
    let Some(procedure) = gw.procedure(&code) else {
        return json_error(
            StatusCode::NOT_FOUND,
            "unknown_procedure",
            "no procedure has this code",
        );
    };
    let decision = gw
        .evaluate_remembering(procedure, session.as_ref(), &query, &headers)
        .await;
    // Like the page, the answer reuses the ticket the client already holds for this procedure
    // (its ticket cookie), so asking again is not a new referral: no new ticket to store, no
    // second referral in the audit trail.
    let mut ticket_cookie = None;
    let referral = match decision {
        Decision::InPerson(_) => gw
            .referral_with_ticket(
                procedure,
                &decision,
                gw.held_ticket(&headers, procedure, session.as_ref()),
                None,
                session.is_none().then_some(client),
                session.as_ref().map(crate::session::Session::subject),
            )
            .await
            .map(|outcome| {
                if let Ok(ticket) = &outcome.ticket {
                    ticket_cookie = gw.ticket_cookie(
                        ticket,
                        session.as_ref().map(crate::session::Session::subject),
                    );
                }
                TicketedReferral::from(outcome)
            }),
        _ => None,
    };
    let mut body = DecisionBody::new(&decision, procedure);
    body.referral = referral;
    if matches!(decision, Decision::SignIn(_) | Decision::StepUp(_)) {
        body.login_url = Some(login_url(procedure));
    }
    let mut response = Json(body).into_response();
    if let Some(cookie) = ticket_cookie {
        super::auth::append_cookie(&mut response, &cookie);
    }
    response
}

/// Where a resident signs in for `procedure`.
pub(crate) fn login_url(procedure: &Procedure) -> String {
    format!("/login?procedure={}", procedure.code())
}

/// What the resident can do: `online` (submit now), `sign_in` (sign in first), `step_up`
/// (sign in again at a higher level or more recently) or `in_person` (go to the service
/// centre, see `referral`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DecisionKind {
    Online,
    SignIn,
    StepUp,
    InPerson,
}

impl From<&Decision> for DecisionKind {
    fn from(decision: &Decision) -> Self {
        match decision {
            Decision::Online(_) => Self::Online,
            Decision::SignIn(_) => Self::SignIn,
            Decision::StepUp(_) => Self::StepUp,
            Decision::InPerson(_) => Self::InPerson,
        }
    }
}

// Serialised straight from the decision, with no `serde_json::Value` tree per request.
/// What the current resident can do for a procedure, and why.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Decision)]
pub(crate) struct DecisionBody {
    decision: DecisionKind,
    /// What the decision was based on.
    diagnostics: Diagnostics,
    /// The permission to submit online, with a `decision` of `online`.
    #[serde(skip_serializing_if = "Option::is_none")]
    grant: Option<GrantBody>,
    /// The level of the current session, or null without one.
    #[schema(required)]
    level: Option<Level>,
    /// Where to sign in, with a `decision` of `sign_in` or `step_up`.
    #[serde(skip_serializing_if = "Option::is_none")]
    login_url: Option<String>,
    /// The largest age of the authentication accepted, in seconds, with a `decision` of
    /// `sign_in` or `step_up`.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_age: Option<i64>,
    reason: ReasonCode,
    /// Where to go in person, with a `decision` of `in_person`.
    #[serde(skip_serializing_if = "Option::is_none")]
    referral: Option<TicketedReferral>,
    /// The level the procedure needs online.
    required_level: Level,
}

/// The permission to submit online.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Grant)]
pub(crate) struct GrantBody {
    /// When the permission lapses: the dossier must be submitted before.
    expires_at: DateTime<Utc>,
    /// The largest age of the authentication accepted, in seconds.
    max_age: i64,
}

impl DecisionBody {
    pub(crate) fn new(decision: &Decision, procedure: &Procedure) -> Self {
        let diagnostics = *decision.diagnostics();
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
            decision: DecisionKind::from(decision),
            diagnostics,
            grant,
            level: diagnostics.have,
            login_url: None,
            max_age,
            reason: decision.reason(),
            referral: None,
            required_level: procedure.online_level(),
        }
    }

    /// Adds where to sign in.
    pub(crate) fn with_login_url(mut self, procedure: &Procedure) -> Self {
        self.login_url = Some(login_url(procedure));
        self
    }

    /// Adds the in-person route.
    pub(crate) fn with_referral(mut self, referral: Option<TicketedReferral>) -> Self {
        self.referral = referral;
        self
    }
}

/// The in-person route with the ticket the counter uses to resume the dossier.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TicketedReferral {
    #[serde(flatten)]
    referral: Referral,
    /// The ticket; absent when none could be issued (see `ticket_unavailable`).
    #[serde(skip_serializing_if = "Option::is_none")]
    ticket: Option<TicketBody>,
    /// The ticket's code, to give at the counter; absent with the ticket.
    #[serde(skip_serializing_if = "Option::is_none")]
    ticket_code: Option<String>,
    /// Why the referral comes without a ticket: `allowance_spent` (this address has had its
    /// new tickets for the hour; send the ticket cookie back to keep one) or
    /// `store_unavailable`. The referral itself is complete either way.
    #[serde(skip_serializing_if = "Option::is_none")]
    ticket_unavailable: Option<NoTicket>,
}

/// A referral's ticket.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Ticket)]
pub(crate) struct TicketBody {
    /// The code to give at the counter.
    code: String,
    /// Until when the counter accepts it.
    expires_at: DateTime<Utc>,
    /// The printable ticket.
    url: String,
    /// The ticket signed with Ed25519 (compact JWS), verifiable with `/.well-known/jwks.json`.
    jws: String,
}

impl From<ReferralWithTicket> for TicketedReferral {
    fn from(outcome: ReferralWithTicket) -> Self {
        let (ticket, ticket_unavailable) = match outcome.ticket {
            Ok(ticket) => {
                let code = ticket.ticket.code.to_string();
                let body = TicketBody {
                    url: format!("/tickets/{code}"),
                    code,
                    expires_at: ticket.ticket.expires_at,
                    jws: ticket.jws,
                };
                (Some(body), None)
            }
            Err(why) => (None, Some(why)),
        };
        Self {
            referral: outcome.referral,
            ticket_code: ticket.as_ref().map(|t| t.code.clone()),
            ticket,
            ticket_unavailable,
        }
    }
}

/// `GET /.well-known/jwks.json`: the keys that verify receipts and tickets.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "keys",
    operation_id = "jwks",
    summary = "The public keys that verify receipts and tickets",
    security(()),
    responses(
        (status = 200, description = "A JWK Set (RFC 7517).", body = super::openapi::Jwks),
        (status = 431, response = super::openapi::HeadersTooLarge),
    )
)]
pub(crate) async fn jwks(State(gw): State<Arc<Gateway>>) -> Response {
    let mut response = Json(gw.jwks()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// `GET /api/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "operations",
    operation_id = "openapi",
    summary = "This document",
    security(()),
    responses(
        (status = 200, description = "The OpenAPI 3.1 document.", body = Object),
        (status = 429, response = super::openapi::TooManyRequests),
        (status = 431, response = super::openapi::HeadersTooLarge),
    )
)]
pub(crate) async fn openapi() -> Response {
    Json(super::openapi::document()).into_response()
}

/// The liveness answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Health)]
pub(crate) struct HealthBody {
    /// Always `ok`: the process serves requests.
    #[schema(value_type = String, examples("ok"))]
    status: &'static str,
}

/// `GET /healthz`: the process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    operation_id = "health",
    summary = "Liveness: the process serves requests",
    security(()),
    responses(
        (status = 200, description = "The gateway is alive.", body = HealthBody),
        (status = 431, response = super::openapi::HeadersTooLarge),
    )
)]
pub(crate) async fn healthz() -> Response {
    Json(HealthBody { status: "ok" }).into_response()
}

/// `GET /readyz`: whether the identity provider and the store answer.
///
/// Without the store nothing works: `503` with `status: unavailable`, so the instance is taken
/// out of rotation. Without the provider the portal still serves procedures, referrals,
/// bookings and signed-in residents' submissions: `200` with `status: degraded`, so a load
/// balancer keeps it in rotation while the body tells monitoring what is wrong.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    operation_id = "ready",
    summary = "Readiness, including the identity provider's reachability",
    security(()),
    responses(
        (status = 200, description = "Ready (`status: ready`), or degraded (`status: degraded`): the database is reachable but the identity provider is not, so residents are referred in person while signed-in residents keep submitting; the instance should stay in rotation.", body = super::openapi::Readiness),
        (status = 503, description = "Not ready: the database is unreachable.", body = super::openapi::Readiness),
        (status = 431, response = super::openapi::HeadersTooLarge),
    )
)]
pub(crate) async fn readyz(State(gw): State<Arc<Gateway>>) -> Response {
    // Every provider counts; the gateway is ready only when all answer (a resident may choose
    // any of them), degraded otherwise. The answer comes from the circuit breaker and a probe
    // made at most every few seconds, never from one request per call.
    let mut reachable = Vec::with_capacity(gw.providers().len());
    for candidate in gw.providers() {
        let up = candidate.available().await;
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

    /// The contract's decision object, written out field by field.
    fn contract_answer(decision: &Decision, procedure: &Procedure) -> Value {
        let diagnostics = decision.diagnostics();
        let mut body = json!({
            "decision": decision.kind_str(),
            "level": diagnostics.have.map(Level::number),
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
                body["login_url"] = Value::from("/login?procedure=1.001193");
            }
            Decision::InPerson(_) => {}
        }
        if matches!(decision, Decision::StepUp(_)) {
            body["login_url"] = Value::from("/login?procedure=1.001193");
        }
        body
    }

    #[test]
    fn the_typed_answer_is_the_contract_object() {
        let procedure = procedure();
        let decisions = decisions(&procedure);
        let kinds: Vec<&str> = decisions.iter().map(Decision::kind_str).collect();
        for kind in ["online", "step_up", "sign_in", "in_person"] {
            assert!(kinds.contains(&kind), "no {kind} decision among {kinds:?}");
        }
        for decision in &decisions {
            let mut typed = DecisionBody::new(decision, &procedure);
            if matches!(decision, Decision::SignIn(_) | Decision::StepUp(_)) {
                typed = typed.with_login_url(&procedure);
            }
            assert_eq!(
                serde_json::to_value(&typed).unwrap(),
                contract_answer(decision, &procedure),
                "{}",
                decision.kind_str()
            );
        }
    }
}
