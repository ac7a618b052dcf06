//! What ModelScope accepts (providers.md §1.2, §1.4): the model id, prompts, size, seed,
//! steps, guidance, LoRAs and the input image, each against the model's catalog entry (an
//! id the catalog does not hold gets the generic rules).

use crate::providers::adaptor::InvalidParam;
use crate::providers::builtin_models::{self, ImageInput, ProviderId};
use crate::providers::checks::{self, ParamType};
use crate::providers::model_rules::ModelRules;
use genq_protocol::catalog::Model;
use genq_protocol::{JobKind, JobSpec};

const NAME: &str = ProviderId::ModelScope.name();

/// Extras ModelScope takes in `params`: none.
const PARAMS: &[(&str, ParamType)] = &[];

fn default_model() -> Result<&'static str, InvalidParam> {
    builtin_models::default_for(NAME)
        .map(|m| m.id)
        .ok_or_else(|| InvalidParam::new("model", format!("{NAME} has no default model; name one")))
}

/// Checks a spec against its model's entry among `entries` and fills the default model.
pub fn check(spec: &mut JobSpec, entries: &[Model]) -> Result<JobKind, InvalidParam> {
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
    let entry = entries.iter().find(|m| m.id == model);
    let rule = &ModelRules::new(&model, entry, &builtin_models::MODELSCOPE_GENERIC);
    spec.model = Some(model);

    checks::image_basics(spec, rule)?;
    checks::steps(spec, rule)?;
    checks::guidance(spec, rule)?;
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
    checks::loras(&spec.loras)?;
    image(spec, &rule.id, image_input(entry), entries)?;
    checks::unsupported(
        "views",
        !spec.views.is_empty(),
        "ModelScope image generation takes one input image (image), not views",
    )?;
    checks::params(spec, NAME, PARAMS, rule)?;
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

/// What an entry's capabilities say about an input image; a model the catalog does not hold
/// may take one.
fn image_input(entry: Option<&Model>) -> ImageInput {
    let Some(m) = entry else {
        return ImageInput::Optional;
    };
    let has = |c: &str| m.capabilities.iter().any(|x| x == c);
    match (has("text_to_image"), has("image_to_image")) {
        (_, false) => ImageInput::No,
        (true, true) => ImageInput::Optional,
        (false, true) => ImageInput::Required,
    }
}

/// ModelScope fetches the input image itself, so it must be a public http(s) URL.
fn image(
    spec: &JobSpec,
    model: &str,
    takes: ImageInput,
    entries: &[Model],
) -> Result<(), InvalidParam> {
    let with_image = || {
        entries
            .iter()
            .filter(|m| !m.removed && image_input(Some(m)) != ImageInput::No)
            .map(|m| m.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (&spec.image, takes) {
        (None, ImageInput::Required) => Err(InvalidParam::new(
            "image",
            format!("{model} edits an image: give the input image as a public http(s) URL"),
        )
        .allowed("a public http:// or https:// URL")),
        (Some(_), ImageInput::No) => Err(InvalidParam::new(
            "image",
            format!("{model} makes images from text only and takes no input image"),
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
