//! Integrations with web frameworks.

#[cfg(feature = "axum")]
pub mod axum;
