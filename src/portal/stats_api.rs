//! `GET /api/stats`: the ward's figures for upward reporting, as JSON or CSV.
//!
//! Open to a signed-in officer, or to the province's reporting system with
//! `Authorization: Bearer <WARDGATE_STATS_TOKEN>` (compared in constant time, never logged).
//! The figures hold no personal data (see [`crate::stats`] for what each one counts).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::api::{ErrorBody, json_error};
use super::bearer::BearerSecret;
use super::gateway::Gateway;
use crate::fallback::{WardCode, vietnam};
use crate::stats::{self, Stats, StatsError, StatsQuery};

/// The shortest stats token accepted: guessing must be hopeless.
pub const MIN_STATS_TOKEN_LEN: usize = 32;

/// Days shown when the request names no range: the last 30, today included.
pub(crate) const DEFAULT_DAYS: i64 = 30;

/// A bearer token that opens `GET /api/stats` to a reporting system. Never printed.
#[derive(Clone)]
pub struct StatsToken(BearerSecret);

impl fmt::Debug for StatsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StatsToken([redacted])")
    }
}

/// A stats token shorter than [`MIN_STATS_TOKEN_LEN`] or with characters outside visible ASCII.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "a stats token needs at least 32 characters of visible ASCII (for example 32 random bytes in \
     hex)"
)]
pub struct WeakStatsToken;

impl StatsToken {
    /// A token, checked for length and characters.
    ///
    /// # Errors
    ///
    /// [`WeakStatsToken`] when it is shorter than [`MIN_STATS_TOKEN_LEN`] or holds characters
    /// outside visible ASCII.
    pub fn new(token: &str) -> Result<Self, WeakStatsToken> {
        BearerSecret::new(token, MIN_STATS_TOKEN_LEN)
            .map(Self)
            .ok_or(WeakStatsToken)
    }

    /// Whether `headers` carry `Authorization: Bearer <this token>`, compared in constant time.
    fn admits(&self, headers: &HeaderMap) -> bool {
        self.0.admits(headers)
    }
}

/// The query of `GET /api/stats`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct StatsApiQuery {
    /// First Vietnam-local day, included (`YYYY-MM-DD`); default: 29 days before `to`.
    #[serde(default)]
    from: Option<String>,
    /// Last Vietnam-local day, included (`YYYY-MM-DD`); default: today.
    #[serde(default)]
    to: Option<String>,
    /// The ward's 5-digit code; default: the gateway's ward.
    #[serde(default)]
    ward: Option<String>,
    /// `csv` for the same figures as CSV (as `Accept: text/csv` does).
    #[serde(default)]
    format: Option<String>,
}

/// A range or ward the request named badly: the parameter and why.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BadParameter {
    pub(crate) name: &'static str,
    pub(crate) status: StatusCode,
    pub(crate) message: &'static str,
}

/// The range from `from` and `to` as given (either may be absent), parsed with `parse`;
/// the default is the last [`DEFAULT_DAYS`] days up to `today`.
pub(crate) fn resolve_range(
    from: Option<&str>,
    to: Option<&str>,
    today: NaiveDate,
    parse: fn(&str) -> Option<NaiveDate>,
) -> Result<(NaiveDate, NaiveDate), BadParameter> {
    let read = |name: &'static str, value: Option<&str>| match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => parse(text).map(Some).ok_or(BadParameter {
            name,
            status: StatusCode::BAD_REQUEST,
            message: "not a date of the expected form",
        }),
    };
    let to_day = read("to", to)?.unwrap_or(today);
    let from_day = read("from", from)?.unwrap_or(to_day - Duration::days(DEFAULT_DAYS - 1));
    let days = (to_day - from_day).num_days() + 1;
    if days < 1 {
        return Err(BadParameter {
            name: "to",
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: "`to` is before `from`",
        });
    }
    if days > stats::MAX_RANGE_DAYS {
        return Err(BadParameter {
            name: "from",
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: "the range covers more than 366 days",
        });
    }
    Ok((from_day, to_day))
}

