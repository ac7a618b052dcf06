//! The in-memory catalog snapshot's state, shared by a store handle and its clones.

use genq_protocol::catalog::Model;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

/// What the catalog says about one supplier's models.
#[derive(Debug)]
pub struct SupplierRules {
    /// Every entry of the supplier, removed ones included.
    pub entries: Vec<Model>,
}

impl SupplierRules {
    /// The kinds (`image`, `model3d`, …) of the supplier's models that are not removed.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .filter(|m| !m.removed)
            .map(|m| m.kind.as_str())
    }
}

#[derive(Default)]
pub(super) struct Cached {
    /// Bumped by every catalog write; a read started under an older one is not kept.
    pub(super) generation: u64,
    pub(super) suppliers: HashMap<String, Arc<SupplierRules>>,
    pub(super) defaults: HashMap<String, Option<Model>>,
}

/// The snapshot a [`Store`] handle shares with its clones.
#[derive(Default)]
pub(super) struct CatalogSnapshot {
    cached: Mutex<Cached>,
    /// Catalog reads made to fill the snapshot.
    pub(super) reads: AtomicU64,
}

impl CatalogSnapshot {
    pub(super) fn lock(&self) -> MutexGuard<'_, Cached> {
        // The map holds no invariant a panic could break half-way: keep using it.
        self.cached.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn invalidate(&self) {
        let mut c = self.lock();
        c.generation += 1;
        c.suppliers.clear();
        c.defaults.clear();
    }
}
