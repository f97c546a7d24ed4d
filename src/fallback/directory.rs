//! The directory of wards: service points, opening hours, police posts and help desks.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{
    DateTime, Datelike as _, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone as _, Utc,
    Weekday,
};
use serde::{Deserialize, Serialize};

use crate::i18n::LocalText;
use crate::policy::{ConfigProblem, locate};

/// Vietnam's time zone: UTC+7 all year, no daylight saving.
pub fn vietnam() -> FixedOffset {
    // INVARIANT: 7 hours is within ±24 h, so `east_opt` succeeds; UTC is never used.
    FixedOffset::east_opt(7 * 3600).unwrap_or_else(|| chrono::Offset::fix(&Utc))
}

/// The id a referral gives the police post ([`PointInfo::id`](super::PointInfo::id)); no service
/// point may take it.
pub const POLICE_POINT_ID: &str = "cong-an";

/// How far ahead [`WeeklyHours::next_open`] looks before giving up (a point never open).
const LOOKAHEAD_DAYS: i64 = 366;

/// A commune-level unit code (Decision 19/2025/QĐ-TTg): exactly five ASCII digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WardCode([u8; 5]);

impl WardCode {
    /// Parses a code.
    ///
    /// # Errors
    ///
    /// [`ConfigProblem::BadFormat`] unless `code` is exactly five ASCII digits.
    pub fn parse(code: &str) -> Result<Self, ConfigProblem> {
        let bytes: [u8; 5] = code
            .as_bytes()
            .try_into()
            .map_err(|_| ConfigProblem::BadFormat {
                expected: "exactly 5 digits, such as `30316`",
            })?;
        if !bytes.iter().all(u8::is_ascii_digit) {
            return Err(ConfigProblem::BadFormat {
                expected: "exactly 5 digits, such as `30316`",
            });
        }
        Ok(Self(bytes))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // INVARIANT: `parse` only stores ASCII digits.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Display for WardCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for WardCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WardCode({})", self.as_str())
    }
}

impl std::str::FromStr for WardCode {
    type Err = ConfigProblem;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for WardCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for WardCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[0-9]{5}$"))
            .description(Some("A commune-level unit code: five digits."))
            .examples(["30316"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for WardCode {}

impl<'de> Deserialize<'de> for WardCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(|problem| {
            serde::de::Error::custom(format!("invalid ward code `{text}`: {problem}"))
        })
    }
}

/// An opening interval within a day, local time, such as `07:00-11:30`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    /// Opening time.
    pub start: NaiveTime,
    /// Closing time (exclusive).
    pub end: NaiveTime,
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }
}

impl Serialize for Interval {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let parse = || {
            let (a, b) = text.split_once('-')?;
            let start = NaiveTime::parse_from_str(a.trim(), "%H:%M").ok()?;
            let end = NaiveTime::parse_from_str(b.trim(), "%H:%M").ok()?;
            (start < end).then_some(Interval { start, end })
        };
        parse().ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid opening interval `{text}`: expected `HH:MM-HH:MM` with start before end"
            ))
        })
    }
}

/// Opening hours per weekday, local time; holidays are closed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklyHours {
    /// Monday.
    #[serde(default)]
    pub mon: Vec<Interval>,
    /// Tuesday.
    #[serde(default)]
    pub tue: Vec<Interval>,
    /// Wednesday.
    #[serde(default)]
    pub wed: Vec<Interval>,
    /// Thursday.
    #[serde(default)]
    pub thu: Vec<Interval>,
    /// Friday.
    #[serde(default)]
    pub fri: Vec<Interval>,
    /// Saturday.
    #[serde(default)]
    pub sat: Vec<Interval>,
    /// Sunday.
    #[serde(default)]
    pub sun: Vec<Interval>,
}

impl WeeklyHours {
    /// The intervals of `weekday`.
    pub fn on(&self, weekday: Weekday) -> &[Interval] {
        match weekday {
            Weekday::Mon => &self.mon,
            Weekday::Tue => &self.tue,
            Weekday::Wed => &self.wed,
            Weekday::Thu => &self.thu,
            Weekday::Fri => &self.fri,
            Weekday::Sat => &self.sat,
            Weekday::Sun => &self.sun,
        }
    }

