//! Statistics per ward and procedure over a range of days: what a ward reports upward
//! ("660 hồ sơ, 83 % trực tuyến").
//!
//! Rules this module enforces:
//!
//! 1. Figures come from the audit trail and the bookings only, so they hold no personal data and
//!    agree with what was audited: a dossier received online is a `submission` event, a referral
//!    to in-person service is a `referral` event, bookings made and cancelled are `booking`
//!    events.
//! 2. Days are Vietnam local days (UTC+7); the range is inclusive and at most
//!    [`MAX_RANGE_DAYS`] days long.
//! 3. `dossiers_received` = dossiers received online + residents referred in person (each
//!    referral is counted as one dossier filed at the counter; the portal appends one `referral`
//!    event per referral issued, not per page view). The online share is online ÷ received.
//! 4. A booking is *kept* when it was not cancelled and its slot has started by `now`.
//!
//! # Example
//!
//! ```
//! use chrono::{NaiveDate, TimeZone, Utc};
//! use wardgate::audit::{AuditEntry, AuditEvent, ReferralRecorded};
//! use wardgate::fallback::WardCode;
//! use wardgate::i18n::Lang;
//! use wardgate::policy::{ProcedureCode, ReasonCode};
//! use wardgate::stats::{self, StatsQuery};
//! use wardgate::store::{MemoryStore, Store};
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let store = MemoryStore::new();
//! let ward = WardCode::parse("30316")?;
//! let birth = ProcedureCode::parse("1.001193")?;
//! let at = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).single().ok_or("time")?;
//! let referral = ReferralRecorded::new(birth, ReasonCode::NoEid, ward);
//! store.append_audit(&AuditEntry::new(at, None, AuditEvent::Referral(referral))).await?;
//!
//! let day = NaiveDate::from_ymd_opt(2026, 3, 2).ok_or("date")?;
//! let query = StatsQuery::new(ward, day, day).with_procedure(birth);
//! let stats = stats::compute(&store, &query, at).await?;
//! assert_eq!(stats.dossiers_received, 1);
//! assert_eq!(stats.online_share_percent(), Some(0));
//! assert!(stats.to_text(Lang::Vi).contains("1 hồ sơ"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::audit::{AuditEvent, BookingAction};
use crate::fallback::WardCode;
use crate::i18n::Lang;
use crate::policy::{ProcedureCode, ReasonCode};
use crate::store::{Store, StoreError, day_bounds};

/// The longest range of days one query may cover.
pub const MAX_RANGE_DAYS: i64 = 366;

/// Audit records read per page.
const PAGE: usize = 1000;

/// What to count: one ward, optionally one procedure, local days `from..=to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsQuery {
    /// The ward.
    pub ward: WardCode,
    /// One procedure, or all.
    pub procedure: Option<ProcedureCode>,
    /// First local day, included.
    pub from: NaiveDate,
    /// Last local day, included.
    pub to: NaiveDate,
}

impl StatsQuery {
    /// All procedures of `ward` from `from` to `to`, both included.
    pub fn new(ward: WardCode, from: NaiveDate, to: NaiveDate) -> Self {
        Self {
            ward,
            procedure: None,
            from,
            to,
        }
    }

    /// Restricts to one procedure.
    #[must_use]
    pub fn with_procedure(mut self, procedure: ProcedureCode) -> Self {
        self.procedure = Some(procedure);
        self
    }
}

/// The figures of one ward (and procedure) over a range of days.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// The ward.
    pub ward: WardCode,
    /// The procedure, or `None` for all.
    pub procedure: Option<ProcedureCode>,
    /// First local day.
    pub from: NaiveDate,
    /// Last local day.
    pub to: NaiveDate,
    /// Online plus in-person referrals.
    pub dossiers_received: u64,
    /// Dossiers received online.
    pub online: u64,
    /// Referrals to in-person service, by reason.
    pub in_person_referrals_by_reason: BTreeMap<ReasonCode, u64>,
    /// Bookings made in the range.
    pub bookings_made: u64,
    /// Bookings cancelled in the range.
    pub bookings_cancelled: u64,
    /// Bookings with a slot in the range that were not cancelled and whose slot has started.
    pub bookings_kept: u64,
}

