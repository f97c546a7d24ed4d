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

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Map, Value, json};

use super::api::{decision_json, json_error};
use super::auth::{internal_error, not_found};
use super::gateway::Gateway;
use super::html::{
    ButtonKind, Markup, NoticeKind, Page, definition_list, escape, link_button, notice,
};
use super::resident::{ResidentQuery, referral_json};
use crate::fallback::vietnam;
use crate::i18n::{Lang, t};
use crate::policy::{Decision, FieldError, FieldKind, Procedure};
use crate::pseudonym::SubjectPseudonym;
use crate::session::Session;
use crate::submission::{DossierCode, IdempotencyKey, SubmissionRequest, SubmitError, Submitted};

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
            })
            .await;
        let label = match &result {
            Ok(Submitted {
                replayed: false, ..
            }) => "accepted",
            Ok(_) => "replayed",
            Err(SubmitError::Insufficient(_)) => "insufficient",
            Err(SubmitError::Invalid(_)) => "invalid",
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
        let acr = self
            .default_provider()
            .relying_party()
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
        let mut body = decision_json(decision, procedure);
        body["error"] = Value::from("insufficient_user_authentication");
        body["login_url"] = Value::from(format!("/login?procedure={}", procedure.code()));
        let mut response = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
        if let Ok(header_value) = HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, header_value);
        }
        response
    }

    /// 401 or 403 for a resident whose session cannot file this procedure now.
    async fn refuse(&self, procedure: &Procedure, session: Option<&Session>) -> Response {
        let decision = self
            .evaluate(procedure, session, &ResidentQuery::default())
            .await;
        match &decision {
            Decision::SignIn(_) | Decision::StepUp(_) => self.challenge(procedure, &decision),
            Decision::InPerson(_) | Decision::Online(_) => {
                let mut body = decision_json(&decision, procedure);
                body["error"] = Value::from("in_person_required");
                if let Some((referral, ticket)) = self
                    .referral_with_ticket(procedure, &decision, None, None)
                    .await
                {
                    body["referral"] = referral_json(&referral, &ticket);
                }
                (StatusCode::FORBIDDEN, Json(body)).into_response()
            }
        }
    }
}

fn field_errors_json(errors: &[FieldError], lang: Lang) -> Value {
    let list: Vec<Value> = errors
        .iter()
        .map(|e| {
            json!({
                "field": e.field,
                "problem": e.problem.to_string(),
                "message": t(lang, e.problem.message()),
            })
        })
        .collect();
    json!({"error": "invalid_dossier", "errors": list})
}

fn receipt_json(submitted: &Submitted) -> Value {
    let receipt = &submitted.receipt;
    json!({
        "dossier_code": receipt.dossier_code.to_string(),
        "receipt": receipt.jws(),
        "issued_at": receipt.issued_at,
        "procedure": receipt.procedure.as_str(),
        "level": receipt.level.number(),
        "payload_digest": receipt.payload_digest.to_string(),
        "receipt_url": format!("/receipts/{}", receipt.dossier_code),
    })
}

