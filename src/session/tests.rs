use std::sync::atomic::{AtomicU8, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, TimeZone as _, Utc};
use pretty_assertions::assert_eq;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use super::*;
use crate::assurance::SourceKind;
use crate::clock::SystemRandom;

/// Deterministic bytes: a counter, so every nonce differs.
#[derive(Debug, Default)]
struct CountingRandom(AtomicU8);

impl Random for CountingRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError> {
        for byte in dest {
            *byte = self.0.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

const COOKIE: &str = "__Host-wardgate-session";
const OTHER_COOKIE: &str = "__Host-wardgate-login";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 7, 1, 8, 0, 0).unwrap()
}

fn ring_with(id: u8, fill: u8) -> KeyRing {
    KeyRing::new(
        KeyId::new(id),
        SealingKey::from_bytes(&[fill; KEY_LEN]).unwrap(),
    )
    .unwrap()
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Payload {
    text: String,
    n: u32,
}

fn payload() -> Payload {
    Payload {
        text: "Nguyễn Văn A".to_owned(),
        n: 7,
    }
}

fn sealed_sample(ring: &KeyRing) -> String {
    ring.seal(
        &CountingRandom::default(),
        SESSION_PURPOSE,
        COOKIE,
        t0() + TimeDelta::hours(1),
        &payload(),
    )
    .unwrap()
}

fn cause(result: Result<Payload, UnsealError>) -> UnsealCause {
    let error = result.unwrap_err();
    assert_eq!(error.to_string(), "the sealed value was refused");
    assert_eq!(format!("{error:?}"), "UnsealError");
    error.cause_for_audit()
}

fn realistic_session(random: &dyn Random) -> Session {
    let assurance = Assurance::new(
        Some(Level::Two),
        "https://sso.dancuquocgia.gov.vn/auth/realms/citizen",
        SourceKind::UserinfoClaim,
        Some(t0()),
    )
    .with_acr(Some("http://eidas.europa.eu/LoA/substantial".to_owned()))
    .with_amr(vec!["pwd".to_owned(), "otp".to_owned(), "face".to_owned()]);
    // A keyed hash of the provider's subject, as the caller computes it (SHA-256, base64url).
    let subject = URL_SAFE_NO_PAD.encode([0xab; 32]);
    let mut session = Session::new(subject, assurance, t0(), random).unwrap();
    session.record_step_up(Level::Two, Some(300));
    session.record_step_up(Level::Two, None);
    session
}

// ---- sealing ----

#[test]
fn seal_then_open_returns_the_payload() {
    let ring = ring_with(1, 7);
    let sealed = sealed_sample(&ring);
    let opened: Payload = ring.open(SESSION_PURPOSE, COOKIE, t0(), &sealed).unwrap();
    assert_eq!(opened, payload());
}

#[test]
fn sealed_value_has_the_documented_wire_format() {
    let ring = ring_with(9, 7);
    let sealed = sealed_sample(&ring);
    let bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
    assert_eq!(bytes[0], 1, "version");
    assert_eq!(bytes[1], 9, "key id");
    assert_eq!(
        &bytes[2..14],
        &(0u8..12).collect::<Vec<_>>()[..],
        "nonce from the Random"
    );
    let json_len = serde_json::to_vec(&payload()).unwrap().len();
    assert_eq!(bytes.len(), 14 + 8 + json_len + 16);
}

#[test]
fn each_seal_uses_a_fresh_nonce() {
    let ring = ring_with(1, 7);
    let random = CountingRandom::default();
    let expires = t0() + TimeDelta::hours(1);
    let a = ring
        .seal(&random, SESSION_PURPOSE, COOKIE, expires, &payload())
        .unwrap();
    let b = ring
        .seal(&random, SESSION_PURPOSE, COOKIE, expires, &payload())
        .unwrap();
    assert_ne!(a, b);
}

#[test]
fn unseal_rejects_every_single_bit_flip() {
    let ring = ring_with(1, 7);
    let sealed = sealed_sample(&ring);
    let bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
    for index in 0..bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut tampered = bytes.clone();
            tampered[index] ^= bit;
            let value = URL_SAFE_NO_PAD.encode(&tampered);
            let expected = match index {
                0 => UnsealCause::UnknownVersion,
                1 => UnsealCause::UnknownKey,
                _ => UnsealCause::Forged,
            };
            assert_eq!(
                cause(ring.open(SESSION_PURPOSE, COOKIE, t0(), &value)),
                expected,
                "byte {index} bit {bit:#x}"
            );
        }
    }
}

#[test]
fn unseal_rejects_tampered_characters() {
    let ring = ring_with(1, 7);
    let sealed = sealed_sample(&ring);
    for index in 0..sealed.len() {
        let mut chars: Vec<char> = sealed.chars().collect();
        chars[index] = if chars[index] == 'A' { 'B' } else { 'A' };
        let value: String = chars.into_iter().collect();
        let result: Result<Payload, _> = ring.open(SESSION_PURPOSE, COOKIE, t0(), &value);
        let error = result.unwrap_err();
        assert_eq!(
            error.to_string(),
            "the sealed value was refused",
            "char {index}"
        );
    }
}

#[test]
fn unseal_rejects_truncated_values() {
    let ring = ring_with(1, 7);
    let sealed = sealed_sample(&ring);
    let bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
    // Cut at the byte level: short ones fail the length check, longer ones authentication.
    for len in 0..bytes.len() {
        let value = URL_SAFE_NO_PAD.encode(&bytes[..len]);
        let expected = if len < 14 + 8 + 16 {
            UnsealCause::TooShort
        } else {
            UnsealCause::Forged
        };
        assert_eq!(
            cause(ring.open(SESSION_PURPOSE, COOKIE, t0(), &value)),
            expected,
            "len {len}"
        );
    }
    // Cut at the character level: a dangling character is not canonical base64url.
    let value = &sealed[..sealed.len() - 1];
    let got = cause(ring.open(SESSION_PURPOSE, COOKIE, t0(), value));
    assert!(
        matches!(got, UnsealCause::NotBase64 | UnsealCause::Forged),
        "{got:?}"
    );
}

#[test]
fn unseal_rejects_expired_values() {
    let ring = ring_with(1, 7);
    let sealed = sealed_sample(&ring);
    let just_before = t0() + TimeDelta::hours(1) - TimeDelta::seconds(1);
    let opened: Payload = ring
        .open(SESSION_PURPOSE, COOKIE, just_before, &sealed)
        .unwrap();
    assert_eq!(opened, payload());
    for now in [t0() + TimeDelta::hours(1), t0() + TimeDelta::days(400)] {
        assert_eq!(
            cause(ring.open(SESSION_PURPOSE, COOKIE, now, &sealed)),
            UnsealCause::Expired
        );
    }
}

