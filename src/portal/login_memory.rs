//! Failed logins the resident's browser remembers.
//!
//! When the provider answers that the resident cancelled or could not sign in
//! (`access_denied`, `login_required`) or could not reach the level
//! (`unmet_authentication_requirements`, or a login that silently came back at a lower level),
//! the decision for that procedure is in person until the resident explicitly asks to try
//! again. The callback stores the failure in a small sealed cookie (a few procedures, one day);
//! the page and the JSON decision read it, and so do gateway mode's proxy and `/auth/check` for
//! a login that returned to a path a procedure's `[[gate]]` rule covers; `POST /procedures/{code}/try-again` clears it and
//! leads back to the procedure page, which offers to sign in again.
//!
//! A provider outage is not remembered: it is not the resident's answer, and the breaker and
//! health probes already route everyone in person while it lasts.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::auth::{append_cookie, not_found};
use super::errors::expired_form;
use super::gateway::Gateway;
use super::html::{ButtonKind, Markup, button, html};
use super::resident::{ResidentQuery, max_age_key};
use crate::i18n::Lang;
use crate::integrations::axum::{OptionalSession, outcome_code, parse_outcome};
use crate::policy::{LoginFailure, Procedure};
use crate::session::find_cookie;

/// Purpose bound into the cookie.
const PURPOSE: &str = "failed-logins";
/// Procedures remembered at most; the oldest is forgotten first.
const MAX_REMEMBERED: usize = 8;
/// How long a failure is remembered.
const REMEMBERED_FOR: Duration = Duration::days(1);

#[derive(Debug, Default, Serialize, Deserialize)]
struct FailedLogins(Vec<FailedLogin>);

#[derive(Debug, Serialize, Deserialize)]
struct FailedLogin {
    #[serde(rename = "p")]
    procedure: String,
    #[serde(rename = "o")]
    outcome: String,
}

/// The routes of this module.
pub(crate) fn routes() -> Router<Arc<Gateway>> {
    Router::new().route("/procedures/{code}/try-again", post(try_again))
}

/// Whether a failure is the resident's (or their account's) answer, worth remembering.
fn remembered_kind(failure: LoginFailure) -> bool {
    matches!(
        failure,
        LoginFailure::Cancelled | LoginFailure::LevelNotReachable
    )
}

/// The procedure a resident's return path leads to (`/procedures/{code}?…`).
fn procedure_of_return_path(return_path: &str) -> Option<&str> {
    let path = return_path.split(['?', '#']).next()?;
    let code = path.strip_prefix("/procedures/")?;
    (!code.is_empty() && !code.contains('/')).then_some(code)
}

impl Gateway {
    fn failed_logins_cookie_name(&self) -> String {
        self.cookies.cookie_name("wardgate-failed-logins")
    }

    fn failed_logins(&self, headers: &HeaderMap) -> FailedLogins {
        let name = self.failed_logins_cookie_name();
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|cookies| find_cookie(cookies, &name))
            .and_then(|value| {
                self.key_ring
                    .open(PURPOSE, &name, self.clock.now(), value)
                    .ok()
            })
            .unwrap_or_default()
    }

    /// The `Set-Cookie` value holding `logins` (a removal when there are none).
    fn failed_logins_cookie(&self, logins: &FailedLogins) -> Option<String> {
        let name = self.failed_logins_cookie_name();
        if logins.0.is_empty() {
            return self.cookies.removal(&name).ok();
        }
        let expires = self.clock.now() + REMEMBERED_FOR;
        let sealed = self
            .key_ring
            .seal(self.random.as_ref(), PURPOSE, &name, expires, logins)
            .ok()?;
        self.cookies.set_cookie(&name, &sealed, REMEMBERED_FOR).ok()
    }

    /// The failed login this browser remembers for `procedure`, if any.
    pub(crate) fn remembered_failure(
        &self,
        headers: &HeaderMap,
        procedure: &Procedure,
    ) -> Option<LoginFailure> {
        self.failed_logins(headers)
            .0
            .iter()
            .find(|login| login.procedure == procedure.code().as_str())
            .and_then(|login| parse_outcome(&login.outcome))
    }

    /// After a login returning to `return_path` failed with `failure`: the `Set-Cookie` value
    /// remembering it for the procedure, when it is one worth remembering.
    pub(crate) fn remember_failure(
        &self,
        headers: &HeaderMap,
        return_path: &str,
        failure: LoginFailure,
    ) -> Option<String> {
        if !remembered_kind(failure) {
            return None;
        }
        // A procedure page, or in gateway mode a gated upstream path of a procedure rule.
        let procedure = match procedure_of_return_path(return_path) {
            Some(code) => self.procedure(code)?,
            None => self.gated_procedure(return_path)?,
        };
        let code = procedure.code().as_str().to_owned();
        let mut logins = self.failed_logins(headers);
        logins.0.retain(|login| login.procedure != code);
        logins.0.push(FailedLogin {
            procedure: code,
            outcome: outcome_code(failure).to_owned(),
        });
        let excess = logins.0.len().saturating_sub(MAX_REMEMBERED);
        logins.0.drain(..excess);
        self.failed_logins_cookie(&logins)
    }

    /// The `Set-Cookie` value forgetting the failure remembered for `procedure`, if there is one.
    fn forget_failure(&self, headers: &HeaderMap, procedure: &Procedure) -> Option<String> {
        let mut logins = self.failed_logins(headers);
        let before = logins.0.len();
        logins
            .0
            .retain(|login| login.procedure != procedure.code().as_str());
        (logins.0.len() != before)
            .then(|| self.failed_logins_cookie(&logins))
            .flatten()
    }
}

