//! Fixtures shared by the fuzz targets and the seed-corpus generator: fixed keys, a fixed time
//! and deterministic randomness, so that a seed sealed or signed by `seed_corpus` opens or
//! verifies in the targets, and a crash reproduces from its input alone.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, TimeZone as _, Utc};
use serde_json::{Map, Value};
use wardgate::clock::{Random, RandomError};
use wardgate::keys::SigningKey;
use wardgate::oidc::{IdTokenVerifier, Jwks};
use wardgate::session::{KeyId, KeyRing, SealingKey};

/// The issuer of the ID tokens the targets verify.
pub const ISSUER: &str = "https://sso.example.vn";
/// The client the ID tokens are for.
pub const CLIENT_ID: &str = "wardgate-fuzz";
/// The nonce the ID tokens must carry.
pub const NONCE: &str = "fuzz-nonce";
/// The session cookie's name in the targets.
pub const SESSION_COOKIE: &str = "__Host-wardgate-session";
/// The login-flow cookie's name in the targets.
pub const LOGIN_FLOW_COOKIE: &str = "__Host-wardgate-login";

/// The time every target runs at: Monday 2 March 2026, 09:00 in Vietnam.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// Deterministic bytes (xorshift): the same seeds every run.
#[derive(Debug)]
pub struct Deterministic(AtomicU64);

impl Deterministic {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(AtomicU64::new(seed.max(1)))
    }
}

impl Random for Deterministic {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError> {
        for byte in dest {
            let mut x = self.0.load(Ordering::Relaxed);
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0.store(x, Ordering::Relaxed);
            *byte = (x >> 24) as u8;
        }
        Ok(())
    }
}

/// The cookie key ring: one fixed key, id 1.
pub fn key_ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| {
        let key = SealingKey::from_bytes(&[7u8; 32]).expect("32 bytes are a sealing key");
        KeyRing::new(KeyId::new(1), key).expect("one key is a key ring")
    })
}

/// The Ed25519 key that signs ID tokens and tickets in the targets.
pub fn signing_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| {
        SigningKey::generate(&Deterministic::new(42))
            .expect("deterministic bytes make a key")
            .0
    })
}

/// The provider's key set: the public half of [`signing_key`].
pub fn jwks() -> &'static Jwks {
    static JWKS: OnceLock<Jwks> = OnceLock::new();
    JWKS.get_or_init(|| {
        let document = serde_json::to_vec(&signing_key().jwks()).expect("a JWKS serialises");
        Jwks::from_json(&document).expect("our own JWKS parses")
    })
}

/// The ID-token verifier for [`ISSUER`] and [`CLIENT_ID`].
pub fn id_token_verifier() -> &'static IdTokenVerifier {
    static VERIFIER: OnceLock<IdTokenVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| IdTokenVerifier::new(ISSUER, CLIENT_ID).expect("the issuer is a URL"))
}

/// `claims` completed with whatever an ID token needs and they lack (issuer, audience, subject,
/// times, nonce), so that mapping code after the signature check is reached; claims the input
/// sets are kept, so the checks themselves are fuzzed too.
pub fn complete_id_token_claims(claims: &Map<String, Value>) -> Map<String, Value> {
    let now = now().timestamp();
    let mut full = claims.clone();
    for (name, value) in [
        ("iss", Value::from(ISSUER)),
        ("aud", Value::from(CLIENT_ID)),
        ("sub", Value::from("fuzz-subject")),
        ("iat", Value::from(now - 10)),
        ("exp", Value::from(now + 300)),
        ("auth_time", Value::from(now - 20)),
        ("nonce", Value::from(NONCE)),
    ] {
        full.entry(name).or_insert(value);
    }
    full
}

/// Signs `claims` as an ID token (`typ` JWT) with [`signing_key`].
pub fn sign_id_token(claims: &Map<String, Value>) -> Option<String> {
    let payload = serde_json::to_vec(claims).ok()?;
    signing_key().sign("JWT", &payload).ok()
}
