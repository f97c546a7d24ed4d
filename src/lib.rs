//! # wardgate
//!
//! Assurance-gated OpenID Connect for Vietnamese ward portals. Before a resident files an
//! administrative dossier online, wardgate proves — from what the identity provider *returned*
//! and wardgate *verified*, never from what was asked for — that the resident's e-identity is at
//! VNeID **level 2**. A resident who cannot get there (only level 1, no e-ID, a cancelled login,
//! a provider that is down) is never left at a dead end: wardgate routes them to **in-person
//! service** at their ward's Public Administrative Service Center, with the reason, the place,
//! the hours, what to bring, a booked slot and a ticket the counter can pick up from.
//!
//! ```
//! use chrono::{Duration, Utc};
//! use serde_json::json;
//! use wardgate::assurance::{LevelSource, ReturnedClaims, SourceKind};
//! use wardgate::policy::{decide, Catalog, Context};
//! use wardgate::{Assurance, Level};
//!
//! // What a VNeID-style provider returned in userinfo, after verification:
//! let userinfo = json!({"sub": "8f2c", "accountLevel": 1});
//! let level = LevelSource::vneid().level(ReturnedClaims::new(None, userinfo.as_object()));
//! let now = Utc::now();
//! let resident = Assurance::new(level, "https://sso.example", SourceKind::UserinfoClaim, Some(now));
//!
//! let catalog = Catalog::load(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/catalog.toml"))?;
//! let birth_registration = catalog.procedure("1.001193").ok_or("unknown procedure")?;
//! let ctx = Context::new(now).with_step_up_tried(true);
//! let decision = decide(birth_registration, Some(&resident), &ctx);
//! assert_eq!(decision.kind_str(), "in_person");           // level 1 cannot file online
//! assert_eq!(decision.reason().as_str(), "level_below_required");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The flow
//!
//! ```text
//! resident ──► portal route for procedure P
//!               │
//!               ▼
//!         policy::decide(P, assurance?, context) ──► Decision
//!               ├─ Online(grant)    → form → submission (re-checked) → durable store → receipt
//!               ├─ SignIn / StepUp  → RelyingParty::begin → provider → RelyingParty::complete
//!               │                     → Assurance (level from what came back) → decide again
//!               └─ InPerson(route)  → fallback::Referral: centre, reason, checklist, slot, ticket
//! ```
//!
//! Every arrow hands on a plain value. [`policy::decide`] never fails: "not enough assurance" is
//! a [`policy::Decision`], not an error. Errors are for broken input and broken infrastructure.
//!
//! | module | owns |
//! | --- | --- |
//! | [`assurance`] | [`Level`], [`Assurance`] with provenance, level sources and presets |
//! | [`oidc`] | [`RelyingParty`]: discovery, `begin`, `complete`, ID-token verification on ring, JWKS cache |
//! | [`policy`] | the procedure catalog and [`policy::decide`] |
//! | [`fallback`] | the ward directory, referrals, slot booking, resumable signed tickets |
//! | [`session`] | sealed cookies (AES-256-GCM key ring), sessions with timeouts, the login-flow cookie |
//! | [`submission`] | re-check at submission time, idempotency, signed receipts, the hand-off envelope and its outbox |
//! | [`store`] | one storage trait for bookings, drafts, tickets, submissions, outbox and audit; memory, SQLite and PostgreSQL |
//! | [`audit`] | the hash-chained audit log of decisions, logins, submissions, referrals and bookings |
//! | [`stats`] | per ward and procedure: dossiers, online share, referrals by reason, bookings kept |
//! | [`pseudonym`] | keyed hashes for subjects and citizen ID numbers |
//! | [`keys`] | Ed25519 signing keys, compact JWS and the published JWKS |
//! | [`i18n`] | Vietnamese first, English second, for every resident-facing string |
//! | `devidp` | a local OpenID Provider simulator with personas (feature `devidp`) |
//! | [`integrations::axum`] | the embeddable gate for axum applications (feature `axum`) |
//! | [`portal`] | the bundled ward portal as an axum router (feature `axum`) |
//! | [`manual`] | the assurance-mapping rationale, the threat model and one page per provider profile |
//!
//! ## Security model
//!
//! - The level comes only from a verified provider response, through the provider's configured
//!   [`assurance::LevelSource`]; unknown or malformed values give no level (deny by default).
//! - Code flow with PKCE S256, `state`, `nonce`, RFC 9207 `iss`, exact issuer, https off
//!   loopback, no redirects on outbound HTTP, size caps; ID tokens verified with ring under an
//!   explicit algorithm allow-list. See [`manual::threat_model`].
//! - Step-up is tried at most once per requirement; then the resident is referred in person.
//! - Secrets and personal data print `[redacted]` in `Debug`; tokens, codes, citizen ID numbers
//!   and names are never logged.
//! - Time, randomness and HTTP are injected ([`Clock`], [`clock::Random`], [`oidc::HttpClient`]).
//!
//! ## Crate features
//!
//! | feature | what | default | security note |
//! | --- | --- | --- | --- |
//! | `axum` | the axum integration behind the example ward gateway | yes | adds HTTP handlers; cookies and `Authorization` are marked sensitive in traces |
//! | `openapi` | JSON Schema descriptions (utoipa `ToSchema`) of the core types the portal's JSON API answers with; enabled by `axum` | yes | none: descriptions only |
//! | `devidp` | the provider simulator | yes | issues level-2 logins to anyone who clicks: never point a production portal at it; disable with `default-features = false` |
//! | `sqlite` | the SQLite store (WAL, `synchronous = FULL`, bundled SQLite) | yes | the database file holds dossiers: it is created readable by its owner only |
//! | `postgres` | the PostgreSQL store, for several gateway instances | yes | connection URLs never appear in `Debug` output or logs |
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod assurance;
pub mod audit;
pub mod clock;
#[cfg(feature = "devidp")]
#[cfg_attr(docsrs, doc(cfg(feature = "devidp")))]
pub mod devidp;
pub mod fallback;
pub mod i18n;
pub mod integrations;
pub mod keys;
pub mod manual;
pub mod oidc;
pub mod policy;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod portal;
pub mod pseudonym;
pub mod session;
pub mod stats;
pub mod store;
pub mod submission;

pub use assurance::{Assurance, Level};
pub use clock::{Clock, SystemClock};
pub use oidc::RelyingParty;

/// The README's Rust blocks compile and run as doc tests.
#[cfg(all(doctest, feature = "axum"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
