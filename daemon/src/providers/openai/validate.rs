//! What an OpenAI-compatible instance takes, read from the model's catalog entry: the spec's
//! own fields and every extra in `params` must be fields the entry lists, with values it
//! allows; an input image needs a model that takes one.

use super::info::NAME;
use super::models::{self, Options};
use crate::providers::adaptor::InvalidParam;
use crate::providers::{checks, model_rules};
use genq_protocol::catalog::{Model, ModelParam, ParamType};
use genq_protocol::{JobKind, JobSpec};
use serde_json::{Value, json};

/// The spec's own fields an entry may list, with their values when set.
fn spec_fields(spec: &JobSpec) -> [(&'static str, Option<Value>); 5] {
    [
        (
            "negative_prompt",
            spec.negative_prompt.as_ref().map(|v| json!(v)),
        ),
        ("seed", spec.seed.map(|v| json!(v))),
        ("steps", spec.steps.map(|v| json!(v))),
        ("guidance", spec.guidance.map(|v| json!(v))),
        (
            "size",
            spec.size
                .map(|s| json!(format!("{}x{}", s.width, s.height))),
        ),
    ]
}

pub fn check(
    spec: &mut JobSpec,
    entries: &[Model],
    options: &Options,
) -> Result<JobKind, InvalidParam> {
    checks::image_kind(spec, NAME)?;
    let model = spec
        .model
        .get_or_insert_with(|| options.default_model(entries).to_string())
        .clone();
    let params: Vec<ModelParam> = match entries.iter().find(|m| m.id == model) {
        Some(entry) => entry.params.clone(),
        None if entries.is_empty() => models::params_of(&model, &options.extra_params),
        None => {
            let ids: Vec<&str> = entries.iter().map(|m| m.id.as_str()).collect();
            return Err(InvalidParam::new(
                "model",
                format!("{model:?} is not a model of {}", spec.provider),
            )
            .allowed(ids.join(", ")));
        }
    };
    let find = |name: &str| params.iter().find(|p| p.name == name);
    if spec.prompt.trim().is_empty() {
        return Err(InvalidParam::new("prompt", "the prompt is empty").allowed("a prompt"));
    }
    if let Some(p) = find("prompt") {
        checked(p, "prompt", &json!(spec.prompt))?;
    }
    if let Some(n) = spec.n {
        let p = find("n").ok_or_else(|| refused("n", &model))?;
        checked(p, "n", &json!(n))?;
    }
    for (field, value) in spec_fields(spec) {
        let Some(value) = value else { continue };
        let p = find(field).ok_or_else(|| refused(field, &model))?;
        checked(p, field, &value)?;
    }
    checks::unsupported(
        "loras",
        !spec.loras.is_empty(),
        "OpenAI-compatible image APIs take no LoRAs",
    )?;
    checks::unsupported(
        "views",
        !spec.views.is_empty(),
        "OpenAI-compatible image APIs take no views",
    )?;
    if spec.image.is_some() && !options.takes_image(&model) {
        return Err(
            InvalidParam::new("image", format!("{model} takes no input image"))
                .allowed("a model listed in edit_models, gpt-image-*, or dall-e-2"),
        );
    }
    let extras: Vec<&ModelParam> = params
        .iter()
        .filter(|p| !SPEC_FIELDS.contains(&p.name.as_str()))
        .collect();
    for (key, value) in spec.params.iter_mut() {
        let p = extras.iter().find(|p| &p.name == key).ok_or_else(|| {
            let names: Vec<&str> = extras.iter().map(|p| p.name.as_str()).collect();
            InvalidParam::new(
                format!("params.{key}"),
                format!("{model} does not take {key}"),
            )
            .allowed(if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            })
        })?;
        *value = typed(p, value);
        checked(p, &format!("params.{key}"), value)?;
    }
    Ok(JobKind::Image)
}

/// Entry fields that are the spec's own, never extras in `params`.
const SPEC_FIELDS: [&str; 7] = [
    "prompt",
    "n",
    "negative_prompt",
    "seed",
    "steps",
    "guidance",
    "size",
];

fn refused(field: &str, model: &str) -> InvalidParam {
    InvalidParam::new(field, format!("{model} does not take {field}")).allowed(format!(
        "leave {field} out, or list it in params = [...] of the provider's table"
    ))
}

fn checked(p: &ModelParam, field: &str, value: &Value) -> Result<(), InvalidParam> {
    model_rules::check_value(p, value).map_err(|why| {
        let allowed = if p.allowed.is_empty() {
            model_rules::describe_range(p)
        } else {
            p.allowed.join(", ")
        };
        InvalidParam::new(field, why).allowed(allowed)
    })
}

/// A value given as text on the command line (`--param n=2`), read as the field's type.
fn typed(p: &ModelParam, value: &Value) -> Value {
    let Value::String(s) = value else {
        return value.clone();
    };
    let parsed = match p.kind {
        ParamType::Int => s.parse::<i64>().ok().map(|v| json!(v)),
        ParamType::Float => s.parse::<f64>().ok().map(|v| json!(v)),
        ParamType::Bool => s.parse::<bool>().ok().map(|v| json!(v)),
        ParamType::String | ParamType::Enum => None,
    };
    parsed.unwrap_or_else(|| value.clone())
}
