//! The route guard: a requirement for a group of routes, answered by the policy's decision.

use std::fmt::Write as _;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use axum::Json;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use tower::{Layer, Service};

use super::Gate;
use super::layer::GateRequest;
use crate::assurance::Level;
use crate::fallback::Referral;
use crate::i18n::{Lang, LocalText};
use crate::policy::{Context, Decision, LoginFailure, Procedure, ProcedureCode, decide};
use crate::session::Session;

/// How long a login may be old for a level requirement unless [`Require::max_age_minutes`]
/// says otherwise (the catalog's default).
pub const DEFAULT_MAX_AGE_MINUTES: u32 = crate::policy::DEFAULT_MAX_AUTH_AGE_MINUTES;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    Level { level: Level, max_age_minutes: u32 },
    Procedure(ProcedureCode),
}

/// A route guard: `router.route_layer(Require::level(Level::Two))`.
///
/// For each request it decides with [`policy::decide`](crate::policy::decide) on the verified
/// session the [`SessionLayer`](super::SessionLayer) opened, and answers:
///
/// - online: the route runs, with the [`Grant`](crate::policy::Grant) in the request's
///   extensions ([`Granted`](super::Granted));
/// - sign in or step up: a redirect to the gate's `/login` that returns here (the callback
///   records the step-up, so it is asked once per requirement), or for a JSON client
///   (`Accept: application/json`) a `401` with an RFC 9470 `WWW-Authenticate` challenge;
/// - in person: the referral ([`GateHooks::in_person_page`](super::GateHooks::in_person_page)),
///   `403` JSON for a JSON client.
///
/// Only `lang`, `outcome` (a failed login) and `in_person=1` are read from the query; each can
/// only lead away from online filing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Require {
    requirement: Requirement,
}

impl Require {
    /// Requires `level`, from a login at most [`DEFAULT_MAX_AGE_MINUTES`] old.
    pub fn level(level: Level) -> Self {
        Self {
            requirement: Requirement::Level {
                level,
                max_age_minutes: DEFAULT_MAX_AGE_MINUTES,
            },
        }
    }

    /// Requires what the catalog procedure `code` requires online (its level, freshness and
    /// whether it needs the resident in person). A code the gate's catalog lacks is answered
    /// `500`: a wiring mistake.
    pub fn procedure(code: ProcedureCode) -> Self {
        Self {
            requirement: Requirement::Procedure(code),
        }
    }

    /// Any session at all (level 1 or more).
    pub(super) fn signed_in() -> Self {
        Self::level(Level::One)
    }

    /// For a level requirement: the oldest a login may be, in minutes.
    #[must_use]
    pub fn max_age_minutes(mut self, minutes: u32) -> Self {
        if let Requirement::Level { level, .. } = self.requirement {
            self.requirement = Requirement::Level {
                level,
                max_age_minutes: minutes,
            };
        }
        self
    }

    fn procedure_in(&self, gate: &Gate) -> Option<Procedure> {
        match &self.requirement {
            Requirement::Procedure(code) => gate.catalog().procedure(code.as_str()).cloned(),
            Requirement::Level {
                level,
                max_age_minutes,
            } => {
                let code = ProcedureCode::parse(&format!("level-{}", level.number())).ok()?;
                let name = LocalText::new(
                    format!("Mức độ {}", level.number()),
                    format!("Level {}", level.number()),
                );
                Some(Procedure::requirement(code, name, *level, *max_age_minutes))
            }
        }
    }

    /// The `/login` query that signs in for this requirement.
    fn login_query(&self, procedure: &Procedure) -> String {
        match &self.requirement {
            Requirement::Procedure(code) => format!("procedure={code}"),
            Requirement::Level { level, .. } => format!(
                "level={}&max_age={}",
                level.number(),
                procedure.max_auth_age().num_seconds()
            ),
        }
    }
}

impl<S> Layer<S> for Require {
    type Service = RequireService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireService {
            inner,
            require: Arc::new(self.clone()),
        }
    }
}

