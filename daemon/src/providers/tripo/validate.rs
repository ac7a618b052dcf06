//! What Tripo accepts (providers.md §3.3): the model version, the inputs of each task type,
//! the seed and the options passed through in `params`.

use super::input::{Input, check_local_image, classify_input};
use crate::providers::adaptor::InvalidParam;
use crate::providers::builtin_models::{self, ProviderId};
use crate::providers::checks;
use crate::providers::model_rules::{ModelRules, SEED_MAX};
use genq_protocol::catalog::Model;
use genq_protocol::{JobKind, JobSpec};
use serde_json::Value;

const NAME: &str = ProviderId::Tripo.name();

/// Multiview slots, in the order `files` takes them.
pub const VIEWS: [&str; 4] = ["front", "left", "back", "right"];

/// What a job asks Tripo to do, decided by `validate` from the spec's inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskType {
    TextToModel,
    ImageToModel,
    MultiviewToModel,
}

impl TaskType {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskType::TextToModel => "text_to_model",
            TaskType::ImageToModel => "image_to_model",
            TaskType::MultiviewToModel => "multiview_to_model",
        }
    }

    pub(super) fn of(spec: &JobSpec) -> TaskType {
        if !spec.views.is_empty() {
            TaskType::MultiviewToModel
        } else if spec.image.is_some() {
            TaskType::ImageToModel
        } else {
            TaskType::TextToModel
        }
    }
}

/// How an option in `params` is checked.
#[derive(Clone, Copy, Debug)]
enum Opt {
    Bool,
    /// One of these strings.
    OneOf(&'static [&'static str]),
    /// A whole number in this range.
    Int(i64, i64),
}

/// Which task types take an option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Applies {
    All,
    /// `image_to_model` and `multiview_to_model` only.
    Images,
}

/// The values of `texture_quality` and `geometry_quality`.
pub const QUALITY: &[&str] = &["standard", "detailed"];

/// The options genq passes through in `params`, with their rules (providers.md §3.3).
/// `model_version` is handled with the model.
const OPTIONS: &[(&str, Opt, Applies)] = &[
    ("texture", Opt::Bool, Applies::All),
    ("pbr", Opt::Bool, Applies::All),
    ("texture_quality", Opt::OneOf(QUALITY), Applies::All),
    ("geometry_quality", Opt::OneOf(QUALITY), Applies::All),
    ("face_limit", Opt::Int(1, 2_000_000), Applies::All),
    ("quad", Opt::Bool, Applies::All),
    ("auto_size", Opt::Bool, Applies::All),
    ("compress", Opt::OneOf(&["geometry"]), Applies::All),
    ("smart_low_poly", Opt::Bool, Applies::All),
    ("generate_parts", Opt::Bool, Applies::All),
    ("export_uv", Opt::Bool, Applies::All),
    ("image_seed", Opt::Int(0, SEED_MAX), Applies::All),
    ("model_seed", Opt::Int(0, SEED_MAX), Applies::All),
    ("texture_seed", Opt::Int(0, SEED_MAX), Applies::All),
    (
        "orientation",
        Opt::OneOf(&["default", "align_image"]),
        Applies::Images,
    ),
    (
        "texture_alignment",
        Opt::OneOf(&["original_image", "geometry"]),
        Applies::Images,
    ),
    ("enable_image_autofix", Opt::Bool, Applies::Images),
];

/// Whether a model version takes `geometry_quality` (v3.0 and later).
pub fn has_geometry_quality(version: &str) -> bool {
    version.starts_with("v3.") || version.starts_with("P1")
}

fn versions() -> String {
    builtin_models::ids(NAME).join(", ")
}

