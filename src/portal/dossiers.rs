//! Dossier status: what became of a dossier after it was filed, for its holder.
//!
//! Rules:
//!
//! 1. A dossier's status opens with its code and the secret printed on its receipt
//!    ([`Pseudonymizer::dossier_secret`](crate::pseudonym::Pseudonymizer::dossier_secret)), or
//!    for the signed-in resident who filed it. The page takes the secret from a `POST` form and
//!    the JSON API from the [`SECRET_HEADER`] header, never from the URL, so it stays out of
//!    access logs and browser history.
//! 2. An unknown code and a wrong secret answer the same (`404`), and the secret is checked
//!    before the store is read, so neither the answer nor its timing says which codes exist.
//!    Look-ups that carry a secret are rate-limited per address like submissions.
//! 3. The steps, in order: received by the portal, delivered to the back office (from the
//!    outbox), then each status the back office reported (accepted, more documents needed,
//!    result ready, done), each with its time, shown in Vietnam time on the page.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Form, Router};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::api::{ErrorBody, json_error};
use super::gateway::Gateway;
use super::html::{
    ButtonKind, FormMethod, Markup, NoticeKind, TextField, button, definition_list, form, html,
    notice,
};
use super::resident::ResidentQuery;
use crate::fallback::vietnam;
use crate::i18n::Lang;
use crate::integrations::axum::OptionalSession;
use crate::session::Session;
use crate::store::{BackOfficeStatus, OutboxStatus, SubmissionRecord};
use crate::submission::DossierCode;

/// The request header carrying the dossier secret to `GET /api/dossiers/{code}`.
pub(crate) const SECRET_HEADER: &str = "wardgate-dossier-secret";

/// The page routes of this module (the JSON route is registered with the API).
pub(crate) fn routes() -> Router<Arc<Gateway>> {
    use axum::routing::get;
    Router::new()
        .route("/dossiers", get(lookup_page).post(lookup))
        .route("/dossiers/{code}", get(status_page))
}

/// A step of a dossier's way, in the order they happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StepName {
    /// The portal received and stored the dossier.
    Received,
    /// The portal delivered it to the ward's back office.
    Delivered,
    /// An officer checked the dossier and accepted it.
    Accepted,
    /// The officer needs more documents.
    MoreDocumentsNeeded,
    /// The result is ready.
    ResultReady,
    /// The result was handed over: the procedure is complete.
    Done,
}

impl From<BackOfficeStatus> for StepName {
    fn from(status: BackOfficeStatus) -> Self {
        match status {
            BackOfficeStatus::Accepted => Self::Accepted,
            BackOfficeStatus::MoreDocumentsNeeded => Self::MoreDocumentsNeeded,
            BackOfficeStatus::ResultReady => Self::ResultReady,
            BackOfficeStatus::Done => Self::Done,
        }
    }
}

impl StepName {
    fn label(self, lang: Lang) -> &'static str {
        match self {
            Self::Received => {
                lang.pick("Cổng dịch vụ công đã nhận hồ sơ", "Received by the portal")
            }
            Self::Delivered => lang.pick(
                "Đã chuyển đến phường để xử lý",
                "Delivered to the ward's back office",
            ),
            Self::Accepted => lang.pick(
                "Cán bộ đã kiểm tra và tiếp nhận hồ sơ",
                "An officer checked and accepted the dossier",
            ),
            Self::MoreDocumentsNeeded => lang.pick(
                "Cần bổ sung giấy tờ: cán bộ sẽ liên hệ với bạn",
                "More documents are needed: an officer will contact you",
            ),
            Self::ResultReady => lang.pick("Đã có kết quả", "The result is ready"),
            Self::Done => lang.pick(
                "Đã trả kết quả: thủ tục hoàn thành",
                "The result was handed over: the procedure is complete",
            ),
        }
    }
}

/// One step and when it happened.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DossierStep)]
pub(crate) struct Step {
    /// What happened.
    status: StepName,
    /// When (RFC 3339, UTC).
    at: DateTime<Utc>,
}

