//! Long-form documentation: how wardgate decides, what it protects against, how to deploy it.
//!
//! Each page is a module so it is versioned and doc-tested with the code.

#[doc = include_str!("assurance_mapping.md")]
pub mod assurance_mapping {}

#[doc = include_str!("threat_model.md")]
pub mod threat_model {}

#[doc = include_str!("data_inventory.md")]
pub mod data_inventory {}
