//! Catalog rows of the provider instances a config adds: each instance is a supplier of its
//! own, offering its type's built-in models under its name, so the pickers, `genq models`
//! and a submit's checks see it like any provider.

use super::seed;
use crate::config::{Config, ProviderSettings};
use crate::providers::{comfyui, openai};
use crate::store::CatalogSeed;
use genq_protocol::catalog::Supplier;

/// The suppliers and models of every instance not named after its type.
pub fn seed_of(config: &Config) -> CatalogSeed {
    let shipped = seed::builtin();
    let mut out = CatalogSeed::default();
    for (name, settings) in &config.providers {
        let provider_type = settings.provider_type.as_str();
        if provider_type == openai::NAME {
            out.suppliers.push(openai_supplier(name, settings));
            let options = openai::models::Options::from_section(&settings.section);
            out.models.extend(
                openai::models::entries(name, &options)
                    .into_iter()
                    .map(|m| (m, Vec::new())),
            );
            continue;
        }
        if provider_type == comfyui::NAME {
            out.suppliers.push(Supplier {
                display_name: format!("{name} (ComfyUI)"),
                docs_url: Some("https://docs.comfy.org".into()),
                needs_key: false,
                ..openai_supplier(name, settings)
            });
            out.models.extend(
                comfyui::models::entries(name, &settings.section)
                    .into_iter()
                    .map(|m| (m, Vec::new())),
            );
            continue;
        }
        if *name == provider_type {
            continue;
        }
        let Some(of_type) = shipped.suppliers.iter().find(|s| s.name == provider_type) else {
            continue;
        };
        let mut supplier = of_type.clone();
        supplier.display_name = format!("{name} ({})", of_type.display_name);
        supplier.name = name.clone();
        supplier.base_url = settings.base_url.clone();
        out.suppliers.push(supplier);
        out.models.extend(
            shipped
                .models
                .iter()
                .filter(|(m, _)| m.supplier == provider_type)
                .map(|(m, _)| {
                    let mut m = m.clone();
                    m.supplier = name.clone();
                    (m, Vec::new())
                }),
        );
    }
    out
}

/// The supplier row of an OpenAI-compatible instance.
fn openai_supplier(name: &str, settings: &ProviderSettings) -> Supplier {
    Supplier {
        name: name.into(),
        display_name: format!("{name} (OpenAI-compatible)"),
        base_url: settings.base_url.clone(),
        docs_url: Some("https://platform.openai.com/docs/api-reference/images".into()),
        needs_key: true,
        active: true,
    }
}

/// The catalog rows of the models the OpenAI-compatible instance `name` lists.
pub fn listed_models(config: &Config, name: &str, ids: &[String]) -> CatalogSeed {
    let mut out = CatalogSeed::default();
    let Some(settings) = config.providers.get(name) else {
        return out;
    };
    let mut options = openai::models::Options::from_section(&settings.section);
    options.models = ids.to_vec();
    out.suppliers.push(openai_supplier(name, settings));
    out.models = openai::models::entries(name, &options)
        .into_iter()
        .map(|m| (m, Vec::new()))
        .collect();
    out
}
