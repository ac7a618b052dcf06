//! The create rules of providers.md §2.3.

use serde_json::Value;

use crate::fakes::common::char_len;

/// Models the text2image endpoint knows (§2.2).
pub const MODELS: &[&str] = &[
    "wan2.5-t2i-preview",
    "wan2.2-t2i-flash",
    "wan2.2-t2i-plus",
    "wanx2.1-t2i-turbo",
    "wanx2.1-t2i-plus",
    "wanx2.0-t2i-turbo",
    "wanx-v1",
    "qwen-image-plus",
    "qwen-image",
];

/// What a valid create asks for.
pub(super) struct Request {
    pub model: String,
    pub prompt: String,
    pub prompt_extend: bool,
    pub n: u32,
}

fn parse_size(s: &str) -> Option<(u64, u64)> {
    let (w, h) = s.split_once('*')?;
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(w) || !digits(h) {
        return None;
    }
    Some((w.parse().ok()?, h.parse().ok()?))
}

/// The create rules of §2.3; `Err` is the 400's code and message.
pub(super) fn validate(body: &Value) -> Result<Request, (&'static str, String)> {
    let obj = body
        .as_object()
        .ok_or_else(|| bad("The request body must be a JSON object."))?;
    let model = match obj.get("model") {
        Some(Value::String(m)) if !m.trim().is_empty() => m.clone(),
        _ => {
            return Err((
                "BadRequest.EmptyModel",
                "Required parameter \"model\" missing from request.".into(),
            ));
        }
    };
    if !MODELS.contains(&model.as_str()) {
        return Err(bad(format!(
            "Model not exist: '{model}' is not served by the text2image endpoint."
        )));
    }
    let input = match obj.get("input") {
        Some(Value::Object(i)) if !i.is_empty() => i,
        _ => {
            return Err((
                "BadRequest.EmptyInput",
                "Required input parameter missing from request.".to_string(),
            ));
        }
    };
    let prompt = match input.get("prompt") {
        Some(Value::String(p)) if !p.trim().is_empty() => p.clone(),
        _ => return Err(bad("Field required: input.prompt")),
    };
    let wan25 = model.starts_with("wan2.5");
    let max_prompt = if wan25 { 2000 } else { 800 };
    if char_len(&prompt) > max_prompt {
        return Err(bad(format!(
            "input.prompt is {} characters long; {model} allows at most {max_prompt}.",
            char_len(&prompt)
        )));
    }
    match input.get("negative_prompt") {
        None | Some(Value::Null) => {}
        Some(Value::String(p)) if char_len(p) <= 500 => {}
        Some(Value::String(_)) => {
            return Err(bad("input.negative_prompt must be at most 500 characters."));
        }
        Some(_) => return Err(bad("input.negative_prompt must be a string.")),
    }
    let empty = serde_json::Map::new();
    let params = match obj.get("parameters") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(p)) => p,
        Some(_) => return Err(bad("parameters must be an object.")),
    };
    if let Some(size) = params.get("size").filter(|v| !v.is_null()) {
        check_size(size, &model)?;
    }
    let n = match params.get("n").filter(|v| !v.is_null()) {
        None => 4,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=4) => n as u32,
            _ => return Err(bad(format!("parameters.n {v} is invalid: 1 to 4."))),
        },
    };
    if let Some(seed) = params.get("seed").filter(|v| !v.is_null()) {
        match seed.as_i64() {
            Some(s) if (0..=i64::from(i32::MAX)).contains(&s) => {}
            _ => {
                return Err(bad(format!(
                    "parameters.seed {seed} is invalid: an integer in [0, 2147483647]."
                )));
            }
        }
    }
    for flag in ["prompt_extend", "watermark"] {
        if let Some(v) = params.get(flag).filter(|v| !v.is_null())
            && !v.is_boolean()
        {
            return Err(bad(format!("parameters.{flag} must be a boolean.")));
        }
    }
    let prompt_extend = params
        .get("prompt_extend")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    Ok(Request {
        model,
        prompt,
        prompt_extend,
        n,
    })
}

fn bad(message: impl Into<String>) -> (&'static str, String) {
    ("InvalidParameter", message.into())
}

/// `parameters.size`: `W*H` within the model's range.
fn check_size(size: &Value, model: &str) -> Result<(), (&'static str, String)> {
    let wan25 = model.starts_with("wan2.5");
    let s = size
        .as_str()
        .ok_or_else(|| bad("parameters.size must be a string like \"1024*1024\"."))?;
    let (w, h) = parse_size(s).ok_or_else(|| {
        bad(format!(
            "parameters.size '{s}' is invalid: use \"WIDTH*HEIGHT\" with an asterisk, e.g. 1024*1024."
        ))
    })?;
    if wan25 {
        let px = w * h;
        let aspect_ok = w * 4 >= h && h * 4 >= w;
        if !(1280 * 1280..=1440 * 1440).contains(&px) || !aspect_ok {
            return Err(bad(format!(
                "parameters.size '{s}' is out of range for {model}: total pixels between 1280*1280 and 1440*1440, aspect ratio 1:4 to 4:1."
            )));
        }
    } else if !(512..=1440).contains(&w) || !(512..=1440).contains(&h) {
        return Err(bad(format!(
            "parameters.size '{s}' is out of range for {model}: each side between 512 and 1440."
        )));
    }
    Ok(())
}