#[test]
fn unseal_rejects_value_moved_to_other_cookie() {
    let ring = ring_with(1, 7);
    let sealed = sealed_sample(&ring);
    assert_eq!(
        cause(ring.open(SESSION_PURPOSE, OTHER_COOKIE, t0(), &sealed)),
        UnsealCause::Forged
    );
    assert_eq!(
        cause(ring.open(SESSION_PURPOSE, "wardgate-session", t0(), &sealed)),
        UnsealCause::Forged
    );
}

#[test]
fn unseal_rejects_value_sealed_for_other_purpose() {
    let ring = ring_with(1, 7);
    let sealed = sealed_sample(&ring);
    assert_eq!(
        cause(ring.open(LOGIN_FLOW_PURPOSE, COOKIE, t0(), &sealed)),
        UnsealCause::Forged
    );
}

#[test]
fn unseal_rejects_unknown_key_id_and_other_key_with_same_id() {
    let sealed = sealed_sample(&ring_with(1, 7));
    assert_eq!(
        cause(ring_with(2, 7).open(SESSION_PURPOSE, COOKIE, t0(), &sealed)),
        UnsealCause::UnknownKey
    );
    assert_eq!(
        cause(ring_with(1, 8).open(SESSION_PURPOSE, COOKIE, t0(), &sealed)),
        UnsealCause::Forged
    );
}

#[test]
fn unseal_rejects_oversized_and_non_base64_values() {
    let ring = ring_with(1, 7);
    let long = "A".repeat(MAX_SEALED_LEN + 1);
    assert_eq!(
        cause(ring.open(SESSION_PURPOSE, COOKIE, t0(), &long)),
        UnsealCause::TooLong
    );
    for value in ["", "not base64!", "AQE=", "AQE+AAAA"] {
        let expected = if value.is_empty() {
            UnsealCause::TooShort
        } else {
            UnsealCause::NotBase64
        };
        assert_eq!(
            cause(ring.open(SESSION_PURPOSE, COOKIE, t0(), value)),
            expected,
            "{value:?}"
        );
    }
}

#[test]
fn unseal_rejects_authentic_value_of_another_type() {
    let ring = ring_with(1, 7);
    let sealed = ring
        .seal(
            &CountingRandom::default(),
            SESSION_PURPOSE,
            COOKIE,
            t0() + TimeDelta::hours(1),
            &42,
        )
        .unwrap();
    assert_eq!(
        cause(ring.open(SESSION_PURPOSE, COOKIE, t0(), &sealed)),
        UnsealCause::MalformedPayload
    );
}

#[test]
fn seal_refuses_bad_purpose_name_and_oversized_value() {
    let ring = ring_with(1, 7);
    let random = CountingRandom::default();
    let expires = t0() + TimeDelta::hours(1);
    for purpose in ["", "a\0b"] {
        let error = ring
            .seal(&random, purpose, COOKIE, expires, &1)
            .unwrap_err();
        assert!(matches!(error, SealError::InvalidPurpose), "{error:?}");
    }
    for name in ["", "a b", "a;b", "a=b", "x\0y"] {
        let error = ring
            .seal(&random, SESSION_PURPOSE, name, expires, &1)
            .unwrap_err();
        assert!(matches!(error, SealError::InvalidCookieName), "{error:?}");
    }
    let error = ring
        .seal(&random, SESSION_PURPOSE, COOKIE, expires, &"x".repeat(3000))
        .unwrap_err();
    assert!(
        matches!(
            error,
            SealError::TooLarge {
                limit: MAX_SEALED_LEN,
                ..
            }
        ),
        "{error:?}"
    );
}

// ---- key ring ----

#[test]
fn rotation_keeps_old_values_open_until_the_key_is_retired() {
    let mut ring = ring_with(1, 7);
    let old = sealed_sample(&ring);
    ring.add(
        KeyId::new(2),
        SealingKey::from_bytes(&[8; KEY_LEN]).unwrap(),
    )
    .unwrap();
    assert_eq!(ring.newest_id(), KeyId::new(2));
    assert_eq!(ring.key_ids(), vec![KeyId::new(1), KeyId::new(2)]);

    let new = sealed_sample(&ring);
    assert_eq!(
        URL_SAFE_NO_PAD.decode(&new).unwrap()[1],
        2,
        "the newest key seals"
    );
    let opened: Payload = ring.open(SESSION_PURPOSE, COOKIE, t0(), &old).unwrap();
    assert_eq!(opened, payload());

    ring.retire(KeyId::new(1)).unwrap();
    assert_eq!(
        cause(ring.open(SESSION_PURPOSE, COOKIE, t0(), &old)),
        UnsealCause::RetiredKey
    );
    let opened: Payload = ring.open(SESSION_PURPOSE, COOKIE, t0(), &new).unwrap();
    assert_eq!(opened, payload());
}

#[test]
fn key_ring_refuses_duplicate_ids_and_retiring_the_sealing_key() {
    let mut ring = ring_with(1, 7);
    let error = ring
        .add(
            KeyId::new(1),
            SealingKey::from_bytes(&[9; KEY_LEN]).unwrap(),
        )
        .unwrap_err();
    assert!(matches!(error, KeyRingError::DuplicateKeyId { key_id } if key_id == KeyId::new(1)));
    assert!(matches!(
        ring.retire(KeyId::new(1)),
        Err(KeyRingError::RetireNewest { key_id }) if key_id == KeyId::new(1)
    ));
    assert!(matches!(
        ring.retire(KeyId::new(5)),
        Err(KeyRingError::UnknownKeyId { key_id }) if key_id == KeyId::new(5)
    ));
}

#[test]
fn rotate_picks_the_next_free_id() {
    let random = CountingRandom::default();
    let mut ring = ring_with(254, 7);
    assert_eq!(ring.rotate(&random).unwrap(), KeyId::new(255));
    assert_eq!(ring.rotate(&random).unwrap(), KeyId::new(0));
    ring.retire(KeyId::new(254)).unwrap();
    assert_eq!(ring.rotate(&random).unwrap(), KeyId::new(1));
    assert_eq!(
        ring.key_ids(),
        vec![KeyId::new(255), KeyId::new(0), KeyId::new(1)]
    );
}

