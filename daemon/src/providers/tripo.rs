//! The Tripo 3D OpenAPI adaptor (`tripo`): validates text, image and multiview to-3D jobs
//! (options, prompt lengths, local input images), uploads local images (`/upload`, else
//! `/upload/sts`, else an STS upload: `tripo/sts.rs`), creates tasks, reads
//! their status and progress, lists the produced models and previews, and reads the account
//! balance. Contract: providers.md §3.
//!
//! Every reply carries `X-Tripo-Trace-ID`; it is kept as the request id of each result and
//! error. Tripo documents no way to cancel a task, so `cancel` is the trait's no-op.

use super::checks;
use super::http::{self, Reply};
use super::models::{self, ModelRule};
use super::{
    CallContext, InvalidParam, Limits, PollStatus, Provider, ProviderError, QuotaInfo,
    RemoteOutput, Secret, Submitted,
};
use async_trait::async_trait;
use genq_protocol::job::OutputRole;
use genq_protocol::{JobErrorKind, JobKind, JobSpec, Timestamp};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

pub const NAME: &str = "tripo";
pub const DEFAULT_BASE_URL: &str = "https://api.tripo3d.ai/v2/openapi";
const KEY_ENV_VARS: &[&str] = &["TRIPO_API_KEY"];
/// Every Tripo API key starts with this (the official SDK refuses others).
pub const KEY_PREFIX: &str = "tsk_";
/// The reply header that identifies a request to Tripo support.
pub const TRACE_HEADER: &str = "X-Tripo-Trace-ID";
/// Multiview slots, in the order `files` takes them.
pub const VIEWS: [&str; 4] = ["front", "left", "back", "right"];
/// Largest input image Tripo takes.
pub const IMAGE_MAX_BYTES: u64 = 20 * 1024 * 1024;
/// Longest prompt and negative prompt, in characters.
pub const PROMPT_MAX: usize = 1024;
pub const NEGATIVE_MAX: usize = 255;

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

const QUALITY: &[&str] = &["standard", "detailed"];

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
    ("image_seed", Opt::Int(0, checks::SEED_MAX), Applies::All),
    ("model_seed", Opt::Int(0, checks::SEED_MAX), Applies::All),
    ("texture_seed", Opt::Int(0, checks::SEED_MAX), Applies::All),
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

    fn of(spec: &JobSpec) -> TaskType {
        if !spec.views.is_empty() {
            TaskType::MultiviewToModel
        } else if spec.image.is_some() {
            TaskType::ImageToModel
        } else {
            TaskType::TextToModel
        }
    }
}

/// The adaptor. It holds no key: keys come with each call's [`CallContext`].
#[derive(Debug, Default)]
pub struct Tripo {
    /// How uploads go per base URL, once `/upload` answered 404 there.
    upload_routes: Mutex<HashMap<String, UploadRoute>>,
    /// Tasks submitted with `quad` (FBX output) by this process; the task reply may not say.
    quad_tasks: Mutex<HashSet<String>>,
    /// The latest balance read by [`Provider::quota`].
    balance: Mutex<Option<QuotaInfo>>,
}

impl Tripo {
    pub fn new() -> Self {
        Tripo::default()
    }

    fn upload_route(&self, base: &str) -> UploadRoute {
        self.upload_routes
            .lock()
            .ok()
            .and_then(|r| r.get(base).copied())
            .unwrap_or(UploadRoute::Direct)
    }

    fn remember_route(&self, base: &str, route: UploadRoute) {
        if let Ok(mut r) = self.upload_routes.lock() {
            r.insert(base.to_string(), route);
        }
    }
}

/// Where local images go (providers.md §3.2), tried in this order, each after the one
/// before answered 404.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UploadRoute {
    /// Multipart `POST /upload`.
    Direct,
    /// The same multipart request to `/upload/sts`, as older deployments name it.
    StsMultipart,
    /// `POST /upload/sts/token`, then a PUT to object storage with the temporary credentials.
    StsToken,
}

/// An uploaded image as a task refers to it.
enum Uploaded {
    /// `image_token` of a multipart upload, sent as `file_token`.
    Token(String),
    /// `{"bucket","key"}` of an STS upload, sent as `object`.
    Object(Value),
}

fn default_model() -> &'static str {
    models::default_for(NAME).map_or("v2.5-20250123", |m| m.id)
}

fn versions() -> String {
    models::ids(NAME).join(", ")
}