    /// The opening intervals on local `date`, as UTC instants; none on a holiday.
    pub fn intervals_on(
        &self,
        date: NaiveDate,
        holidays: &BTreeSet<NaiveDate>,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        if holidays.contains(&date) {
            return Vec::new();
        }
        let tz = vietnam();
        self.on(date.weekday())
            .iter()
            .filter_map(|i| {
                let start = tz.from_local_datetime(&date.and_time(i.start)).single()?;
                let end = tz.from_local_datetime(&date.and_time(i.end)).single()?;
                Some((start.with_timezone(&Utc), end.with_timezone(&Utc)))
            })
            .collect()
    }

    /// Whether open at `at`.
    pub fn is_open(&self, holidays: &BTreeSet<NaiveDate>, at: DateTime<Utc>) -> bool {
        let date = at.with_timezone(&vietnam()).date_naive();
        self.intervals_on(date, holidays)
            .iter()
            .any(|(start, end)| *start <= at && at < *end)
    }

    /// The first instant at or after `now` when open (`now` itself when open now), in Vietnam
    /// time; `None` when never open within a year.
    pub fn next_open(
        &self,
        holidays: &BTreeSet<NaiveDate>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<FixedOffset>> {
        let tz = vietnam();
        let today = now.with_timezone(&tz).date_naive();
        (0..LOOKAHEAD_DAYS).find_map(|offset| {
            let date = today.checked_add_signed(Duration::days(offset))?;
            self.intervals_on(date, holidays)
                .into_iter()
                .find_map(|(start, end)| {
                    if now < start {
                        Some(start)
                    } else if now < end {
                        Some(now)
                    } else {
                        None
                    }
                })
                .map(|t| t.with_timezone(&tz))
        })
    }

    fn validate(&self) -> Result<(), (String, ConfigProblem)> {
        for (name, day) in [
            ("mon", &self.mon),
            ("tue", &self.tue),
            ("wed", &self.wed),
            ("thu", &self.thu),
            ("fri", &self.fri),
            ("sat", &self.sat),
            ("sun", &self.sun),
        ] {
            if day
                .windows(2)
                .any(|w| matches!(w, [a, b] if b.start < a.end))
            {
                return Err((
                    format!("hours.{name}"),
                    ConfigProblem::BadFormat {
                        expected: "intervals in order, not overlapping",
                    },
                ));
            }
        }
        Ok(())
    }
}

/// Whether a service point is the ward's centre or an extra reception point.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PointKind {
    /// The commune-level Public Administrative Service Center.
    Centre,
    /// An extra reception point (often a former commune office).
    ReceptionPoint,
    /// The commune police post, for the procedures the police receive (residence).
    Police,
}

/// A place that receives dossiers: the centre or a reception point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePoint {
    /// Id, unique within the ward (URL-safe).
    pub id: String,
    /// Centre or reception point.
    pub kind: PointKind,
    /// Name in Vietnamese.
    pub name_vi: String,
    /// Name in English.
    pub name_en: String,
    /// Postal address (a proper name, the same in both languages).
    pub address: String,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Phone number.
    pub phone: String,
    /// Opening hours.
    pub hours: WeeklyHours,
    /// Length of a bookable slot in minutes; no booking when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot_minutes: Option<u32>,
    /// Residents per slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot_capacity: Option<u32>,
}

impl ServicePoint {
    /// The name in both languages.
    pub fn name(&self) -> LocalText {
        LocalText::new(&self.name_vi, &self.name_en)
    }

    /// Whether slots can be booked here.
    pub fn offers_booking(&self) -> bool {
        self.slot_minutes.is_some() && self.slot_capacity.is_some_and(|c| c > 0)
    }
}

/// The commune police post that enrols level-2 e-ID accounts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicePost {
    /// Name in Vietnamese.
    pub name_vi: String,
    /// Name in English.
    pub name_en: String,
    /// Postal address.
    pub address: String,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Phone number.
    pub phone: String,
    /// Opening hours for e-ID enrolment.
    pub hours: WeeklyHours,
    /// What to bring for level 2.
    pub bring: Vec<LocalText>,
    /// The service point where police officers seconded to the centre receive the procedures
    /// filed with the police (residence); absent when residents go to the police post itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desk_at: Option<String>,
}

