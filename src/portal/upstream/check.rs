//! `GET /auth/check`: the nginx `auth_request` contract, and the decision both it and the
//! reverse proxy make for a gated request.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Requirement;
use super::assertion::AssertionClaims;
use super::headers::{self, LOGIN, REFERRAL};
use crate::Level;
use crate::fallback::Referral;
use crate::i18n::LocalText;
use crate::integrations::axum::{OptionalSession, with_step_up_challenge};
use crate::policy::{Decision, Procedure, ProcedureCode};
use crate::portal::api::json_error;
use crate::portal::gateway::Gateway;
use crate::portal::resident::ResidentQuery;
use crate::session::Session;

/// The header nginx passes with the URI the resident asked for
/// (`proxy_set_header X-Original-URI $request_uri;`): where to return after signing in.
const ORIGINAL_URI: &str = "x-original-uri";

/// `GET /auth/check` parameters: exactly one of `procedure` and `level`, and the resident's
/// usual `lang`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CheckQuery {
    /// A catalog procedure code: the session must meet what the procedure requires online.
    procedure: Option<String>,
    /// A level, `1` or `2`, from a login at most the catalog's default age old.
    level: Option<String>,
    /// `vi` (default) or `en`.
    lang: Option<String>,
}

/// What `/auth/check` says beyond its status.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AuthCheck)]
pub(crate) struct CheckBody {
    /// `online`, `sign_in`, `step_up` or `in_person`.
    decision: &'static str,
    /// Why.
    reason: &'static str,
    /// The session's level, or null without one.
    #[schema(required)]
    level: Option<Level>,
    /// Where to sign in (`401`).
    #[serde(skip_serializing_if = "Option::is_none")]
    login_url: Option<String>,
    /// Where the resident reads the in-person route (`403`).
    #[serde(skip_serializing_if = "Option::is_none")]
    referral_url: Option<String>,
    /// The in-person route (`403`).
    #[serde(skip_serializing_if = "Option::is_none")]
    referral: Option<Referral>,
}

