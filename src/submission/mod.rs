//! Online submission of dossiers: the re-check at submission time, idempotency, the signed
//! receipt, and the hand-off to the ward's back office through a durable outbox.
//!
//! Rules this module enforces:
//!
//! 1. Every submission re-checks, at the moment of submission, that the resident's verified
//!    level meets the procedure's online level and that the authentication is not older than
//!    the procedure allows ([`policy::decide`]); otherwise it fails with the [`Decision`] so the
//!    portal can ask for a step-up (401) or refer the resident in person (403).
//! 2. The dossier is validated against the procedure's form before anything is written.
//! 3. An idempotency key is scoped to the resident: the same key with the same dossier returns
//!    the same receipt and never creates a second dossier; the same key with another dossier
//!    is a conflict. Concurrent requests with one key are decided by the store atomically.
//! 4. Durable before acknowledged: the submission, its idempotency key, its outbox entry and
//!    its audit record are committed in one store transaction (and the draft it came from is
//!    deleted in it) before [`Submitter::submit`] returns the receipt.
//! 5. The receipt is a compact JWS (Ed25519) with the dossier code, time, procedure, ward,
//!    level used and the SHA-256 of the canonical JSON of the dossier ([`canonical_json`]);
//!    anyone verifies it offline with the gateway's JWKS ([`ReceiptVerifier`]).
//! 6. The back office gets a signed envelope ([`Handoff`]) with the pseudonymous subject, the
//!    verified assurance, the digest and the dossier, forwarded by the [`Outbox`] with retries;
//!    a back office that is down never blocks or fails a submission.
//! 7. The dossier is encrypted at rest: the stored submission keeps it sealed
//!    ([`DossierSealer::seal_dossier`]) and the outbox keeps the envelope sealed
//!    ([`DossierSealer::seal_handoff`]), each bound to the dossier code and its purpose; the
//!    receipt's digest is computed on the clear dossier before sealing.
//! 8. The dossier is never logged: `Debug` of requests, records and envelopes redacts it, and
//!    audit records carry only codes and pseudonyms.
//! 9. Attachments ([`Attachment`]: PDF, JPEG or PNG, sniffed) become the dossier's
//!    `attachments` member before the digest is taken, so the sealed dossier, the receipt and
//!    the hand-off envelope cover them and they are stored in the same transaction.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use chrono::{Duration, TimeZone, Utc};
//! use wardgate::assurance::{Assurance, Level, SourceKind};
//! use wardgate::clock::{FixedClock, SystemRandom};
//! use wardgate::fallback::WardCode;
//! use wardgate::keys::SigningKey;
//! use wardgate::policy::Catalog;
//! use wardgate::pseudonym::Pseudonymizer;
//! use wardgate::store::{MemoryStore, Store};
//! use wardgate::submission::{
//!     DossierKey, DossierSealer, IdempotencyKey, ReceiptVerifier, SubmissionRequest, Submitter,
//! };
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let catalog = Catalog::load(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/catalog.toml"))?;
//! let birth = catalog.procedure("1.001193").ok_or("no procedure")?;
//! let now = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).single().ok_or("time")?;
//! let random = Arc::new(SystemRandom::new());
//! let (key, _pkcs8) = SigningKey::generate(random.as_ref())?;
//! let key = Arc::new(key);
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! let sealer = Arc::new(DossierSealer::new(DossierKey::generate(random.as_ref())?,
//!     random.clone())?);
//! let submitter = Submitter::new(Arc::clone(&store), Arc::clone(&key),
//!     Arc::clone(&sealer), Arc::new(FixedClock::new(now)), random);
//!
//! let issuer = "https://sso.example.vn";
//! let subject = Pseudonymizer::new(&[7u8; 32])?.subject(issuer, "provider-sub");
//! let assurance = Assurance::new(Some(Level::Two), issuer, SourceKind::UserinfoClaim,
//!     Some(now - Duration::minutes(3)));
//! let request = SubmissionRequest {
//!     procedure: birth,
//!     assurance: &assurance,
//!     subject: &subject,
//!     ward: WardCode::parse("30316")?,
//!     dossier: birth.example(),
//!     idempotency_key: IdempotencyKey::parse("7d7c4c1e-0b7a-4d0e-9a51-2f1f3b1f6a10")?,
//!     draft: None,
//!     attachments: Vec::new(),
//!     assisted_by: None,
//! };
//! let submitted = submitter.submit(request.clone()).await?;
//! assert!(!submitted.replayed);
//! assert!(submitted.receipt.dossier_code.as_str().starts_with("30316-20260302-"));
//!
//! // Anyone can verify the receipt with the published keys.
//! let verified = ReceiptVerifier::from_jwks(&key.jwks())?.verify(submitted.receipt.jws())?;
//! assert_eq!(verified, submitted.receipt);
//!
//! // The stored dossier is sealed; staff tooling opens it with the sealer.
//! let code = submitted.receipt.dossier_code;
//! let stored = store.submission(&code).await?.ok_or("not stored")?;
//! assert_ne!(stored.dossier, birth.example());
//! assert_eq!(sealer.open_dossier(code, &stored.dossier)?, birth.example());
//!
//! // A retry with the same key returns the same receipt.
//! let again = submitter.submit(request).await?;
//! assert!(again.replayed);
//! assert_eq!(again.receipt.jws(), submitted.receipt.jws());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod attachment;
mod counter;
mod outbox;
mod receipt;
mod sealing;
pub mod status;
mod types;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, SubsecRound as _, Utc};

use crate::assurance::Assurance;
use crate::audit::{AuditEntry, AuditEvent, SubmissionRecorded};
use crate::clock::{Clock, Random};
use crate::fallback::WardCode;
use crate::keys::{KeyError, SigningKey};
use crate::policy::{self, Context, Decision, FieldError, Procedure};
use crate::pseudonym::SubjectPseudonym;
use crate::store::{
    CommitOutcome, DraftId, OutboxEntry, Store, StoreError, SubmissionCommit, SubmissionRecord,
};

pub use attachment::{
    ATTACHMENTS_MEMBER, Attachment, AttachmentError, AttachmentLimits, MAX_ATTACHMENT_NAME_CHARS,
    MediaType, attachments_from_json,
};
pub use counter::{CounterIntake, CounterReceived, counter_subject};
pub use outbox::{
    DeliveryObserver, DeliveryOutcome, DeliveryReport, Outbox, OutboxWorker, backoff,
};
pub use receipt::{
    HANDOFF_JWS_TYPE, Handoff, HandoffAssurance, MAX_HANDOFF_LEN, RECEIPT_JWS_TYPE,
    RECEIPT_VERSION, Receipt, ReceiptError, ReceiptVerifier,
};
pub use sealing::{DOSSIER_KEY_LEN, DossierKey, DossierSealer, SealError, SealKeyError};
pub use types::{
    CodeError, DossierCode, IdempotencyKey, IdempotencyKeyError, MAX_IDEMPOTENCY_KEY_LEN,
    PayloadDigest, canonical_json,
};

use receipt::ReceiptClaims;

/// How many fresh dossier codes are tried when one is already taken.
const CODE_ATTEMPTS: usize = 4;

/// Receives dossiers: checks, commits durably, signs receipts and queues the hand-off.
pub struct Submitter {
    store: Arc<dyn Store>,
    key: Arc<SigningKey>,
    sealer: Arc<DossierSealer>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
}

impl fmt::Debug for Submitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Submitter")
            .field("store", &self.store)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// One submission, as the portal hands it over from the resident's session and request.
///
/// Built with a struct literal; every field is required.
#[derive(Clone)]
pub struct SubmissionRequest<'a> {
    /// The procedure, from the catalog.
    pub procedure: &'a Procedure,
    /// The resident's verified assurance, from the session.
    pub assurance: &'a Assurance,
    /// The resident, pseudonymous (from the session).
    pub subject: &'a SubjectPseudonym,
    /// The ward that receives the dossier.
    pub ward: WardCode,
    /// The dossier (personal data: never logged).
    pub dossier: serde_json::Value,
    /// The client's `Idempotency-Key`.
    pub idempotency_key: IdempotencyKey,
    /// The draft the dossier came from, deleted when the submission is committed.
    pub draft: Option<DraftId>,
    /// Documents attached to the dossier, checked ([`Attachment::new`]); they become the
    /// dossier's `attachments` member, so the sealed dossier, the receipt's digest and the
    /// hand-off envelope all cover them.
    pub attachments: Vec<Attachment>,
    /// The label of the assisted device the resident filed from (a team or a desk, never a
    /// person's name): recorded in the audit trail and the hand-off envelope.
    pub assisted_by: Option<String>,
}

impl fmt::Debug for SubmissionRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubmissionRequest")
            .field("procedure", &self.procedure.code())
            .field("subject", self.subject)
            .field("ward", &self.ward)
            .field("dossier", &"[redacted]")
            .field("idempotency_key", &self.idempotency_key)
            .field("draft", &self.draft)
            .field("attachments", &self.attachments)
            .field("assisted_by", &self.assisted_by)
            .finish_non_exhaustive()
    }
}

