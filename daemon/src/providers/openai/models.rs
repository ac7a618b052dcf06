//! The models an OpenAI-compatible instance offers and the request fields each takes, as
//! catalog entries: the families OpenAI documents (`gpt-image-*`, `dall-e-3`, `dall-e-2`)
//! with their ranges and allowed values, any other model with the generic fields, and every
//! model with the extra fields the instance's table adds (`params = [...]`).

use super::info::NAME;
use crate::config::ProviderSection;
use crate::providers::adaptor::instance_image_entry;
use genq_protocol::catalog::{Model, ModelInput, ModelParam, ParamType};
use serde_json::json;

/// The model an instance uses when neither the job, the catalog nor the table names one.
pub const FALLBACK_MODEL: &str = "gpt-image-1";

/// What an instance's table says about its models.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    /// From `models = [...]`; the first is the default.
    pub models: Vec<String>,
    pub edit_models: Vec<String>,
    /// From `params = [...]`.
    pub extra_params: Vec<String>,
}

impl Options {
    pub fn from_section(section: &ProviderSection) -> Options {
        Options {
            models: section.models.clone().unwrap_or_default(),
            edit_models: section.edit_models.clone().unwrap_or_default(),
            extra_params: section.params.clone().unwrap_or_default(),
        }
    }

    /// The instance's default model: the table's first; else, among the models the
    /// gateway listed (`entries`), OpenAI's own default when it is there, or the first one;
    /// else OpenAI's default.
    pub fn default_model<'a>(&'a self, entries: &'a [Model]) -> &'a str {
        if let Some(first) = self.models.first() {
            return first;
        }
        let offered: Vec<&str> = entries
            .iter()
            .filter(|m| m.active && !m.removed)
            .map(|m| m.id.as_str())
            .collect();
        if offered.contains(&FALLBACK_MODEL) {
            return FALLBACK_MODEL;
        }
        offered.first().copied().unwrap_or(FALLBACK_MODEL)
    }

    /// Whether `model` takes an input image through `/v1/images/edits`.
    pub fn takes_image(&self, model: &str) -> bool {
        model.starts_with("gpt-image")
            || model == "dall-e-2"
            || self.edit_models.iter().any(|m| m == model)
    }
}

fn one_of(name: &str, allowed: &[&str], description: &str) -> ModelParam {
    ModelParam {
        allowed: allowed.iter().map(|a| a.to_string()).collect(),
        ..ModelParam::ranged(name, ParamType::Enum, None, None, description)
    }
}

/// The fields `model` takes, per OpenAI's documentation of its family; the generic fields
/// for a model OpenAI does not document (a gateway's).
pub fn params_of(model: &str, extra: &[String]) -> Vec<ModelParam> {
    let prompt = |max: f64| {
        ModelParam::ranged(
            "prompt",
            ParamType::String,
            Some(1.0),
            Some(max),
            "the prompt",
        )
    };
    let n = |max: f64| ModelParam {
        default: Some(json!(1)),
        ..ModelParam::ranged(
            "n",
            ParamType::Int,
            Some(1.0),
            Some(max),
            "images per request",
        )
    };
    let mut p = if model.starts_with("gpt-image") {
        vec![
            prompt(32000.0),
            n(10.0),
            one_of(
                "size",
                &["1024x1024", "1536x1024", "1024x1536", "auto"],
                "image size",
            ),
            one_of(
                "quality",
                &["low", "medium", "high", "auto"],
                "rendering quality",
            ),
            one_of(
                "background",
                &["transparent", "opaque", "auto"],
                "background",
            ),
            one_of("output_format", &["png", "jpeg", "webp"], "file format"),
            ModelParam::ranged(
                "output_compression",
                ParamType::Int,
                Some(0.0),
                Some(100.0),
                "jpeg/webp compression",
            ),
            one_of("moderation", &["low", "auto"], "moderation strictness"),
        ]
    } else if model == "dall-e-3" {
        vec![
            prompt(4000.0),
            n(1.0),
            one_of(
                "size",
                &["1024x1024", "1792x1024", "1024x1792"],
                "image size",
            ),
            one_of("quality", &["standard", "hd"], "rendering quality"),
            one_of("style", &["vivid", "natural"], "style"),
        ]
    } else if model == "dall-e-2" {
        vec![
            prompt(1000.0),
            n(10.0),
            one_of("size", &["256x256", "512x512", "1024x1024"], "image size"),
        ]
    } else {
        vec![
            ModelParam::ranged("prompt", ParamType::String, Some(1.0), None, "the prompt"),
            n(10.0),
            ModelParam::ranged("size", ParamType::String, None, None, "image size, WxH"),
            ModelParam::ranged(
                "quality",
                ParamType::String,
                None,
                None,
                "rendering quality",
            ),
        ]
    };
    for name in extra {
        if !p.iter().any(|q| &q.name == name) {
            p.push(ModelParam::ranged(
                name,
                extra_kind(name),
                None,
                None,
                "passed to the server as given",
            ));
        }
    }
    p
}

/// The type of an extra field: the job fields genq has keep their own type.
fn extra_kind(name: &str) -> ParamType {
    match name {
        "seed" | "steps" => ParamType::Int,
        "guidance" => ParamType::Float,
        _ => ParamType::String,
    }
}

/// The catalog entry of `model` at the instance `supplier`.
pub fn entry(supplier: &str, model: &str, options: &Options) -> ModelInput {
    instance_image_entry(
        supplier,
        model,
        format!("{model} through an OpenAI-compatible Images API ({NAME})"),
        options.takes_image(model),
        params_of(model, &options.extra_params),
    )
}

/// The catalog entries of the instance `supplier`: its configured models, else the one
/// genq falls back to.
pub fn entries(supplier: &str, options: &Options) -> Vec<ModelInput> {
    options
        .models
        .iter()
        .map(|m| entry(supplier, m, options))
        .collect()
}
