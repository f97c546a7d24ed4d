//! wardgate integration tests: one binary, real HTTP on loopback.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed expectation is a failed test"
)]

mod backup_restore;
mod counter;
mod crash;
mod dossier_status;
mod edges13;
mod embed;
mod endpoints;
mod gateway;
mod gateway_mode;
mod gateway_mode_oidc;
mod gateway_profiles;
mod hint12;
mod hostile;
mod interop;
mod journey_visit;
mod keys_rotation;
mod layers16;
mod limits;
mod oidc_flow;
mod operations;
mod outbox_faults;
mod outbox_metrics;
mod owner12;
mod perf16;
mod profiles;
mod provider_faults;
mod proxy19;
mod retention;
mod review;
mod shared_device;
mod shared_device_oidc;
mod slow_clients;
mod store_postgres;
mod store_sqlite;
mod support {
    pub(crate) mod devidp;
    pub(crate) mod hostile_idp;
    pub(crate) mod jar;
    pub(crate) mod oidc_provider;
    pub(crate) mod openapi;
    pub(crate) mod store;
    pub(crate) mod ticket_faults;
}
