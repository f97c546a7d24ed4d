//! Dossiers taken in at the counter: the same durable commit and outbox as online dossiers,
//! with the channel, the receiving officer and the reception point in the hand-off envelope.
//!
//! The resident did not sign in online: the officer checked the identity document, so the
//! dossier is recorded at level 2 with the source [`SourceKind::CounterDocument`], and filed
//! under the ticket ([`counter_subject`]) rather than a provider account. One ticket gives at
//! most one dossier: the idempotency key is the ticket's, so recording "received" again
//! returns the first dossier.

use std::fmt;

use chrono::SubsecRound as _;

use super::{
    CODE_ATTEMPTS, DossierCode, Handoff, HandoffAssurance, IdempotencyKey, PayloadDigest,
    RECEIPT_VERSION, Receipt, SubmitError, Submitter,
};
use crate::assurance::{Level, SourceKind};
use crate::audit::{AuditEntry, AuditEvent, Channel, CounterOutcome, CounterRecorded, PointRef};
use crate::fallback::{TicketCode, WardCode};
use crate::keys::KeyError;
use crate::policy::ProcedureCode;
use crate::pseudonym::SubjectPseudonym;
use crate::store::{
    CommitOutcome, DraftId, OutboxEntry, StoreError, SubmissionCommit, SubmissionRecord,
};

use super::receipt::ReceiptClaims;

/// The subject a counter dossier is filed under: the ticket, since the resident has no provider
/// account in this channel (a ticket code names no person).
pub fn counter_subject(ticket: TicketCode) -> SubjectPseudonym {
    SubjectPseudonym::from_stored(format!("counter-ticket:{ticket}"))
}

/// The idempotency key of a counter dossier: one per ticket.
fn counter_key(ticket: TicketCode) -> Result<IdempotencyKey, SubmitError> {
    IdempotencyKey::parse(&format!("counter-{ticket}"))
        .map_err(|_| SubmitError::Store(StoreError::Duplicate))
}

/// A dossier an officer took in at the counter. Built with a struct literal.
#[derive(Clone)]
pub struct CounterIntake<'a> {
    /// The procedure the dossier was filed for.
    pub procedure: ProcedureCode,
    /// The ward.
    pub ward: WardCode,
    /// The reception point where it was taken in.
    pub point: PointRef,
    /// The ticket the resident brought.
    pub ticket: TicketCode,
    /// The receiving officer, pseudonymous.
    pub officer: &'a SubjectPseudonym,
    /// The gateway's public URL: the issuer named in the envelope's assurance (the gateway's
    /// officer, not a provider, checked the resident).
    pub issuer: &'a str,
    /// The dossier body: the resident's draft answers, or an empty object (personal data:
    /// never logged).
    pub dossier: serde_json::Value,
    /// The draft the answers came from, deleted in the same transaction.
    pub draft: Option<DraftId>,
}

impl fmt::Debug for CounterIntake<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CounterIntake")
            .field("procedure", &self.procedure)
            .field("ward", &self.ward)
            .field("point", &self.point)
            .field("ticket", &self.ticket)
            .field("officer", self.officer)
            .field("dossier", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// A dossier received at the counter.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CounterReceived {
    /// The receipt (the officer may print it for the resident).
    pub receipt: Receipt,
    /// `true` when this ticket's dossier was already received: nothing new was stored.
    pub replayed: bool,
}

