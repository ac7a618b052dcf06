//! `config.toml` as written: the tables and keys it may hold, parsed strictly so that an
//! unknown key or a bad value is an error naming it.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The file as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderSection>,
    #[serde(default)]
    pub storage: BTreeMap<String, StorageSection>,
    #[serde(default)]
    pub defaults: DefaultsSection,
    #[serde(default)]
    pub outputs: OutputsSection,
    /// Settings of the TUI (key overrides), read by the TUI; the daemon only checks that
    /// the section is a table.
    #[serde(default)]
    pub tui: Option<toml::Table>,
    /// Remote hosts for `--host NAME`, read by the client; the daemon only checks that the
    /// section is a table.
    #[serde(default)]
    pub hosts: Option<toml::Table>,
    /// Where the LoRA catalog comes from.
    #[serde(default)]
    pub catalog: CatalogSection,
    /// House styles for batches, by name.
    #[serde(default)]
    pub styles: BTreeMap<String, super::batch::StyleSection>,
    #[serde(default)]
    pub batch: super::batch::BatchSection,
    /// The HTTP API (off unless `listen` is set).
    #[serde(default)]
    pub http: HttpSection,
}

/// `[http]`: the HTTP API.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// `host:port` to listen on; the API is off when unset.
    pub listen: Option<String>,
    /// Connections served at once (512 when unset).
    pub max_connections: Option<u32>,
    /// How long `POST /v1/images/generations` waits for its job, in seconds (540 when unset,
    /// inside the OpenAI SDK's 600 s timeout).
    pub wait_timeout_s: Option<u64>,
    /// How long a signed output link works, in seconds (3600 when unset).
    pub url_ttl_s: Option<u64>,
    /// `[http.models]`: names clients may use for `provider/model`.
    #[serde(default)]
    pub models: BTreeMap<String, String>,
}

/// `[catalog]`: the LoRA catalog's sources.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSection {
    /// Show LoRAs their source marks adult (Civitai above PG-13, Hugging Face
    /// `not-for-all-audiences`); hidden when unset.
    #[serde(default)]
    pub nsfw: bool,
    #[serde(default)]
    pub modelscope: CatalogSiteSection,
    #[serde(default)]
    pub civitai: CatalogSiteSection,
    #[serde(default)]
    pub huggingface: CatalogSiteSection,
}

/// `[catalog.modelscope]`, `[catalog.civitai]`, `[catalog.huggingface]`: where a LoRA source
/// is reached (a mirror or a test server).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSiteSection {
    /// The source's public site when unset.
    pub base_url: Option<String>,
}

/// `[providers.NAME]`: one instance of a provider type. `type` may be left out when the
/// name is the type's own (`[providers.modelscope]`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSection {
    #[serde(rename = "type")]
    pub provider_type: Option<String>,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    pub api_key_cmd: Option<String>,
    pub api_key: Option<String>,
    pub max_concurrent: Option<u32>,
    pub requests_per_second: Option<f64>,
    pub timeout_s: Option<u64>,
    /// How long this provider's tasks usually take, in seconds: until a model has a history
    /// of finished jobs, its first poll comes just before this. The adaptor's figure for the
    /// model when unset.
    pub typical_s: Option<f64>,
    /// `type = "openai"`: the models the instance offers (the first is its default), used
    /// when the server does not list them at `/v1/models`.
    pub models: Option<Vec<String>>,
    /// `type = "openai"`: models among them that take an input image (`/v1/images/edits`),
    /// besides the ones genq knows (`gpt-image-*`, `dall-e-2`).
    pub edit_models: Option<Vec<String>>,
    /// `type = "openai"`: extra request fields every model of the instance takes (a
    /// gateway's `negative_prompt`, `seed`, `num_inference_steps`, …), passed as given.
    pub params: Option<Vec<String>>,
    /// `type = "openai"`: how long one generation request may take, in seconds (600 when
    /// unset): the images come back in the reply to one long request.
    pub request_timeout_s: Option<u64>,
    /// `type = "comfyui"`: the workflows offered as models, by name.
    pub workflows: Option<BTreeMap<String, WorkflowSection>>,
    /// `type = "comfyui"`: how long a prompt may be missing from ComfyUI's queue and history
    /// (it restarted and lost them) before its job fails, in seconds (30 when unset).
    pub lost_grace_s: Option<u64>,
}

