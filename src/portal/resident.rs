//! What the gateway decides for a resident and a procedure, shared by pages and the JSON API.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::gateway::Gateway;
use super::html::{Markup, NoticeKind, notice};
use crate::audit::{AuditEvent, DecisionRecorded, ReferralRecorded};
use axum::http::{HeaderMap, header};

use crate::fallback::{Referral, SignedTicket, Ticket, TicketCode};
use crate::i18n::Lang;
use crate::integrations::axum::parse_outcome;
use crate::policy::{Context, Decision, Procedure, decide};
use crate::pseudonym::SubjectPseudonym;
use crate::session::Session;
use crate::session::find_cookie;
use crate::store::{Draft, DraftId};

/// The query parameters a resident-facing route understands. Each can only lead the resident
/// *away* from online filing (a login outcome, a choice of in-person service), never towards it:
/// the level always comes from the sealed session.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct ResidentQuery {
    #[serde(default)]
    pub(crate) lang: Option<String>,
    #[serde(default)]
    pub(crate) ward: Option<String>,
    #[serde(default)]
    pub(crate) point: Option<String>,
    #[serde(default)]
    pub(crate) outcome: Option<String>,
    #[serde(default)]
    pub(crate) in_person: Option<String>,
    #[serde(default)]
    pub(crate) saved: Option<String>,
    /// Set after a draft typed signed out was claimed ([`super::draft_claim`]).
    #[serde(default)]
    pub(crate) claimed: Option<String>,
}

impl ResidentQuery {
    pub(crate) fn lang(&self) -> Lang {
        self.lang
            .as_deref()
            .and_then(Lang::from_code)
            .unwrap_or_default()
    }

    pub(crate) fn chose_in_person(&self) -> bool {
        matches!(self.in_person.as_deref(), Some("1" | "true" | "yes"))
    }
}

/// The step-up bookkeeping key for a procedure's requirement.
pub(crate) fn max_age_key(procedure: &Procedure) -> Option<u32> {
    u32::try_from(procedure.max_auth_age().num_seconds()).ok()
}

impl Gateway {
    /// Decides for `procedure` with the resident's session and query.
    pub(crate) async fn evaluate(
        &self,
        procedure: &Procedure,
        session: Option<&Session>,
        query: &ResidentQuery,
    ) -> Decision {
        self.evaluate_with(procedure, session, query, None).await
    }

    /// As [`Gateway::evaluate`], with a failed login remembered by the browser.
    pub(crate) async fn evaluate_with(
        &self,
        procedure: &Procedure,
        session: Option<&Session>,
        query: &ResidentQuery,
        remembered: Option<crate::policy::LoginFailure>,
    ) -> Decision {
        let ward = self.ward(query.ward.as_deref());
        let last_login = query.outcome.as_deref().and_then(parse_outcome);
        let mut ctx = Context::new(self.clock.now())
            .with_ward(ward.code)
            .with_lang(query.lang())
            .with_chose_in_person(query.chose_in_person())
            .with_last_login(last_login.or(remembered));
        if let Some(point) = &query.point {
            ctx = ctx.with_reception_point(point.clone());
        }
        if let Some(session) = session {
            ctx = ctx.with_step_up_tried(
                session.step_up_tried(procedure.online_level(), max_age_key(procedure)),
            );
        }
        let decision = decide(procedure, session.map(Session::assurance), &ctx);
        self.metrics
            .record_decision(decision.kind_str(), decision.reason().as_str());
        self.audit_decision(
            session.map(Session::subject),
            DecisionRecorded::new(&decision, Some(ward.code)),
        )
        .await;
        decision
    }

    /// Builds the referral for an in-person decision with its ticket (linked to the resident's
    /// saved `draft`, if any): the resident's earlier ticket for the same procedure when `reuse`
    /// names a valid one (reloading the page must not count a second referral), else a new one,
    /// stored so the counter can look it up by code.
    ///
    /// `anonymous` is the address of a client without a session: its new tickets come out of
    /// the per-address [`TicketAllowance`](super::ticket_allowance::TicketAllowance). The
    /// referral itself is always built, so a spent allowance or a failing store costs the
    /// resident the ticket, never the address, hours and checklist.
    ///
    /// `owner` is the session's subject pseudonym (`None` signed out): a new ticket is stored
    /// as theirs, and only a ticket open to them is reused.
    pub(crate) async fn referral_with_ticket(
        &self,
        procedure: &Procedure,
        decision: &Decision,
        reuse: Option<TicketCode>,
        draft: Option<Draft>,
        anonymous: Option<IpAddr>,
        owner: Option<&str>,
    ) -> Option<ReferralWithTicket> {
        let Decision::InPerson(route) = decision else {
            return None;
        };
        let now = self.clock.now();
        let referral = Referral::build(&self.directory, procedure, route, now).ok()?;
        let ticket = self
            .ticket_for(&referral, procedure, reuse, draft, anonymous, owner)
            .await;
        Some(ReferralWithTicket { referral, ticket })
    }

