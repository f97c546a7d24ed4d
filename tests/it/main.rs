//! wardgate integration tests: one binary, real HTTP on loopback.
