//! Per-address rate limiting of the sign-in and submission routes.
//!
//! Rules this module enforces:
//!
//! 1. Five routes are limited, each with its own budget per client address: login starts
//!    (`GET /login…`) and login callbacks (`GET /auth/callback…`) with the login limit,
//!    submissions (`POST` of a dossier, a form or a draft) and code look-ups (dossier status,
//!    a draft claimed with its appointment code) with the submission limit, and bookings
//!    (`POST` booking, cancelling or moving) with the booking limit
//!    ([`LimitedRoute::classify`]). Everything else is not limited here.
//! 2. The algorithm is GCRA (a token bucket kept as one timestamp per address): `burst` requests
//!    pass at once, then one more every `60 / per_minute` seconds. Time comes from the injected
//!    [`Clock`], so tests move it instead of sleeping.
//! 3. A refused request gets `429 Too Many Requests` with `Retry-After` (whole seconds) and a
//!    JSON body on `/api/…`, a page in Vietnamese and English elsewhere.
//! 4. The client address is the TCP peer. `X-Forwarded-For` is read only when the peer is one
//!    of the configured trusted proxies, from the right, skipping trusted proxies; with none
//!    configured (the default) the header is ignored, since any client can write it.
//! 5. Memory is bounded: at most [`RateLimits::max_tracked`] addresses are remembered. An
//!    address whose bucket is full again is forgotten first (forgetting it changes nothing);
//!    only when none is, the tenth of the entries closest to full is dropped.
//!
//! # Sizing for an assisted-help desk
//!
//! A ward centre's assisted-help desk puts dozens of residents behind one address. The defaults
//! let 120 logins pass at once and 60 a minute after that ([`RateLimit::DEFAULT_LOGIN`]), so a
//! burst of 100 logins in a minute passes, while a flood of 1,000 in a minute is cut to 179.
//! A desk busier than that raises `rate_limit.login_burst`; a value of `0` per minute turns a
//! limit off.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::api::json_error;
use super::html::{NoticeKind, Page, notice};
use crate::clock::Clock;
use crate::i18n::Lang;

/// Nanoseconds in a minute.
const MINUTE_NANOS: i64 = 60_000_000_000;
/// Nanoseconds in a second.
const SECOND_NANOS: i64 = 1_000_000_000;

/// One limit: `burst` requests at once, refilled at `per_minute`; `per_minute == 0` is off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    per_minute: u32,
    burst: u32,
}

impl RateLimit {
    /// No limit.
    pub const OFF: Self = Self {
        per_minute: 0,
        burst: 0,
    };
    /// Logins (each of start and callback): 60 a minute, bursts of 120.
    pub const DEFAULT_LOGIN: Self = Self {
        per_minute: 60,
        burst: 120,
    };
    /// Submissions and drafts: 30 a minute, bursts of 60.
    pub const DEFAULT_SUBMIT: Self = Self {
        per_minute: 30,
        burst: 60,
    };
    /// Booking, cancelling and moving a booking: 6 a minute, bursts of 10.
    pub const DEFAULT_BOOKING: Self = Self {
        per_minute: 6,
        burst: 10,
    };

    /// A limit of `per_minute` with bursts of `burst`; `per_minute == 0` turns it off (the
    /// burst is then ignored), and a burst of 0 is read as 1.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        if per_minute == 0 {
            return Self::OFF;
        }
        Self {
            per_minute,
            burst: burst.max(1),
        }
    }

    /// Requests per minute after the burst; 0 when off.
    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Requests that pass at once.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Whether the limit applies.
    pub fn is_enabled(&self) -> bool {
        self.per_minute > 0
    }

    /// Nanoseconds between two requests once the burst is spent.
    fn interval(&self) -> i64 {
        MINUTE_NANOS / i64::from(self.per_minute.max(1))
    }
}

/// A trusted reverse proxy: one address or a network (`10.0.0.0/8`, `fd00::/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrustedProxy {
    network: IpAddr,
    prefix: u8,
}

impl TrustedProxy {
    /// Whether `addr` is this proxy or inside its network.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.network, canonical(addr)) {
            (IpAddr::V4(net), IpAddr::V4(addr)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(addr) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(addr)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(addr) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for TrustedProxy {
    type Err = ProxyParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let fail = || ProxyParseError {
            value: text.to_owned(),
        };
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let network = canonical(addr.parse::<IpAddr>().map_err(|_| fail())?);
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(fail)?,
            None => max,
        };
        Ok(Self { network, prefix })
    }
}

impl fmt::Display for TrustedProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// A trusted proxy is not an IP address or network.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not an IP address or network such as `10.0.0.0/8`")]
pub struct ProxyParseError {
    /// The value.
    pub value: String,
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) count as the IPv4 address.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        IpAddr::V4(_) => addr,
    }
}

