//! The referral gateway mode shows instead of a gated upstream page: the portal's own
//! procedure-page referral (centre, reception points, hours, what to bring, the ticket and the
//! booking), with status 403.

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::check::Gated;
use crate::i18n::{Lang, LocalText};
use crate::portal::auth::append_cookie;
use crate::portal::gateway::Gateway;
use crate::portal::pages::{page, session_panel};
use crate::portal::referral_page::{SignInAgain, in_person_content};
use crate::portal::resident::max_age_key;
use crate::session::Session;

/// What the referral page needs from the gated request.
pub(super) struct GatedRequest<'a> {
    pub(super) session: Option<&'a Session>,
    pub(super) headers: &'a HeaderMap,
    pub(super) uri: &'a Uri,
    pub(super) client: std::net::IpAddr,
    pub(super) lang: Lang,
}

fn pick(lang: Lang, text: &LocalText) -> &str {
    lang.pick(&text.vi, &text.en)
}

/// The full referral page for a gated path whose rule names a catalog procedure, or `None` when
/// the procedure is not in the catalog (a `level` rule) or the referral cannot be built.
pub(super) async fn referral_page(
    gw: &Gateway,
    gated: &Gated,
    request: &GatedRequest<'_>,
    login_url: &str,
) -> Option<Response> {
    let GatedRequest {
        session,
        headers,
        uri,
        client,
        lang,
    } = *request;
    let procedure = gw.procedure(gated.procedure.code().as_str())?;
    // As on the procedure page: after a failed login (remembered, or a step-up that came back
    // short) signing in again goes through "try again", which forgets the failure first.
    let failed_login = gw.remembered_failure(headers, procedure).is_some()
        || session
            .is_some_and(|s| s.step_up_tried(procedure.online_level(), max_age_key(procedure)));
    let sign_in_again = if failed_login {
        SignInAgain::TryAgain {
            procedure,
            csrf_token: session.map(|s| s.csrf_token().secret()),
        }
    } else {
        SignInAgain::Link(login_url)
    };
    let content = in_person_content(
        gw,
        lang,
        procedure,
        &gated.decision,
        headers,
        session,
        client,
        &sign_in_again,
    )
    .await?;
    let name = pick(lang, &procedure.name()).to_owned();
    let page = page(gw, lang, &name, uri)
        .push(session_panel(gw, lang, session))
        .push(content.markup);
    let mut response = (StatusCode::FORBIDDEN, page).into_response();
    if let Some(cookie) = content.ticket_cookie {
        append_cookie(&mut response, &cookie);
    }
    Some(response)
}
