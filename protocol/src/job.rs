//! Jobs as both sides see them: the spec a client submits, the states a job moves through,
//! and the record the daemon reports back.

use crate::time::Timestamp;
use crate::wire_names::wire_names;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// A job id: a UUIDv7 string, so ids sort by creation time. People see and type the job's
/// number instead ([`Job::num`]); wherever a job is named, the daemon takes its number, its
/// full id, or a unique start of the id of at least 4 characters.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub String);

impl JobId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How a job is named on screen: its number, or for a daemon that predates numbers the
/// first 8 characters of its id.
pub fn short_id(id: &JobId, num: Option<u64>) -> String {
    match num {
        Some(n) => n.to_string(),
        None => id.0.get(..8).unwrap_or(&id.0).to_string(),
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a job produces.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Image,
    Model3d,
}

wire_names!(JobKind, "job kind" {
    Image => "image",
    Model3d => "model3d",
});

/// The lifecycle of a job:
/// `queued → submitting → running → fetching → storing → succeeded`, and `failed` or
/// `canceled` from any state that is not final.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Submitting,
    Running,
    Fetching,
    Storing,
    Succeeded,
    Failed,
    Canceled,
}

wire_names!(JobState, "state" {
    Queued => "queued",
    Submitting => "submitting",
    Running => "running",
    Fetching => "fetching",
    Storing => "storing",
    Succeeded => "succeeded",
    Failed => "failed",
    Canceled => "canceled",
});

impl JobState {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Canceled
        )
    }

    /// The one place that says which transitions exist. The daemon's store refuses any other.
    pub fn can_transition_to(self, next: JobState) -> bool {
        use JobState::*;
        match (self, next) {
            (from, Failed | Canceled) => !from.is_final(),
            (Queued, Submitting)
            | (Submitting, Running)
            | (Submitting, Queued) // the provider was busy: wait for a free slot again
            | (Running, Queued) // the provider lost the task before it started
            | (Running, Fetching)
            | (Fetching, Storing)
            | (Storing, Succeeded) => true,
            _ => false,
        }
    }
}

/// An image size, written `WxH` on the wire and on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

impl FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("size {s:?} is not WxH with whole numbers, e.g. 1024x1024");
        let (w, h) = s.split_once(['x', 'X', '*']).ok_or_else(bad)?;
        let width: u32 = w.trim().parse().map_err(|_| bad())?;
        let height: u32 = h.trim().parse().map_err(|_| bad())?;
        if width == 0 || height == 0 {
            return Err(format!("size {s:?} has a zero side"));
        }
        Ok(Size { width, height })
    }
}

/// On the wire a size is `WxH`.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Size {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[0-9]+[xX*][0-9]+$"))
            .examples(["1024x1024"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Size {}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A LoRA applied to a generation: a repository id and its weight.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lora {
    pub repo: String,
    #[serde(default = "default_lora_weight")]
    pub weight: f64,
}

fn default_lora_weight() -> f64 {
    1.0
}

impl FromStr for Lora {
    type Err = String;
    /// `REPO` (weight 1.0) or `REPO:WEIGHT`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (repo, weight) = match s.rsplit_once(':') {
            Some((repo, w)) => {
                let weight: f64 = w
                    .parse()
                    .map_err(|_| format!("LoRA weight {w:?} in {s:?} is not a number"))?;
                (repo, weight)
            }
            None => (s, 1.0),
        };
        if repo.trim().is_empty() {
            return Err(format!("LoRA {s:?} has no repository id"));
        }
        Ok(Lora {
            repo: repo.trim().to_string(),
            weight,
        })
    }
}

/// What a client asks for. Unknown fields are refused so that a typo is an error, not a
/// silently ignored parameter. This is also what `jobs.export` returns and `submit --from`
/// reads back.
#[serde_with::skip_serializing_none]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    pub provider: String,
    pub kind: Option<JobKind>,
    pub model: Option<String>,
    #[serde(default)]
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub size: Option<Size>,
    pub seed: Option<i64>,
    pub steps: Option<u32>,
    pub guidance: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loras: Vec<Lora>,
    /// An input image: a URL, or a local path where the provider can upload it.
    pub image: Option<String>,
    /// Multi-view inputs by view name (`front`, `left`, `back`, `right`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub views: BTreeMap<String, String>,
    /// How many outputs to ask for, where the provider supports it.
    pub n: Option<u32>,
    /// Provider-specific extras (`--param KEY=VALUE`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, serde_json::Value>,
    /// Storage targets for the outputs; `None` means the configured defaults, an empty list
    /// means keep them local only.
    pub store: Option<Vec<String>>,
}

