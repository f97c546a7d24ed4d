//! The logout-hint cookie: the verified ID token of the last sign-in, kept sealed until sign-out
//! so that RP-Initiated Logout 1.0 can send it as `id_token_hint`.
//!
//! The token rides in its own cookie, not in the session cookie, and with `Path` set to the
//! logout path: browsers send it to `POST /logout` only, so it adds nothing to other requests.

use axum::http::{HeaderMap, header};
use serde::{Deserialize, Serialize};

use super::Gate;
use crate::oidc::VerifiedLogin;
use crate::session::find_cookie;

/// Purpose bound into the logout-hint cookie's associated data.
const LOGOUT_HINT_PURPOSE: &str = "logout-hint";
/// The longest `name=value` the cookie may have: browsers keep about 4,096 bytes per cookie,
/// attributes included. A longer token is not kept and sign-out goes without the hint.
const MAX_LOGOUT_HINT_COOKIE_BYTES: usize = 3_500;

/// What the logout-hint cookie holds.
#[derive(Serialize, Deserialize)]
struct LogoutHint {
    /// The issuer the ID token came from: only that provider's end-session endpoint gets it.
    #[serde(rename = "i")]
    issuer: String,
    /// The ID token as the provider sent it.
    #[serde(rename = "t")]
    id_token: String,
}

impl Gate {
    /// The logout-hint cookie's name. Its `Path` is the logout path, and browsers refuse a
    /// `__Host-` cookie whose `Path` is not `/`: over https it is `__Secure-` prefixed instead
    /// (still `Secure`-only; the sealed value is bound to the name, so a planted value does not
    /// open).
    fn logout_hint_cookie_name(&self) -> String {
        self.sessions()
            .settings()
            .path_cookie_name("wardgate-logout-hint")
    }

    /// The `Set-Cookie` value keeping `login`'s ID token until sign-out, for the session's
    /// absolute timeout; `None` when the login has no verified ID token or the sealed cookie
    /// would be too large.
    pub(super) fn logout_hint_cookie(&self, login: &VerifiedLogin) -> Option<String> {
        let id_token = login.id_token()?;
        let sessions = self.sessions();
        let name = self.logout_hint_cookie_name();
        let lifetime = sessions.config().absolute_timeout;
        let sealed = sessions
            .key_ring()
            .seal(
                sessions.random().as_ref(),
                LOGOUT_HINT_PURPOSE,
                &name,
                sessions.clock().now() + lifetime,
                &LogoutHint {
                    issuer: login.issuer().to_owned(),
                    id_token: id_token.to_owned(),
                },
            )
            .ok()?;
        if name.len() + 1 + sealed.len() > MAX_LOGOUT_HINT_COOKIE_BYTES {
            tracing::info!("ID token too large to keep for sign-out: no id_token_hint");
            return None;
        }
        sessions
            .settings()
            .set_cookie_at(&name, &sealed, lifetime, self.logout_path())
            .ok()
    }

    /// The ID token kept at sign-in, when the logout-hint cookie opens and it came from
    /// `issuer`.
    pub(super) fn logout_hint(&self, headers: &HeaderMap, issuer: &str) -> Option<String> {
        let sessions = self.sessions();
        let name = self.logout_hint_cookie_name();
        let hint: LogoutHint = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|cookies| find_cookie(cookies, &name))
            .and_then(|value| {
                sessions
                    .key_ring()
                    .open(LOGOUT_HINT_PURPOSE, &name, sessions.clock().now(), value)
                    .ok()
            })?;
        (hint.issuer == issuer).then_some(hint.id_token)
    }

    /// The `Set-Cookie` value removing the logout-hint cookie.
    pub(super) fn logout_hint_removal(&self) -> Option<String> {
        self.sessions()
            .settings()
            .removal_at(&self.logout_hint_cookie_name(), self.logout_path())
            .ok()
    }
}
