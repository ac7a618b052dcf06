//! The catalog rules every submit is checked against, kept in memory so a submit does not
//! read the catalog tables. The database stays the one source of truth: every catalog write
//! goes through [`Store::write_catalog`], which empties the snapshot once its transaction has
//! committed and before the writer hears back, so a submit made after an edit sees the edit.
//! A read that raced a write is not kept (the generation it started under has passed).

use super::catalog_state::{Cached, SupplierRules};
use super::db::Store;
use super::error::StoreError;
use genq_protocol::catalog::{Model, ModelsListParams};
use rusqlite::Transaction;
use std::collections::HashMap;
use std::future::Future;
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
        self.through_snapshot(
            |c| &mut c.suppliers,
            supplier,
            |supplier| async move {
                let entries = self
                    .list_models(ModelsListParams {
                        supplier: Some(supplier),
                        capability: None,
                        include_removed: true,
                    })
                    .await?;
                Ok(Arc::new(SupplierRules { entries }))
            },
        )
        .await
    }

    /// The default model of a capability unless it is removed or inactive, from the snapshot
    /// when it has it.
    pub async fn current_default_model(
        &self,
        capability: String,
    ) -> Result<Option<Model>, StoreError> {
        self.through_snapshot(
            |c| &mut c.defaults,
            capability,
            |capability| self.default_model(capability),
        )
        .await
    }

    /// The snapshot's value for `key` in the map `slot` picks, else `read`'s, kept unless a
    /// catalog write came in between.
    async fn through_snapshot<V, Fut>(
        &self,
        slot: fn(&mut Cached) -> &mut HashMap<String, V>,
        key: String,
        read: impl FnOnce(String) -> Fut,
    ) -> Result<V, StoreError>
    where
        V: Clone,
        Fut: Future<Output = Result<V, StoreError>>,
    {
        let snapshot = self.catalog_snapshot();
        let generation = {
            let mut c = snapshot.lock();
            if let Some(value) = slot(&mut c).get(&key) {
                return Ok(value.clone());
            }
            c.generation
        };
        snapshot.reads.fetch_add(1, Ordering::Relaxed);
        let value = read(key.clone()).await?;
        let mut c = snapshot.lock();
        if c.generation == generation {
            slot(&mut c).insert(key, value.clone());
        }
        Ok(value)
    }

    /// How many catalog reads the snapshot has made since the store opened.
    pub fn catalog_reads(&self) -> u64 {
        self.catalog_snapshot().reads.load(Ordering::Relaxed)
    }
}
