//! The submit body rules of providers.md §1.2.

use serde_json::Value;

use crate::fakes::common::char_len;

/// Allowed side range of `size` for a model family (§1.2).
fn size_range(model: &str) -> (u32, u32) {
    let m = model.to_ascii_lowercase();
    if m.contains("qwen-image") {
        (64, 1664)
    } else if m.contains("z-image") {
        (512, 2048)
    } else if m.contains("flux") || m.contains("majicflus") || m.contains("kontext") {
        (64, 1024)
    } else {
        (64, 2048)
    }
}

fn parse_wxh(s: &str, sep: char) -> Option<(u32, u32)> {
    let (w, h) = s.split_once(sep)?;
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(w) || !digits(h) {
        return None;
    }
    Some((w.parse().ok()?, h.parse().ok()?))
}

/// The submit body rules of §1.2; the message becomes `errors.message` of a 400.
pub(super) fn validate(body: &Value) -> Result<String, String> {
    let obj = body
        .as_object()
        .ok_or("request body must be a JSON object")?;
    let model = match obj.get("model") {
        Some(Value::String(m)) if !m.trim().is_empty() => m.clone(),
        Some(_) => return Err("model must be a non-empty string".into()),
        None => return Err("model is required".into()),
    };
    let valid_id = model
        .split_once('/')
        .is_some_and(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
        && !model.contains(char::is_whitespace);
    if !valid_id {
        return Err(format!(
            "model '{model}' is not a valid ModelScope model id (owner/name)"
        ));
    }
    match obj.get("prompt") {
        Some(Value::String(p)) if p.trim().is_empty() => {
            return Err("prompt must not be empty".into());
        }
        Some(Value::String(p)) if char_len(p) >= 2000 => {
            return Err(format!(
                "prompt is {} characters long; it must be shorter than 2000",
                char_len(p)
            ));
        }
        Some(Value::String(_)) => {}
        Some(_) => return Err("prompt must be a string".into()),
        None => return Err("prompt is required".into()),
    }
    match obj.get("negative_prompt") {
        None | Some(Value::Null) => {}
        Some(Value::String(p)) if char_len(p) >= 2000 => {
            return Err("negative_prompt must be shorter than 2000 characters".into());
        }
        Some(Value::String(_)) => {}
        Some(_) => return Err("negative_prompt must be a string".into()),
    }
    if let Some(size) = obj.get("size").filter(|v| !v.is_null()) {
        let (lo, hi) = size_range(&model);
        let s = size
            .as_str()
            .ok_or("size must be a string like \"1024x1024\"")?;
        let (w, h) = parse_wxh(s, 'x').ok_or_else(|| {
            format!(
                "size '{s}' is invalid: use \"WIDTHxHEIGHT\" with a lowercase x, e.g. 1024x1024"
            )
        })?;
        if w < lo || h < lo || w > hi || h > hi {
            return Err(format!(
                "size '{s}' is out of range for {model}: {lo}x{lo} to {hi}x{hi}"
            ));
        }
    }
    if let Some(seed) = obj.get("seed").filter(|v| !v.is_null()) {
        match seed.as_i64() {
            Some(s) if (0..=i64::from(i32::MAX)).contains(&s) => {}
            _ => {
                return Err(format!(
                    "seed {seed} is invalid: an integer in [0, 2147483647]"
                ));
            }
        }
    }
    if let Some(steps) = obj.get("steps").filter(|v| !v.is_null()) {
        match steps.as_i64() {
            Some(s) if (1..=100).contains(&s) => {}
            _ => return Err(format!("steps {steps} is invalid: an integer in [1, 100]")),
        }
    }
    if let Some(g) = obj.get("guidance").filter(|v| !v.is_null()) {
        match g.as_f64() {
            Some(x) if (1.5..=20.0).contains(&x) => {}
            _ => return Err(format!("guidance {g} is invalid: a number in [1.5, 20]")),
        }
    }
    check_loras(obj.get("loras"))?;
    Ok(model)
}

/// `loras`: a repo id, or 1 to 6 repo ids with weights summing to 1.0.
fn check_loras(loras: Option<&Value>) -> Result<(), String> {
    match loras {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        Some(Value::Object(m)) => {
            if m.is_empty() || m.len() > 6 {
                return Err(format!(
                    "loras has {} entries: between 1 and 6 are allowed",
                    m.len()
                ));
            }
            let mut sum = 0.0;
            for (repo, w) in m {
                let w = w
                    .as_f64()
                    .ok_or_else(|| format!("lora weight for '{repo}' must be a number"))?;
                sum += w;
            }
            if (sum - 1.0).abs() > 1e-6 {
                return Err(format!("lora weights must sum to 1.0, got {sum}"));
            }
        }
        Some(_) => {
            return Err(
                "loras must be a repo id string or an object of at most 6 repo ids to weights summing to 1.0"
                    .into(),
            );
        }
    }
    Ok(())
}
