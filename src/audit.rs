//! The append-only, hash-chained audit trail of decisions, logins, submissions, referrals and
//! bookings.
//!
//! Rules this module enforces:
//!
//! 1. An [`AuditEvent`] holds only codes, enums and pseudonyms — no free text — so a token, an
//!    authorisation code, a citizen ID number or a name cannot be written into the trail: there
//!    is no field to put it in.
//! 2. Each [`AuditRecord`] carries `hash = SHA-256(prev_hash ‖ canonical(seq, at, subject,
//!    event))` ([`chain_hash`]); the first record's `prev_hash` is all zeros. Every store calls
//!    the same function, so hashes are identical on every backend.
//! 3. [`verify_chain`] finds an edited record, a missing record and records out of order, and
//!    names the sequence number; it returns the head so it can be compared with a copy kept
//!    elsewhere (which is what catches a truncated tail or a wholesale rewrite).
//! 4. Times are kept to whole microseconds ([`AuditEntry::new`]), the precision of PostgreSQL,
//!    so a record read back from any store hashes the same.
//!
//! # Example
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use wardgate::audit::{verify_chain, AuditEntry, AuditEvent, ChainHash, ReferralRecorded};
//! use wardgate::fallback::WardCode;
//! use wardgate::policy::{ProcedureCode, ReasonCode};
//!
//! let at = Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).single().ok_or("time")?;
//! let event = AuditEvent::Referral(ReferralRecorded::new(
//!     ProcedureCode::parse("1.001193")?,
//!     ReasonCode::NoEid,
//!     WardCode::parse("30316")?,
//! ));
//! let first = AuditEntry::new(at, None, event.clone()).seal(1, &ChainHash::GENESIS);
//! let second = AuditEntry::new(at, None, event).seal(2, &first.hash);
//! let head = verify_chain(&[first, second.clone()])?;
//! assert_eq!(head.hash, second.hash);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use chrono::{DateTime, SubsecRound as _, Utc};
use serde::{Deserialize, Serialize};

use crate::assurance::{Level, SourceKind};
use crate::fallback::{TicketCode, WardCode};
use crate::policy::{Decision, LoginFailure, ProcedureCode, ReasonCode};
use crate::pseudonym::SubjectPseudonym;
use crate::submission::DossierCode;

/// Something worth recording. Only codes, enums and pseudonyms: no free text.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuditEvent {
    /// A policy decision.
    Decision(DecisionRecorded),
    /// A login outcome.
    Login(LoginRecorded),
    /// A dossier was received online.
    Submission(SubmissionRecorded),
    /// A resident was referred to in-person service.
    Referral(ReferralRecorded),
    /// A slot was booked or cancelled.
    Booking(BookingRecorded),
    /// An officer recorded what became of a ticket at the counter.
    Counter(CounterRecorded),
}

impl AuditEvent {
    /// The ward the event concerns, when it names one (stores index it for statistics).
    pub fn ward(&self) -> Option<WardCode> {
        match self {
            Self::Decision(d) => d.ward,
            Self::Login(_) => None,
            Self::Submission(s) => Some(s.ward),
            Self::Referral(r) => Some(r.ward),
            Self::Booking(b) => Some(b.ward),
            Self::Counter(c) => Some(c.ward),
        }
    }

    /// The stable snake_case name of the kind.
    pub const fn kind_str(&self) -> &'static str {
        match self {
            Self::Decision(_) => "decision",
            Self::Login(_) => "login",
            Self::Submission(_) => "submission",
            Self::Referral(_) => "referral",
            Self::Booking(_) => "booking",
            Self::Counter(_) => "counter",
        }
    }

    /// The event recording `decision` for a resident of `ward` (when known).
    pub fn decision(decision: &Decision, ward: Option<WardCode>) -> Self {
        Self::Decision(DecisionRecorded::new(decision, ward))
    }
}

