//! Online submission of dossiers.

mod types;

pub use types::{
    CodeError, DossierCode, IdempotencyKey, IdempotencyKeyError, MAX_IDEMPOTENCY_KEY_LEN,
    PayloadDigest, canonical_json,
};