    /// The ticket for `referral`: the one `reuse` names, else a new one if `anonymous` has
    /// allowance left; stored, counted and audited.
    async fn ticket_for(
        &self,
        referral: &Referral,
        procedure: &Procedure,
        reuse: Option<TicketCode>,
        draft: Option<Draft>,
        anonymous: Option<IpAddr>,
        owner: Option<&str>,
    ) -> Result<SignedTicket, NoTicket> {
        let now = self.clock.now();
        if let Some(code) = reuse {
            match self.store.ticket(&code, now).await {
                Ok(Some(ticket))
                    if ticket.procedure == procedure.code() && ticket.open_to(owner) =>
                {
                    return self
                        .tickets
                        .sign(ticket)
                        .map_err(|_| NoTicket::StoreUnavailable);
                }
                Ok(_) => {}
                Err(_) => {
                    tracing::warn!(
                        "could not read a held ticket: the referral is shown without one"
                    );
                    return Err(NoTicket::StoreUnavailable);
                }
            }
        }
        if let Some(ticket) = self.owners_open_ticket(procedure, owner, now).await {
            return self
                .tickets
                .sign(ticket)
                .map_err(|_| NoTicket::StoreUnavailable);
        }
        if let Some(client) = anonymous
            && !self.ticket_allowance.take(client, now)
        {
            tracing::info!(
                "ticket allowance spent for a client address: referral without a ticket"
            );
            return Err(NoTicket::AllowanceSpent);
        }
        // Without a saved draft the ticket still reserves a draft id: the resident can fill in
        // the form before the visit and the counter opens it with the ticket.
        let draft_id = match &draft {
            Some(draft) => draft.id.clone(),
            None => {
                DraftId::generate(self.random.as_ref()).map_err(|_| NoTicket::StoreUnavailable)?
            }
        };
        let mut ticket = self
            .tickets
            .issue(referral, Some(draft_id), now, self.random.as_ref())
            .map_err(|_| NoTicket::StoreUnavailable)?;
        // Stored with the ticket only: the signed ticket (the QR code) never names its owner.
        ticket.ticket.owner = owner.map(SubjectPseudonym::from_stored);
        if self.store.save_ticket(&ticket.ticket).await.is_err() {
            tracing::warn!("could not store a new ticket: the referral is shown without one");
            return Err(NoTicket::StoreUnavailable);
        }
        if let Some(draft) = draft {
            // The counter opens the draft with the ticket: keep it as long as the ticket.
            let kept = draft.keep_until(ticket.ticket.expires_at);
            if self.store.save_draft(&kept).await.is_err() {
                tracing::warn!("could not extend the draft linked to a ticket");
            }
        }
        let reason = referral.reason;
        self.metrics.record_referral(reason.as_str());
        let event = ReferralRecorded::new(procedure.code(), reason, referral.ward.code);
        self.audit(None, AuditEvent::Referral(event)).await;
        Ok(ticket)
    }

    /// The open ticket a signed-in resident took earlier for `procedure`, found by their
    /// pseudonym when the browser no longer holds it (they signed out, which clears the ticket
    /// cookie, or came back on another device): they get the same code, booking and pre-visit
    /// draft instead of a second ticket. A failing read leaves it to a new ticket.
    async fn owners_open_ticket(
        &self,
        procedure: &Procedure,
        owner: Option<&str>,
        now: DateTime<Utc>,
    ) -> Option<Ticket> {
        let owner = SubjectPseudonym::from_stored(owner?);
        match self
            .store
            .open_ticket_of(&owner, &procedure.code(), now)
            .await
        {
            Ok(found) => found,
            Err(_) => {
                tracing::warn!(
                    "could not look up a resident's open ticket: a new one is issued instead"
                );
                None
            }
        }
    }

    pub(crate) fn ticket_cookie_name(&self) -> String {
        self.cookies.cookie_name("wardgate-ticket")
    }