/// `GET /auth/check`.
#[utoipa::path(
    get,
    path = "/auth/check",
    tag = "gateway",
    operation_id = "authCheck",
    summary = "Whether the current session may reach a gated upstream page (nginx auth_request)",
    description = "The nginx `auth_request` contract. `200` carries the identity headers `X-Wardgate-Level`, `X-Wardgate-Subject` (the subject pseudonym), `X-Wardgate-Procedure` (with `procedure`) and `X-Wardgate-Assertion` (a compact JWS, `typ` `wardgate-assertion+jwt`, verifiable with `/.well-known/jwks.json`). `401` carries the login URL in `X-Wardgate-Login` and an RFC 9470 `WWW-Authenticate` challenge; the URL returns to the `X-Original-URI` request header when nginx passes it. `403` carries the referral URL in `X-Wardgate-Referral`.",
    params(CheckQuery),
    security((), ("session" = [])),
    responses(
        (
            status = 200,
            description = "The session meets the requirement; the identity headers are set (and `X-Wardgate-Procedure`, the code, when `procedure` was given). Never cached.",
            body = CheckBody,
            headers(
                ("X-Wardgate-Level" = String, description = "The session's level: `1` or `2`."),
                ("X-Wardgate-Subject" = String, description = "The subject pseudonym (a keyed hash, never the provider's `sub`)."),
                ("X-Wardgate-Assertion" = String, description = "A compact JWS (`typ` `wardgate-assertion+jwt`, EdDSA) signed with a key of `/.well-known/jwks.json`: `iss`, `aud` (the upstream), `sub`, `level`, `level_source`, `procedure`, `auth_time`, `iat` and `exp` (90 seconds later)."),
                ("Cache-Control" = String, description = "`no-store`."),
            ),
        ),
        (
            status = 400,
            description = "Neither or both of `procedure` and `level` (`invalid_requirement`), an unknown procedure (`unknown_procedure`) or a level other than 1 or 2 (`invalid_level`).",
            body = super::super::api::ErrorBody<'static>,
            headers(("Cache-Control" = String, description = "`no-store`.")),
        ),
        (
            status = 401,
            description = "The resident must sign in (or again, at a higher level or more recently).",
            body = CheckBody,
            headers(
                ("X-Wardgate-Login" = String, description = "Where to sign in: the gateway's login path with the procedure (or level and `max_age`), the language and `return_to` (the `X-Original-URI` request header, when it is a path)."),
                ("WWW-Authenticate" = String, description = "An RFC 6750 Bearer challenge with the RFC 9470 error `insufficient_user_authentication`, the `acr_values` that would be enough and the `max_age` in seconds."),
                ("Cache-Control" = String, description = "`no-store`."),
            ),
        ),
        (
            status = 403,
            description = "The resident must go in person.",
            body = CheckBody,
            headers(
                ("X-Wardgate-Referral" = String, description = "The referral page: the procedure's page with `in_person=1` (the home page for a `level` check)."),
                ("Cache-Control" = String, description = "`no-store`."),
            ),
        ),
        (status = 429, response = super::super::openapi::TooManyRequests),
        (status = 431, response = super::super::openapi::HeadersTooLarge),
    )
)]
pub(crate) async fn auth_check(
    State(gw): State<Arc<Gateway>>,
    OptionalSession(session): OptionalSession,
    Query(query): Query<CheckQuery>,
    headers: HeaderMap,
) -> Response {
    let requirement = match (query.procedure.as_deref(), query.level.as_deref()) {
        (Some(code), None) => match ProcedureCode::parse(code) {
            Ok(code) if gw.procedure(code.as_str()).is_some() => Requirement::Procedure(code),
            _ => {
                return no_store(json_error(
                    StatusCode::BAD_REQUEST,
                    "unknown_procedure",
                    "no procedure has this code",
                ));
            }
        },
        (None, Some(level)) => match level.parse().ok().and_then(Level::from_number) {
            Some(level) => Requirement::Level(level),
            None => {
                return no_store(json_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_level",
                    "level must be 1 or 2",
                ));
            }
        },
        _ => {
            return no_store(json_error(
                StatusCode::BAD_REQUEST,
                "invalid_requirement",
                "give exactly one of procedure and level",
            ));
        }
    };
    let return_to = headers
        .get(ORIGINAL_URI)
        .and_then(|value| value.to_str().ok());
    // The resident's own query on the page nginx checks for (a login `outcome`, `in_person=1`):
    // each can only lead away from online filing.
    let mut resident = return_to
        .and_then(|uri| uri.parse::<Uri>().ok())
        .and_then(|uri| Query::<ResidentQuery>::try_from_uri(&uri).ok())
        .map(|Query(query)| query)
        .unwrap_or_default();
    if query.lang.is_some() {
        resident.lang = query.lang;
    }
    let audience = gw.upstream_audience();
    let Some(gated) = gate(
        &gw,
        &requirement,
        session.as_ref(),
        &resident,
        &headers,
        return_to,
        &audience,
    )
    .await
    else {
        return no_store(json_error(
            StatusCode::BAD_REQUEST,
            "unknown_procedure",
            "no procedure has this code",
        ));
    };
    let mut body = CheckBody {
        decision: gated.decision.kind_str(),
        reason: gated.decision.reason().as_str(),
        level: gated.decision.diagnostics().have,
        login_url: None,
        referral_url: None,
        referral: None,
    };
    let response = match gated.outcome {
        Outcome::Online(identity) => {
            let mut response = Json(body).into_response();
            if let (Some(session), Some(identity)) = (session.as_ref(), identity) {
                let (claims, jws) = &*identity;
                headers::insert_identity(response.headers_mut(), session, claims, jws);
            }
            response
        }
        Outcome::SignIn { login_url } => {
            body.login_url = Some(login_url.clone());
            let mut response = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
            if let Ok(value) = HeaderValue::from_str(&login_url) {
                response.headers_mut().insert(LOGIN, value);
            }
            with_step_up_challenge(
                response,
                gw.default_provider().relying_party(),
                &gated.procedure,
                gated.procedure.max_auth_age().num_seconds(),
            )
        }
        Outcome::InPerson {
            referral_url,
            referral,
        } => {
            body.referral_url = Some(referral_url.clone());
            body.referral = referral.map(|referral| *referral);
            let mut response = (StatusCode::FORBIDDEN, Json(body)).into_response();
            if let Ok(value) = HeaderValue::from_str(&referral_url) {
                response.headers_mut().insert(REFERRAL, value);
            }
            response
        }
    };
    no_store(response)
}