#[async_trait]
impl Provider for Tripo {
    fn name(&self) -> &'static str {
        NAME
    }

    fn default_base_url(&self) -> &'static str {
        DEFAULT_BASE_URL
    }

    fn key_env_vars(&self) -> &'static [&'static str] {
        KEY_ENV_VARS
    }

    /// Tripo allows 10 tasks queued or running per account.
    fn default_limits(&self) -> Limits {
        Limits {
            max_concurrent: 10,
            requests_per_second: 5.0,
            timeout: Duration::from_secs(30 * 60),
        }
    }

    fn typical_duration(&self, spec: &JobSpec) -> Duration {
        let model = spec.model.as_deref().unwrap_or_else(|| default_model());
        Duration::from_secs(models::find(NAME, model).map_or(75, |m| m.typical_secs))
    }

    fn validate(&self, spec: &mut JobSpec) -> Result<JobKind, InvalidParam> {
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
        let rule = model_version(spec)?;
        let task = TaskType::of(spec);
        inputs(spec, task)?;
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
            if !(0..=checks::SEED_MAX).contains(&seed) {
                return Err(InvalidParam::new("seed", format!("{seed} is out of range"))
                    .allowed(format!("0–{} (sent as model_seed)", checks::SEED_MAX)));
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

    async fn submit(&self, ctx: &CallContext, spec: &JobSpec) -> Result<Submitted, ProviderError> {
        let key = key(ctx)?;
        let task = TaskType::of(spec);
        let mut body = Map::new();
        body.insert("type".into(), json!(task.as_str()));
        match task {
            TaskType::TextToModel => {
                body.insert("prompt".into(), json!(spec.prompt));
                if let Some(n) = &spec.negative_prompt {
                    body.insert("negative_prompt".into(), json!(n));
                }
            }
            TaskType::ImageToModel => {
                let image = spec.image.as_deref().unwrap_or_default();
                body.insert("file".into(), self.file_entry(ctx, key, image).await?);
            }
            TaskType::MultiviewToModel => {
                let mut files = Vec::with_capacity(VIEWS.len());
                for view in VIEWS {
                    files.push(match spec.views.get(view) {
                        Some(input) => self.file_entry(ctx, key, input).await?,
                        None => json!({}),
                    });
                }
                body.insert("files".into(), Value::Array(files));
            }
        }
        let version = spec.model.as_deref().unwrap_or_else(|| default_model());
        body.insert("model_version".into(), json!(version));
        if let Some(seed) = spec.seed {
            body.insert("model_seed".into(), json!(seed));
        }
        for (k, v) in &spec.params {
            if k != "model_version" {
                body.insert(k.clone(), v.clone());
            }
        }
        let url = http::endpoint(&ctx.base_url, &["task"])?;
        let request = ctx
            .http
            .post(url)
            .bearer_auth(key.expose())
            .json(&Value::Object(body));
        let reply = http::send(request).await?;
        let data = envelope(&reply)?;
        let request_id = trace_id(&reply);
        let Some(remote_id) = http::text_of(data.get("task_id")) else {
            return Err(http::malformed(NAME, &reply).with_request_id(request_id));
        };
        if spec.params.get("quad") == Some(&Value::Bool(true))
            && let Ok(mut quad) = self.quad_tasks.lock()
        {
            quad.insert(remote_id.clone());
        }
        Ok(Submitted {
            remote_id,
            request_id,
        })
    }

    async fn poll(&self, ctx: &CallContext, remote_id: &str) -> Result<PollStatus, ProviderError> {
        let key = key(ctx)?;
        let url = http::endpoint(&ctx.base_url, &["task", remote_id])?;
        let reply = http::send(ctx.http.get(url).bearer_auth(key.expose())).await?;
        let data = envelope(&reply)?;
        let quad = self.quad_tasks.lock().is_ok_and(|q| q.contains(remote_id));
        let status = poll_status(remote_id, &data, trace_id(&reply), quad);
        if !matches!(status, PollStatus::Pending { .. })
            && let Ok(mut q) = self.quad_tasks.lock()
        {
            q.remove(remote_id);
        }
        Ok(status)
    }

    /// `GET /user/balance`: the spendable balance and the part held by running tasks.
    async fn quota(&self, ctx: &CallContext) -> Result<Option<QuotaInfo>, ProviderError> {
        let key = key(ctx)?;
        let url = http::endpoint(&ctx.base_url, &["user", "balance"])?;
        let reply = http::send(ctx.http.get(url).bearer_auth(key.expose())).await?;
        let data = envelope(&reply)?;
        let num = |k: &str| data.get(k).and_then(Value::as_f64);
        let Some(balance) = num("balance") else {
            return Err(http::malformed(NAME, &reply).with_request_id(trace_id(&reply)));
        };
        let frozen = num("frozen").unwrap_or(0.0);
        let info = QuotaInfo {
            remaining: Some(balance.floor() as i64),
            limit: None,
            detail: Some(format!(
                "balance {}, frozen {}",
                fmt_num(balance),
                fmt_num(frozen)
            )),
        };
        if let Ok(mut slot) = self.balance.lock() {
            *slot = Some(info.clone());
        }
        Ok(Some(info))
    }

    fn last_quota(&self) -> Option<QuotaInfo> {
        self.balance.lock().ok().and_then(|b| b.clone())
    }
}

impl Tripo {
    /// One input image as a task `file` entry: a URL as `{"type","url"}`, a local file
    /// uploaded first and sent as `{"type","file_token"}` (or `{"type","object"}` after an
    /// STS upload).
    async fn file_entry(
        &self,
        ctx: &CallContext,
        key: &Secret,
        input: &str,
    ) -> Result<Value, ProviderError> {
        match classify_input(input) {
            Input::Url(url) => Ok(json!({"type": url_type(&url), "url": url})),
            Input::Local(path) => {
                let (bytes, format) = read_image(&path).map_err(|why| {
                    ProviderError::final_error(
                        JobErrorKind::InvalidParams,
                        format!("{NAME}: input image {}: {why}", path.display()),
                    )
                })?;
                // An upload creates no task, so it is safe to send again.
                let uploaded = self
                    .upload(ctx, key, bytes, format)
                    .await
                    .map_err(ProviderError::no_task_created)?;
                Ok(match uploaded {
                    Uploaded::Token(token) => {
                        json!({"type": format.task_type(), "file_token": token})
                    }
                    Uploaded::Object(object) => {
                        json!({"type": format.task_type(), "object": object})
                    }
                })
            }
            Input::Refused(why) => Err(ProviderError::final_error(
                JobErrorKind::InvalidParams,
                format!("{NAME}: input image {input:?}: {why}"),
            )),
        }
    }

    /// `POST /upload` (multipart field `file`); where that answers 404, the same request to
    /// `/upload/sts`; where that answers 404 too, an STS upload. The route that worked is
    /// remembered per base URL.
    async fn upload(
        &self,
        ctx: &CallContext,
        key: &Secret,
        bytes: Vec<u8>,
        format: ImageFormat,
    ) -> Result<Uploaded, ProviderError> {
        let base = ctx.base_url.clone();
        let (content_type, body) = multipart_body(&bytes, format);
        let send = |path: &'static [&'static str]| {
            let url = http::endpoint(&base, path);
            let content_type = content_type.clone();
            let body = body.clone();
            async move {
                let request = ctx
                    .http
                    .post(url?)
                    .bearer_auth(key.expose())
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(body);
                http::send(request).await
            }
        };
        let token = |reply: &Reply| {
            let data = envelope(reply)?;
            http::text_of(data.get("image_token"))
                .map(Uploaded::Token)
                .ok_or_else(|| http::malformed(NAME, reply).with_request_id(trace_id(reply)))
        };
        let not_found = |reply: &Reply| reply.status == reqwest::StatusCode::NOT_FOUND;
        let mut route = self.upload_route(&base);
        if route == UploadRoute::Direct {
            let reply = send(&["upload"]).await?;
            if !not_found(&reply) {
                return token(&reply);
            }
            route = UploadRoute::StsMultipart;
        }
        if route == UploadRoute::StsMultipart {
            let reply = send(&["upload", "sts"]).await?;
            if !not_found(&reply) {
                if reply.status.is_success() {
                    self.remember_route(&base, route);
                }
                return token(&reply);
            }
        }
        let object = self.sts_upload(ctx, key, bytes, format).await?;
        self.remember_route(&base, UploadRoute::StsToken);
        Ok(Uploaded::Object(object))
    }

    /// `POST /upload/sts/token` for the image's format, then the PUT with the temporary
    /// credentials. Returns the task's `object` reference.
    async fn sts_upload(
        &self,
        ctx: &CallContext,
        key: &Secret,
        bytes: Vec<u8>,
        format: ImageFormat,
    ) -> Result<Value, ProviderError> {
        let url = http::endpoint(&ctx.base_url, &["upload", "sts", "token"])?;
        let request = ctx
            .http
            .post(url)
            .bearer_auth(key.expose())
            .json(&json!({"format": format.sts_format()}));
        let reply = http::send(request).await?;
        let data = envelope(&reply)?;
        let grant = sts::StsGrant::from_reply(&data)
            .ok_or_else(|| http::malformed(NAME, &reply).with_request_id(trace_id(&reply)))?;
        grant
            .put(bytes, format.mime())
            .await
            .map_err(|e| e.with_request_id(trace_id(&reply)))?;
        Ok(grant.object())
    }
}

