//! Who may see and act on a ticket by its code.
//!
//! A ticket taken signed in belongs to that resident (its stored owner pseudonym): its printable
//! page, its draft, its booking, cancelling and moving answer only a session with the same
//! pseudonym. On a shared device the next person who finds `/tickets/{code}` in the browser
//! history gets a page that shows nothing of the ticket and asks them to sign in as its owner,
//! at any of the gateway's providers (the store keeps only the owner's pseudonym, which does not
//! say which provider they used).
//! A ticket taken signed out keeps its code as the bearer reference. Staff pages read tickets
//! without this check: officers see every ticket.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::gateway::Gateway;
use super::html::{ButtonKind, Markup, NoticeKind, Page, html, link_button, notice};
use super::providers::ProviderId;
use crate::fallback::{Ticket, TicketCode};
use crate::i18n::Lang;
use crate::session::Session;

/// The status of the answer to someone who is not the ticket's owner.
pub(crate) const NOT_YOURS_STATUS: StatusCode = StatusCode::FORBIDDEN;

/// Whether the resident signed in as `reader` (or nobody, signed out) may see and act on
/// `ticket`.
pub(crate) fn may_use(ticket: &Ticket, reader: Option<&Session>) -> bool {
    ticket.open_to(reader.map(Session::subject))
}

/// Whether `reader` is the signed-in owner the store names for `ticket`: they see its saved
/// draft again wherever they sign in, with no ticket cookie (sign-out clears it). A ticket taken
/// signed out has no owner, so only the browser holding its cookie sees its draft.
pub(crate) fn is_owner(ticket: &Ticket, reader: Option<&Session>) -> bool {
    ticket
        .owner
        .as_ref()
        .is_some_and(|owner| reader.map(Session::subject) == Some(owner.as_str()))
}

/// Where signing in for the ticket `code` starts, at `provider` (`None`: the gateway's only
/// provider): the login comes back to the ticket.
fn sign_in_href(lang: Lang, code: &TicketCode, provider: Option<&ProviderId>) -> String {
    let back = format!("/tickets/{code}?lang={}", lang.code());
    let back: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
    match provider {
        Some(id) => format!("/login?lang={}&provider={id}&return_to={back}", lang.code()),
        None => format!("/login?lang={}&return_to={back}", lang.code()),
    }
}

/// The way to sign in back to the ticket `code`: one button, or with several providers the
/// same choice as the sign-in chooser (each provider with its explanation), since the owner
/// must sign in with the account they took the ticket with.
fn sign_in(gw: &Gateway, lang: Lang, code: &TicketCode) -> Markup {
    let providers = gw.providers();
    if providers.len() < 2 {
        return html! {
            p {
                (link_button(
                    ButtonKind::Primary,
                    &sign_in_href(lang, code, None),
                    lang.pick("Đăng nhập để xem phiếu hẹn", "Sign in to see the ticket"),
                ))
            }
        };
    }
    html! {
        p {
            (lang.pick(
                "Hãy đăng nhập bằng đúng tài khoản đã dùng khi nhận phiếu hẹn:",
                "Sign in with the same account you used when you took the ticket:",
            ))
        }
        ul class="provider-choices" {
            @for provider in providers {
                @let label = provider.label_text().get(lang);
                li {
                    // Under the notice's own h2 heading.
                    h3 { (label) }
                    p class="hint" { (provider.hint_text().get(lang)) }
                    (link_button(
                        ButtonKind::Primary,
                        &sign_in_href(lang, code, Some(provider.id())),
                        &format!("{} {label}", lang.pick("Đăng nhập bằng", "Sign in with")),
                    ))
                }
            }
        }
    }
}

/// The answer to someone who is not the owner of the ticket `code`: nothing of the ticket (no
/// procedure, slot or reason), only that it belongs to a signed-in resident and a way to sign
/// in that comes back to it.
pub(crate) fn not_yours(
    gw: &Gateway,
    lang: Lang,
    code: &TicketCode,
    reader: Option<&Session>,
) -> Response {
    let title = lang.pick(
        "Phiếu hẹn của người dân đã đăng nhập",
        "A signed-in resident's ticket",
    );
    let body = html! {
        p {
            (lang.pick(
                "Mã lịch hẹn này thuộc về một người dân đã đăng nhập khi nhận phiếu hẹn. Để xem, in, hủy hoặc đổi lịch hẹn, người đó cần đăng nhập bằng chính tài khoản của mình.",
                "This appointment code belongs to a resident who was signed in when they took the ticket. To see, print, cancel or move it, they must sign in with their own account.",
            ))
        }
        @if reader.is_some() {
            p {
                (lang.pick(
                    "Bạn đang đăng nhập bằng một tài khoản khác. Nếu đây là thiết bị dùng chung, hãy đăng xuất trước.",
                    "You are signed in with another account. On a shared device, sign out first.",
                ))
            }
        }
        p {
            (lang.pick(
                "Cán bộ tại quầy vẫn tra cứu được phiếu hẹn bằng mã này.",
                "The officer at the counter can still look the ticket up with this code.",
            ))
        }
        (sign_in(gw, lang, code))
    };
    // The language switch stays on this ticket's address.
    let page = Page::new(lang, title)
        .current(&format!("/tickets/{code}"), None)
        .push(notice(NoticeKind::Warning, title, body));
    (NOT_YOURS_STATUS, page).into_response()
}
