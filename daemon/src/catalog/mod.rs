//! The catalog: which suppliers and models genq offers (with parameter ranges, capabilities,
//! categories and one default model per capability) and the LoRA gallery fetched from
//! ModelScope. SQL lives in `store::catalog`; this module holds the rules.
//!
//! Layout: [`entry_checks`] checks the entries users add or edit, [`seed`] is the built-in
//! catalog, [`validation`] is the path a submitted spec takes (default model, adaptor checks,
//! catalog entry), [`loras`] fetches LoRA cards from their sources (ModelScope, Civitai,
//! Hugging Face), caches them and downloads covers.

pub mod entry_checks;
pub mod loras;
pub mod seed;
pub mod validation;

pub use validation::{SpecCheckError, check_spec};

use crate::store::{Store, StoreError};

/// Applies the built-in catalog (at every start).
pub async fn seed(store: &Store) -> Result<usize, StoreError> {
    store.seed_catalog(seed::builtin()).await
}
