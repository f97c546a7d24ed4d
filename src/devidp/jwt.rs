//! A small JWS compact-serialisation signer on ring, for the simulator's ID tokens.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair,
    Ed25519KeyPair, KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair,
    RsaPublicKeyComponents, UnparsedPublicKey,
};

use super::SigningAlgorithm;

/// The RSA key used for RS256: a public test key committed to the repository. It protects nothing.
const DEV_RSA_2048_PKCS8: &[u8] = include_bytes!("dev_rsa_2048.pk8");

/// Building a signing key failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyError {
    /// ring could not generate a key.
    #[error("could not generate the {alg} signing key")]
    Generate {
        /// The JWS algorithm name.
        alg: &'static str,
    },
    /// ring rejected a key.
    #[error("the {alg} signing key was rejected: {reason}")]
    Rejected {
        /// The JWS algorithm name.
        alg: &'static str,
        /// ring's description of the problem.
        reason: String,
    },
}

/// Signing a JWT failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SignError {
    /// The claims could not be serialised.
    #[error("could not serialise the token claims: {0}")]
    Claims(#[source] serde_json::Error),
    /// ring failed to sign.
    #[error("the {alg} signature failed")]
    Signature {
        /// The JWS algorithm name.
        alg: &'static str,
    },
}

enum Key {
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

/// One signing key with its JWK and key id (RFC 7638 thumbprint).
pub(crate) struct Signer {
    key: Key,
    kid: String,
    rng: SystemRandom,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("alg", &self.alg())
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for `algorithm`: a fresh key for ES256 and EdDSA, the committed dev key for RS256.
    pub(crate) fn new(algorithm: SigningAlgorithm) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let alg = algorithm.as_str();
        let rejected = |e: ring::error::KeyRejected| KeyError::Rejected {
            alg,
            reason: e.to_string(),
        };
        let key = match algorithm {
            SigningAlgorithm::Es256 => {
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| KeyError::Generate { alg })?;
                Key::Es256(
                    EcdsaKeyPair::from_pkcs8(
                        &ECDSA_P256_SHA256_FIXED_SIGNING,
                        pkcs8.as_ref(),
                        &rng,
                    )
                    .map_err(rejected)?,
                )
            }
            SigningAlgorithm::EdDsa => {
                let pkcs8 =
                    Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Generate { alg })?;
                Key::EdDsa(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(rejected)?)
            }
            SigningAlgorithm::Rs256 => {
                Key::Rs256(RsaKeyPair::from_pkcs8(DEV_RSA_2048_PKCS8).map_err(rejected)?)
            }
        };
        let mut signer = Self {
            key,
            kid: String::new(),
            rng,
        };
        signer.kid = signer.thumbprint();
        Ok(signer)
    }

    /// The JWS `alg` name.
    pub(crate) fn alg(&self) -> &'static str {
        match self.key {
            Key::Es256(_) => SigningAlgorithm::Es256.as_str(),
            Key::Rs256(_) => SigningAlgorithm::Rs256.as_str(),
            Key::EdDsa(_) => SigningAlgorithm::EdDsa.as_str(),
        }
    }

    /// The public members of the JWK (RFC 7517, RFC 7518 §6, RFC 8037 §2), without metadata.
    fn public_members(&self) -> Vec<(&'static str, String)> {
        match &self.key {
            Key::Es256(pair) => {
                // RFC 7518 §6.2.1: x and y are the 32-byte coordinates of the uncompressed point
                // 0x04 || X || Y that ring returns.
                let point = pair.public_key().as_ref();
                let (x, y) = match point.get(1..) {
                    Some(coords) if coords.len() == 64 => coords.split_at(32),
                    _ => (&[][..], &[][..]),
                };
                vec![
                    ("crv", "P-256".to_owned()),
                    ("kty", "EC".to_owned()),
                    ("x", URL_SAFE_NO_PAD.encode(x)),
                    ("y", URL_SAFE_NO_PAD.encode(y)),
                ]
            }
            Key::Rs256(pair) => {
                // RFC 7518 §6.3.1: n and e big-endian without leading zeros.
                let components: RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
                vec![
                    ("e", URL_SAFE_NO_PAD.encode(&components.e)),
                    ("kty", "RSA".to_owned()),
                    ("n", URL_SAFE_NO_PAD.encode(&components.n)),
                ]
            }
            Key::EdDsa(pair) => vec![
                // RFC 8037 §2: an OKP key with the 32-byte public key as x.
                ("crv", "Ed25519".to_owned()),
                ("kty", "OKP".to_owned()),
                ("x", URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())),
            ],
        }
    }

    /// RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order, no spaces.
    fn thumbprint(&self) -> String {
        let members: Vec<String> = self
            .public_members()
            .into_iter()
            .map(|(name, value)| format!("\"{name}\":\"{value}\""))
            .collect();
        let canonical = format!("{{{}}}", members.join(","));
        let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
        URL_SAFE_NO_PAD.encode(digest.as_ref())
    }

    /// The public JWK with `kid`, `alg` and `use`.
    pub(crate) fn jwk(&self) -> serde_json::Value {
        let mut jwk = serde_json::Map::new();
        for (name, value) in self.public_members() {
            jwk.insert(name.to_owned(), serde_json::Value::String(value));
        }
        jwk.insert("kid".to_owned(), self.kid.clone().into());
        jwk.insert("alg".to_owned(), self.alg().into());
        jwk.insert("use".to_owned(), "sig".into());
        serde_json::Value::Object(jwk)
    }

    /// Signs `claims` as a compact JWS with header `{"alg", "typ": "JWT", "kid"}`.
    pub(crate) fn sign(&self, claims: &serde_json::Value) -> Result<String, SignError> {
        let header = serde_json::json!({ "alg": self.alg(), "typ": "JWT", "kid": self.kid });
        let header = serde_json::to_vec(&header).map_err(SignError::Claims)?;
        let payload = serde_json::to_vec(claims).map_err(SignError::Claims)?;
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let failed = SignError::Signature { alg: self.alg() };
        let signature = match &self.key {
            Key::Es256(pair) => pair
                .sign(&self.rng, signing_input.as_bytes())
                .map_err(|_| failed)?
                .as_ref()
                .to_vec(),
            Key::EdDsa(pair) => pair.sign(signing_input.as_bytes()).as_ref().to_vec(),
            Key::Rs256(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &self.rng,
                    signing_input.as_bytes(),
                    &mut signature,
                )
                .map_err(|_| failed)?;
                signature
            }
        };
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// The claims of `token` when it is a compact JWS this signer made: header `alg` and `kid`
    /// are this key's, and the signature verifies with its public key. Expiry is not checked.
    pub(crate) fn verify(&self, token: &str) -> Option<serde_json::Value> {
        let (signing_input, signature) = token.rsplit_once('.')?;
        let (header, payload) = signing_input.split_once('.')?;
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
        if header.get("alg")?.as_str()? != self.alg() || header.get("kid")?.as_str()? != self.kid {
            return None;
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let message = signing_input.as_bytes();
        let verified = match &self.key {
            Key::Es256(pair) => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pair.public_key())
                .verify(message, &signature),
            Key::EdDsa(pair) => {
                UnparsedPublicKey::new(&ED25519, pair.public_key()).verify(message, &signature)
            }
            Key::Rs256(pair) => {
                let components: RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
                components.verify(&RSA_PKCS1_2048_8192_SHA256, message, &signature)
            }
        };
        verified.ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
    }
}