/// The rate limits of a gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimits {
    /// Login starts and callbacks, each counted on its own.
    pub login: RateLimit,
    /// Dossier submissions (JSON and form) and draft saves.
    pub submit: RateLimit,
    /// Booking, cancelling and moving bookings.
    pub booking: RateLimit,
    /// Most upcoming bookings one address may hold (0: no cap).
    pub active_bookings_per_address: u32,
    /// Most client addresses remembered at once.
    pub max_tracked: usize,
    /// Proxies whose `X-Forwarded-For` is believed; empty (the default) ignores the header.
    pub trusted_proxies: Vec<TrustedProxy>,
}

impl RateLimits {
    /// The default number of addresses remembered (about 5 MB at most).
    pub const DEFAULT_MAX_TRACKED: usize = 100_000;
    /// The default number of upcoming bookings one address may hold.
    pub const DEFAULT_ACTIVE_BOOKINGS_PER_ADDRESS: u32 = 3;
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            login: RateLimit::DEFAULT_LOGIN,
            submit: RateLimit::DEFAULT_SUBMIT,
            booking: RateLimit::DEFAULT_BOOKING,
            active_bookings_per_address: Self::DEFAULT_ACTIVE_BOOKINGS_PER_ADDRESS,
            max_tracked: Self::DEFAULT_MAX_TRACKED,
            trusted_proxies: Vec::new(),
        }
    }
}

/// A route the limiter counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitedRoute {
    /// `GET /auth/callback…`: the provider sends the resident back.
    LoginCallback,
    /// `GET /login…`: a login starts.
    LoginStart,
    /// `POST` of a dossier (JSON API or form) or of a draft.
    Submission,
    /// A look-up by a code the resident holds: a dossier status (`GET /api/dossiers/…`,
    /// `POST /dossiers`) or a draft claimed with its appointment code
    /// (`POST /procedures/{code}/claim`); counted with the submission limit, in its own bucket.
    DossierLookup,
    /// `POST` booking, cancelling or moving a booking.
    Booking,
}

impl LimitedRoute {
    /// The limited route a request is for, if any.
    pub fn classify(method: &Method, path: &str) -> Option<Self> {
        let under = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if method == Method::GET && under("/login") {
            return Some(Self::LoginStart);
        }
        if method == Method::GET && under(super::config::CALLBACK_PATH) {
            return Some(Self::LoginCallback);
        }
        let submission = (path.starts_with("/api/procedures/") && path.ends_with("/submissions"))
            || (path.starts_with("/procedures/")
                && (path.ends_with("/submit") || path.ends_with("/draft")))
            || (path.starts_with("/tickets/") && path.ends_with("/draft"));
        if method == Method::POST && submission {
            return Some(Self::Submission);
        }
        let lookup = (method == Method::GET && path.starts_with("/api/dossiers/"))
            || (method == Method::POST && path == "/dossiers")
            || (method == Method::POST
                && path.starts_with("/procedures/")
                && path.ends_with("/claim"));
        if lookup {
            return Some(Self::DossierLookup);
        }
        let booking = (path.starts_with("/procedures/") && path.ends_with("/book"))
            || (path.starts_with("/tickets/") && path.contains("/booking/"));
        if method == Method::POST && booking {
            return Some(Self::Booking);
        }
        None
    }
}

/// The limiter refused a request: retry after this many whole seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

/// The per-address limiter; shared by every request of a gateway.
pub struct RateLimiter {
    limits: RateLimits,
    clock: Arc<dyn Clock>,
    /// Theoretical arrival time (GCRA) per route and address, in nanoseconds since the epoch.
    state: Mutex<HashMap<(LimitedRoute, IpAddr), i64>>,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("limits", &self.limits)
            .field("tracked", &self.tracked())
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter with `limits`, reading the time from `clock`.
    pub fn new(limits: RateLimits, clock: Arc<dyn Clock>) -> Self {
        Self {
            limits,
            clock,
            state: Mutex::new(HashMap::new()),
        }
    }

    /// The limits.
    pub fn limits(&self) -> &RateLimits {
        &self.limits
    }

    /// How many route and address pairs are remembered now.
    pub fn tracked(&self) -> usize {
        self.state.lock().map_or(0, |state| state.len())
    }

    fn limit(&self, route: LimitedRoute) -> RateLimit {
        match route {
            LimitedRoute::LoginStart | LimitedRoute::LoginCallback => self.limits.login,
            LimitedRoute::Submission | LimitedRoute::DossierLookup => self.limits.submit,
            LimitedRoute::Booking => self.limits.booking,
        }
    }

