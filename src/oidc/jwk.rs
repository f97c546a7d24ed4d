//! Provider signing keys: a JSON Web Key type that verifies with ring, and the key-set cache.

use std::future::Future;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use openidconnect::core::{CoreJsonWebKeyType, CoreJsonWebKeyUse, CoreJwsSigningAlgorithm};
use openidconnect::{
    JsonWebKey, JsonWebKeyAlgorithm, JsonWebKeyId, JsonWebKeySet, SignatureVerificationError,
};
use ring::signature;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// The signature algorithms wardgate accepts on ID tokens. Never `none`, never HMAC (which an
/// attacker could key with the provider's *public* key).
pub(crate) const ALLOWED_ALGORITHMS: [CoreJwsSigningAlgorithm; 4] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// One provider public key, prepared for ring.
///
/// Implements openidconnect's `JsonWebKey` so its ID-token verifier checks signatures with ring
/// (about 7× faster than its stock RSA key type). Keys of unsupported types or sizes still
/// deserialise, so one odd key does not break a whole set, but they never verify anything.
#[derive(Clone, Debug)]
pub(crate) struct RingJwk(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    kid: Option<JsonWebKeyId>,
    kty: CoreJsonWebKeyType,
    key_use: Option<CoreJsonWebKeyUse>,
    alg: KeyAlgorithm,
    material: Material,
    raw: Map<String, Value>,
}

#[derive(Debug)]
enum KeyAlgorithm {
    Unspecified,
    Signing(CoreJwsSigningAlgorithm),
    Unsupported,
}

#[derive(Debug)]
enum Material {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    P256 { point: Vec<u8> },
    Ed25519 { x: Vec<u8> },
    Unusable,
}

fn b64(map: &Map<String, Value>, field: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(map.get(field)?.as_str()?.as_bytes())
        .ok()
}

impl RingJwk {
    fn from_map(raw: Map<String, Value>) -> Self {
        let str_field = |name: &str| raw.get(name).and_then(Value::as_str);
        let kty = match str_field("kty") {
            Some("RSA") => CoreJsonWebKeyType::RSA,
            Some("EC") => CoreJsonWebKeyType::EllipticCurve,
            Some("OKP") => CoreJsonWebKeyType::OctetKeyPair,
            _ => CoreJsonWebKeyType::Symmetric,
        };
        let key_use = str_field("use").map(|u| match u {
            "sig" => CoreJsonWebKeyUse::Signature,
            "enc" => CoreJsonWebKeyUse::Encryption,
            other => CoreJsonWebKeyUse::Other(other.to_owned()),
        });
        let alg = match raw.get("alg") {
            None => KeyAlgorithm::Unspecified,
            Some(value) => match serde_json::from_value::<CoreJwsSigningAlgorithm>(value.clone()) {
                Ok(alg) if ALLOWED_ALGORITHMS.contains(&alg) => KeyAlgorithm::Signing(alg),
                _ => KeyAlgorithm::Unsupported,
            },
        };
        let material = match (&kty, str_field("crv")) {
            (CoreJsonWebKeyType::RSA, _) => match (b64(&raw, "n"), b64(&raw, "e")) {
                // Below 2048 bits RSA is refused outright (ring refuses it too).
                (Some(n), Some(e)) if significant_bits(&n) >= 2048 => Material::Rsa { n, e },
                _ => Material::Unusable,
            },
            (CoreJsonWebKeyType::EllipticCurve, Some("P-256")) => {
                match (b64(&raw, "x"), b64(&raw, "y")) {
                    (Some(x), Some(y)) if x.len() == 32 && y.len() == 32 => {
                        let mut point = Vec::with_capacity(65);
                        point.push(0x04);
                        point.extend_from_slice(&x);
                        point.extend_from_slice(&y);
                        Material::P256 { point }
                    }
                    _ => Material::Unusable,
                }
            }
            (CoreJsonWebKeyType::OctetKeyPair, Some("Ed25519")) => match b64(&raw, "x") {
                Some(x) if x.len() == 32 => Material::Ed25519 { x },
                _ => Material::Unusable,
            },
            _ => Material::Unusable,
        };
        let kid = str_field("kid").map(|k| JsonWebKeyId::new(k.to_owned()));
        Self(Arc::new(Inner {
            kid,
            kty,
            key_use,
            alg,
            material,
            raw,
        }))
    }
}