/// The key, refused before any request when it is missing or not a Tripo key.
fn key(ctx: &CallContext) -> Result<&Secret, ProviderError> {
    let key = ctx
        .key
        .as_ref()
        .ok_or_else(|| http::missing_key(NAME, KEY_ENV_VARS))?;
    if !key.expose().starts_with(KEY_PREFIX) {
        return Err(ProviderError::final_error(
            JobErrorKind::Auth,
            format!(
                "the {NAME} API key does not start with {KEY_PREFIX} as every Tripo API key does; \
                 check TRIPO_API_KEY (or api_key_env, api_key_cmd, api_key under \
                 [providers.{NAME}] in config.toml)"
            ),
        ));
    }
    Ok(key)
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        v.to_string()
    }
}

/// The model version from `model` or `params.model_version` (they must agree), written back
/// into `model`; the default when neither is given.
fn model_version(spec: &mut JobSpec) -> Result<&'static ModelRule, InvalidParam> {
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
        (None, None) => ("model", default_model().to_string()),
    };
    let rule = models::find(NAME, &version).ok_or_else(|| {
        let why = if version == "v1.3-20240522" {
            format!("{version} is deprecated by Tripo")
        } else {
            format!("{version:?} is not a Tripo model version")
        };
        InvalidParam::new(field, why).allowed(versions())
    })?;
    spec.model = Some(rule.id.to_string());
    Ok(rule)
}

