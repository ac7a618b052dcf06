//! The one path a submitted spec takes before a job is created: the catalog's default
//! model, the adaptor's checks against the model's catalog entry (its API, and the entry's
//! ranges and defaults), then the entry's state and LoRA families. Every refusal is an
//! [`InvalidParam`] naming the field and what is allowed.

use super::loras;
use crate::providers::model_rules;
use crate::providers::{InvalidParam, Provider};
use crate::store::{Store, StoreError, SupplierRules};
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
/// provider would refuse, reading ranges and defaults from the model's catalog entry);
/// the entry's state and the LoRAs' families. Returns the job's kind.
pub async fn check_spec(
    store: &Store,
    provider: &dyn Provider,
    spec: &mut JobSpec,
) -> Result<JobKind, SpecCheckError> {
    let rules = store.supplier_rules(spec.provider.clone()).await?;
    default_model(store, &rules, spec).await?;
    let entries = &rules.entries;
    let kind = provider.validate(spec, entries)?;
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
async fn default_model(
    store: &Store,
    rules: &SupplierRules,
    spec: &mut JobSpec,
) -> Result<(), StoreError> {
    if spec.model.is_some() {
        return Ok(());
    }
    let kind = match spec.kind {
        Some(k) => k,
        None => {
            let mut kinds = rules.kinds().peekable();
            if kinds.peek().is_some() && kinds.all(|k| k == JobKind::Model3d.as_str()) {
                JobKind::Model3d
            } else {
                JobKind::Image
            }
        }
    };
    if let Some(m) = store
        .current_default_model(capability(kind, spec).into())
        .await?
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::seed::builtin;
    use crate::providers::dashscope::DashScope;
    use genq_protocol::catalog::ModelsListParams;

    fn spec(model: Option<&str>) -> JobSpec {
        JobSpec {
            provider: "dashscope".into(),
            prompt: "a lighthouse".into(),
            model: model.map(Into::into),
            ..JobSpec::default()
        }
    }

    /// Submits read the catalog from memory once warm, and a catalog write is seen by the
    /// very next submit: a new default, then the model removed.
    #[tokio::test]
    async fn submits_see_every_catalog_write_without_reading_the_catalog_again() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _t) = Store::open(&dir.path().join("genq.db")).unwrap();
        store.seed_catalog(builtin()).await.unwrap();
        let provider = DashScope::new();
        let t2i = store
            .list_models(ModelsListParams {
                supplier: Some("dashscope".into()),
                capability: Some("text_to_image".into()),
                include_removed: false,
            })
            .await
            .unwrap();
        assert!(t2i.len() >= 2, "two text-to-image models to choose from");

        let mut s = spec(None);
        check_spec(&store, &provider, &mut s).await.unwrap();
        let warm = store.catalog_reads();
        for _ in 0..3 {
            let mut s = spec(None);
            check_spec(&store, &provider, &mut s).await.unwrap();
        }
        assert_eq!(store.catalog_reads(), warm, "no catalog read once warm");

        let other = t2i
            .iter()
            .find(|m| Some(&m.id) != s.model.as_ref())
            .unwrap();
        store
            .set_default_model(other.key.clone(), Some("text_to_image".into()))
            .await
            .unwrap();
        let mut s = spec(None);
        check_spec(&store, &provider, &mut s).await.unwrap();
        assert_eq!(s.model.as_deref(), Some(other.id.as_str()));

        store
            .set_model_removed(other.key.clone(), true)
            .await
            .unwrap();
        let mut s = spec(Some(&other.id));
        let e = check_spec(&store, &provider, &mut s).await.unwrap_err();
        assert!(e.to_string().contains("was removed"), "{e}");
    }
}
