//! Online submission: the JSON endpoint, the browser form, and the printable receipt.
//!
//! Rules:
//!
//! 1. The level and the age of the authentication are checked again at submission time against
//!    the procedure (not only at login); the answer when they fall short is RFC 9470's 401
//!    challenge when signing in can help, or 403 with the referral when it cannot.
//! 2. `Idempotency-Key` is required: the same key returns the same receipt (200), never a second
//!    dossier; the receipt is shown only after the dossier is durable.
//! 3. Cross-site requests are refused: the JSON endpoint needs `Content-Type: application/json`
//!    and a same-origin `Origin` (when sent); the form needs the session's CSRF token.
//! 4. Attachments (PDF, JPEG, PNG) come as the JSON dossier's `attachments` member
//!    (`[{"name", "media_type", "content_base64"}]`) or as the form's `attachments` files
//!    (`multipart/form-data`); they are checked by type and size ([`super::limits`]) before
//!    anything is stored, and stored inside the sealed dossier with it.
//! 5. A form refused for a limit or an invalid field is shown again with what was typed.

use crate::integrations::axum::with_step_up_challenge;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::MultipartError;
use axum::extract::{FromRequest as _, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::api::{DecisionBody, ErrorBody, TicketedReferral, json_error};
use super::auth::{internal_error, not_found};
use super::gateway::Gateway;
use super::html::{Markup, NoticeKind, definition_list, html, notice};
use super::limits::{
    Refusal, RequestLimits, check_json_fields, json_depth_exceeds, parse_form, read_body,
};
use super::resident::ResidentQuery;
use crate::Level;
use crate::fallback::vietnam;
use crate::i18n::{Lang, t};
use crate::integrations::axum::OptionalSession;
use crate::policy::{Decision, FieldError, FieldKind, Procedure};
use crate::pseudonym::SubjectPseudonym;
use crate::session::Session;
use crate::submission::{
    ATTACHMENTS_MEMBER, Attachment, AttachmentError, DossierCode, IdempotencyKey, MediaType,
    SubmissionRequest, SubmitError, Submitted, attachments_from_json,
};

/// The header carrying the client's idempotency key.
const IDEMPOTENCY_KEY: &str = "idempotency-key";

impl Gateway {
    fn same_origin(&self, headers: &HeaderMap) -> bool {
        // Browsers send Origin on cross-site POSTs; a mismatch is refused. Fetch metadata adds
        // a second signal where available.
        let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        let origin_ok = match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            None => true,
            // Under this gateway's `Referrer-Policy: no-referrer`, browsers send `Origin: null`
            // even on same-origin form posts (Fetch, "append a request Origin header"); only
            // fetch metadata then tells them from a sandboxed or cross-site sender.
            Some("null") => fetch_site == Some("same-origin"),
            Some(origin) => {
                origin.trim_end_matches('/') == self.public_url.origin().ascii_serialization()
            }
        };
        let fetch_ok = !matches!(fetch_site, Some("cross-site"));
        origin_ok && fetch_ok
    }

    async fn submit_dossier(
        &self,
        procedure: &Procedure,
        session: &Session,
        dossier: Value,
        key: IdempotencyKey,
        draft: Option<crate::store::DraftId>,
        attachments: Vec<Attachment>,
    ) -> Result<Submitted, SubmitError> {
        let subject = SubjectPseudonym::from_stored(session.subject());
        let result = self
            .submitter
            .submit(SubmissionRequest {
                procedure,
                assurance: session.assurance(),
                subject: &subject,
                ward: self.default_ward,
                dossier,
                idempotency_key: key,
                draft,
                attachments,
                // The team's or desk's label of an assisted device, for the audit trail and
                // the back office.
                assisted_by: super::assisted::assisting_label(),
            })
            .await;
        let label = match &result {
            Ok(Submitted {
                replayed: false, ..
            }) => "accepted",
            Ok(_) => "replayed",
            Err(SubmitError::Insufficient(_)) => "insufficient",
            Err(SubmitError::Invalid(_) | SubmitError::Attachment(_)) => "invalid",
            Err(SubmitError::IdempotencyConflict { .. }) => "conflict",
            Err(_) => "failed",
        };
        self.metrics.record_submission(label);
        result
    }

    /// The RFC 9470 challenge for a decision that signing in again can fix.
    fn challenge(&self, procedure: &Procedure, decision: &Decision) -> Response {
        let max_age = match decision {
            Decision::StepUp(step_up) => step_up.requirement.max_age_seconds,
            Decision::SignIn(sign_in) => sign_in.requirement.max_age_seconds,
            _ => procedure.max_auth_age().num_seconds(),
        };
        let body = StepUpRequired {
            error: StepUpCode::InsufficientUserAuthentication,
            decision: DecisionBody::new(decision, procedure).with_login_url(procedure),
        };
        let response = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
        with_step_up_challenge(
            response,
            self.default_provider().relying_party(),
            procedure,
            max_age,
        )
    }

    /// 401 or 403 for a resident whose session cannot file this procedure now.
    async fn refuse(&self, procedure: &Procedure, session: Option<&Session>) -> Response {
        let decision = self
            .evaluate(procedure, session, &ResidentQuery::default())
            .await;
        match &decision {
            Decision::SignIn(_) | Decision::StepUp(_) => self.challenge(procedure, &decision),
            Decision::InPerson(_) | Decision::Online(_) => {
                let referral = self
                    .referral_with_ticket(
                        procedure,
                        &decision,
                        None,
                        None,
                        None,
                        session.map(Session::subject),
                    )
                    .await
                    .map(TicketedReferral::from);
                let body = InPersonRequired {
                    error: InPersonCode::InPersonRequired,
                    decision: DecisionBody::new(&decision, procedure).with_referral(referral),
                };
                (StatusCode::FORBIDDEN, Json(body)).into_response()
            }
        }
    }
}