/// A policy decision.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecorded {
    /// The procedure.
    pub procedure: ProcedureCode,
    /// The resident's ward, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ward: Option<WardCode>,
    /// The outcome.
    pub outcome: DecisionOutcome,
    /// Why.
    pub reason: ReasonCode,
    /// How many identical decisions this record stands for: the same decision for the same
    /// subject, procedure and ward, made repeatedly (page reloads, API polling) within a short
    /// window starting at the record's time, is recorded once with its count. Absent, and 1, for
    /// a single decision, so records written before the field existed hash the same.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if signature"
)]
fn is_one(count: &u32) -> bool {
    *count == 1
}

impl DecisionRecorded {
    /// The record of one `decision` for a resident of `ward` (when known).
    pub fn new(decision: &Decision, ward: Option<WardCode>) -> Self {
        let outcome = match decision {
            Decision::InPerson(_) => DecisionOutcome::InPerson,
            Decision::Online(_) => DecisionOutcome::Online,
            Decision::SignIn(_) => DecisionOutcome::SignIn,
            Decision::StepUp(_) => DecisionOutcome::StepUp,
        };
        Self {
            procedure: decision.procedure(),
            ward,
            outcome,
            reason: decision.reason(),
            count: 1,
        }
    }

    /// The same decision standing for `count` identical ones.
    #[must_use]
    pub fn with_count(mut self, count: u32) -> Self {
        self.count = count;
        self
    }
}

/// The outcome of a decision, as recorded.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionOutcome {
    /// Online submission allowed.
    Online,
    /// Sign-in asked.
    SignIn,
    /// Step-up asked.
    StepUp,
    /// Referred in person.
    InPerson,
}

/// A login outcome.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRecorded {
    /// How it ended.
    pub result: LoginResult,
    /// The level reached, when the login succeeded and the level was recognised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    /// Where the level came from, when the login succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceKind>,
    /// Whether a verified, signed ID token backed the login (`false`: the identity and level
    /// came from an unsigned userinfo answer, as with VNeID direct). Written only when `false`,
    /// so records from before the flag keep their hash.
    #[serde(default = "signed_by_default", skip_serializing_if = "is_signed")]
    pub signed_id_token: bool,
}

fn signed_by_default() -> bool {
    true
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_signed(signed: &bool) -> bool {
    *signed
}

/// How a login ended.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginResult {
    /// Verified.
    Succeeded,
    /// The provider reported a failure.
    Failed(LoginFailure),
    /// The answer did not verify (state, signature, nonce, issuer, ...).
    Rejected,
}

/// A dossier received online.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionRecorded {
    /// The dossier code on the receipt.
    pub dossier_code: DossierCode,
    /// The procedure.
    pub procedure: ProcedureCode,
    /// The ward that receives it.
    pub ward: WardCode,
    /// The level used.
    pub level: Level,
    /// How it was received. Online records leave it out, so records written before the counter
    /// existed keep their hash.
    #[serde(default, skip_serializing_if = "Channel::is_online")]
    pub channel: Channel,
    /// Whether the level used rests on a verified, signed ID token; written only when `false`.
    #[serde(default = "signed_by_default", skip_serializing_if = "is_signed")]
    pub signed_id_token: bool,
    /// The label of the assisted device it was filed from (a team or a desk, such as "Tổ
    /// CNSCĐ khóm Xuân Hòa"; never a person's name). Written only for assisted devices, so
    /// earlier records keep their hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assisted_by: Option<String>,
}

/// How a dossier reached the ward.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Filed online by the resident.
    #[default]
    Online,
    /// Taken in by an officer at the counter.
    Counter,
}

impl Channel {
    /// Whether this is [`Channel::Online`].
    pub fn is_online(&self) -> bool {
        *self == Self::Online
    }

    /// The stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Counter => "counter",
        }
    }
}

