//! The catalog rules every submit is checked against, kept in memory so a submit does not
//! read the catalog tables. The database stays the one source of truth: every catalog write
//! goes through [`Store::write_catalog`], which empties the snapshot once its transaction has
//! committed and before the writer hears back, so a submit made after an edit sees the edit.
//! A read that raced a write is not kept (the generation it started under has passed).

use super::catalog_state::SupplierRules;
use super::db::Store;
use super::error::StoreError;
use genq_protocol::catalog::{Model, ModelsListParams};
use rusqlite::Transaction;
use std::sync::Arc;
use std::sync::atomic::Ordering;

impl Store {
    /// A write to the catalog tables: the snapshot is emptied once it has committed.
    pub(super) async fn write_catalog<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let result = self.write(f).await;
        self.catalog_snapshot().invalidate();
        result
    }

    /// The catalog's entries for `supplier`, from the snapshot when it has them.
    pub async fn supplier_rules(&self, supplier: String) -> Result<Arc<SupplierRules>, StoreError> {
        let snapshot = self.catalog_snapshot();
        let generation = {
            let c = snapshot.lock();
            if let Some(rules) = c.suppliers.get(&supplier) {
                return Ok(rules.clone());
            }
            c.generation
        };
        snapshot.reads.fetch_add(1, Ordering::Relaxed);
        let entries = self
            .list_models(ModelsListParams {
                supplier: Some(supplier.clone()),
                capability: None,
                include_removed: true,
            })
            .await?;
        let rules = Arc::new(SupplierRules { entries });
        let mut c = snapshot.lock();
        if c.generation == generation {
            c.suppliers.insert(supplier, rules.clone());
        }
        Ok(rules)
    }

    /// The default model of a capability unless it is removed or inactive, from the snapshot
    /// when it has it.
    pub async fn current_default_model(
        &self,
        capability: String,
    ) -> Result<Option<Model>, StoreError> {
        let snapshot = self.catalog_snapshot();
        let generation = {
            let c = snapshot.lock();
            if let Some(model) = c.defaults.get(&capability) {
                return Ok(model.clone());
            }
            c.generation
        };
        snapshot.reads.fetch_add(1, Ordering::Relaxed);
        let model = self.default_model(capability.clone()).await?;
        let mut c = snapshot.lock();
        if c.generation == generation {
            c.defaults.insert(capability, model.clone());
        }
        Ok(model)
    }

    /// How many catalog reads the snapshot has made since the store opened.
    pub fn catalog_reads(&self) -> u64 {
        self.catalog_snapshot().reads.load(Ordering::Relaxed)
    }
}