/// `YYYY-MM-DD`.
pub(crate) fn iso_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// The figures of `ward` over `from..=to`, judged now.
pub(crate) async fn compute(
    gw: &Gateway,
    ward: WardCode,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Stats, StatsError> {
    stats::compute(
        gw.store.as_ref(),
        &StatsQuery::new(ward, from, to),
        gw.clock.now(),
    )
    .await
}

/// The CSV response of `stats`, as a download named after the ward and range.
pub(crate) fn csv_response(stats: &Stats) -> Response {
    let name = format!(
        "attachment; filename=\"wardgate-stats-{}-{}-{}.csv\"",
        stats.ward, stats.from, stats.to
    );
    let mut response = stats.to_csv().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&name) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// The answer of `GET /api/stats` (the per-day, per-point and per-procedure breakdowns follow
/// the same names as the totals).
#[derive(Serialize, ToSchema)]
#[schema(as = Stats)]
pub(crate) struct StatsBody {
    /// The ward's code.
    ward: String,
    /// The procedure counted, or `null` for all.
    procedure: Option<String>,
    /// First Vietnam-local day, included.
    from: NaiveDate,
    /// Last Vietnam-local day, included.
    to: NaiveDate,
    /// Dossiers: online plus received at the counter.
    dossiers: u64,
    /// Dossiers filed online with a receipt.
    online: u64,
    /// Dossiers an officer recorded as received at the counter.
    in_person: u64,
    /// online ÷ dossiers, from 0 to 1 to four decimals; `null` without dossiers.
    online_share: Option<f64>,
    /// The same share in whole percent, rounded half up.
    online_share_percent: Option<u64>,
    /// Referrals to in-person service, one per ticket.
    referrals: u64,
    /// Referrals by reason code.
    referrals_by_reason: BTreeMap<String, u64>,
    /// Bookings by outcome.
    bookings: BookingsBody,
    /// Counter outcomes recorded by officers: `received`, `attended_not_filed`, `not_needed`.
    counter: BTreeMap<String, u64>,
    /// Each local day: `date`, `online`, `in_person`, `referrals`.
    by_day: Vec<serde_json::Value>,
    /// Per reception point id: `in_person` and `bookings`.
    by_point: BTreeMap<String, serde_json::Value>,
    /// Per procedure code: `online`, `in_person`, `referrals`.
    by_procedure: BTreeMap<String, serde_json::Value>,
}

/// Bookings by outcome.
#[derive(Serialize, ToSchema)]
#[schema(as = BookingOutcomes)]
pub(crate) struct BookingsBody {
    /// Made in the range.
    booked: u64,
    /// Cancelled in the range.
    cancelled: u64,
    /// Slot in the range, and an officer recorded an outcome for its ticket.
    attended: u64,
    /// Slot in the range already started, not cancelled, and no outcome recorded.
    no_show: u64,
}

/// `GET /api/stats`.
#[utoipa::path(
    get,
    path = "/api/stats",
    tag = "statistics",
    operation_id = "stats",
    summary = "The ward's figures for upward reporting",
    description = "Dossiers (online with a receipt, or received at the counter), the online share, referrals by reason (one per ticket) and bookings by outcome, per day, reception point and procedure, in Vietnam's time zone. Open to a staff session or to `Authorization: Bearer` with the configured `WARDGATE_STATS_TOKEN`. `Accept: text/csv` or `format=csv` answers CSV.",
    params(super::openapi::StatsParams),
    security(("session" = []), ("stats_token" = [])),
    responses(
        (status = 200, description = "The figures.", body = StatsBody, content_type = "application/json"),
        (status = 400, description = "A parameter is malformed; `field` names it.", body = ErrorBody<'static>),
        (status = 401, description = "Neither a staff session nor the stats token.", body = ErrorBody<'static>, headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"stats\"`"))),
        (status = 422, description = "The range runs backwards or covers more than 366 days, or the ward is not in the directory; `field` names the parameter.", body = ErrorBody<'static>),
    )
)]
pub(crate) async fn stats(
    State(gw): State<Arc<Gateway>>,
    Query(query): Query<StatsApiQuery>,
    headers: HeaderMap,
) -> Response {
    let token_admits = gw.stats_token.as_ref().is_some_and(|t| t.admits(&headers));
    if !token_admits && gw.staff_session(&headers).is_none() {
        let mut response = json_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "sign in as staff or present the stats bearer token",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"stats\""),
        );
        return response;
    }
    let today = gw.clock.now().with_timezone(&vietnam()).date_naive();
    let (from, to) =
        match resolve_range(query.from.as_deref(), query.to.as_deref(), today, iso_date) {
            Ok(range) => range,
            Err(bad) => return bad_parameter(&bad),
        };
    let ward = match query.ward.as_deref().map(str::trim) {
        None | Some("") => gw.default_ward,
        Some(code) => match WardCode::parse(code) {
            Ok(ward) if gw.directory.ward(ward).is_some() => ward,
            Ok(_) => {
                return bad_parameter(&BadParameter {
                    name: "ward",
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    message: "no ward of the directory has this code",
                });
            }
            Err(_) => {
                return bad_parameter(&BadParameter {
                    name: "ward",
                    status: StatusCode::BAD_REQUEST,
                    message: "a ward code is 5 digits",
                });
            }
        },
    };
    let stats = match compute(&gw, ward, from, to).await {
        Ok(stats) => stats,
        Err(error) => {
            tracing::error!(%error, "computing statistics failed");
            return json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the figures could not be read; try again",
            );
        }
    };
    let wants_csv = query.format.as_deref() == Some("csv")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv"));
    if wants_csv {
        csv_response(&stats)
    } else {
        axum::Json(stats.to_json()).into_response()
    }
}