/// The service of a [`Require`] guard.
#[derive(Clone, Debug)]
pub struct RequireService<S> {
    inner: S,
    require: Arc<Require>,
}

impl<S, B> Service<Request<B>> for RequireService<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let require = Arc::clone(&self.require);
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let Some(found) = parts.extensions.get::<GateRequest>().cloned() else {
                return Ok(super::MissingLayer::Session.into_response());
            };
            match answer_or_grant(&found.gate, &require, &parts, found.session.as_ref()).await {
                Ok(grant) => {
                    parts.extensions.insert(grant);
                    inner.call(Request::from_parts(parts, body)).await
                }
                Err(response) => Ok(response),
            }
        })
    }
}

/// The answer for a request that does not meet `require` (used when it is known not to).
pub(super) async fn answer(
    gate: &Gate,
    require: &Require,
    parts: &Parts,
    session: Option<&Session>,
) -> Response {
    match answer_or_grant(gate, require, parts, session).await {
        Ok(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Err(response) => response,
    }
}

async fn answer_or_grant(
    gate: &Gate,
    require: &Require,
    parts: &Parts,
    session: Option<&Session>,
) -> Result<crate::policy::Grant, Response> {
    let Some(procedure) = require.procedure_in(gate) else {
        tracing::error!("a guard requires a procedure the gate's catalog does not have");
        return Err(StatusCode::INTERNAL_SERVER_ERROR.into_response());
    };
    let query = parts.uri.query();
    let lang = Lang::from_query(query);
    let mut ctx = Context::new(gate.sessions().clock().now())
        .with_lang(lang)
        .with_chose_in_person(query_value(query, "in_person").is_some_and(|v| v == "1"))
        .with_last_login(
            query_value(query, "outcome")
                .as_deref()
                .and_then(parse_outcome),
        );
    if let Some((_, ward)) = gate.directory() {
        ctx = ctx.with_ward(ward);
    }
    if let Some(session) = session {
        let max_age = u32::try_from(procedure.max_auth_age().num_seconds()).ok();
        ctx = ctx.with_step_up_tried(session.step_up_tried(procedure.online_level(), max_age));
    }
    let decision = decide(&procedure, session.map(Session::assurance), &ctx);
    gate.hooks.decided(&decision, session);
    let json = wants_json(parts);
    match &decision {
        Decision::Online(grant) => Ok(*grant),
        Decision::SignIn(_) | Decision::StepUp(_) if json => {
            Err(challenge(gate, &procedure, &decision))
        }
        Decision::SignIn(_) | Decision::StepUp(_) => {
            let return_to = parts
                .extensions
                .get::<axum::extract::OriginalUri>()
                .map_or(&parts.uri, |original| &original.0)
                .path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_owned();
            let target = format!(
                "{}?{}&lang={}&return_to={}",
                gate.login_path(),
                require.login_query(&procedure),
                lang.code(),
                url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect::<String>()
            );
            Err(Redirect::to(&target).into_response())
        }
        Decision::InPerson(route) => {
            let referral = gate.directory().and_then(|(directory, _)| {
                Referral::build(directory, &procedure, route, ctx.now).ok()
            });
            if json {
                let body = serde_json::json!({
                    "decision": decision.kind_str(),
                    "reason": decision.reason().as_str(),
                    "referral": referral,
                });
                Err((StatusCode::FORBIDDEN, Json(body)).into_response())
            } else {
                Err(gate
                    .hooks
                    .in_person_page(&decision, referral.as_ref(), lang))
            }
        }
    }
}

/// The RFC 9470 challenge: `401` with `error="insufficient_user_authentication"`, the
/// `acr_values` that would meet the level and the `max_age`.
fn challenge(gate: &Gate, procedure: &Procedure, decision: &Decision) -> Response {
    let max_age = procedure.max_auth_age().num_seconds();
    let body = serde_json::json!({
        "error": "insufficient_user_authentication",
        "decision": decision.kind_str(),
        "reason": decision.reason().as_str(),
        "required_level": procedure.online_level().number(),
        "max_age": max_age,
        "login_url": gate.login_path(),
    });
    let response = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    with_step_up_challenge(
        response,
        gate.default_provider().relying_party(),
        procedure,
        max_age,
    )
}

/// `response` with the RFC 9470 `WWW-Authenticate` challenge for `procedure`:
/// `error="insufficient_user_authentication"`, the `acr_values` of `relying_party` that meet
/// its level, and `max_age`. The portal's JSON API answers with the same header.
pub(crate) fn with_step_up_challenge(
    mut response: Response,
    relying_party: &crate::oidc::RelyingParty,
    procedure: &Procedure,
    max_age: i64,
) -> Response {
    let acr = relying_party
        .config()
        .assurance_source()
        .acr_values_for(procedure.online_level())
        .join(" ");
    let mut value = String::from("Bearer error=\"insufficient_user_authentication\"");
    let _ = write!(
        value,
        ", error_description=\"level {} e-identity required\"",
        procedure.online_level().number()
    );
    if !acr.is_empty() {
        let _ = write!(value, ", acr_values=\"{acr}\"");
    }
    let _ = write!(value, ", max_age=\"{max_age}\"");
    if let Ok(header_value) = HeaderValue::from_str(&value) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, header_value);
    }
    response
}

