//! A small daemon catalog and LoRA cards, fixed so snapshots are stable.

use crate::tui::action::Action;
use crate::tui::app::App;
use crate::tui::catalog::CatalogData;
use genq_protocol::catalog::{
    Capability, Category, LoraCard, LoraPage, Model, ModelParam, ParamType, Supplier,
};
use serde_json::json;

fn model(supplier: &str, id: &str, kind: &str, sub_type: &str) -> Model {
    Model {
        key: format!("{supplier}:{id}"),
        supplier: supplier.into(),
        id: id.into(),
        display_name: id.rsplit('/').next().unwrap_or(id).into(),
        description: String::new(),
        kind: kind.into(),
        sub_type: sub_type.into(),
        lora_family: None,
        active: true,
        builtin: true,
        removed: false,
        default_for: Vec::new(),
        capabilities: vec![sub_type.into()],
        categories: Vec::new(),
        params: Vec::new(),
    }
}

fn supplier(name: &str, active: bool) -> Supplier {
    Supplier {
        name: name.into(),
        display_name: name.into(),
        base_url: format!("https://{name}.example.invalid"),
        docs_url: None,
        needs_key: true,
        active,
    }
}

/// Two image suppliers and Tripo, with ranges that differ from the built-in list.
pub fn catalog() -> CatalogData {
    let ms_params = |side: f64| {
        vec![
            ModelParam::ranged("prompt", ParamType::String, None, Some(500.0), ""),
            ModelParam::ranged("width", ParamType::Int, Some(256.0), Some(side), ""),
            ModelParam::ranged("height", ParamType::Int, Some(256.0), Some(side), ""),
            ModelParam::ranged("seed", ParamType::Int, Some(0.0), Some(2_147_483_647.0), ""),
            ModelParam::ranged("steps", ParamType::Int, Some(1.0), Some(50.0), ""),
            ModelParam::ranged("guidance", ParamType::Float, Some(1.5), Some(20.0), ""),
        ]
    };
    let mut qwen = model("modelscope", "Qwen/Qwen-Image", "image", "text_to_image");
    qwen.lora_family = Some("qwen-image".into());
    qwen.params = ms_params(1664.0);
    let mut zimage = model(
        "modelscope",
        "Tongyi-MAI/Z-Image-Turbo",
        "image",
        "text_to_image",
    );
    zimage.lora_family = Some("z-image".into());
    zimage.default_for = vec!["text_to_image".into()];
    zimage.params = ms_params(2048.0);
    let mut edit = model(
        "modelscope",
        "Qwen/Qwen-Image-Edit",
        "image",
        "image_to_image",
    );
    edit.removed = true;
    let mut wan = model("dashscope", "wan2.2-t2i-flash", "image", "text_to_image");
    wan.params = vec![
        ModelParam::ranged(
            "pixels",
            ParamType::Int,
            Some(262_144.0),
            Some(2_073_600.0),
            "",
        ),
        ModelParam::ranged("aspect", ParamType::Float, Some(0.25), Some(4.0), ""),
        ModelParam {
            default: Some(json!(1)),
            ..ModelParam::ranged("n", ParamType::Int, Some(1.0), Some(4.0), "")
        },
    ];
    let mut tripo = model("tripo", "v2.5-20250123", "model3d", "text_to_model");
    tripo.default_for = vec!["text_to_model".into()];
    tripo.params = vec![ModelParam {
        allowed: vec!["standard".into(), "detailed".into()],
        default: Some(json!("standard")),
        ..ModelParam::ranged("texture_quality", ParamType::Enum, None, None, "")
    }];
    let category = |name: &str, display: &str, models: Vec<&str>, children| Category {
        name: name.into(),
        display_name: display.into(),
        parent: None,
        models: models.into_iter().map(String::from).collect(),
        children,
    };
    CatalogData {
        suppliers: vec![
            supplier("modelscope", true),
            supplier("dashscope", true),
            supplier("tripo", true),
            supplier("openai", false),
        ],
        models: vec![qwen, zimage, edit, wan, tripo],
        categories: vec![
            category(
                "image",
                "Images",
                vec![],
                vec![
                    category(
                        "image/qwen",
                        "Qwen",
                        vec!["modelscope:Qwen/Qwen-Image"],
                        vec![],
                    ),
                    category(
                        "image/z-image",
                        "Z-Image",
                        vec!["modelscope:Tongyi-MAI/Z-Image-Turbo"],
                        vec![],
                    ),
                ],
            ),
            category("3d", "3D", vec!["tripo:v2.5-20250123"], vec![]),
        ],
        capabilities: vec![
            Capability {
                name: "text_to_image".into(),
                display_name: "Text to image".into(),
                input_types: vec!["text".into()],
                output_types: vec!["image".into()],
                domain: "image".into(),
                default_model: Some("modelscope:Tongyi-MAI/Z-Image-Turbo".into()),
            },
            Capability {
                name: "text_to_model".into(),
                display_name: "Text to 3D".into(),
                input_types: vec!["text".into()],
                output_types: vec!["model3d".into()],
                domain: "3d".into(),
                default_model: Some("tripo:v2.5-20250123".into()),
            },
        ],
    }
}

/// Card `n` of a listing: Qwen-Image LoRAs, every fifth one Z-Image, every seventh with a
/// dead cover.
pub fn card(n: u32) -> LoraCard {
    let zimage = n % 5 == 4;
    let (family, raw, compatible) = if zimage {
        (
            "z-image",
            "Z_IMAGE_TURBO",
            vec!["modelscope:Tongyi-MAI/Z-Image-Turbo".to_string()],
        )
    } else {
        (
            "qwen-image",
            "QWEN_IMAGE_2512",
            vec!["modelscope:Qwen/Qwen-Image".to_string()],
        )
    };
    let dead = n % 7 == 6;
    LoraCard {
        id: format!("author{}/lora-{n}", n % 3),
        source: "modelscope".into(),
        title: format!("Style LoRA number {n}"),
        author: Some(format!("author{}", n % 3)),
        cover_url: (!dead).then(|| format!("https://resources.modelscope.cn/c/{n}.png")),
        cover_local: Some(if dead {
            "/cache/images/t/placeholder.png".into()
        } else {
            format!("/cache/images/t/{n}.png")
        }),
        downloads: Some(u64::from(100_000u32.saturating_sub(n * 917))),
        base_model: Some(family.into()),
        base_model_raw: Some(raw.into()),
        trigger_words: if n == 0 {
            vec!["lr_style".into()]
        } else {
            Vec::new()
        },
        page_url: format!("https://modelscope.cn/models/author{}/lora-{n}", n % 3),
        compatible_models: compatible,
        ..LoraCard::default()
    }
}

/// Page `page` (1-based) of `total` cards of `size` each.
pub fn lora_page(page: u32, size: u32, total: u32) -> LoraPage {
    let from = (page - 1) * size;
    let to = (from + size).min(total);
    LoraPage {
        cached_at: "2025-11-22T05:44:00Z".into(),
        from_cache: false,
        total: Some(u64::from(total)),
        cards: (from..to).map(card).collect(),
    }
}

/// An app that has the catalog.
pub fn with_catalog(mut app: App) -> App {
    app.update(Action::CatalogLoaded(Box::new(catalog())));
    app
}