/// `GET /api/dossiers/{code}`: a dossier's way so far.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DossierStatus)]
pub(crate) struct StatusBody {
    /// The dossier code.
    dossier_code: String,
    /// The procedure's national code.
    procedure: String,
    /// The procedure's name in the requested language.
    procedure_name: String,
    /// The expected result date (working days over public holidays), when the procedure
    /// states its processing time.
    #[schema(value_type = Option<String>, format = Date)]
    expected_result_date: Option<NaiveDate>,
    /// The steps so far, oldest first; the last is the current status.
    steps: Vec<Step>,
}

/// The expected result date of a stored dossier: its procedure's working days from its
/// receipt, over its ward's closed days.
pub(crate) fn expected_result_date(gw: &Gateway, record: &SubmissionRecord) -> Option<NaiveDate> {
    let days = gw
        .procedure(record.procedure.as_str())?
        .processing_working_days()?;
    gw.directory
        .ward(record.ward)?
        .expected_result_date(record.created_at, days)
}

/// A date as the page shows it.
pub(crate) fn format_date(date: NaiveDate) -> String {
    date.format("%d/%m/%Y").to_string()
}

/// The dossier `code` for a holder of `secret` or for the resident of `session`; `None` for
/// an unknown code, a wrong secret and someone else's dossier alike.
async fn authorised(
    gw: &Gateway,
    code: &DossierCode,
    secret: Option<&str>,
    session: Option<&Session>,
) -> Result<Option<SubmissionRecord>, crate::store::StoreError> {
    // The secret is derived from the code: it is checked before the store is read.
    let by_secret = secret.is_some_and(|s| gw.pseudonyms.dossier_secret(code).matches(s));
    if !by_secret && session.is_none() {
        return Ok(None);
    }
    let record = gw.store.submission(code).await?;
    Ok(record.filter(|record| {
        by_secret || session.is_some_and(|s| record.subject.as_str() == s.subject())
    }))
}

/// The steps of `record` so far.
async fn steps(
    gw: &Gateway,
    record: &SubmissionRecord,
) -> Result<Vec<Step>, crate::store::StoreError> {
    let code = &record.dossier_code;
    let mut steps = vec![Step {
        status: StepName::Received,
        at: record.created_at,
    }];
    if let Some(entry) = gw.store.outbox_entry(code).await?
        && entry.status == OutboxStatus::Delivered
        && let Some(at) = entry.delivered_at
    {
        steps.push(Step {
            status: StepName::Delivered,
            at,
        });
    }
    steps.extend(
        gw.store
            .statuses(code)
            .await?
            .into_iter()
            .map(|report| Step {
                status: StepName::from(report.status),
                at: report.reported_at,
            }),
    );
    Ok(steps)
}

/// `GET /api/dossiers/{code}`.
#[utoipa::path(
    get,
    path = "/api/dossiers/{code}",
    tag = "procedures",
    operation_id = "dossierStatus",
    summary = "A dossier's status",
    description = "For the holder of the dossier secret printed on the receipt (in the `wardgate-dossier-secret` header, never in the URL) or for the signed-in resident who filed it. An unknown code, a wrong secret and someone else's dossier all answer `404`. Rate-limited per address.",
    params(
        ("code" = String, Path, description = "The dossier code from the receipt."),
        ("wardgate-dossier-secret" = Option<String>, Header, description = "The secret printed on the receipt; case, spaces and dashes do not matter."),
        super::openapi::LangParam,
    ),
    security((), ("session" = [])),
    responses(
        (status = 200, description = "The dossier's steps so far.", body = StatusBody),
        (status = 404, description = "No dossier with this code that this secret or session opens (`unknown_dossier`).", body = ErrorBody<'static>),
        (status = 429, response = super::openapi::TooManyRequests),
        (status = 431, response = super::openapi::HeadersTooLarge),
        (status = 503, description = "The database did not answer (`store_unavailable`).", body = ErrorBody<'static>),
    )
)]
pub(crate) async fn status_json(
    State(gw): State<Arc<Gateway>>,
    OptionalSession(session): OptionalSession,
    Path(code): Path<String>,
    Query(query): Query<ResidentQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = query.lang();
    let unknown = || {
        json_error(
            StatusCode::NOT_FOUND,
            "unknown_dossier",
            "no dossier with this code opens with this secret or session",
        )
    };
    let Ok(code) = DossierCode::parse(&code) else {
        return unknown();
    };
    let secret = headers.get(SECRET_HEADER).and_then(|v| v.to_str().ok());
    let found = match authorised(&gw, &code, secret, session.as_ref()).await {
        Ok(found) => found,
        Err(error) => return store_failed_json(&error),
    };
    let Some(record) = found else {
        return unknown();
    };
    match steps(&gw, &record).await {
        Ok(steps) => Json(StatusBody {
            dossier_code: code.to_string(),
            procedure: record.procedure.as_str().to_owned(),
            procedure_name: gw.procedure_name(record.procedure.as_str(), lang),
            expected_result_date: expected_result_date(&gw, &record),
            steps,
        })
        .into_response(),
        Err(error) => store_failed_json(&error),
    }
}