/// What an officer recorded for a ticket at the counter: the resident came, and the dossier was
/// taken in, or not. The officer is the entry's subject (a pseudonym).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterRecorded {
    /// The ward.
    pub ward: WardCode,
    /// Where: the reception point.
    pub point: PointRef,
    /// The ticket the resident brought.
    pub ticket: TicketCode,
    /// The procedure filed (for `received`) or the ticket's procedure.
    pub procedure: ProcedureCode,
    /// What happened.
    pub outcome: CounterOutcome,
    /// The dossier code, for a dossier received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dossier_code: Option<DossierCode>,
}

impl CounterRecorded {
    /// The event for `outcome` of `ticket` at `point`.
    pub fn new(
        ward: WardCode,
        point: PointRef,
        ticket: TicketCode,
        procedure: ProcedureCode,
        outcome: CounterOutcome,
        dossier_code: Option<DossierCode>,
    ) -> Self {
        Self {
            ward,
            point,
            ticket,
            procedure,
            outcome,
            dossier_code,
        }
    }
}

/// What became of a resident's visit to the counter.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CounterOutcome {
    /// The dossier was taken in, for a named procedure: it counts as an in-person dossier.
    Received,
    /// The resident came, but filed nothing: advice only, or documents missing.
    AttendedNotFiled,
    /// The visit was not needed.
    NotNeeded,
}

impl CounterOutcome {
    /// The stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::AttendedNotFiled => "attended_not_filed",
            Self::NotNeeded => "not_needed",
        }
    }
}

/// A referral to in-person service.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralRecorded {
    /// The procedure.
    pub procedure: ProcedureCode,
    /// Why.
    pub reason: ReasonCode,
    /// The ward.
    pub ward: WardCode,
}

/// A booking made or cancelled.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingRecorded {
    /// The ward.
    pub ward: WardCode,
    /// The reception point.
    pub point: PointRef,
    /// The procedure.
    pub procedure: ProcedureCode,
    /// What happened.
    pub action: BookingAction,
}

/// What happened to a booking.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingAction {
    /// A seat was booked.
    Booked,
    /// A booking was cancelled.
    Cancelled,
}

impl ReferralRecorded {
    /// The event for a referral.
    pub fn new(procedure: ProcedureCode, reason: ReasonCode, ward: WardCode) -> Self {
        Self {
            procedure,
            reason,
            ward,
        }
    }
}

impl SubmissionRecorded {
    /// The event for a received dossier.
    pub fn new(
        dossier_code: DossierCode,
        procedure: ProcedureCode,
        ward: WardCode,
        level: Level,
    ) -> Self {
        Self {
            dossier_code,
            procedure,
            ward,
            level,
            channel: Channel::Online,
            signed_id_token: true,
            assisted_by: None,
        }
    }

    /// The same event, naming the assisted device it was filed from (its label), if any.
    #[must_use]
    pub fn with_assisted_by(mut self, label: Option<String>) -> Self {
        self.assisted_by = label;
        self
    }

    /// The same event, saying whether a signed ID token backed the level.
    #[must_use]
    pub fn with_signed_id_token(mut self, signed: bool) -> Self {
        self.signed_id_token = signed;
        self
    }

    /// The same event for a dossier received through `channel`.
    #[must_use]
    pub fn via(mut self, channel: Channel) -> Self {
        self.channel = channel;
        self
    }
}

impl LoginRecorded {
    /// The event for a login outcome.
    pub fn new(result: LoginResult, level: Option<Level>, source: Option<SourceKind>) -> Self {
        Self {
            result,
            level,
            source,
            signed_id_token: true,
        }
    }

    /// The same event, saying whether a signed ID token backed the login.
    #[must_use]
    pub fn with_signed_id_token(mut self, signed: bool) -> Self {
        self.signed_id_token = signed;
        self
    }
}

