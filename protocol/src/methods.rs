//! Every method of the protocol, with its parameter and result types. A method is a type
//! implementing [`Method`], so a client call and the daemon's handler cannot disagree on
//! the name or the shapes.

use crate::event::Event;
use crate::job::{Job, JobId, JobSpec, JobState};
use crate::time::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub trait Method {
    const NAME: &'static str;
    type Params: Serialize + DeserializeOwned + Send;
    type Result: Serialize + DeserializeOwned + Send;
}

macro_rules! method {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $params:ty, $result:ty) => {
        $(#[$doc])*
        pub struct $ty;
        impl Method for $ty {
            const NAME: &'static str = $name;
            type Params = $params;
            type Result = $result;
        }
    };
}

/// Parameters of methods that take nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

method!(
    /// First request on every connection.
    Hello, "hello", HelloParams, HelloResult
);
method!(
    /// Creates a job (or returns the job already created with the same idempotency key).
    Submit, "submit", SubmitParams, Job
);
method!(JobsList, "jobs.list", ListParams, JobPage);
method!(JobsGet, "jobs.get", JobRef, Job);
method!(JobsCancel, "jobs.cancel", JobRef, Job);
method!(
    /// Creates a new job with the parameters of a finished one, pointing back at it.
    JobsRetry, "jobs.retry", JobRef, Job
);
method!(
    /// The job's parameters, as `submit` takes them; no secrets.
    JobsExport, "jobs.export", JobRef, JobSpec
);
method!(
    /// Uploads a job's local outputs to its storage targets again (all of them, or one),
    /// skipping what is already there; returns the job with the results recorded.
    JobsUpload, "jobs.upload", UploadParams, Job
);
method!(
    /// Deletes final jobs (and with `outputs` their files under the outputs directory); an
    /// active job among them refuses the whole request, naming it.
    JobsRemove, "jobs.remove", RemoveParams, RemoveResult
);
method!(
    /// Deletes (or with `dry_run` lists) the final jobs matching the filters.
    JobsClean, "jobs.clean", CleanParams, RemoveResult
);
method!(
    /// How much disk the outputs directory takes.
    OutputsUsage, "outputs.usage", Empty, DiskUsage
);
method!(
    /// A chunk of one of a job's files (an output or `params.json`), with the whole file's
    /// size and sha256, so a client anywhere can copy and verify it.
    OutputsRead, "outputs.read", crate::outputs::ReadParams, crate::outputs::ReadResult
);
method!(
    /// A small PNG or JPEG of an output sized for a preview, made and cached by the daemon.
    OutputsPreview,
    "outputs.preview",
    crate::outputs::PreviewParams,
    crate::outputs::PreviewResult
);
method!(
    /// The events of one job, oldest first.
    JobsEvents, "jobs.events", JobRef, Vec<Event>
);
method!(
    /// Replays events after `since_seq`, then streams new ones as `event` notifications.
    Subscribe, "subscribe", SubscribeParams, SubscribeResult
);
method!(
    /// Every provider with its settings (never the key), load and quota.
    ProvidersList, "providers.list", Empty, Vec<ProviderInfo>
);
method!(DaemonStatus, "daemon.status", Empty, StatusResult);
method!(
    /// Stops the daemon gracefully after replying.
    DaemonShutdown, "daemon.shutdown", Empty, ShutdownResult
);
method!(
    /// Reads `config.toml` and `credentials.toml` again now (as on a change of either file),
    /// so a key just stored is in force when the reply comes.
    ConfigReload, "config.reload", Empty, ReloadResult
);

// The catalog (types in `crate::catalog`).
use crate::catalog as c;
method!(
    /// Models, optionally of one supplier or capability.
    ModelsList, "models.list", c::ModelsListParams, Vec<c::Model>
);
method!(ModelsGet, "models.get", c::ModelRef, c::Model);
method!(
    /// Adds a user model; refused with the field named when invalid.
    ModelsAdd, "models.add", c::ModelInput, c::Model
);
method!(ModelsEdit, "models.edit", c::ModelEdit, c::Model);
method!(
    /// Soft delete: the model is hidden and refused by `submit`, until restored.
    ModelsRemove, "models.remove", c::ModelRef, c::Model
);
method!(ModelsRestore, "models.restore", c::ModelRef, c::Model);
method!(
    /// Makes a model the default of a capability (used by `submit` without a model).
    ModelsSetDefault, "models.set_default", c::SetDefaultParams, c::Model
);
method!(SuppliersList, "suppliers.list", Empty, Vec<c::Supplier>);
method!(
    /// The category tree, roots first.
    CategoriesList, "categories.list", Empty, Vec<c::Category>
);
method!(
    CapabilitiesList,
    "capabilities.list",
    Empty,
    Vec<c::Capability>
);
method!(
    /// LoRA cards from the catalog source, cached for 10 minutes.
    LorasList, "loras.list", c::LorasListParams, c::LoraPage
);
method!(
    /// `loras.list` ignoring the cache.
    LorasRefresh, "loras.refresh", c::LorasListParams, c::LoraPage
);
method!(
    /// One LoRA from the source's detail endpoint (its card is cached for `submit` checks).
    LorasGet, "loras.get", c::LoraRef, c::LoraCard
);

