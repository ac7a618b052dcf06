//! The rules an adaptor checks a spec against, read from the model's catalog entry: prompt
//! lengths, the size rule, the ranges of seed, steps, guidance and n, and the entry's
//! parameters for keys in `params`. A parameter the entry leaves out (or a model the
//! catalog does not hold) gets the provider's generic rule. The catalog is the only source
//! of these numbers; the adaptor decides only what its API takes at all. [`check_value`]
//! is also how the catalog checks an entry's own defaults.

use super::adaptor::InvalidParam;
use super::builtin_models::{FAMILY_CATEGORIES, ModelRule, SizeRule};
use genq_protocol::JobSpec;
use genq_protocol::catalog::{Model, ModelParam, ParamType};
use serde_json::{Value, json};

/// Largest seed the providers accept (2^31 - 1).
pub const SEED_MAX: i64 = 2_147_483_647;
/// Sampling steps, fewest and most.
pub const STEPS: (u32, u32) = (1, 100);
/// Guidance scale, lowest and highest.
pub const GUIDANCE: (f64, f64) = (1.5, 20.0);

/// The entry parameters that describe the spec's own fields, read into [`ModelRules`]; the
/// others describe keys of the spec's `params` ([`ModelRules::check_param`]).
const SPEC_FIELDS: &[&str] = &[
    "prompt",
    "negative_prompt",
    "width",
    "height",
    "pixels",
    "aspect",
    "seed",
    "steps",
    "guidance",
    "n",
];

/// One model's rules, as an adaptor checks them.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelRules {
    pub id: String,
    /// The image family a size refusal names (`qwen-image`, `flux`, …).
    pub family: String,
    pub size: SizeRule,
    /// Longest accepted prompt, in characters.
    pub prompt_max_chars: usize,
    /// Longest accepted negative prompt, in characters.
    pub negative_max_chars: usize,
    pub seed: (i64, i64),
    pub steps: (u32, u32),
    pub guidance: (f64, f64),
    /// Images per task, when the entry has an `n` parameter.
    pub n: Option<(u32, u32)>,
    /// `n` when the spec gives none, from the entry's default.
    pub n_default: Option<u32>,
    /// The entry's key and its other parameters, which values in the spec's `params` must
    /// fit (the user may have narrowed them).
    entry: Option<(String, Vec<ModelParam>)>,
}

impl ModelRules {
    /// The rules of model `id`: its catalog entry's parameters, each missing one from
    /// `generic` (the provider's rules for a model the catalog says nothing about).
    pub fn new(id: &str, entry: Option<&Model>, generic: &ModelRule) -> ModelRules {
        let params: &[ModelParam] = entry.map_or(&[], |m| &m.params);
        let find = |name: &str| params.iter().find(|p| p.name == name);
        let family = entry
            .and_then(|m| {
                m.categories.iter().find_map(|c| {
                    FAMILY_CATEGORIES
                        .iter()
                        .find(|(_, cat)| cat == c)
                        .map(|(f, _)| f.to_string())
                })
            })
            .unwrap_or_else(|| generic.family.to_string());
        let chars = |name: &str, fallback: usize| {
            find(name)
                .and_then(|p| p.max)
                .map_or(fallback, |m| m as usize)
        };
        let n = find("n").map(|p| range(Some(p), (1, u32::MAX), |v| v as u32));
        ModelRules {
            id: id.to_string(),
            family,
            size: size_rule(params, generic.size),
            prompt_max_chars: chars("prompt", generic.prompt_max_chars),
            negative_max_chars: chars("negative_prompt", generic.negative_max_chars),
            seed: range(find("seed"), (0, SEED_MAX), |v| v as i64),
            steps: range(find("steps"), STEPS, |v| v as u32),
            guidance: range(find("guidance"), GUIDANCE, |v| v),
            n,
            n_default: find("n")
                .and_then(|p| p.default.as_ref())
                .and_then(Value::as_u64)
                .and_then(|v| u32::try_from(v).ok()),
            entry: entry.map(|m| {
                let extras = params
                    .iter()
                    .filter(|p| !SPEC_FIELDS.contains(&p.name.as_str()))
                    .cloned()
                    .collect();
                (m.key.clone(), extras)
            }),
        }
    }

    /// Checks the value of `params.<name>` against the entry's parameter of that name, when
    /// the entry has one. Adaptors call it after checking that their API takes the key.
    pub fn check_param(&self, name: &str, value: &Value) -> Result<(), InvalidParam> {
        let Some((key, extras)) = &self.entry else {
            return Ok(());
        };
        let Some(p) = extras.iter().find(|p| p.name == name) else {
            return Ok(());
        };
        check_value(p, value).map_err(|why| {
            let allowed = if p.allowed.is_empty() {
                describe_range(p)
            } else {
                p.allowed.join(", ")
            };
            InvalidParam::new(
                format!("params.{name}"),
                format!("{why} (catalog entry {key})"),
            )
            .allowed(format!("{name}: {allowed}"))
        })
    }
}

