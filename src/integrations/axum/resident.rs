//! What the gateway decides for a resident and a procedure, shared by pages and the JSON API.

use serde::Deserialize;
use serde_json::{Value, json};

use super::gateway::Gateway;
use crate::fallback::{Referral, SignedTicket};
use crate::i18n::Lang;
use crate::policy::{Context, Decision, LoginFailure, Procedure, decide};
use crate::session::Session;

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

/// The `outcome` value a failed login adds to the return path.
pub(crate) fn outcome_code(failure: LoginFailure) -> &'static str {
    match failure {
        LoginFailure::Cancelled => "cancelled",
        LoginFailure::NoEid => "no_eid",
        LoginFailure::ProviderUnavailable => "provider_unavailable",
        LoginFailure::LevelNotReachable => "level_unreachable",
    }
}

fn parse_outcome(code: &str) -> Option<LoginFailure> {
    match code {
        "cancelled" => Some(LoginFailure::Cancelled),
        "no_eid" => Some(LoginFailure::NoEid),
        "provider_unavailable" => Some(LoginFailure::ProviderUnavailable),
        "level_unreachable" => Some(LoginFailure::LevelNotReachable),
        _ => None,
    }
}

/// The step-up bookkeeping key for a procedure's requirement.
pub(crate) fn max_age_key(procedure: &Procedure) -> Option<u32> {
    u32::try_from(procedure.max_auth_age().num_seconds()).ok()
}

impl Gateway {
    /// Decides for `procedure` with the resident's session and query.
    pub(crate) fn evaluate(
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
        decision
    }

    /// Builds the referral for an in-person decision and issues its ticket (stored, so the
    /// counter can look it up by code).
    pub(crate) async fn referral_with_ticket(
        &self,
        procedure: &Procedure,
        decision: &Decision,
    ) -> Option<(Referral, SignedTicket)> {
        let Decision::InPerson(route) = decision else {
            return None;
        };
        let now = self.clock.now();
        let referral = Referral::build(&self.directory, procedure, route, now).ok()?;
        let ticket = self
            .tickets
            .issue(&referral, None, now, self.random.as_ref())
            .ok()?;
        self.store.save_ticket(&ticket.ticket).await.ok()?;
        self.metrics.record_referral(route.reason.as_str());
        Some((referral, ticket))
    }
}

/// The referral as the JSON API shows it: the referral itself plus its ticket.
pub(crate) fn referral_json(referral: &Referral, ticket: &SignedTicket) -> Value {
    let mut value = serde_json::to_value(referral).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert(
            "ticket".to_owned(),
            json!({
                "code": ticket.ticket.code.to_string(),
                "expires_at": ticket.ticket.expires_at,
                "url": format!("/tickets/{}", ticket.ticket.code),
                "jws": ticket.jws,
            }),
        );
        map.insert(
            "ticket_code".to_owned(),
            Value::from(ticket.ticket.code.to_string()),
        );
    }
    value
}