impl BookingRecorded {
    /// The event for a booking made or cancelled.
    pub fn new(
        ward: WardCode,
        point: PointRef,
        procedure: ProcedureCode,
        action: BookingAction,
    ) -> Self {
        Self {
            ward,
            point,
            procedure,
            action,
        }
    }
}

/// A reception point id as recorded: 1 to 64 of `a-z 0-9 -` (the directory's id format), so no
/// free text can pass through it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PointRef(String);

impl PointRef {
    /// The id, if it has the directory's format.
    pub fn parse(id: &str) -> Option<Self> {
        let ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        ok.then(|| Self(id.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for PointRef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text)
            .ok_or_else(|| serde::de::Error::custom("a point id is 1 to 64 of a-z 0-9 -"))
    }
}

/// An event about to be appended: what a caller hands to
/// [`Store::append_audit`](crate::store::Store::append_audit).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditEntry {
    /// When it happened (whole microseconds).
    pub at: DateTime<Utc>,
    /// The resident concerned, pseudonymous, when known.
    pub subject: Option<SubjectPseudonym>,
    /// What happened.
    pub event: AuditEvent,
}

impl AuditEntry {
    /// An entry at `at`, truncated to whole microseconds.
    pub fn new(at: DateTime<Utc>, subject: Option<SubjectPseudonym>, event: AuditEvent) -> Self {
        Self {
            at: at.trunc_subsecs(6),
            subject,
            event,
        }
    }

    /// The record this entry becomes at sequence number `seq` after a record hashed `prev_hash`.
    /// Stores call this inside the transaction that reads the last record.
    pub fn seal(self, seq: u64, prev_hash: &ChainHash) -> AuditRecord {
        let hash = chain_hash(prev_hash, seq, &self);
        AuditRecord {
            seq,
            at: self.at,
            subject: self.subject,
            event: self.event,
            prev_hash: *prev_hash,
            hash,
        }
    }
}

/// One record of the trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditRecord {
    /// Sequence number, from 1, without gaps.
    pub seq: u64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The resident concerned, pseudonymous, when known.
    pub subject: Option<SubjectPseudonym>,
    /// What happened.
    pub event: AuditEvent,
    /// The hash of the previous record ([`ChainHash::GENESIS`] for the first).
    pub prev_hash: ChainHash,
    /// This record's hash.
    pub hash: ChainHash,
}

impl AuditRecord {
    /// A record as stored (for stores reading rows back); no check is made here, use
    /// [`verify_chain`].
    pub fn from_stored(
        seq: u64,
        at: DateTime<Utc>,
        subject: Option<SubjectPseudonym>,
        event: AuditEvent,
        prev_hash: ChainHash,
        hash: ChainHash,
    ) -> Self {
        Self {
            seq,
            at,
            subject,
            event,
            prev_hash,
            hash,
        }
    }

    fn entry(&self) -> AuditEntry {
        AuditEntry {
            at: self.at,
            subject: self.subject.clone(),
            event: self.event.clone(),
        }
    }
}

/// A SHA-256 chain hash; serialised as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainHash([u8; 32]);

impl ChainHash {
    /// The `prev_hash` of the first record: 32 zero bytes.
    pub const GENESIS: Self = Self([0; 32]);

    /// The hash bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A hash from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        unhex(text).map(Self)
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({})", self.to_hex())
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for ChainHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ChainHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_hex(&text)
            .ok_or_else(|| serde::de::Error::custom("a chain hash is 64 hex digits"))
    }
}

