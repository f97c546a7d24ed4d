//! Statistics per ward, reception point, procedure and day: what a ward reports upward
//! ("Từ 01/07/2025 đến 18/07/2025: 660 hồ sơ, 83 % trực tuyến").
//!
//! # Definitions (định nghĩa)
//!
//! - **Dossier (hồ sơ)**: an online submission that got a receipt (a `submission` event of the
//!   online channel), or an in-person dossier an officer recorded as received at the counter (a
//!   `counter` event with the outcome `received`). / *Hồ sơ là hồ sơ nộp trực tuyến đã được cấp
//!   biên nhận, hoặc hồ sơ nộp trực tiếp mà cán bộ đã ghi nhận "đã tiếp nhận" tại quầy.*
//! - **Online share (tỷ lệ trực tuyến)** = online ÷ (online + received in person). / *Tỷ lệ trực
//!   tuyến = số hồ sơ trực tuyến ÷ (trực tuyến + tiếp nhận trực tiếp).*
//! - **Referral (chuyển nộp trực tiếp)**: a resident routed in person, counted once per ticket
//!   issued, never per page view, by reason. A referral is not a dossier. / *Mỗi phiếu hẹn được
//!   cấp tính là một lượt chuyển nộp trực tiếp, theo lý do; lượt chuyển không phải là hồ sơ.*
//! - **Booking outcomes (kết quả lịch hẹn)**: booked and cancelled count the bookings made and
//!   cancelled in the range; attended and no-show judge the bookings whose slot falls in the
//!   range: attended when an officer recorded an outcome for its ticket, no-show when the slot
//!   started, the booking was not cancelled and no visit was recorded. / *Đã đặt, đã hủy: lịch
//!   hẹn được đặt, bị hủy trong kỳ; đã đến, không đến: lịch hẹn có giờ hẹn trong kỳ — đã đến khi
//!   cán bộ đã ghi nhận kết quả cho phiếu hẹn, không đến khi đã qua giờ hẹn, không hủy và không
//!   có ghi nhận.*
//!
//! Rules this module enforces:
//!
//! 1. Figures come from the audit trail and the bookings only, so they hold no personal data and
//!    agree with what was audited.
//! 2. Days are Vietnam local days (UTC+7); the range is inclusive and at most
//!    [`MAX_RANGE_DAYS`] days long.
//!
//! # Example
//!
//! ```
//! use chrono::{NaiveDate, TimeZone, Utc};
//! use wardgate::assurance::Level;
//! use wardgate::audit::{AuditEntry, AuditEvent, SubmissionRecorded};
//! use wardgate::clock::SystemRandom;
//! use wardgate::fallback::WardCode;
//! use wardgate::i18n::Lang;
//! use wardgate::policy::ProcedureCode;
//! use wardgate::stats::{self, StatsQuery};
//! use wardgate::store::{MemoryStore, Store};
//! use wardgate::submission::DossierCode;
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let store = MemoryStore::new();
//! let ward = WardCode::parse("30316")?;
//! let birth = ProcedureCode::parse("1.001193")?;
//! let day = NaiveDate::from_ymd_opt(2026, 3, 2).ok_or("date")?;
//! let at = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).single().ok_or("time")?;
//! let code = DossierCode::generate(ward, day, &SystemRandom::new())?;
//! let online = SubmissionRecorded::new(code, birth, ward, Level::Two);
//! store.append_audit(&AuditEntry::new(at, None, AuditEvent::Submission(online))).await?;
//!
//! let stats = stats::compute(&store, &StatsQuery::new(ward, day, day), at).await?;
//! assert_eq!(stats.dossiers, 1);
//! assert_eq!(stats.online_share_percent(), Some(100));
//! assert_eq!(stats.report_sentence(Lang::Vi), "Từ 02/03/2026 đến 02/03/2026: 1 hồ sơ, 100 % trực tuyến");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::audit::{AuditEvent, BookingAction, Channel, CounterOutcome};
use crate::fallback::{TicketCode, WardCode, vietnam};
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
    /// Dossiers: online plus received in person.
    pub dossiers: u64,
    /// Dossiers filed online (with a receipt).
    pub online: u64,
    /// Dossiers received at the counter.
    pub in_person: u64,
    /// Referrals to in-person service (one per ticket), by reason.
    pub referrals_by_reason: BTreeMap<ReasonCode, u64>,
    /// Bookings by outcome (see the module's definitions).
    pub bookings: BookingOutcomes,
    /// What officers recorded at the counter, by outcome.
    pub counter: BTreeMap<CounterOutcome, u64>,
    /// Each local day of the range, in order.
    pub by_day: Vec<DayFigures>,
    /// Per reception point (by id): dossiers received there and its bookings.
    pub by_point: BTreeMap<String, PointFigures>,
    /// Per procedure.
    pub by_procedure: BTreeMap<ProcedureCode, ProcedureFigures>,
}

