//! Working days: when a dossier's result can be expected.
//!
//! Processing times are set in working days (Monday to Friday, less public holidays and the
//! ward's own closed days). A dossier received after 15:00 Vietnam time, or on a day that is not
//! a working day, counts as received on the next working day: the rule printed on same-day
//! procedures ("hồ sơ nhận sau 15 giờ thì trả kết quả trong ngày làm việc tiếp theo"), applied
//! to every procedure so that the promised date is never too early.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike as _, NaiveDate, NaiveTime, Utc, Weekday};

use super::directory::vietnam;

/// Local hour from which a dossier counts as received on the next working day.
pub const SAME_DAY_CUTOFF: NaiveTime = match NaiveTime::from_hms_opt(15, 0, 0) {
    Some(time) => time,
    None => NaiveTime::MIN,
};

/// How far ahead the calendar looks before giving up (a calendar closed for a whole year).
const LOOKAHEAD_DAYS: u32 = 3 * 366;

/// Whether `day` is a working day: Monday to Friday and not in `closed`.
pub fn is_working_day(day: NaiveDate, closed: &BTreeSet<NaiveDate>) -> bool {
    !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) && !closed.contains(&day)
}

/// The working day on which a dossier submitted at `submitted_at` counts as received.
///
/// `None` only when no working day follows within three years.
pub fn reception_day(
    submitted_at: DateTime<Utc>,
    closed: &BTreeSet<NaiveDate>,
) -> Option<NaiveDate> {
    let local = submitted_at.with_timezone(&vietnam());
    let day = local.date_naive();
    if local.time() < SAME_DAY_CUTOFF && is_working_day(day, closed) {
        return Some(day);
    }
    next_working_day(day, closed)
}

/// The date the result of a dossier submitted at `submitted_at` can be expected, for a
/// procedure that takes `working_days` working days (`0`: the day it counts as received).
///
/// `None` only when the calendar has no working day within three years.
pub fn expected_result_date(
    submitted_at: DateTime<Utc>,
    working_days: u32,
    closed: &BTreeSet<NaiveDate>,
) -> Option<NaiveDate> {
    let mut day = reception_day(submitted_at, closed)?;
    for _ in 0..working_days {
        day = next_working_day(day, closed)?;
    }
    Some(day)
}

/// The first working day strictly after `day`.
fn next_working_day(day: NaiveDate, closed: &BTreeSet<NaiveDate>) -> Option<NaiveDate> {
    day.iter_days()
        .skip(1)
        .take(LOOKAHEAD_DAYS as usize)
        .find(|d| is_working_day(*d, closed))
}
