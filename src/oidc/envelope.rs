//! Encrypted response bodies: the hook an operator plugs their provider's decryption into.

use std::fmt;

use serde_json::{Map, Value};

/// Opens a provider's encrypted response bodies and codes.
///
/// VNeID's direct integration is observed (domain brief §1.4 C) to answer the token and userinfo
/// requests with a JSON envelope `{"data": "<base64>", "key": "<base64>"}`: the body encrypted
/// with a fresh AES key, that key encrypted to the relying party's RSA public key. It may also
/// send the authorization code encrypted, with the key in a separate `encrypt_key` callback
/// parameter. The exact algorithms and paddings are **not publicly specified** (the observed
/// code disagrees with itself), so wardgate ships no production decryptor: the operator
/// implements [`EnvelopeDecryptor`] from the provider's onboarding documents and passes it to
/// [`ClientConfig::envelope_decryptor`](super::ClientConfig::envelope_decryptor).
///
/// Rules:
///
/// 1. A body is an envelope when it is a JSON object with exactly the string members `data`
///    and `key`; any profile may receive one.
/// 2. An envelope without a configured decryptor fails the login with
///    [`EnvelopeWithoutDecryptor`](super::LoginErrorKind::EnvelopeWithoutDecryptor); a
///    decryptor error fails it with [`Envelope`](super::LoginErrorKind::Envelope). Neither ever
///    falls back to treating the body as plain JSON.
/// 3. The opened body goes through the same size limit and checks as a plain one.
///
/// # Security
///
/// The envelope gives confidentiality beyond TLS, not authenticity: anyone can encrypt to the
/// relying party's public key. What the opened body says is trusted because it came over TLS
/// from the provider's endpoint in answer to this login's code and PKCE verifier, exactly as a
/// plain body would be.
///
/// # Example
///
/// ```
/// use wardgate::oidc::{EnvelopeDecryptor, EnvelopeError, EnvelopePart};
///
/// /// Opens the provider's envelopes with the portal's private key (details from onboarding).
/// #[derive(Debug)]
/// struct ProviderEnvelopes;
///
/// impl EnvelopeDecryptor for ProviderEnvelopes {
///     fn open(&self, part: EnvelopePart, body: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
///         // Unwrap the AES key with the private key, then decrypt `data` with it.
///         # let _ = body;
///         Err(EnvelopeError::Decryption { part })
///     }
/// }
/// ```
///
/// Implementations hold private keys: their `Debug` output must not print them.
pub trait EnvelopeDecryptor: Send + Sync + fmt::Debug {
    /// Opens one encrypted response body (the token response or the userinfo response); returns
    /// the plain JSON bytes.
    ///
    /// `body` is the whole response body, the envelope JSON as received.
    ///
    /// # Errors
    ///
    /// [`EnvelopeError`] when the envelope is malformed or does not decrypt.
    fn open(&self, part: EnvelopePart, body: &[u8]) -> Result<Vec<u8>, EnvelopeError>;

    /// Decrypts an authorization code that arrived encrypted with an `encrypt_key` callback
    /// parameter.
    ///
    /// # Errors
    ///
    /// By default [`EnvelopeError::CodeDecryptionUnsupported`]; an implementation returns
    /// [`EnvelopeError::CodeDecryption`] when the code does not decrypt.
    fn decrypt_code(&self, code: &str, encrypt_key: &str) -> Result<String, EnvelopeError> {
        let _ = (code, encrypt_key);
        Err(EnvelopeError::CodeDecryptionUnsupported)
    }
}

/// Which response an envelope carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EnvelopePart {
    /// The token endpoint's response.
    TokenResponse,
    /// The userinfo endpoint's response.
    Userinfo,
}

impl EnvelopePart {
    /// A stable snake_case name, for logs and associated data: `token_response` or `userinfo`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TokenResponse => "token_response",
            Self::Userinfo => "userinfo",
        }
    }
}

impl fmt::Display for EnvelopePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TokenResponse => "token response",
            Self::Userinfo => "userinfo response",
        })
    }
}

/// Why an envelope or an encrypted code could not be opened.
///
/// Messages never contain the body, the code or key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The envelope is not the expected JSON, or a member is not valid base64 or has the wrong
    /// length.
    #[error("the {part} envelope is malformed")]
    Malformed {
        /// Which response it was.
        part: EnvelopePart,
    },
    /// The key did not unwrap or the body did not decrypt and authenticate.
    #[error("the {part} envelope could not be decrypted")]
    Decryption {
        /// Which response it was.
        part: EnvelopePart,
    },
    /// The encrypted authorization code did not decrypt.
    #[error("the encrypted authorization code could not be decrypted")]
    CodeDecryption,
    /// This decryptor does not decrypt authorization codes.
    #[error("the decryptor does not support encrypted authorization codes")]
    CodeDecryptionUnsupported,
    /// The decryptor's own machinery failed (a key store, a hardware module).
    #[error("the decryptor failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Whether `body` is an envelope: a JSON object with exactly the string members `data` and
/// `key`.
pub(crate) fn is_envelope(body: &[u8]) -> bool {
    let Ok(object) = serde_json::from_slice::<Map<String, Value>>(body) else {
        return false;
    };
    object.len() == 2
        && object.get("data").is_some_and(Value::is_string)
        && object.get("key").is_some_and(Value::is_string)
}