/// `401`: signing in again, at the level the procedure needs, can help.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StepUpRequired {
    #[schema(inline)]
    error: StepUpCode,
    #[serde(flatten)]
    decision: DecisionBody,
}

/// The RFC 9470 error code.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum StepUpCode {
    InsufficientUserAuthentication,
}

/// `403`: the resident must go in person; `referral` says where.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InPersonRequired {
    #[schema(inline)]
    error: InPersonCode,
    #[serde(flatten)]
    decision: DecisionBody,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum InPersonCode {
    InPersonRequired,
}

/// `422`: the dossier is invalid; each bad field is named.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ValidationError)]
pub(crate) struct ValidationErrorBody<'a> {
    #[schema(inline)]
    error: InvalidDossierCode,
    /// One entry per bad field.
    errors: Vec<FieldErrorBody<'a>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum InvalidDossierCode {
    InvalidDossier,
}

/// A bad field of a dossier.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = FieldError)]
pub(crate) struct FieldErrorBody<'a> {
    /// The field's name (empty when the dossier as a whole is wrong).
    field: &'a str,
    /// What is wrong, in English, for example `is required`.
    problem: String,
    /// What is wrong, in the requested language.
    message: &'static str,
}

impl<'a> ValidationErrorBody<'a> {
    fn new(errors: &'a [FieldError], lang: Lang) -> Self {
        Self {
            error: InvalidDossierCode::InvalidDossier,
            errors: errors
                .iter()
                .map(|e| FieldErrorBody {
                    field: &e.field,
                    problem: e.problem.to_string(),
                    message: t(lang, e.problem.message()),
                })
                .collect(),
        }
    }
}

/// `201` (or `200` when the `Idempotency-Key` was already used for this dossier): the dossier is
/// stored and the receipt signed.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SubmissionResponse)]
pub(crate) struct ReceiptBody {
    /// The dossier's code at the ward.
    dossier_code: String,
    /// The signed receipt, a compact JWS verifiable with `/.well-known/jwks.json`.
    #[schema(pattern = "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$")]
    receipt: String,
    /// When the dossier was received.
    issued_at: DateTime<Utc>,
    /// The procedure's code.
    procedure: String,
    /// The level of the e-identity used.
    level: Level,
    /// The SHA-256 digest of the dossier as stored.
    payload_digest: String,
    /// The printable receipt.
    receipt_url: String,
}

impl ReceiptBody {
    fn new(submitted: &Submitted) -> Self {
        let receipt = &submitted.receipt;
        Self {
            dossier_code: receipt.dossier_code.to_string(),
            receipt: receipt.jws().to_owned(),
            issued_at: receipt.issued_at,
            procedure: receipt.procedure.as_str().to_owned(),
            level: receipt.level,
            payload_digest: receipt.payload_digest.to_string(),
            receipt_url: format!("/receipts/{}", receipt.dossier_code),
        }
    }
}

/// The bodies a `403` can have.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[expect(
    dead_code,
    reason = "describes the union in the document; the handler answers with one"
)]
enum Forbidden<'a> {
    InPerson(Box<InPersonRequired>),
    CrossSite(ErrorBody<'a>),
}

/// The bodies a `422` can have.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[expect(
    dead_code,
    reason = "describes the union in the document; the handler answers with one"
)]
enum Unprocessable<'a> {
    Dossier(ValidationErrorBody<'a>),
    Attachment(ErrorBody<'a>),
}

/// The dossier: one property per field of the procedure (see `Procedure.fields`), at most 64 of
/// at most 8 KiB each, nested at most 8 deep; plus, optionally, `attachments`. The attachments
/// are stored inside the dossier (with `size` and `sha256` added), so the receipt's
/// `payload_digest` and the back office's envelope cover them.
#[derive(ToSchema)]
#[schema(as = SubmissionRequest)]
#[expect(
    dead_code,
    reason = "describes the request body; the handler reads it as JSON"
)]
struct SubmissionRequestBody {
    /// Documents attached to the dossier (by default at most 5 files of 4 MiB, 8 MiB in all).
    attachments: Option<Vec<AttachmentBody>>,
}