#[test]
fn key_ring_round_trips_through_bytes() {
    let mut ring = ring_with(1, 7);
    ring.add(
        KeyId::new(3),
        SealingKey::from_bytes(&[8; KEY_LEN]).unwrap(),
    )
    .unwrap();
    let sealed = sealed_sample(&ring);
    let mut bytes = Vec::new();
    ring.write_to(&mut bytes).unwrap();
    assert_eq!(&bytes[..6], b"WGKR\x01\x02");
    assert_eq!(bytes.len(), 6 + 2 * 33);
    assert_eq!(bytes[6], 1);
    assert_eq!(bytes[6 + 33], 3);

    let loaded = KeyRing::from_bytes(&bytes).unwrap();
    assert_eq!(loaded.key_ids(), ring.key_ids());
    assert_eq!(loaded.newest_id(), KeyId::new(3));
    let opened: Payload = loaded.open(SESSION_PURPOSE, COOKIE, t0(), &sealed).unwrap();
    assert_eq!(opened, payload());
}

#[test]
fn key_ring_from_bytes_refuses_malformed_input() {
    assert!(matches!(
        KeyRing::from_bytes(b""),
        Err(KeyRingError::UnknownFormat)
    ));
    assert!(matches!(
        KeyRing::from_bytes(b"WGKR\x02\x01"),
        Err(KeyRingError::UnknownFormat)
    ));
    assert!(matches!(
        KeyRing::from_bytes(b"WGKR\x01\x00"),
        Err(KeyRingError::Empty)
    ));
    assert!(matches!(
        KeyRing::from_bytes(b"WGKR\x01"),
        Err(KeyRingError::WrongLength {
            expected: 6,
            found: 5
        })
    ));
    assert!(matches!(
        KeyRing::from_bytes(b"WGKR\x01\x01\x01abc"),
        Err(KeyRingError::WrongLength {
            expected: 39,
            found: 10
        })
    ));
    let mut twice = b"WGKR\x01\x02".to_vec();
    for _ in 0..2 {
        twice.push(4);
        twice.extend_from_slice(&[1; KEY_LEN]);
    }
    assert!(matches!(
        KeyRing::from_bytes(&twice),
        Err(KeyRingError::DuplicateKeyId { key_id }) if key_id == KeyId::new(4)
    ));
}

#[test]
fn sealing_key_refuses_wrong_length() {
    for len in [0, 16, 31, 33, 64] {
        let error = SealingKey::from_bytes(&vec![0; len]).unwrap_err();
        assert!(matches!(error, KeyError::WrongLength { expected: 32, found } if found == len));
        assert_eq!(
            error.to_string(),
            format!("sealing key must be 32 bytes: found {len}")
        );
    }
}

#[test]
fn debug_output_redacts_secrets() {
    let key = SealingKey::from_bytes(&[0x42; KEY_LEN]).unwrap();
    assert_eq!(format!("{key:?}"), "SealingKey([redacted])");
    assert_eq!(format!("{key:#?}"), "SealingKey([redacted])");

    let mut ring = ring_with(1, 0x42);
    ring.add(
        KeyId::new(2),
        SealingKey::from_bytes(&[0x43; KEY_LEN]).unwrap(),
    )
    .unwrap();
    assert_eq!(
        format!("{ring:?}"),
        "KeyRing { key_ids: [KeyId(1), KeyId(2)], newest: KeyId(2), .. }"
    );

    let session = realistic_session(&CountingRandom::default());
    let debug = format!("{session:?}");
    assert!(debug.contains("subject: \"[redacted]\""), "{debug}");
    assert!(
        debug.contains("csrf_token: CsrfToken([redacted])"),
        "{debug}"
    );
    assert!(!debug.contains(session.subject()), "{debug}");
    assert!(!debug.contains(session.csrf_token().secret()), "{debug}");
}

// ---- sessions ----

#[test]
fn realistic_session_cookie_stays_under_4_kib() {
    let random = SystemRandom::new();
    let ring = KeyRing::generate(&random).unwrap();
    let config = SessionConfig::default();
    let cookies =
        CookieSettings::for_public_url(&"https://dichvucong.example.vn/".parse().unwrap()).unwrap();
    let session = realistic_session(&random);
    let sealed = config
        .seal(&ring, &random, cookies.session_cookie_name(), &session)
        .unwrap();
    let header = cookies
        .set_cookie(
            cookies.session_cookie_name(),
            &sealed,
            config.max_age(&session, t0()),
        )
        .unwrap();
    assert!(header.len() < 4096, "{} bytes", header.len());
    // Realistic sessions are far below the limit.
    assert!(header.len() < 1024, "{} bytes", header.len());

    let opened = config
        .open(&ring, cookies.session_cookie_name(), t0(), &sealed)
        .unwrap();
    assert_eq!(opened, session);
}

#[test]
fn longest_sealed_value_still_fits_a_cookie() {
    let cookies = CookieSettings::for_public_url(&"https://a.example/".parse().unwrap()).unwrap();
    let value = "A".repeat(MAX_SEALED_LEN);
    let header = cookies
        .set_cookie(LOGIN_FLOW_COOKIE, &value, TimeDelta::hours(8))
        .unwrap();
    assert!(header.len() < 4096, "{} bytes", header.len());
}

#[test]
fn session_timeouts_are_enforced() {
    let random = CountingRandom::default();
    let ring = ring_with(1, 7);
    let config = SessionConfig::default();
    let mut session = realistic_session(&random);
    assert_eq!(
        config.check(&session, t0() + TimeDelta::minutes(29)),
        Ok(())
    );
    assert_eq!(
        config.check(&session, t0() + TimeDelta::minutes(30)),
        Err(SessionTimeoutError::Idle { last_seen: t0() })
    );

    // Kept busy, the session still ends after eight hours.
    for minutes in (20..=480).step_by(20) {
        let now = t0() + TimeDelta::minutes(minutes);
        if minutes < 480 {
            assert_eq!(config.check(&session, now), Ok(()), "{minutes} min");
            session.touch(now);
        } else {
            assert_eq!(
                config.check(&session, now),
                Err(SessionTimeoutError::Absolute { created_at: t0() })
            );
        }
    }
    assert_eq!(config.expires_at(&session), t0() + TimeDelta::hours(8));
    assert_eq!(
        config.max_age(&session, t0() + TimeDelta::hours(7)),
        TimeDelta::hours(1)
    );
    assert_eq!(
        config.max_age(&session, t0() + TimeDelta::hours(9)),
        TimeDelta::zero()
    );

    // The sealed expiry enforces the earlier of both timeouts even if the config changes.
    let fresh = realistic_session(&random);
    let sealed = config.seal(&ring, &random, COOKIE, &fresh).unwrap();
    let open = |config: &SessionConfig, now| {
        config
            .open(&ring, COOKIE, now, &sealed)
            .map_err(|error| error.cause_for_audit())
    };
    assert_eq!(open(&config, t0() + TimeDelta::minutes(29)), Ok(fresh));
    assert_eq!(
        open(&config, t0() + TimeDelta::minutes(30)),
        Err(UnsealCause::Expired)
    );
    let mut stricter = config;
    stricter.idle_timeout = TimeDelta::minutes(5);
    assert_eq!(
        open(&stricter, t0() + TimeDelta::minutes(10)),
        Err(UnsealCause::IdleTimeout)
    );
    stricter.absolute_timeout = TimeDelta::minutes(5);
    assert_eq!(
        open(&stricter, t0() + TimeDelta::minutes(10)),
        Err(UnsealCause::AbsoluteTimeout)
    );
}

