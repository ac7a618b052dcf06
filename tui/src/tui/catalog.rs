//! The providers and models the submit form offers, with the parameter ranges each accepts:
//! from the daemon's catalog (`models.list`, `suppliers.list`) once it has arrived, else a
//! small built-in list. The daemon still validates everything.

use genq_protocol::JobKind;
use genq_protocol::catalog::{Capability, Category, Model, ModelParam, Supplier};

/// The daemon's catalog as last fetched.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CatalogData {
    pub suppliers: Vec<Supplier>,
    /// Including removed ones (shown as such on the models screen).
    pub models: Vec<Model>,
    pub categories: Vec<Category>,
    pub capabilities: Vec<Capability>,
}

/// Seeds the providers accept: 0 to 2^31 - 1.
pub const SEED_MAX: i64 = 2_147_483_647;
/// How many LoRAs a job may carry on a model that takes them.
pub const MAX_LORAS: usize = 6;

/// How an image size is bounded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SizeLimit {
    /// Each side within `min..=max` pixels.
    Sides(u32, u32),
    /// Width × height within `min..=max` pixels, width / height within `1/aspect..=aspect`.
    Area { min: u64, max: u64, aspect: f64 },
}

/// What one model accepts, as far as the form checks it before sending.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// `None` when sizes do not apply.
    pub size: Option<SizeLimit>,
    pub steps: Option<(u32, u32)>,
    pub guidance: Option<(f64, f64)>,
    /// How many outputs one job may ask for.
    pub count: (u32, u32),
    /// How many LoRAs a job may carry (0: none).
    pub max_loras: usize,
    pub prompt_max: usize,
    pub seed: (i64, i64),
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            size: None,
            steps: None,
            guidance: None,
            count: (1, 1),
            max_loras: 0,
            prompt_max: 2000,
            seed: (0, SEED_MAX),
        }
    }
}

impl Limits {
    /// The limits a catalog model's parameters describe.
    pub fn from_params(params: &[ModelParam], takes_loras: bool) -> Limits {
        let get = |name: &str| params.iter().find(|p| p.name == name);
        let range = |name: &str| get(name).and_then(|p| Some((p.min?, p.max?)));
        let mut limits = Limits {
            max_loras: if takes_loras { MAX_LORAS } else { 0 },
            ..Limits::default()
        };
        if let Some((lo, hi)) = range("width") {
            limits.size = Some(SizeLimit::Sides(lo as u32, hi as u32));
        } else if let Some((lo, hi)) = range("pixels") {
            let aspect = range("aspect").map_or(f64::MAX, |(_, a)| a);
            limits.size = Some(SizeLimit::Area {
                min: lo as u64,
                max: hi as u64,
                aspect,
            });
        }
        limits.steps = range("steps").map(|(lo, hi)| (lo as u32, hi as u32));
        limits.guidance = range("guidance");
        if let Some((lo, hi)) = range("n") {
            limits.count = (lo as u32, hi as u32);
        }
        if let Some((lo, hi)) = range("seed") {
            limits.seed = (lo as i64, hi as i64);
        }
        if let Some(max) = get("prompt").and_then(|p| p.max) {
            limits.prompt_max = max as usize;
        }
        limits
    }
}

/// A model the form can pick.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelChoice {
    pub id: String,
    pub kind: JobKind,
    /// Capabilities this model is the default of.
    pub default_for: Vec<String>,
    /// The LoRA family it accepts, when it takes LoRAs.
    pub lora_family: Option<String>,
    pub limits: Limits,
}

/// A provider with the models the form offers for it.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderChoice {
    pub name: String,
    pub models: Vec<ModelChoice>,
}

impl ProviderChoice {
    /// The model pre-selected for this provider: a default for a capability (text first),
    /// else the first.
    pub fn default_model(&self) -> usize {
        let text = |m: &ModelChoice| m.default_for.iter().any(|c| c.starts_with("text_to_"));
        self.models
            .iter()
            .position(text)
            .or_else(|| self.models.iter().position(|m| !m.default_for.is_empty()))
            .unwrap_or(0)
    }
}

/// Everything the pickers offer.
#[derive(Clone, Debug, PartialEq)]
pub struct Choices {
    pub providers: Vec<ProviderChoice>,
    /// Built from the daemon's catalog (rather than the built-in list).
    pub from_daemon: bool,
}

impl Default for Choices {
    fn default() -> Self {
        Choices::builtin()
    }
}

