//! Parameter checks the image adaptors share in `validate`: prompts, sizes, seeds, steps,
//! guidance (each against the model's [`ModelRules`], read from its catalog entry), LoRAs
//! and provider-specific extras. Every refusal names the spec field and what
//! would have been accepted.

use super::builtin_models::SizeRule;
use super::model_rules::ModelRules;
use crate::providers::adaptor::InvalidParam;
use genq_protocol::{JobKind, JobSpec, Lora};
use serde_json::Value;

/// Most LoRAs one ModelScope task takes.
pub const LORAS_MAX: usize = 6;
/// How close the LoRA weights must sum to 1.0.
pub const LORA_SUM_TOLERANCE: f64 = 1e-6;

/// Image adaptors refuse jobs of another kind.
pub fn image_kind(spec: &JobSpec, provider: &str) -> Result<(), InvalidParam> {
    match spec.kind {
        None | Some(JobKind::Image) => Ok(()),
        Some(other) => Err(InvalidParam::new(
            "kind",
            format!("{provider} makes images, not {}", other.as_str()),
        )
        .allowed(JobKind::Image.as_str())),
    }
}

/// The checks every image model shares: prompt, negative prompt, size and seed.
pub fn image_basics(spec: &JobSpec, rule: &ModelRules) -> Result<(), InvalidParam> {
    prompt(spec, rule)?;
    negative_prompt(spec, rule)?;
    size(spec, rule)?;
    seed(spec, rule)
}

fn prompt(spec: &JobSpec, rule: &ModelRules) -> Result<(), InvalidParam> {
    if spec.prompt.trim().is_empty() {
        return Err(InvalidParam::new("prompt", "the prompt is empty")
            .allowed(format!("1–{} characters", rule.prompt_max_chars)));
    }
    length("prompt", &spec.prompt, rule.prompt_max_chars, &rule.id)
}

fn negative_prompt(spec: &JobSpec, rule: &ModelRules) -> Result<(), InvalidParam> {
    match &spec.negative_prompt {
        Some(n) => length("negative_prompt", n, rule.negative_max_chars, &rule.id),
        None => Ok(()),
    }
}

fn length(field: &str, text: &str, max: usize, model: &str) -> Result<(), InvalidParam> {
    let chars = text.chars().count();
    if chars > max {
        return Err(InvalidParam::new(
            field,
            format!("{chars} characters is too long for {model}"),
        )
        .allowed(format!("at most {max} characters")));
    }
    Ok(())
}

fn size(spec: &JobSpec, rule: &ModelRules) -> Result<(), InvalidParam> {
    let Some(size) = spec.size else {
        return Ok(());
    };
    rule.size.check(size).map_err(|why| {
        let family = match rule.size {
            SizeRule::Sides { .. } | SizeRule::Box { .. } => format!("the {} family", rule.family),
            SizeRule::Area { .. } => rule.id.clone(),
        };
        InvalidParam::new(
            "size",
            format!("{size} is not accepted by {} ({family}): {why}", rule.id),
        )
        .allowed(rule.size.describe())
    })
}

fn seed(spec: &JobSpec, rule: &ModelRules) -> Result<(), InvalidParam> {
    let (min, max) = rule.seed;
    match spec.seed {
        Some(s) if !(min..=max).contains(&s) => Err(InvalidParam::new(
            "seed",
            format!("{s} is out of range; leave the seed out for a random one"),
        )
        .allowed(format!("{min}–{max}"))),
        _ => Ok(()),
    }
}

pub fn steps(spec: &JobSpec, rule: &ModelRules) -> Result<(), InvalidParam> {
    let (min, max) = rule.steps;
    match spec.steps {
        Some(s) if !(min..=max).contains(&s) => {
            Err(InvalidParam::new("steps", format!("{s} is out of range"))
                .allowed(format!("{min}–{max}")))
        }
        _ => Ok(()),
    }
}

pub fn guidance(spec: &JobSpec, rule: &ModelRules) -> Result<(), InvalidParam> {
    let (min, max) = rule.guidance;
    match spec.guidance {
        Some(g) if !(g.is_finite() && (min..=max).contains(&g)) => Err(InvalidParam::new(
            "guidance",
            format!("{g} is out of range"),
        )
        .allowed(format!("{min}–{max}"))),
        _ => Ok(()),
    }
}

/// A field this provider has no use for: refuse it rather than drop it silently.
pub fn unsupported(field: &str, present: bool, why: &str) -> Result<(), InvalidParam> {
    if present {
        Err(InvalidParam::new(field, why.to_string()))
    } else {
        Ok(())
    }
}