#[test]
fn touch_updates_last_seen_and_never_moves_it_back() {
    let mut session = realistic_session(&CountingRandom::default());
    let config = SessionConfig::default();
    assert!(!config.needs_touch(&session, t0() + TimeDelta::seconds(59)));
    assert!(config.needs_touch(&session, t0() + TimeDelta::seconds(60)));
    session.touch(t0() + TimeDelta::milliseconds(90_500));
    assert_eq!(session.last_seen(), t0() + TimeDelta::seconds(90));
    session.touch(t0());
    assert_eq!(session.last_seen(), t0() + TimeDelta::seconds(90));
    assert_eq!(session.created_at(), t0());
}

#[test]
fn step_ups_are_remembered_per_requirement() {
    let random = CountingRandom::default();
    let mut session = realistic_session(&random);
    assert!(session.step_up_tried(Level::Two, Some(300)));
    assert!(session.step_up_tried(Level::Two, None));
    assert!(!session.step_up_tried(Level::Two, Some(600)));
    assert!(!session.step_up_tried(Level::One, None));
    session.record_step_up(Level::Two, Some(300));
    assert_eq!(
        session.step_ups_tried(),
        &[(Level::Two, Some(300)), (Level::Two, None)]
    );

    for age in 0..(MAX_STEP_UPS_REMEMBERED as u32) {
        session.record_step_up(Level::One, Some(age));
    }
    assert_eq!(session.step_ups_tried().len(), MAX_STEP_UPS_REMEMBERED);
    assert!(
        !session.step_up_tried(Level::Two, Some(300)),
        "the oldest is forgotten first"
    );

    let mut next = Session::new(
        session.subject(),
        session.assurance().clone(),
        t0(),
        &random,
    )
    .unwrap();
    next.carry_step_ups_from(&session);
    assert_eq!(next.step_ups_tried(), session.step_ups_tried());
    let mut stranger = Session::new("another", session.assurance().clone(), t0(), &random).unwrap();
    stranger.carry_step_ups_from(&session);
    assert!(stranger.step_ups_tried().is_empty());
}

#[test]
fn session_exposes_issuer_and_a_fresh_csrf_token() {
    let random = SystemRandom::new();
    let a = realistic_session(&random);
    let b = realistic_session(&random);
    assert_eq!(
        a.issuer(),
        "https://sso.dancuquocgia.gov.vn/auth/realms/citizen"
    );
    assert_eq!(a.csrf_token().secret().len(), 43);
    assert!(a.csrf_token().matches(a.csrf_token().secret()));
    assert!(!a.csrf_token().matches(b.csrf_token().secret()));
    assert!(!a.csrf_token().matches(""));
    assert_ne!(a.csrf_token(), b.csrf_token());
}

// ---- login flow ----

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    level: Level,
    return_path: ReturnPath,
}

fn pending() -> Pending {
    Pending {
        state: "c3RhdGU".to_owned(),
        nonce: "bm9uY2U".to_owned(),
        verifier: "dmVyaWZpZXI".to_owned(),
        level: Level::Two,
        return_path: ReturnPath::parse("/thu-tuc/khai-sinh").unwrap(),
    }
}

#[test]
fn login_flow_cookie_is_single_use() {
    let ring = ring_with(1, 7);
    let used = UsedFlowValues::default();
    let sealed = seal_login_flow(
        &ring,
        &CountingRandom::default(),
        OTHER_COOKIE,
        t0(),
        &pending(),
    )
    .unwrap();
    let first: Pending = used.open_once(&ring, OTHER_COOKIE, t0(), &sealed).unwrap();
    assert_eq!(first, pending());
    let second: Result<Pending, _> = used.open_once(&ring, OTHER_COOKIE, t0(), &sealed);
    let error = second.unwrap_err();
    assert_eq!(error.to_string(), "the sealed value was refused");
    assert_eq!(error.cause_for_audit(), UnsealCause::Replayed);
    assert_eq!(used.len(), 1);
}

#[test]
fn login_flow_wrapper_carries_pending_login_and_return_path() {
    let ring = ring_with(1, 7);
    let used = UsedFlowValues::default();
    let flow = LoginFlow::new(
        ("state", "nonce", Level::Two),
        ReturnPath::parse("/thu-tuc/khai-sinh?phuong=30280").unwrap(),
    );
    let sealed =
        seal_login_flow(&ring, &CountingRandom::default(), OTHER_COOKIE, t0(), &flow).unwrap();
    let opened: LoginFlow<(String, String, Level)> =
        used.open_once(&ring, OTHER_COOKIE, t0(), &sealed).unwrap();
    assert_eq!(
        opened.pending,
        ("state".to_owned(), "nonce".to_owned(), Level::Two)
    );
    assert_eq!(opened.return_path, flow.return_path);
}

#[test]
fn login_flow_cookie_expires_after_ten_minutes_and_is_bound_to_its_purpose() {
    let ring = ring_with(1, 7);
    let used = UsedFlowValues::default();
    let sealed = seal_login_flow(
        &ring,
        &CountingRandom::default(),
        OTHER_COOKIE,
        t0(),
        &pending(),
    )
    .unwrap();
    let late: Result<Pending, _> =
        used.open_once(&ring, OTHER_COOKIE, t0() + LOGIN_FLOW_LIFETIME, &sealed);
    assert_eq!(late.unwrap_err().cause_for_audit(), UnsealCause::Expired);
    let as_session: Result<Pending, _> = ring.open(SESSION_PURPOSE, OTHER_COOKIE, t0(), &sealed);
    assert_eq!(
        as_session.unwrap_err().cause_for_audit(),
        UnsealCause::Forged
    );
    assert!(used.is_empty(), "refused values are not recorded");
}

