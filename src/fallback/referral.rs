//! The referral page: where to go, when, what to bring, why, and how to avoid it next time.

use chrono::{DateTime, FixedOffset, Utc, Weekday};
use serde::Serialize;

use crate::i18n::{Lang, LocalText, MessageId};
use crate::policy::{Counter, Diagnostics, InPersonRoute, Procedure, ProcedureCode, ReasonCode};

use super::WardCode;
use super::directory::{
    Directory, HelpDesk, POLICE_POINT_ID, PointKind, PolicePost, ServicePoint, Ward, WeeklyHours,
};

/// Working days the police usually need to issue a level-2 account (Decree 69/2024 Art. 13).
pub const LEVEL2_WORKING_DAYS: u8 = 3;

/// Everything the referral page shows, in both languages; serialisable for the JSON API.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Referral {
    /// Why the resident is referred.
    pub reason: ReasonCode,
    /// The reason in plain words.
    pub reason_text: LocalText,
    /// Whether signing in again could still lead online.
    pub can_retry_sign_in: bool,
    /// The "you can still try to sign in again" hint, when it applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_text: Option<LocalText>,
    /// The resident's language.
    pub lang: Lang,
    /// The procedure and what to bring.
    pub procedure: ProcedureInfo,
    /// The ward.
    pub ward: WardInfo,
    /// Where to go: the chosen (or default) reception point, or for a procedure the police
    /// receive, the police post (or the police desk the ward names).
    pub point: PointInfo,
    /// The ward's other places that receive this procedure, for the resident to choose.
    pub other_points: Vec<PointInfo>,
    /// How to get a level-2 account.
    pub level2: Level2Info,
    /// Where to get help.
    pub help: Vec<HelpInfo>,
    /// The help desks' hint.
    pub help_text: LocalText,
    /// What the decision was based on.
    pub diagnostics: Diagnostics,
}

/// The procedure part of a referral.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProcedureInfo {
    /// National procedure code.
    pub code: ProcedureCode,
    /// Name.
    pub name: LocalText,
    /// What to bring.
    pub documents: Vec<LocalText>,
    /// Fee.
    pub fee: LocalText,
    /// Processing time.
    pub processing_time: LocalText,
    /// Who decides the dossier.
    pub authority: LocalText,
    /// Where it is received in person.
    pub counter: Counter,
    /// Where else it can be filed online, when it is not the portal's alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online_elsewhere: Option<LocalText>,
    /// The legal basis.
    pub legal_basis: LocalText,
    /// Where the procedure's code and requirements were checked.
    pub source: String,
    /// Whether staff can file it online with the resident; with the hint when they can.
    pub assisted_submission: Option<LocalText>,
}

/// The ward part of a referral.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WardInfo {
    /// Ward code.
    pub code: WardCode,
    /// Name.
    pub name: LocalText,
    /// Province.
    pub province: LocalText,
    /// Prefix of ticket codes.
    pub ticket_prefix: String,
    /// Whether this is sample data.
    pub sample: bool,
}

/// A place with its hours and next opening.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PointInfo {
    /// Id within the ward.
    pub id: String,
    /// Centre or reception point.
    pub kind: PointKind,
    /// Name.
    pub name: LocalText,
    /// Address.
    pub address: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Phone.
    pub phone: String,
    /// Weekly hours, Monday first.
    pub hours: Vec<DayHours>,
    /// Whether open at the time of the referral.
    pub open_now: bool,
    /// When next open (Vietnam time).
    pub next_open: Option<DateTime<FixedOffset>>,
    /// Whether slots can be booked.
    pub booking: bool,
}

/// One weekday's hours.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayHours {
    /// Weekday name.
    pub day: LocalText,
    /// Intervals such as `07:00-11:30`; empty when closed.
    pub intervals: Vec<String>,
}

/// How to get level 2.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Level2Info {
    /// The police post.
    pub police_name: LocalText,
    /// Its address.
    pub address: String,
    /// Its phone.
    pub phone: String,
    /// Its hours.
    pub hours: Vec<DayHours>,
    /// When next open.
    pub next_open: Option<DateTime<FixedOffset>>,
    /// What to bring (from the directory).
    pub bring: Vec<LocalText>,
    /// The steps.
    pub steps: LocalText,
    /// How long it takes.
    pub duration: LocalText,
    /// Usual processing time in working days.
    pub working_days: u8,
}

/// A help desk.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HelpInfo {
    /// Name.
    pub name: LocalText,
    /// Address.
    pub address: String,
    /// Phone.
    pub phone: Option<String>,
    /// Hours.
    pub hours: Vec<DayHours>,
    /// When next staffed.
    pub next_open: Option<DateTime<FixedOffset>>,
}

