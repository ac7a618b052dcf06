//! What ModelScope accepts (providers.md §1.2, §1.4): the model id, prompts, size, seed,
//! steps, guidance, LoRAs and the input image, each against the model's row in the built-in
//! table (an id the table does not know gets the generic rules).

use crate::providers::adaptor::InvalidParam;
use crate::providers::builtin_models::{self, ImageInput, LoraSupport, ModelRule, ProviderId};
use crate::providers::checks::{self, ParamType};
use genq_protocol::{JobKind, JobSpec};

const NAME: &str = ProviderId::ModelScope.name();

/// Extras ModelScope takes in `params`: none.
const PARAMS: &[(&str, ParamType)] = &[];

/// The rules for a model id: its row in the table, or the generic ones for an id the table
/// does not know yet.
fn rule_for(model: &str) -> &'static ModelRule {
    builtin_models::find(NAME, model).unwrap_or(&builtin_models::MODELSCOPE_GENERIC)
}

fn default_model() -> Result<&'static str, InvalidParam> {
    builtin_models::default_for(NAME)
        .map(|m| m.id)
        .ok_or_else(|| InvalidParam::new("model", format!("{NAME} has no default model; name one")))
}

/// Checks a spec against its model's row in the built-in table and fills the default model.
pub fn check(spec: &mut JobSpec) -> Result<JobKind, InvalidParam> {
    checks::image_kind(spec, NAME)?;
    let model = match spec.model.as_deref().map(str::trim) {
        None => default_model()?.to_string(),
        Some(m) if is_repo_id(m) => m.to_string(),
        Some(m) => {
            return Err(
                InvalidParam::new("model", format!("{m:?} is not a ModelScope model id")).allowed(
                    format!(
                        "an owner/name model id, e.g. {}",
                        builtin_models::ids(NAME).join(", ")
                    ),
                ),
            );
        }
    };
    let rule = rule_for(&model);
    spec.model = Some(model);

    checks::prompt(spec, rule)?;
    checks::negative_prompt(spec, rule)?;
    checks::size(spec, rule)?;
    checks::seed(spec)?;
    checks::steps(spec)?;
    checks::guidance(spec)?;
    match spec.n {
        None | Some(1) => {}
        Some(n) => {
            return Err(InvalidParam::new(
                "n",
                format!(
                    "ModelScope makes one image per task and has no n; for {n} images \
                     submit {n} jobs (or leave n out)"
                ),
            )
            .allowed("1 (or leave n out)"));
        }
    }
    if rule.loras == LoraSupport::None && !spec.loras.is_empty() {
        return Err(InvalidParam::new(
            "loras",
            format!("{} takes no LoRAs", rule.id),
        ));
    }
    checks::loras(&spec.loras)?;
    image(spec, rule)?;
    checks::unsupported(
        "views",
        !spec.views.is_empty(),
        "ModelScope image generation takes one input image (image), not views",
    )?;
    checks::params(spec, NAME, PARAMS)?;
    Ok(JobKind::Image)
}

/// ModelScope model and LoRA ids are `owner/name`.
fn is_repo_id(id: &str) -> bool {
    match id.split_once('/') {
        Some((owner, name)) => {
            !owner.is_empty()
                && !name.is_empty()
                && !name.contains('/')
                && !id.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// ModelScope fetches the input image itself, so it must be a public http(s) URL.
fn image(spec: &JobSpec, rule: &ModelRule) -> Result<(), InvalidParam> {
    let with_image = || {
        builtin_models::of(NAME)
            .filter(|m| m.image != ImageInput::No)
            .map(|m| m.id)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (&spec.image, rule.image) {
        (None, ImageInput::Required) => Err(InvalidParam::new(
            "image",
            format!(
                "{} edits an image: give the input image as a public http(s) URL",
                rule.id
            ),
        )
        .allowed("a public http:// or https:// URL")),
        (Some(_), ImageInput::No) => Err(InvalidParam::new(
            "image",
            format!(
                "{} makes images from text only and takes no input image",
                rule.id
            ),
        )
        .allowed(format!("no image; models that take one: {}", with_image()))),
        (Some(image), _) => {
            let is_url = reqwest::Url::parse(image).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some_and(|h| !h.is_empty())
            });
            if is_url {
                Ok(())
            } else {
                Err(InvalidParam::new(
                    "image",
                    format!(
                        "{image:?} is not a URL. ModelScope downloads the input image itself and \
                         genq cannot upload a local file for it: put the image somewhere public \
                         (e.g. upload it to a storage target) and pass its http(s) URL instead"
                    ),
                )
                .allowed("a public http:// or https:// URL"))
            }
        }
        (None, _) => Ok(()),
    }
}