#[test]
fn replay_guard_is_bounded_and_forgets_expired_values() {
    let ring = ring_with(1, 7);
    let random = CountingRandom::default();
    let used = UsedFlowValues::new(3);
    let values: Vec<String> = (0..5)
        .map(|_| seal_login_flow(&ring, &random, OTHER_COOKIE, t0(), &pending()).unwrap())
        .collect();
    for value in &values {
        let _: Pending = used.open_once(&ring, OTHER_COOKIE, t0(), value).unwrap();
        assert!(used.len() <= 3);
    }
    assert_eq!(used.len(), 3);
    let replay: Result<Pending, _> = used.open_once(&ring, OTHER_COOKIE, t0(), &values[4]);
    assert_eq!(replay.unwrap_err().cause_for_audit(), UnsealCause::Replayed);

    let later = t0() + TimeDelta::minutes(5);
    let fresh = seal_login_flow(&ring, &random, OTHER_COOKIE, later, &pending()).unwrap();
    let after_expiry = later + TimeDelta::minutes(6);
    let _: Pending = used
        .open_once(&ring, OTHER_COOKIE, after_expiry, &fresh)
        .unwrap();
    assert_eq!(used.len(), 1, "expired entries were purged");
}

#[test]
fn replay_guard_refuses_a_non_canonical_re_encoding() {
    let ring = ring_with(1, 7);
    let used = UsedFlowValues::default();
    // Find a sealed value whose last base64 character carries unused low bits.
    let (sealed, len) = (0..3)
        .map(|extra| {
            let mut value = pending();
            value.state.push_str(&"x".repeat(extra));
            let sealed = seal_login_flow(
                &ring,
                &CountingRandom::default(),
                OTHER_COOKIE,
                t0(),
                &value,
            )
            .unwrap();
            let len = URL_SAFE_NO_PAD.decode(&sealed).unwrap().len();
            (sealed, len)
        })
        .find(|(_, len)| len % 3 != 0)
        .unwrap();
    assert_ne!(len % 3, 0);
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = *sealed.as_bytes().last().unwrap();
    let index = alphabet.iter().position(|&c| c == last).unwrap();
    let mut twin = sealed[..sealed.len() - 1].to_owned();
    twin.push(char::from(alphabet[index ^ 1]));

    let _: Pending = used.open_once(&ring, OTHER_COOKIE, t0(), &sealed).unwrap();
    let again: Result<Pending, _> = used.open_once(&ring, OTHER_COOKIE, t0(), &twin);
    assert_eq!(again.unwrap_err().cause_for_audit(), UnsealCause::NotBase64);
}

#[test]
fn shared_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<KeyRing>();
    assert_send_sync::<UsedFlowValues>();
    assert_send_sync::<Session>();
    assert_send_sync::<CookieSettings>();
    assert_send_sync::<UnsealError>();
}

#[test]
fn replay_guard_is_shared_across_threads() {
    let ring = ring_with(1, 7);
    let used = UsedFlowValues::default();
    let sealed = seal_login_flow(
        &ring,
        &CountingRandom::default(),
        OTHER_COOKIE,
        t0(),
        &pending(),
    )
    .unwrap();
    let successes = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    used.open_once::<Pending>(&ring, OTHER_COOKIE, t0(), &sealed)
                        .is_ok()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .filter(|ok| *ok)
            .count()
    });
    assert_eq!(successes, 1);
}

#[test]
fn return_path_accepts_same_origin_relative_paths() {
    for path in [
        "/",
        "/thu-tuc/khai-sinh",
        "/thu-tuc/khai-sinh?phuong=30280&lang=vi#buoc-2",
        "/a/b%20c/%C4%91",
        "/a//b",
        "/javascript:alert(1)",
        "/.well-known/x",
        "/a/...",
        "/tim-kiem?q=../..",
    ] {
        let parsed = ReturnPath::parse(path).unwrap_or_else(|| panic!("refused {path:?}"));
        assert_eq!(parsed.as_str(), path);
    }
    assert_eq!(ReturnPath::root().as_str(), "/");
    assert!(ReturnPath::parse(&format!("/{}", "a".repeat(MAX_RETURN_PATH_LEN - 1))).is_some());
}

#[test]
fn return_path_refuses_open_redirect_payloads() {
    let too_long = format!("/{}", "a".repeat(MAX_RETURN_PATH_LEN));
    let payloads = [
        "",
        "evil.example",
        "//evil.example",
        "///evil.example",
        "////evil.example/%2e%2e",
        "/\\evil.example",
        "\\\\evil.example",
        "\\/evil.example",
        "/\\/evil.example",
        "/a\\b",
        "https://evil.example",
        "http:evil.example",
        "https:/evil.example",
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "/%2fevil.example",
        "/%2Fevil.example",
        "/%5cevil.example",
        "/%5Cevil.example",
        "/%252f%252fevil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\nLocation: https://evil.example",
        "/ /evil.example",
        " /a",
        "/a b",
        "/\u{0}",
        "/\u{7f}",
        "/\u{3000}/evil.example",
        "/\u{ff0f}evil.example",
        "/\u{2215}evil.example",
        "。/evil.example",
        "/thu-tục",
        "/..//evil.example",
        "/./evil.example",
        "/a/../..//evil.example",
        "/%2e%2e//evil.example",
        "/%2E./x",
        "/a/..",
        too_long.as_str(),
    ];
    for payload in payloads {
        assert_eq!(ReturnPath::parse(payload), None, "accepted {payload:?}");
    }
}

#[test]
fn return_path_is_rechecked_when_deserialised() {
    let path: ReturnPath = serde_json::from_str("\"/thu-tuc\"").unwrap();
    assert_eq!(path.as_str(), "/thu-tuc");
    assert_eq!(serde_json::to_string(&path).unwrap(), "\"/thu-tuc\"");
    assert!(serde_json::from_str::<ReturnPath>("\"//evil.example\"").is_err());
    assert_eq!(
        ReturnPath::try_from("//evil.example".to_owned()),
        Err(ReturnPathError)
    );
}

// ---- cookies ----

#[test]
fn https_cookies_are_host_prefixed_and_secure() {
    let cookies =
        CookieSettings::for_public_url(&"https://dichvucong.example.vn/phuong".parse().unwrap())
            .unwrap();
    assert!(cookies.is_secure());
    assert_eq!(cookies.session_cookie_name(), "__Host-wardgate-session");
    assert_eq!(cookies.login_flow_cookie_name(), "__Host-wardgate-login");
    assert_eq!(
        cookies
            .set_cookie(SESSION_COOKIE, "AQE", TimeDelta::minutes(30))
            .unwrap(),
        "__Host-wardgate-session=AQE; Path=/; Max-Age=1800; HttpOnly; SameSite=Lax; Secure"
    );
    assert_eq!(
        cookies.removal(LOGIN_FLOW_COOKIE).unwrap(),
        "__Host-wardgate-login=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure"
    );
}

