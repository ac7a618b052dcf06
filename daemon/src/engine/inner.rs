//! What the engine and its job runners share: the store, the providers, the config in force
//! and each provider's limits.

use super::limits::ProviderLimits;
use crate::config::Config;
use crate::providers::{CallContext, Provider, Registry};
use crate::store::Store;
use genq_protocol::{JobId, Paths};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub(super) struct Inner {
    pub(super) store: Store,
    /// The adaptors of the provider instances in force, replaced when the config changes.
    pub(super) registry: RwLock<Arc<Registry>>,
    pub(super) config: RwLock<Arc<Config>>,
    pub(super) config_error: Mutex<Option<String>>,
    /// Told each time a new config is put in force.
    pub(super) config_applied: tokio::sync::watch::Sender<()>,
    pub(super) paths: Paths,
    /// Built on first use (see [`Inner::http`]).
    pub(super) http: OnceLock<reqwest::Client>,
    /// Each provider instance's limits; an instance keeps its own across config changes.
    pub(super) limits: Mutex<BTreeMap<String, Arc<ProviderLimits>>>,
    /// Cancels one job's runner.
    pub(super) running: Mutex<HashMap<JobId, CancellationToken>>,
    /// Each provider's admitter, which starts queued jobs as slots free up.
    pub(super) admitters: Mutex<HashMap<String, Arc<Notify>>>,
    pub(super) tasks: TaskTracker,
    pub(super) shutdown: CancellationToken,
}

impl Inner {
    /// The client for provider calls and downloads. Building it loads the system's root
    /// certificates, so it waits for the first request: an idle daemon holds none of them.
    pub(super) fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            reqwest::Client::builder()
                .user_agent(concat!("genq/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(std::time::Duration::from_secs(15))
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .unwrap_or_default()
        })
    }

    pub(super) fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    pub(super) fn registry(&self) -> Arc<Registry> {
        self.registry
            .read()
            .map(|r| r.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// The adaptor of the provider instance `name`.
    pub(super) fn adaptor(&self, name: &str) -> Option<Arc<dyn Provider>> {
        self.registry().get(name).cloned()
    }

    /// The limits of the provider instance `name`, made from the config's figures the first
    /// time they are asked for.
    pub(super) fn limits_of(&self, name: &str) -> Arc<ProviderLimits> {
        let mut all = self.limits.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = all.get(name) {
            return l.clone();
        }
        let config = self.config();
        let figures = config
            .providers
            .get(name)
            .map(|p| p.limits)
            .unwrap_or_default();
        let l = ProviderLimits::new(figures);
        all.insert(name.to_string(), l.clone());
        l
    }

    /// Puts `config`'s provider instances and their limits in force.
    pub(super) fn apply_providers(&self, config: &Config) {
        let next = Arc::new(self.registry().updated(config));
        if let Ok(mut r) = self.registry.write() {
            *r = next;
        }
        let all = self.limits.lock().unwrap_or_else(|p| p.into_inner());
        for (name, settings) in &config.providers {
            if let Some(l) = all.get(name) {
                l.update(settings.limits);
            }
        }
    }

    /// Whether `id` has a runner (started, not yet ended).
    pub(super) fn has_runner(&self, id: &JobId) -> bool {
        self.running.lock().is_ok_and(|r| r.contains_key(id))
    }

    /// Where `provider`'s API is, from the config in force now.
    pub(super) fn base_url(&self, provider: &str) -> Option<String> {
        self.base_url_in(&self.config(), provider)
    }

    fn base_url_in(&self, config: &Config, provider: &str) -> Option<String> {
        let adaptor = self.adaptor(provider)?;
        Some(config.providers.get(provider).map_or_else(
            || adaptor.default_base_url().to_string(),
            |s| s.base_url.clone(),
        ))
    }

    /// What an adaptor needs for its next call, from the config in force now.
    pub(super) fn call_context(&self, provider: &str) -> Option<CallContext> {
        let config = self.config();
        Some(CallContext {
            base_url: self.base_url_in(&config, provider)?,
            http: self.http().clone(),
            key: config.providers.get(provider).and_then(|s| s.key.clone()),
            spool: self.paths.cache.join("spool"),
        })
    }
}