// Batches (types in `crate::batch`).
use crate::batch as b;
method!(
    /// Reads a batch file, checks every row and expands the matrix; unless `dry_run` (or bad
    /// rows without `skip_invalid`), creates the batch and sends its rows as jobs.
    BatchSubmit, "batch.submit", b::BatchSubmitParams, b::BatchPlan
);
method!(
    /// Every batch with its counts, newest first.
    BatchList, "batch.list", Empty, Vec<b::BatchInfo>
);
method!(BatchGet, "batch.get", b::BatchRef, b::BatchDetail);
method!(
    /// Stops sending a batch's rows and cancels its unfinished jobs.
    BatchCancel, "batch.cancel", b::BatchRef, b::BatchInfo
);
method!(
    /// Sends a batch's failed and canceled rows again.
    BatchRetry, "batch.retry", b::BatchRef, b::BatchInfo
);
method!(
    /// Makes a bearer token for the HTTP API; the reply is the only place it is ever shown.
    TokensCreate, "tokens.create", TokenName, TokenCreated
);
method!(
    /// The HTTP API's tokens: names and dates, never the tokens.
    TokensList, "tokens.list", Empty, Vec<TokenInfo>
);
method!(
    /// Revokes a token at once.
    TokensRemove, "tokens.remove", TokenName, TokenInfo
);

/// Notification carrying one [`Event`].
pub const NOTIFY_EVENT: &str = "event";
/// Notification telling a subscriber it fell behind: refetch a snapshot, then subscribe again
/// from `last_seq`.
pub const NOTIFY_RESYNC: &str = "resync";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HelloParams {
    pub protocol: u32,
    pub client: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HelloResult {
    pub protocol: u32,
    pub version: String,
    pub pid: u32,
}

#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitParams {
    pub spec: JobSpec,
    pub idempotency_key: Option<String>,
}

/// A job named as a user names it: its number (`42`), its full id, or a unique start of the
/// id of at least 4 characters. A number is only ever a number: ids start with `0`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRef {
    pub id: String,
}

impl From<&JobId> for JobRef {
    fn from(id: &JobId) -> Self {
        JobRef { id: id.0.clone() }
    }
}

#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadParams {
    pub id: String,
    /// Only this storage target (it need not be one the job was submitted with).
    pub target: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveParams {
    /// Job ids or unique prefixes.
    pub ids: Vec<String>,
    /// Also delete the jobs' output directories (files and `params.json`).
    #[serde(default)]
    pub outputs: bool,
}

#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanParams {
    /// Only jobs in these final states (all final states when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub state: Vec<JobState>,
    /// Only jobs created more than this many seconds ago.
    pub older_than_s: Option<u64>,
    pub provider: Option<String>,
    /// Also delete the jobs' output directories.
    #[serde(default)]
    pub outputs: bool,
    /// Only say what would be removed.
    #[serde(default)]
    pub dry_run: bool,
}

/// Removed jobs listed in a reply at most; `count` says how many there were in all.
pub const REMOVED_LIST_MAX: usize = 1000;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RemoveResult {
    /// How many jobs were removed (or would be, in a dry run).
    pub count: u64,
    /// The removed jobs, oldest first, at most [`REMOVED_LIST_MAX`].
    pub jobs: Vec<RemovedJob>,
    /// Bytes of output files deleted (or that would be).
    #[serde(default)]
    pub freed_bytes: u64,
    #[serde(default)]
    pub dry_run: bool,
    /// Output directories that could not be deleted, with the reason; their jobs are gone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// A removed job, as much as a listing needs.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RemovedJob {
    pub id: JobId,
    /// The job's number in its home (see [`crate::job::short_id`]).
    pub num: Option<u64>,
    pub state: JobState,
    pub provider: String,
    pub model: Option<String>,
    pub created_at: Timestamp,
    pub prompt: String,
    /// The job's output directory, when it was (or would be) deleted.
    pub output_dir: Option<String>,
}

