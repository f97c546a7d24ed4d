//! wardgate: assurance-gated OpenID Connect for Vietnamese ward portals.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod assurance;
pub mod clock;
pub mod integrations;
pub mod oidc;
pub mod session;

pub use assurance::{Assurance, Level};
pub use clock::{Clock, SystemClock};
pub use oidc::RelyingParty;
