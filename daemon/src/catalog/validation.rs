//! The one path a submitted spec takes before a job is created: the catalog's default
//! model, the adaptor's checks against the model's catalog entry (its API, and the entry's
//! ranges and defaults), then the entry's state and LoRA families. Every refusal is an
//! [`InvalidParam`] naming the field and what is allowed.

use super::loras;
use crate::providers::model_rules;
use crate::providers::{InvalidParam, Provider};
use crate::store::{Store, StoreError};
use genq_protocol::catalog::{LoraSource, Model, ModelsListParams};
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
/// provider would refuse, reading ranges and defaults from the model's catalog entry);
/// the entry's state and the LoRAs' families. Returns the job's kind.
pub async fn check_spec(
    store: &Store,
    provider: &dyn Provider,
    spec: &mut JobSpec,
) -> Result<JobKind, SpecCheckError> {
    default_model(store, spec).await?;
    let entries = store
        .list_models(ModelsListParams {
            supplier: Some(spec.provider.clone()),
            capability: None,
            include_removed: true,
        })
        .await?;
    let kind = provider.validate(spec, &entries)?;
    let entry = spec
        .model
        .as_deref()
        .and_then(|id| entries.iter().find(|m| m.id == id));
    if let Some(model) = entry {
        check_entry(store, model, spec).await?;
    }
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

/// A model the catalog knows must be active and not removed, and every LoRA the catalog has
/// a card for must suit the model's family. (The spec's fit to the entry's ranges, which
/// the user may have narrowed, is the adaptor's check.)
async fn check_entry(store: &Store, model: &Model, spec: &JobSpec) -> Result<(), SpecCheckError> {
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
    model_rules::check_listed(model, spec)?;
    for (i, lora) in spec.loras.iter().enumerate() {
        if let Some(card) = store
            .lora_card(LoraSource::Modelscope.as_str().into(), lora.repo.clone())
            .await?
            && let Err(why) = loras::compatible(&card, model)
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
