//! The axum integration: the building blocks of the ward gateway.

pub mod config;
pub mod html;
pub mod metrics;
pub mod security;
