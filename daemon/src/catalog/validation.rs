//! The one path a submitted spec takes before a job is created: the catalog's default
//! model, the adaptor's checks, then the model's catalog entry. Every refusal is an
//! [`InvalidParam`] naming the field and what is allowed.

use super::entry_checks::{check_value, describe_range};
use super::loras;
use crate::providers::{InvalidParam, Provider};
use crate::store::{Store, StoreError};
use genq_protocol::catalog::{LoraSource, Model};
use genq_protocol::{JobKind, JobSpec};

/// Why a spec was refused: a parameter, or the catalog could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SpecCheckError {
    #[error(transparent)]
    Invalid(#[from] InvalidParam),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks and completes a spec before anything is created or sent, in this order: the
/// catalog's default model for the spec's capability; the adaptor's checks
/// ([`Provider::validate`], which fills in its provider's defaults and refuses what the
/// provider would refuse); the model's catalog entry. Returns the job's kind.
pub async fn check_spec(
    store: &Store,
    provider: &dyn Provider,
    spec: &mut JobSpec,
) -> Result<JobKind, SpecCheckError> {
    default_model(store, spec).await?;
    let kind = provider.validate(spec)?;
    check_entry(store, spec).await?;
    Ok(kind)
}

/// The capability a spec asks for.
fn capability(kind: JobKind, spec: &JobSpec) -> &'static str {
    match kind {
        JobKind::Model3d if !spec.views.is_empty() => "multiview_to_model",
        JobKind::Model3d if spec.image.is_some() => "image_to_model",
        JobKind::Model3d => "text_to_model",
        JobKind::Image if spec.image.is_some() => "image_to_image",
        JobKind::Image => "text_to_image",
    }
}

/// A spec without a model gets the catalog's default for its capability, when that default
/// belongs to the spec's provider (else the adaptor fills in its provider's default).
async fn default_model(store: &Store, spec: &mut JobSpec) -> Result<(), StoreError> {
    if spec.model.is_some() {
        return Ok(());
    }
    let kind = match spec.kind {
        Some(k) => k,
        None => {
            let kinds = store.supplier_kinds(spec.provider.clone()).await?;
            if !kinds.is_empty() && kinds.iter().all(|k| k == JobKind::Model3d.as_str()) {
                JobKind::Model3d
            } else {
                JobKind::Image
            }
        }
    };
    if let Some(m) = store.default_model(capability(kind, spec).into()).await?
        && m.supplier == spec.provider
    {
        spec.model = Some(m.id);
    }
    Ok(())
}

/// A model the catalog knows must be active and not removed, the spec must fit its parameter
/// ranges (which the user may have narrowed), and every LoRA the catalog has a card for must
/// suit the model's family.
async fn check_entry(store: &Store, spec: &JobSpec) -> Result<(), SpecCheckError> {
    let Some(id) = spec.model.clone() else {
        return Ok(());
    };
    let Some(model) = store.find_model(spec.provider.clone(), id).await? else {
        return Ok(());
    };
    let key = &model.key;
    let unusable = |why: &str, fix: String| {
        InvalidParam::new("model", format!("{key} {why}"))
            .allowed(format!("another model, or {fix}"))
    };
    if model.removed {
        let fix = format!("restore it with `genq models restore {key}`");
        return Err(unusable("was removed from the catalog", fix).into());
    }
    if !model.active {
        let fix = format!("`genq models edit {key} --active true`");
        return Err(unusable("is inactive in the catalog", fix).into());
    }
    check_params(&model, spec)?;
    for (i, lora) in spec.loras.iter().enumerate() {
        if let Some(card) = store
            .lora_card(LoraSource::Modelscope.as_str().into(), lora.repo.clone())
            .await?
            && let Err(why) = loras::compatible(&card, &model)
        {
            let others = store
                .list_models(Default::default())
                .await?
                .into_iter()
                .filter(|m| m.active && loras::compatible(&card, m).is_ok())
                .map(|m| m.key)
                .collect::<Vec<_>>();
            return Err(InvalidParam::new(format!("loras[{i}].repo"), why)
                .allowed(if others.is_empty() {
                    "no model in the catalog takes this LoRA".to_string()
                } else {
                    format!("a model for it: {}", others.join(", "))
                })
                .into());
        }
    }
    Ok(())
}

/// Checks the spec against the model's parameters. Spec fields map to parameters by name
/// (`prompt`, `width`, `steps`, …); anything else is looked up in `params`.
fn check_params(model: &Model, spec: &JobSpec) -> Result<(), InvalidParam> {
    let size = spec.size;
    for p in &model.params {
        let (field, value) = match p.name.as_str() {
            "prompt" => ("prompt".to_string(), Some(serde_json::json!(spec.prompt))),
            "negative_prompt" => (
                "negative_prompt".into(),
                spec.negative_prompt.as_ref().map(|v| serde_json::json!(v)),
            ),
            "width" => ("size".into(), size.map(|s| serde_json::json!(s.width))),
            "height" => ("size".into(), size.map(|s| serde_json::json!(s.height))),
            "pixels" => (
                "size".into(),
                size.map(|s| serde_json::json!(u64::from(s.width) * u64::from(s.height))),
            ),
            "aspect" => (
                "size".into(),
                size.map(|s| serde_json::json!(f64::from(s.width) / f64::from(s.height))),
            ),
            "seed" => ("seed".into(), spec.seed.map(|v| serde_json::json!(v))),
            "steps" => ("steps".into(), spec.steps.map(|v| serde_json::json!(v))),
            "guidance" => (
                "guidance".into(),
                spec.guidance.map(|v| serde_json::json!(v)),
            ),
            "n" => ("n".into(), spec.n.map(|v| serde_json::json!(v))),
            other => (format!("params.{other}"), spec.params.get(other).cloned()),
        };
        let Some(value) = value else { continue };
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
                InvalidParam::new(field, format!("{what} (catalog entry {})", model.key))
                    .allowed(format!("{}: {allowed}", p.name)),
            );
        }
    }
    Ok(())
}
