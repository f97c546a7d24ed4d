//! The resumable referral ticket: a short code to read aloud, a signed QR code for the counter.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::Random;
use crate::keys::{JwsError, KeyError, SigningKey, VerifyingKey};
use crate::policy::{ProcedureCode, ReasonCode};
use crate::pseudonym::SubjectPseudonym;
use crate::store::DraftId;

use super::WardCode;
use super::referral::Referral;

/// The 31 symbols of ticket codes: digits and capital letters without I, L, O, U (easily
/// confused) and W (long to say in Vietnamese). 31 is prime, which lets one check character
/// catch every single-symbol typo and every swap of two symbols.
pub const ALPHABET: &str = "0123456789ABCDEFGHJKMNPQRSTVXYZ";

/// Number of random symbols in a code.
const RANDOM_SYMBOLS: usize = 9;
/// Symbols in a code: 2 prefix + random + 1 check.
const CODE_SYMBOLS: usize = 2 + RANDOM_SYMBOLS + 1;
/// The modulus of the check (the alphabet size, a prime).
const MODULUS: u32 = 31;
/// The inverse of the check symbol's weight (12) modulo 31: 12 × 13 = 156 = 5 × 31 + 1.
const CHECK_WEIGHT_INVERSE: u32 = 13;
/// Default lifetime of a ticket.
pub const DEFAULT_VALIDITY_DAYS: i64 = 14;
/// JWS `typ` of a signed ticket.
pub const TICKET_JWS_TYPE: &str = "wardgate-ticket+jws";

/// A ticket code such as `TS-7K4M9-XQ2PR`: the ward's two-symbol prefix, nine random symbols
/// and a check symbol.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TicketCode([u8; CODE_SYMBOLS]);

impl TicketCode {
    /// A fresh code for a ward with `prefix`.
    ///
    /// # Errors
    ///
    /// [`TicketError::BadPrefix`] when `prefix` is not two alphabet symbols;
    /// [`TicketError::Random`] when the generator fails.
    pub fn generate(prefix: &str, random: &dyn Random) -> Result<Self, TicketError> {
        let mut values = [0u8; CODE_SYMBOLS];
        let mut prefix_values = prefix.chars().map(symbol_value);
        match (
            prefix_values.next(),
            prefix_values.next(),
            prefix_values.next(),
        ) {
            (Some(Some(a)), Some(Some(b)), None) => {
                values[0] = a;
                values[1] = b;
            }
            _ => return Err(TicketError::BadPrefix),
        }
        let mut filled = 2;
        // Rejection sampling: bytes below 248 = 8 × 31 map uniformly onto the alphabet.
        for _ in 0..16 {
            let mut bytes = [0u8; 32];
            random.fill(&mut bytes).map_err(|_| TicketError::Random)?;
            for b in bytes {
                if filled == 2 + RANDOM_SYMBOLS {
                    break;
                }
                if u32::from(b) < 8 * MODULUS {
                    if let Some(slot) = values.get_mut(filled) {
                        *slot = (u32::from(b) % MODULUS) as u8;
                    }
                    filled += 1;
                }
            }
            if filled == 2 + RANDOM_SYMBOLS {
                let check = check_value(&values[..CODE_SYMBOLS - 1]);
                if let Some(last) = values.last_mut() {
                    *last = check;
                }
                return Ok(Self(values));
            }
        }
        Err(TicketError::Random)
    }

    /// Parses a code as a person typed it: any case, spaces and dashes anywhere, `O` for `0`,
    /// `I`/`L` for `1` and `U` for `V`.
    ///
    /// # Errors
    ///
    /// [`TicketError::BadCode`] when it has the wrong length, a symbol outside the alphabet or
    /// a wrong check symbol (a typo).
    pub fn parse(typed: &str) -> Result<Self, TicketError> {
        let mut values = [0u8; CODE_SYMBOLS];
        let mut n = 0;
        for c in typed.chars() {
            if c.is_whitespace() || c == '-' || c == '.' || c == '_' {
                continue;
            }
            let c = match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                'U' => 'V',
                other => other,
            };
            let value = symbol_value(c).ok_or(TicketError::BadCode)?;
            *values.get_mut(n).ok_or(TicketError::BadCode)? = value;
            n += 1;
        }
        if n != CODE_SYMBOLS || !weighted_sum(&values).is_multiple_of(MODULUS) {
            return Err(TicketError::BadCode);
        }
        Ok(Self(values))
    }

    /// The two-symbol ward prefix.
    pub fn prefix(&self) -> String {
        self.0.iter().take(2).map(|v| symbol(*v)).collect()
    }
}

