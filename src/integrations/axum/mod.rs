//! The embeddable gate for axum applications.
