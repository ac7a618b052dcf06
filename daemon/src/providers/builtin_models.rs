//! The built-in model table: which models genq ships for each provider and the rules of each
//! (size range, prompt lengths, LoRAs, input image, typical duration, which model is the
//! default). The catalog is seeded from these rows and is where ranges are read at submit;
//! besides the seed, only provider facts are read here: each provider's default model, the
//! model names its API is known to serve, the generic rules of a model the catalog does not
//! hold, and typical durations.
//!
//! Plain static data on purpose: nothing here holds behaviour beyond describing and checking
//! a size and finding a row.

use genq_protocol::Size;

/// Which sizes a model accepts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SizeRule {
    /// Width and height each within `min..=max` pixels.
    Sides { min: u32, max: u32 },
    /// Width and height each within its own range (a catalog entry may narrow one side).
    Box {
        width: (u32, u32),
        height: (u32, u32),
    },
    /// Total pixels within `min_pixels..=max_pixels` and an aspect ratio no wider or taller
    /// than `max_aspect`:1.
    Area {
        min_pixels: u64,
        max_pixels: u64,
        max_aspect: u32,
    },
}

impl SizeRule {
    /// What is accepted, in the words error messages use.
    pub fn describe(&self) -> String {
        match *self {
            SizeRule::Sides { min, max } => {
                format!("{min}x{min} to {max}x{max} (each side {min}–{max})")
            }
            SizeRule::Box {
                width: (w0, w1),
                height: (h0, h1),
            } => format!("{w0}x{h0} to {w1}x{h1} (width {w0}–{w1}, height {h0}–{h1})"),
            SizeRule::Area {
                min_pixels,
                max_pixels,
                max_aspect,
            } => format!(
                "total pixels {min_pixels}–{max_pixels} ({} to {}), aspect ratio 1:{max_aspect} to {max_aspect}:1",
                square_name(min_pixels),
                square_name(max_pixels)
            ),
        }
    }

    /// `Err` says what is wrong with this size.
    pub fn check(&self, size: Size) -> Result<(), String> {
        let sides = |width: (u32, u32), height: (u32, u32)| {
            for (name, v, (min, max)) in [
                ("width", size.width, width),
                ("height", size.height, height),
            ] {
                if v < min || v > max {
                    return Err(format!("{name} {v} is outside {min}–{max}"));
                }
            }
            Ok(())
        };
        match *self {
            SizeRule::Sides { min, max } => sides((min, max), (min, max)),
            SizeRule::Box { width, height } => sides(width, height),
            SizeRule::Area {
                min_pixels,
                max_pixels,
                max_aspect,
            } => {
                let (w, h) = (u64::from(size.width), u64::from(size.height));
                let pixels = w * h;
                if pixels < min_pixels || pixels > max_pixels {
                    return Err(format!(
                        "{size} has {pixels} pixels, outside {min_pixels}–{max_pixels}"
                    ));
                }
                let aspect = u64::from(max_aspect);
                if w > h * aspect || h > w * aspect {
                    return Err(format!("{size} is wider or taller than {max_aspect}:1"));
                }
                Ok(())
            }
        }
    }
}

/// `1280x1280` for a square pixel count, else the count.
fn square_name(pixels: u64) -> String {
    let side = pixels.isqrt();
    if side * side == pixels {
        format!("{side}x{side}")
    } else {
        pixels.to_string()
    }
}

/// Whether a model takes an input image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageInput {
    /// Text to image only: an image is refused.
    No,
    /// Works with or without one.
    Optional,
    /// An edit model: an image is required.
    Required,
}

/// How sure we are that a model applies LoRAs (catalog.md §1.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoraSupport {
    /// The provider's own examples use LoRAs with it.
    Confirmed,
    /// Clients wire LoRAs up for it; not in the official docs.
    Probable,
    /// LoRAs are passed through, but nobody has confirmed they work; provider errors are
    /// shown verbatim.
    Unverified,
    /// The API has no LoRA field: LoRAs are refused.
    None,
}

/// The providers genq ships an adaptor for. Their names are the ones config files, jobs and
/// the catalog use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderId {
    ModelScope,
    DashScope,
    Tripo,
}