impl Choices {
    /// The built-in list, used until the daemon's catalog arrives.
    pub fn builtin() -> Choices {
        let model = |id: &str, kind, limits: &Limits| ModelChoice {
            id: id.to_string(),
            kind,
            default_for: Vec::new(),
            lora_family: None,
            limits: limits.clone(),
        };
        let modelscope = Limits {
            size: Some(SizeLimit::Sides(64, 2048)),
            steps: Some((1, 100)),
            guidance: Some((1.5, 20.0)),
            max_loras: MAX_LORAS,
            ..Limits::default()
        };
        let dashscope = Limits {
            size: Some(SizeLimit::Sides(512, 1440)),
            count: (1, 4),
            ..Limits::default()
        };
        let tripo = Limits::default();
        let provider = |name: &str, kind, ids: &[&str], limits: &Limits| ProviderChoice {
            name: name.to_string(),
            models: ids.iter().map(|id| model(id, kind, limits)).collect(),
        };
        Choices {
            providers: vec![
                provider(
                    "modelscope",
                    JobKind::Image,
                    &[
                        "Qwen/Qwen-Image",
                        "Qwen/Qwen-Image-2512",
                        "Tongyi-MAI/Z-Image-Turbo",
                        "black-forest-labs/FLUX.1-Krea-dev",
                        "MAILAND/majicflus_v1",
                    ],
                    &modelscope,
                ),
                provider(
                    "dashscope",
                    JobKind::Image,
                    &[
                        "wan2.2-t2i-flash",
                        "wan2.2-t2i-plus",
                        "wan2.5-t2i-preview",
                        "wanx2.1-t2i-turbo",
                    ],
                    &dashscope,
                ),
                provider(
                    "tripo",
                    JobKind::Model3d,
                    &["v2.5-20250123", "v3.0-20250812", "Turbo-v1.0-20250506"],
                    &tripo,
                ),
            ],
            from_daemon: false,
        }
    }

    /// The daemon's catalog: active suppliers in their order, each with its active models of
    /// a kind genq can submit. `None` when that leaves nothing (the built-in list stays).
    pub fn from_catalog(suppliers: &[Supplier], models: &[Model]) -> Option<Choices> {
        let usable = |m: &&Model| m.active && !m.removed && job_kind(&m.kind).is_some();
        let mut names: Vec<String> = suppliers
            .iter()
            .filter(|s| s.active)
            .map(|s| s.name.clone())
            .collect();
        if suppliers.is_empty() {
            for m in models.iter().filter(usable) {
                if !names.contains(&m.supplier) {
                    names.push(m.supplier.clone());
                }
            }
        }
        let providers: Vec<ProviderChoice> = names
            .into_iter()
            .map(|name| ProviderChoice {
                models: models
                    .iter()
                    .filter(usable)
                    .filter(|m| m.supplier == name)
                    .filter_map(|m| {
                        Some(ModelChoice {
                            id: m.id.clone(),
                            kind: job_kind(&m.kind)?,
                            default_for: m.default_for.clone(),
                            lora_family: m.lora_family.clone(),
                            limits: Limits::from_params(&m.params, m.lora_family.is_some()),
                        })
                    })
                    .collect(),
                name,
            })
            .filter(|p| !p.models.is_empty())
            .collect();
        (!providers.is_empty()).then_some(Choices {
            providers,
            from_daemon: true,
        })
    }

    pub fn provider_index(&self, name: &str) -> Option<usize> {
        self.providers.iter().position(|p| p.name == name)
    }

    /// The provider and model that are the default for `capability` (else text-to-image,
    /// else the first provider's default).
    pub fn default_for(&self, capability: &str) -> (usize, usize) {
        let find = |cap: &str| {
            self.providers.iter().enumerate().find_map(|(p, prov)| {
                prov.models
                    .iter()
                    .position(|m| m.default_for.iter().any(|c| c == cap))
                    .map(|m| (p, m))
            })
        };
        find(capability)
            .or_else(|| find("text_to_image"))
            .unwrap_or_else(|| {
                (
                    0,
                    self.providers
                        .first()
                        .map_or(0, ProviderChoice::default_model),
                )
            })
    }

    /// Provider and model indices of `provider:model` (`key`), if offered.
    pub fn find_key(&self, key: &str) -> Option<(usize, usize)> {
        let (provider, id) = key.split_once(':')?;
        let p = self.provider_index(provider)?;
        let m = self.providers[p].models.iter().position(|m| m.id == id)?;
        Some((p, m))
    }
}

fn job_kind(kind: &str) -> Option<JobKind> {
    match kind {
        "image" => Some(JobKind::Image),
        "model3d" => Some(JobKind::Model3d),
        _ => None,
    }
}
