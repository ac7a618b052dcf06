//! A ComfyUI instance's workflows as catalog entries: one model per workflow, taking the job
//! fields its bindings name.

use super::info::NAME;
use crate::config::ProviderSection;
use genq_protocol::JobKind;
use genq_protocol::catalog::{ModelInput, ModelParam, ParamType};

/// The catalog entries of the instance `supplier`.
pub fn entries(supplier: &str, section: &ProviderSection) -> Vec<ModelInput> {
    let workflows = section.workflows.clone().unwrap_or_default();
    workflows
        .iter()
        .map(|(name, w)| {
            let mut capabilities = vec!["text_to_image".to_string()];
            if w.image.is_some() {
                capabilities.push("image_to_image".into());
            }
            ModelInput {
                supplier: supplier.into(),
                id: name.clone(),
                display_name: Some(name.clone()),
                description: format!("{NAME} workflow {}", w.file.display()),
                kind: JobKind::Image.as_str().into(),
                sub_type: "text_to_image".into(),
                lora_family: None,
                active: true,
                capabilities,
                categories: vec!["image".into()],
                params: w
                    .bindings()
                    .into_iter()
                    .map(|(field, _)| match field {
                        "prompt" | "negative_prompt" | "image" => ModelParam::ranged(
                            field,
                            ParamType::String,
                            None,
                            None,
                            "bound to a node input of the workflow",
                        ),
                        "width" | "height" => ModelParam::ranged(
                            field,
                            ParamType::Int,
                            Some(16.0),
                            Some(16384.0),
                            "bound to a node input of the workflow",
                        ),
                        "seed" => ModelParam::ranged(
                            field,
                            ParamType::Int,
                            Some(0.0),
                            None,
                            "bound to a node input of the workflow",
                        ),
                        "steps" => ModelParam::ranged(
                            field,
                            ParamType::Int,
                            Some(1.0),
                            Some(10000.0),
                            "bound to a node input of the workflow",
                        ),
                        "guidance" => ModelParam::ranged(
                            field,
                            ParamType::Float,
                            Some(0.0),
                            Some(100.0),
                            "bound to a node input of the workflow",
                        ),
                        _ => ModelParam::ranged(
                            field,
                            ParamType::Int,
                            Some(1.0),
                            Some(4096.0),
                            "bound to a node input of the workflow",
                        ),
                    })
                    .collect(),
            }
        })
        .collect()
}