impl Stats {
    /// All referrals to in-person service.
    pub fn in_person_referrals(&self) -> u64 {
        self.in_person_referrals_by_reason.values().sum()
    }

    /// The online share in whole percent, rounded half up; `None` when nothing was received.
    pub fn online_share_percent(&self) -> Option<u64> {
        (self.dossiers_received > 0)
            .then(|| (self.online * 200 + self.dossiers_received) / (self.dossiers_received * 2))
    }

    /// A plain-text summary for a staff page, in `lang`.
    pub fn to_text(&self, lang: Lang) -> String {
        let date = |d: NaiveDate| d.format("%d/%m/%Y").to_string();
        let share = self
            .online_share_percent()
            .map_or_else(|| "–".to_owned(), |p| format!("{p} %"));
        let procedure = self.procedure.map(|p| p.to_string());
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = match lang {
            Lang::Vi => writeln!(
                out,
                "Phường/xã {}, từ {} đến {}{}: {} hồ sơ, {} trực tuyến ({} nộp trực tuyến, {} chuyển nộp trực tiếp).",
                self.ward,
                date(self.from),
                date(self.to),
                procedure.map_or_else(String::new, |p| format!(", thủ tục {p}")),
                self.dossiers_received,
                share,
                self.online,
                self.in_person_referrals(),
            ),
            Lang::En => writeln!(
                out,
                "Ward {}, {} to {}{}: {} dossiers, {} online ({} submitted online, {} referred in person).",
                self.ward,
                date(self.from),
                date(self.to),
                procedure.map_or_else(String::new, |p| format!(", procedure {p}")),
                self.dossiers_received,
                share,
                self.online,
                self.in_person_referrals(),
            ),
        };
        if !self.in_person_referrals_by_reason.is_empty() {
            let _ = writeln!(
                out,
                "{}",
                match lang {
                    Lang::Vi => "Chuyển nộp trực tiếp theo lý do:",
                    Lang::En => "Referred in person, by reason:",
                }
            );
            for (reason, n) in &self.in_person_referrals_by_reason {
                let _ = writeln!(out, "- {}: {n}", reason_label(*reason, lang));
            }
        }
        let _ = match lang {
            Lang::Vi => writeln!(
                out,
                "Lịch hẹn: {} đã đặt, {} đã hủy, {} đã đến giờ hẹn mà không hủy.",
                self.bookings_made, self.bookings_cancelled, self.bookings_kept
            ),
            Lang::En => writeln!(
                out,
                "Bookings: {} made, {} cancelled, {} kept (slot started, not cancelled).",
                self.bookings_made, self.bookings_cancelled, self.bookings_kept
            ),
        };
        out
    }

    /// The figures as JSON, with `online_share_percent` and `in_person_referrals` added and
    /// reasons by their snake_case codes.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            object.insert(
                "online_share_percent".into(),
                serde_json::json!(self.online_share_percent()),
            );
            object.insert(
                "in_person_referrals".into(),
                serde_json::json!(self.in_person_referrals()),
            );
        }
        value
    }
}

/// A short label of a referral reason for staff.
pub const fn reason_label(reason: ReasonCode, lang: Lang) -> &'static str {
    let (vi, en) = match reason {
        ReasonCode::NoSession => ("chưa đăng nhập", "not signed in"),
        ReasonCode::NoEid => ("chưa có tài khoản định danh điện tử", "no e-ID account"),
        ReasonCode::LevelBelowRequired => ("tài khoản chưa đạt mức độ 2", "account below level 2"),
        ReasonCode::AuthenticationTooOld => ("đăng nhập đã quá lâu", "login too old"),
        ReasonCode::StepUpAlreadyTried => (
            "đã đăng nhập lại nhưng vẫn chưa đạt yêu cầu",
            "signed in again without meeting the requirement",
        ),
        ReasonCode::ResidentCancelled => {
            ("người dân hủy đăng nhập", "resident cancelled the login")
        }
        ReasonCode::ProviderUnavailable => {
            ("hệ thống VNeID bị gián đoạn", "VNeID sign-in unavailable")
        }
        ReasonCode::PresenceRequired => (
            "thủ tục cần có mặt trực tiếp",
            "procedure requires presence",
        ),
        ReasonCode::ResidentChoseInPerson => {
            ("người dân chọn nộp trực tiếp", "resident chose in person")
        }
        ReasonCode::LevelMet => ("đạt mức độ 2", "level 2 met"),
    };
    match lang {
        Lang::Vi => vi,
        Lang::En => en,
    }
}