fn store_failed_json(error: &crate::store::StoreError) -> Response {
    tracing::error!(%error, "could not read a dossier's status");
    json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        "the database did not answer; try again",
    )
}

/// The look-up form's fields.
#[derive(Debug, Deserialize)]
pub(crate) struct LookupForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    secret: String,
}

/// `GET /dossiers`: the look-up form.
pub(crate) async fn lookup_page(
    State(gw): State<Arc<Gateway>>,
    Query(query): Query<ResidentQuery>,
    uri: Uri,
) -> Response {
    let lang = query.lang();
    lookup_response(&gw, lang, &uri, "", None, StatusCode::OK)
}

/// `POST /dossiers`: the status of the dossier the form names, or the form again.
pub(crate) async fn lookup(
    State(gw): State<Arc<Gateway>>,
    OptionalSession(session): OptionalSession,
    Query(query): Query<ResidentQuery>,
    uri: Uri,
    Form(input): Form<LookupForm>,
) -> Response {
    let lang = query.lang();
    let Ok(code) = DossierCode::parse(input.code.trim()) else {
        return not_opened(&gw, lang, &uri, &input.code);
    };
    let secret = Some(input.secret.as_str()).filter(|s| !s.trim().is_empty());
    match authorised(&gw, &code, secret, session.as_ref()).await {
        Ok(Some(record)) => status_response(&gw, lang, &uri, &record).await,
        Ok(None) => not_opened(&gw, lang, &uri, &input.code),
        Err(error) => store_failed_page(&gw, lang, &uri, &error),
    }
}

/// `GET /dossiers/{code}`: the status for the resident who filed it; the look-up form, with
/// the code filled in, for anyone else.
pub(crate) async fn status_page(
    State(gw): State<Arc<Gateway>>,
    OptionalSession(session): OptionalSession,
    Path(code): Path<String>,
    Query(query): Query<ResidentQuery>,
    uri: Uri,
) -> Response {
    let lang = query.lang();
    let Ok(parsed) = DossierCode::parse(&code) else {
        return lookup_response(&gw, lang, &uri, "", None, StatusCode::OK);
    };
    match authorised(&gw, &parsed, None, session.as_ref()).await {
        Ok(Some(record)) => status_response(&gw, lang, &uri, &record).await,
        Ok(None) => lookup_response(&gw, lang, &uri, parsed.as_str(), None, StatusCode::OK),
        Err(error) => store_failed_page(&gw, lang, &uri, &error),
    }
}

fn not_opened(gw: &Gateway, lang: Lang, uri: &Uri, code: &str) -> Response {
    let message = lang.pick(
        "Không tìm thấy hồ sơ với mã hồ sơ và mã tra cứu này. Hãy kiểm tra lại hai mã in trên giấy tiếp nhận.",
        "No dossier opens with this dossier code and look-up secret. Check both against your receipt.",
    );
    lookup_response(gw, lang, uri, code, Some(message), StatusCode::NOT_FOUND)
}