/// An answer about one session is never cached.
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// What a gated request gets.
pub(super) enum Outcome {
    /// Through, with the assertion's claims and JWS (`None` when no assertion could be made: a
    /// session without a level never gets here).
    Online(Option<Box<(AssertionClaims, String)>>),
    /// Sign in first (or again).
    SignIn { login_url: String },
    /// Go in person.
    InPerson {
        referral_url: String,
        referral: Option<Box<Referral>>,
    },
}

/// The policy's decision for a gated request, and what follows from it.
pub(super) struct Gated {
    pub(super) decision: Decision,
    pub(super) procedure: Procedure,
    pub(super) outcome: Outcome,
}

/// Decides for `requirement` exactly as the decision API does ([`Gateway::evaluate`]: the same
/// context, metrics and audit), and prepares the answer: the identity for an online decision,
/// the login URL returning to `return_to`, or the referral. `None` when the requirement names a
/// procedure the catalog lacks.
pub(super) async fn gate(
    gw: &Gateway,
    requirement: &Requirement,
    session: Option<&Session>,
    query: &ResidentQuery,
    headers: &HeaderMap,
    return_to: Option<&str>,
    audience: &str,
) -> Option<Gated> {
    let (procedure, procedure_code) = match requirement {
        // A code the catalog lacks is refused (`None`), never treated as open.
        Requirement::Procedure(code) => (gw.procedure(code.as_str())?.clone(), Some(code.as_str())),
        Requirement::Level(level) => (level_procedure(*level)?, None),
        Requirement::Public => (level_procedure(Level::One)?, None),
    };
    // A failed login this browser remembers for the procedure keeps it in person until the
    // resident asks to try again, as on the procedure page.
    let decision = gw
        .evaluate_remembering(&procedure, session, query, headers)
        .await;
    let lang = query.lang();
    let outcome = match &decision {
        Decision::Online(_) => Outcome::Online(session.and_then(|session| {
            let claims = AssertionClaims::for_session(
                gw.public_url.as_str(),
                audience,
                session,
                procedure_code,
                gw.clock.now(),
            )?;
            let jws = claims.sign(&gw.signing_key).ok()?;
            Some(Box::new((claims, jws)))
        })),
        Decision::SignIn(_) | Decision::StepUp(_) => {
            let login_url = login_url(gw, &procedure, procedure_code, lang, return_to);
            Outcome::SignIn { login_url }
        }
        Decision::InPerson(route) => {
            let referral = Referral::build(&gw.directory, &procedure, route, gw.clock.now())
                .ok()
                .map(Box::new);
            let referral_url = match procedure_code {
                Some(code) => format!("/procedures/{code}?in_person=1&lang={}", lang.code()),
                None => format!("/?lang={}", lang.code()),
            };
            Outcome::InPerson {
                referral_url,
                referral,
            }
        }
    };
    Some(Gated {
        decision,
        procedure,
        outcome,
    })
}

/// The login URL for `procedure` (a catalog procedure when `procedure_code` is given, else a
/// level), in `lang`, returning to `return_to` when it is a path.
pub(super) fn login_url(
    gw: &Gateway,
    procedure: &Procedure,
    procedure_code: Option<&str>,
    lang: crate::i18n::Lang,
    return_to: Option<&str>,
) -> String {
    let mut login_url = match procedure_code {
        Some(code) => format!("{}?procedure={code}", gw.gate().login_path()),
        None => format!(
            "{}?level={}&max_age={}",
            gw.gate().login_path(),
            procedure.online_level().number(),
            procedure.max_auth_age().num_seconds()
        ),
    };
    login_url.push_str("&lang=");
    login_url.push_str(lang.code());
    if let Some(path) = return_to.filter(|path| path.starts_with('/')) {
        login_url.push_str("&return_to=");
        login_url.extend(url::form_urlencoded::byte_serialize(path.as_bytes()));
    }
    login_url
}

/// A requirement of `level` alone, as the gate's `Require::level` builds it (`None` only if
/// the code `level-N` were refused, which it is not).
fn level_procedure(level: Level) -> Option<Procedure> {
    let code = ProcedureCode::parse(&format!("level-{}", level.number())).ok()?;
    let name = LocalText::new(
        format!("Mức độ {}", level.number()),
        format!("Level {}", level.number()),
    );
    Some(Procedure::requirement(
        code,
        name,
        level,
        crate::policy::DEFAULT_MAX_AUTH_AGE_MINUTES,
    ))
}
