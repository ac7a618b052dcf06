//! What genq knows of the ComfyUI provider type before reading any config: its name,
//! default base URL, key variables and default limits.

use crate::providers::adaptor::{Limits, ProviderInfo};
use std::time::Duration;

pub const NAME: &str = "comfyui";
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8188";

pub(super) static INFO: ProviderInfo = ProviderInfo {
    name: NAME,
    default_base_url: DEFAULT_BASE_URL,
    key_env_vars: &[],
    limits: Limits {
        max_concurrent: 4,
        requests_per_second: 10.0,
        timeout: Duration::from_secs(60 * 60),
    },
};