/// A help desk of the community digital technology team (Tổ công nghệ số cộng đồng).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelpDesk {
    /// Name in Vietnamese.
    pub name_vi: String,
    /// Name in English.
    pub name_en: String,
    /// Where.
    pub address: String,
    /// Phone number, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// When staffed.
    pub hours: WeeklyHours,
}

/// One ward or commune.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ward {
    /// The 5-digit commune-level unit code.
    pub code: WardCode,
    /// Name in Vietnamese, such as `Phường Thới Sơn`.
    pub name_vi: String,
    /// Name in English.
    pub name_en: String,
    /// Province in Vietnamese.
    pub province_vi: String,
    /// Province in English.
    pub province_en: String,
    /// Two characters from the ticket alphabet that start this ward's ticket codes.
    pub ticket_prefix: String,
    /// The reception point the portal proposes by default.
    pub default_point: String,
    /// Whether this is sample data, not confirmed by the ward.
    #[serde(default)]
    pub sample: bool,
    /// Extra closed days of this ward (the file's public holidays are added at load).
    #[serde(default)]
    pub holidays: BTreeSet<NaiveDate>,
    /// The centre and reception points.
    pub point: Vec<ServicePoint>,
    /// The police post that enrols level 2.
    pub police: PolicePost,
    /// Help desks of the community digital technology team.
    #[serde(default)]
    pub help_desk: Vec<HelpDesk>,
}

impl Ward {
    /// The name in both languages.
    pub fn name(&self) -> LocalText {
        LocalText::new(&self.name_vi, &self.name_en)
    }

    /// The name with the province, as pages show it: two units may share a name (there is a
    /// Phường Thới Sơn in An Giang and one in Đồng Tháp).
    pub fn full_name(&self) -> LocalText {
        LocalText::new(
            format!("{}, {}", self.name_vi, self.province_vi),
            format!("{}, {}", self.name_en, self.province_en),
        )
    }

    /// The unit's own word, from its Vietnamese name: `phường` (ward), `xã` (commune) or
    /// `đặc khu` (special zone).
    pub fn unit_word(&self) -> LocalText {
        let name = self.name_vi.to_lowercase();
        if name.starts_with("xã") {
            LocalText::new("xã", "commune")
        } else if name.starts_with("đặc khu") {
            LocalText::new("đặc khu", "special zone")
        } else {
            LocalText::new("phường", "ward")
        }
    }

    /// The service point `id`.
    pub fn point(&self, id: &str) -> Option<&ServicePoint> {
        self.point.iter().find(|p| p.id == id)
    }

    /// The default reception point.
    pub fn default_point(&self) -> Option<&ServicePoint> {
        self.point(&self.default_point)
    }

    /// The point `id` when it exists, else the default.
    pub fn point_or_default(&self, id: Option<&str>) -> Option<&ServicePoint> {
        id.and_then(|id| self.point(id))
            .or_else(|| self.default_point())
    }

    /// Closed days (public holidays and the ward's own).
    pub fn holidays(&self) -> &BTreeSet<NaiveDate> {
        &self.holidays
    }

    /// When the result of a dossier submitted at `submitted_at` can be expected, for a
    /// procedure taking `working_days` working days, over this ward's closed days (see
    /// [`calendar`](super::calendar)).
    pub fn expected_result_date(
        &self,
        submitted_at: DateTime<Utc>,
        working_days: u32,
    ) -> Option<NaiveDate> {
        super::calendar::expected_result_date(submitted_at, working_days, &self.holidays)
    }

