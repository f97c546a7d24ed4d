//! The referral as the resident reads it: every place that receives the procedure, what to
//! bring, and how to reach level 2. Shared by the procedure page and the printable ticket.
//!
//! A level-1 account is a property of the account, not of one sign-in: signing in again does
//! not raise it. For such a resident the page leads with the in-person route and with how the
//! commune police raise the account to level 2; signing in again is a secondary action.

use std::net::IpAddr;

use axum::http::HeaderMap;

use super::gateway::Gateway;
use super::html::{ButtonKind, Markup, NoticeKind, html, link_button, notice};
use super::resident::{NoTicket, ReferralWithTicket};
use crate::fallback::{DayHours, Level2Info, PointInfo, Referral};
use crate::i18n::{Lang, LocalText};
use crate::policy::{Decision, Procedure, ReasonCode};
use crate::session::Session;

fn pick(lang: Lang, text: &LocalText) -> &str {
    lang.pick(&text.vi, &text.en)
}

/// The `tel:` link target of a phone number as the directory writes it ("0296 3841 234").
pub(crate) fn tel_href(phone: &str) -> String {
    let digits: String = phone
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect();
    format!("tel:{digits}")
}

/// A phone number as a `tel:` link, so a phone dials it with one tap.
pub(crate) fn phone_link(phone: &str) -> Markup {
    html! { a href=(tel_href(phone)) { (phone) } }
}

pub(crate) fn hours_table(lang: Lang, hours: &[DayHours]) -> Markup {
    html! {
        table class="hours" {
            caption { (lang.pick("Giờ làm việc", "Opening hours")) }
            tbody {
                @for day in hours {
                    tr {
                        th scope="row" { (pick(lang, &day.day)) }
                        td {
                            @if day.intervals.is_empty() {
                                (lang.pick("Nghỉ", "Closed"))
                            } @else {
                                (day.intervals.join(", "))
                            }
                        }
                    }
                }
            }
        }
    }
}

fn format_time(lang: Lang, at: chrono::DateTime<chrono::FixedOffset>) -> String {
    match lang {
        Lang::Vi => at.format("%H:%M ngày %d/%m/%Y").to_string(),
        Lang::En => at.format("%H:%M on %d/%m/%Y").to_string(),
    }
}

/// One place: name, address, phone, map, whether open now, weekly hours.
fn point_block(lang: Lang, point: &PointInfo, show_status: bool) -> Markup {
    let map = format!(
        "https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}",
        lat = point.lat,
        lon = point.lon
    );
    let status = if point.open_now {
        lang.pick("Đang mở cửa", "Open now").to_owned()
    } else {
        let next_open = point
            .next_open
            .map(|t| format_time(lang, t))
            .unwrap_or_default();
        format!("{} {next_open}", lang.pick("Mở cửa lần tới:", "Next open:"))
    };
    html! {
        li class="reception-point" {
            h3 { (pick(lang, &point.name)) }
            p {
                (point.address)
                br;
                (lang.pick("Điện thoại", "Phone")) ": " (phone_link(&point.phone))
            }
            p { a href=(map) { (lang.pick("Xem bản đồ", "Open the map")) } }
            @if show_status {
                p class="status" { (status) }
            }
            (hours_table(lang, &point.hours))
        }
    }
}

/// Every place of the ward that receives the procedure, the referral's own first. A procedure
/// the police receive lists the police counter only, as the data says.
pub(crate) fn points_section(lang: Lang, referral: &Referral, show_status: bool) -> Markup {
    let heading = if referral.other_points.is_empty() {
        lang.pick("Nơi nộp hồ sơ", "Where to go")
    } else {
        lang.pick(
            "Nơi nộp hồ sơ (bạn có thể đến bất kỳ điểm nào dưới đây)",
            "Where to go (any of these places receives it)",
        )
    };
    html! {
        h2 { (heading) }
        ul class="reception-points" {
            (point_block(lang, &referral.point, show_status))
            @for point in &referral.other_points {
                (point_block(lang, point, show_status))
            }
        }
    }
}

