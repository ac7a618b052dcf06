//! The providers and models the submit form offers, with the parameter ranges each accepts.
//! A small static list until the daemon serves a catalog; the daemon still validates.

use genq_protocol::JobKind;

/// What one provider accepts, as far as the form checks it before sending.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProviderInfo {
    pub name: &'static str,
    pub kind: JobKind,
    pub models: &'static [&'static str],
    /// Smallest and largest side of an image, in pixels; `None` when sizes do not apply.
    pub side: Option<(u32, u32)>,
    pub steps: Option<(u32, u32)>,
    pub guidance: Option<(f64, f64)>,
    /// How many outputs one job may ask for.
    pub count: (u32, u32),
    /// How many LoRAs a job may carry (0: none).
    pub max_loras: usize,
    pub takes_negative: bool,
}

/// Seeds the providers accept: 0 to 2^31 - 1.
pub const SEED_MAX: i64 = 2_147_483_647;

pub const PROVIDERS: &[ProviderInfo] = &[
    ProviderInfo {
        name: "modelscope",
        kind: JobKind::Image,
        models: &[
            "Qwen/Qwen-Image",
            "Qwen/Qwen-Image-2512",
            "Tongyi-MAI/Z-Image-Turbo",
            "black-forest-labs/FLUX.1-Krea-dev",
            "MAILAND/majicflus_v1",
        ],
        side: Some((64, 2048)),
        steps: Some((1, 100)),
        guidance: Some((1.5, 20.0)),
        count: (1, 1),
        max_loras: 6,
        takes_negative: true,
    },
    ProviderInfo {
        name: "dashscope",
        kind: JobKind::Image,
        models: &[
            "wan2.2-t2i-flash",
            "wan2.2-t2i-plus",
            "wan2.5-t2i-preview",
            "wanx2.1-t2i-turbo",
        ],
        side: Some((512, 1440)),
        steps: None,
        guidance: None,
        count: (1, 4),
        max_loras: 0,
        takes_negative: true,
    },
    ProviderInfo {
        name: "tripo",
        kind: JobKind::Model3d,
        models: &["v2.5-20250123", "v3.0-20250812", "Turbo-v1.0-20250506"],
        side: None,
        steps: None,
        guidance: None,
        count: (1, 1),
        max_loras: 0,
        takes_negative: true,
    },
];

/// The provider by name, if the form knows it.
pub fn provider(name: &str) -> Option<&'static ProviderInfo> {
    PROVIDERS.iter().find(|p| p.name == name)
}