    /// When `hours` (of one of this ward's places) next opens at or after `now`.
    pub fn next_open(
        &self,
        hours: &WeeklyHours,
        now: DateTime<Utc>,
    ) -> Option<DateTime<FixedOffset>> {
        hours.next_open(&self.holidays, now)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryFile {
    #[serde(default)]
    sample: bool,
    #[serde(default)]
    holidays: BTreeSet<NaiveDate>,
    #[serde(default)]
    ward: Vec<Ward>,
}

/// The validated directory of wards, keyed by ward code.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Directory {
    sample: bool,
    wards: Vec<Ward>,
}

impl Directory {
    /// Reads and validates the directory at `path`.
    ///
    /// # Errors
    ///
    /// [`DirectoryError`] naming the file, and where known the ward, field, line and column.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, DirectoryError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| DirectoryError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// Parses and validates directory TOML; `path` is only used in errors.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub fn from_toml(text: &str, path: impl AsRef<Path>) -> Result<Self, DirectoryError> {
        let path = path.as_ref();
        let file: DirectoryFile = toml::from_str(text).map_err(|error| {
            let at = locate(text, &error, "[[ward]]", "code");
            DirectoryError::Syntax {
                path: path.to_owned(),
                line: at.line,
                column: at.column,
                ward: at.block,
                field: at.key,
                message: error.message().to_owned(),
            }
        })?;
        let invalid = |ward: Option<WardCode>, field: &str, problem| DirectoryError::Invalid {
            path: path.to_owned(),
            ward: ward.map(|w| w.as_str().to_owned()),
            field: field.to_owned(),
            problem,
        };
        if file.ward.is_empty() {
            return Err(invalid(None, "ward", ConfigProblem::Empty));
        }
        let mut seen = HashSet::new();
        let mut wards = file.ward;
        for ward in &mut wards {
            if !seen.insert(ward.code) {
                return Err(invalid(Some(ward.code), "code", ConfigProblem::Duplicate));
            }
            validate_ward(ward)
                .map_err(|(field, problem)| invalid(Some(ward.code), &field, problem))?;
            ward.holidays.extend(file.holidays.iter().copied());
        }
        Ok(Self {
            sample: file.sample,
            wards,
        })
    }

    /// The ward with `code`.
    pub fn ward(&self, code: WardCode) -> Option<&Ward> {
        self.wards.iter().find(|w| w.code == code)
    }

    /// All wards, in file order.
    pub fn wards(&self) -> &[Ward] {
        &self.wards
    }

    /// Whether the file says it holds sample data.
    pub fn is_sample(&self) -> bool {
        self.sample
    }
}

fn check_coordinates(field: &str, lat: f64, lon: f64) -> Result<(), (String, ConfigProblem)> {
    if !(-90.0..=90.0).contains(&lat) {
        return Err((
            format!("{field}lat"),
            ConfigProblem::CoordinateOutOfRange { min: -90, max: 90 },
        ));
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err((
            format!("{field}lon"),
            ConfigProblem::CoordinateOutOfRange {
                min: -180,
                max: 180,
            },
        ));
    }
    Ok(())
}