impl ProviderId {
    pub const ALL: [ProviderId; 3] = [
        ProviderId::ModelScope,
        ProviderId::DashScope,
        ProviderId::Tripo,
    ];

    /// The name in config, on jobs and in the catalog.
    pub const fn name(self) -> &'static str {
        match self {
            ProviderId::ModelScope => "modelscope",
            ProviderId::DashScope => "dashscope",
            ProviderId::Tripo => "tripo",
        }
    }
}

/// One model and its rules.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelRule {
    pub provider: ProviderId,
    pub id: &'static str,
    /// Base family, for grouping and for matching LoRAs (`qwen-image`, `flux`, `z-image`,
    /// `sd`, `wan` for Wan 2.2 and earlier, `wan2.5`).
    pub family: &'static str,
    /// Used when a job for this provider names no model and the catalog's default for the
    /// job's capability belongs to another provider.
    pub is_default: bool,
    /// The capabilities this model is the catalog's default for when genq is first set up
    /// (the user may pick others).
    pub catalog_default_for: &'static [&'static str],
    pub size: SizeRule,
    /// Longest accepted prompt, in characters.
    pub prompt_max_chars: usize,
    /// Longest accepted negative prompt, in characters.
    pub negative_max_chars: usize,
    pub loras: LoraSupport,
    pub image: ImageInput,
    /// How long a task usually takes, for the first poll before any history exists.
    pub typical_secs: u64,
}

/// ModelScope wants prompts shorter than 2000 characters.
const MS_PROMPT: usize = 1999;
const QWEN_SIZE: SizeRule = SizeRule::Sides { min: 64, max: 1664 };
const FLUX_SIZE: SizeRule = SizeRule::Sides { min: 64, max: 1024 };
const ZIMAGE_SIZE: SizeRule = SizeRule::Sides {
    min: 512,
    max: 2048,
};
const SD_SIZE: SizeRule = SizeRule::Sides { min: 64, max: 2048 };
const WAN22_SIZE: SizeRule = SizeRule::Sides {
    min: 512,
    max: 1440,
};
const WAN25_SIZE: SizeRule = SizeRule::Area {
    min_pixels: 1280 * 1280,
    max_pixels: 1440 * 1440,
    max_aspect: 4,
};

const fn modelscope(
    id: &'static str,
    family: &'static str,
    size: SizeRule,
    loras: LoraSupport,
    image: ImageInput,
) -> ModelRule {
    ModelRule {
        provider: ProviderId::ModelScope,
        id,
        family,
        is_default: false,
        catalog_default_for: &[],
        size,
        prompt_max_chars: MS_PROMPT,
        negative_max_chars: MS_PROMPT,
        loras,
        image,
        typical_secs: 30,
    }
}

const fn dashscope(id: &'static str, family: &'static str, size: SizeRule) -> ModelRule {
    ModelRule {
        provider: ProviderId::DashScope,
        id,
        family,
        is_default: false,
        catalog_default_for: &[],
        size,
        prompt_max_chars: 800,
        negative_max_chars: 500,
        loras: LoraSupport::None,
        image: ImageInput::No,
        typical_secs: 60,
    }
}

/// Tripo's input images: each side 20–6000 pixels (providers.md §3.2).
pub const TRIPO_INPUT_SIZE: SizeRule = SizeRule::Sides { min: 20, max: 6000 };

/// A Tripo `model_version`: prompts up to 1024 characters, negative prompts up to 255
/// (providers.md §3.3); a 3D task usually takes 60–90 s.
const fn tripo(id: &'static str) -> ModelRule {
    ModelRule {
        provider: ProviderId::Tripo,
        id,
        family: "tripo",
        is_default: false,
        catalog_default_for: &[],
        size: TRIPO_INPUT_SIZE,
        prompt_max_chars: 1024,
        negative_max_chars: 255,
        loras: LoraSupport::None,
        image: ImageInput::Optional,
        typical_secs: 75,
    }
}