#[test]
fn http_loopback_cookies_drop_secure_and_the_prefix() {
    for url in [
        "http://127.0.0.1:8080/",
        "http://127.10.0.1/",
        "http://[::1]:8080/",
        "http://localhost:8080/",
        "http://LOCALHOST./",
        "http://portal.localhost/",
    ] {
        let cookies = CookieSettings::for_public_url(&url.parse().unwrap()).unwrap();
        assert!(!cookies.is_secure(), "{url}");
        assert_eq!(cookies.session_cookie_name(), "wardgate-session");
        assert_eq!(cookies.login_flow_cookie_name(), "wardgate-login");
        assert_eq!(
            cookies
                .set_cookie("wardgate-login", "AQE", TimeDelta::minutes(10))
                .unwrap(),
            "wardgate-login=AQE; Path=/; Max-Age=600; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            cookies.removal("wardgate-session").unwrap(),
            "wardgate-session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
        );
    }
}

#[test]
fn http_on_a_remote_host_is_refused() {
    for (url, host) in [
        ("http://dichvucong.example.vn/", "dichvucong.example.vn"),
        ("http://10.0.0.5:8080/", "10.0.0.5"),
        ("http://[2001:db8::1]/", "[2001:db8::1]"),
        ("http://localhost.evil.example/", "localhost.evil.example"),
    ] {
        let error = CookieSettings::for_public_url(&url.parse().unwrap()).unwrap_err();
        assert!(
            matches!(&error, CookieConfigError::InsecureRemoteHost { host: h } if h == host),
            "{url}: {error:?}"
        );
        assert_eq!(
            error.to_string(),
            format!(
                "public url uses plain http on `{host}`: use https, or a loopback host for development"
            )
        );
    }
    let error = CookieSettings::for_public_url(&"ftp://example.vn/".parse().unwrap()).unwrap_err();
    assert!(
        matches!(error, CookieConfigError::UnsupportedScheme { ref scheme } if scheme == "ftp")
    );
}

#[test]
fn set_cookie_refuses_unsafe_names_and_values_and_clamps_max_age() {
    let cookies = CookieSettings::for_public_url(&"https://a.example/".parse().unwrap()).unwrap();
    for value in [
        "a;b",
        "a b",
        "a,b",
        "\"a\"",
        "a\\b",
        "á",
        "a\r\nSet-Cookie: x=y",
    ] {
        assert_eq!(
            cookies.set_cookie(SESSION_COOKIE, value, TimeDelta::zero()),
            Err(CookieValueError::InvalidValue),
            "{value:?}"
        );
    }
    for name in ["", "a b", "a=b", "a;b"] {
        assert_eq!(
            cookies.set_cookie(name, "v", TimeDelta::zero()),
            Err(CookieValueError::InvalidName)
        );
        assert_eq!(cookies.removal(name), Err(CookieValueError::InvalidName));
    }
    assert_eq!(
        cookies
            .set_cookie(SESSION_COOKIE, "", TimeDelta::seconds(-5))
            .unwrap(),
        "__Host-wardgate-session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure"
    );
}

#[test]
fn find_cookie_parses_robustly() {
    let header = "lang=vi;theme = dark ; broken; =nameless;  __Host-wardgate-session=\"AQE\"; \
                  __Host-wardgate-session=second; empty=";
    assert_eq!(find_cookie(header, "lang"), Some("vi"));
    assert_eq!(find_cookie(header, "theme"), Some("dark"));
    assert_eq!(
        find_cookie(header, SESSION_COOKIE),
        Some("AQE"),
        "first one wins"
    );
    assert_eq!(find_cookie(header, "empty"), Some(""));
    assert_eq!(find_cookie(header, "broken"), None);
    assert_eq!(find_cookie(header, ""), None);
    assert_eq!(
        find_cookie(header, "LANG"),
        None,
        "names are case-sensitive"
    );
    assert_eq!(find_cookie("", "lang"), None);
    assert_eq!(find_cookie("wardgate-session=x", SESSION_COOKIE), None);
}

/// `find_cookie` as it was written before its scan was made faster: the reference it must
/// agree with.
fn find_cookie_by_split<'a>(cookie_header: &'a str, name: &str) -> Option<&'a str> {
    cookie_header.split(';').find_map(|pair| {
        let (pair_name, value) = pair.split_once('=')?;
        if pair_name.trim_matches([' ', '\t']) != name || name.is_empty() {
            return None;
        }
        let value = value.trim_matches([' ', '\t']);
        Some(
            value
                .strip_prefix('"')
                .and_then(|inner| inner.strip_suffix('"'))
                .unwrap_or(value),
        )
    })
}

#[test]
fn find_cookie_finds_pairs_after_a_long_value() {
    let sealed = "A".repeat(310);
    let header = format!("{SESSION_COOKIE}={sealed}; wardgate-draft-1.001193=d;x=1=2");
    assert_eq!(find_cookie(&header, SESSION_COOKIE), Some(sealed.as_str()));
    assert_eq!(find_cookie(&header, "wardgate-draft-1.001193"), Some("d"));
    assert_eq!(find_cookie(&header, "x"), Some("1=2"));
    assert_eq!(find_cookie(&header, "wardgate-login-failure"), None);
}

// ---- properties ----

proptest! {
    #[test]
    fn find_cookie_agrees_with_splitting(
        pairs in proptest::collection::vec("[ \t]{0,2}[a-c=\"]{0,3}[ \t]{0,2}(=[ \t]{0,2}[a-c=\"; ]{0,40})?", 0..5),
        name in "[a-c]{0,2}",
    ) {
        let header = pairs.join(";");
        prop_assert_eq!(find_cookie(&header, &name), find_cookie_by_split(&header, &name));
    }

    #[test]
    fn seal_then_open_is_identity(text in ".{0,400}", n in any::<u32>(), id in any::<u8>()) {
        let ring = KeyRing::new(KeyId::new(id), SealingKey::from_bytes(&[3; KEY_LEN]).unwrap())
            .unwrap();
        let value = Payload { text, n };
        let sealed = ring
            .seal(&CountingRandom::default(), SESSION_PURPOSE, COOKIE, t0() + TimeDelta::hours(1), &value)
            .unwrap();
        prop_assert!(sealed.len() <= MAX_SEALED_LEN);
        let opened: Payload = ring.open(SESSION_PURPOSE, COOKIE, t0(), &sealed).unwrap();
        prop_assert_eq!(opened, value);
    }

    #[test]
    fn open_never_panics_and_refuses_garbage(value in "[A-Za-z0-9_-]{0,200}") {
        let ring = ring_with(1, 7);
        let result: Result<Payload, _> = ring.open(SESSION_PURPOSE, COOKIE, t0(), &value);
        prop_assert!(result.is_err());
    }
}