/// Bookings by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BookingOutcomes {
    /// Bookings made in the range.
    pub booked: u64,
    /// Bookings cancelled in the range.
    pub cancelled: u64,
    /// The resident came: an officer recorded an outcome for the booking's ticket.
    pub attended: u64,
    /// The slot started, the booking was not cancelled, and nobody recorded a visit.
    pub no_show: u64,
}

/// One local day's figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DayFigures {
    /// The day (Vietnam time).
    pub date: NaiveDate,
    /// Dossiers filed online.
    pub online: u64,
    /// Dossiers received at the counter.
    pub in_person: u64,
    /// Referrals issued.
    pub referrals: u64,
}

/// One reception point's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PointFigures {
    /// Dossiers received at its counter.
    pub in_person: u64,
    /// Its bookings by outcome.
    pub bookings: BookingOutcomes,
}

/// One procedure's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ProcedureFigures {
    /// Dossiers filed online.
    pub online: u64,
    /// Dossiers received at the counter.
    pub in_person: u64,
    /// Referrals issued.
    pub referrals: u64,
}

impl Stats {
    /// All referrals to in-person service.
    pub fn referrals(&self) -> u64 {
        self.referrals_by_reason.values().sum()
    }

    /// The online share in whole percent, rounded half up; `None` when there is no dossier.
    pub fn online_share_percent(&self) -> Option<u64> {
        (self.dossiers > 0).then(|| (self.online * 200 + self.dossiers) / (self.dossiers * 2))
    }

    /// The online share as a fraction from 0 to 1, to four decimals; `None` without dossiers.
    pub fn online_share(&self) -> Option<f64> {
        (self.dossiers > 0).then(|| {
            let share = self.online as f64 / self.dossiers as f64;
            (share * 10_000.0).round() / 10_000.0
        })
    }

    /// The report sentence, in the form a ward reports upward: "Từ 01/07/2025 đến 18/07/2025:
    /// 660 hồ sơ, 83 % trực tuyến".
    pub fn report_sentence(&self, lang: Lang) -> String {
        let date = |d: NaiveDate| d.format("%d/%m/%Y").to_string();
        let share = self
            .online_share_percent()
            .map_or_else(|| "–".to_owned(), |p| format!("{p} %"));
        match lang {
            Lang::Vi => format!(
                "Từ {} đến {}: {} hồ sơ, {share} trực tuyến",
                date(self.from),
                date(self.to),
                self.dossiers
            ),
            Lang::En => format!(
                "From {} to {}: {} dossiers, {share} online",
                date(self.from),
                date(self.to),
                self.dossiers
            ),
        }
    }

