//! A ComfyUI instance's workflows as catalog entries: one model per workflow, taking the job
//! fields its bindings name.

use super::info::NAME;
use crate::config::ProviderSection;
use crate::providers::adaptor::instance_image_entry;
use genq_protocol::catalog::{ModelInput, ModelParam, ParamType};

/// The catalog entries of the instance `supplier`.
pub fn entries(supplier: &str, section: &ProviderSection) -> Vec<ModelInput> {
    let workflows = section.workflows.clone().unwrap_or_default();
    workflows
        .iter()
        .map(|(name, w)| {
            instance_image_entry(
                supplier,
                name,
                format!("{NAME} workflow {}", w.file.display()),
                w.image.is_some(),
                w.bindings()
                    .into_iter()
                    .map(|(field, _)| binding_param(field))
                    .collect(),
            )
        })
        .collect()
}

/// The parameter a job field bound to a node input of the workflow takes.
fn binding_param(field: &str) -> ModelParam {
    let (kind, min, max) = match field {
        "prompt" | "negative_prompt" | "image" => (ParamType::String, None, None),
        "width" | "height" => (ParamType::Int, Some(16.0), Some(16384.0)),
        "seed" => (ParamType::Int, Some(0.0), None),
        "steps" => (ParamType::Int, Some(1.0), Some(10000.0)),
        "guidance" => (ParamType::Float, Some(0.0), Some(100.0)),
        _ => (ParamType::Int, Some(1.0), Some(4096.0)),
    };
    ModelParam::ranged(
        field,
        kind,
        min,
        max,
        "bound to a node input of the workflow",
    )
}