/// Computes the figures for `query` from the audit trail and bookings in `store`, with bookings
/// kept judged at `now`.
///
/// # Errors
///
/// [`StatsError::Range`] when `to` is before `from` or the range is longer than
/// [`MAX_RANGE_DAYS`]; [`StatsError::Store`].
pub async fn compute(
    store: &dyn Store,
    query: &StatsQuery,
    now: DateTime<Utc>,
) -> Result<Stats, StatsError> {
    compute_paged(store, query, now, PAGE).await
}

async fn compute_paged(
    store: &dyn Store,
    query: &StatsQuery,
    now: DateTime<Utc>,
    page_size: usize,
) -> Result<Stats, StatsError> {
    let days = (query.to - query.from).num_days() + 1;
    if !(1..=MAX_RANGE_DAYS).contains(&days) {
        return Err(StatsError::Range {
            from: query.from,
            to: query.to,
        });
    }
    let (start, _) = day_bounds(query.from);
    let (_, end) = day_bounds(query.to);
    let wanted = |p: ProcedureCode| query.procedure.is_none_or(|q| q == p);
    let mut stats = Stats {
        ward: query.ward,
        procedure: query.procedure,
        from: query.from,
        to: query.to,
        dossiers_received: 0,
        online: 0,
        in_person_referrals_by_reason: BTreeMap::new(),
        bookings_made: 0,
        bookings_cancelled: 0,
        bookings_kept: 0,
    };

    let mut after = 0;
    loop {
        let page = store
            .audit_between(Some(query.ward), start, end, after, page_size)
            .await
            .map_err(StatsError::Store)?;
        for record in &page {
            match &record.event {
                AuditEvent::Submission(s) if s.ward == query.ward && wanted(s.procedure) => {
                    stats.online += 1;
                }
                AuditEvent::Referral(r) if r.ward == query.ward && wanted(r.procedure) => {
                    *stats
                        .in_person_referrals_by_reason
                        .entry(r.reason)
                        .or_insert(0) += 1;
                }
                AuditEvent::Booking(b) if b.ward == query.ward && wanted(b.procedure) => {
                    match b.action {
                        BookingAction::Booked => stats.bookings_made += 1,
                        BookingAction::Cancelled => stats.bookings_cancelled += 1,
                    }
                }
                _ => {}
            }
        }
        match page.last() {
            Some(last) if page.len() == page_size => after = last.seq,
            _ => break,
        }
    }
    stats.dossiers_received = stats.online + stats.in_person_referrals();

    let mut day = query.from;
    while day <= query.to {
        let bookings = store
            .bookings_on(query.ward, None, day)
            .await
            .map_err(StatsError::Store)?;
        stats.bookings_kept += bookings
            .iter()
            .filter(|b| b.is_active() && b.slot.start <= now && wanted(b.procedure))
            .count() as u64;
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    Ok(stats)
}

/// Computing statistics failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// The range is empty or too long.
    #[error("the range {from} to {to} must run forwards and cover at most 366 days")]
    Range {
        /// First day asked.
        from: NaiveDate,
        /// Last day asked.
        to: NaiveDate,
    },
    /// The store failed.
    #[error("reading the figures failed: {0}")]
    Store(#[source] StoreError),
}

#[cfg(test)]
mod tests;