/// A document attached to a dossier.
#[derive(ToSchema)]
#[schema(as = Attachment)]
#[expect(dead_code, reason = "describes an attachment of the request body")]
struct AttachmentBody {
    /// The file name, without `/`, `\\` or control characters.
    #[schema(min_length = 1, max_length = 255)]
    name: String,
    /// Must be the type the content's first bytes show.
    #[schema(inline)]
    media_type: AttachmentType,
    /// The file, standard base64 with padding.
    #[schema(content_encoding = "base64")]
    content_base64: String,
}

#[derive(Serialize, ToSchema)]
#[expect(dead_code, reason = "describes the accepted attachment types")]
enum AttachmentType {
    #[serde(rename = "application/pdf")]
    Pdf,
    #[serde(rename = "image/jpeg")]
    Jpeg,
    #[serde(rename = "image/png")]
    Png,
}

/// `POST /api/procedures/{code}/submissions`.
#[utoipa::path(
    post,
    path = "/api/procedures/{code}/submissions",
    tag = "procedures",
    operation_id = "submitDossier",
    summary = "Submit a dossier online",
    description = "The level and the age of the authentication are checked again at submission. The dossier is stored durably before the receipt is issued. Repeating a request with the same `Idempotency-Key` returns the same `dossier_code` and receipt.",
    params(
        super::openapi::ProcedureCodeParam,
        super::openapi::LangParam,
        (
            "Idempotency-Key" = String,
            Header,
            description = "A unique key per dossier chosen by the client (for example a UUID); repeating it repeats the answer.",
            min_length = 1,
            max_length = 255,
        ),
    ),
    request_body(content = SubmissionRequestBody, content_type = "application/json"),
    security(("session" = [])),
    responses(
        (status = 201, description = "The dossier is stored; the receipt is signed.", body = ReceiptBody),
        (status = 200, description = "The `Idempotency-Key` was already used for this dossier: the same receipt, nothing stored again.", body = ReceiptBody),
        (status = 400, description = "The `Idempotency-Key` header is missing or malformed (`missing_idempotency_key`, `invalid_idempotency_key`), or the body is not JSON (`malformed_json`) or nests too deep (`json_too_deep`).", body = ErrorBody<'static>),
        (
            status = 401,
            description = "Not signed in, or signed in at too low a level or too long ago: authenticate again as the challenge says (RFC 9470 step-up).",
            body = StepUpRequired,
            headers((
                "WWW-Authenticate" = String,
                description = "An RFC 6750 Bearer challenge with the RFC 9470 error `insufficient_user_authentication`, the `acr_values` that would be enough (space-separated) and the `max_age` in seconds. Example: `Bearer error=\"insufficient_user_authentication\", error_description=\"level 2 e-identity required\", acr_values=\"LoA2\", max_age=\"900\"`."
            )),
        ),
        (status = 403, description = "The resident must go in person (`in_person_required`, with the referral), or the request came from another site (`cross_site`).", body = Forbidden<'static>),
        (status = 404, response = super::openapi::UnknownProcedure),
        (status = 409, description = "The `Idempotency-Key` was already used for another dossier (`idempotency_key_reused`, with its `dossier_code`).", body = ErrorBody<'static>),
        (status = 413, description = "Too large: the body (`body_too_large`), a field (`field_too_large`), the number of fields (`too_many_fields`), an attachment (`attachment_too_large`, with `field`), all attachments (`attachments_too_large`) or their number (`too_many_attachments`). Nothing was stored.", body = ErrorBody<'static>),
        (status = 415, description = "The body is not `application/json` (`unsupported_media_type`), or an attachment is not a PDF, JPEG or PNG or is not of its declared type (`attachment_type_refused`, with `field`). Nothing was stored.", body = ErrorBody<'static>),
        (status = 422, description = "The dossier is invalid; each bad field is named (a `ValidationError`). An attachment that is malformed, empty, not base64 or badly named is `invalid_attachment`, with `field` (an `Error`).", body = Unprocessable<'static>),
        (status = 429, response = super::openapi::TooManyRequests),
        (status = 431, response = super::openapi::HeadersTooLarge),
        (status = 500, description = "The dossier was not stored (`submission_failed`); retry with the same `Idempotency-Key`.", body = ErrorBody<'static>),
        (status = 503, description = "The database did not answer; the dossier was not stored (`submission_failed`); retry with the same `Idempotency-Key`.", body = ErrorBody<'static>),
    )
)]
pub(crate) async fn submit_json(
    State(gw): State<Arc<Gateway>>,
    OptionalSession(session): OptionalSession,
    Path(code): Path<String>,
    Query(query): Query<ResidentQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let lang = query.lang();
    if !gw.same_origin(&headers) {
        return json_error(
            StatusCode::FORBIDDEN,
            "cross_site",
            "cross-site submissions are refused",
        );
    }
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the dossier as application/json",
        );
    }
    let Some(procedure) = gw.procedure(&code) else {
        return json_error(
            StatusCode::NOT_FOUND,
            "unknown_procedure",
            "no procedure has this code",
        );
    };
    let key = match headers
        .get(IDEMPOTENCY_KEY)
        .and_then(|v| v.to_str().ok())
        .map(IdempotencyKey::parse)
    {
        Some(Ok(key)) => key,
        Some(Err(_)) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "the Idempotency-Key header is malformed",
            );
        }
        None => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "missing_idempotency_key",
                "send an Idempotency-Key header",
            );
        }
    };
    let Some(session) = session else {
        return gw.refuse(procedure, None).await;
    };
    let limits = gw.limits;
    // Read only for a resident who may file: a stranger's large body is refused unread.
    let body = match read_body(&headers, body, limits.upload_body_bytes()).await {
        Ok(body) => body,
        Err(refusal) => return refusal.json(),
    };
    if json_depth_exceeds(&body, limits.max_json_depth) {
        return json_error(
            StatusCode::BAD_REQUEST,
            "json_too_deep",
            &format!(
                "the body nests arrays and objects more than {} deep",
                limits.max_json_depth
            ),
        );
    }
    let mut dossier: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                &format!(
                    "the body is not JSON: line {}, column {}",
                    e.line(),
                    e.column()
                ),
            );
        }
    };
    drop(body);
    let mut attachments = Vec::new();
    if let Some(object) = dossier.as_object_mut() {
        if let Some(list) = object.remove(ATTACHMENTS_MEMBER) {
            match attachments_from_json(&list, &limits.attachments) {
                Ok(list) => attachments = list,
                Err(error) => return attachment_json(&error),
            }
        }
        if let Err(refusal) = check_json_fields(object, &limits) {
            return refusal.json();
        }
    }
    match gw
        .submit_dossier(procedure, &session, dossier, key, None, attachments)
        .await
    {
        Ok(submitted) => {
            let status = if submitted.replayed {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            (status, Json(ReceiptBody::new(&submitted))).into_response()
        }
        Err(SubmitError::Insufficient(_)) => gw.refuse(procedure, Some(&session)).await,
        Err(SubmitError::Invalid(errors)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(ValidationErrorBody::new(&errors, lang)),
        )
            .into_response(),
        Err(SubmitError::Attachment(error)) => attachment_json(&error),
        Err(SubmitError::IdempotencyConflict { dossier_code }) => ErrorBody::new(
            "idempotency_key_reused",
            "this Idempotency-Key was already used for another dossier",
        )
        .dossier_code(dossier_code.to_string())
        .response(StatusCode::CONFLICT),
        Err(error) => {
            tracing::error!(%error, "submission failed");
            let status = error.http_status();
            json_error(
                status,
                "submission_failed",
                "the dossier was not stored; retry with the same Idempotency-Key",
            )
        }
    }
}