/// Checks a spec against its model version's entry among `entries`: the version, its inputs
/// for the task type, the fields Tripo has no use for, the seed and the options in `params`.
pub(super) fn check(spec: &mut JobSpec, entries: &[Model]) -> Result<JobKind, InvalidParam> {
    match spec.kind {
        None | Some(JobKind::Model3d) => {}
        Some(other) => {
            return Err(InvalidParam::new(
                "kind",
                format!("{NAME} makes 3D models, not {}", other.as_str()),
            )
            .allowed("model3d"));
        }
    }
    let rule = &model_version(spec, entries)?;
    let task = TaskType::of(spec);
    inputs(spec, task, rule)?;
    let no_such = |what: &str| format!("Tripo 3D generation has no {what} parameter");
    checks::unsupported("size", spec.size.is_some(), &no_such("size"))?;
    checks::unsupported("steps", spec.steps.is_some(), &no_such("steps"))?;
    checks::unsupported("guidance", spec.guidance.is_some(), &no_such("guidance"))?;
    checks::unsupported("loras", !spec.loras.is_empty(), "Tripo takes no LoRAs")?;
    match spec.n {
        None | Some(1) => {}
        Some(n) => {
            return Err(InvalidParam::new(
                "n",
                format!("a Tripo task makes one model; for {n} models submit {n} jobs"),
            )
            .allowed("1 (or leave n out)"));
        }
    }
    if let Some(seed) = spec.seed {
        let (min, max) = rule.seed;
        if !(min..=max).contains(&seed) {
            return Err(InvalidParam::new("seed", format!("{seed} is out of range"))
                .allowed(format!("{min}–{max} (sent as model_seed)")));
        }
        if spec.params.contains_key("model_seed") {
            return Err(InvalidParam::new(
                "seed",
                "seed is sent as params.model_seed, which is also given; give one of them",
            ));
        }
    }
    options(spec, task, rule)?;
    Ok(JobKind::Model3d)
}

/// The model version from `model` or `params.model_version` (they must agree), written back
/// into `model`; the default when neither is given.
fn model_version(spec: &mut JobSpec, entries: &[Model]) -> Result<ModelRules, InvalidParam> {
    let from_params = match spec.params.get("model_version") {
        None => None,
        Some(Value::String(s)) => Some(s.trim().to_string()),
        Some(other) => {
            return Err(InvalidParam::new(
                "params.model_version",
                format!("{other} is not a model version name"),
            )
            .allowed(versions()));
        }
    };
    let from_model = spec.model.as_deref().map(str::trim).map(str::to_string);
    let (field, version) = match (from_model, from_params) {
        (Some(m), Some(p)) if m != p => {
            return Err(InvalidParam::new(
                "params.model_version",
                format!("{p} differs from model {m}; give the version once"),
            )
            .allowed(versions()));
        }
        (_, Some(p)) => ("params.model_version", p),
        (Some(m), None) => ("model", m),
        (None, None) => (
            "model",
            builtin_models::model_or_default(NAME, None)
                .unwrap_or_default()
                .to_string(),
        ),
    };
    let entry = entries.iter().find(|m| m.id == version);
    if entry.is_none() && builtin_models::find(NAME, &version).is_none() {
        let why = if version == "v1.3-20240522" {
            format!("{version} is deprecated by Tripo")
        } else {
            format!("{version:?} is not a Tripo model version")
        };
        return Err(InvalidParam::new(field, why).allowed(versions()));
    }
    let rule = ModelRules::new(&version, entry, &builtin_models::TRIPO_GENERIC);
    spec.model = Some(version);
    Ok(rule)
}

/// The inputs for each task type: a prompt, one image, or views.
fn inputs(spec: &JobSpec, task: TaskType, rule: &ModelRules) -> Result<(), InvalidParam> {
    match task {
        TaskType::TextToModel => {
            if spec.prompt.trim().is_empty() {
                return Err(InvalidParam::new(
                    "prompt",
                    "nothing to make a model from: give a prompt, an image, or views",
                )
                .allowed(format!(
                    "a prompt of 1–{} characters, an image, or views front plus left/back/right",
                    rule.prompt_max_chars
                )));
            }
            length("prompt", &spec.prompt, rule.prompt_max_chars)?;
            if let Some(n) = &spec.negative_prompt {
                length("negative_prompt", n, rule.negative_max_chars)?;
            }
        }
        TaskType::ImageToModel | TaskType::MultiviewToModel => {
            let what = task.as_str();
            checks::unsupported(
                "prompt",
                !spec.prompt.trim().is_empty(),
                &format!("{what} takes no prompt; give either a prompt or input images"),
            )?;
            checks::unsupported(
                "negative_prompt",
                spec.negative_prompt.is_some(),
                &format!("{what} takes no negative prompt"),
            )?;
        }
    }
    if task == TaskType::MultiviewToModel {
        checks::unsupported(
            "image",
            spec.image.is_some(),
            "give either one image or views, not both (the front view is the main image)",
        )?;
        for name in spec.views.keys() {
            if !VIEWS.contains(&name.as_str()) {
                return Err(InvalidParam::new(
                    format!("views.{name}"),
                    format!("{name:?} is not a view Tripo takes"),
                )
                .allowed(VIEWS.join(", ")));
            }
        }
        if !spec.views.contains_key("front") {
            return Err(InvalidParam::new(
                "views.front",
                "multiview_to_model needs the front view",
            )
            .allowed("front plus at least one of left, back, right"));
        }
        if spec.views.len() < 2 {
            return Err(InvalidParam::new(
                "views",
                "multiview_to_model needs at least one view besides front (for a single image, use image)",
            )
            .allowed("front plus at least one of left, back, right"));
        }
        for (name, input) in &spec.views {
            check_input(&format!("views.{name}"), input)?;
        }
    } else if let Some(image) = &spec.image {
        check_input("image", image)?;
    }
    Ok(())
}

