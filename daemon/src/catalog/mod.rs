//! The catalog: which suppliers and models genq offers (with parameter ranges, capabilities,
//! categories and one default model per capability) and the LoRA gallery fetched from
//! ModelScope. SQL lives in `store::catalog`; this module holds the rules.
//!
//! Layout: [`models`] checks entries, [`seed`] is the built-in catalog, [`loras`] fetches
//! LoRA cards from their sources, caches them and downloads covers, and the two submit hooks below apply the catalog to a new job.

pub mod loras;
pub mod models;
pub mod seed;

use crate::engine::EngineError;
use crate::providers::InvalidParam;
use crate::store::{Store, StoreError};
use genq_protocol::catalog::Model;
use genq_protocol::{JobKind, JobSpec};
use models::{check_value, describe_range};

/// Applies the built-in catalog (at every start).
pub async fn seed(store: &Store) -> Result<usize, StoreError> {
    store.seed_catalog(seed::builtin()).await
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

/// Before the adaptor's checks: a spec without a model gets the catalog's default for its
/// capability, when that default belongs to the spec's provider (else the adaptor's own
/// default applies).
pub async fn before_validate(store: &Store, spec: &mut JobSpec) -> Result<(), EngineError> {
    if spec.model.is_some() {
        return Ok(());
    }
    let kind = match spec.kind {
        Some(k) => k,
        None => {
            let kinds = store.supplier_kinds(spec.provider.clone()).await?;
            if !kinds.is_empty() && kinds.iter().all(|k| k == "model3d") {
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

/// After the adaptor's checks: a model the catalog knows must be active and not removed, the
/// spec must fit its parameter ranges (which the user may have narrowed), and every LoRA
/// the catalog has a card for must suit the model's family.
pub async fn after_validate(store: &Store, spec: &JobSpec) -> Result<(), EngineError> {
    let Some(id) = spec.model.clone() else {
        return Ok(());
    };
    let Some(model) = store.find_model(spec.provider.clone(), id).await? else {
        return Ok(());
    };
    if model.removed {
        return Err(InvalidParam::new(
            "model",
            format!("{} was removed from the catalog", model.key),
        )
        .allowed(format!(
            "another model, or restore it with `genq models restore {}`",
            model.key
        ))
        .into());
    }
    if !model.active {
        return Err(InvalidParam::new(
            "model",
            format!("{} is inactive in the catalog", model.key),
        )
        .allowed(format!(
            "another model, or `genq models edit {} --active true`",
            model.key
        ))
        .into());
    }
    check_params(&model, spec)?;
    for (i, lora) in spec.loras.iter().enumerate() {
        if let Some(card) = store
            .lora_card("modelscope".into(), lora.repo.clone())
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
