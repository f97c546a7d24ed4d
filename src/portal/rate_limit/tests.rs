use std::net::IpAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, Method};
use chrono::{Duration, TimeZone, Utc};

use super::{LimitedRoute, RateLimit, RateLimiter, RateLimits, RetryAfter, TrustedProxy};
use crate::clock::FixedClock;

fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap(),
    ))
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn limiter(limits: RateLimits, clock: &Arc<FixedClock>) -> RateLimiter {
    RateLimiter::new(limits, Arc::clone(clock) as Arc<dyn crate::Clock>)
}

#[test]
fn a_burst_passes_then_one_request_per_interval() {
    let clock = clock();
    let limits = RateLimits {
        login: RateLimit::new(60, 3),
        ..RateLimits::default()
    };
    let limiter = limiter(limits, &clock);
    let client = ip("203.0.113.7");
    for _ in 0..3 {
        assert_eq!(limiter.check(LimitedRoute::LoginStart, client), Ok(()));
    }
    assert_eq!(
        limiter.check(LimitedRoute::LoginStart, client),
        Err(RetryAfter(1))
    );
    // Another route and another address have their own budgets.
    assert_eq!(limiter.check(LimitedRoute::LoginCallback, client), Ok(()));
    assert_eq!(
        limiter.check(LimitedRoute::LoginStart, ip("203.0.113.8")),
        Ok(())
    );
    clock.advance(Duration::milliseconds(999));
    assert_eq!(
        limiter.check(LimitedRoute::LoginStart, client),
        Err(RetryAfter(1))
    );
    clock.advance(Duration::milliseconds(1));
    assert_eq!(limiter.check(LimitedRoute::LoginStart, client), Ok(()));
    assert!(limiter.check(LimitedRoute::LoginStart, client).is_err());
}

#[test]
fn retry_after_counts_whole_seconds_up() {
    let clock = clock();
    let limits = RateLimits {
        submit: RateLimit::new(2, 1),
        ..RateLimits::default()
    };
    let limiter = limiter(limits, &clock);
    let client = ip("198.51.100.1");
    assert_eq!(limiter.check(LimitedRoute::Submission, client), Ok(()));
    assert_eq!(
        limiter.check(LimitedRoute::Submission, client),
        Err(RetryAfter(30))
    );
    clock.advance(Duration::milliseconds(29_500));
    assert_eq!(
        limiter.check(LimitedRoute::Submission, client),
        Err(RetryAfter(1))
    );
}

#[test]
fn the_defaults_pass_100_logins_at_once_and_cut_a_flood_of_1000_in_a_minute() {
    let clock = clock();
    let limiter = limiter(RateLimits::default(), &clock);
    let desk = ip("203.0.113.50");
    for _ in 0..100 {
        assert_eq!(limiter.check(LimitedRoute::LoginStart, desk), Ok(()));
        assert_eq!(limiter.check(LimitedRoute::LoginCallback, desk), Ok(()));
    }
    let flood = ip("192.0.2.66");
    let mut passed = 0;
    for _ in 0..1000 {
        if limiter.check(LimitedRoute::LoginStart, flood).is_ok() {
            passed += 1;
        }
        clock.advance(Duration::milliseconds(60));
    }
    // 120 at once, then one a second for the 59.94 s the flood lasts.
    assert_eq!(passed, 179);
}

#[test]
fn zero_per_minute_turns_a_limit_off() {
    let clock = clock();
    let limits = RateLimits {
        submit: RateLimit::new(0, 5),
        ..RateLimits::default()
    };
    assert!(!limits.submit.is_enabled());
    assert_eq!(limits.submit, RateLimit::OFF);
    let limiter = limiter(limits, &clock);
    for _ in 0..10_000 {
        assert_eq!(
            limiter.check(LimitedRoute::Submission, ip("192.0.2.1")),
            Ok(())
        );
    }
    assert_eq!(limiter.tracked(), 0);
}

#[test]
fn memory_is_bounded_and_idle_addresses_are_forgotten_first() {
    let clock = clock();
    let limits = RateLimits {
        max_tracked: 100,
        ..RateLimits::default()
    };
    let limiter = limiter(limits, &clock);
    for i in 0..100u8 {
        limiter
            .check(LimitedRoute::LoginStart, IpAddr::from([10, 0, 0, i]))
            .unwrap();
    }
    assert_eq!(limiter.tracked(), 100);
    // All buckets are full again after a second: the next address evicts them all.
    clock.advance(Duration::seconds(1));
    limiter
        .check(LimitedRoute::LoginStart, ip("10.0.1.1"))
        .unwrap();
    assert_eq!(limiter.tracked(), 1);

    // Under a flood from many addresses, the table never grows past the cap.
    for i in 0..5000u32 {
        let addr = IpAddr::from((0x0a02_0000 + i).to_be_bytes());
        let _ = limiter.check(LimitedRoute::Submission, addr);
        assert!(limiter.tracked() <= 100);
    }
}

