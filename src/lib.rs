//! wardgate: assurance-gated OpenID Connect for Vietnamese ward portals.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod assurance;
pub mod audit;
pub mod clock;
#[cfg(feature = "devidp")]
#[cfg_attr(docsrs, doc(cfg(feature = "devidp")))]
pub mod devidp;
pub mod fallback;
pub mod i18n;
pub mod keys;
pub mod oidc;
pub mod policy;
pub mod pseudonym;
pub mod session;
pub mod stats;
pub mod store;
pub mod submission;

pub use assurance::{Assurance, Level};
pub use clock::{Clock, SystemClock};
pub use oidc::RelyingParty;