    /// A plain-text summary, in `lang`: the report sentence, then the breakdown.
    pub fn to_text(&self, lang: Lang) -> String {
        let mut out = self.report_sentence(lang);
        // Writing into a String cannot fail.
        let _ = match lang {
            Lang::Vi => write!(
                out,
                " ({} nộp trực tuyến, {} tiếp nhận trực tiếp).\nChuyển nộp trực tiếp: {} lượt",
                self.online,
                self.in_person,
                self.referrals()
            ),
            Lang::En => write!(
                out,
                " ({} filed online, {} received in person).\nReferred in person: {}",
                self.online,
                self.in_person,
                self.referrals()
            ),
        };
        if self.referrals_by_reason.is_empty() {
            out.push_str(".\n");
        } else {
            out.push_str(match lang {
                Lang::Vi => ", theo lý do:\n",
                Lang::En => ", by reason:\n",
            });
            for (reason, n) in &self.referrals_by_reason {
                let _ = writeln!(out, "- {}: {n}", reason_label(*reason, lang));
            }
        }
        let b = &self.bookings;
        let _ = match lang {
            Lang::Vi => writeln!(
                out,
                "Lịch hẹn: {} đã đặt, {} đã hủy, {} đã đến, {} không đến.",
                b.booked, b.cancelled, b.attended, b.no_show
            ),
            Lang::En => writeln!(
                out,
                "Bookings: {} booked, {} cancelled, {} attended, {} no-show.",
                b.booked, b.cancelled, b.attended, b.no_show
            ),
        };
        out
    }

