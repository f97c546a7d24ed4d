//! A shared bearer secret for a machine client (the monitoring system, the province's reporting
//! system): checked for strength once, compared in constant time, never printed.

use std::sync::Arc;

use axum::http::{HeaderMap, header};

/// A bearer secret of at least the minimum length, in visible ASCII.
#[derive(Clone)]
pub(crate) struct BearerSecret(Arc<str>);

impl BearerSecret {
    /// `token`, or `None` when it is shorter than `min_len` or holds characters outside visible
    /// ASCII (which could not travel in a header unchanged).
    pub(crate) fn new(token: &str, min_len: usize) -> Option<Self> {
        let visible = token.bytes().all(|b| b.is_ascii_graphic());
        (token.len() >= min_len && visible).then(|| Self(Arc::from(token)))
    }

    /// Whether `headers` carry `Authorization: Bearer <this secret>`, compared in constant time.
    pub(crate) fn admits(&self, headers: &HeaderMap) -> bool {
        use subtle::ConstantTimeEq as _;
        let Some(presented) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        let presented = presented.trim().as_bytes();
        presented.len() == self.0.len() && bool::from(presented.ct_eq(self.0.as_bytes()))
    }
}