impl fmt::Display for TicketCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i == 2 || i == 7 {
                f.write_str("-")?;
            }
            write!(f, "{}", symbol(*v))?;
        }
        Ok(())
    }
}

impl fmt::Debug for TicketCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TicketCode({self})")
    }
}

impl Serialize for TicketCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TicketCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

fn symbol_value(c: char) -> Option<u8> {
    ALPHABET.find(c).map(|i| i as u8)
}

fn symbol(value: u8) -> char {
    ALPHABET.chars().nth(usize::from(value)).unwrap_or('0')
}

/// Σ (position + 1) × value: weights 1..=12 are distinct and non-zero modulo 31.
fn weighted_sum(values: &[u8]) -> u32 {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| (i as u32 + 1) * u32::from(*v))
        .sum()
}

/// The check value that makes the weighted sum of all twelve symbols divisible by 31.
fn check_value(body: &[u8]) -> u8 {
    let rest = weighted_sum(body) % MODULUS;
    (((MODULUS - rest) % MODULUS * CHECK_WEIGHT_INVERSE) % MODULUS) as u8
}

/// A referral ticket: what the counter needs to pick up where the resident left off.
///
/// Holds no personal data: the dossier stays in the draft it points to. A ticket taken signed
/// in names its owner by subject pseudonym, in the store only: the signed ticket (the QR code)
/// never carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Ticket {
    /// The code the resident reads out.
    pub code: TicketCode,
    /// The procedure.
    pub procedure: ProcedureCode,
    /// The ward.
    pub ward: WardCode,
    /// The reception point chosen.
    pub reception_point: String,
    /// Why the resident was referred.
    pub reason: ReasonCode,
    /// The saved draft of the dossier, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft: Option<DraftId>,
    /// When issued.
    pub issued_at: DateTime<Utc>,
    /// When it stops being valid.
    pub expires_at: DateTime<Utc>,
    /// The subject pseudonym of the resident who took it signed in; `None` when taken signed
    /// out (its code is then the only reference). Stored, never signed into the QR code.
    #[serde(skip)]
    pub owner: Option<SubjectPseudonym>,
}

impl Ticket {
    /// Whether the resident `reader` (their subject pseudonym, `None` when signed out) may see
    /// and act on this ticket: anyone for a ticket taken signed out, only its owner otherwise.
    pub fn open_to(&self, reader: Option<&str>) -> bool {
        match &self.owner {
            None => true,
            Some(owner) => reader == Some(owner.as_str()),
        }
    }
}

/// A ticket with its compact JWS (what the QR code holds).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SignedTicket {
    /// The ticket.
    pub ticket: Ticket,
    /// The ticket signed with Ed25519 (compact JWS).
    pub jws: String,
}

impl SignedTicket {
    /// The QR code of the JWS, as an SVG document.
    ///
    /// # Errors
    ///
    /// [`TicketError::Qr`] when the data does not fit a QR code.
    pub fn qr_svg(&self) -> Result<String, TicketError> {
        qr_svg(&self.jws)
    }

    /// The link printed on the ticket as a QR code: the staff ticket page of this code at
    /// `base` (the gateway's public URL), so an officer opens it with any phone camera; the
    /// signed ticket follows `#`, which a browser never sends, so it can still be verified
    /// offline.
    pub fn staff_link(&self, base: &url::Url) -> String {
        let mut link = base.clone();
        link.set_path("/staff/tickets");
        link.set_query(Some(&format!("code={}", self.ticket.code)));
        link.set_fragment(Some(&self.jws));
        link.to_string()
    }

    /// The QR code of [`staff_link`](Self::staff_link), as an SVG document.
    ///
    /// # Errors
    ///
    /// [`TicketError::Qr`] when the link does not fit a QR code.
    pub fn staff_link_qr_svg(&self, base: &url::Url) -> Result<String, TicketError> {
        qr_svg(&self.staff_link(base))
    }
}

fn qr_svg(data: &str) -> Result<String, TicketError> {
    let code = qrcode::QrCode::with_error_correction_level(data, qrcode::EcLevel::M)
        .map_err(|_| TicketError::Qr)?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .build())
}

/// Issues signed tickets.
#[derive(Debug, Clone)]
pub struct TicketIssuer {
    key: Arc<SigningKey>,
    validity: Duration,
}

impl TicketIssuer {
    /// An issuer signing with `key`; tickets last [`DEFAULT_VALIDITY_DAYS`].
    pub fn new(key: Arc<SigningKey>) -> Self {
        Self {
            key,
            validity: Duration::days(DEFAULT_VALIDITY_DAYS),
        }
    }

    /// Sets how long tickets last.
    #[must_use]
    pub fn validity(mut self, validity: Duration) -> Self {
        self.validity = validity;
        self
    }

