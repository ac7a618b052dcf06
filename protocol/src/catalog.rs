//! The catalog as both sides see it: suppliers, models with their parameters, capabilities,
//! the category tree, and normalised LoRA cards (catalog.md §4).

use crate::wire_names::wire_names;
use serde::{Deserialize, Serialize};

/// A provider genq can send jobs to, as the catalog describes it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Supplier {
    pub name: String,
    pub display_name: String,
    pub base_url: String,
    #[serde(default)]
    pub docs_url: Option<String>,
    pub needs_key: bool,
    pub active: bool,
}

/// The type of a model parameter.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    Int,
    Float,
    /// Text; `max` is the longest accepted length in characters.
    String,
    Bool,
    /// One of `allowed`.
    Enum,
}

wire_names!(ParamType, "parameter type" {
    Int => "int",
    Float => "float",
    String => "string",
    Bool => "bool",
    Enum => "enum",
});

/// One parameter a model takes, with its range.
#[serde_with::skip_serializing_none]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelParam {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ParamType,
    pub default: Option<serde_json::Value>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<String>,
    #[serde(default)]
    pub description: String,
}

impl ModelParam {
    /// A parameter of `kind` within `min..=max` (either end open), with no default and no
    /// list of allowed values.
    pub fn ranged(
        name: &str,
        kind: ParamType,
        min: Option<f64>,
        max: Option<f64>,
        description: &str,
    ) -> ModelParam {
        ModelParam {
            name: name.into(),
            kind,
            default: None,
            min,
            max,
            allowed: Vec::new(),
            description: description.into(),
        }
    }
}

/// A model in the catalog.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// `supplier:id`, unique across suppliers.
    pub key: String,
    pub supplier: String,
    /// The id the provider knows it by.
    pub id: String,
    pub display_name: String,
    pub description: String,
    /// `image`, `model3d`, `video`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// `text_to_image`, `image_to_image`, `text_to_model`, …
    pub sub_type: String,
    /// The LoRA base family it accepts (`qwen-image`, `z-image`, …), when it takes LoRAs.
    pub lora_family: Option<String>,
    pub active: bool,
    /// Shipped with genq (as opposed to added by the user).
    pub builtin: bool,
    /// Soft-deleted: hidden from lists, restorable.
    pub removed: bool,
    /// Capabilities this model is the default of.
    pub default_for: Vec<String>,
    pub capabilities: Vec<String>,
    pub categories: Vec<String>,
    pub params: Vec<ModelParam>,
}

/// A model to add.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelInput {
    pub supplier: String,
    pub id: String,
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub sub_type: String,
    pub lora_family: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
    /// Defaults to `[sub_type]` when empty.
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub params: Vec<ModelParam>,
}

fn yes() -> bool {
    true
}

/// Changes to a model; absent fields stay as they are.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEdit {
    /// `supplier:id` or the id alone when it is unique.
    pub model: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub sub_type: Option<String>,
    /// `Some("")` clears it.
    pub lora_family: Option<String>,
    pub active: Option<bool>,
    /// Replaces the list when given.
    pub capabilities: Option<Vec<String>>,
    pub categories: Option<Vec<String>>,
    /// Parameters added or replaced by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set_params: Vec<ModelParam>,
    /// Parameters removed by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop_params: Vec<String>,
}

/// A model named by `supplier:id` or by its id alone when that is unique.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRef {
    pub model: String,
}

#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsListParams {
    pub supplier: Option<String>,
    pub capability: Option<String>,
    /// Include soft-deleted models.
    #[serde(default)]
    pub include_removed: bool,
}

#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetDefaultParams {
    pub model: String,
    /// Needed when the model has several capabilities.
    pub capability: Option<String>,
}

/// What a model can do, e.g. `text_to_image`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Capability {
    pub name: String,
    pub display_name: String,
    pub input_types: Vec<String>,
    pub output_types: Vec<String>,
    pub domain: String,
    /// `supplier:id` of the default model, used by `submit` without a model.
    pub default_model: Option<String>,
}

/// A node of the category tree.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Category {
    pub name: String,
    pub display_name: String,
    pub parent: Option<String>,
    /// `supplier:id` of the models filed here (not removed).
    pub models: Vec<String>,
    #[cfg_attr(feature = "openapi", schema(no_recursion))]
    pub children: Vec<Category>,
}

/// Where LoRA cards come from (catalog.md §1–3). Only ModelScope LoRAs can be sent with a
/// ModelScope job; Civitai and Hugging Face cards are for browsing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoraSource {
    #[default]
    Modelscope,
    Civitai,
    Huggingface,
}

wire_names!(LoraSource {
    Modelscope => "modelscope",
    Civitai => "civitai",
    Huggingface => "huggingface",
});