impl Referral {
    /// Builds the referral for an in-person `route` of `procedure` at `now`.
    ///
    /// The reception point is the one in the route when the ward has it, else the ward's
    /// default. A procedure the police receive ([`Counter::Police`], residence) is sent to the
    /// police post, or to the police desk at a service point when the ward names one
    /// (`police.desk_at`).
    ///
    /// # Errors
    ///
    /// [`ReferralError::NoWard`] when the route has no ward (ask the resident to choose one
    /// from [`Directory::wards`]); [`ReferralError::UnknownWard`] when the directory lacks it;
    /// [`ReferralError::WrongProcedure`] when `procedure` is not the route's.
    pub fn build(
        directory: &Directory,
        procedure: &Procedure,
        route: &InPersonRoute,
        now: DateTime<Utc>,
    ) -> Result<Self, ReferralError> {
        if procedure.code() != route.procedure {
            return Err(ReferralError::WrongProcedure);
        }
        let code = route.ward.ok_or(ReferralError::NoWard)?;
        let ward = directory
            .ward(code)
            .ok_or(ReferralError::UnknownWard { ward: code })?;
        let (point, other_points) = match (procedure.counter(), &ward.police.desk_at) {
            (Counter::Police, None) => (police_info(ward, &ward.police, now), Vec::new()),
            (Counter::Police, Some(desk)) => {
                let desk = ward
                    .point(desk)
                    .ok_or(ReferralError::UnknownWard { ward: code })?;
                (point_info(ward, desk, now), Vec::new())
            }
            _ => {
                let point = ward
                    .point_or_default(route.reception_point.as_deref())
                    .ok_or(ReferralError::UnknownWard { ward: code })?;
                let others = ward
                    .point
                    .iter()
                    .filter(|p| p.id != point.id)
                    .map(|p| point_info(ward, p, now))
                    .collect();
                (point_info(ward, point, now), others)
            }
        };
        let retry = route.can_retry_sign_in;
        Ok(Self {
            reason: route.reason,
            reason_text: message(route.reason.message()),
            can_retry_sign_in: retry,
            retry_text: retry.then(|| message(MessageId::RetrySignIn)),
            lang: route.lang,
            procedure: ProcedureInfo {
                code: procedure.code(),
                name: procedure.name(),
                documents: procedure.documents().to_vec(),
                fee: procedure.fee(),
                processing_time: procedure.processing_time(),
                authority: procedure.authority(),
                counter: procedure.counter(),
                online_elsewhere: procedure.online_elsewhere().cloned(),
                legal_basis: procedure.legal_basis(),
                source: procedure.source().to_owned(),
                assisted_submission: procedure
                    .assisted_submission()
                    .then(|| message(MessageId::AssistedSubmission)),
            },
            ward: WardInfo {
                code: ward.code,
                name: ward.name(),
                province: LocalText::new(&ward.province_vi, &ward.province_en),
                ticket_prefix: ward.ticket_prefix.clone(),
                sample: ward.sample,
            },
            point,
            other_points,
            level2: Level2Info {
                police_name: LocalText::new(&ward.police.name_vi, &ward.police.name_en),
                address: ward.police.address.clone(),
                phone: ward.police.phone.clone(),
                hours: day_hours(&ward.police.hours),
                next_open: ward.next_open(&ward.police.hours, now),
                bring: ward.police.bring.clone(),
                steps: message(MessageId::Level2Steps),
                duration: message(MessageId::Level2Duration),
                working_days: LEVEL2_WORKING_DAYS,
            },
            help: ward
                .help_desk
                .iter()
                .map(|d| help_info(ward, d, now))
                .collect(),
            help_text: message(MessageId::HelpDeskHint),
            diagnostics: route.diagnostics,
        })
    }
}

fn message(id: MessageId) -> LocalText {
    let (vi, en) = id.texts();
    LocalText::new(vi, en)
}

/// The week's hours, Monday first, with weekday names.
pub fn day_hours(hours: &WeeklyHours) -> Vec<DayHours> {
    [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ]
    .into_iter()
    .map(|day| DayHours {
        day: message(MessageId::weekday(day)),
        intervals: hours.on(day).iter().map(ToString::to_string).collect(),
    })
    .collect()
}

fn point_info(ward: &Ward, point: &ServicePoint, now: DateTime<Utc>) -> PointInfo {
    PointInfo {
        id: point.id.clone(),
        kind: point.kind,
        name: point.name(),
        address: point.address.clone(),
        lat: point.lat,
        lon: point.lon,
        phone: point.phone.clone(),
        hours: day_hours(&point.hours),
        open_now: point.hours.is_open(ward.holidays(), now),
        next_open: ward.next_open(&point.hours, now),
        booking: point.offers_booking(),
    }
}

/// The police post as a place to go; its slots are not booked through the portal.
fn police_info(ward: &Ward, police: &PolicePost, now: DateTime<Utc>) -> PointInfo {
    PointInfo {
        id: POLICE_POINT_ID.to_owned(),
        kind: PointKind::Police,
        name: LocalText::new(&police.name_vi, &police.name_en),
        address: police.address.clone(),
        lat: police.lat,
        lon: police.lon,
        phone: police.phone.clone(),
        hours: day_hours(&police.hours),
        open_now: police.hours.is_open(ward.holidays(), now),
        next_open: ward.next_open(&police.hours, now),
        booking: false,
    }
}

fn help_info(ward: &Ward, desk: &HelpDesk, now: DateTime<Utc>) -> HelpInfo {
    HelpInfo {
        name: LocalText::new(&desk.name_vi, &desk.name_en),
        address: desk.address.clone(),
        phone: desk.phone.clone(),
        hours: day_hours(&desk.hours),
        next_open: ward.next_open(&desk.hours, now),
    }
}

/// Building a referral failed.
#[non_exhaustive]
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReferralError {
    /// The route names no ward.
    #[error("the resident's ward is not known: ask them to choose one")]
    NoWard,
    /// The directory has no such ward.
    #[error("ward `{ward}` is not in the directory")]
    UnknownWard {
        /// The ward code.
        ward: WardCode,
    },
    /// The procedure given is not the route's.
    #[error("the procedure does not match the in-person route")]
    WrongProcedure,
}
