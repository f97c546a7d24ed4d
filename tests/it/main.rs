//! wardgate integration tests: one binary, real HTTP on loopback.

mod interop;
mod support {
    pub(crate) mod oidc_provider;
}