/// Whether the client asked for JSON rather than a page.
fn wants_json(parts: &Parts) -> bool {
    parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json") && !accept.contains("text/html"))
}

fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    query
        .into_iter()
        .flat_map(|q| url::form_urlencoded::parse(q.as_bytes()))
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The `outcome` value a failed login adds to the return path.
pub(crate) fn outcome_code(failure: LoginFailure) -> &'static str {
    match failure {
        LoginFailure::Cancelled => "cancelled",
        LoginFailure::NoEid => "no_eid",
        LoginFailure::ProviderUnavailable => "provider_unavailable",
        LoginFailure::LevelNotReachable => "level_unreachable",
    }
}

/// The failure an `outcome` value names; unknown values name none.
pub(crate) fn parse_outcome(code: &str) -> Option<LoginFailure> {
    match code {
        "cancelled" => Some(LoginFailure::Cancelled),
        "no_eid" => Some(LoginFailure::NoEid),
        "provider_unavailable" => Some(LoginFailure::ProviderUnavailable),
        "level_unreachable" => Some(LoginFailure::LevelNotReachable),
        _ => None,
    }
}

/// The plain in-person page of a gate without its own: the reason, the centre and how to
/// get a level 2 account.
pub(super) fn default_in_person_page(
    decision: &Decision,
    referral: Option<&Referral>,
    lang: Lang,
) -> Response {
    let mut page = String::from("<!doctype html>\n<meta charset=\"utf-8\">\n<h1>");
    page.push_str(&escape(lang.pick("Nộp hồ sơ trực tiếp", "File in person")));
    page.push_str("</h1>\n");
    match referral {
        Some(referral) => {
            let _ = write!(
                page,
                "<p class=\"reason\" data-reason=\"{}\">{}</p>\n<h2>{}</h2>\n<p>{}</p>\n",
                decision.reason().as_str(),
                escape(referral.reason_text.get(lang)),
                escape(referral.point.name.get(lang)),
                escape(&referral.point.address),
            );
            let _ = writeln!(
                page,
                "<p>{} {}</p>",
                escape(lang.pick("Đăng ký tài khoản mức độ 2 tại", "Get a level 2 account at")),
                escape(referral.level2.police_name.get(lang)),
            );
        }
        None => {
            let _ = writeln!(
                page,
                "<p class=\"reason\" data-reason=\"{}\">{}</p>",
                decision.reason().as_str(),
                escape(decision.reason().text(lang)),
            );
        }
    }
    (StatusCode::FORBIDDEN, Html(page)).into_response()
}

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}