    /// The ticket the resident's browser already holds for `procedure`, if any, and if it
    /// belongs to whoever is signed in now (a ticket taken signed out, to whoever is signed
    /// out): on a shared device the next person never reuses, sees or books the previous one's
    /// ticket, and gets a fresh one instead. `reader` is the session the handler already opened.
    pub(crate) fn held_ticket(
        &self,
        headers: &HeaderMap,
        procedure: &Procedure,
        reader: Option<&Session>,
    ) -> Option<TicketCode> {
        let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
        let name = self.ticket_cookie_name();
        let held: HeldTicket = self
            .key_ring
            .open(
                TICKET_PURPOSE,
                &name,
                self.clock.now(),
                find_cookie(cookies, &name)?,
            )
            .ok()?;
        if held.owner.as_deref() != reader.map(Session::subject) {
            return None;
        }
        (held.procedure == procedure.code().as_str())
            .then(|| TicketCode::parse(&held.code).ok())
            .flatten()
    }

    /// The ticket this browser holds as taken signed out, whatever the procedure: the one a
    /// signed-in resident may claim with its code.
    pub(crate) fn ticket_held_signed_out(&self, headers: &HeaderMap) -> Option<TicketCode> {
        let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
        let name = self.ticket_cookie_name();
        let held: HeldTicket = self
            .key_ring
            .open(
                TICKET_PURPOSE,
                &name,
                self.clock.now(),
                find_cookie(cookies, &name)?,
            )
            .ok()?;
        if held.owner.is_some() {
            return None;
        }
        TicketCode::parse(&held.code).ok()
    }

    /// The `Set-Cookie` value remembering `ticket` in the resident's browser until it expires,
    /// for `owner` (the subject pseudonym of the resident signed in, `None` when signed out).
    pub(crate) fn ticket_cookie(
        &self,
        ticket: &SignedTicket,
        owner: Option<&str>,
    ) -> Option<String> {
        let name = self.ticket_cookie_name();
        let held = HeldTicket {
            procedure: ticket.ticket.procedure.as_str().to_owned(),
            code: ticket.ticket.code.to_string(),
            owner: owner.map(str::to_owned),
        };
        let expires = ticket.ticket.expires_at;
        let sealed = self
            .key_ring
            .seal(self.random.as_ref(), TICKET_PURPOSE, &name, expires, &held)
            .ok()?;
        self.cookies
            .set_cookie(&name, &sealed, expires - self.clock.now())
            .ok()
    }
}

/// A referral and its ticket, or why it has none.
#[derive(Debug)]
pub(crate) struct ReferralWithTicket {
    pub(crate) referral: Referral,
    pub(crate) ticket: Result<SignedTicket, NoTicket>,
}

/// Why a referral comes without a ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum NoTicket {
    /// This address has had its new tickets for the hour (clients without a session).
    AllowanceSpent,
    /// The ticket could not be issued, stored or read back.
    StoreUnavailable,
}

impl NoTicket {
    /// The notice that takes the ticket's place on the referral page.
    pub(crate) fn notice(self, lang: Lang) -> Markup {
        let text = match self {
            Self::AllowanceSpent => lang.pick(
                "Chưa thể cấp mã lịch hẹn mới cho địa chỉ mạng này lúc này. Bạn vẫn có thể đến nộp hồ sơ theo địa chỉ và giờ làm việc ở trên; cán bộ sẽ cấp mã tại quầy.",
                "No new appointment code can be issued to this network address right now. You can still file in person at the address and hours above; the officer gives you one at the desk.",
            ),
            Self::StoreUnavailable => lang.pick(
                "Hệ thống tạm thời không cấp được mã lịch hẹn. Bạn vẫn có thể đến nộp hồ sơ theo địa chỉ và giờ làm việc ở trên; cán bộ sẽ cấp mã tại quầy.",
                "The system could not issue an appointment code just now. You can still file in person at the address and hours above; the officer gives you one at the desk.",
            ),
        };
        notice(
            NoticeKind::Info,
            lang.pick("Chưa có mã lịch hẹn", "No appointment code yet"),
            text,
        )
    }
}

/// Purpose bound into the ticket cookie.
const TICKET_PURPOSE: &str = "referral-ticket";

#[derive(serde::Serialize, Deserialize)]
struct HeldTicket {
    #[serde(rename = "p")]
    procedure: String,
    #[serde(rename = "c")]
    code: String,
    /// The subject pseudonym of the resident who took it while signed in. Cookies without it
    /// (taken signed out, or from before ownership) belong to whoever is signed out.
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
}