    /// The figures for upward reporting, as JSON: `ward`, `from`, `to`, `dossiers`, `online`,
    /// `in_person`, `online_share` (0 to 1, `null` without dossiers), `online_share_percent`,
    /// `referrals`, `referrals_by_reason` (by snake_case reason code), `bookings` (`booked`,
    /// `cancelled`, `attended`, `no_show`), `counter`, `by_day`, `by_point`, `by_procedure`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            object.insert(
                "online_share".into(),
                serde_json::json!(self.online_share()),
            );
            object.insert(
                "online_share_percent".into(),
                serde_json::json!(self.online_share_percent()),
            );
            object.insert("referrals".into(), serde_json::json!(self.referrals()));
        }
        value
    }

    /// The figures as CSV (RFC 4180, comma-separated, CRLF): one row per local day, then a
    /// `total` row. Columns: `date, ward, procedure, dossiers, online, in_person, online_share,
    /// referrals`, then one `referrals_<reason>` column per reason counted in the range, then
    /// the booking outcomes of the whole range on the total row.
    pub fn to_csv(&self) -> String {
        let procedure = self.procedure.map(|p| p.to_string()).unwrap_or_default();
        let reasons: Vec<ReasonCode> = self.referrals_by_reason.keys().copied().collect();
        let mut out =
            String::from("date,ward,procedure,dossiers,online,in_person,online_share,referrals");
        for reason in &reasons {
            let _ = write!(out, ",referrals_{}", reason.as_str());
        }
        out.push_str(",bookings_booked,bookings_cancelled,bookings_attended,bookings_no_show\r\n");
        let share = |online: u64, dossiers: u64| {
            if dossiers == 0 {
                String::new()
            } else {
                format!("{:.4}", online as f64 / dossiers as f64)
            }
        };
        for day in &self.by_day {
            let dossiers = day.online + day.in_person;
            let _ = write!(
                out,
                "{},{},{procedure},{dossiers},{},{},{},{}",
                day.date,
                self.ward,
                day.online,
                day.in_person,
                share(day.online, dossiers),
                day.referrals
            );
            // Reasons per day are not kept: their columns are empty on day rows.
            out.push_str(&",".repeat(reasons.len()));
            out.push_str(",,,,\r\n");
        }
        let _ = write!(
            out,
            "total,{},{procedure},{},{},{},{},{}",
            self.ward,
            self.dossiers,
            self.online,
            self.in_person,
            share(self.online, self.dossiers),
            self.referrals()
        );
        for reason in &reasons {
            let n = self.referrals_by_reason.get(reason).copied().unwrap_or(0);
            let _ = write!(out, ",{n}");
        }
        let b = &self.bookings;
        let _ = write!(
            out,
            ",{},{},{},{}\r\n",
            b.booked, b.cancelled, b.attended, b.no_show
        );
        out
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

/// Computes the figures for `query` from the audit trail and bookings in `store`, with
/// no-shows judged at `now`.
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
        dossiers: 0,
        online: 0,
        in_person: 0,
        referrals_by_reason: BTreeMap::new(),
        bookings: BookingOutcomes::default(),
        counter: BTreeMap::new(),
        by_day: query
            .from
            .iter_days()
            .take_while(|d| *d <= query.to)
            .map(|date| DayFigures {
                date,
                online: 0,
                in_person: 0,
                referrals: 0,
            })
            .collect(),
        by_point: BTreeMap::new(),
        by_procedure: BTreeMap::new(),
    };
    let day_index = |at: DateTime<Utc>| {
        let local = at.with_timezone(&vietnam()).date_naive();
        usize::try_from((local - query.from).num_days()).ok()
    };

    // A visit recorded after the range still tells whether a booking in it was kept, so the
    // trail is read up to `now` when that is later; only events inside the range are counted.
    let read_until = end.max(now);
    let mut visited: HashSet<TicketCode> = HashSet::new();
    let mut after = 0;
    loop {
        let page = store
            .audit_between(Some(query.ward), start, read_until, after, page_size)
            .await
            .map_err(StatsError::Store)?;
        for record in &page {
            if let AuditEvent::Counter(c) = &record.event
                && c.ward == query.ward
            {
                visited.insert(c.ticket);
            }
            if record.at >= end {
                continue;
            }
            let day = day_index(record.at).and_then(|i| stats.by_day.get_mut(i));
            match &record.event {
                AuditEvent::Submission(s)
                    if s.ward == query.ward
                        && wanted(s.procedure)
                        && s.channel == Channel::Online =>
                {
                    stats.online += 1;
                    stats.by_procedure.entry(s.procedure).or_default().online += 1;
                    if let Some(day) = day {
                        day.online += 1;
                    }
                }
                AuditEvent::Referral(r) if r.ward == query.ward && wanted(r.procedure) => {
                    *stats.referrals_by_reason.entry(r.reason).or_insert(0) += 1;
                    stats.by_procedure.entry(r.procedure).or_default().referrals += 1;
                    if let Some(day) = day {
                        day.referrals += 1;
                    }
                }
                AuditEvent::Booking(b) if b.ward == query.ward && wanted(b.procedure) => {
                    let point = stats
                        .by_point
                        .entry(b.point.as_str().to_owned())
                        .or_default();
                    for outcomes in [&mut stats.bookings, &mut point.bookings] {
                        match b.action {
                            BookingAction::Booked => outcomes.booked += 1,
                            BookingAction::Cancelled => outcomes.cancelled += 1,
                        }
                    }
                }
                AuditEvent::Counter(c) if c.ward == query.ward && wanted(c.procedure) => {
                    *stats.counter.entry(c.outcome).or_insert(0) += 1;
                    if c.outcome == CounterOutcome::Received {
                        stats.in_person += 1;
                        stats.by_procedure.entry(c.procedure).or_default().in_person += 1;
                        stats
                            .by_point
                            .entry(c.point.as_str().to_owned())
                            .or_default()
                            .in_person += 1;
                        if let Some(day) = day {
                            day.in_person += 1;
                        }
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
    stats.dossiers = stats.online + stats.in_person;

    for date in query.from.iter_days().take_while(|d| *d <= query.to) {
        let bookings = store
            .bookings_on(query.ward, None, date)
            .await
            .map_err(StatsError::Store)?;
        // Active bookings only: cancellations are counted from the trail above.
        for booking in bookings.iter().filter(|b| wanted(b.procedure)) {
            let attended = booking.ticket.is_some_and(|t| visited.contains(&t));
            let point = stats
                .by_point
                .entry(booking.slot.point.clone())
                .or_default();
            for outcomes in [&mut stats.bookings, &mut point.bookings] {
                if attended {
                    outcomes.attended += 1;
                } else if booking.slot.start <= now {
                    outcomes.no_show += 1;
                }
            }
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