/// Every model genq knows, by provider. Exactly one default per provider.
pub static MODELS: &[ModelRule] = &[
    // ModelScope API-Inference (providers.md §1.2, §1.4; LoRA evidence: catalog.md §1.8).
    ModelRule {
        is_default: true,
        catalog_default_for: &["text_to_image"],
        ..modelscope(
            "Qwen/Qwen-Image",
            "qwen-image",
            QWEN_SIZE,
            LoraSupport::Confirmed,
            ImageInput::No,
        )
    },
    modelscope(
        "Qwen/Qwen-Image-2512",
        "qwen-image",
        QWEN_SIZE,
        LoraSupport::Probable,
        ImageInput::No,
    ),
    modelscope(
        "Tongyi-MAI/Z-Image-Turbo",
        "z-image",
        ZIMAGE_SIZE,
        LoraSupport::Confirmed,
        ImageInput::No,
    ),
    modelscope(
        "black-forest-labs/FLUX.1-Krea-dev",
        "flux",
        FLUX_SIZE,
        LoraSupport::Unverified,
        ImageInput::No,
    ),
    modelscope(
        "MAILAND/majicflus_v1",
        "flux",
        FLUX_SIZE,
        LoraSupport::Unverified,
        ImageInput::No,
    ),
    ModelRule {
        catalog_default_for: &["image_to_image"],
        ..modelscope(
            "black-forest-labs/FLUX.1-Kontext-dev",
            "flux",
            FLUX_SIZE,
            LoraSupport::Unverified,
            ImageInput::Optional,
        )
    },
    modelscope(
        "Qwen/Qwen-Image-Edit",
        "qwen-image",
        QWEN_SIZE,
        LoraSupport::Unverified,
        ImageInput::Required,
    ),
    modelscope(
        "Qwen/Qwen-Image-Edit-2509",
        "qwen-image",
        QWEN_SIZE,
        LoraSupport::Probable,
        ImageInput::Required,
    ),
    modelscope(
        "Qwen/Qwen-Image-Edit-2511",
        "qwen-image",
        QWEN_SIZE,
        LoraSupport::Probable,
        ImageInput::Required,
    ),
    // DashScope Wan text-to-image (providers.md §2.2, §2.3).
    ModelRule {
        is_default: true,
        ..dashscope("wan2.2-t2i-flash", "wan", WAN22_SIZE)
    },
    dashscope("wan2.2-t2i-plus", "wan", WAN22_SIZE),
    dashscope("wanx2.1-t2i-turbo", "wan", WAN22_SIZE),
    dashscope("wanx2.1-t2i-plus", "wan", WAN22_SIZE),
    ModelRule {
        prompt_max_chars: 2000,
        ..dashscope("wan2.5-t2i-preview", "wan2.5", WAN25_SIZE)
    },
    dashscope("wanx2.0-t2i-turbo", "wan", WAN22_SIZE),
    // Tripo 3D `model_version`s (providers.md §3.3); v1.3 is deprecated and left out.
    ModelRule {
        is_default: true,
        catalog_default_for: &["text_to_model", "image_to_model", "multiview_to_model"],
        ..tripo("v2.5-20250123")
    },
    tripo("v3.0-20250812"),
    tripo("v3.1-20260211"),
    tripo("P1-20260311"),
    tripo("Turbo-v1.0-20250506"),
    tripo("v2.0-20240919"),
    tripo("v1.4-20240625"),
];

/// Rules for a ModelScope model id not in [`MODELS`]: model availability is catalog data, so
/// an unknown id is sent with the generic (SD family) checks.
pub static MODELSCOPE_GENERIC: ModelRule = modelscope(
    "*",
    "sd",
    SD_SIZE,
    LoraSupport::Unverified,
    ImageInput::Optional,
);

/// Rules for a DashScope model the catalog holds but whose entry leaves a parameter out.
pub static DASHSCOPE_GENERIC: ModelRule = dashscope("*", "wan", WAN22_SIZE);

/// Rules for a Tripo model version the catalog holds but whose entry leaves a parameter out.
pub static TRIPO_GENERIC: ModelRule = tripo("*");

/// The rules a provider applies where the catalog says nothing about a model.
pub fn generic(provider: ProviderId) -> &'static ModelRule {
    match provider {
        ProviderId::ModelScope => &MODELSCOPE_GENERIC,
        ProviderId::DashScope => &DASHSCOPE_GENERIC,
        ProviderId::Tripo => &TRIPO_GENERIC,
    }
}