/// `[providers.NAME.workflows.WORKFLOW]`: a ComfyUI workflow in API format, and which node
/// input receives each job field, as `NODE.inputs.INPUT` (`prompt = "6.inputs.text"`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowSection {
    /// The workflow file, relative to the config file's directory.
    pub file: PathBuf,
    pub prompt: Option<String>,
    pub negative_prompt: Option<String>,
    pub seed: Option<String>,
    pub width: Option<String>,
    pub height: Option<String>,
    pub steps: Option<String>,
    pub guidance: Option<String>,
    /// Images per run (`EmptyLatentImage.batch_size`).
    pub n: Option<String>,
    /// The input image: a `LoadImage` node's `image` input, which receives the name of the
    /// job's image once uploaded (`image = "10.inputs.image"`).
    pub image: Option<String>,
    /// The workflow as read from `file` when the config loaded.
    #[serde(skip)]
    pub graph: Option<serde_json::Value>,
}

impl WorkflowSection {
    /// Each bound job field with its `NODE.inputs.INPUT` path.
    pub fn bindings(&self) -> Vec<(&'static str, &str)> {
        [
            ("prompt", &self.prompt),
            ("negative_prompt", &self.negative_prompt),
            ("seed", &self.seed),
            ("width", &self.width),
            ("height", &self.height),
            ("steps", &self.steps),
            ("guidance", &self.guidance),
            ("n", &self.n),
            ("image", &self.image),
        ]
        .into_iter()
        .filter_map(|(field, path)| Some((field, path.as_deref()?)))
        .collect()
    }
}

/// A storage target. `type = "s3"` or `type = "dir"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum StorageSection {
    S3 {
        endpoint: String,
        #[serde(default)]
        region: Option<String>,
        bucket: String,
        #[serde(default)]
        virtual_hosted: bool,
        #[serde(default)]
        access_key_env: Option<String>,
        #[serde(default)]
        secret_key_env: Option<String>,
        #[serde(default)]
        access_key_cmd: Option<String>,
        #[serde(default)]
        secret_key_cmd: Option<String>,
        #[serde(default)]
        acl: Option<String>,
        #[serde(default)]
        acl_header: Option<String>,
        #[serde(default)]
        key_template: Option<String>,
        #[serde(default)]
        public_url: Option<String>,
    },
    Dir {
        path: PathBuf,
        #[serde(default)]
        key_template: Option<String>,
        #[serde(default)]
        public_url: Option<String>,
    },
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultsSection {
    /// Storage targets every job uploads to unless it says otherwise.
    #[serde(default)]
    pub storage: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputsSection {
    /// Largest output file accepted, in bytes (256 MiB when unset).
    pub max_bytes: Option<u64>,
    /// Timeout of one download, in seconds.
    pub download_timeout_s: Option<u64>,
}

/// Parses the file, naming the key of a bad value (`providers.modelscope.base_url: …`):
/// toml's own message only gives a byte offset for those.
pub(super) fn parse(text: &str) -> Result<ConfigFile, String> {
    let de = toml::Deserializer::parse(text).map_err(|e| toml_message(text, &e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = toml_message(text, e.inner());
        if key.is_empty() || key == "." {
            inner
        } else {
            format!("{key}: {inner}")
        }
    })
}

/// toml's messages, on one line, with the line and column in the file.
fn toml_message(text: &str, e: &toml::de::Error) -> String {
    let mut msg = e.message().trim().replace('\n', "; ");
    if let Some(span) = e.span() {
        let (line, col) = genq_protocol::credentials::line_col(text, span.start);
        msg = format!("{msg} (line {line}, column {col})");
    }
    msg
}