    /// Counts a request for `route` from `client`.
    ///
    /// # Errors
    ///
    /// [`RetryAfter`] when the address has spent its budget for this route.
    pub fn check(&self, route: LimitedRoute, client: IpAddr) -> Result<(), RetryAfter> {
        let limit = self.limit(route);
        if !limit.is_enabled() {
            return Ok(());
        }
        let now = self
            .clock
            .now()
            .timestamp_nanos_opt()
            .unwrap_or(i64::MAX / 2);
        let interval = limit.interval();
        let tolerance = interval.saturating_mul(i64::from(limit.burst) - 1);
        // A poisoned lock only means another request panicked mid-update; the map is still a
        // map of timestamps.
        let mut state = match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let key = (route, canonical(client));
        if !state.contains_key(&key) && state.len() >= self.limits.max_tracked.max(1) {
            evict(&mut state, now, self.limits.max_tracked.max(1));
        }
        let tat = state.get(&key).copied().unwrap_or(now).max(now);
        let wait = tat - tolerance - now;
        if wait > 0 {
            let seconds = (wait + SECOND_NANOS - 1) / SECOND_NANOS;
            return Err(RetryAfter(u64::try_from(seconds).unwrap_or(1).max(1)));
        }
        state.insert(key, tat.saturating_add(interval));
        Ok(())
    }

    /// The address a request is counted under: the TCP peer, or, when the peer is a trusted
    /// proxy, the right-most address of `X-Forwarded-For` that is not a trusted proxy.
    pub fn client_address(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> IpAddr {
        // Without a peer (a router driven in process) every request shares one bucket.
        let peer = canonical(peer.unwrap_or(IpAddr::from([0, 0, 0, 0])));
        let trusted = |addr: IpAddr| self.limits.trusted_proxies.iter().any(|p| p.contains(addr));
        if !trusted(peer) {
            return peer;
        }
        let mut hops = Vec::new();
        for value in headers.get_all("x-forwarded-for") {
            let Ok(text) = value.to_str() else {
                return peer;
            };
            for item in text.split(',') {
                match item.trim().parse::<IpAddr>() {
                    Ok(addr) => hops.push(canonical(addr)),
                    // A malformed chain cannot be trusted past the proxy that sent it.
                    Err(_) => return peer,
                }
            }
        }
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            client = hop;
            if !trusted(hop) {
                break;
            }
        }
        client
    }
}

/// Forgets addresses whose bucket is full again; if none is, the tenth closest to full.
fn evict(state: &mut HashMap<(LimitedRoute, IpAddr), i64>, now: i64, cap: usize) {
    state.retain(|_, tat| *tat > now);
    if state.len() < cap {
        return;
    }
    let mut tats: Vec<i64> = state.values().copied().collect();
    let cut = (cap / 10).max(1).min(tats.len().saturating_sub(1));
    tats.select_nth_unstable(cut);
    if let Some(threshold) = tats.get(cut).copied() {
        state.retain(|_, tat| *tat > threshold);
    }
}

/// The middleware counting the limited routes (`axum::middleware::from_fn_with_state`).
pub async fn rate_limit_middleware(
    State(limiter): State<Arc<RateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    match refuse_over_limit(&limiter, &request) {
        None => next.run(request).await,
        Some(refusal) => refusal,
    }
}

/// The `429` answer to a request over its route's limit; `None` for any other request (most
/// routes are not limited: they are told apart by method and path alone).
pub(crate) fn refuse_over_limit<B>(
    limiter: &RateLimiter,
    request: &http::Request<B>,
) -> Option<Response> {
    let route = LimitedRoute::classify(request.method(), request.uri().path())?;
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let client = limiter.client_address(peer, request.headers());
    let retry = limiter.check(route, client).err()?;
    tracing::warn!(route = ?route, "rate limit reached");
    let lang = Lang::from_query(request.uri().query());
    Some(too_many_requests(request.uri().path(), lang, retry))
}

/// The 429 answer: JSON on `/api/…`, a page elsewhere; both with `Retry-After`.
pub(crate) fn too_many_requests(path: &str, lang: Lang, retry: RetryAfter) -> Response {
    let RetryAfter(seconds) = retry;
    let mut response = if path.starts_with("/api/") {
        json_error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            &format!("too many requests from this address: retry in {seconds} seconds"),
        )
    } else {
        let body = match lang {
            Lang::Vi => format!(
                "Có quá nhiều yêu cầu từ địa chỉ mạng này. Vui lòng thử lại sau {seconds} giây."
            ),
            Lang::En => format!(
                "Too many requests from this network address. Please try again in {seconds} seconds."
            ),
        };
        let page = Page::new(
            lang,
            lang.pick("Vui lòng thử lại sau", "Please try again later"),
        )
        .push(notice(
            NoticeKind::Warning,
            lang.pick("Quá nhiều yêu cầu", "Too many requests"),
            body,
        ));
        (StatusCode::TOO_MANY_REQUESTS, page).into_response()
    };
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

#[cfg(test)]
mod tests;
