//! The catalog: which suppliers and models genq offers (with parameter ranges, capabilities,
//! categories and one default model per capability) and the LoRA gallery fetched from
//! ModelScope. SQL lives in `store::catalog`; this module holds the rules.
//!
//! Layout: [`entry_checks`] checks the entries users add or edit, [`seed`] is the built-in
//! catalog, [`validation`] is the path a submitted spec takes (default model, adaptor checks,
//! catalog entry), [`modelscope`] parses the dolphin listing and detail into cards
//! ([`civitai`] and [`huggingface`] do the same for those sites), [`loras`] caches cards and
//! downloads covers.

pub mod civitai;
pub mod entry_checks;
pub mod huggingface;
pub mod loras;
pub mod modelscope;
pub mod seed;
pub mod validation;

pub use validation::{SpecCheckError, check_spec};

use crate::store::{Store, StoreError};

/// Applies the built-in catalog (at every start).
pub async fn seed(store: &Store) -> Result<usize, StoreError> {
    store.seed_catalog(seed::builtin()).await
}