impl Gateway {
    /// Decides for `procedure` as [`Gateway::evaluate`] does, with the failed login this
    /// browser remembers for it.
    pub(crate) async fn evaluate_remembering(
        &self,
        procedure: &Procedure,
        session: Option<&crate::session::Session>,
        query: &ResidentQuery,
        headers: &HeaderMap,
    ) -> crate::policy::Decision {
        let remembered = self.remembered_failure(headers, procedure);
        self.evaluate_with(procedure, session, query, remembered)
            .await
    }
}

/// The form of `POST /procedures/{code}/try-again`.
#[derive(Debug, Deserialize)]
pub(crate) struct TryAgainForm {
    /// The session's CSRF token, when the resident has a session.
    #[serde(default)]
    csrf_token: String,
}

/// The "try signing in again" button (labelled by the caller): shown on a referral that a
/// failed login led to.
pub(crate) fn try_again_form(
    lang: Lang,
    procedure: &Procedure,
    csrf_token: Option<&str>,
    label: &str,
) -> Markup {
    let action = format!(
        "/procedures/{}/try-again?lang={}",
        procedure.code(),
        lang.code()
    );
    html! {
        form method="post" action=(action) class="try-again" {
            @if let Some(token) = csrf_token {
                input type="hidden" name="csrf_token" value=(token);
            }
            (button(ButtonKind::Secondary, label))
        }
    }
}

/// `POST /procedures/{code}/try-again`: forgets the failed login remembered for the procedure
/// (in the failure cookie and, with a session, its step-up record) and leads back to its page.
async fn try_again(
    State(gw): State<Arc<Gateway>>,
    OptionalSession(session): OptionalSession,
    Path(code): Path<String>,
    Query(query): Query<ResidentQuery>,
    headers: HeaderMap,
    Form(form): Form<TryAgainForm>,
) -> Response {
    let lang = query.lang();
    let Some(procedure) = gw.procedure(&code) else {
        return not_found(lang);
    };
    let back = format!("/procedures/{}?lang={}", procedure.code(), lang.code());
    // Back to the procedure page, which now offers to sign in: a form posting to `'self'` may
    // not be redirected on to the provider (the pages' CSP `form-action 'self'` covers
    // redirects).
    let mut response = Redirect::to(&back).into_response();
    if let Some(mut session) = session {
        if !session.csrf_token().matches(&form.csrf_token) {
            return expired_form(lang, &back);
        }
        let level = procedure.online_level();
        if session.forget_step_up(level, max_age_key(procedure))
            && let Some(cookie) = gw.gate().sessions().set_cookie(&session)
        {
            append_cookie(&mut response, &cookie);
        }
    }
    if let Some(cookie) = gw.forget_failure(&headers, procedure) {
        append_cookie(&mut response, &cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_procedure_page_names_a_procedure() {
        assert_eq!(
            procedure_of_return_path("/procedures/1.001193?lang=vi"),
            Some("1.001193")
        );
        assert_eq!(
            procedure_of_return_path("/procedures/1.001193"),
            Some("1.001193")
        );
        assert_eq!(
            procedure_of_return_path("/procedures/1.001193/submit"),
            None
        );
        assert_eq!(procedure_of_return_path("/staff?lang=vi"), None);
        assert_eq!(procedure_of_return_path("/procedures/"), None);
    }

    #[test]
    fn only_the_residents_own_answers_are_remembered() {
        assert!(remembered_kind(LoginFailure::Cancelled));
        assert!(remembered_kind(LoginFailure::LevelNotReachable));
        assert!(!remembered_kind(LoginFailure::ProviderUnavailable));
        assert!(!remembered_kind(LoginFailure::NoEid));
    }
}