/// ModelScope's LoRA rules: at most 6; one is sent as a bare repo id (so its weight must be
/// 1.0); several are sent as `{repo: weight}` with weights summing to 1.0.
pub fn loras(loras: &[Lora]) -> Result<(), InvalidParam> {
    if loras.len() > LORAS_MAX {
        return Err(InvalidParam::new(
            "loras",
            format!(
                "{} LoRAs given; one task takes at most {LORAS_MAX}",
                loras.len()
            ),
        )
        .allowed(format!("0–{LORAS_MAX} LoRAs")));
    }
    for (i, l) in loras.iter().enumerate() {
        let repo = l.repo.trim();
        if repo.is_empty() || repo.chars().any(char::is_whitespace) {
            return Err(InvalidParam::new(
                format!("loras[{i}].repo"),
                format!("{:?} is not a repository id", l.repo),
            )
            .allowed("a ModelScope repository id such as owner/name"));
        }
        if let Some(j) = loras[..i]
            .iter()
            .position(|o| o.repo.trim().eq_ignore_ascii_case(repo))
        {
            return Err(InvalidParam::new(
                format!("loras[{i}].repo"),
                format!("{repo} is listed twice (loras[{j}] and loras[{i}]); give each LoRA once"),
            ));
        }
        if !l.weight.is_finite() || l.weight <= 0.0 || l.weight > 1.0 {
            return Err(InvalidParam::new(
                format!("loras[{i}].weight"),
                format!("weight {} of {repo} is out of range", l.weight),
            )
            .allowed("greater than 0 and at most 1.0"));
        }
    }
    match loras {
        [] => Ok(()),
        [one] => {
            if (one.weight - 1.0).abs() > LORA_SUM_TOLERANCE {
                Err(InvalidParam::new(
                    "loras[0].weight",
                    format!(
                        "a single LoRA is sent without a weight and applied at full strength; \
                         {} cannot be weighted {}: drop the weight or give 1.0",
                        one.repo, one.weight
                    ),
                )
                .allowed("1.0 (or no weight) for a single LoRA"))
            } else {
                Ok(())
            }
        }
        many => {
            let sum: f64 = many.iter().map(|l| l.weight).sum();
            if (sum - 1.0).abs() > LORA_SUM_TOLERANCE {
                Err(InvalidParam::new(
                    "loras",
                    format!(
                        "the weights sum to {}, not 1.0; normalise them (divide each by {}), e.g. {}",
                        trim_float(sum, 6),
                        trim_float(sum, 6),
                        normalised_example(many, sum)
                    ),
                )
                .allowed(format!(
                    "2–{LORAS_MAX} LoRAs whose weights sum to 1.0 (within {LORA_SUM_TOLERANCE:e})"
                )))
            } else {
                Ok(())
            }
        }
    }
}