/// `POST /api/procedures/{code}/submissions`.
pub(crate) async fn submit_json(
    State(gw): State<Arc<Gateway>>,
    Path(code): Path<String>,
    Query(query): Query<ResidentQuery>,
    headers: HeaderMap,
    body: Bytes,
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
    let Some(session) = gw.session(&headers) else {
        return gw.refuse(procedure, None).await;
    };
    let dossier: Value = match serde_json::from_slice(&body) {
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
    match gw
        .submit_dossier(procedure, &session, dossier, key, None)
        .await
    {
        Ok(submitted) => {
            let status = if submitted.replayed {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            (status, Json(receipt_json(&submitted))).into_response()
        }
        Err(SubmitError::Insufficient(_)) => gw.refuse(procedure, Some(&session)).await,
        Err(SubmitError::Invalid(errors)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(field_errors_json(&errors, lang)),
        )
            .into_response(),
        Err(SubmitError::IdempotencyConflict { dossier_code }) => (
            StatusCode::CONFLICT,
            Json(json!({
                "error": "idempotency_key_reused",
                "message": "this Idempotency-Key was already used for another dossier",
                "dossier_code": dossier_code.to_string(),
            })),
        )
            .into_response(),
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

/// `POST /procedures/{code}/submit`: the browser form.
pub(crate) async fn submit_form(
    State(gw): State<Arc<Gateway>>,
    Path(code): Path<String>,
    Query(query): Query<ResidentQuery>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let lang = query.lang();
    let Some(procedure) = gw.procedure(&code) else {
        return not_found(lang);
    };
    let back = format!("/procedures/{}?lang={}", procedure.code(), lang.code());
    let Some(session) = gw.session(&headers) else {
        return Redirect::to(&back).into_response();
    };
    let token = form
        .iter()
        .find(|(k, _)| k == super::html::CSRF_FIELD)
        .map(|(_, v)| v.as_str());
    if !gw.same_origin(&headers) || !token.is_some_and(|t| session.csrf_token().matches(t)) {
        return (
            StatusCode::FORBIDDEN,
            "the form has expired; reload the page",
        )
            .into_response();
    }
    let key = form
        .iter()
        .find(|(k, _)| k == "idempotency_key")
        .and_then(|(_, v)| IdempotencyKey::parse(v).ok());
    let Some(key) = key else {
        return Redirect::to(&back).into_response();
    };
    let dossier = dossier_from_form(procedure, &form);
    let draft = gw.held_draft(&headers, procedure).await.map(|d| d.id);
    match gw
        .submit_dossier(procedure, &session, dossier, key, draft)
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
            let mut list = String::from("<ul>");
            for error in &errors {
                let label = procedure
                    .fields()
                    .iter()
                    .find(|f| f.name == error.field)
                    .map_or(error.field.as_str(), |f| {
                        lang.pick(&f.label_vi, &f.label_en)
                    });
                let _ = write!(
                    list,
                    "<li>{}: {}</li>",
                    escape(label),
                    escape(t(lang, error.problem.message()))
                );
            }
            list.push_str("</ul>");
            let mut body = Markup::preescaped(list);
            body.push(&link_button(
                ButtonKind::Primary,
                &back,
                lang.pick("Quay lại tờ khai", "Back to the form"),
            ));
            let page = Page::new(
                lang,
                lang.pick("Tờ khai chưa hợp lệ", "The form has errors"),
            )
            .current(uri.path(), uri.query())
            .push(notice(
                NoticeKind::Error,
                lang.pick("Vui lòng sửa các mục sau", "Please correct the following"),
                body,
            ));
            (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
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

/// `GET /receipts/{code}`: the printable receipt, for the resident who filed it.
pub(crate) async fn receipt_page(
    State(gw): State<Arc<Gateway>>,
    Path(code): Path<String>,
    Query(query): Query<ResidentQuery>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let lang = query.lang();
    let Ok(code) = DossierCode::parse(&code) else {
        return not_found(lang);
    };
    let Some(session) = gw.session(&headers) else {
        return not_found(lang);
    };
    let record = match gw.store.submission(&code).await {
        Ok(Some(record)) if record.subject.as_str() == session.subject() => record,
        Ok(_) => return not_found(lang),
        Err(_) => return internal_error(lang),
    };
    let procedure = gw.procedure_name(record.procedure.as_str(), lang);
    let issued = record.created_at.with_timezone(&vietnam());
    let items = [
        (
            lang.pick("Mã hồ sơ", "Dossier code"),
            Markup::preescaped(format!(
                "<strong class=\"ticket-code\">{}</strong>",
                escape(&code.to_string())
            )),
        ),
        (lang.pick("Thủ tục", "Procedure"), Markup::text(&procedure)),
        (
            lang.pick("Thời điểm tiếp nhận", "Received at"),
            Markup::text(&issued.format("%H:%M %d/%m/%Y").to_string()),
        ),
        (
            lang.pick("Mức độ tài khoản đã dùng", "Account level used"),
            Markup::text(&record.level.number().to_string()),
        ),
        (
            lang.pick("Mã kiểm tra nội dung (SHA-256)", "Content digest (SHA-256)"),
            Markup::preescaped(format!(
                "<code>{}</code>",
                escape(&record.payload_digest.to_string())
            )),
        ),
    ];
    let mut body = notice(
        NoticeKind::Success,
        lang.pick(
            "Hồ sơ đã được tiếp nhận và lưu an toàn",
            "Your dossier was received and stored safely",
        ),
        definition_list(&items),
    );
    body.push(&Markup::preescaped(format!(
        "<h2>{}</h2><p>{}</p><pre class=\"receipt-jws\">{}</pre>",
        escape(lang.pick("Chữ ký số của giấy tiếp nhận", "The receipt's digital signature")),
        escape(lang.pick(
            "Ai cũng có thể kiểm tra giấy tiếp nhận này bằng khóa công khai tại /.well-known/jwks.json.",
            "Anyone can verify this receipt with the public keys at /.well-known/jwks.json.",
        )),
        escape(&record.receipt),
    )));
    super::pages::page(
        &gw,
        lang,
        lang.pick("Giấy tiếp nhận hồ sơ", "Receipt"),
        &uri,
    )
    .push(body)
    .into_response()
}