// ---- the binary session layout (sealed format version 2) and version-1 JSON sessions ----

fn session_with_every_field(random: &dyn Random) -> Session {
    let auth_time = DateTime::from_timestamp(t0().timestamp() - 90, 123_456_789).unwrap();
    let assurance = Assurance::new(
        Some(Level::Two),
        "https://sso.dancuquocgia.gov.vn/auth/realms/citizen",
        SourceKind::VerifiedClaims,
        Some(auth_time),
    )
    .with_acr(Some("urn:vn:loa:2".to_owned()))
    .with_amr(vec!["pwd".to_owned(), "Ảnh khuôn mặt".to_owned()])
    .with_signed_id_token(false);
    let mut session = Session::new("c3ViamVjdA", assurance, t0(), random).unwrap();
    session.record_step_up(Level::Two, Some(300));
    session.record_step_up(Level::One, None);
    session.touch(t0() + TimeDelta::seconds(40));
    session
}

fn encoded(session: &Session) -> Vec<u8> {
    let mut bytes = Vec::new();
    encoding::encode(session, &mut bytes).unwrap();
    bytes
}

fn open_session(ring: &KeyRing, sealed: &str, now: DateTime<Utc>) -> Result<Session, UnsealError> {
    SessionConfig::default().open(ring, COOKIE, now, sealed)
}

#[test]
fn session_cookies_are_sealed_as_version_2_and_round_trip_every_field() {
    let ring = ring_with(3, 9);
    let random = CountingRandom::default();
    let config = SessionConfig::default();
    for session in [
        session_with_every_field(&random),
        realistic_session(&random),
        Session::new(
            "s",
            Assurance::new(None, "https://i.example", SourceKind::IdTokenAcr, None),
            t0(),
            &random,
        )
        .unwrap(),
    ] {
        let sealed = config.seal(&ring, &random, COOKIE, &session).unwrap();
        let bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        assert_eq!(bytes[0], 2, "version");
        assert_eq!(bytes[1], 3, "key id");
        assert_eq!(bytes.len(), 14 + 8 + encoded(&session).len() + 16);
        assert_eq!(open_session(&ring, &sealed, t0()).unwrap(), session);
        assert_eq!(encoding::decode(&encoded(&session)), Some(session));
    }
}

#[test]
fn binary_session_cookie_is_smaller_than_the_json_one() {
    let random = CountingRandom::default();
    let session = realistic_session(&random);
    let json = serde_json::to_vec(&session).unwrap();
    assert!(
        encoded(&session).len() * 10 < json.len() * 7,
        "binary {} bytes, JSON {} bytes",
        encoded(&session).len(),
        json.len()
    );
}

#[test]
fn version_1_json_session_cookies_still_open_until_they_expire() {
    let ring = ring_with(1, 7);
    let random = CountingRandom::default();
    let config = SessionConfig::default();
    let session = session_with_every_field(&random);
    // What a gateway before the binary layout set: the session as JSON, sealed as version 1.
    let old = ring
        .seal(
            &random,
            SESSION_PURPOSE,
            COOKIE,
            config.expires_at(&session),
            &session,
        )
        .unwrap();
    assert_eq!(URL_SAFE_NO_PAD.decode(&old).unwrap()[0], 1, "version");
    assert_eq!(open_session(&ring, &old, t0()).unwrap(), session);

    // The timeouts and the sealed expiry hold for old cookies exactly as for new ones.
    let idle_end = session.last_seen() + config.idle_timeout;
    let cause_at = |now| {
        open_session(&ring, &old, now)
            .unwrap_err()
            .cause_for_audit()
    };
    assert_eq!(cause_at(idle_end), UnsealCause::Expired);
    let lenient = SessionConfig {
        idle_timeout: TimeDelta::seconds(10),
        ..config
    };
    assert_eq!(
        lenient
            .open(
                &ring,
                COOKIE,
                session.last_seen() + TimeDelta::seconds(10),
                &old
            )
            .unwrap_err()
            .cause_for_audit(),
        UnsealCause::IdleTimeout
    );
    // Still bound to its cookie name and purpose.
    assert_eq!(
        config
            .open(&ring, OTHER_COOKIE, t0(), &old)
            .unwrap_err()
            .cause_for_audit(),
        UnsealCause::Forged
    );
}

#[test]
fn the_version_byte_is_authenticated_and_unknown_versions_are_refused() {
    let ring = ring_with(1, 7);
    let random = CountingRandom::default();
    let session = realistic_session(&random);
    let sealed = SessionConfig::default()
        .seal(&ring, &random, COOKIE, &session)
        .unwrap();
    let relabel = |version: u8| {
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        bytes[0] = version;
        let value = URL_SAFE_NO_PAD.encode(bytes);
        open_session(&ring, &value, t0())
            .unwrap_err()
            .cause_for_audit()
    };
    // Relabelling a binary value as JSON (or back) fails authentication: the version is in the
    // associated data.
    assert_eq!(relabel(1), UnsealCause::Forged);
    for version in [0, 3, 0x7b, 0xff] {
        assert_eq!(
            relabel(version),
            UnsealCause::UnknownVersion,
            "version {version}"
        );
    }
}

#[test]
fn a_binary_session_is_not_opened_as_a_json_value() {
    let ring = ring_with(1, 7);
    let random = CountingRandom::default();
    let sealed = SessionConfig::default()
        .seal(&ring, &random, COOKIE, &realistic_session(&random))
        .unwrap();
    let result = ring.open::<Session>(SESSION_PURPOSE, COOKIE, t0(), &sealed);
    assert_eq!(
        result.unwrap_err().cause_for_audit(),
        UnsealCause::MalformedPayload
    );
}

#[test]
fn authentic_but_malformed_binary_payloads_are_refused() {
    let ring = ring_with(1, 7);
    let random = CountingRandom::default();
    let expires = t0() + TimeDelta::minutes(5);
    let good = encoded(&realistic_session(&random));
    let mut trailing = good.clone();
    trailing.push(0);
    for payload in [
        Vec::new(),
        good[..good.len() - 1].to_vec(),
        trailing,
        b"{\"sub\":\"x\"}".to_vec(),
        vec![0xff; 64],
    ] {
        let sealed = ring
            .seal_encoded(
                &random,
                SESSION_PURPOSE,
                COOKIE,
                expires,
                Encoding::SessionBinary,
                |out| {
                    out.extend_from_slice(&payload);
                    Ok(())
                },
            )
            .unwrap();
        assert_eq!(
            open_session(&ring, &sealed, t0())
                .unwrap_err()
                .cause_for_audit(),
            UnsealCause::MalformedPayload
        );
    }
}