/// How to reach level 2: the commune police enrol it, how long it takes, how the result comes.
pub(crate) fn level2_section(lang: Lang, level2: &Level2Info) -> Markup {
    html! {
        section class="level2" aria-labelledby="level2-heading" {
            h2 id="level2-heading" {
                (lang.pick(
                    "Cách nâng tài khoản định danh điện tử lên mức độ 2",
                    "How to raise your e-identity account to level 2",
                ))
            }
            p { (pick(lang, &level2.steps)) }
            p {
                strong { (pick(lang, &level2.police_name)) }
                br;
                (level2.address)
                br;
                (lang.pick("Điện thoại", "Phone")) ": " (phone_link(&level2.phone))
            }
            p class="level2-duration" { (pick(lang, &level2.duration)) }
            @if !level2.bring.is_empty() {
                ul {
                    @for item in &level2.bring {
                        li { (pick(lang, item)) }
                    }
                }
            }
        }
    }
}

/// Whether the resident's account is level 1: only the police can raise it, so the page leads
/// with the counter and with level 2 rather than with another sign-in.
pub(crate) fn is_level1_path(referral: &Referral) -> bool {
    referral.reason == ReasonCode::LevelBelowRequired
}

/// What to bring, the fee and the processing time.
pub(crate) fn bring_section(lang: Lang, referral: &Referral) -> Markup {
    html! {
        h2 { (lang.pick("Giấy tờ cần mang theo", "What to bring")) }
        ul class="checklist" {
            @for document in &referral.procedure.documents {
                li { (pick(lang, document)) }
            }
        }
        p {
            (lang.pick("Lệ phí", "Fee")) ": " (pick(lang, &referral.procedure.fee)) ". "
            (lang.pick("Thời gian giải quyết", "Processing time")) ": "
            (pick(lang, &referral.procedure.processing_time)) "."
        }
        @if let Some(assisted) = &referral.procedure.assisted_submission {
            p class="assisted" { (pick(lang, assisted)) }
        }
    }
}

/// The help desks.
pub(crate) fn help_section(lang: Lang, referral: &Referral) -> Markup {
    html! {
        h2 { (lang.pick("Nơi được hỗ trợ", "Where to get help")) }
        p { (pick(lang, &referral.help_text)) }
        ul {
            @for desk in &referral.help {
                li {
                    strong { (pick(lang, &desk.name)) }
                    ", " (desk.address)
                    @if let Some(phone) = &desk.phone {
                        ", " (phone_link(phone))
                    }
                }
            }
        }
    }
}

/// How the referral offers to sign in again.
pub(crate) enum SignInAgain<'a> {
    /// The plain sign-in link.
    Link(&'a str),
    /// A failed login is remembered for the procedure: the "try again" form, which forgets it
    /// first (a plain link would land on the same referral).
    TryAgain {
        procedure: &'a Procedure,
        csrf_token: Option<&'a str>,
    },
}

impl SignInAgain<'_> {
    fn render(&self, lang: Lang, label: &str) -> Markup {
        match self {
            Self::Link(href) => link_button(ButtonKind::Secondary, href, label),
            Self::TryAgain {
                procedure,
                csrf_token,
            } => super::login_memory::try_again_form(lang, procedure, *csrf_token, label),
        }
    }
}

