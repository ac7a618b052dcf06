//! What genq knows of the OpenAI-compatible provider type before reading any config: its name,
//! default base URL, key variables and default limits.

use crate::providers::adaptor::{Limits, ProviderInfo};
use std::time::Duration;

pub const NAME: &str = "openai";
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com";

pub(super) static INFO: ProviderInfo = ProviderInfo {
    name: NAME,
    default_base_url: DEFAULT_BASE_URL,
    key_env_vars: &["OPENAI_API_KEY"],
    limits: Limits {
        max_concurrent: 2,
        requests_per_second: 2.0,
        timeout: Duration::from_secs(15 * 60),
    },
};
