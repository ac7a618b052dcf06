//! The built-in catalog: suppliers, capabilities, categories, and one entry per row of the
//! built-in model table (`providers::builtin_models`), with the parameter ranges and defaults
//! of that row. Applied at every start; the store only adds what is missing and updates
//! built-ins the user never edited. From then on the catalog is where the adaptors read
//! ranges and defaults.

use crate::providers::builtin_models::{
    FAMILY_CATEGORIES, ImageInput, LoraSupport, MODELS, ModelRule, ProviderId, SizeRule,
};
use crate::providers::model_rules::{GUIDANCE, SEED_MAX, STEPS};
use crate::providers::{dashscope, modelscope, tripo};
use crate::store::{CapabilitySeed, CatalogSeed};
use genq_protocol::JobKind;
use genq_protocol::catalog::{ModelInput, ModelParam, ParamType, Supplier};
use serde_json::json;

/// The LoRA family a built-in model accepts (catalog.md §4 vocabulary).
fn lora_family(rule: &ModelRule) -> Option<String> {
    if rule.loras == LoraSupport::None {
        return None;
    }
    let family = match rule.family {
        "qwen-image" if rule.id.contains("Edit") => "qwen-image-edit",
        "qwen-image" => "qwen-image",
        "z-image" => "z-image",
        "flux" => "flux1",
        "sd" => "sdxl",
        _ => "other",
    };
    Some(family.into())
}

fn category(rule: &ModelRule) -> &'static str {
    FAMILY_CATEGORIES
        .iter()
        .find(|(family, _)| *family == rule.family)
        .map_or("image", |(_, category)| category)
}

/// `prompt` and `negative_prompt`, at most as long as the row allows.
fn prompt_params(rule: &ModelRule) -> Vec<ModelParam> {
    let chars = |max: usize| Some(max as f64);
    vec![
        ModelParam::ranged(
            "prompt",
            ParamType::String,
            None,
            chars(rule.prompt_max_chars),
            "characters",
        ),
        ModelParam::ranged(
            "negative_prompt",
            ParamType::String,
            None,
            chars(rule.negative_max_chars),
            "characters",
        ),
    ]
}

/// `width` and `height`, or `pixels` and `aspect`, as the size rule has it.
fn size_params(size: SizeRule) -> Vec<ModelParam> {
    let sides = |width: (u32, u32), height: (u32, u32)| {
        [("width", width), ("height", height)]
            .map(|(side, (min, max))| {
                ModelParam::ranged(
                    side,
                    ParamType::Int,
                    Some(min.into()),
                    Some(max.into()),
                    "pixels",
                )
            })
            .to_vec()
    };
    match size {
        SizeRule::Sides { min, max } => sides((min, max), (min, max)),
        SizeRule::Box { width, height } => sides(width, height),
        SizeRule::Area {
            min_pixels,
            max_pixels,
            max_aspect,
        } => vec![
            ModelParam::ranged(
                "pixels",
                ParamType::Int,
                Some(min_pixels as f64),
                Some(max_pixels as f64),
                "width × height",
            ),
            ModelParam::ranged(
                "aspect",
                ParamType::Float,
                Some(1.0 / f64::from(max_aspect)),
                Some(f64::from(max_aspect)),
                "width / height",
            ),
        ],
    }
}

fn image_params(rule: &ModelRule) -> Vec<ModelParam> {
    let mut p = prompt_params(rule);
    p.extend(size_params(rule.size));
    p.push(ModelParam::ranged(
        "seed",
        ParamType::Int,
        Some(0.0),
        Some(SEED_MAX as f64),
        "omit for random",
    ));
    if rule.provider == ProviderId::ModelScope {
        let (min, max) = STEPS;
        p.push(ModelParam::ranged(
            "steps",
            ParamType::Int,
            Some(min.into()),
            Some(max.into()),
            "sampling steps",
        ));
        let (min, max) = GUIDANCE;
        p.push(ModelParam::ranged(
            "guidance",
            ParamType::Float,
            Some(min),
            Some(max),
            "guidance scale",
        ));
    } else {
        let max = Some(dashscope::N_MAX.into());
        p.push(ModelParam {
            default: Some(json!(1)),
            ..ModelParam::ranged("n", ParamType::Int, Some(1.0), max, "images per task")
        });
    }
    p
}

