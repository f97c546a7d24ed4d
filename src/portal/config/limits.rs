//! Per-address rate limits (`[rate_limit]`) and request limits (`[limits]`).

use std::num::NonZeroU32;

use super::env::{
    ENV_ANONYMOUS_TICKETS_PER_HOUR, ENV_RATE_LIMIT_LOGIN_BURST, ENV_RATE_LIMIT_LOGIN_PER_MINUTE,
    ENV_RATE_LIMIT_MAX_TRACKED, ENV_RATE_LIMIT_SUBMIT_BURST, ENV_RATE_LIMIT_SUBMIT_PER_MINUTE,
    ENV_TRUSTED_PROXIES, Lookup,
};
use super::error::{ConfigError, SettingError, invalid};
use super::file::{RawLimits, RawRateLimit};
use super::values::number;
use crate::portal::limits::RequestLimits;
use crate::portal::rate_limit::{RateLimit, RateLimits, TrustedProxy};
use crate::portal::ticket_allowance::TicketAllowance;
use crate::submission::AttachmentLimits;

/// The range of a rate (per minute; 0 turns the limit off) and of a burst.
const RATE_RANGE: (i64, i64) = (0, 1_000_000);
const BURST_RANGE: (i64, i64) = (1, 1_000_000);
/// Upcoming bookings one address may hold: a few (0 turns the cap off).
const ACTIVE_BOOKINGS_RANGE: (i64, i64) = (0, 100);
const TRACKED_RANGE: (i64, i64) = (1_000, 10_000_000);
/// New tickets per address and hour without a session: a help desk behind one NAT address may
/// need hundreds; past ten thousand the allowance no longer bounds anything.
const ANONYMOUS_TICKETS_RANGE: (i64, i64) = (1, 10_000);

pub(super) fn build_rate_limits(
    cx: &Lookup<'_>,
    raw: RawRateLimit,
) -> Result<RateLimits, ConfigError> {
    let limit = |per_minute: Option<i64>, burst: Option<i64>, default: RateLimit| {
        let per_minute = per_minute.unwrap_or_else(|| i64::from(default.per_minute()));
        let burst = burst.unwrap_or_else(|| i64::from(default.burst()));
        RateLimit::new(
            u32::try_from(per_minute).unwrap_or(u32::MAX),
            u32::try_from(burst).unwrap_or(u32::MAX),
        )
    };
    let login = limit(
        number(
            cx,
            Some(ENV_RATE_LIMIT_LOGIN_PER_MINUTE),
            raw.login_per_minute,
            "rate_limit.login_per_minute",
            RATE_RANGE,
        )?,
        number(
            cx,
            Some(ENV_RATE_LIMIT_LOGIN_BURST),
            raw.login_burst,
            "rate_limit.login_burst",
            BURST_RANGE,
        )?,
        RateLimit::DEFAULT_LOGIN,
    );
    let submit = limit(
        number(
            cx,
            Some(ENV_RATE_LIMIT_SUBMIT_PER_MINUTE),
            raw.submit_per_minute,
            "rate_limit.submit_per_minute",
            RATE_RANGE,
        )?,
        number(
            cx,
            Some(ENV_RATE_LIMIT_SUBMIT_BURST),
            raw.submit_burst,
            "rate_limit.submit_burst",
            BURST_RANGE,
        )?,
        RateLimit::DEFAULT_SUBMIT,
    );
    let booking = limit(
        number(
            cx,
            None,
            raw.booking_per_minute,
            "rate_limit.booking_per_minute",
            RATE_RANGE,
        )?,
        number(
            cx,
            None,
            raw.booking_burst,
            "rate_limit.booking_burst",
            BURST_RANGE,
        )?,
        RateLimit::DEFAULT_BOOKING,
    );
    let active_bookings_per_address = number(
        cx,
        None,
        raw.active_bookings_per_address,
        "rate_limit.active_bookings_per_address",
        ACTIVE_BOOKINGS_RANGE,
    )?
    .map_or(RateLimits::DEFAULT_ACTIVE_BOOKINGS_PER_ADDRESS, |v| {
        u32::try_from(v).unwrap_or(RateLimits::DEFAULT_ACTIVE_BOOKINGS_PER_ADDRESS)
    });
    let max_tracked = number(
        cx,
        Some(ENV_RATE_LIMIT_MAX_TRACKED),
        raw.max_tracked_addresses,
        "rate_limit.max_tracked_addresses",
        TRACKED_RANGE,
    )?
    .map_or(RateLimits::DEFAULT_MAX_TRACKED, |v| {
        usize::try_from(v).unwrap_or(RateLimits::DEFAULT_MAX_TRACKED)
    });
    let mut trusted_proxies = Vec::new();
    if let Some(setting) = cx.lookup_list(
        ENV_TRUSTED_PROXIES,
        raw.trusted_proxies,
        "rate_limit.trusted_proxies",
    )? {
        for item in &setting.value {
            let proxy = item.parse::<TrustedProxy>().map_err(|_| {
                invalid(
                    setting.origin.clone(),
                    SettingError::InvalidProxy {
                        value: item.clone(),
                    },
                )
            })?;
            trusted_proxies.push(proxy);
        }
    }
    Ok(RateLimits {
        login,
        submit,
        booking,
        active_bookings_per_address,
        max_tracked,
        trusted_proxies,
    })
}