/// Why a job failed, in a form a script can branch on.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobErrorKind {
    /// The provider refused the key.
    Auth,
    /// A parameter was refused (by genq before sending, or by the provider).
    InvalidParams,
    /// The provider's moderation refused the prompt, an input or the output.
    ContentPolicy,
    /// A daily quota or rate allowance is spent.
    Quota,
    /// The account has no credits left.
    InsufficientCredits,
    /// The provider does not know the task (wrong key or id, or it expired).
    NotFound,
    /// The provider kept failing with errors that are usually transient.
    Provider,
    /// The network kept failing.
    Network,
    /// The job ran past its timeout.
    Timeout,
    /// The daemon stopped while the job was being submitted; it may or may not have reached
    /// the provider, so it was not submitted again.
    Interrupted,
    /// An output could not be downloaded.
    Download,
    /// A downloaded output failed its checks.
    Verify,
    /// An output could not be stored.
    Storage,
    /// Something genq itself got wrong.
    Internal,
    /// A kind this client does not know yet.
    #[serde(other)]
    Other,
}

wire_names!(JobErrorKind {
    Auth => "auth",
    InvalidParams => "invalid_params",
    ContentPolicy => "content_policy",
    Quota => "quota",
    InsufficientCredits => "insufficient_credits",
    NotFound => "not_found",
    Provider => "provider",
    Network => "network",
    Timeout => "timeout",
    Interrupted => "interrupted",
    Download => "download",
    Verify => "verify",
    Storage => "storage",
    Internal => "internal",
    Other => "other",
});

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobError {
    pub kind: JobErrorKind,
    pub message: String,
    pub provider_request_id: Option<String>,
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)?;
        if let Some(id) = &self.provider_request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

/// One stored copy of an output, or why storing it failed.
#[serde_with::skip_serializing_none]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Upload {
    pub target: String,
    #[serialize_always]
    pub url: Option<String>,
    pub error: Option<String>,
}

/// A file a job produced, as kept on local disk.
#[serde_with::skip_serializing_none]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Output {
    pub index: u32,
    #[serialize_always]
    pub path: Option<String>,
    #[serialize_always]
    pub sha256: Option<String>,
    #[serialize_always]
    pub size: Option<u64>,
    #[serialize_always]
    pub mime: Option<String>,
    #[serialize_always]
    pub width: Option<u32>,
    #[serialize_always]
    pub height: Option<u32>,
    #[serialize_always]
    pub source_url: Option<String>,
    #[serde(default)]
    pub uploads: Vec<Upload>,
    /// The provider's name for this output (`model`, `pbr_model`, `rendered_image`), where
    /// it gives one.
    pub label: Option<String>,
    /// The file format the provider announced (`glb`, `fbx`, `png`), where it did.
    pub format: Option<String>,
}

/// What an output holds, as the daemon records it per output: it decides the file types a
/// download may be and how it is named.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputRole {
    /// The generated image.
    Image,
    /// A generated 3D model (GLB unless the output's `format` says otherwise).
    Model,
    /// A preview render of a 3D model.
    Preview,
}

wire_names!(OutputRole, "output role" {
    Image => "image",
    Model => "model",
    Preview => "preview",
});

/// Which call to the provider a recorded request id belongs to.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderCall {
    /// The submit that created the task.
    Submit,
    /// The poll whose reply saw the task finish (or fail).
    Poll,
    /// The task asked for again, for fresh output links after a download was refused.
    Requery,
    /// A call this client does not know yet.
    #[serde(other)]
    Other,
}

wire_names!(ProviderCall {
    Submit => "submit",
    Poll => "poll",
    Requery => "requery",
    Other => "other",
});

/// Lenient, like the wire: a name this client does not know is [`ProviderCall::Other`].
impl From<&str> for ProviderCall {
    fn from(s: &str) -> Self {
        ProviderCall::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .unwrap_or(ProviderCall::Other)
    }
}

/// One reply from the provider that identifies a request to its support (Tripo's
/// `X-Tripo-Trace-ID`, ModelScope's and DashScope's `request_id`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRequest {
    pub call: ProviderCall,
    pub request_id: String,
    pub at: Timestamp,
}