fn bad_parameter(bad: &BadParameter) -> Response {
    let error = if bad.status == StatusCode::BAD_REQUEST {
        "invalid_parameter"
    } else {
        "unprocessable_parameter"
    };
    ErrorBody::new(error, bad.message)
        .field(bad.name.to_owned())
        .response(bad.status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn the_range_defaults_to_the_last_30_days_and_names_a_bad_parameter() {
        let today = day(2025, 7, 18);
        assert_eq!(
            resolve_range(None, None, today, iso_date),
            Ok((day(2025, 6, 19), today))
        );
        assert_eq!(
            resolve_range(Some("2025-07-01"), Some("2025-07-18"), today, iso_date),
            Ok((day(2025, 7, 1), today))
        );
        let bad = resolve_range(Some("01/07/2025"), None, today, iso_date).unwrap_err();
        assert_eq!((bad.name, bad.status), ("from", StatusCode::BAD_REQUEST));
        let bad = resolve_range(None, Some("2025-02-30"), today, iso_date).unwrap_err();
        assert_eq!((bad.name, bad.status), ("to", StatusCode::BAD_REQUEST));
        let bad =
            resolve_range(Some("2025-07-18"), Some("2025-07-01"), today, iso_date).unwrap_err();
        assert_eq!(
            (bad.name, bad.status),
            ("to", StatusCode::UNPROCESSABLE_ENTITY)
        );
        let bad =
            resolve_range(Some("2024-01-01"), Some("2025-07-01"), today, iso_date).unwrap_err();
        assert_eq!(
            (bad.name, bad.status),
            ("from", StatusCode::UNPROCESSABLE_ENTITY)
        );
    }

    #[test]
    fn the_token_is_compared_exactly_and_never_printed() {
        let token = StatsToken::new("0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(format!("{token:?}"), "StatsToken([redacted])");
        let mut headers = HeaderMap::new();
        assert!(!token.admits(&headers));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer 0123456789abcdef0123456789abcdeX"),
        );
        assert!(!token.admits(&headers));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer 0123456789abcdef0123456789abcdef"),
        );
        assert!(token.admits(&headers));
        assert_eq!(StatsToken::new("short").unwrap_err(), WeakStatsToken);
    }
}
