//! `config.toml`: providers (base URL, key source, limits), storage targets and defaults.
//! Parsed strictly: an unknown key or a bad value is an error naming it, at start and on
//! every reload, and a reload that fails keeps the previous config in force.
//!
//! `file` is the file as written, `credentials` finds each secret it names, `load` resolves
//! both into the [`Config`] in force, `watch` says when the files change.

mod batch;
mod credentials;
mod file;
mod http;
mod load;
mod watch;
pub mod workflows;

pub use batch::{BatchSection, StyleSection};
pub use credentials::{KeySearch, KeySource, StorageKeys, storage_keys};
pub use file::{
    CatalogSection, CatalogSiteSection, ConfigFile, DefaultsSection, HttpSection, OutputsSection,
    ProviderSection, StorageSection, WorkflowSection,
};
pub use http::{HttpSettings, ModelTarget};
pub use load::{
    CatalogSettings, Config, ConfigError, KnownProviders, Limits, ProviderDefaults,
    ProviderSettings,
};
pub use watch::ConfigChanges;
