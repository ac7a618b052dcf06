//! The adaptors genq ships, by name.

use super::adaptor::Provider;
use super::{dashscope, modelscope, tripo};
use crate::config::{KnownProviders, ProviderDefaults};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Adaptors by name.
#[derive(Clone, Default)]
pub struct Registry {
    providers: BTreeMap<&'static str, Arc<dyn Provider>>,
}

impl Registry {
    /// Every adaptor genq ships.
    pub fn builtin() -> Self {
        let mut registry = Registry::default();
        registry.register(Arc::new(modelscope::ModelScope::new()));
        registry.register(Arc::new(dashscope::DashScope::new()));
        registry.register(Arc::new(tripo::Tripo::new()));
        registry
    }

    pub fn register(&mut self, provider: Arc<dyn Provider>) {
        self.providers.insert(provider.name(), provider);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.providers.keys().copied()
    }
}

impl KnownProviders for Registry {
    fn provider_names(&self) -> Vec<&'static str> {
        self.names().collect()
    }

    fn provider_defaults(&self, name: &str) -> Option<ProviderDefaults> {
        self.get(name).map(|p| ProviderDefaults {
            base_url: p.default_base_url(),
            key_env_vars: p.key_env_vars(),
            limits: p.default_limits(),
        })
    }
}
