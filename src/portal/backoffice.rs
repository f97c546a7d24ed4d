//! `POST /api/backoffice/status`: the back office reports what became of a dossier.
//!
//! Rules:
//!
//! 1. The report is signed ([`SIGNATURE_HEADER`], HMAC-SHA256 over `<t>.<body>` with a secret
//!    from `WARDGATE_BACKOFFICE_STATUS_KEYS`); the checks are those of
//!    [`verify_report`]: a missing or malformed header, a signature no key verifies, and a
//!    signing time more than five minutes from the gateway's clock are all `401`.
//! 2. Reports are idempotent by `report_id`: the same report sent again answers exactly as the
//!    first time and is stored once; another report under a used id is `409`.
//! 3. Without a configured key the route answers `503 status_reports_off`: the back office
//!    keeps its reports and retries, and the operator sees why in its log.
//! 4. A report names no person and carries no free text, so nothing personal is logged.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::api::{ErrorBody, json_error};
use super::dossiers::StepName;
use super::gateway::Gateway;
use crate::store::{StatusOutcome, StatusReport, StoreError};
use crate::submission::status::{MAX_REPORT_BYTES, ReportError, SIGNATURE_HEADER, verify_report};

/// A status report as the back office sends it (the signed body).
#[derive(Debug, ToSchema)]
#[schema(as = StatusReportRequest)]
#[expect(
    dead_code,
    reason = "documents the request body; parsed by `verify_report`"
)]
pub(crate) struct ReportRequest {
    /// The back office's id for this report, 1 to 64 characters from `A-Z a-z 0-9 . _ -`:
    /// the idempotency key.
    report_id: String,
    /// The dossier code from the receipt.
    dossier_code: String,
    /// The new status (one of the back-office statuses).
    status: StepName,
    /// When the status changed (RFC 3339), no later than the signing time.
    reported_at: DateTime<Utc>,
}

/// The report as recorded: the same answer for the first delivery and every retry.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = StatusReportRecorded)]
pub(crate) struct ReportRecorded {
    /// The report's id.
    report_id: String,
    /// The dossier.
    dossier_code: String,
    /// The status recorded.
    status: StepName,
    /// When the status changed.
    reported_at: DateTime<Utc>,
}

impl ReportRecorded {
    fn new(report: &StatusReport) -> Self {
        Self {
            report_id: report.report_id.as_str().to_owned(),
            dossier_code: report.dossier_code.to_string(),
            status: StepName::from(report.status),
            reported_at: report.reported_at,
        }
    }
}

/// `POST /api/backoffice/status`.
#[utoipa::path(
    post,
    path = "/api/backoffice/status",
    tag = "backoffice",
    operation_id = "reportDossierStatus",
    summary = "The back office reports a dossier's status",
    description = "Signed with the `wardgate-signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256>`, the HMAC taken with a secret shared with the gateway (`WARDGATE_BACKOFFICE_STATUS_KEYS`) over the bytes `<t>.` followed by the exact body. The signing time must be within 5 minutes of the gateway's clock. Idempotent by `report_id`: sending the same report again answers `200` with the same body and records nothing more.",
    request_body(content = ReportRequest, content_type = "application/json"),
    params(
        ("wardgate-signature" = String, Header, description = "`t=<unix seconds>,v1=<64 hex digits>`: HMAC-SHA256 over `<t>.<body>`."),
    ),
    security(()),
    responses(
        (status = 200, description = "The report is recorded (the first time, or already by an earlier delivery of the same report).", body = ReportRecorded),
        (status = 401, description = "The signature is missing or malformed (`malformed_signature`), signed more than 5 minutes from now (`stale_signature`), or verified by no key (`bad_signature`).", body = ErrorBody<'static>),
        (status = 404, description = "No dossier has this code (`unknown_dossier`).", body = ErrorBody<'static>),
        (status = 409, description = "Another report was recorded under this `report_id` (`report_id_reused`); the stored one is kept.", body = ErrorBody<'static>),
        (status = 413, description = "The body is larger than 4 KiB (`body_too_large`).", body = ErrorBody<'static>),
        (status = 422, description = "The body is not a status report (`invalid_report`), or its `reported_at` is after its signing time (`reported_in_future`).", body = ErrorBody<'static>),
        (status = 431, response = super::openapi::HeadersTooLarge),
        (status = 500, description = "The report could not be stored (`status_report_failed`); retry it.", body = ErrorBody<'static>),
        (status = 503, description = "The gateway has no back-office status key configured (`status_reports_off`).", body = ErrorBody<'static>),
    )
)]
pub(crate) async fn report_status(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if gw.backoffice_keys.is_empty() {
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "status_reports_off",
            "no back-office status key is configured (WARDGATE_BACKOFFICE_STATUS_KEYS)",
        );
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_REPORT_BYTES).await else {
        return report_refused(&ReportError::TooLarge);
    };
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let report = match verify_report(&gw.backoffice_keys, signature, &bytes, gw.clock.now()) {
        Ok(report) => report,
        Err(error) => return report_refused(&error),
    };
    match gw.store.record_status(&report).await {
        Ok(StatusOutcome::Recorded) => {
            tracing::info!(
                dossier_code = %report.dossier_code,
                status = report.status.as_str(),
                "back-office status recorded"
            );
            Json(ReportRecorded::new(&report)).into_response()
        }
        Ok(StatusOutcome::AlreadyRecorded) => Json(ReportRecorded::new(&report)).into_response(),
        Ok(StatusOutcome::Conflict(_)) => json_error(
            StatusCode::CONFLICT,
            "report_id_reused",
            "another report was recorded under this report_id",
        ),
        Err(StoreError::UnknownDossier { .. }) => json_error(
            StatusCode::NOT_FOUND,
            "unknown_dossier",
            "no dossier has this code",
        ),
        Err(error) => {
            tracing::error!(%error, "could not record a back-office status");
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "status_report_failed",
                "the report was not stored; retry it",
            )
        }
    }
}

/// The answer to a report that failed [`verify_report`].
fn report_refused(error: &ReportError) -> Response {
    let (status, code) = match error {
        ReportError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
        ReportError::Stale => (StatusCode::UNAUTHORIZED, "stale_signature"),
        ReportError::BadSignature => (StatusCode::UNAUTHORIZED, "bad_signature"),
        ReportError::Body(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_report"),
        ReportError::ReportedInFuture => (StatusCode::UNPROCESSABLE_ENTITY, "reported_in_future"),
        ReportError::MalformedSignature | ReportError::KeyTooShort => {
            (StatusCode::UNAUTHORIZED, "malformed_signature")
        }
    };
    json_error(status, code, &error.to_string())
}