fn image_model(rule: &ModelRule) -> ModelInput {
    let (sub_type, capabilities) = match rule.image {
        ImageInput::No => ("text_to_image", vec!["text_to_image"]),
        ImageInput::Optional => ("text_to_image", vec!["text_to_image", "image_to_image"]),
        ImageInput::Required => ("image_to_image", vec!["image_to_image"]),
    };
    let short = rule.id.rsplit('/').next().unwrap_or(rule.id);
    ModelInput {
        supplier: rule.provider.name().into(),
        id: rule.id.into(),
        display_name: Some(short.into()),
        description: format!(
            "{} family; sizes {}{}",
            rule.family,
            rule.size.describe(),
            match rule.loras {
                LoraSupport::Confirmed => "; takes LoRAs",
                LoraSupport::Probable => "; LoRAs probably work",
                LoraSupport::Unverified => "; LoRAs unverified",
                LoraSupport::None => "",
            }
        ),
        kind: JobKind::Image.as_str().into(),
        sub_type: sub_type.into(),
        lora_family: lora_family(rule),
        active: true,
        capabilities: capabilities.into_iter().map(String::from).collect(),
        categories: vec![category(rule).into()],
        params: image_params(rule),
    }
}

/// A Tripo model version (providers.md §3.3) with the options the adaptor passes through.
fn tripo_model(rule: &ModelRule) -> ModelInput {
    let version = rule.id;
    let enum_param = |name: &str, allowed: &[&str], description: &str| ModelParam {
        allowed: allowed.iter().map(|s| s.to_string()).collect(),
        default: Some(json!(allowed[0])),
        ..ModelParam::ranged(name, ParamType::Enum, None, None, description)
    };
    let bool_param = |name: &str, description: &str| ModelParam {
        default: Some(json!(true)),
        ..ModelParam::ranged(name, ParamType::Bool, None, None, description)
    };
    let mut params = prompt_params(rule);
    params.extend([
        bool_param("texture", "texture the model"),
        bool_param("pbr", "PBR materials (forces texture)"),
        enum_param("texture_quality", tripo::QUALITY, "texture detail"),
        ModelParam::ranged(
            "face_limit",
            ParamType::Int,
            Some(1.0),
            None,
            "most faces in the mesh",
        ),
    ]);
    if tripo::has_geometry_quality(version) {
        params.push(enum_param(
            "geometry_quality",
            tripo::QUALITY,
            "geometry detail (v3.0+)",
        ));
    }
    ModelInput {
        supplier: rule.provider.name().into(),
        id: version.into(),
        display_name: Some(format!("Tripo {version}")),
        description: "Tripo 3D model version; GLB output".into(),
        kind: JobKind::Model3d.as_str().into(),
        sub_type: "text_to_model".into(),
        lora_family: None,
        active: true,
        capabilities: vec![
            "text_to_model".into(),
            "image_to_model".into(),
            "multiview_to_model".into(),
        ],
        categories: vec!["3d/tripo".into()],
        params,
    }
}

/// Everything genq ships.
pub fn builtin() -> CatalogSeed {
    let supplier = |name: &str, display: &str, base: &str, docs: &str| Supplier {
        name: name.into(),
        display_name: display.into(),
        base_url: base.into(),
        docs_url: Some(docs.into()),
        needs_key: true,
        active: true,
    };
    let cap = |name, display_name, input_types, output_types, domain| CapabilitySeed {
        name,
        display_name,
        input_types,
        output_types,
        domain,
    };
    let models = MODELS
        .iter()
        .map(|rule| {
            let entry = match rule.provider {
                ProviderId::Tripo => tripo_model(rule),
                ProviderId::ModelScope | ProviderId::DashScope => image_model(rule),
            };
            (entry, rule.catalog_default_for.to_vec())
        })
        .collect();
    CatalogSeed {
        suppliers: vec![
            supplier(
                modelscope::NAME,
                "ModelScope API-Inference",
                modelscope::DEFAULT_BASE_URL,
                "https://modelscope.cn/docs/model-service/API-Inference/intro",
            ),
            supplier(
                dashscope::NAME,
                "Alibaba Cloud Model Studio (DashScope)",
                dashscope::DEFAULT_BASE_URL,
                "https://www.alibabacloud.com/help/en/model-studio/text-to-image-v2-api-reference",
            ),
            supplier(
                tripo::NAME,
                "Tripo 3D",
                tripo::DEFAULT_BASE_URL,
                "https://docs.tripo3d.ai",
            ),
        ],
        capabilities: vec![
            cap(
                "text_to_image",
                "Text to image",
                &["text"],
                &["image"],
                "image",
            ),
            cap(
                "image_to_image",
                "Image to image",
                &["text", "image"],
                &["image"],
                "image",
            ),
            cap(
                "text_to_model",
                "Text to 3D model",
                &["text"],
                &["model3d"],
                "3d",
            ),
            cap(
                "image_to_model",
                "Image to 3D model",
                &["image"],
                &["model3d"],
                "3d",
            ),
            cap(
                "multiview_to_model",
                "Views to 3D model",
                &["image"],
                &["model3d"],
                "3d",
            ),
        ],
        categories: vec![
            ("image", "Image generation", None),
            ("image/qwen", "Qwen-Image", Some("image")),
            ("image/flux", "FLUX", Some("image")),
            ("image/z-image", "Z-Image", Some("image")),
            ("image/wan", "Wan", Some("image")),
            ("3d", "3D generation", None),
            ("3d/tripo", "Tripo", Some("3d")),
        ],
        models,
    }
}