/// `a:0.6 b:0.4`, rounded to 4 places with the last weight taking the remainder, so the
/// suggestion itself sums to 1.0.
fn normalised_example(loras: &[Lora], sum: f64) -> String {
    let mut rounded: Vec<f64> = loras
        .iter()
        .map(|l| (l.weight / sum * 10_000.0).round() / 10_000.0)
        .collect();
    let others: f64 = rounded[..rounded.len() - 1].iter().sum();
    if let Some(last) = rounded.last_mut() {
        *last = ((1.0 - others) * 10_000.0).round() / 10_000.0;
    }
    loras
        .iter()
        .zip(rounded)
        .map(|(l, w)| format!("{}:{}", l.repo.trim(), trim_float(w, 4)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn trim_float(v: f64, places: usize) -> String {
    let s = format!("{v:.places$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The type of a provider-specific extra in `params`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamType {
    Bool,
}

/// Refuses unknown `params` keys and values of the wrong type. Booleans given as the strings
/// `true`/`false` (as `--param KEY=VALUE` may send them) are rewritten as JSON booleans.
/// A value the API takes must also fit the entry's parameter of that name.
pub fn params(
    spec: &mut JobSpec,
    provider: &str,
    allowed: &[(&str, ParamType)],
    rule: &ModelRules,
) -> Result<(), InvalidParam> {
    let names = || {
        if allowed.is_empty() {
            "none".to_string()
        } else {
            allowed
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    for (key, value) in spec.params.iter_mut() {
        let Some((_, ty)) = allowed.iter().find(|(n, _)| n == key) else {
            let message = if allowed.is_empty() {
                format!("{provider} takes no extra parameters")
            } else {
                format!("unknown parameter for {provider}")
            };
            return Err(InvalidParam::new(format!("params.{key}"), message).allowed(names()));
        };
        match ty {
            ParamType::Bool => {
                let b = match value {
                    Value::Bool(b) => *b,
                    Value::String(s) if s.eq_ignore_ascii_case("true") => true,
                    Value::String(s) if s.eq_ignore_ascii_case("false") => false,
                    other => {
                        return Err(InvalidParam::new(
                            format!("params.{key}"),
                            format!("{other} is not a boolean"),
                        )
                        .allowed("true or false"));
                    }
                };
                *value = Value::Bool(b);
            }
        }
        rule.check_param(key, value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lora(repo: &str, weight: f64) -> Lora {
        Lora {
            repo: repo.into(),
            weight,
        }
    }

    #[test]
    fn lora_weights_must_sum_to_one_and_the_message_suggests_normalising() {
        assert!(loras(&[lora("a/x", 0.6), lora("b/y", 0.4)]).is_ok());
        assert!(loras(&[lora("a/x", 0.6), lora("b/y", 0.4 + 5e-7)]).is_ok());
        let e = loras(&[lora("a/x", 0.7), lora("b/y", 0.6)]).unwrap_err();
        assert_eq!(e.field, "loras");
        assert!(e.message.contains("sum to 1.3"), "{}", e.message);
        assert!(e.message.contains("normalise"), "{}", e.message);
        assert!(e.message.contains("a/x:0.5385 b/y:0.4615"), "{}", e.message);
        let e = loras(&[lora("a/x", 0.5), lora("b/y", 0.2), lora("c/z", 0.2)]).unwrap_err();
        assert!(e.message.contains("sum to 0.9"), "{}", e.message);
    }

    #[test]
    fn normalised_suggestion_sums_to_one() {
        let ls = [lora("a/x", 1.0), lora("b/y", 1.0), lora("c/z", 1.0)];
        let e = loras(&ls).unwrap_err();
        assert!(
            e.message.contains("a/x:0.3333 b/y:0.3333 c/z:0.3334"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_single_lora_must_have_full_weight() {
        assert!(loras(&[lora("a/x", 1.0)]).is_ok());
        let e = loras(&[lora("a/x", 0.5)]).unwrap_err();
        assert_eq!(e.field, "loras[0].weight");
        assert!(e.message.contains("drop the weight"), "{}", e.message);
    }

    #[test]
    fn count_duplicates_and_weights_are_checked() {
        let six: Vec<_> = (0..6)
            .map(|i| lora(&format!("o/l{i}"), 1.0 / 6.0))
            .collect();
        assert!(loras(&six).is_ok());
        let seven: Vec<_> = (0..7)
            .map(|i| lora(&format!("o/l{i}"), 1.0 / 7.0))
            .collect();
        let e = loras(&seven).unwrap_err();
        assert_eq!(e.field, "loras");
        assert!(e.message.contains("7 LoRAs") && e.message.contains("at most 6"));
        assert_eq!(e.allowed.as_deref(), Some("0–6 LoRAs"));

        let e = loras(&[lora("a/x", 0.5), lora("A/X", 0.5)]).unwrap_err();
        assert_eq!(e.field, "loras[1].repo");
        assert!(e.message.contains("twice"), "{}", e.message);

        let e = loras(&[lora("a/x", -0.5), lora("b/y", 1.5)]).unwrap_err();
        assert_eq!(e.field, "loras[0].weight");
        let e = loras(&[lora("a/x", 0.5), lora("b/y", f64::NAN)]).unwrap_err();
        assert_eq!(e.field, "loras[1].weight");
        let e = loras(&[lora(" ", 1.0)]).unwrap_err();
        assert_eq!(e.field, "loras[0].repo");
    }

    #[test]
    fn params_refuse_unknown_keys_and_normalise_booleans() {
        let allowed = [("watermark", ParamType::Bool)];
        let any = ModelRules::new(
            "*",
            None,
            &crate::providers::builtin_models::DASHSCOPE_GENERIC,
        );
        let mut spec = JobSpec::default();
        spec.params
            .insert("watermark".into(), Value::String("TRUE".into()));
        params(&mut spec, "dashscope", &allowed, &any).unwrap();
        assert_eq!(spec.params["watermark"], Value::Bool(true));

        spec.params.insert("watermark".into(), Value::from(3));
        let e = params(&mut spec, "dashscope", &allowed, &any).unwrap_err();
        assert_eq!(e.field, "params.watermark");

        spec.params.clear();
        spec.params.insert("stepz".into(), Value::from(3));
        let e = params(&mut spec, "dashscope", &allowed, &any).unwrap_err();
        assert_eq!(e.field, "params.stepz");
        assert_eq!(e.allowed.as_deref(), Some("watermark"));
        let e = params(&mut spec, "modelscope", &[], &any).unwrap_err();
        assert!(e.message.contains("no extra parameters"));
        assert_eq!(e.allowed.as_deref(), Some("none"));
    }
}