    /// Issues a ticket for `referral`, linked to `draft`. Save it with
    /// [`Store::save_ticket`](crate::store::Store::save_ticket) so a typed code can be looked up.
    ///
    /// # Errors
    ///
    /// [`TicketError::Random`] or [`TicketError::Sign`].
    pub fn issue(
        &self,
        referral: &Referral,
        draft: Option<DraftId>,
        now: DateTime<Utc>,
        random: &dyn Random,
    ) -> Result<SignedTicket, TicketError> {
        let ticket = Ticket {
            code: TicketCode::generate(&referral.ward.ticket_prefix, random)?,
            procedure: referral.procedure.code,
            ward: referral.ward.code,
            reception_point: referral.point.id.clone(),
            reason: referral.reason,
            draft,
            issued_at: now,
            expires_at: now + self.validity,
            owner: None,
        };
        self.sign(ticket)
    }

    /// Signs an existing ticket, for example one read back from the store to print it again.
    ///
    /// # Errors
    ///
    /// [`TicketError::Payload`] or [`TicketError::Sign`].
    pub fn sign(&self, ticket: Ticket) -> Result<SignedTicket, TicketError> {
        let payload = serde_json::to_vec(&ticket).map_err(|_| TicketError::Payload)?;
        let jws = self
            .key
            .sign(TICKET_JWS_TYPE, &payload)
            .map_err(TicketError::Sign)?;
        Ok(SignedTicket { ticket, jws })
    }
}

/// Verifies signed tickets offline with the public keys (for the counter).
#[derive(Debug, Clone)]
pub struct TicketVerifier {
    keys: Vec<VerifyingKey>,
}

impl TicketVerifier {
    /// A verifier trusting `keys`.
    pub fn new(keys: Vec<VerifyingKey>) -> Self {
        Self { keys }
    }

    /// A verifier trusting the keys of a JWKS document.
    ///
    /// # Errors
    ///
    /// [`TicketError::Key`] when a key is not an Ed25519 JWK.
    pub fn from_jwks(jwks: &serde_json::Value) -> Result<Self, TicketError> {
        let keys = jwks["keys"]
            .as_array()
            .map(|keys| {
                keys.iter()
                    .map(VerifyingKey::from_jwk)
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap_or(Ok(Vec::new()))
            .map_err(TicketError::Key)?;
        Ok(Self { keys })
    }

    /// Verifies `jws` and returns the ticket if it is still valid at `now`.
    ///
    /// # Errors
    ///
    /// [`TicketError::Jws`] when no trusted key verifies it, [`TicketError::Payload`] when
    /// the payload is not a ticket, [`TicketError::Expired`] when past `expires_at`.
    pub fn verify(&self, jws: &str, now: DateTime<Utc>) -> Result<Ticket, TicketError> {
        let mut last = JwsError::UnknownKey;
        for key in &self.keys {
            match key.verify_typed(jws, Some(TICKET_JWS_TYPE)) {
                Ok(payload) => {
                    let ticket: Ticket =
                        serde_json::from_slice(&payload).map_err(|_| TicketError::Payload)?;
                    if now >= ticket.expires_at {
                        return Err(TicketError::Expired {
                            expired_at: ticket.expires_at,
                        });
                    }
                    return Ok(ticket);
                }
                Err(JwsError::UnknownKey) => {}
                Err(error) => last = error,
            }
        }
        Err(TicketError::Jws(last))
    }
}

/// Issuing, parsing or verifying a ticket failed.
#[non_exhaustive]
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// The code has the wrong length, a symbol outside the alphabet or a wrong check symbol.
    #[error("the ticket code is not valid: check it for a typo")]
    BadCode,
    /// The ward's prefix is not two alphabet symbols.
    #[error("the ticket prefix must be two symbols of the ticket alphabet")]
    BadPrefix,
    /// The random generator failed.
    #[error("the random generator failed while making a ticket code")]
    Random,
    /// Signing failed.
    #[error("signing the ticket failed: {0}")]
    Sign(#[source] KeyError),
    /// A trusted key is not usable.
    #[error("a ticket verification key is not usable: {0}")]
    Key(#[source] KeyError),
    /// The signature does not verify.
    #[error("the ticket signature does not verify: {0}")]
    Jws(#[source] JwsError),
    /// The payload is not a ticket.
    #[error("the signed ticket payload is not a ticket")]
    Payload,
    /// The ticket has expired.
    #[error("the ticket expired at {expired_at}")]
    Expired {
        /// When it expired.
        expired_at: DateTime<Utc>,
    },
    /// The data does not fit a QR code.
    #[error("the ticket does not fit in a qr code")]
    Qr,
}