/// The built-in entries of one supplier as the catalog holds them after seeding, in table
/// order: what an adaptor's checks read.
#[cfg(test)]
pub(crate) fn entries_of(supplier: &str) -> Vec<genq_protocol::catalog::Model> {
    builtin()
        .models
        .into_iter()
        .filter(|(m, _)| m.supplier == supplier)
        .map(|(m, default_for)| genq_protocol::catalog::Model {
            key: format!("{}:{}", m.supplier, m.id),
            display_name: m.display_name.unwrap_or_else(|| m.id.clone()),
            supplier: m.supplier,
            id: m.id,
            description: m.description,
            kind: m.kind,
            sub_type: m.sub_type,
            lora_family: m.lora_family,
            active: m.active,
            builtin: true,
            removed: false,
            default_for: default_for.into_iter().map(String::from).collect(),
            capabilities: m.capabilities,
            categories: m.categories,
            params: m.params,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::entry_checks::check_input;

    /// The entries carry every rule of the table they are seeded from, so the adaptors,
    /// reading the entries, judge a built-in model as the table describes it.
    #[test]
    fn each_entry_reads_back_as_its_rows_rules() {
        use crate::providers::builtin_models::generic;
        use crate::providers::model_rules::ModelRules;
        for p in ProviderId::ALL {
            let entries = entries_of(p.name());
            for row in MODELS.iter().filter(|m| m.provider == p) {
                let entry = entries.iter().find(|m| m.id == row.id);
                assert!(entry.is_some(), "{}", row.id);
                let rules = ModelRules::new(row.id, entry, generic(p));
                assert_eq!(rules.size, row.size, "{}", row.id);
                assert_eq!(rules.prompt_max_chars, row.prompt_max_chars, "{}", row.id);
                assert_eq!(rules.negative_max_chars, row.negative_max_chars);
                if let SizeRule::Sides { .. } = row.size {
                    assert_eq!(rules.family, row.family, "{}", row.id);
                }
            }
        }
    }

    #[test]
    fn every_builtin_passes_the_checks_users_get() {
        for (mut m, _) in builtin().models {
            check_input(&mut m).unwrap_or_else(|e| panic!("{}: {e}", m.id));
        }
    }
}

#[cfg(test)]
mod upgrade_tests {
    use super::*;
    use crate::store::Store;
    use genq_protocol::catalog::{ModelEdit, ModelsListParams};

    #[tokio::test]
    async fn an_upgrade_adds_and_updates_builtins_but_keeps_user_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _t) = Store::open(&dir.path().join("genq.db")).unwrap();
        let first = builtin();
        let count = first.models.len();
        assert_eq!(store.seed_catalog(first).await.unwrap(), count);
        assert_eq!(
            store.seed_catalog(builtin()).await.unwrap(),
            0,
            "not idempotent"
        );

        // The user edits one built-in, removes another, adds their own, picks a default.
        store
            .edit_model(ModelEdit {
                model: "Qwen/Qwen-Image".into(),
                description: Some("mine".into()),
                ..ModelEdit::default()
            })
            .await
            .unwrap();
        store
            .set_model_removed("wan2.2-t2i-plus".into(), true)
            .await
            .unwrap();
        let (mut own, _) = builtin().models.remove(0);
        own.id = "me/own".into();
        store.add_model(own).await.unwrap();
        store
            .set_default_model("Tongyi-MAI/Z-Image-Turbo".into(), None)
            .await
            .unwrap();

        // The next release ships a new model and changes an untouched and an edited one.
        let mut next = builtin();
        for (m, _) in &mut next.models {
            m.description = format!("{} (v2)", m.description);
        }
        let (mut new, _) = next.models[0].clone();
        new.id = "Qwen/Qwen-Image-3000".into();
        next.models.push((new, vec!["text_to_image"]));
        assert_eq!(store.seed_catalog(next).await.unwrap(), 1);

        let all = store
            .list_models(ModelsListParams {
                include_removed: true,
                ..Default::default()
            })
            .await
            .unwrap();
        let get = |id: &str| all.iter().find(|m| m.id == id).unwrap();
        assert_eq!(get("Qwen/Qwen-Image").description, "mine");
        assert!(
            get("Tongyi-MAI/Z-Image-Turbo")
                .description
                .ends_with("(v2)")
        );
        assert!(
            get("wan2.2-t2i-plus").removed,
            "a removed built-in came back"
        );
        assert!(!get("me/own").builtin);
        assert!(get("Qwen/Qwen-Image-3000").builtin);
        // The user's default stays.
        assert_eq!(
            get("Tongyi-MAI/Z-Image-Turbo").default_for,
            ["text_to_image"]
        );
        assert!(get("Qwen/Qwen-Image-3000").default_for.is_empty());
    }
}