/// Each image family and the catalog category its models are seeded into; a size refusal
/// names the family of the entry's category.
pub const FAMILY_CATEGORIES: &[(&str, &str)] = &[
    ("qwen-image", "image/qwen"),
    ("flux", "image/flux"),
    ("z-image", "image/z-image"),
    ("wan", "image/wan"),
    ("wan2.5", "image/wan"),
];

/// The rules of one known model.
pub fn find(provider: &str, id: &str) -> Option<&'static ModelRule> {
    of(provider).find(|m| m.id == id)
}

/// The model a job of this provider gets when it names none.
pub fn default_for(provider: &str) -> Option<&'static ModelRule> {
    of(provider).find(|m| m.is_default)
}

/// The model a job names, else its provider's default.
pub fn model_or_default<'a>(provider: &str, model: Option<&'a str>) -> Option<&'a str> {
    model.or_else(|| default_for(provider).map(|m| m.id))
}

/// How long a task of this model usually takes, in seconds: its row's figure, else the
/// provider's default model's.
pub fn typical_secs(provider: &str, model: Option<&str>) -> u64 {
    model
        .and_then(|id| find(provider, id))
        .or_else(|| default_for(provider))
        .map_or(20, |m| m.typical_secs)
}

/// The known model ids of a provider, in table order.
pub fn ids(provider: &str) -> Vec<&'static str> {
    of(provider).map(|m| m.id).collect()
}

/// The rows of one provider, in table order.
pub fn of(provider: &str) -> impl Iterator<Item = &'static ModelRule> + '_ {
    MODELS.iter().filter(move |m| m.provider.name() == provider)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(w: u32, h: u32) -> Size {
        Size {
            width: w,
            height: h,
        }
    }

    #[test]
    fn each_provider_has_exactly_one_default_and_unique_ids() {
        for p in ProviderId::ALL.map(ProviderId::name) {
            let defaults = of(p).filter(|m| m.is_default);
            assert_eq!(defaults.count(), 1, "{p}");
            let ids = ids(p);
            let mut dedup = ids.clone();
            dedup.sort();
            dedup.dedup();
            assert_eq!(ids.len(), dedup.len(), "{p}");
        }
        assert_eq!(
            default_for("modelscope").map(|m| m.id),
            Some("Qwen/Qwen-Image")
        );
        assert_eq!(
            default_for("dashscope").map(|m| m.id),
            Some("wan2.2-t2i-flash")
        );
        assert_eq!(default_for("tripo").map(|m| m.id), Some("v2.5-20250123"));
    }

    #[test]
    fn side_rules_check_both_sides() {
        assert!(QWEN_SIZE.check(size(1664, 64)).is_ok());
        let err = QWEN_SIZE.check(size(1024, 1665)).unwrap_err();
        assert!(err.contains("height 1665"), "{err}");
        assert!(
            ZIMAGE_SIZE
                .check(size(511, 1024))
                .unwrap_err()
                .contains("width")
        );
        assert!(QWEN_SIZE.describe().contains("64x64 to 1664x1664"));
    }

    #[test]
    fn area_rule_checks_pixels_and_aspect() {
        assert!(WAN25_SIZE.check(size(1280, 1280)).is_ok());
        assert!(WAN25_SIZE.check(size(1440, 1440)).is_ok());
        assert!(
            WAN25_SIZE
                .check(size(1024, 1024))
                .unwrap_err()
                .contains("pixels")
        );
        assert!(WAN25_SIZE.check(size(1441, 1440)).is_err());
        // 4:1 is allowed, wider is not (both within the pixel range).
        assert!(WAN25_SIZE.check(size(2880, 720)).is_ok());
        assert!(
            WAN25_SIZE
                .check(size(3000, 690))
                .unwrap_err()
                .contains("4:1")
        );
        let d = WAN25_SIZE.describe();
        assert!(
            d.contains("1280x1280") && d.contains("1440x1440") && d.contains("1:4"),
            "{d}"
        );
    }
}
