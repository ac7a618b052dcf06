//! The request fields of one job: the JSON body of `/v1/images/generations`, and the text
//! parts of `/v1/images/edits`.

use genq_protocol::JobSpec;
use serde_json::{Map, Value, json};

/// The request fields of a spec: its model, prompt and every field the validation let
/// through, under the names OpenAI-compatible servers use.
pub fn fields(spec: &JobSpec) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("model".into(), json!(spec.model));
    body.insert("prompt".into(), json!(spec.prompt));
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            body.insert(key.into(), v);
        }
    };
    put("n", spec.n.map(|v| json!(v)));
    put(
        "size",
        spec.size
            .map(|s| json!(format!("{}x{}", s.width, s.height))),
    );
    put(
        "negative_prompt",
        spec.negative_prompt.as_ref().map(|v| json!(v)),
    );
    put("seed", spec.seed.map(|v| json!(v)));
    put("num_inference_steps", spec.steps.map(|v| json!(v)));
    put("guidance_scale", spec.guidance.map(|v| json!(v)));
    for (k, v) in &spec.params {
        body.insert(k.clone(), v.clone());
    }
    body
}