/// Turns the form's text values into the dossier's JSON types.
pub(crate) fn dossier_from_form(procedure: &Procedure, form: &[(String, String)]) -> Value {
    let mut dossier = Map::new();
    for field in procedure.fields() {
        let Some((_, raw)) = form.iter().find(|(name, _)| *name == field.name) else {
            continue;
        };
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let value = match field.kind {
            FieldKind::Number => raw
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| raw.parse::<f64>().map(Value::from))
                .unwrap_or_else(|_| Value::from(raw)),
            _ => Value::from(raw),
        };
        dossier.insert(field.name.clone(), value);
    }
    Value::Object(dossier)
}

/// The status, code and JSON body for a refused attachment: 413 for number and size, 415 for
/// the type, 422 for the rest; `field` names the attachment (`attachments[0]`).
fn attachment_status(error: &AttachmentError) -> (StatusCode, &'static str) {
    match error {
        AttachmentError::TooMany { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_many_attachments"),
        AttachmentError::FileTooLarge { .. } => {
            (StatusCode::PAYLOAD_TOO_LARGE, "attachment_too_large")
        }
        AttachmentError::TotalTooLarge { .. } => {
            (StatusCode::PAYLOAD_TOO_LARGE, "attachments_too_large")
        }
        error if error.is_refused_type() => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "attachment_type_refused",
        ),
        _ => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_attachment"),
    }
}

fn attachment_json(error: &AttachmentError) -> Response {
    let (status, code) = attachment_status(error);
    let message = error.to_string();
    let mut body = ErrorBody::new(code, &message);
    if let Some(index) = error.index() {
        body = body.field(format!("{ATTACHMENTS_MEMBER}[{index}]"));
    }
    body.response(status)
}

