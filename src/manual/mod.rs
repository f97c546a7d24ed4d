//! Long-form documentation: how wardgate decides, what it protects against, how to deploy it.
//!
//! Each page is a module so it is versioned and doc-tested with the code.

#[doc = include_str!("assurance_mapping.md")]
pub mod assurance_mapping {}

#[doc = include_str!("threat_model.md")]
pub mod threat_model {}

#[doc = include_str!("deploying.md")]
pub mod deploying {}

#[doc = include_str!("gateway_mode.md")]
pub mod gateway_mode {}

/// Provider profiles: what each kind of provider sends, what wardgate verifies for it, what it
/// cannot verify, and what to ask the provider before going live.
///
/// Chosen per provider with `profile = "…"` in the gateway's TOML file,
/// `WARDGATE_PROVIDER_PROFILE`, or [`ClientConfig::profile`](crate::oidc::ClientConfig::profile).
///
/// | profile | ID token | level from | quirks handled |
/// | --- | --- | --- | --- |
/// | [`standard`](profiles::standard) | required | the configured source (usually `acr`) | none |
/// | [`npsp`](profiles::npsp) | required | userinfo field | `LoA1`/`LoA2` requested; Vietnamese attribute names |
/// | [`vneid_direct`](profiles::vneid_direct) | none | userinfo `accountLevel` | no `nonce`; encrypted bodies and codes; `+` in codes; no `sub` |
/// | [`keycloak_broker`](profiles::keycloak_broker) | required | a mapped ID-token claim | `acr` "0"/"1" ignored |
pub mod profiles {
    #[doc = include_str!("profiles/standard.md")]
    pub mod standard {}

    #[doc = include_str!("profiles/npsp.md")]
    pub mod npsp {}

    #[doc = include_str!("profiles/vneid_direct.md")]
    pub mod vneid_direct {}

    #[doc = include_str!("profiles/keycloak_broker.md")]
    pub mod keycloak_broker {}
}

#[doc = include_str!("data_inventory.md")]
pub mod data_inventory {}

#[doc = include_str!("backoffice_protocol.md")]
pub mod backoffice_protocol {}
#[doc = include_str!("statistics.md")]
pub mod statistics {}