/// A received dossier's receipt, and whether it was a replay of an earlier request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Submitted {
    /// The receipt.
    pub receipt: Receipt,
    /// `true` when the idempotency key had already been used with this dossier: nothing new was
    /// stored (HTTP 200 rather than 201).
    pub replayed: bool,
}

/// A submission was not accepted.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The assurance does not meet the procedure now; the decision says what to do instead.
    #[error("the resident's assurance does not allow online submission now ({})", .0.reason().as_str())]
    Insufficient(Box<Decision>),
    /// The dossier does not match the procedure's form.
    #[error("the dossier has {} invalid field(s)", .0.len())]
    Invalid(Vec<FieldError>),
    /// An attachment is refused (beyond [`AttachmentLimits::MAX`], or the dossier already has
    /// an `attachments` member); nothing was stored.
    #[error("the attachments are refused: {0}")]
    Attachment(#[source] AttachmentError),
    /// The idempotency key was already used by this resident for another dossier.
    #[error("the idempotency key was already used for another dossier ({dossier_code})")]
    IdempotencyConflict {
        /// The dossier the key belongs to.
        dossier_code: DossierCode,
    },
    /// The random generator failed.
    #[error("the random generator failed while making a dossier code")]
    Random,
    /// Sealing the dossier or the envelope for storage failed; nothing was stored.
    #[error("the dossier could not be sealed for storage: {0}")]
    Seal(#[source] SealError),
    /// Signing the receipt or the envelope failed.
    #[error("signing the receipt failed: {0}")]
    Sign(#[source] KeyError),
    /// A stored receipt could not be read back.
    #[error("the stored receipt could not be read: {0}")]
    StoredReceipt(#[source] ReceiptError),
    /// The store failed; nothing was acknowledged, the resident may retry with the same key.
    #[error("the dossier could not be stored: {0}")]
    Store(#[source] StoreError),
}

impl SubmitError {
    /// The HTTP status a JSON API answers with: 401 (sign in or step up), 403 (in person),
    /// 422 (invalid dossier), 409 (idempotency conflict), 503 (store down: retry with the same
    /// key), 500 (anything else).
    pub fn http_status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Self::Insufficient(decision) => match decision.as_ref() {
                Decision::SignIn(_) | Decision::StepUp(_) => StatusCode::UNAUTHORIZED,
                Decision::InPerson(_) | Decision::Online(_) => StatusCode::FORBIDDEN,
            },
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Attachment(error) if error.is_too_large() => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Attachment(error) if error.is_refused_type() => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Self::Attachment(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::IdempotencyConflict { .. } => StatusCode::CONFLICT,
            Self::Store(StoreError::Backend(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Random
            | Self::Seal(_)
            | Self::Sign(_)
            | Self::StoredReceipt(_)
            | Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl Submitter {
    /// A submitter writing to `store`, signing with `signing_key` and sealing the stored
    /// dossier and envelope with `sealer`.
    pub fn new(
        store: Arc<dyn Store>,
        signing_key: Arc<SigningKey>,
        sealer: Arc<DossierSealer>,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
    ) -> Self {
        Self {
            store,
            key: signing_key,
            sealer,
            clock,
            random,
        }
    }

    /// Receives a dossier; see the module documentation for the rules.
    ///
    /// A request whose idempotency key this resident already used with the same procedure,
    /// ward and dossier returns the stored receipt (`replayed`), even if the login has aged
    /// since: nothing new is accepted then.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Insufficient`], [`SubmitError::Invalid`],
    /// [`SubmitError::IdempotencyConflict`]; [`SubmitError::Store`] and the others when the
    /// infrastructure fails (then nothing was stored).
    pub async fn submit(&self, request: SubmissionRequest<'_>) -> Result<Submitted, SubmitError> {
        AttachmentLimits::MAX
            .check(&request.attachments)
            .map_err(SubmitError::Attachment)?;
        let full = with_attachments(&request.dossier, &request.attachments)?;
        let digest = PayloadDigest::of(&full);
        if let Some(existing) = self
            .store
            .submission_by_key(request.subject, &request.idempotency_key)
            .await
            .map_err(SubmitError::Store)?
        {
            return replay(&existing, &request, &digest);
        }

        let now = self.clock.now().trunc_subsecs(0);
        let ctx = Context::new(now).with_ward(request.ward);
        let grant = match policy::decide(request.procedure, Some(request.assurance), &ctx) {
            Decision::Online(grant) => grant,
            other => return Err(SubmitError::Insufficient(Box::new(other))),
        };
        request
            .procedure
            .validate_dossier(&request.dossier)
            .map_err(SubmitError::Invalid)?;

        let day = now.with_timezone(&crate::fallback::vietnam()).date_naive();
        for _ in 0..CODE_ATTEMPTS {
            let code = DossierCode::generate(request.ward, day, self.random.as_ref())
                .map_err(|_| SubmitError::Random)?;
            let receipt = self.sign_receipt(&request, code, now, grant.level, &digest)?;
            let envelope = self.sign_envelope(&request, &full, code, now, grant.level, &digest)?;
            let sealed_envelope = self
                .sealer
                .seal_handoff(code, &envelope)
                .map_err(SubmitError::Seal)?;
            let sealed_dossier = self
                .sealer
                .seal_dossier(code, &full)
                .map_err(SubmitError::Seal)?;
            let mut record = SubmissionRecord::new(
                code,
                request.subject.clone(),
                request.idempotency_key.clone(),
                request.procedure.code(),
                request.ward,
                sealed_dossier,
                grant.level,
                request.assurance.source(),
                now,
                receipt.jws().to_owned(),
            );
            // The record's digest must be that of the clear dossier (what the receipt and the
            // replay check use), not of the sealed value it was built from.
            record.payload_digest = digest;
            let audit = AuditEntry::new(
                now,
                Some(request.subject.clone()),
                AuditEvent::Submission(
                    SubmissionRecorded::new(
                        code,
                        request.procedure.code(),
                        request.ward,
                        grant.level,
                    )
                    .with_signed_id_token(request.assurance.has_signed_id_token())
                    .with_assisted_by(request.assisted_by.clone()),
                ),
            );
            let commit = SubmissionCommit::new(
                record,
                OutboxEntry::pending(code, sealed_envelope, now),
                audit,
                request.draft.clone(),
            );
            match self.store.commit_submission(&commit).await {
                Ok(CommitOutcome::Created(_)) => {
                    tracing::info!(
                        dossier_code = %code,
                        procedure = %request.procedure.code(),
                        ward = %request.ward,
                        "dossier received"
                    );
                    return Ok(Submitted {
                        receipt,
                        replayed: false,
                    });
                }
                Ok(CommitOutcome::AlreadyExists(existing)) => {
                    return replay(&existing, &request, &digest);
                }
                Err(StoreError::Duplicate) => {
                    tracing::warn!(dossier_code = %code, "dossier code taken; drawing another");
                }
                Err(error) => return Err(SubmitError::Store(error)),
            }
        }
        Err(SubmitError::Store(StoreError::Duplicate))
    }

    fn sign_receipt(
        &self,
        request: &SubmissionRequest<'_>,
        code: DossierCode,
        now: DateTime<Utc>,
        level: crate::assurance::Level,
        digest: &PayloadDigest,
    ) -> Result<Receipt, SubmitError> {
        let claims = ReceiptClaims {
            v: RECEIPT_VERSION,
            dossier_code: code,
            issued_at: now,
            procedure: request.procedure.code(),
            ward: request.ward,
            level,
            assurance_source: request.assurance.source(),
            payload_digest: *digest,
            kid: self.key.kid().to_owned(),
        };
        self.sign_claims(claims)
    }

    /// Signs a receipt's claims.
    fn sign_claims(&self, claims: ReceiptClaims) -> Result<Receipt, SubmitError> {
        let payload =
            serde_json::to_vec(&claims).map_err(|_| SubmitError::Sign(KeyError::Encode))?;
        let jws = self
            .key
            .sign(RECEIPT_JWS_TYPE, &payload)
            .map_err(SubmitError::Sign)?;
        Ok(Receipt::from_claims(claims, jws))
    }

    fn sign_envelope(
        &self,
        request: &SubmissionRequest<'_>,
        dossier: &serde_json::Value,
        code: DossierCode,
        now: DateTime<Utc>,
        level: crate::assurance::Level,
        digest: &PayloadDigest,
    ) -> Result<String, SubmitError> {
        let handoff = Handoff {
            v: RECEIPT_VERSION,
            dossier_code: code,
            issued_at: now,
            procedure: request.procedure.code(),
            ward: request.ward,
            subject: request.subject.clone(),
            assurance: HandoffAssurance::new(request.assurance, level),
            payload_digest: *digest,
            payload: dossier.clone(),
            channel: crate::audit::Channel::Online,
            officer: None,
            reception_point: None,
            assisted_by: request.assisted_by.clone(),
        };
        let payload =
            serde_json::to_vec(&handoff).map_err(|_| SubmitError::Sign(KeyError::Encode))?;
        self.key
            .sign(HANDOFF_JWS_TYPE, &payload)
            .map_err(SubmitError::Sign)
    }
}

/// The dossier with its attachments as the `attachments` member; unchanged without any (so
/// dossiers without attachments keep the digest they always had).
fn with_attachments(
    dossier: &serde_json::Value,
    attachments: &[Attachment],
) -> Result<serde_json::Value, SubmitError> {
    if attachments.is_empty() {
        return Ok(dossier.clone());
    }
    let mut full = dossier.clone();
    // A dossier that is not an object fails validation later; leave it as it is.
    if let Some(object) = full.as_object_mut() {
        if object.contains_key(ATTACHMENTS_MEMBER) {
            return Err(SubmitError::Attachment(AttachmentError::MemberTaken));
        }
        let list = attachments.iter().map(Attachment::to_json).collect();
        object.insert(
            ATTACHMENTS_MEMBER.to_owned(),
            serde_json::Value::Array(list),
        );
    }
    Ok(full)
}

/// The stored receipt when the request repeats the stored submission, else a conflict.
///
/// Compares the digest of the clear dossier (kept in clear beside the sealed dossier), never
/// the stored dossier itself, which is sealed under a fresh nonce.
fn replay(
    existing: &SubmissionRecord,
    request: &SubmissionRequest<'_>,
    digest: &PayloadDigest,
) -> Result<Submitted, SubmitError> {
    let same = existing.payload_digest.ct_eq(digest)
        && existing.procedure == request.procedure.code()
        && existing.ward == request.ward;
    if !same {
        return Err(SubmitError::IdempotencyConflict {
            dossier_code: existing.dossier_code,
        });
    }
    let receipt = Receipt::from_stored(&existing.receipt).map_err(SubmitError::StoredReceipt)?;
    Ok(Submitted {
        receipt,
        replayed: true,
    })
}