/// The inputs for each task type: a prompt, one image, or views.
fn inputs(spec: &JobSpec, task: TaskType) -> Result<(), InvalidParam> {
    match task {
        TaskType::TextToModel => {
            if spec.prompt.trim().is_empty() {
                return Err(InvalidParam::new(
                    "prompt",
                    "nothing to make a model from: give a prompt, an image, or views",
                )
                .allowed(format!(
                    "a prompt of 1–{PROMPT_MAX} characters, an image, or views front plus left/back/right"
                )));
            }
            length("prompt", &spec.prompt, PROMPT_MAX)?;
            if let Some(n) = &spec.negative_prompt {
                length("negative_prompt", n, NEGATIVE_MAX)?;
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
fn options(spec: &mut JobSpec, task: TaskType, rule: &ModelRule) -> Result<(), InvalidParam> {
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
    if spec.params.contains_key("geometry_quality")
        && !(rule.id.starts_with("v3.") || rule.id.starts_with("P1"))
    {
        return Err(InvalidParam::new(
            "params.geometry_quality",
            format!("{} has no geometry_quality (v3.0 and later)", rule.id),
        )
        .allowed(
            models::ids(NAME)
                .into_iter()
                .filter(|v| v.starts_with("v3.") || v.starts_with("P1"))
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    Ok(())
}

/// Where an input image comes from.
enum Input {
    Url(String),
    Local(PathBuf),
    Refused(String),
}

fn classify_input(input: &str) -> Input {
    let lower = input.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return match reqwest::Url::parse(input) {
            Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) => Input::Url(input.to_string()),
            _ => Input::Refused("not a valid http(s) URL".into()),
        };
    }
    if lower.starts_with("file://") {
        return match reqwest::Url::parse(input)
            .ok()
            .and_then(|u| u.to_file_path().ok())
        {
            Some(p) => Input::Local(p),
            None => Input::Refused("not a valid file:// URL".into()),
        };
    }
    if lower.contains("://") || lower.starts_with("data:") {
        return Input::Refused(
            "only local files and http(s) URLs can be sent to Tripo".to_string(),
        );
    }
    let path = PathBuf::from(input);
    if path.is_absolute() {
        Input::Local(path)
    } else {
        Input::Refused("a local image must be given as an absolute path".to_string())
    }
}

/// The `type` of a URL input, from its extension. Tripo fetches URL inputs itself and takes
/// JPEG or PNG that way; an extension that says neither is sent as `jpg`.
fn url_type(url: &str) -> &'static str {
    let path = reqwest::Url::parse(url)
        .map(|u| u.path().to_ascii_lowercase())
        .unwrap_or_default();
    if path.ends_with(".png") {
        "png"
    } else if path.ends_with(".webp") {
        "webp"
    } else {
        "jpg"
    }
}

/// An accepted input image format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    Jpeg,
    Png,
    Webp,
}

impl ImageFormat {
    fn sniff(head: &[u8]) -> Option<ImageFormat> {
        if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageFormat::Jpeg)
        } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageFormat::Png)
        } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
            Some(ImageFormat::Webp)
        } else {
            None
        }
    }

    /// The `format` asked for in an STS token request.
    fn sts_format(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpeg",
            ImageFormat::Png => "png",
            ImageFormat::Webp => "webp",
        }
    }

    /// The `type` in a task's file entry.
    fn task_type(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
            ImageFormat::Webp => "webp",
        }
    }

    fn mime(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Webp => "image/webp",
        }
    }

    fn image_format(self) -> image::ImageFormat {
        match self {
            ImageFormat::Jpeg => image::ImageFormat::Jpeg,
            ImageFormat::Png => image::ImageFormat::Png,
            ImageFormat::Webp => image::ImageFormat::WebP,
        }
    }
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