pub(super) fn build_limits(cx: &Lookup<'_>, raw: RawLimits) -> Result<RequestLimits, ConfigError> {
    let ceiling = AttachmentLimits::MAX;
    let default = AttachmentLimits::DEFAULT;
    let size = |v: i64| usize::try_from(v).unwrap_or(0);
    let cap = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
    let max_files = number(
        cx,
        None,
        raw.attachment_max_files,
        "limits.attachment_max_files",
        (0, cap(ceiling.max_files)),
    )?
    .map_or(default.max_files, size);
    let max_file_bytes = number(
        cx,
        None,
        raw.attachment_max_bytes,
        "limits.attachment_max_bytes",
        (1, cap(ceiling.max_file_bytes)),
    )?
    .map_or(default.max_file_bytes, size);
    let max_total_bytes = number(
        cx,
        None,
        raw.attachments_max_total_bytes,
        "limits.attachments_max_total_bytes",
        (1, cap(ceiling.max_total_bytes)),
    )?
    .map_or(default.max_total_bytes, size);
    Ok(RequestLimits {
        attachments: AttachmentLimits::new(max_files, max_file_bytes, max_total_bytes),
        ..RequestLimits::DEFAULT
    })
}

/// `limits.anonymous_tickets_per_hour` / `WARDGATE_ANONYMOUS_TICKETS_PER_HOUR`.
pub(super) fn build_anonymous_tickets(
    cx: &Lookup<'_>,
    from_file: Option<i64>,
) -> Result<NonZeroU32, ConfigError> {
    let (_, max) = ANONYMOUS_TICKETS_RANGE;
    let per_hour = number(
        cx,
        Some(ENV_ANONYMOUS_TICKETS_PER_HOUR),
        from_file,
        "limits.anonymous_tickets_per_hour",
        ANONYMOUS_TICKETS_RANGE,
    )
    // 0 reads like "no limit" but would mean no ticket at all: say so, not just the range.
    .map_err(|error| match error {
        ConfigError::Invalid {
            origin,
            problem: SettingError::OutOfRange { value: 0, .. },
        } => invalid(origin, SettingError::NoAnonymousTickets { max }),
        other => other,
    })?;
    Ok(per_hour
        .and_then(|v| u32::try_from(v).ok())
        .and_then(NonZeroU32::new)
        .unwrap_or(TicketAllowance::DEFAULT_PER_HOUR))
}