#[test]
fn classify_names_the_limited_routes_only() {
    let get = Method::GET;
    let post = Method::POST;
    assert_eq!(
        LimitedRoute::classify(&get, "/login"),
        Some(LimitedRoute::LoginStart)
    );
    assert_eq!(
        LimitedRoute::classify(&get, "/login/vneid"),
        Some(LimitedRoute::LoginStart)
    );
    assert_eq!(LimitedRoute::classify(&get, "/loginx"), None);
    assert_eq!(
        LimitedRoute::classify(&get, "/auth/callback"),
        Some(LimitedRoute::LoginCallback)
    );
    assert_eq!(
        LimitedRoute::classify(&post, "/api/procedures/1.001193/submissions"),
        Some(LimitedRoute::Submission)
    );
    assert_eq!(
        LimitedRoute::classify(&post, "/procedures/1.001193/submit"),
        Some(LimitedRoute::Submission)
    );
    assert_eq!(
        LimitedRoute::classify(&post, "/procedures/1.001193/draft"),
        Some(LimitedRoute::Submission)
    );
    assert_eq!(LimitedRoute::classify(&get, "/procedures/1.001193"), None);
    assert_eq!(LimitedRoute::classify(&post, "/logout"), None);
    assert_eq!(LimitedRoute::classify(&get, "/healthz"), None);
}

#[test]
fn trusted_proxies_parse_and_match() {
    let net: TrustedProxy = "10.0.0.0/8".parse().unwrap();
    assert!(net.contains(ip("10.200.1.2")));
    assert!(net.contains(ip("::ffff:10.1.2.3")));
    assert!(!net.contains(ip("11.0.0.1")));
    let one: TrustedProxy = "127.0.0.1".parse().unwrap();
    assert_eq!(one.to_string(), "127.0.0.1/32");
    let v6: TrustedProxy = "fd00::/8".parse().unwrap();
    assert!(v6.contains(ip("fd12::1")));
    assert!(!v6.contains(ip("10.0.0.1")));
    let all: TrustedProxy = "0.0.0.0/0".parse().unwrap();
    assert!(all.contains(ip("8.8.8.8")));
    for bad in ["10.0.0.0/33", "proxy", "10.0.0/8", "fd00::/129", ""] {
        let error = bad.parse::<TrustedProxy>().unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("`{bad}` is not an IP address or network such as `10.0.0.0/8`")
        );
    }
}

fn forwarded(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
    headers
}

#[test]
fn x_forwarded_for_is_read_only_from_trusted_proxies() {
    let clock = clock();
    let untrusting = limiter(RateLimits::default(), &clock);
    let headers = forwarded("198.51.100.9");
    // Off by default: any client can write the header.
    assert_eq!(
        untrusting.client_address(Some(ip("203.0.113.1")), &headers),
        ip("203.0.113.1")
    );

    let limits = RateLimits {
        trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
        ..RateLimits::default()
    };
    let trusting = limiter(limits, &clock);
    assert_eq!(
        trusting.client_address(Some(ip("10.0.0.2")), &headers),
        ip("198.51.100.9")
    );
    // The right-most untrusted hop is the client; what it claims further left is ignored.
    let chain = forwarded("1.2.3.4, 198.51.100.9, 10.0.0.3");
    assert_eq!(
        trusting.client_address(Some(ip("10.0.0.2")), &chain),
        ip("198.51.100.9")
    );
    // A peer that is not a trusted proxy is the client, whatever it writes.
    assert_eq!(
        trusting.client_address(Some(ip("203.0.113.1")), &headers),
        ip("203.0.113.1")
    );
    // A malformed chain is not trusted past the proxy.
    assert_eq!(
        trusting.client_address(Some(ip("10.0.0.2")), &forwarded("198.51.100.9, junk")),
        ip("10.0.0.2")
    );
    // No header: the proxy itself.
    assert_eq!(
        trusting.client_address(Some(ip("10.0.0.2")), &HeaderMap::new()),
        ip("10.0.0.2")
    );
}
