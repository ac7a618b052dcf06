//! The catalog: which suppliers and models genq offers (with parameter ranges, capabilities,
//! categories and one default model per capability) and the LoRA gallery fetched from
//! ModelScope. SQL lives in `store::catalog`; this module holds the rules.
//!
//! Layout: [`entry_checks`] checks the entries users add or edit, [`seed`] is the built-in
//! catalog, [`instances`] the rows of configured provider instances, [`validation`] is the path a submitted spec takes (default model, adaptor checks,
//! catalog entry), [`loras`] fetches LoRA cards from their sources (ModelScope, Civitai,
//! Hugging Face), caches them and downloads covers.

pub mod entry_checks;
pub mod instances;
pub mod loras;
pub mod seed;
pub mod validation;

pub use validation::{SpecCheckError, check_spec};

use crate::config::Config;
use crate::store::{Store, StoreError};

/// Applies the built-in catalog (at every start).
pub async fn seed(store: &Store) -> Result<usize, StoreError> {
    store.seed_catalog(seed::builtin()).await
}

/// Adds the catalog rows of the provider instances `config` defines (at start and when the
/// config changes).
pub async fn seed_instances(store: &Store, config: &Config) -> Result<usize, StoreError> {
    store.seed_catalog(instances::seed_of(config)).await
}
