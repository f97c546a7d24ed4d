//! Audit chain tests.