fn lookup_response(
    gw: &Gateway,
    lang: Lang,
    uri: &Uri,
    code: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let action = format!("/dossiers?lang={}", lang.code());
    let mut code_field = TextField::new("code", lang.pick("Mã hồ sơ", "Dossier code"))
        .required(true)
        .value(code)
        .hint(lang.pick(
            "In trên giấy tiếp nhận, ví dụ 30316-20260302-7K3M9Q.",
            "Printed on the receipt, for example 30316-20260302-7K3M9Q.",
        ));
    if let Some(error) = error {
        code_field = code_field.error(error);
    }
    let secret_field = TextField::new("secret", lang.pick("Mã tra cứu", "Look-up secret"))
        .required(true)
        .autocomplete("off")
        .hint(lang.pick(
            "10 ký tự in trên giấy tiếp nhận. Không cần đăng nhập.",
            "The 10 characters printed on the receipt. No sign-in needed.",
        ));
    let body = html! {
        p {
            (lang.pick(
                "Nhập mã hồ sơ và mã tra cứu in trên giấy tiếp nhận để xem hồ sơ đang ở bước nào.",
                "Enter the dossier code and the look-up secret printed on your receipt to see where your dossier is.",
            ))
        }
        (form(
            FormMethod::Post,
            &action,
            None,
            html! {
                (code_field.render(lang))
                (secret_field.render(lang))
                (button(ButtonKind::Primary, lang.pick("Tra cứu", "Look up")))
            },
        ))
    };
    let page = super::pages::page(
        gw,
        lang,
        lang.pick("Tra cứu hồ sơ", "Look up a dossier"),
        uri,
    )
    .push(body);
    (status, page).into_response()
}

async fn status_response(
    gw: &Gateway,
    lang: Lang,
    uri: &Uri,
    record: &SubmissionRecord,
) -> Response {
    let steps = match steps(gw, record).await {
        Ok(steps) => steps,
        Err(error) => return store_failed_page(gw, lang, uri, &error),
    };
    let procedure = gw.procedure_name(record.procedure.as_str(), lang);
    let mut items: Vec<(&str, Markup)> = vec![
        (
            lang.pick("Mã hồ sơ", "Dossier code"),
            html! { strong class="ticket-code" { (record.dossier_code.to_string()) } },
        ),
        (lang.pick("Thủ tục", "Procedure"), html! { (procedure) }),
    ];
    if let Some(date) = expected_result_date(gw, record) {
        items.push((
            lang.pick("Ngày hẹn trả kết quả (dự kiến)", "Expected result date"),
            html! { (format_date(date)) },
        ));
    }
    let current = steps.last().map_or(StepName::Received, |s| s.status);
    let body = html! {
        (notice(NoticeKind::Info, current.label(lang), definition_list(&items)))
        h2 { (lang.pick("Các bước của hồ sơ", "Your dossier's steps")) }
        ol class="status-steps" {
            @for step in &steps {
                li aria-current=[(step.status == current).then_some("step")] {
                    strong { (step.status.label(lang)) }
                    " – "
                    time datetime=(step.at.to_rfc3339()) {
                        (step.at.with_timezone(&vietnam()).format("%H:%M %d/%m/%Y").to_string())
                    }
                }
            }
        }
        p class="hint" {
            (lang.pick("Giờ Việt Nam (UTC+7).", "Vietnam time (UTC+7)."))
        }
    };
    super::pages::page(
        gw,
        lang,
        lang.pick("Tình trạng hồ sơ", "Dossier status"),
        uri,
    )
    .push(body)
    .into_response()
}

fn store_failed_page(
    gw: &Gateway,
    lang: Lang,
    uri: &Uri,
    error: &crate::store::StoreError,
) -> Response {
    tracing::error!(%error, "could not read a dossier's status");
    let page = super::pages::page(
        gw,
        lang,
        lang.pick("Tra cứu hồ sơ", "Look up a dossier"),
        uri,
    )
    .push(notice(
        NoticeKind::Error,
        lang.pick("Chưa tra cứu được", "The look-up failed"),
        lang.pick(
            "Hệ thống tạm thời không trả lời. Vui lòng thử lại sau ít phút.",
            "The system did not answer. Please try again in a few minutes.",
        ),
    ));
    (StatusCode::SERVICE_UNAVAILABLE, page).into_response()
}