/// The file input of the online form (`multipart/form-data`).
pub(crate) fn attachments_input(lang: Lang) -> Markup {
    let accept: Vec<&str> = MediaType::ALL.iter().map(|t| t.as_str()).collect();
    let id = format!("f-{ATTACHMENTS_MEMBER}");
    let hint_id = format!("f-{ATTACHMENTS_MEMBER}-hint");
    html! {
        div class="field" {
            label for=(id) { (lang.pick("Giấy tờ đính kèm", "Attached documents")) }
            p class="hint" id=(hint_id) {
                (lang.pick(
                    "Bản chụp hoặc bản quét giấy tờ: PDF, JPEG hoặc PNG.",
                    "Photos or scans of your documents: PDF, JPEG or PNG.",
                ))
            }
            input type="file" id=(id) name=(ATTACHMENTS_MEMBER) accept=(accept.join(","))
                multiple aria-describedby=(hint_id);
        }
    }
}

/// What the browser form sent, read within the limits. `refusal` is the first limit broken;
/// the fields read before it are kept so the form can be shown again with them.
#[derive(Default)]
struct FormBody {
    fields: Vec<(String, String)>,
    attachments: Vec<Attachment>,
    refusal: Option<FormRefusal>,
}

enum FormRefusal {
    Limit(Refusal),
    Attachment(AttachmentError),
}

impl FormRefusal {
    fn status(&self) -> StatusCode {
        match self {
            Self::Limit(refusal) => refusal.status,
            Self::Attachment(error) => attachment_status(error).0,
        }
    }

    fn message(&self, lang: Lang, procedure: &Procedure) -> String {
        match self {
            // A field too long is named by its label, as the form shows it.
            Self::Limit(refusal) => match refusal
                .field
                .as_deref()
                .and_then(|name| procedure.fields().iter().find(|f| f.name == name))
            {
                Some(field) if refusal.code == "field_too_large" => {
                    let label = lang.pick(&field.label_vi, &field.label_en);
                    refusal.text(lang).replacen(
                        &format!("`{}`", field.name),
                        &format!("«{label}»"),
                        1,
                    )
                }
                _ => refusal.text(lang).to_owned(),
            },
            Self::Attachment(error) => attachment_message(lang, error),
        }
    }
}

/// A resident-facing message for a refused attachment, naming the file by its position.
fn attachment_message(lang: Lang, error: &AttachmentError) -> String {
    let file = |index: usize| match lang {
        Lang::Vi => format!("Tệp thứ {}", index + 1),
        Lang::En => format!("File {}", index + 1),
    };
    let size = |bytes: usize| {
        const MIB: usize = 1024 * 1024;
        if bytes >= MIB {
            format!("{} MB", bytes.div_ceil(MIB))
        } else {
            format!("{} KB", bytes.div_ceil(1024))
        }
    };
    match (lang, error) {
        (Lang::Vi, AttachmentError::TooMany { max }) => {
            format!("Chỉ được đính kèm tối đa {max} tệp.")
        }
        (Lang::En, AttachmentError::TooMany { max }) => {
            format!("You can attach at most {max} files.")
        }
        (Lang::Vi, AttachmentError::FileTooLarge { index, max_bytes }) => {
            format!("{} lớn hơn {}.", file(*index), size(*max_bytes))
        }
        (Lang::En, AttachmentError::FileTooLarge { index, max_bytes }) => {
            format!("{} is larger than {}.", file(*index), size(*max_bytes))
        }
        (Lang::Vi, AttachmentError::TotalTooLarge { max_bytes }) => {
            format!("Tổng dung lượng các tệp lớn hơn {}.", size(*max_bytes))
        }
        (Lang::En, AttachmentError::TotalTooLarge { max_bytes }) => {
            format!("The files are larger than {} together.", size(*max_bytes))
        }
        (Lang::Vi, error) if error.is_refused_type() => format!(
            "{} không phải tệp PDF, JPEG hoặc PNG.",
            file(error.index().unwrap_or(0))
        ),
        (Lang::En, error) if error.is_refused_type() => format!(
            "{} is not a PDF, JPEG or PNG file.",
            file(error.index().unwrap_or(0))
        ),
        (Lang::Vi, error) => format!(
            "{} không hợp lệ (tệp rỗng hoặc tên tệp không hợp lệ).",
            file(error.index().unwrap_or(0))
        ),
        (Lang::En, error) => format!(
            "{} is not valid (an empty file or an invalid file name).",
            file(error.index().unwrap_or(0))
        ),
    }
}