fn length(field: &str, text: &str, max: usize) -> Result<(), InvalidParam> {
    let chars = text.chars().count();
    if chars > max {
        return Err(
            InvalidParam::new(field, format!("{chars} characters is too long for Tripo"))
                .allowed(format!("at most {max} characters")),
        );
    }
    Ok(())
}

/// The options in `params`, checked by type and value; string booleans and numbers (as
/// `--param` may send them) are rewritten as JSON values.
fn options(spec: &mut JobSpec, task: TaskType, rule: &ModelRules) -> Result<(), InvalidParam> {
    let names = || {
        std::iter::once("model_version")
            .chain(OPTIONS.iter().map(|(n, _, _)| *n))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (key, value) in spec.params.iter_mut() {
        if key == "model_version" {
            continue;
        }
        let field = format!("params.{key}");
        let Some((_, opt, applies)) = OPTIONS.iter().find(|(n, _, _)| n == key) else {
            return Err(InvalidParam::new(field, "unknown option for Tripo").allowed(names()));
        };
        if *applies == Applies::Images && task == TaskType::TextToModel {
            return Err(InvalidParam::new(
                field,
                format!("{key} applies to image and multiview tasks, not text_to_model"),
            ));
        }
        *value = match *opt {
            Opt::Bool => match value {
                Value::Bool(b) => Value::Bool(*b),
                Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
                Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
                other => {
                    return Err(
                        InvalidParam::new(field, format!("{other} is not a boolean"))
                            .allowed("true or false"),
                    );
                }
            },
            Opt::OneOf(allowed) => match value.as_str() {
                Some(s) if allowed.contains(&s) => Value::String(s.to_string()),
                _ => {
                    return Err(InvalidParam::new(
                        field,
                        format!("{value} is not one of the accepted values"),
                    )
                    .allowed(allowed.join(", ")));
                }
            },
            Opt::Int(min, max) => {
                let n = match value {
                    Value::Number(n) => n.as_i64(),
                    Value::String(s) => s.trim().parse::<i64>().ok(),
                    _ => None,
                };
                match n {
                    Some(n) if (min..=max).contains(&n) => Value::from(n),
                    _ => {
                        return Err(InvalidParam::new(
                            field,
                            format!("{value} is not a whole number in range"),
                        )
                        .allowed(format!("{min}–{max}")));
                    }
                }
            }
        };
        rule.check_param(key, value)?;
    }
    let flag = |k: &str| spec.params.get(k).and_then(Value::as_bool);
    if flag("pbr") == Some(true) && flag("texture") == Some(false) {
        return Err(InvalidParam::new(
            "params.pbr",
            "pbr=true forces a texture, but texture=false was given; set pbr=false too",
        ));
    }
    // pbr defaults to true at Tripo and would bring the texture back.
    if flag("texture") == Some(false) && flag("pbr").is_none() {
        spec.params.insert("pbr".into(), Value::Bool(false));
    }
    if spec.params.contains_key("geometry_quality") && !has_geometry_quality(&rule.id) {
        return Err(InvalidParam::new(
            "params.geometry_quality",
            format!("{} has no geometry_quality (v3.0 and later)", rule.id),
        )
        .allowed(
            builtin_models::ids(NAME)
                .into_iter()
                .filter(|v| has_geometry_quality(v))
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    Ok(())
}

/// Checks one input before anything is sent: a URL must be http(s); a local file must
/// exist and be an image Tripo takes ([`check_local_image`]).
fn check_input(field: &str, input: &str) -> Result<(), InvalidParam> {
    let allowed = "an absolute path to a JPEG, PNG or WebP file (each side 20–6000 px, at most \
                   20 MB), or an http(s) URL of a JPEG or PNG";
    match classify_input(input) {
        Input::Url(_) => Ok(()),
        Input::Refused(why) => {
            Err(InvalidParam::new(field, format!("{input:?}: {why}")).allowed(allowed))
        }
        Input::Local(path) => check_local_image(&path)
            .map(|_| ())
            .map_err(|why| InvalidParam::new(field, why).allowed(allowed)),
    }
}