fn validate_ward(ward: &Ward) -> Result<(), (String, ConfigProblem)> {
    let nonempty = |field: String, value: &str| {
        if value.trim().is_empty() {
            Err((field, ConfigProblem::MissingTranslation))
        } else {
            Ok(())
        }
    };
    nonempty("name_vi".into(), &ward.name_vi)?;
    nonempty("name_en".into(), &ward.name_en)?;
    nonempty("province_vi".into(), &ward.province_vi)?;
    nonempty("province_en".into(), &ward.province_en)?;
    let prefix_ok = ward.ticket_prefix.len() == 2
        && ward
            .ticket_prefix
            .chars()
            .all(|c| super::ticket::ALPHABET.contains(c));
    if !prefix_ok {
        return Err((
            "ticket_prefix".into(),
            ConfigProblem::BadFormat {
                expected: "2 characters from the ticket alphabet, such as `TS`",
            },
        ));
    }
    let centres = ward
        .point
        .iter()
        .filter(|p| p.kind == PointKind::Centre)
        .count();
    if centres != 1 {
        return Err((
            "point".into(),
            ConfigProblem::BadFormat {
                expected: "exactly one point with kind = \"centre\"",
            },
        ));
    }
    let mut ids = HashSet::new();
    for (i, p) in ward.point.iter().enumerate() {
        let at = |f: &str| format!("point[{i}].{f}");
        let id_ok = !p.id.is_empty()
            && p.id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err((
                at("id"),
                ConfigProblem::BadFormat {
                    expected: "lowercase ascii letters, digits and `-`",
                },
            ));
        }
        if !ids.insert(p.id.as_str()) {
            return Err((at("id"), ConfigProblem::Duplicate));
        }
        if p.id == POLICE_POINT_ID {
            return Err((
                at("id"),
                ConfigProblem::BadFormat {
                    expected: "an id other than `cong-an`, which names the police post",
                },
            ));
        }
        if p.kind == PointKind::Police {
            return Err((
                at("kind"),
                ConfigProblem::BadFormat {
                    expected: "\"centre\" or \"reception_point\" (the police post is `[ward.police]`)",
                },
            ));
        }
        nonempty(at("name_vi"), &p.name_vi)?;
        nonempty(at("name_en"), &p.name_en)?;
        if p.address.trim().is_empty() {
            return Err((at("address"), ConfigProblem::Empty));
        }
        check_coordinates(&at(""), p.lat, p.lon)?;
        p.hours.validate().map_err(|(f, e)| (at(&f), e))?;
        if let Some(minutes) = p.slot_minutes
            && !(5..=240).contains(&minutes)
        {
            return Err((
                at("slot_minutes"),
                ConfigProblem::OutOfRange {
                    min: 5,
                    max: 240,
                    found: i64::from(minutes),
                },
            ));
        }
        if let Some(capacity) = p.slot_capacity
            && !(1..=1000).contains(&capacity)
        {
            return Err((
                at("slot_capacity"),
                ConfigProblem::OutOfRange {
                    min: 1,
                    max: 1000,
                    found: i64::from(capacity),
                },
            ));
        }
    }
    if ward.point(&ward.default_point).is_none() {
        return Err((
            "default_point".into(),
            ConfigProblem::UnknownReference {
                id: ward.default_point.clone(),
            },
        ));
    }
    nonempty("police.name_vi".into(), &ward.police.name_vi)?;
    nonempty("police.name_en".into(), &ward.police.name_en)?;
    check_coordinates("police.", ward.police.lat, ward.police.lon)?;
    ward.police
        .hours
        .validate()
        .map_err(|(f, e)| (format!("police.{f}"), e))?;
    if let Some(desk) = &ward.police.desk_at
        && ward.point(desk).is_none()
    {
        return Err((
            "police.desk_at".into(),
            ConfigProblem::UnknownReference { id: desk.clone() },
        ));
    }
    if ward.police.bring.is_empty() {
        return Err(("police.bring".into(), ConfigProblem::Empty));
    }
    for (i, b) in ward.police.bring.iter().enumerate() {
        if b.is_incomplete() {
            return Err((
                format!("police.bring[{i}]"),
                ConfigProblem::MissingTranslation,
            ));
        }
    }
    for (i, desk) in ward.help_desk.iter().enumerate() {
        nonempty(format!("help_desk[{i}].name_vi"), &desk.name_vi)?;
        nonempty(format!("help_desk[{i}].name_en"), &desk.name_en)?;
        desk.hours
            .validate()
            .map_err(|(f, e)| (format!("help_desk[{i}].{f}"), e))?;
    }
    Ok(())
}

/// Loading the directory failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The file could not be read.
    #[error("directory `{}`: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown, missing or mistyped fields.
    #[error(
        "directory `{}`:{line}:{column}: {}{}{message}",
        path.display(),
        ward.as_ref().map(|w| format!("ward `{w}`: ")).unwrap_or_default(),
        field.as_ref().map(|f| format!("field `{f}`: ")).unwrap_or_default(),
    )]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Line, from 1 (0 when unknown).
        line: usize,
        /// Column, from 1 (0 when unknown).
        column: usize,
        /// The code of the enclosing `[[ward]]` table, when found.
        ward: Option<String>,
        /// The key on the offending line, when found.
        field: Option<String>,
        /// The parser's message.
        message: String,
    },
    /// A value is invalid.
    #[error(
        "directory `{}`: {}field `{field}`: {problem}",
        path.display(),
        ward.as_ref().map(|w| format!("ward `{w}`: ")).unwrap_or_default(),
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The ward code, when the problem is inside one.
        ward: Option<String>,
        /// The field, such as `point[1].lat`.
        field: String,
        /// What is wrong.
        problem: ConfigProblem,
    },
}
