//! Status reports from the back office: signed, idempotent, and what a resident may see.
//!
//! The back office tells the gateway what became of a dossier after the hand-off (accepted,
//! more documents needed, result ready, done) with a `POST` whose body is a JSON
//! [`ReportBody`] and whose [`SIGNATURE_HEADER`] carries an HMAC-SHA256 over the time and the
//! exact body bytes, with a secret shared with the back office
//! ([`BackOfficeKey`]; several keys are accepted during a rotation). A report older or newer
//! than [`MAX_REPORT_SKEW`] is refused, so a captured request cannot be replayed later; within
//! that window a replay is harmless, because reports are idempotent by their id.
//!
//! ```
//! use chrono::{TimeZone as _, Utc};
//! use wardgate::submission::status::{BackOfficeKey, verify_report};
//!
//! let key = BackOfficeKey::new(&[7u8; 32])?;
//! let now = Utc.with_ymd_and_hms(2026, 3, 2, 3, 0, 0).single().ok_or("time")?;
//! let body = br#"{"report_id":"mc-1","dossier_code":"30316-20260302-7K3M9Q","status":"accepted","reported_at":"2026-03-02T02:59:00Z"}"#;
//! let header = key.sign(now.timestamp(), body);
//! let report = verify_report(&[key], &header, body, now)?;
//! assert_eq!(report.report_id.as_str(), "mc-1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use ring::hmac;
use serde::Deserialize;

use crate::store::{BackOfficeStatus, ReportId, StatusReport};

use super::DossierCode;

/// The request header carrying a report's signature: `t=<unix seconds>,v1=<hex HMAC-SHA256>`,
/// the HMAC taken over `<t>.<body>`.
pub const SIGNATURE_HEADER: &str = "wardgate-signature";

/// How far a report's signing time may be from the gateway's clock.
pub const MAX_REPORT_SKEW: Duration = Duration::minutes(5);

/// Shortest shared secret accepted, in bytes.
pub const MIN_KEY_LEN: usize = 32;

/// Largest report body accepted, in bytes.
pub const MAX_REPORT_BYTES: usize = 4 * 1024;

/// A secret shared with the back office, for report signatures. `Debug` never shows it.
#[derive(Clone)]
pub struct BackOfficeKey {
    key: hmac::Key,
}

impl BackOfficeKey {
    /// A key from the shared secret's bytes.
    ///
    /// # Errors
    ///
    /// [`ReportError::KeyTooShort`] for fewer than [`MIN_KEY_LEN`] bytes.
    pub fn new(secret: &[u8]) -> Result<Self, ReportError> {
        if secret.len() < MIN_KEY_LEN {
            return Err(ReportError::KeyTooShort);
        }
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        })
    }

    /// The [`SIGNATURE_HEADER`] value for `body` signed at `timestamp` (Unix seconds): what
    /// the back office sends, and what tests use.
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> String {
        let tag = hmac::sign(&self.key, &signed_bytes(timestamp, body));
        format!("t={timestamp},v1={}", hex(tag.as_ref()))
    }

    fn verifies(&self, timestamp: i64, body: &[u8], tag: &[u8]) -> bool {
        hmac::verify(&self.key, &signed_bytes(timestamp, body), tag).is_ok()
    }
}

impl fmt::Debug for BackOfficeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackOfficeKey([redacted])")
    }
}

/// The JSON body of a status report.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportBody {
    /// The back office's id for this report (idempotency key).
    pub report_id: ReportId,
    /// The dossier code from the receipt.
    pub dossier_code: DossierCode,
    /// The new status.
    pub status: BackOfficeStatus,
    /// When the status changed, RFC 3339.
    pub reported_at: DateTime<Utc>,
}

/// Checks the signature of a report and parses it.
///
/// # Errors
///
/// [`ReportError::TooLarge`], [`ReportError::MalformedSignature`], [`ReportError::Stale`] when
/// the signing time is more than [`MAX_REPORT_SKEW`] from `now`, [`ReportError::BadSignature`]
/// when no key verifies it, [`ReportError::Body`] for a body that is not a [`ReportBody`], and
/// [`ReportError::ReportedInFuture`] for a status dated after the signing time.
pub fn verify_report(
    keys: &[BackOfficeKey],
    header: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<StatusReport, ReportError> {
    if body.len() > MAX_REPORT_BYTES {
        return Err(ReportError::TooLarge);
    }
    let (timestamp, tag) = parse_header(header).ok_or(ReportError::MalformedSignature)?;
    let signed_at =
        DateTime::from_timestamp(timestamp, 0).ok_or(ReportError::MalformedSignature)?;
    if (now - signed_at).abs() > MAX_REPORT_SKEW {
        return Err(ReportError::Stale);
    }
    if !keys.iter().any(|key| key.verifies(timestamp, body, &tag)) {
        return Err(ReportError::BadSignature);
    }
    let parsed: ReportBody =
        serde_json::from_slice(body).map_err(|e| ReportError::Body(e.to_string()))?;
    if parsed.reported_at > signed_at + MAX_REPORT_SKEW {
        return Err(ReportError::ReportedInFuture);
    }
    Ok(StatusReport::new(
        parsed.report_id,
        parsed.dossier_code,
        parsed.status,
        parsed.reported_at,
    ))
}

/// `t=<digits>,v1=<64 hex>` → the time and the tag bytes.
fn parse_header(header: &str) -> Option<(i64, Vec<u8>)> {
    let mut timestamp = None;
    let mut tag = None;
    for part in header.split(',') {
        match part.trim().split_once('=')? {
            ("t", value) if timestamp.is_none() && value.bytes().all(|b| b.is_ascii_digit()) => {
                timestamp = value.parse::<i64>().ok();
            }
            ("v1", value) if tag.is_none() && value.len() == 64 => tag = unhex(value),
            _ => return None,
        }
    }
    Some((timestamp?, tag?))
}

fn signed_bytes(timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!("{timestamp}.").into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(pair, 16).ok()
        })
        .collect()
}

/// A status report was refused.
#[non_exhaustive]
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// The shared secret is too short.
    #[error("the back-office secret must be at least 32 bytes")]
    KeyTooShort,
    /// The body is larger than [`MAX_REPORT_BYTES`].
    #[error("the report body is larger than 4 KiB")]
    TooLarge,
    /// The signature header is missing or not `t=<seconds>,v1=<hex>`.
    #[error("the `wardgate-signature` header is not `t=<unix seconds>,v1=<64 hex digits>`")]
    MalformedSignature,
    /// The signing time is too far from now (a replay, or a wrong clock).
    #[error("the report was signed more than 5 minutes from now")]
    Stale,
    /// No configured key verifies the signature.
    #[error("the report signature does not verify")]
    BadSignature,
    /// The body is not a report.
    #[error("the report body is invalid: {0}")]
    Body(String),
    /// The status is dated after the signing time.
    #[error("the report's `reported_at` is later than its signing time")]
    ReportedInFuture,
}
