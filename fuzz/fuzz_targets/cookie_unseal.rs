//! Cookie unsealing: the session cookie and the single-use login-flow cookie, as a browser (or
//! an attacker) sends them back.
//!
//! Input: one selector byte, then the rest.
//! - selector even: the rest, as text, is a cookie value; it is opened as a session (with the
//!   timeouts) and as a login flow. Only the seeds, sealed by `seed_corpus` with the targets'
//!   key, may open: any other value opening would be a forgery.
//! - selector odd: the rest is a JSON document that is sealed, then opened as a session, as a
//!   login flow and as JSON: this reaches the decoding behind the authentication tag, which no
//!   forged cookie reaches; the JSON must come back unchanged. A document that reads as a
//!   session is also sealed as session cookies are (the binary layout, version 2) and must open
//!   as the same session, or be refused only for its expiry or timeouts.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wardgate::oidc::PendingLogin;
use wardgate::session::{
    LOGIN_FLOW_PURPOSE, LoginFlow, SESSION_PURPOSE, Session, SessionConfig, UnsealCause,
    UsedFlowValues,
};
use wardgate_fuzz::{Deterministic, LOGIN_FLOW_COOKIE, SESSION_COOKIE, key_ring, now};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let ring = key_ring();
    let now = now();
    if selector % 2 == 0 {
        let Ok(value) = std::str::from_utf8(rest) else {
            return;
        };
        let _ = SessionConfig::default().open(ring, SESSION_COOKIE, now, value);
        let used = UsedFlowValues::new(4);
        let first = used.open_once::<LoginFlow<PendingLogin>>(ring, LOGIN_FLOW_COOKIE, now, value);
        if first.is_ok() {
            // Single use: the same value never opens twice.
            assert!(
                used.open_once::<LoginFlow<PendingLogin>>(ring, LOGIN_FLOW_COOKIE, now, value)
                    .is_err()
            );
        }
        // A value is bound to its cookie name and purpose.
        assert!(
            ring.open::<serde_json::Value>(SESSION_PURPOSE, LOGIN_FLOW_COOKIE, now, value)
                .is_err()
        );
        assert!(
            ring.open::<serde_json::Value>(LOGIN_FLOW_PURPOSE, SESSION_COOKIE, now, value)
                .is_err()
        );
    } else {
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(rest) else {
            return;
        };
        let random = Deterministic::new(u64::from(selector) + 1);
        if let Ok(session) = serde_json::from_value::<Session>(json.clone()) {
            let config = SessionConfig::default();
            if let Ok(sealed) = config.seal(ring, &random, SESSION_COOKIE, &session) {
                match config.open(ring, SESSION_COOKIE, now, &sealed) {
                    Ok(back) => assert_eq!(back, session),
                    Err(error) => assert!(
                        matches!(
                            error.cause_for_audit(),
                            UnsealCause::Expired
                                | UnsealCause::IdleTimeout
                                | UnsealCause::AbsoluteTimeout
                        ),
                        "a session sealed a moment ago was refused: {:?}",
                        error.cause_for_audit()
                    ),
                }
                // Bound to the session cookie.
                assert!(config.open(ring, LOGIN_FLOW_COOKIE, now, &sealed).is_err());
            }
        }
        let expires = now + chrono::Duration::minutes(10);
        for (purpose, name) in [
            (SESSION_PURPOSE, SESSION_COOKIE),
            (LOGIN_FLOW_PURPOSE, LOGIN_FLOW_COOKIE),
        ] {
            let Ok(sealed) = ring.seal(&random, purpose, name, expires, &json) else {
                continue;
            };
            let _ = ring.open::<Session>(purpose, name, now, &sealed);
            let _ = ring.open::<LoginFlow<PendingLogin>>(purpose, name, now, &sealed);
            let back: serde_json::Value = ring
                .open(purpose, name, now, &sealed)
                .expect("a value sealed a moment ago opens");
            assert_eq!(back, json);
            // Expired at its expiry.
            assert!(
                ring.open::<serde_json::Value>(purpose, name, expires, &sealed)
                    .is_err()
            );
        }
    }
});