/// A job as the daemon reports it.
#[serde_with::skip_serializing_none]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    /// The job's number in its home: 1, 2, 3 … in the order jobs were made, never reused.
    /// The short id people see and type. Absent from daemons that predate it.
    pub num: Option<u64>,
    pub kind: JobKind,
    pub provider: String,
    #[serialize_always]
    pub model: Option<String>,
    pub state: JobState,
    /// 0–100 while the provider reports progress, else `None`.
    #[serialize_always]
    pub progress: Option<u8>,
    pub params: JobSpec,
    #[serialize_always]
    pub remote_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serialize_always]
    pub finished_at: Option<Timestamp>,
    #[serialize_always]
    pub retry_of: Option<JobId>,
    #[serialize_always]
    pub error: Option<JobError>,
    pub outputs: Vec<Output>,
    /// When the job entered each state it has been in.
    #[serde(default)]
    pub times: BTreeMap<JobState, Timestamp>,
    pub idempotency_key: Option<String>,
    /// How long the provider took to generate, in milliseconds: from the task's creation as
    /// the provider reports it (Tripo's `create_time`), else from the submit, to the poll that
    /// saw it finish.
    pub generation_ms: Option<u64>,
    /// The provider's request ids of the replies that mattered, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provider_requests: Vec<ProviderRequest>,
}

impl Job {
    /// The id people see: the job's number (see [`short_id`]).
    pub fn short_id(&self) -> String {
        short_id(&self.id, self.num)
    }

    /// The prompt, for lists and titles.
    pub fn prompt(&self) -> &str {
        &self.params.prompt
    }

    /// The provider's percentage while the task runs there. In any other state the last figure
    /// it reported says nothing: a job fetching its outputs is not "93 %" done.
    pub fn running_progress(&self) -> Option<u8> {
        self.progress.filter(|_| self.state == JobState::Running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_states_have_no_way_out() {
        for from in JobState::ALL.into_iter().filter(|s| s.is_final()) {
            for to in JobState::ALL {
                assert!(!from.can_transition_to(to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn the_happy_path_is_allowed_and_skipping_is_not() {
        use JobState::*;
        let path = [Queued, Submitting, Running, Fetching, Storing, Succeeded];
        for w in path.windows(2) {
            assert!(w[0].can_transition_to(w[1]), "{} -> {}", w[0], w[1]);
        }
        assert!(!Queued.can_transition_to(Running));
        assert!(!Running.can_transition_to(Succeeded));
        assert!(!Fetching.can_transition_to(Running));
    }

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!(
            "1024x768".parse::<Size>(),
            Ok(Size {
                width: 1024,
                height: 768
            })
        );
        assert_eq!(
            "1024*768".parse::<Size>().map(|s| s.to_string()),
            Ok("1024x768".into())
        );
        assert!("1024".parse::<Size>().unwrap_err().contains("WxH"));
        assert!("0x5".parse::<Size>().is_err());
    }

    #[test]
    fn lora_weight_defaults_to_one() {
        let l: Lora = "owner/name".parse().unwrap();
        assert_eq!(l.weight, 1.0);
        let l: Lora = "owner/name:0.25".parse().unwrap();
        assert_eq!((l.repo.as_str(), l.weight), ("owner/name", 0.25));
        assert!("owner/name:heavy".parse::<Lora>().is_err());
    }

    #[test]
    fn roles_and_calls_keep_their_wire_names() {
        for role in [OutputRole::Image, OutputRole::Model, OutputRole::Preview] {
            let wire = serde_json::to_string(&role).unwrap();
            assert_eq!(wire, format!("\"{role}\""));
            assert_eq!(role.as_str().parse::<OutputRole>(), Ok(role));
        }
        for call in [
            ProviderCall::Submit,
            ProviderCall::Poll,
            ProviderCall::Requery,
        ] {
            let wire = serde_json::to_string(&call).unwrap();
            assert_eq!(wire, format!("\"{call}\""));
            assert_eq!(ProviderCall::from(call.as_str()), call);
        }
        let later: ProviderCall = serde_json::from_str("\"cancel\"").unwrap();
        assert_eq!(later, ProviderCall::Other);
        assert_eq!(format!("{:<9}|", ProviderCall::Poll), "poll     |");
    }

    #[test]
    fn a_misspelt_spec_field_is_named() {
        let err = serde_json::from_str::<JobSpec>(r#"{"provider":"x","promt":"hi"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("promt"), "{err}");
    }
}
