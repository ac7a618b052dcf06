//! The provider types genq ships and the adaptors of the instances a config defines.

use super::adaptor::Provider;
use super::{comfyui, dashscope, modelscope, openai, tripo};
use crate::config::{Config, KnownProviders, ProviderDefaults, ProviderSection};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The types a `[providers.NAME]` table may name, and whether an instance named after the
/// type exists without a table.
const TYPES: [(&str, bool); 5] = [
    (modelscope::NAME, true),
    (dashscope::NAME, true),
    (tripo::NAME, true),
    (openai::NAME, false),
    (comfyui::NAME, false),
];

/// A new adaptor of `provider_type` for one instance, configured by its table.
fn new_adaptor(provider_type: &str, section: &ProviderSection) -> Option<Arc<dyn Provider>> {
    let adaptor: Arc<dyn Provider> = match provider_type {
        modelscope::NAME => Arc::new(modelscope::ModelScope::new()),
        dashscope::NAME => Arc::new(dashscope::DashScope::new()),
        tripo::NAME => Arc::new(tripo::Tripo::new()),
        openai::NAME => Arc::new(openai::OpenAi::new(section)),
        comfyui::NAME => Arc::new(comfyui::ComfyUi::new(section)),
        _ => return None,
    };
    Some(adaptor)
}

/// One instance's adaptor, with what it was built from.
#[derive(Clone)]
struct Instance {
    provider_type: String,
    section: ProviderSection,
    adaptor: Arc<dyn Provider>,
}

/// Adaptors by instance name. Each instance has its own adaptor, so what an adaptor
/// remembers (quota figures from reply headers) belongs to one account.
#[derive(Clone, Default)]
pub struct Registry {
    instances: BTreeMap<String, Instance>,
}

impl Registry {
    /// The instances every config has: one per implicit type, named after it.
    pub fn builtin() -> Self {
        Registry::default().with_implicit()
    }

    fn with_implicit(mut self) -> Self {
        for (name, implicit) in TYPES {
            if implicit && !self.instances.contains_key(name) {
                self.add(name, name, &ProviderSection::default());
            }
        }
        self
    }

    /// The adaptors of the instances `config` defines.
    pub fn for_config(config: &Config) -> Self {
        Registry::default().updated(config)
    }

    /// The adaptors of the instances `config` defines, keeping this registry's adaptor of
    /// every instance whose type and table did not change.
    pub fn updated(&self, config: &Config) -> Self {
        let mut next = Registry::default();
        for (name, settings) in &config.providers {
            match self.instances.get(name) {
                Some(old)
                    if old.provider_type == settings.provider_type
                        && old.section == settings.section =>
                {
                    next.instances.insert(name.clone(), old.clone());
                }
                _ => next.add(name, &settings.provider_type, &settings.section),
            }
        }
        next
    }

    fn add(&mut self, name: &str, provider_type: &str, section: &ProviderSection) {
        if let Some(adaptor) = new_adaptor(provider_type, section) {
            self.instances.insert(
                name.to_string(),
                Instance {
                    provider_type: provider_type.to_string(),
                    section: section.clone(),
                    adaptor,
                },
            );
        }
    }

    /// The adaptor of the instance `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.instances.get(name).map(|i| &i.adaptor)
    }

    /// The type of the instance `name`.
    pub fn type_of(&self, name: &str) -> Option<&str> {
        self.instances.get(name).map(|i| i.provider_type.as_str())
    }

    /// Instance names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.instances.keys().map(String::as_str)
    }
}

impl KnownProviders for Registry {
    fn provider_names(&self) -> Vec<&'static str> {
        TYPES.iter().map(|(name, _)| *name).collect()
    }

    fn provider_defaults(&self, provider_type: &str) -> Option<ProviderDefaults> {
        let implicit = TYPES.iter().find(|(t, _)| *t == provider_type)?.1;
        let p = new_adaptor(provider_type, &ProviderSection::default())?;
        Some(ProviderDefaults {
            base_url: p.default_base_url(),
            key_env_vars: p.key_env_vars(),
            limits: p.default_limits(),
            implicit,
        })
    }
}
