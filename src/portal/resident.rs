//! What the gateway decides for a resident and a procedure, shared by pages and the JSON API.

use serde::Deserialize;

use super::gateway::Gateway;
use crate::audit::{AuditEvent, DecisionRecorded, ReferralRecorded};
use axum::http::{HeaderMap, header};

use crate::fallback::{Referral, SignedTicket, TicketCode};
use crate::i18n::Lang;
use crate::integrations::axum::parse_outcome;
use crate::policy::{Context, Decision, Procedure, decide};
use crate::session::Session;
use crate::session::find_cookie;
use crate::store::Draft;

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
        let ward = self.ward(query.ward.as_deref());
        let mut ctx = Context::new(self.clock.now())
            .with_ward(ward.code)
            .with_lang(query.lang())
            .with_chose_in_person(query.chose_in_person())
            .with_last_login(query.outcome.as_deref().and_then(parse_outcome));
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
    /// saved `draft`, if any): the resident's earlier
    /// ticket for the same procedure when `reuse` names a valid one (reloading the page must not
    /// count a second referral), else a new one, stored so the counter can look it up by code.
    pub(crate) async fn referral_with_ticket(
        &self,
        procedure: &Procedure,
        decision: &Decision,
        reuse: Option<TicketCode>,
        draft: Option<Draft>,
    ) -> Option<(Referral, SignedTicket)> {
        let Decision::InPerson(route) = decision else {
            return None;
        };
        let now = self.clock.now();
        let referral = Referral::build(&self.directory, procedure, route, now).ok()?;
        if let Some(code) = reuse
            && let Ok(Some(ticket)) = self.store.ticket(&code, now).await
            && ticket.procedure == procedure.code()
        {
            return Some((referral, self.tickets.sign(ticket).ok()?));
        }
        let ticket = self
            .tickets
            .issue(
                &referral,
                draft.as_ref().map(|d| d.id.clone()),
                now,
                self.random.as_ref(),
            )
            .ok()?;
        self.store.save_ticket(&ticket.ticket).await.ok()?;
        if let Some(draft) = draft {
            // The counter opens the draft with the ticket: keep it as long as the ticket.
            let kept = draft.keep_until(ticket.ticket.expires_at);
            if self.store.save_draft(&kept).await.is_err() {
                tracing::warn!("could not extend the draft linked to a ticket");
            }
        }
        self.metrics.record_referral(route.reason.as_str());
        let event = ReferralRecorded::new(procedure.code(), route.reason, referral.ward.code);
        self.audit(None, AuditEvent::Referral(event)).await;
        Some((referral, ticket))
    }

    pub(crate) fn ticket_cookie_name(&self) -> String {
        self.cookies.cookie_name("wardgate-ticket")
    }

    /// The ticket the resident's browser already holds for `procedure`, if any.
    pub(crate) fn held_ticket(
        &self,
        headers: &HeaderMap,
        procedure: &Procedure,
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
        (held.procedure == procedure.code().as_str())
            .then(|| TicketCode::parse(&held.code).ok())
            .flatten()
    }

    /// The `Set-Cookie` value remembering `ticket` in the resident's browser until it expires.
    pub(crate) fn ticket_cookie(&self, ticket: &SignedTicket) -> Option<String> {
        let name = self.ticket_cookie_name();
        let held = HeldTicket {
            procedure: ticket.ticket.procedure.as_str().to_owned(),
            code: ticket.ticket.code.to_string(),
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

/// Purpose bound into the ticket cookie.
const TICKET_PURPOSE: &str = "referral-ticket";

#[derive(serde::Serialize, Deserialize)]
struct HeldTicket {
    #[serde(rename = "p")]
    procedure: String,
    #[serde(rename = "c")]
    code: String,
}
