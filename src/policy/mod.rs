//! Procedure policy: the catalog of procedures and the decision, for one resident and one
//! procedure, between online submission, sign-in, step-up and in-person service.
//!
//! Rules this module enforces:
//!
//! 1. [`decide`] never fails: every combination of inputs gives an outcome that leads somewhere
//!    useful (an online form, a sign-in, one step-up, or an in-person referral).
//! 2. A procedure that requires presence, or a resident who chose in-person service, always goes
//!    in person.
//! 3. A login that meets the procedure's level with a fresh enough authentication always goes
//!    online, whatever happened earlier in the session (so raising the level never turns
//!    "online" into something else).
//! 4. A failed last login (cancelled, no e-ID, provider unavailable, level not reachable) goes
//!    in person with that reason; the referral tells the resident they can still retry.
//! 5. Step-up is asked at most once per session per requirement; after that the resident goes in
//!    person (no redirect loops).
//! 6. An authentication without `auth_time`, or one more than a minute in the future, counts as
//!    too old: when in doubt, the most conservative outcome.
//! 7. The catalog is validated at load; errors name the file, the procedure and the field.
//! 8. A level-1 *account* ([`Assurance::is_account_level`]) below the procedure's level goes in
//!    person: signing in again cannot raise it. A level-1 login whose level is only that of the
//!    login (an `acr` the provider may raise when asked) gets one step-up.
//!
//! The online path allocates nothing; the in-person path only copies the chosen reception point.
//!
//! # Example
//!
//! ```
//! use chrono::{Duration, TimeZone, Utc};
//! use wardgate::assurance::{Assurance, Level, SourceKind};
//! use wardgate::policy::{decide, Catalog, Context, Decision, ReasonCode};
//!
//! let catalog = Catalog::load(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/catalog.toml"))?;
//! let birth = catalog.procedure("1.001193").ok_or("no birth registration")?;
//! let now = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).single().ok_or("time")?;
//! let ctx = Context::new(now);
//!
//! // No session yet: sign in.
//! assert_eq!(decide(birth, None, &ctx).kind_str(), "sign_in");
//!
//! // A fresh level-2 login: online, until auth_time + max_age.
//! let level2 = Assurance::new(Some(Level::Two), "https://sso.example", SourceKind::UserinfoClaim,
//!     Some(now - Duration::minutes(5)));
//! let Decision::Online(grant) = decide(birth, Some(&level2), &ctx) else { panic!() };
//! assert_eq!(grant.level, Level::Two);
//!
//! // A level-1 account (VNeID's `accountLevel`): in person, signing in again cannot raise it.
//! let account = Assurance::new(Some(Level::One), "https://sso.example", SourceKind::UserinfoClaim,
//!     Some(now));
//! let in_person = decide(birth, Some(&account), &ctx);
//! assert_eq!(in_person.kind_str(), "in_person");
//! assert_eq!(in_person.reason(), ReasonCode::LevelBelowRequired);
//! assert_eq!(in_person.diagnostics().have, Some(Level::One));
//!
//! // A level-1 `acr` of one login: one step-up, then in person.
//! let login = Assurance::new(Some(Level::One), "https://sso.example", SourceKind::IdTokenAcr,
//!     Some(now));
//! assert_eq!(decide(birth, Some(&login), &ctx).kind_str(), "step_up");
//! let again = decide(birth, Some(&login), &ctx.clone().with_step_up_tried(true));
//! assert_eq!(again.kind_str(), "in_person");
//! assert_eq!(again.reason(), ReasonCode::LevelBelowRequired);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod catalog;
mod decision;

#[cfg(test)]
mod tests;

use chrono::Duration;

use crate::assurance::{Assurance, Level};

pub(crate) use catalog::locate;
pub use catalog::{
    Catalog, CatalogError, ConfigProblem, Counter, DEFAULT_MAX_AUTH_AGE_MINUTES, Field, FieldError,
    FieldKind, FieldOption, FieldProblem, Procedure, ProcedureCode,
};
pub use decision::{
    Context, Decision, Diagnostics, Grant, InPersonRoute, LoginFailure, ReasonCode, Requirement,
    SignIn, StepUp,
};