/// Reads a `multipart/form-data` body: text fields within the field limits, files checked as
/// attachments and stopped as soon as one is too large.
async fn read_multipart(mut multipart: Multipart, limits: &RequestLimits) -> FormBody {
    let mut out = FormBody::default();
    let mut total = 0usize;
    let mut files = 0usize;
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return out,
            Err(error) => {
                out.refusal = Some(FormRefusal::Limit(multipart_refusal(&error, limits)));
                return out;
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        let Some(file_name) = field.file_name().map(str::to_owned) else {
            if out.fields.len() == limits.max_fields {
                out.refusal = Some(FormRefusal::Limit(Refusal::too_many_fields(
                    limits.max_fields,
                )));
                return out;
            }
            let mut value = Vec::new();
            let mut too_long = false;
            loop {
                match field.chunk().await {
                    Ok(Some(chunk)) => {
                        // A value too long is left out (the rest of the form is still read,
                        // within the body limit), so what else was typed is kept.
                        too_long |= value.len() + chunk.len() > limits.max_field_bytes;
                        if !too_long {
                            value.extend_from_slice(&chunk);
                        }
                    }
                    Ok(None) => break,
                    Err(error) => {
                        out.refusal = Some(FormRefusal::Limit(multipart_refusal(&error, limits)));
                        return out;
                    }
                }
            }
            if too_long {
                out.refusal.get_or_insert_with(|| {
                    FormRefusal::Limit(Refusal::field_too_large(&name, limits.max_field_bytes))
                });
            } else {
                out.fields
                    .push((name, String::from_utf8_lossy(&value).into_owned()));
            }
            continue;
        };
        let declared = field.content_type().map(str::to_owned);
        let index = files;
        let mut content = Vec::new();
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    let size = content.len() + chunk.len();
                    let check = limits
                        .attachments
                        .check_file(index, size)
                        .and_then(|()| limits.attachments.check_total(total + size));
                    if let Err(error) = check {
                        out.refusal = Some(FormRefusal::Attachment(error));
                        return out;
                    }
                    content.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(error) => {
                    out.refusal = Some(FormRefusal::Limit(multipart_refusal(&error, limits)));
                    return out;
                }
            }
        }
        // A file input left empty still sends a part, with no name and no content.
        if file_name.is_empty() && content.is_empty() {
            continue;
        }
        if name != ATTACHMENTS_MEMBER {
            out.refusal = Some(FormRefusal::Limit(Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unexpected_file",
                format!(
                    "field `{}`: files are accepted only in `{ATTACHMENTS_MEMBER}`",
                    name.chars().take(64).collect::<String>()
                ),
                "Chỉ được gửi tệp ở mục giấy tờ đính kèm.",
            )));
            return out;
        }
        files += 1;
        if files > limits.attachments.max_files {
            out.refusal = Some(FormRefusal::Attachment(AttachmentError::TooMany {
                max: limits.attachments.max_files,
            }));
            return out;
        }
        total += content.len();
        match Attachment::new(index, &file_name, declared.as_deref(), content) {
            Ok(attachment) => out.attachments.push(attachment),
            Err(error) => {
                out.refusal = Some(FormRefusal::Attachment(error));
                return out;
            }
        }
    }
}

fn multipart_refusal(error: &MultipartError, limits: &RequestLimits) -> Refusal {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Refusal::body_too_large(limits.upload_body_bytes())
    } else {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "malformed_form",
            "the form data is not valid multipart/form-data",
            "Dữ liệu tờ khai không hợp lệ.",
        )
    }
}

/// Reads the browser form, url-encoded or multipart, within the limits.
async fn read_form(request: Request, limits: &RequestLimits) -> Result<FormBody, Refusal> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match content_type.as_str() {
        "multipart/form-data" => match Multipart::from_request(request, &()).await {
            Ok(multipart) => Ok(read_multipart(multipart, limits).await),
            Err(_) => Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "malformed_form",
                "the form data is not valid multipart/form-data",
                "Dữ liệu tờ khai không hợp lệ.",
            )),
        },
        "application/x-www-form-urlencoded" => {
            let (parts, body) = request.into_parts();
            // Without attachments the ordinary limit holds.
            let bytes = read_body(&parts.headers, body, super::MAX_BODY_BYTES).await?;
            let (fields, refusal) = parse_form(&bytes, limits);
            Ok(FormBody {
                fields,
                attachments: Vec::new(),
                refusal: refusal.map(FormRefusal::Limit),
            })
        }
        _ => Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the form as multipart/form-data or application/x-www-form-urlencoded",
            "Tờ khai phải được gửi dưới dạng multipart/form-data hoặc application/x-www-form-urlencoded.",
        )),
    }
}

