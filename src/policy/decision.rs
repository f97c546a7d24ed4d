//! The outcome of [`decide`](super::decide): a value, never an error.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::assurance::Level;
use crate::fallback::WardCode;
use crate::i18n::{Lang, MessageId};

use super::catalog::ProcedureCode;

/// What the portal should do next for one resident and one procedure.
///
/// Exhaustive on purpose: a new outcome must break every `match`.
#[expect(
    clippy::exhaustive_enums,
    reason = "adding an outcome must break callers' match (decisions as values)"
)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decision {
    /// Route the resident to in-person service; build the page with
    /// [`Referral::build`](crate::fallback::Referral::build).
    InPerson(InPersonRoute),
    /// The resident may fill in and submit the dossier online.
    Online(Grant),
    /// The resident has no session: send them to sign in.
    SignIn(SignIn),
    /// The resident must sign in again (higher level or fresher login).
    StepUp(StepUp),
}

impl Decision {
    /// Why this decision was taken.
    pub fn reason(&self) -> ReasonCode {
        match self {
            Self::InPerson(route) => route.reason,
            Self::Online(_) => ReasonCode::LevelMet,
            Self::SignIn(_) => ReasonCode::NoSession,
            Self::StepUp(step_up) => step_up.reason,
        }
    }

    /// What the decision was based on.
    pub fn diagnostics(&self) -> &Diagnostics {
        match self {
            Self::InPerson(route) => &route.diagnostics,
            Self::Online(grant) => &grant.diagnostics,
            Self::SignIn(sign_in) => &sign_in.diagnostics,
            Self::StepUp(step_up) => &step_up.diagnostics,
        }
    }

    /// The procedure decided on.
    pub fn procedure(&self) -> ProcedureCode {
        match self {
            Self::InPerson(route) => route.procedure,
            Self::Online(grant) => grant.procedure,
            Self::SignIn(sign_in) => sign_in.procedure,
            Self::StepUp(step_up) => step_up.procedure,
        }
    }

    /// Stable name of the outcome for JSON: `online`, `sign_in`, `step_up` or `in_person`.
    pub const fn kind_str(&self) -> &'static str {
        match self {
            Self::InPerson(_) => "in_person",
            Self::Online(_) => "online",
            Self::SignIn(_) => "sign_in",
            Self::StepUp(_) => "step_up",
        }
    }
}

/// Why a decision was taken; stable snake_case names for JSON, audit and statistics.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ReasonCode {
    /// No session: the resident has not signed in.
    NoSession,
    /// The resident has no e-ID account (the login said so).
    NoEid,
    /// The level reached is below the procedure's requirement.
    LevelBelowRequired,
    /// The login is older than the procedure allows.
    AuthenticationTooOld,
    /// The resident already signed in again for this requirement in this session.
    StepUpAlreadyTried,
    /// The resident cancelled the login.
    ResidentCancelled,
    /// The identity provider was unavailable.
    ProviderUnavailable,
    /// The procedure needs the resident in person, whatever the level.
    PresenceRequired,
    /// The resident chose in-person service.
    ResidentChoseInPerson,
    /// The level and the freshness of the login meet the requirement.
    LevelMet,
}

impl ReasonCode {
    /// All reason codes.
    pub const ALL: &'static [ReasonCode] = &[
        Self::NoSession,
        Self::NoEid,
        Self::LevelBelowRequired,
        Self::AuthenticationTooOld,
        Self::StepUpAlreadyTried,
        Self::ResidentCancelled,
        Self::ProviderUnavailable,
        Self::PresenceRequired,
        Self::ResidentChoseInPerson,
        Self::LevelMet,
    ];

    /// The stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NoSession => "no_session",
            Self::NoEid => "no_eid",
            Self::LevelBelowRequired => "level_below_required",
            Self::AuthenticationTooOld => "authentication_too_old",
            Self::StepUpAlreadyTried => "step_up_already_tried",
            Self::ResidentCancelled => "resident_cancelled",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::PresenceRequired => "presence_required",
            Self::ResidentChoseInPerson => "resident_chose_in_person",
            Self::LevelMet => "level_met",
        }
    }

    /// The resident-facing explanation.
    pub const fn message(self) -> MessageId {
        match self {
            Self::NoSession => MessageId::ReasonNoSession,
            Self::NoEid => MessageId::ReasonNoEid,
            Self::LevelBelowRequired => MessageId::ReasonLevelBelowRequired,
            Self::AuthenticationTooOld => MessageId::ReasonAuthenticationTooOld,
            Self::StepUpAlreadyTried => MessageId::ReasonStepUpAlreadyTried,
            Self::ResidentCancelled => MessageId::ReasonResidentCancelled,
            Self::ProviderUnavailable => MessageId::ReasonProviderUnavailable,
            Self::PresenceRequired => MessageId::ReasonPresenceRequired,
            Self::ResidentChoseInPerson => MessageId::ReasonResidentChoseInPerson,
            Self::LevelMet => MessageId::ReasonLevelMet,
        }
    }

    /// The explanation in `lang`.
    pub fn text(self, lang: Lang) -> &'static str {
        crate::i18n::t(lang, self.message())
    }
}