/// The referral on the procedure page. `ticket_code` is the appointment code (or why there is
/// none), `sign_in_again` how to sign in again and `slots` the booking form.
pub(crate) fn referral_section(
    lang: Lang,
    referral: &Referral,
    ticket_code: Result<&str, NoTicket>,
    sign_in_again: &SignInAgain<'_>,
    slots: Markup,
) -> Markup {
    let why = html! {
        (pick(lang, &referral.reason_text))
        @if let Some(retry) = &referral.retry_text {
            " " (pick(lang, retry))
        }
    };
    let level1 = is_level1_path(referral);
    let reference = match ticket_code {
        Ok(ticket_code) => reference_section(lang, ticket_code),
        Err(why) => html! {
            h2 { (lang.pick("Mã lịch hẹn của bạn", "Your appointment code")) }
            (why.notice(lang))
        },
    };
    let after_failed_login = matches!(sign_in_again, SignInAgain::TryAgain { .. });
    html! {
        (notice(
            NoticeKind::Warning,
            if level1 {
                lang.pick(
                    "Tài khoản của bạn ở mức độ 1: nộp hồ sơ trực tiếp",
                    "Your account is level 1: file in person",
                )
            } else {
                lang.pick("Nộp hồ sơ trực tiếp", "File in person")
            },
            why,
        ))
        @if !level1 && (referral.can_retry_sign_in || after_failed_login) {
            (sign_in_again.render(lang, lang.pick("Thử đăng nhập lại", "Try signing in again")))
        }
        (points_section(lang, referral, true))
        @if level1 {
            (level2_section(lang, &referral.level2))
            p {
                (sign_in_again.render(
                    lang,
                    lang.pick(
                        "Tôi vừa được nâng lên mức độ 2, đăng nhập lại",
                        "I have just been raised to level 2, sign in again",
                    ),
                ))
            }
        }
        (slots)
        (bring_section(lang, referral))
        (reference)
        @if !level1 {
            (level2_section(lang, &referral.level2))
        }
        (help_section(lang, referral))
    }
}

/// The appointment code with the ticket's links (print, draft before the visit).
fn reference_section(lang: Lang, ticket_code: &str) -> Markup {
    let ticket_href = format!("/tickets/{ticket_code}?lang={}", lang.code());
    let draft_href = format!("/tickets/{ticket_code}/draft?lang={}", lang.code());
    html! {
        h2 { (lang.pick("Mã lịch hẹn của bạn", "Your appointment code")) }
        p {
            (lang.pick("Mã lịch hẹn", "Appointment code")) ": "
            strong class="ticket-code" { (ticket_code) }
        }
        p {
            a href=(ticket_href) {
                (lang.pick(
                    "Xem và in phiếu hẹn (có mã QR)",
                    "View and print the ticket (with QR code)"
                ))
            }
        }
        p {
            a href=(draft_href) {
                (lang.pick(
                    "Điền tờ khai trước khi đến (lưu nháp cho cán bộ)",
                    "Fill in the form before your visit (saved as a draft for the officer)"
                ))
            }
        }
    }
}

/// The in-person part of a page: the referral with its ticket and booking form.
pub(crate) struct InPersonContent {
    /// The referral section.
    pub(crate) markup: Markup,
    /// The `Set-Cookie` value holding the ticket, so the next visit shows the same code.
    pub(crate) ticket_cookie: Option<String>,
}

/// The referral for an in-person `decision` as the procedure page shows it: the ticket this
/// browser holds (or a new one, within an anonymous client's allowance), the booking form and
/// `sign_in_again`. Gateway mode shows the same instead of a gated upstream page. `None` when
/// the referral cannot be built.
#[expect(
    clippy::too_many_arguments,
    reason = "the procedure page and the gateway's proxy each hold these facts of the request"
)]
pub(crate) async fn in_person_content(
    gw: &Gateway,
    lang: Lang,
    procedure: &Procedure,
    decision: &Decision,
    headers: &HeaderMap,
    session: Option<&Session>,
    client: IpAddr,
    sign_in_again: &SignInAgain<'_>,
) -> Option<InPersonContent> {
    let ReferralWithTicket { referral, ticket } = gw
        .referral_with_ticket(
            procedure,
            decision,
            gw.held_ticket(headers, procedure, session),
            gw.held_draft(headers, procedure, session).await,
            session.is_none().then_some(client),
            session.map(Session::subject),
        )
        .await?;
    let code = match &ticket {
        Ok(ticket) => Ok(ticket.ticket.code.to_string()),
        Err(why) => Err(*why),
    };
    let (slots, ticket_cookie) = match &ticket {
        Ok(ticket) => (
            super::booking::slot_section(gw, lang, procedure, &ticket.ticket).await,
            gw.ticket_cookie(ticket, session.map(Session::subject)),
        ),
        Err(_) => (html! {}, None),
    };
    let markup = referral_section(
        lang,
        &referral,
        code.as_deref().map_err(|why| *why),
        sign_in_again,
        slots,
    );
    Some(InPersonContent {
        markup,
        ticket_cookie,
    })
}