/// `POST /procedures/{code}/submit`: the browser form (`multipart/form-data` with attachments,
/// or url-encoded without).
pub(crate) async fn submit_form(
    State(gw): State<Arc<Gateway>>,
    OptionalSession(session): OptionalSession,
    Path(code): Path<String>,
    Query(query): Query<ResidentQuery>,
    request: Request,
) -> Response {
    let lang = query.lang();
    let Some(procedure) = gw.procedure(&code) else {
        return not_found(lang);
    };
    let back = format!("/procedures/{}?lang={}", procedure.code(), lang.code());
    let headers = request.headers().clone();
    let uri = request.uri().clone();
    let Some(session) = session else {
        return Redirect::to(&back).into_response();
    };
    let expired = || {
        (
            StatusCode::FORBIDDEN,
            "the form has expired; reload the page",
        )
            .into_response()
    };
    if !gw.same_origin(&headers) {
        return expired();
    }
    let limits = gw.limits;
    let form = match read_form(request, &limits).await {
        Ok(form) => form,
        Err(refusal) => return refusal.page(lang),
    };
    let token = form
        .fields
        .iter()
        .find(|(k, _)| k == super::html::CSRF_FIELD)
        .map(|(_, v)| v.as_str());
    if !token.is_some_and(|t| session.csrf_token().matches(t)) {
        return expired();
    }
    let key = form
        .fields
        .iter()
        .find(|(k, _)| k == "idempotency_key")
        .and_then(|(_, v)| IdempotencyKey::parse(v).ok());
    let Some(key) = key else {
        return Redirect::to(&back).into_response();
    };
    let dossier = dossier_from_form(procedure, &form.fields);
    if let Some(refusal) = &form.refusal {
        let mut problems = vec![refusal.message(lang, procedure)];
        if !form.attachments.is_empty() || matches!(refusal, FormRefusal::Attachment(_)) {
            problems.push(reattach(lang).to_owned());
        }
        return form_again(
            &gw,
            &query,
            procedure,
            &session,
            &key,
            &dossier,
            problems,
            refusal.status(),
            &uri,
        )
        .await;
    }
    let had_files = !form.attachments.is_empty();
    let draft = gw
        .held_draft(&headers, procedure, Some(&session))
        .await
        .map(|d| d.id);
    match gw
        .submit_dossier(
            procedure,
            &session,
            dossier.clone(),
            key.clone(),
            draft,
            form.attachments,
        )
        .await
    {
        Ok(submitted) => Redirect::to(&format!(
            "/receipts/{}?lang={}",
            submitted.receipt.dossier_code,
            lang.code()
        ))
        .into_response(),
        // The procedure page explains what to do instead (sign in again, or go in person).
        Err(SubmitError::Insufficient(_)) => Redirect::to(&back).into_response(),
        Err(SubmitError::Invalid(errors)) => {
            let mut problems: Vec<String> = errors
                .iter()
                .map(|error| {
                    let label = procedure
                        .fields()
                        .iter()
                        .find(|f| f.name == error.field)
                        .map_or(error.field.as_str(), |f| {
                            lang.pick(&f.label_vi, &f.label_en)
                        });
                    format!("{label}: {}", t(lang, error.problem.message()))
                })
                .collect();
            if had_files {
                problems.push(reattach(lang).to_owned());
            }
            form_again(
                &gw,
                &query,
                procedure,
                &session,
                &key,
                &dossier,
                problems,
                StatusCode::UNPROCESSABLE_ENTITY,
                &uri,
            )
            .await
        }
        Err(SubmitError::Attachment(error)) => {
            let problems = vec![attachment_message(lang, &error), reattach(lang).to_owned()];
            form_again(
                &gw,
                &query,
                procedure,
                &session,
                &key,
                &dossier,
                problems,
                attachment_status(&error).0,
                &uri,
            )
            .await
        }
        Err(SubmitError::IdempotencyConflict { dossier_code }) => {
            Redirect::to(&format!("/receipts/{dossier_code}?lang={}", lang.code())).into_response()
        }
        Err(error) => {
            tracing::error!(%error, "submission failed");
            internal_error(lang)
        }
    }
}

fn reattach(lang: Lang) -> &'static str {
    lang.pick(
        "Vì lý do an toàn, trình duyệt không giữ lại tệp đã chọn: vui lòng chọn lại tệp đính kèm.",
        "For safety, browsers do not keep chosen files: please choose your attachments again.",
    )
}

/// The online form again, with what the resident typed and the problems named, so nothing
/// already typed is lost. Files cannot be put back into a file input; the page says so.
#[expect(
    clippy::too_many_arguments,
    reason = "everything the page shows, named at the call"
)]
async fn form_again(
    gw: &Gateway,
    query: &ResidentQuery,
    procedure: &Procedure,
    session: &Session,
    key: &IdempotencyKey,
    dossier: &Value,
    problems: Vec<String>,
    status: StatusCode,
    uri: &Uri,
) -> Response {
    let lang = query.lang();
    let Decision::Online(grant) = gw.evaluate(procedure, Some(session), query).await else {
        let back = format!("/procedures/{}?lang={}", procedure.code(), lang.code());
        return Redirect::to(&back).into_response();
    };
    let list = html! {
        ul {
            @for problem in &problems {
                li { (problem) }
            }
        }
    };
    let name = lang
        .pick(&procedure.name().vi, &procedure.name().en)
        .to_owned();
    let page = super::pages::page(gw, lang, &name, uri)
        .push(notice(
            NoticeKind::Error,
            lang.pick("Tờ khai chưa hợp lệ", "The form has errors"),
            list,
        ))
        .push(super::pages::online_section(
            lang,
            procedure,
            grant.expires_at,
            Some(session),
            key.as_str(),
            Some(dossier),
            gw.procedure_html.get(procedure, lang),
        ));
    (status, page).into_response()
}