/// Checks what an entry says of the spec's own fields beyond the numbers [`ModelRules`]
/// reads: a list of allowed values, a shortest prompt. The numbers are the adaptor's to check.
pub fn check_listed(entry: &Model, spec: &JobSpec) -> Result<(), InvalidParam> {
    let listed = |p: &&ModelParam| {
        SPEC_FIELDS.contains(&p.name.as_str())
            && (!p.allowed.is_empty() || (p.kind == ParamType::String && p.min.is_some()))
    };
    for p in entry.params.iter().filter(listed) {
        let Some((field, value)) = spec_value(spec, &p.name) else {
            continue;
        };
        if let Err(why) = check_value(p, &value) {
            let what = if field == "size" {
                format!("{} {why}", p.name)
            } else {
                why
            };
            let allowed = if p.allowed.is_empty() {
                describe_range(p)
            } else {
                p.allowed.join(", ")
            };
            return Err(
                InvalidParam::new(field, format!("{what} (catalog entry {})", entry.key))
                    .allowed(format!("{}: {allowed}", p.name)),
            );
        }
    }
    Ok(())
}

/// The spec field an entry parameter describes, with its value when the spec sets it.
fn spec_value(spec: &JobSpec, name: &str) -> Option<(&'static str, Value)> {
    let size = spec.size;
    let value = match name {
        "prompt" => Some(json!(spec.prompt)),
        "negative_prompt" => spec.negative_prompt.as_ref().map(|v| json!(v)),
        "width" => size.map(|s| json!(s.width)),
        "height" => size.map(|s| json!(s.height)),
        "pixels" => size.map(|s| json!(u64::from(s.width) * u64::from(s.height))),
        "aspect" => size.map(|s| json!(f64::from(s.width) / f64::from(s.height))),
        "seed" => spec.seed.map(|v| json!(v)),
        "steps" => spec.steps.map(|v| json!(v)),
        "guidance" => spec.guidance.map(|v| json!(v)),
        "n" => spec.n.map(|v| json!(v)),
        _ => None,
    }?;
    let field = match name {
        "width" | "height" | "pixels" | "aspect" => "size",
        other => SPEC_FIELDS.iter().find(|f| **f == other)?,
    };
    Some((field, value))
}

/// A parameter's `min`/`max`, each missing end from `fallback`.
fn range<T: Copy>(p: Option<&ModelParam>, fallback: (T, T), cast: impl Fn(f64) -> T) -> (T, T) {
    match p {
        Some(p) => (
            p.min.map_or(fallback.0, &cast),
            p.max.map_or(fallback.1, &cast),
        ),
        None => fallback,
    }
}

/// The size rule an entry describes: `pixels` and `aspect` make an area rule, `width` and
/// `height` a rule per side; an entry with neither keeps the generic rule.
fn size_rule(params: &[ModelParam], generic: SizeRule) -> SizeRule {
    let find = |name: &str| params.iter().find(|p| p.name == name);
    if let Some(pixels) = find("pixels") {
        let (min0, max0, aspect0) = match generic {
            SizeRule::Area {
                min_pixels,
                max_pixels,
                max_aspect,
            } => (min_pixels, max_pixels, max_aspect),
            _ => (1, u64::MAX, u32::MAX),
        };
        return SizeRule::Area {
            min_pixels: pixels.min.map_or(min0, |v| v as u64),
            max_pixels: pixels.max.map_or(max0, |v| v as u64),
            max_aspect: find("aspect")
                .and_then(|p| p.max)
                .map_or(aspect0, |v| v.round() as u32),
        };
    }
    let (width, height) = (find("width"), find("height"));
    if width.is_none() && height.is_none() {
        return generic;
    }
    let side = match generic {
        SizeRule::Sides { min, max } => (min, max),
        _ => (1, u32::MAX),
    };
    let width = range(width, side, |v| v as u32);
    let height = range(height, side, |v| v as u32);
    if width == height {
        SizeRule::Sides {
            min: width.0,
            max: width.1,
        }
    } else {
        SizeRule::Box { width, height }
    }
}