#[test]
fn binary_layout_refuses_every_truncation_and_trailing_bytes() {
    let bytes = encoded(&session_with_every_field(&CountingRandom::default()));
    for len in 0..bytes.len() {
        assert_eq!(encoding::decode(&bytes[..len]), None, "cut at {len}");
    }
    let mut longer = bytes;
    longer.extend_from_slice(b"x");
    assert_eq!(encoding::decode(&longer), None);
}

#[test]
fn binary_layout_refuses_unknown_tags_flags_and_counts() {
    let session = session_with_every_field(&CountingRandom::default());
    let bytes = encoded(&session);
    let with = |index: usize, value: u8| {
        let mut changed = bytes.clone();
        changed[index] = value;
        encoding::decode(&changed)
    };
    assert_eq!(with(0, 3), None, "level 3");
    assert_eq!(with(1, 5), None, "unknown source");
    assert_eq!(with(2, 0b1_0000 | bytes[2]), None, "unknown flag");
    // The subject's length prefix says more bytes than the payload holds.
    assert_eq!(with(3, 0xff), None, "subject longer than the payload");
    // Invalid UTF-8 in the subject ("c3ViamVjdA" starts at byte 5).
    assert_eq!(with(5, 0xc3), None, "invalid UTF-8");

    // Step-up count over the limit, and a malformed step-up entry.
    let mut session_with_many = Session::new(
        "s",
        Assurance::new(None, "i", SourceKind::IdTokenAcr, None),
        t0(),
        &CountingRandom::default(),
    )
    .unwrap();
    for seconds in 0..16 {
        session_with_many.record_step_up(Level::Two, Some(seconds));
    }
    let mut many = encoded(&session_with_many);
    assert!(encoding::decode(&many).is_some());
    let csrf_len = session_with_many.csrf_token().secret().len();
    let count_at = many.len() - 2 - csrf_len - 16 * 6 - 1;
    assert_eq!(many[count_at], 16);
    many[count_at] = 17;
    assert_eq!(encoding::decode(&many), None, "17 step-ups");
    many[count_at] = 16;
    // The second step-up (level byte at count + 7) has a max age of 1 second.
    let flag_at = count_at + 8;
    many[flag_at] = 2;
    assert_eq!(encoding::decode(&many), None, "max-age flag 2");
    many[flag_at] = 0;
    assert_eq!(encoding::decode(&many), None, "max age without its flag");

    // auth_time nanoseconds of a whole second or more.
    let auth_nanos_at = bytes.len() - 2 - session.csrf_token().secret().len() - 1 - 2 * 6 - 16 - 4;
    let mut nanos = bytes.clone();
    assert_eq!(
        nanos[auth_nanos_at..auth_nanos_at + 4],
        123_456_789u32.to_be_bytes()
    );
    nanos[auth_nanos_at..auth_nanos_at + 4].copy_from_slice(&1_000_000_000u32.to_be_bytes());
    assert_eq!(encoding::decode(&nanos), None, "nanoseconds out of range");
}

#[test]
fn a_session_field_too_long_for_the_layout_does_not_seal() {
    let random = CountingRandom::default();
    let ring = ring_with(1, 7);
    let session = Session::new(
        "s".repeat(70_000),
        Assurance::new(None, "i", SourceKind::IdTokenAcr, None),
        t0(),
        &random,
    )
    .unwrap();
    assert_eq!(
        encoding::encode(&session, &mut Vec::new()),
        Err(encoding::FieldTooLong)
    );
    let error = SessionConfig::default()
        .seal(&ring, &random, COOKIE, &session)
        .unwrap_err();
    assert!(matches!(error, SealError::Serialize(_)), "{error:?}");
    // A long subject that fits the layout but not a cookie is refused by the size limit.
    let long = Session::new(
        "s".repeat(3_000),
        Assurance::new(None, "i", SourceKind::IdTokenAcr, None),
        t0(),
        &random,
    )
    .unwrap();
    let error = SessionConfig::default()
        .seal(&ring, &random, COOKIE, &long)
        .unwrap_err();
    assert!(matches!(error, SealError::TooLarge { .. }), "{error:?}");
}

proptest! {
    #[test]
    fn binary_layout_never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = encoding::decode(&bytes);
    }
}

#[test]
fn long_purposes_and_cookie_names_are_bound_as_well() {
    // Over the inline buffer of the associated data: built on the heap, same binding.
    let ring = ring_with(1, 7);
    let purpose = "p".repeat(120);
    let random = CountingRandom::default();
    let sealed = ring
        .seal(
            &random,
            &purpose,
            COOKIE,
            t0() + TimeDelta::hours(1),
            &payload(),
        )
        .unwrap();
    let opened: Payload = ring.open(&purpose, COOKIE, t0(), &sealed).unwrap();
    assert_eq!(opened, payload());
    let other = "p".repeat(119);
    assert_eq!(
        cause(ring.open(&other, COOKIE, t0(), &sealed)),
        UnsealCause::Forged
    );
}

#[test]
fn a_cookie_on_a_narrower_path_is_secure_prefixed_over_https_since_host_needs_path_root() {
    let cookies =
        CookieSettings::for_public_url(&"https://dichvucong.example.vn/".parse().unwrap()).unwrap();
    let name = cookies.path_cookie_name("wardgate-logout-hint");
    assert_eq!(name, "__Secure-wardgate-logout-hint");
    assert_eq!(
        cookies
            .set_cookie_at(&name, "AQE", TimeDelta::hours(8), "/logout")
            .unwrap(),
        "__Secure-wardgate-logout-hint=AQE; Path=/logout; Max-Age=28800; HttpOnly; SameSite=Lax; Secure"
    );
    assert_eq!(
        cookies.removal_at(&name, "/logout").unwrap(),
        "__Secure-wardgate-logout-hint=; Path=/logout; Max-Age=0; HttpOnly; SameSite=Lax; Secure"
    );
    let local = CookieSettings::for_public_url(&"http://127.0.0.1:8080/".parse().unwrap()).unwrap();
    assert_eq!(
        local.path_cookie_name("wardgate-logout-hint"),
        "wardgate-logout-hint"
    );
    // A path that could add attributes, or a relative one, is refused.
    for path in ["/logout; Domain=example.vn", "logout", "/log out"] {
        assert_eq!(
            cookies.set_cookie_at(&name, "AQE", TimeDelta::hours(8), path),
            Err(CookieValueError::InvalidValue),
            "{path}"
        );
    }
}
