//! The fake's `POST /prompt` validation (comfyui.md §3.2): a small class table with each
//! input's type, range or combo list, and the exact 400 bodies ComfyUI answers.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::CHECKPOINTS;
use crate::fakes::common::json_reply;

/// One input's rule: kind, min/max, combo options, or a link.
enum Rule {
    Link,
    Int(f64, f64),
    Float(f64, f64),
    Text,
    Combo(&'static [&'static str]),
    /// A file in `input/`, as `LoadImage.VALIDATE_INPUTS` checks it.
    InputFile,
}

/// The class table: each class's required inputs and whether it is an output node.
fn class(name: &str) -> Option<(Vec<(&'static str, Rule)>, bool)> {
    use Rule::*;
    Some(match name {
        "CheckpointLoaderSimple" => (vec![("ckpt_name", Combo(&CHECKPOINTS))], false),
        "CLIPTextEncode" => (vec![("text", Text), ("clip", Link)], false),
        "EmptyLatentImage" => (
            vec![
                ("width", Int(16.0, 16384.0)),
                ("height", Int(16.0, 16384.0)),
                ("batch_size", Int(1.0, 4096.0)),
            ],
            false,
        ),
        "KSampler" => (
            vec![
                ("model", Link),
                ("positive", Link),
                ("negative", Link),
                ("latent_image", Link),
                ("seed", Int(0.0, 18446744073709551615.0)),
                ("steps", Int(1.0, 10000.0)),
                ("cfg", Float(0.0, 100.0)),
                (
                    "sampler_name",
                    Combo(&["euler", "euler_ancestral", "dpmpp_2m"]),
                ),
                ("scheduler", Combo(&["normal", "karras", "simple"])),
                ("denoise", Float(0.0, 1.0)),
            ],
            false,
        ),
        "VAEDecode" => (vec![("samples", Link), ("vae", Link)], false),
        "VAEEncode" => (vec![("pixels", Link), ("vae", Link)], false),
        "LoadImage" => (vec![("image", InputFile)], false),
        "SaveImage" => (vec![("images", Link), ("filename_prefix", Text)], true),
        "PreviewImage" => (vec![("images", Link)], true),
        _ => return None,
    })
}

/// A 400 with ComfyUI's `{"error", "node_errors"}` body.
pub(super) fn refused(kind: &str, message: &str, details: &str, node_errors: Value) -> Response {
    json_reply(
        StatusCode::BAD_REQUEST,
        &json!({"error": {"type": kind, "message": message, "details": details, "extra_info": {}},
                "node_errors": node_errors}),
    )
}

/// One input's reason for failing validation, as §3.2 gives it.
fn reason(kind: &str, message: &str, details: String, input: &str, value: &Value) -> Value {
    json!({"type": kind, "message": message, "details": details,
           "extra_info": {"input_name": input, "input_config": null, "received_value": value}})
}

fn check_input(
    name: &str,
    rule: &Rule,
    value: Option<&Value>,
    uploaded: &dyn Fn(&str) -> bool,
) -> Option<Value> {
    let Some(v) = value else {
        return Some(reason(
            "required_input_missing",
            "Required input is missing",
            name.into(),
            name,
            &Value::Null,
        ));
    };
    let number = v.as_f64();
    match rule {
        Rule::Link => v.as_array().is_none_or(|a| a.len() != 2).then(|| {
            reason(
                "bad_linked_input",
                "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                format!("{name}, {v}"),
                name,
                v,
            )
        }),
        Rule::Int(min, max) | Rule::Float(min, max) => match number {
            None => Some(reason(
                "invalid_input_type",
                "Failed to convert an input value to a number",
                format!("{name}, {v}"),
                name,
                v,
            )),
            Some(x) if x < *min => Some(reason(
                "value_smaller_than_min",
                &format!("Value {x} smaller than min of {min}"),
                name.to_string(),
                name,
                v,
            )),
            Some(x) if x > *max => Some(reason(
                "value_bigger_than_max",
                &format!("Value {x} bigger than max of {max}"),
                name.to_string(),
                name,
                v,
            )),
            Some(_) => None,
        },
        Rule::Text => None,
        Rule::InputFile => (!v.as_str().is_some_and(uploaded)).then(|| {
            reason(
                "custom_validation_failed",
                "Custom validation failed for node",
                format!(
                    "{name} - Invalid image file: {}",
                    v.as_str().unwrap_or_default()
                ),
                name,
                v,
            )
        }),
        Rule::Combo(options) => (!v.as_str().is_some_and(|s| options.contains(&s))).then(|| {
            reason(
                "value_not_in_list",
                "Value not in list",
                format!(
                    "{name}: '{}' not in {options:?}",
                    v.as_str().unwrap_or_default()
                ),
                name,
                v,
            )
        }),
    }
}

/// Validates a graph as `validate_prompt` does: the 400 reply when it fails. `uploaded` says
/// whether a `subfolder/name` is a file in `input/`.
pub(super) fn validate(graph: &Value, uploaded: &dyn Fn(&str) -> bool) -> Option<Response> {
    let Some(nodes) = graph.as_object() else {
        return Some(refused(
            "no_prompt",
            "No prompt provided",
            "No prompt provided",
            json!({}),
        ));
    };
    let mut outputs = 0;
    let mut node_errors = Map::new();
    for (id, node) in nodes {
        let Some(class_type) = node.get("class_type").and_then(Value::as_str) else {
            return Some(refused(
                "invalid_prompt",
                "Cannot execute because a node is missing the class_type property.",
                &format!("Node ID '#{id}'"),
                json!({}),
            ));
        };
        let Some((inputs, is_output)) = class(class_type) else {
            return Some(refused(
                "invalid_prompt",
                &format!("Cannot execute because node {class_type} does not exist."),
                &format!("Node ID '#{id}'"),
                json!({}),
            ));
        };
        outputs += usize::from(is_output);
        let errors: Vec<Value> = inputs
            .iter()
            .filter_map(|(name, rule)| check_input(name, rule, node["inputs"].get(*name), uploaded))
            .collect();
        if !errors.is_empty() {
            node_errors.insert(
                id.clone(),
                json!({"errors": errors, "dependent_outputs": [], "class_type": class_type}),
            );
        }
    }
    if outputs == 0 {
        return Some(refused(
            "prompt_no_outputs",
            "Prompt has no outputs",
            "",
            json!({}),
        ));
    }
    if !node_errors.is_empty() {
        let details: Vec<String> = node_errors
            .values()
            .flat_map(|e| e["errors"].as_array().cloned().unwrap_or_default())
            .map(|r| {
                format!(
                    "{}: {}",
                    r["message"].as_str().unwrap_or(""),
                    r["details"].as_str().unwrap_or("")
                )
            })
            .collect();
        return Some(refused(
            "prompt_outputs_failed_validation",
            "Prompt outputs failed validation",
            &details.join("\n"),
            Value::Object(node_errors),
        ));
    }
    None
}