/// Whether `v` is a valid value of `p`; `Err` says why not.
pub fn check_value(p: &ModelParam, v: &Value) -> Result<(), String> {
    let range = |x: f64| -> Result<(), String> {
        if p.min.is_some_and(|m| x < m) || p.max.is_some_and(|m| x > m) {
            Err(format!("{x} is outside {}", describe_range(p)))
        } else {
            Ok(())
        }
    };
    match p.kind {
        ParamType::Int => match v.as_i64() {
            Some(x) => range(x as f64),
            None => Err(format!("{v} is not a whole number")),
        },
        ParamType::Float => match v.as_f64() {
            Some(x) => range(x),
            None => Err(format!("{v} is not a number")),
        },
        ParamType::Bool => v
            .as_bool()
            .map(|_| ())
            .ok_or_else(|| format!("{v} is not true or false")),
        ParamType::Enum => match v.as_str() {
            Some(s) if p.allowed.iter().any(|a| a == s) => Ok(()),
            _ => Err(format!("{v} is not one of {}", p.allowed.join(", "))),
        },
        ParamType::String => match v.as_str() {
            Some(s) => {
                let n = s.chars().count() as f64;
                if p.max.is_some_and(|m| n > m) || p.min.is_some_and(|m| n < m) {
                    return Err(format!("{} characters, outside {}", n, describe_range(p)));
                }
                if !p.allowed.is_empty() && !p.allowed.iter().any(|a| a == s) {
                    return Err(format!("{s:?} is not one of {}", p.allowed.join(", ")));
                }
                Ok(())
            }
            None => Err(format!("{v} is not text")),
        },
    }
}

/// `1–100`, `at least 1`, `at most 1999`.
pub fn describe_range(p: &ModelParam) -> String {
    let n = |x: f64| {
        if x.fract() == 0.0 && x.abs() < 1e15 {
            format!("{}", x as i64)
        } else {
            format!("{x}")
        }
    };
    match (p.min, p.max) {
        (Some(a), Some(b)) => format!("{}–{}", n(a), n(b)),
        (Some(a), None) => format!("at least {}", n(a)),
        (None, Some(b)) => format!("at most {}", n(b)),
        (None, None) => "any value".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::builtin_models::MODELSCOPE_GENERIC;

    fn int(name: &str, min: f64, max: f64) -> ModelParam {
        ModelParam {
            name: name.into(),
            kind: ParamType::Int,
            default: None,
            min: Some(min),
            max: Some(max),
            allowed: Vec::new(),
            description: String::new(),
        }
    }

    fn entry(params: Vec<ModelParam>, categories: &[&str]) -> Model {
        Model {
            key: "modelscope:me/m".into(),
            supplier: "modelscope".into(),
            id: "me/m".into(),
            display_name: "m".into(),
            description: String::new(),
            kind: "image".into(),
            sub_type: "text_to_image".into(),
            lora_family: None,
            active: true,
            builtin: false,
            removed: false,
            default_for: Vec::new(),
            capabilities: vec!["text_to_image".into()],
            categories: categories.iter().map(|c| c.to_string()).collect(),
            params,
        }
    }

    #[test]
    fn a_model_outside_the_catalog_gets_the_generic_rules() {
        let r = ModelRules::new("x/y", None, &MODELSCOPE_GENERIC);
        assert_eq!(r.size, MODELSCOPE_GENERIC.size);
        assert_eq!(r.prompt_max_chars, MODELSCOPE_GENERIC.prompt_max_chars);
        assert_eq!(
            (r.seed, r.steps, r.guidance),
            ((0, SEED_MAX), STEPS, GUIDANCE)
        );
        assert_eq!(r.family, "sd");
    }

    #[test]
    fn an_entry_narrows_what_it_names_and_keeps_the_rest_generic() {
        let m = entry(
            vec![int("width", 256.0, 1024.0), int("steps", 1.0, 8.0)],
            &["image/qwen"],
        );
        let r = ModelRules::new("me/m", Some(&m), &MODELSCOPE_GENERIC);
        assert_eq!(
            r.size,
            SizeRule::Box {
                width: (256, 1024),
                height: (64, 2048)
            }
        );
        assert_eq!(r.steps, (1, 8));
        assert_eq!(r.guidance, GUIDANCE);
        assert_eq!(r.family, "qwen-image");
        assert_eq!(r.n, None);
    }

    #[test]
    fn a_params_value_must_fit_the_entrys_parameter_of_that_name() {
        let m = entry(vec![int("face_limit", 1.0, 5000.0)], &[]);
        let r = ModelRules::new("me/m", Some(&m), &MODELSCOPE_GENERIC);
        assert!(r.check_param("face_limit", &Value::from(5000)).is_ok());
        assert!(r.check_param("other", &Value::from(9)).is_ok());
        let e = r.check_param("face_limit", &Value::from(6000)).unwrap_err();
        assert_eq!(e.field, "params.face_limit");
        assert!(
            e.message.contains("catalog entry modelscope:me/m"),
            "{}",
            e.message
        );
        assert_eq!(e.allowed.as_deref(), Some("face_limit: 1–5000"));
        let generic = ModelRules::new("x/y", None, &MODELSCOPE_GENERIC);
        assert!(
            generic
                .check_param("face_limit", &Value::from(6000))
                .is_ok()
        );
    }
}