/// `SHA-256(prev_hash ‖ canonical)` where `canonical` is the compact JSON
/// `{"seq":…,"at":…,"subject":…,"event":…}` (fields in this order, `at` in RFC 3339 with the
/// serde form of chrono, `subject` `null` when absent).
pub fn chain_hash(prev_hash: &ChainHash, seq: u64, entry: &AuditEntry) -> ChainHash {
    #[derive(Serialize)]
    struct Canonical<'a> {
        seq: u64,
        at: &'a DateTime<Utc>,
        subject: &'a Option<SubjectPseudonym>,
        event: &'a AuditEvent,
    }
    let canonical = Canonical {
        seq,
        at: &entry.at,
        subject: &entry.subject,
        event: &entry.event,
    };
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&prev_hash.0);
    // Serialising these types cannot fail (no maps with non-string keys, no custom errors);
    // an empty body would still give a distinct, verifiable hash.
    ctx.update(&serde_json::to_vec(&canonical).unwrap_or_default());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    ChainHash(out)
}

/// The last record of a verified chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChainHead {
    /// Its sequence number (0 for an empty chain).
    pub seq: u64,
    /// Its hash ([`ChainHash::GENESIS`] for an empty chain).
    pub hash: ChainHash,
}

/// Verifies a whole chain, from sequence number 1, and returns its head.
///
/// # Errors
///
/// [`ChainError`] at the first record found edited, missing or out of order.
pub fn verify_chain(records: &[AuditRecord]) -> Result<ChainHead, ChainError> {
    verify_chain_from(
        ChainHead {
            seq: 0,
            hash: ChainHash::GENESIS,
        },
        records,
    )
}

/// Verifies records that follow `anchor` (a head verified earlier, e.g. the end of the previous
/// page of [`Store::audit_range`](crate::store::Store::audit_range)), and returns the new head.
///
/// # Errors
///
/// [`ChainError`] at the first record found edited, missing or out of order:
/// - [`ChainErrorKind::Reordered`] when a sequence number is not above its predecessor's;
/// - [`ChainErrorKind::Missing`] at the first absent sequence number;
/// - [`ChainErrorKind::Edited`] when a record's hash does not match its content, or when the
///   next record's `prev_hash` does not match it (edited and re-hashed).
pub fn verify_chain_from(
    anchor: ChainHead,
    records: &[AuditRecord],
) -> Result<ChainHead, ChainError> {
    let mut head = anchor;
    for (i, record) in records.iter().enumerate() {
        if record.seq <= head.seq {
            return Err(ChainError {
                seq: record.seq,
                kind: ChainErrorKind::Reordered,
            });
        }
        if record.seq != head.seq + 1 {
            // A later record with the expected number means the list is out of order.
            let expected = head.seq + 1;
            let kind = if records[i..].iter().any(|r| r.seq == expected) {
                ChainErrorKind::Reordered
            } else {
                ChainErrorKind::Missing
            };
            return Err(ChainError {
                seq: expected,
                kind,
            });
        }
        if chain_hash(&record.prev_hash, record.seq, &record.entry()) != record.hash {
            return Err(ChainError {
                seq: record.seq,
                kind: ChainErrorKind::Edited,
            });
        }
        if record.prev_hash != head.hash {
            return Err(ChainError {
                seq: head.seq.max(1),
                kind: ChainErrorKind::Edited,
            });
        }
        head = ChainHead {
            seq: record.seq,
            hash: record.hash,
        };
    }
    Ok(head)
}

/// The audit chain is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the audit chain is broken at record {seq}: {kind}")]
#[non_exhaustive]
pub struct ChainError {
    /// The sequence number where the break was found.
    pub seq: u64,
    /// What is wrong.
    pub kind: ChainErrorKind,
}

/// How the audit chain is broken.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainErrorKind {
    /// The record's content or hash was changed.
    Edited,
    /// The record is absent.
    Missing,
    /// The record is out of sequence order.
    Reordered,
}

impl fmt::Display for ChainErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Edited => "the record was edited",
            Self::Missing => "the record is missing",
            Self::Reordered => "the records are out of order",
        })
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// 32 bytes from 64 hex digits (either case).
pub(crate) fn unhex(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let high = char::from(pair[0]).to_digit(16)?;
        let low = char::from(pair[1]).to_digit(16)?;
        *slot = u8::try_from(high * 16 + low).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests;