/// How far in the future an `auth_time` may lie (clock skew) before it counts as untrustworthy.
const AUTH_TIME_SKEW_SECONDS: i64 = 60;

/// Decides what to do for `procedure`, given the resident's verified `assurance` (or `None` when
/// there is no session) and the request `ctx`.
///
/// Pure and cheap: call it on every request. See the module documentation for the rules.
pub fn decide(procedure: &Procedure, assurance: Option<&Assurance>, ctx: &Context) -> Decision {
    let need = procedure.online_level();
    let max_age = procedure.max_auth_age();
    let auth_age = assurance.and_then(|a| a.age(ctx.now));
    let requirement = Requirement {
        level: need,
        max_age_seconds: max_age.num_seconds(),
    };
    let mut diagnostics = Diagnostics {
        have: assurance.and_then(Assurance::level),
        need,
        signed_in: assurance.is_some(),
        auth_age_seconds: auth_age.map(|age| age.num_seconds()),
        max_age_seconds: requirement.max_age_seconds,
        step_up_tried: ctx.step_up_tried,
        login_failure: ctx.last_login,
        presence_required: procedure.presence_required(),
        chose_in_person: ctx.chose_in_person,
    };
    let in_person = |reason, can_retry_sign_in, diagnostics| {
        Decision::InPerson(InPersonRoute {
            procedure: procedure.code(),
            reason,
            ward: ctx.ward,
            reception_point: ctx.reception_point.clone(),
            lang: ctx.lang,
            can_retry_sign_in,
            diagnostics,
        })
    };

    if procedure.presence_required() {
        return in_person(ReasonCode::PresenceRequired, false, diagnostics);
    }
    if ctx.chose_in_person {
        return in_person(ReasonCode::ResidentChoseInPerson, true, diagnostics);
    }

    let level_met = assurance.is_some_and(|a| a.meets(need));
    let fresh = auth_age
        .is_some_and(|age| age <= max_age && age >= -Duration::seconds(AUTH_TIME_SKEW_SECONDS));
    if let (true, true, Some(a), Some(auth_time)) = (
        level_met,
        fresh,
        assurance,
        assurance.and_then(Assurance::auth_time),
    ) {
        return Decision::Online(Grant {
            procedure: procedure.code(),
            level: a.level().unwrap_or(need),
            max_age_seconds: requirement.max_age_seconds,
            expires_at: auth_time + max_age,
            diagnostics,
            reason: ReasonCode::LevelMet,
        });
    }

    if let Some(failure) = ctx.last_login {
        let reason = match failure {
            LoginFailure::Cancelled => ReasonCode::ResidentCancelled,
            LoginFailure::NoEid => ReasonCode::NoEid,
            LoginFailure::ProviderUnavailable => ReasonCode::ProviderUnavailable,
            LoginFailure::LevelNotReachable => ReasonCode::LevelBelowRequired,
        };
        // A provider that could not reach the level has in effect answered the step-up.
        if failure == LoginFailure::LevelNotReachable {
            diagnostics.step_up_tried = true;
        }
        let can_retry = failure != LoginFailure::LevelNotReachable;
        return in_person(reason, can_retry, diagnostics);
    }

    let Some(assurance) = assurance else {
        return Decision::SignIn(SignIn {
            procedure: procedure.code(),
            requirement,
            diagnostics,
            reason: ReasonCode::NoSession,
        });
    };

    // A level-1 account is raised only by enrolment in person at the police: signing in again
    // would come back at level 1, so the resident goes in person now (rule 8).
    if !level_met && assurance.level() == Some(Level::One) && assurance.is_account_level() {
        return in_person(ReasonCode::LevelBelowRequired, false, diagnostics);
    }

    let reason = if level_met {
        ReasonCode::AuthenticationTooOld
    } else {
        ReasonCode::LevelBelowRequired
    };
    if ctx.step_up_tried {
        let reason = if level_met {
            ReasonCode::StepUpAlreadyTried
        } else {
            ReasonCode::LevelBelowRequired
        };
        return in_person(reason, false, diagnostics);
    }
    Decision::StepUp(StepUp {
        procedure: procedure.code(),
        requirement,
        reason,
        diagnostics,
    })
}