/// `GET /receipts/{code}`: the printable receipt, for the resident who filed it.
pub(crate) async fn receipt_page(
    State(gw): State<Arc<Gateway>>,
    OptionalSession(session): OptionalSession,
    Path(code): Path<String>,
    Query(query): Query<ResidentQuery>,
    uri: Uri,
) -> Response {
    let lang = query.lang();
    let Ok(code) = DossierCode::parse(&code) else {
        return not_found(lang);
    };
    let Some(session) = session else {
        return not_found(lang);
    };
    let record = match gw.store.submission(&code).await {
        Ok(Some(record)) if record.subject.as_str() == session.subject() => record,
        Ok(_) => return not_found(lang),
        Err(_) => return internal_error(lang),
    };
    let procedure = gw.procedure_name(record.procedure.as_str(), lang);
    let issued = record.created_at.with_timezone(&vietnam());
    let secret = gw.pseudonyms.dossier_secret(&code);
    let mut items = vec![
        (
            lang.pick("Mã hồ sơ", "Dossier code"),
            html! { strong class="ticket-code" { (code.to_string()) } },
        ),
        (lang.pick("Thủ tục", "Procedure"), html! { (procedure) }),
        (
            lang.pick("Thời điểm gửi", "Sent at"),
            html! { (issued.format("%H:%M %d/%m/%Y").to_string()) },
        ),
    ];
    if let Some(date) = super::dossiers::expected_result_date(&gw, &record) {
        items.push((
            lang.pick("Ngày hẹn trả kết quả (dự kiến)", "Expected result date"),
            html! { (super::dossiers::format_date(date)) },
        ));
    }
    if let Some(delivery) = delivery_choice(&gw, &record, lang) {
        items.push((
            lang.pick("Cách nhận kết quả", "How you receive the result"),
            html! { (delivery) },
        ));
    }
    items.push((
        lang.pick("Mã tra cứu", "Look-up secret"),
        html! { strong class="ticket-code" { (secret.as_str()) } },
    ));
    let technical = [
        (
            lang.pick("Mức độ tài khoản đã dùng", "Account level used"),
            html! { (record.level.number()) },
        ),
        (
            lang.pick("Mã kiểm tra nội dung (SHA-256)", "Content digest (SHA-256)"),
            html! { code { (record.payload_digest.to_string()) } },
        ),
    ];
    let status_href = format!("/dossiers/{code}?lang={}", lang.code());
    let body = html! {
        (notice(
            NoticeKind::Success,
            lang.pick(
                "Hồ sơ đã được gửi đến phường; cán bộ sẽ kiểm tra và tiếp nhận",
                "Your dossier was sent to the ward; an officer will check and accept it",
            ),
            definition_list(&items),
        ))
        p {
            (lang.pick(
                "Giữ mã hồ sơ và mã tra cứu: với hai mã này, bạn xem được hồ sơ đang ở bước nào mà không cần đăng nhập, tại ",
                "Keep the dossier code and the look-up secret: with both you can see where your dossier is, without signing in, at ",
            ))
            a href=(status_href) { (lang.pick("trang tra cứu hồ sơ", "the dossier look-up page")) }
            "."
        }
        details class="technical-details" {
            summary { (lang.pick("Chi tiết kỹ thuật", "Technical details")) }
            (definition_list(&technical))
            p {
                (lang.pick(
                    "Chữ ký số của giấy tiếp nhận. Ai cũng có thể kiểm tra bằng khóa công khai tại /.well-known/jwks.json.",
                    "The receipt's digital signature. Anyone can verify it with the public keys at /.well-known/jwks.json.",
                ))
            }
            pre class="receipt-jws" { (record.receipt) }
        }
    };
    super::pages::page(
        &gw,
        lang,
        lang.pick("Giấy tiếp nhận hồ sơ", "Receipt"),
        &uri,
    )
    .push(body)
    .into_response()
}

/// The result delivery the resident chose on the form (the procedure's `delivery` field), in
/// `lang`; `None` when the procedure has no such field or the dossier cannot be opened.
fn delivery_choice(
    gw: &Gateway,
    record: &crate::store::SubmissionRecord,
    lang: Lang,
) -> Option<String> {
    let field = gw
        .procedure(record.procedure.as_str())?
        .fields()
        .iter()
        .find(|f| f.name == "delivery")?;
    let dossier = gw
        .sealer
        .open_dossier(record.dossier_code, &record.dossier)
        .ok()?;
    let chosen = dossier.get("delivery")?.as_str()?;
    let option = field.options.iter().find(|o| o.value == chosen)?;
    Some(lang.pick(&option.label_vi, &option.label_en).to_owned())
}