/// How the last login attempt failed, as the relying party reported it.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum LoginFailure {
    /// The resident cancelled (`access_denied`).
    Cancelled,
    /// The resident has no e-ID account.
    NoEid,
    /// The provider was down or answered with `server_error` / `temporarily_unavailable`.
    ProviderUnavailable,
    /// The provider could not reach the requested level (`unmet_authentication_requirements`).
    LevelNotReachable,
}

/// A requirement a login must meet: the level and the maximum age of the authentication.
///
/// The session records which requirements a step-up was already tried for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Requirement {
    /// The level needed.
    pub level: Level,
    /// The maximum age of the authentication, in seconds (OIDC `max_age`).
    pub max_age_seconds: i64,
}

/// What a decision was based on (for audit, statistics and the JSON API).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Diagnostics {
    /// The level the resident has, if signed in and recognised.
    pub have: Option<Level>,
    /// The level the procedure needs online.
    pub need: Level,
    /// Whether there was an assurance (a session) at all.
    pub signed_in: bool,
    /// Age of the authentication in seconds, when known.
    pub auth_age_seconds: Option<i64>,
    /// The maximum age allowed, in seconds.
    pub max_age_seconds: i64,
    /// Whether a step-up was already tried for this requirement in this session.
    pub step_up_tried: bool,
    /// How the last login attempt failed, if it did.
    pub login_failure: Option<LoginFailure>,
    /// Whether the procedure requires presence.
    pub presence_required: bool,
    /// Whether the resident chose in-person service.
    pub chose_in_person: bool,
}

/// Permission to submit online, with its constraints.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// The procedure.
    pub procedure: ProcedureCode,
    /// The level the resident has.
    pub level: Level,
    /// The maximum age of the authentication, in seconds.
    pub max_age_seconds: i64,
    /// When the grant lapses: `auth_time + max_age`; submission must happen before.
    pub expires_at: DateTime<Utc>,
    /// What the decision was based on.
    pub diagnostics: Diagnostics,
    /// Always [`ReasonCode::LevelMet`].
    pub reason: ReasonCode,
}

/// The resident must sign in first.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SignIn {
    /// The procedure.
    pub procedure: ProcedureCode,
    /// What the login must meet (ask for it with `acr_values` and `max_age`).
    pub requirement: Requirement,
    /// What the decision was based on.
    pub diagnostics: Diagnostics,
    /// Always [`ReasonCode::NoSession`].
    pub reason: ReasonCode,
}

/// The resident must sign in again, once.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct StepUp {
    /// The procedure.
    pub procedure: ProcedureCode,
    /// What the new login must meet; record it as tried in the session before redirecting.
    pub requirement: Requirement,
    /// [`ReasonCode::LevelBelowRequired`] or [`ReasonCode::AuthenticationTooOld`].
    pub reason: ReasonCode,
    /// What the decision was based on.
    pub diagnostics: Diagnostics,
}

/// The resident should be served in person; the facts needed to build the referral.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InPersonRoute {
    /// The procedure.
    pub procedure: ProcedureCode,
    /// Why.
    pub reason: ReasonCode,
    /// The resident's ward, if known.
    pub ward: Option<WardCode>,
    /// The reception point the resident chose, if any.
    pub reception_point: Option<String>,
    /// The resident's language.
    pub lang: Lang,
    /// Whether signing in again could still lead online (the referral page offers it).
    pub can_retry_sign_in: bool,
    /// What the decision was based on.
    pub diagnostics: Diagnostics,
}

/// The facts of one request that, with the procedure and assurance, decide the outcome.
///
/// Plain data the gateway fills from the session and the request.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    /// The current time.
    pub now: DateTime<Utc>,
    /// The resident's ward, when known.
    pub ward: Option<WardCode>,
    /// The reception point the resident chose (or the portal's default), by id.
    pub reception_point: Option<String>,
    /// The resident's language.
    pub lang: Lang,
    /// Whether a step-up was already tried for this procedure's requirement in this session.
    pub step_up_tried: bool,
    /// How the last login attempt failed, if it did.
    pub last_login: Option<LoginFailure>,
    /// Whether the resident chose in-person service.
    pub chose_in_person: bool,
}

impl Context {
    /// A context at `now` with nothing else known.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now,
            ward: None,
            reception_point: None,
            lang: Lang::Vi,
            step_up_tried: false,
            last_login: None,
            chose_in_person: false,
        }
    }

    /// Sets the resident's ward.
    #[must_use]
    pub fn with_ward(mut self, ward: WardCode) -> Self {
        self.ward = Some(ward);
        self
    }

    /// Sets the chosen reception point.
    #[must_use]
    pub fn with_reception_point(mut self, id: impl Into<String>) -> Self {
        self.reception_point = Some(id.into());
        self
    }

    /// Sets the language.
    #[must_use]
    pub fn with_lang(mut self, lang: Lang) -> Self {
        self.lang = lang;
        self
    }

    /// Records whether a step-up was already tried for this requirement.
    #[must_use]
    pub fn with_step_up_tried(mut self, tried: bool) -> Self {
        self.step_up_tried = tried;
        self
    }

    /// Records how the last login failed.
    #[must_use]
    pub fn with_last_login(mut self, failure: Option<LoginFailure>) -> Self {
        self.last_login = failure;
        self
    }

    /// Records whether the resident chose in-person service.
    #[must_use]
    pub fn with_chose_in_person(mut self, chose: bool) -> Self {
        self.chose_in_person = chose;
        self
    }
}