impl LoraSource {
    pub fn parse(name: &str) -> Option<LoraSource> {
        LoraSource::ALL.into_iter().find(|s| s.as_str() == name)
    }

    fn is_default(&self) -> bool {
        *self == LoraSource::Modelscope
    }
}

/// Order of a LoRA listing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoraSort {
    #[default]
    Downloads,
    Newest,
}

#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LorasListParams {
    #[serde(default, skip_serializing_if = "LoraSource::is_default")]
    pub source: LoraSource,
    /// Task the LoRAs serve; names the cache and cover folder.
    #[serde(default = "default_task")]
    pub task: String,
    /// The source's own base value: ModelScope `sub_vision_foundation` (`QWEN_IMAGE_2512`),
    /// a Civitai `baseModel` (`Flux.1 D`), or a Hugging Face base repository
    /// (`black-forest-labs/FLUX.1-dev`).
    pub base: Option<String>,
    pub keyword: Option<String>,
    #[serde(default)]
    pub sort: LoraSort,
    /// 1–200; 20 when absent.
    pub limit: Option<u32>,
    /// 1-based page of `limit` cards.
    pub page: Option<u32>,
    /// Ignore the cache (10-minute TTL) and fetch again.
    #[serde(default)]
    pub force_refresh: bool,
    /// Download covers (to `images_dir`, else the cache's `images/<safe_task>/`).
    #[serde(default)]
    pub download_covers: bool,
    pub images_dir: Option<String>,
}

pub fn default_task() -> String {
    "text-to-image-synthesis".to_string()
}

impl Default for LorasListParams {
    fn default() -> Self {
        LorasListParams {
            source: LoraSource::Modelscope,
            task: default_task(),
            base: None,
            keyword: None,
            sort: LoraSort::Downloads,
            limit: None,
            page: None,
            force_refresh: false,
            download_covers: false,
            images_dir: None,
        }
    }
}

/// A LoRA by its card id: `owner/name` (ModelScope, Hugging Face) or `model@version`
/// (Civitai). Without a source, a Civitai-shaped id means Civitai, anything else ModelScope.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraRef {
    pub id: String,
    pub source: Option<LoraSource>,
}

impl LoraRef {
    /// The source this reference points at.
    pub fn source(&self) -> LoraSource {
        self.source.unwrap_or_else(|| {
            let civitai = self
                .id
                .split('@')
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
            if civitai {
                LoraSource::Civitai
            } else {
                LoraSource::Modelscope
            }
        })
    }
}

pub const LORAS_DEFAULT_LIMIT: u32 = 20;
pub const LORAS_MAX_LIMIT: u32 = 200;

/// A page of LoRA cards.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoraPage {
    /// When the cards were fetched from the source (RFC 3339).
    pub cached_at: String,
    /// Served from the cache rather than fetched now.
    pub from_cache: bool,
    /// Matching LoRAs at the source, when it says.
    pub total: Option<u64>,
    pub cards: Vec<LoraCard>,
}

/// One LoRA, normalised whatever the source (catalog.md §4). Never holds raw blobs.
#[serde_with::skip_serializing_none]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoraCard {
    /// The string `loras` takes, e.g. `owner/name`.
    pub id: String,
    pub source: String,
    pub title: String,
    #[serialize_always]
    pub title_cn: Option<String>,
    #[serialize_always]
    pub author: Option<String>,
    #[serialize_always]
    pub cover_url: Option<String>,
    /// Downloaded cover (or the placeholder when the cover is dead).
    #[serialize_always]
    pub cover_local: Option<String>,
    #[serialize_always]
    pub downloads: Option<u64>,
    /// Set when `downloads` counts a recent window only (Hugging Face: `30d`).
    pub downloads_period: Option<String>,
    #[serialize_always]
    pub likes: Option<u64>,
    /// genq's family vocabulary: `qwen-image`, `qwen-image-edit`, `z-image`, `flux1`, `flux2`,
    /// `krea2`, `sdxl`, `sd15`, `wan-video`, `other`; `None` when unknown.
    #[serialize_always]
    pub base_model: Option<String>,
    /// The source's own value, e.g. `QWEN_IMAGE_2512`.
    #[serialize_always]
    pub base_model_raw: Option<String>,
    /// The base repository to call with it (`BaseModel[0]` without `@rev`).
    #[serialize_always]
    pub base_repo: Option<String>,
    pub trigger_words: Vec<String>,
    pub tags: Vec<String>,
    pub page_url: String,
    /// RFC 3339 UTC.
    #[serialize_always]
    pub updated_at: Option<String>,
    #[serialize_always]
    pub license: Option<String>,
    /// Marked adult by the source (shown only when `[catalog] nsfw = true`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nsfw: bool,
    /// Generation models (`supplier:id`) that accept this LoRA.
    #[serde(default)]
    pub compatible_models: Vec<String>,
}