impl RemovedJob {
    /// The id people see.
    pub fn short_id(&self) -> String {
        crate::job::short_id(&self.id, self.num)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DiskUsage {
    /// The outputs directory.
    pub path: String,
    pub bytes: u64,
    pub files: u64,
    /// Job directories (`YYYY/MM/<job-id>/`) in it.
    pub job_dirs: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    #[default]
    Newest,
    Oldest,
}

#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only jobs in one of these states (all states when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub state: Vec<JobState>,
    pub provider: Option<String>,
    /// Case-insensitive substring of the prompt, model or id.
    pub text: Option<String>,
    /// Opaque position returned as `next_cursor` by the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–500; 50 when absent. `text` is at most [`LIST_MAX_TEXT`] characters and
    /// `offset` at most `i64::MAX`.
    pub limit: Option<u32>,
    #[serde(default)]
    pub sort: Sort,
    /// Rows to skip before the page (for screens that jump); cursors are cheaper.
    pub offset: Option<u64>,
    /// `false`: only jobs that no job is a retry of; `true`: only those that some job is.
    pub retried: Option<bool>,
}

pub const LIST_DEFAULT_LIMIT: u32 = 50;
pub const LIST_MAX_LIMIT: u32 = 500;
/// Longest `text` filter of `jobs.list`, in characters: longer searches match nothing useful
/// and cost the database.
pub const LIST_MAX_TEXT: usize = 1000;

/// A page of jobs. `J` is how a job is held: as a [`Job`], or as its JSON text where the
/// page is only passed on (the daemon copies stored text; `genq jobs --json` prints it).
/// The cursor comes first, so a client walking pages can ask for the next one before it
/// reads this one's jobs.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobPage<J = Job> {
    pub next_cursor: Option<String>,
    /// Jobs matching the filters, across all pages.
    pub total: u64,
    pub jobs: Vec<J>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribeParams {
    /// Replay events with a larger `seq` (at most `i64::MAX`); `None` means only new events.
    #[serde(default)]
    pub since_seq: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubscribeResult {
    /// The newest `seq` when the subscription started.
    pub head_seq: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResyncParams {
    /// The last `seq` delivered to this subscriber.
    pub last_seq: u64,
    pub reason: String,
}

#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusResult {
    pub pid: u32,
    pub version: String,
    pub protocol: u32,
    pub socket: String,
    pub db: String,
    pub uptime_s: u64,
    /// Jobs by state name.
    pub jobs: BTreeMap<String, u64>,
    /// Set when the config file on disk was changed into something invalid; the daemon keeps
    /// the previous config in force.
    pub config_error: Option<String>,
    pub config: String,
    #[serialize_always]
    pub home: Option<String>,
    /// The address the HTTP API listens on, when it is on.
    pub http: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShutdownResult {
    pub pid: u32,
}

#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReloadResult {
    /// Why the files on disk are not in force (the previous config stays), when they are not.
    pub config_error: Option<String>,
}

/// One provider as `genq providers` shows it.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProviderInfo {
    /// The instance's name, as jobs and commands give it.
    pub name: String,
    /// The instance's type (`modelscope`, `openai`, `comfyui`, …); absent from daemons that
    /// knew only one instance per type, named after it.
    #[serde(default, rename = "type")]
    pub provider_type: Option<String>,
    pub base_url: String,
    /// Where the key comes from (`env MODELSCOPE_API_TOKEN`, `api_key_cmd`, `config file`,
    /// `none`); never the key.
    pub key_source: String,
    pub has_key: bool,
    pub max_concurrent: u32,
    pub requests_per_second: f64,
    pub timeout_s: u64,
    /// Remote tasks in flight now.
    pub in_flight: u32,
    /// Jobs waiting for a free slot.
    pub queued: u32,
    /// Seconds left of a provider-wide slowdown after a 429.
    pub paused_for_s: Option<f64>,
    /// Remaining quota or balance, when the provider reports it.
    pub quota_remaining: Option<i64>,
    pub quota_detail: Option<String>,
    pub last_error: Option<String>,
}

/// A bearer token of the HTTP API, by name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenName {
    /// 1 to 64 letters, digits, `-`, `_` or `.`.
    pub name: String,
}

/// A token just made: `token` is shown this once; the daemon keeps only its hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenCreated {
    pub name: String,
    pub token: String,
    pub created_at: Timestamp,
}

/// A token as `genq token list` shows it.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub name: String,
    pub created_at: Timestamp,
    /// The last request made with it (kept to the minute).
    pub last_used_at: Option<Timestamp>,
}
