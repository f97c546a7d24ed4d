//! How many new referral tickets one client address may obtain without a session.
//!
//! Anyone can open a referral (`?in_person=1`, or the decision API), and each referral comes
//! with a ticket stored for the counter and counted in the statistics. A browser keeps its
//! ticket in a cookie and gets the same one back; a client without cookies would get a new one
//! on every request. So new tickets for clients without a session are counted per address in a
//! fixed one-hour window: past the allowance (`limits.anonymous_tickets_per_hour`, default
//! [`TicketAllowance::DEFAULT_PER_HOUR`]), the referral still renders in full, only without a
//! new ticket.
//!
//! Memory is bounded: at most [`TicketAllowance::MAX_TRACKED`] addresses are remembered. When
//! the table is full, windows that have ended are forgotten first; if none has, the whole table
//! is cleared (the worst case is a few more tickets, never a refused referral).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use chrono::{DateTime, Duration, Utc};

use super::gateway::Gateway;

/// The per-address count of new tickets for clients without a session.
#[derive(Debug)]
pub(crate) struct TicketAllowance {
    per_hour: NonZeroU32,
    windows: Mutex<HashMap<IpAddr, Window>>,
}

#[derive(Clone, Copy, Debug)]
struct Window {
    started: DateTime<Utc>,
    issued: u32,
}

impl TicketAllowance {
    /// New tickets per address and hour unless configured. A ward centre's help desk puts
    /// several residents behind one address; each keeps the ticket in their browser, so this
    /// only bounds clients that drop it.
    // A constant: checked when compiling, it cannot fail at run time.
    pub(crate) const DEFAULT_PER_HOUR: NonZeroU32 = NonZeroU32::new(10).unwrap();
    /// Most addresses remembered at once (a few MB at most).
    pub(crate) const MAX_TRACKED: usize = 100_000;

    /// An allowance of `per_hour` new tickets per address and hour.
    pub(crate) fn new(per_hour: NonZeroU32) -> Self {
        Self {
            per_hour,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one new ticket from `client`'s allowance at `now`; `false` when it is spent.
    pub(crate) fn take(&self, client: IpAddr, now: DateTime<Utc>) -> bool {
        // A poisoned lock only means another request panicked mid-update; the counts are
        // still counts.
        let mut windows = match self.windows.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let hour = Duration::hours(1);
        if !windows.contains_key(&client) && windows.len() >= Self::MAX_TRACKED {
            windows.retain(|_, window| now - window.started < hour);
            if windows.len() >= Self::MAX_TRACKED {
                windows.clear();
            }
        }
        let window = windows.entry(client).or_insert(Window {
            started: now,
            issued: 0,
        });
        if now - window.started >= hour {
            *window = Window {
                started: now,
                issued: 0,
            };
        }
        if window.issued >= self.per_hour.get() {
            return false;
        }
        window.issued += 1;
        true
    }
}

impl Default for TicketAllowance {
    fn default() -> Self {
        Self::new(Self::DEFAULT_PER_HOUR)
    }
}

/// The client's address as the rate limits see it: the TCP peer, or the forwarded client
/// behind a trusted proxy.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClientAddress(pub(crate) IpAddr);

impl<S> FromRequestParts<S> for ClientAddress
where
    Arc<Gateway>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let gw = Arc::<Gateway>::from_ref(state);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(Self(gw.rate_limiter().client_address(peer, &parts.headers)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap()
    }

    #[test]
    fn an_address_gets_its_allowance_per_hour_and_others_are_not_affected() {
        let allowance = TicketAllowance::default();
        let one = IpAddr::from([192, 0, 2, 1]);
        let other = IpAddr::from([192, 0, 2, 2]);
        for n in 0..TicketAllowance::DEFAULT_PER_HOUR.get() {
            assert!(allowance.take(one, t0()), "ticket {n} refused");
        }
        assert!(!allowance.take(one, t0() + Duration::minutes(59)));
        assert!(allowance.take(other, t0() + Duration::minutes(59)));
        assert!(allowance.take(one, t0() + Duration::hours(1)));
    }

    #[test]
    fn a_configured_allowance_replaces_the_default() {
        let allowance = TicketAllowance::new(NonZeroU32::new(3).unwrap());
        let one = IpAddr::from([192, 0, 2, 1]);
        for n in 0..3 {
            assert!(allowance.take(one, t0()), "ticket {n} refused");
        }
        assert!(!allowance.take(one, t0() + Duration::minutes(59)));
        assert!(allowance.take(one, t0() + Duration::hours(1)));
    }
}
