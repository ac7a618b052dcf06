//! A job as a ComfyUI prompt: the workflow with each bound job field written into its node
//! input, and the refusals: a job field the workflow has no binding for, and ComfyUI's own
//! validation errors (`node_errors`) named by the job field bound to the failing input.

use super::info::NAME;
use crate::config::WorkflowSection;
use crate::config::workflows::input;
use crate::providers::adaptor::{InvalidParam, ProviderError};
use genq_protocol::{JobErrorKind, JobSpec};
use serde_json::{Value, json};

/// The job fields a spec sets, with their values.
fn set_fields(spec: &JobSpec) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    if !spec.prompt.is_empty() {
        out.push(("prompt", json!(spec.prompt)));
    }
    let mut put = |field, value: Option<Value>| {
        if let Some(v) = value {
            out.push((field, v));
        }
    };
    put(
        "negative_prompt",
        spec.negative_prompt.as_ref().map(|v| json!(v)),
    );
    put("seed", spec.seed.map(|v| json!(v)));
    put("width", spec.size.map(|s| json!(s.width)));
    put("height", spec.size.map(|s| json!(s.height)));
    put("steps", spec.steps.map(|v| json!(v)));
    put("guidance", spec.guidance.map(|v| json!(v)));
    put("n", spec.n.map(|v| json!(v)));
    out
}

/// Refuses a job field the workflow has no binding for, naming it and the fix.
pub fn check_bound(
    spec: &JobSpec,
    workflow: &str,
    w: &WorkflowSection,
) -> Result<(), InvalidParam> {
    let bound: Vec<&str> = w.bindings().into_iter().map(|(f, _)| f).collect();
    let image = spec.image.is_some().then_some("image");
    let set = set_fields(spec).into_iter().map(|(f, _)| f).chain(image);
    for field in set {
        if !bound.contains(&field) {
            let shown = if matches!(field, "width" | "height") {
                "size"
            } else {
                field
            };
            return Err(InvalidParam::new(
                shown,
                format!(
                    "workflow {workflow} has no binding for {field}; add {field} = \
                     \"NODE.inputs.INPUT\" under [providers.{}.workflows.{workflow}]",
                    spec.provider
                ),
            )
            .allowed(if bound.is_empty() {
                "no fields".to_string()
            } else {
                bound.join(", ")
            }));
        }
    }
    for (field, present) in [
        ("loras", !spec.loras.is_empty()),
        ("views", !spec.views.is_empty()),
        ("params", !spec.params.is_empty()),
    ] {
        if present {
            return Err(
                InvalidParam::new(field, format!("{NAME} workflows take no {field}"))
                    .allowed(bound.join(", ")),
            );
        }
    }
    Ok(())
}

/// The workflow with the spec's fields written into their bound inputs, and `image` (the
/// uploaded input image's name as `LoadImage` reads it) into the image binding.
pub fn graph(
    spec: &JobSpec,
    w: &WorkflowSection,
    image: Option<&str>,
) -> Result<Value, ProviderError> {
    let mut graph = w.graph.clone().ok_or_else(|| {
        ProviderError::final_error(JobErrorKind::Internal, "the workflow was not loaded")
    })?;
    let bindings = w.bindings();
    let image = image.map(|name| ("image", json!(name)));
    for (field, value) in set_fields(spec).into_iter().chain(image) {
        let Some((_, binding)) = bindings.iter().find(|(f, _)| *f == field) else {
            continue;
        };
        if let Some((node, name)) = input(&graph, binding)
            && let Some(slot) = graph
                .get_mut(node)
                .and_then(|n| n.get_mut("inputs"))
                .and_then(|i| i.get_mut(name))
        {
            *slot = value;
        }
    }
    Ok(graph)
}

/// ComfyUI's refusal of a prompt (400 with `error` and `node_errors`): `invalid_params`,
/// naming the job field bound to the failing input when there is one.
pub fn refusal(body: &Value, w: &WorkflowSection) -> ProviderError {
    let error = &body["error"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let mut message = format!("{}: {}", text(&error["message"]), text(&error["details"]));
    let mut field = "workflow".to_string();
    if let Some(nodes) = body["node_errors"].as_object() {
        'nodes: for (node, e) in nodes {
            for reason in e["errors"].as_array().into_iter().flatten() {
                let input_name = text(&reason["extra_info"]["input_name"]);
                message = format!("{}: {}", text(&reason["message"]), text(&reason["details"]));
                let path = format!("{node}.inputs.{input_name}");
                if let Some((f, _)) = w.bindings().into_iter().find(|(_, b)| *b == path) {
                    field = f.to_string();
                    break 'nodes;
                }
                field = format!("workflow node {node}");
            }
        }
    }
    ProviderError::final_error(JobErrorKind::InvalidParams, format!("{field}: {message}"))
}