/// Size, type (by magic bytes) and dimensions of a local image, reading only its header.
pub fn check_local_image(path: &Path) -> Result<ImageFormat, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a file"));
    }
    if meta.len() > IMAGE_MAX_BYTES {
        return Err(format!(
            "{shown} is {:.1} MB; Tripo takes images up to 20 MB",
            meta.len() as f64 / 1e6
        ));
    }
    let mut head = [0u8; 16];
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot open {shown}: {e}"))?;
    let n = read_up_to(&mut file, &mut head).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let format = ImageFormat::sniff(&head[..n]).ok_or_else(|| {
        format!("{shown} is not a JPEG, PNG or WebP image (judged by its first bytes)")
    })?;
    let reader = image::ImageReader::with_format(
        std::io::BufReader::new(
            std::fs::File::open(path).map_err(|e| format!("cannot open {shown}: {e}"))?,
        ),
        format.image_format(),
    );
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| format!("{shown} cannot be read as an image: {e}"))?;
    let size = genq_protocol::Size {
        width: w,
        height: h,
    };
    models::TRIPO_INPUT_SIZE
        .check(size)
        .map_err(|why| format!("{shown} is {size}: {why}; Tripo takes each side 20–6000 px"))?;
    Ok(format)
}

fn read_up_to(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// The image's bytes and format, checked again at submit time (the file may have changed
/// since the job was queued).
fn read_image(path: &Path) -> Result<(Vec<u8>, ImageFormat), String> {
    let format = check_local_image(path)?;
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() as u64 > IMAGE_MAX_BYTES {
        return Err("it grew past 20 MB".into());
    }
    Ok((bytes, format))
}

/// A `multipart/form-data` body with the image as field `file`. The file name is generic so
/// local path names never leave the machine.
fn multipart_body(bytes: &[u8], format: ImageFormat) -> (String, Vec<u8>) {
    let boundary = format!("genq-{}", uuid::Uuid::now_v7().simple());
    let mut body = Vec::with_capacity(bytes.len() + 256);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"image.{}\"\r\nContent-Type: {}\r\n\r\n",
            format.task_type(),
            format.mime()
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn trace_id(reply: &Reply) -> Option<String> {
    reply
        .headers
        .get(TRACE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// `data` of a `{"code":0,"data":{…}}` reply; any other reply becomes a classified error.
fn envelope(reply: &Reply) -> Result<Value, ProviderError> {
    let request_id = trace_id(reply);
    let Some(body) = reply.json() else {
        if reply.status.is_success() {
            return Err(http::malformed(NAME, reply).with_request_id(request_id));
        }
        let text = if reply.body.is_empty() {
            reply
                .status
                .canonical_reason()
                .unwrap_or("no message")
                .to_string()
        } else {
            reply.snippet()
        };
        let e = http::classify_status(
            reply.status,
            format!("{NAME}: HTTP {}: {text}", reply.status.as_u16()),
        );
        return Err(e.with_request_id(request_id));
    };
    let code = body.get("code").and_then(Value::as_i64);
    if code == Some(0) && reply.status.is_success() {
        return match body.get("data") {
            Some(data) if data.is_object() => Ok(data.clone()),
            _ => Err(http::malformed(NAME, reply).with_request_id(request_id)),
        };
    }
    let message = http::text_of(body.get("message"));
    let suggestion = http::text_of(body.get("suggestion"));
    let mut e = classify(Some(reply), code, message.as_deref(), suggestion.as_deref());
    e.retry_after = http::retry_after(&reply.headers).or(e.retry_after);
    Err(e.with_request_id(request_id))
}

/// The error-code table of providers.md §3.5. `reply` is `None` for a task's own
/// `error_code`, which is always final.
fn classify(
    reply: Option<&Reply>,
    code: Option<i64>,
    message: Option<&str>,
    suggestion: Option<&str>,
) -> ProviderError {
    let mut text = match (reply, code) {
        (Some(r), Some(c)) => format!("{NAME}: HTTP {} code {c}", r.status.as_u16()),
        (Some(r), None) => format!("{NAME}: HTTP {}", r.status.as_u16()),
        (None, Some(c)) => format!("{NAME}: error code {c}"),
        (None, None) => format!("{NAME}: error"),
    };
    let explained = match code {
        Some(2010) => Some(
            "the Tripo account has not enough credits for this task; top up the balance \
             (`genq providers` shows it)",
        ),
        Some(2000) => Some(
            "too many tasks queued or running on this Tripo account; waiting for one to finish",
        ),
        Some(2001) => Some("task not found: it does not exist under this API key"),
        Some(2008) => Some("refused by Tripo's content policy"),
        Some(1002) => Some("the API key was refused"),
        Some(1005) => Some("this API key is not allowed to do that"),
        _ => None,
    };
    for part in [explained, message, suggestion].into_iter().flatten() {
        if !part.trim().is_empty() {
            text.push_str(": ");
            text.push_str(part.trim());
        }
    }
    let mut e = match code {
        Some(1000 | 1001 | 2014) => ProviderError::retryable(JobErrorKind::Provider, text),
        Some(1002 | 1005) => ProviderError::final_error(JobErrorKind::Auth, text),
        Some(2000) => {
            let mut e = ProviderError::retryable(JobErrorKind::Quota, text);
            e.rate_limited = true;
            e
        }
        Some(2001) => ProviderError::final_error(JobErrorKind::NotFound, text),
        Some(2008) => ProviderError::final_error(JobErrorKind::ContentPolicy, text),
        Some(2010) => ProviderError::final_error(JobErrorKind::InsufficientCredits, text),
        Some(1003 | 1004 | 2002 | 2003 | 2004 | 2006 | 2007 | 2015 | 2017 | 2018 | 2019) => {
            ProviderError::final_error(JobErrorKind::InvalidParams, text)
        }
        _ => match reply {
            Some(r) if !r.status.is_success() => http::classify_status(r.status, text),
            _ => ProviderError::final_error(JobErrorKind::Provider, text),
        },
    };
    match reply {
        None => {
            e.retryable = false;
            e.rate_limited = false;
        }
        // Whatever the code says, a 5xx may come after the task was created.
        Some(r) => e.maybe_accepted = r.status.is_server_error() && !e.rate_limited,
    }
    e
}

/// Reads `data` of a task reply (providers.md §3.4).
fn poll_status(
    remote_id: &str,
    data: &Value,
    request_id: Option<String>,
    quad: bool,
) -> PollStatus {
    let status = data
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let progress = data
        .get("progress")
        .and_then(Value::as_f64)
        .filter(|p| p.is_finite())
        .map(|p| p.clamp(0.0, 100.0) as u8);
    match status.as_str() {
        "success" => succeeded(data, request_id, quad),
        "failed" | "banned" | "expired" | "cancelled" | "canceled" | "unknown" => {
            PollStatus::Failed(task_failure(remote_id, &status, data, request_id))
        }
        "queued" => PollStatus::Pending {
            progress: Some(0),
            eta: None,
        },
        // `running`, and any status newer than this adaptor: still going, bounded by the
        // job timeout.
        _ => PollStatus::Pending {
            progress,
            eta: data
                .get("running_left_time")
                .and_then(Value::as_f64)
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64),
        },
    }
}

fn task_failure(
    remote_id: &str,
    status: &str,
    data: &Value,
    request_id: Option<String>,
) -> ProviderError {
    let code = data.get("error_code").and_then(Value::as_i64);
    let message = http::text_of(data.get("error_msg"));
    let mut e = classify(None, code, message.as_deref(), None);
    let detail = match (code, &message) {
        (Some(c), Some(m)) => format!(" (error_code {c}: {m})"),
        (Some(c), None) => format!(" (error_code {c})"),
        (None, Some(m)) => format!(" ({m})"),
        (None, None) => String::new(),
    };
    let what = match status {
        "banned" => {
            e.kind = JobErrorKind::ContentPolicy;
            "was banned by Tripo's content moderation".to_string()
        }
        "expired" => "expired at Tripo before it finished".to_string(),
        "cancelled" | "canceled" => "was cancelled at Tripo".to_string(),
        "unknown" => "is in an unknown state at Tripo".to_string(),
        _ => "failed".to_string(),
    };
    e.message = format!("{NAME}: task {remote_id} {what}{detail}");
    e.request_id = request_id;
    e
}

/// The output keys genq downloads, in order, and their roles. Other keys are ignored.
const OUTPUT_KEYS: &[(&str, OutputRole)] = &[
    ("model", OutputRole::Model),
    ("pbr_model", OutputRole::Model),
    ("base_model", OutputRole::Model),
    ("rendered_image", OutputRole::Preview),
    ("generated_image", OutputRole::Image),
];

fn succeeded(data: &Value, request_id: Option<String>, quad: bool) -> PollStatus {
    let output = data.get("output");
    let quad = quad
        || data
            .get("input")
            .and_then(|i| i.get("quad"))
            .and_then(Value::as_bool)
            == Some(true);
    let mut outputs = Vec::new();
    for (key, role) in OUTPUT_KEYS {
        let Some(v) = output.and_then(|o| o.get(*key)) else {
            continue;
        };
        // A URL string, or `{"url": …, "type": …}` as some versions send.
        let (url, declared) = match v {
            Value::String(s) => (s.clone(), None),
            Value::Object(o) => match o.get("url").and_then(Value::as_str) {
                Some(u) => (
                    u.to_string(),
                    o.get("type").and_then(Value::as_str).map(str::to_string),
                ),
                None => continue,
            },
            _ => continue,
        };
        if url.is_empty() {
            continue;
        }
        let format = match role {
            OutputRole::Model => Some(
                declared
                    .map(|t| t.to_ascii_lowercase())
                    .filter(|t| t == "glb" || t == "fbx")
                    .or_else(|| extension(&url).filter(|e| e == "glb" || e == "fbx"))
                    .unwrap_or_else(|| if quad { "fbx" } else { "glb" }.to_string()),
            ),
            _ => extension(&url).filter(|e| ["png", "jpg", "jpeg", "webp"].contains(&e.as_str())),
        };
        outputs.push(RemoteOutput {
            url,
            role: *role,
            format,
            label: Some((*key).to_string()),
        });
    }
    if !outputs.iter().any(|o| o.role == OutputRole::Model) {
        return PollStatus::Failed(
            ProviderError::final_error(
                JobErrorKind::Provider,
                format!("{NAME}: the task succeeded but its output lists no model URL"),
            )
            .with_request_id(request_id),
        );
    }
    PollStatus::Succeeded {
        outputs,
        failures: Vec::new(),
        request_id,
        created_at: create_time(data),
        finished_at: None,
    }
}

/// The task's `create_time` (unix seconds), where the reply has a plausible one.
fn create_time(data: &Value) -> Option<Timestamp> {
    let secs = data.get("create_time").and_then(Value::as_f64)?;
    (secs.is_finite() && secs > 0.0 && secs < 1e11)
        .then(|| Timestamp::from_unix_millis((secs * 1000.0).round() as i64))
}

/// The lower-case extension of a URL's path.
fn extension(url: &str) -> Option<String> {
    let path = reqwest::Url::parse(url).ok()?.path().to_ascii_lowercase();
    let file = path.rsplit('/').next()?;
    Some(file.rsplit_once('.')?.1.to_string())
}

mod sts;

#[cfg(test)]
mod tests;