impl Submitter {
    /// Files a dossier taken in at the counter: the submission, its outbox entry (envelope with
    /// channel `counter`, the officer and the reception point) and the `counter` audit record
    /// with the outcome `received` are committed in one transaction. Idempotent per ticket.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Store`] when the store fails (nothing was stored), and the signing and
    /// sealing errors of [`Submitter::submit`].
    pub async fn receive_at_counter(
        &self,
        intake: CounterIntake<'_>,
    ) -> Result<CounterReceived, SubmitError> {
        let subject = counter_subject(intake.ticket);
        let key = counter_key(intake.ticket)?;
        if let Some(existing) = self
            .store
            .submission_by_key(&subject, &key)
            .await
            .map_err(SubmitError::Store)?
        {
            return stored_receipt(&existing);
        }
        let now = self.clock.now().trunc_subsecs(0);
        let digest = PayloadDigest::of(&intake.dossier);
        let day = now.with_timezone(&crate::fallback::vietnam()).date_naive();
        for _ in 0..CODE_ATTEMPTS {
            let code = DossierCode::generate(intake.ward, day, self.random.as_ref())
                .map_err(|_| SubmitError::Random)?;
            let claims = ReceiptClaims {
                v: RECEIPT_VERSION,
                dossier_code: code,
                issued_at: now,
                procedure: intake.procedure,
                ward: intake.ward,
                level: Level::Two,
                assurance_source: SourceKind::CounterDocument,
                payload_digest: digest,
                kid: self.key.kid().to_owned(),
            };
            let receipt = self.sign_claims(claims)?;
            let handoff = Handoff {
                v: RECEIPT_VERSION,
                dossier_code: code,
                issued_at: now,
                procedure: intake.procedure,
                ward: intake.ward,
                subject: subject.clone(),
                assurance: HandoffAssurance {
                    level: Level::Two,
                    issuer: intake.issuer.to_owned(),
                    acr: None,
                    auth_time: Some(now),
                    source: SourceKind::CounterDocument,
                    // An officer checked the identity document at the counter: no token at all.
                    signed_id_token: false,
                },
                payload_digest: digest,
                payload: intake.dossier.clone(),
                channel: Channel::Counter,
                officer: Some(intake.officer.clone()),
                reception_point: Some(intake.point.as_str().to_owned()),
                assisted_by: None,
            };
            let payload =
                serde_json::to_vec(&handoff).map_err(|_| SubmitError::Sign(KeyError::Encode))?;
            let envelope = self
                .key
                .sign(super::HANDOFF_JWS_TYPE, &payload)
                .map_err(SubmitError::Sign)?;
            let sealed_envelope = self
                .sealer
                .seal_handoff(code, &envelope)
                .map_err(SubmitError::Seal)?;
            let sealed_dossier = self
                .sealer
                .seal_dossier(code, &intake.dossier)
                .map_err(SubmitError::Seal)?;
            let mut record = SubmissionRecord::new(
                code,
                subject.clone(),
                key.clone(),
                intake.procedure,
                intake.ward,
                sealed_dossier,
                Level::Two,
                SourceKind::CounterDocument,
                now,
                receipt.jws().to_owned(),
            );
            record.payload_digest = digest;
            let audit = AuditEntry::new(
                now,
                Some(intake.officer.clone()),
                AuditEvent::Counter(CounterRecorded::new(
                    intake.ward,
                    intake.point.clone(),
                    intake.ticket,
                    intake.procedure,
                    CounterOutcome::Received,
                    Some(code),
                )),
            );
            let commit = SubmissionCommit::new(
                record,
                OutboxEntry::pending(code, sealed_envelope, now),
                audit,
                intake.draft.clone(),
            );
            match self.store.commit_submission(&commit).await {
                Ok(CommitOutcome::Created(_)) => {
                    tracing::info!(
                        dossier_code = %code,
                        procedure = %intake.procedure,
                        ward = %intake.ward,
                        channel = "counter",
                        "dossier received at the counter"
                    );
                    return Ok(CounterReceived {
                        receipt,
                        replayed: false,
                    });
                }
                Ok(CommitOutcome::AlreadyExists(existing)) => return stored_receipt(&existing),
                Err(StoreError::Duplicate) => {
                    tracing::warn!(dossier_code = %code, "dossier code taken; drawing another");
                }
                Err(error) => return Err(SubmitError::Store(error)),
            }
        }
        Err(SubmitError::Store(StoreError::Duplicate))
    }
}

/// The receipt of the ticket's dossier already stored.
fn stored_receipt(existing: &SubmissionRecord) -> Result<CounterReceived, SubmitError> {
    let receipt = Receipt::from_stored(&existing.receipt).map_err(SubmitError::StoredReceipt)?;
    Ok(CounterReceived {
        receipt,
        replayed: true,
    })
}