fn significant_bits(big_endian: &[u8]) -> usize {
    let trimmed: &[u8] = match big_endian.iter().position(|b| *b != 0) {
        Some(start) => big_endian.get(start..).unwrap_or_default(),
        None => return 0,
    };
    match trimmed.first() {
        Some(first) => trimmed.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

impl Serialize for RingJwk {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RingJwk {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Map::<String, Value>::deserialize(deserializer).map(Self::from_map)
    }
}

impl JsonWebKey for RingJwk {
    type KeyUse = CoreJsonWebKeyUse;
    type SigningAlgorithm = CoreJwsSigningAlgorithm;

    fn key_id(&self) -> Option<&JsonWebKeyId> {
        self.0.kid.as_ref()
    }

    fn key_type(&self) -> &CoreJsonWebKeyType {
        &self.0.kty
    }

    fn key_use(&self) -> Option<&CoreJsonWebKeyUse> {
        self.0.key_use.as_ref()
    }

    fn signing_alg(&self) -> JsonWebKeyAlgorithm<&CoreJwsSigningAlgorithm> {
        match &self.0.alg {
            KeyAlgorithm::Unspecified => JsonWebKeyAlgorithm::Unspecified,
            KeyAlgorithm::Signing(alg) => JsonWebKeyAlgorithm::Algorithm(alg),
            KeyAlgorithm::Unsupported => JsonWebKeyAlgorithm::Unsupported,
        }
    }

    fn new_symmetric(_key: Vec<u8>) -> Self {
        // HMAC-signed ID tokens are never accepted: a symmetric "key" verifies nothing.
        Self::from_map(Map::new())
    }

    fn verify_signature(
        &self,
        signature_alg: &CoreJwsSigningAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureVerificationError> {
        let result = match (signature_alg, &self.0.material) {
            (CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, Material::Rsa { n, e }) => {
                signature::RsaPublicKeyComponents { n, e }.verify(
                    &signature::RSA_PKCS1_2048_8192_SHA256,
                    message,
                    signature,
                )
            }
            (CoreJwsSigningAlgorithm::RsaSsaPssSha256, Material::Rsa { n, e }) => {
                signature::RsaPublicKeyComponents { n, e }.verify(
                    &signature::RSA_PSS_2048_8192_SHA256,
                    message,
                    signature,
                )
            }
            // JWS ES256 signatures are the fixed-width r || s form; DER is refused.
            (CoreJwsSigningAlgorithm::EcdsaP256Sha256, Material::P256 { point }) => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, signature)
            }
            (CoreJwsSigningAlgorithm::EdDsa, Material::Ed25519 { x }) => {
                signature::UnparsedPublicKey::new(&signature::ED25519, x).verify(message, signature)
            }
            (_, Material::Unusable) => {
                return Err(SignatureVerificationError::InvalidKey(
                    "unsupported key type, curve or size".to_owned(),
                ));
            }
            _ => {
                return Err(SignatureVerificationError::UnsupportedAlg(
                    "algorithm not usable with this key".to_owned(),
                ));
            }
        };
        result.map_err(|_| SignatureVerificationError::CryptoError("bad signature".to_owned()))
    }

    fn hash_bytes(&self, bytes: &[u8], alg: &CoreJwsSigningAlgorithm) -> Result<Vec<u8>, String> {
        let algorithm = match (alg, &self.0.material) {
            (CoreJwsSigningAlgorithm::EdDsa, Material::Ed25519 { .. }) => &ring::digest::SHA512,
            (
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256
                | CoreJwsSigningAlgorithm::RsaSsaPssSha256
                | CoreJwsSigningAlgorithm::EcdsaP256Sha256,
                _,
            ) => &ring::digest::SHA256,
            _ => return Err("unsupported algorithm".to_owned()),
        };
        Ok(ring::digest::digest(algorithm, bytes).as_ref().to_vec())
    }
}

/// A provider's public signing keys (a JWKS document), prepared for verification.
///
/// Keys of unsupported types, curves or sizes (RSA below 2048 bits) are kept but never verify.
#[derive(Clone, Debug)]
pub struct Jwks(pub(crate) JsonWebKeySet<RingJwk>);

impl Jwks {
    /// Parses a JWKS document (`{"keys": [...]}`).
    ///
    /// # Errors
    ///
    /// [`JwksError`] when the document is not JSON or has no `keys` array.
    pub fn from_json(document: &[u8]) -> Result<Self, JwksError> {
        #[derive(Deserialize)]
        struct Document {
            keys: Vec<Value>,
        }
        let document: Document = serde_json::from_slice(document).map_err(|_| JwksError(()))?;
        let keys = document
            .keys
            .into_iter()
            .filter_map(|key| match key {
                Value::Object(map) => Some(RingJwk::from_map(map)),
                _ => None,
            })
            .collect();
        Ok(Self(JsonWebKeySet::new(keys)))
    }

    /// A set with no keys: verifies nothing.
    pub(crate) fn empty() -> Self {
        Self(JsonWebKeySet::new(Vec::new()))
    }

    /// The number of keys in the set, usable or not.
    pub fn len(&self) -> usize {
        self.0.keys().len()
    }

    /// Whether the set has no keys.
    pub fn is_empty(&self) -> bool {
        self.0.keys().is_empty()
    }
}

/// A JWKS document could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("the provider's key set is not a JWKS document")]
pub struct JwksError(());

/// The provider's keys, cached.
///
/// Refreshed when a token names a key the cache does not know (key rotation), at most once per
/// `min_refresh_interval`, so a flood of tokens with made-up key ids cannot make wardgate hammer
/// the provider. A failed refresh keeps the cached keys: tokens signed with known keys still
/// verify while the provider's key endpoint is down.
#[derive(Debug)]
pub(crate) struct JwksCache {
    state: std::sync::RwLock<CacheState>,
    refresh: tokio::sync::Mutex<()>,
    min_refresh_interval: Duration,
}

#[derive(Debug)]
struct CacheState {
    keys: Arc<Jwks>,
    last_attempt: Option<DateTime<Utc>>,
}

impl JwksCache {
    pub(crate) fn new(
        keys: Jwks,
        fetched_at: DateTime<Utc>,
        min_refresh_interval: Duration,
    ) -> Self {
        Self {
            state: std::sync::RwLock::new(CacheState {
                keys: Arc::new(keys),
                last_attempt: Some(fetched_at),
            }),
            refresh: tokio::sync::Mutex::new(()),
            min_refresh_interval,
        }
    }

    pub(crate) fn keys(&self) -> Arc<Jwks> {
        match self.state.read() {
            Ok(state) => Arc::clone(&state.keys),
            Err(poisoned) => Arc::clone(&poisoned.into_inner().keys),
        }
    }

    /// Refreshes with `fetch` unless a refresh was attempted within the minimum interval.
    /// Returns whether new keys were installed.
    pub(crate) async fn refresh<F, Fut>(&self, now: DateTime<Utc>, fetch: F) -> bool
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Option<Jwks>>,
    {
        // One refresh at a time; waiters then see the rate limit and return.
        let _guard = self.refresh.lock().await;
        let recently = match self.state.read() {
            Ok(state) => state.last_attempt,
            Err(poisoned) => poisoned.into_inner().last_attempt,
        }
        .is_some_and(|last| now - last < self.min_refresh_interval);
        if recently {
            return false;
        }
        let fetched = fetch().await;
        let mut state = match self.state.write() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        state.last_attempt = Some(now);
        match fetched {
            Some(keys) => {
                state.keys = Arc::new(keys);
                true
            }
            None => false,
        }
    }
}
