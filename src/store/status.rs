//! What the back office reports about a dossier after the hand-off.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::submission::DossierCode;

/// Longest back-office report id, in bytes.
pub const MAX_REPORT_ID_LEN: usize = 64;

/// A status the back office reports for a dossier it received.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackOfficeStatus {
    /// An officer checked the dossier and accepted it (tiếp nhận).
    Accepted,
    /// The dossier needs more documents (yêu cầu bổ sung hồ sơ).
    MoreDocumentsNeeded,
    /// The result is ready to collect or on its way (có kết quả).
    ResultReady,
    /// The procedure is complete (đã trả kết quả).
    Done,
}

impl BackOfficeStatus {
    /// The stable snake_case name (for a text column and the JSON API).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::MoreDocumentsNeeded => "more_documents_needed",
            Self::ResultReady => "result_ready",
            Self::Done => "done",
        }
    }

    /// The status named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "accepted" => Some(Self::Accepted),
            "more_documents_needed" => Some(Self::MoreDocumentsNeeded),
            "result_ready" => Some(Self::ResultReady),
            "done" => Some(Self::Done),
            _ => None,
        }
    }
}

/// One status report of the back office, as stored. A report carries no free text: nothing
/// personal travels back through it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StatusReport {
    /// The back office's id for this report: reports are idempotent by it.
    pub report_id: ReportId,
    /// The dossier it is about.
    pub dossier_code: DossierCode,
    /// The status.
    pub status: BackOfficeStatus,
    /// When the back office says the status changed.
    pub reported_at: DateTime<Utc>,
}

impl StatusReport {
    /// A report (times are kept to the microsecond, as every store keeps them).
    pub fn new(
        report_id: ReportId,
        dossier_code: DossierCode,
        status: BackOfficeStatus,
        reported_at: DateTime<Utc>,
    ) -> Self {
        use chrono::SubsecRound as _;
        Self {
            report_id,
            dossier_code,
            status,
            reported_at: reported_at.trunc_subsecs(6),
        }
    }
}

/// A back-office report id: 1 to 64 characters from `A-Z a-z 0-9 . _ -`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReportId(String);

impl ReportId {
    /// Parses an id.
    ///
    /// # Errors
    ///
    /// [`InvalidReportId`] when empty, longer than [`MAX_REPORT_ID_LEN`] or with other
    /// characters.
    pub fn parse(id: &str) -> Result<Self, InvalidReportId> {
        let valid = !id.is_empty()
            && id.len() <= MAX_REPORT_ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if valid {
            Ok(Self(id.to_owned()))
        } else {
            Err(InvalidReportId)
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ReportId {
    type Error = InvalidReportId;

    fn try_from(id: String) -> Result<Self, Self::Error> {
        Self::parse(&id)
    }
}

impl From<ReportId> for String {
    fn from(id: ReportId) -> Self {
        id.0
    }
}

/// A report id is empty, too long, or has characters other than `A-Z a-z 0-9 . _ -`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a report id is 1 to 64 characters from A-Z a-z 0-9 . _ -")]
pub struct InvalidReportId;

/// What [`Store::record_status`](super::Store::record_status) did.
#[expect(
    clippy::exhaustive_enums,
    reason = "an idempotent insert inserts, finds the same row, or finds a different one"
)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusOutcome {
    /// The report was new and is now stored.
    Recorded,
    /// The same report (same id, dossier, status and time) was already stored: a retry.
    AlreadyRecorded,
    /// Another report with this id is stored: the stored one is kept.
    Conflict(StatusReport),
}
