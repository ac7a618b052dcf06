//! What the engine and its job runners share: the store, the providers, the config in force
//! and each provider's limits.

use super::limits::ProviderLimits;
use crate::config::Config;
use crate::providers::{CallContext, Registry};
use crate::store::Store;
use genq_protocol::{JobId, Paths};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub(super) struct Inner {
    pub(super) store: Store,
    pub(super) registry: Registry,
    pub(super) config: RwLock<Arc<Config>>,
    pub(super) config_error: Mutex<Option<String>>,
    /// Told each time a new config is put in force.
    pub(super) config_applied: tokio::sync::watch::Sender<()>,
    pub(super) paths: Paths,
    pub(super) http: reqwest::Client,
    pub(super) limits: BTreeMap<String, Arc<ProviderLimits>>,
    /// Cancels one job's runner.
    pub(super) running: Mutex<HashMap<JobId, CancellationToken>>,
    pub(super) tasks: TaskTracker,
    pub(super) shutdown: CancellationToken,
}

impl Inner {
    pub(super) fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// What an adaptor needs for its next call, from the config in force now.
    pub(super) fn call_context(&self, provider: &str) -> Option<CallContext> {
        let config = self.config();
        let adaptor = self.registry.get(provider)?;
        let settings = config.providers.get(provider);
        Some(CallContext {
            http: self.http.clone(),
            base_url: settings
                .map(|s| s.base_url.clone())
                .unwrap_or_else(|| adaptor.default_base_url().to_string()),
            key: settings.and_then(|s| s.key.clone()),
        })
    }
}
