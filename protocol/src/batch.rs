//! Batches as both sides see them: what `batch.submit` takes (a batch file and the command
//! line's defaults, style and matrix), the plan it answers with (the expanded jobs, or every
//! bad row with its field), and a batch's progress and rows.

use crate::job::{JobError, JobErrorKind, JobId, JobSpec, JobState, Output};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The file formats a batch is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchFormat {
    /// JSON Lines: one job spec object per line.
    Jsonl,
    /// CSV with a header row naming the spec's fields.
    Csv,
    /// TOML with `[[rows]]`, optional `[defaults]` and `[matrix]`.
    Toml,
}

impl BatchFormat {
    /// The format a file name's extension says, if it says one.
    pub fn from_name(name: &str) -> Option<BatchFormat> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" => Some(BatchFormat::Jsonl),
            "csv" => Some(BatchFormat::Csv),
            "toml" => Some(BatchFormat::Toml),
            _ => None,
        }
    }
}

/// `batch.submit`: a batch file, read by the daemon from `path` (on its machine) or given as
/// `text`, with what the command line adds to every row.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSubmitParams {
    /// An absolute path the daemon reads.
    pub path: Option<String>,
    /// The file's content, for a daemon that cannot read the client's files.
    pub text: Option<String>,
    /// The batch's name (the file's name), which also tells the format when `format` is absent.
    pub name: Option<String>,
    pub format: Option<BatchFormat>,
    /// Fields every row gets unless it sets them itself; they override the file's `[defaults]`.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub defaults: serde_json::Map<String, serde_json::Value>,
    /// A style from `[styles.NAME]` for rows that name none.
    pub style: Option<String>,
    /// Matrix axes, `FIELD=V1,V2` or `FIELD=A..B` (whole numbers): every row is run once per
    /// combination. They add to (and replace axes of) the file's `[matrix]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vary: Vec<String>,
    /// Where relative `output` paths lead and the manifest is written (absolute).
    pub base_dir: Option<String>,
    /// Only plan: validate, expand and estimate, send nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Run the valid rows when some are invalid (else nothing runs).
    #[serde(default)]
    pub skip_invalid: bool,
    /// Run rows again that already succeeded with the same parameters.
    #[serde(default)]
    pub force: bool,
}

/// What a bad row got wrong: its row in the file (1 = first data row), the field and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowProblem {
    pub row: u64,
    pub field: String,
    pub message: String,
}

/// One job a batch will run (or, in a dry run, would run).
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedJob {
    /// Position in the batch, 1-based, after the matrix expanded the rows.
    pub index: u64,
    /// The file row it came from.
    pub row: u64,
    pub spec: JobSpec,
    /// Where the finished file is copied (absolute).
    pub output: Option<String>,
    /// The succeeded job with the same parameters that this row reuses instead of running.
    pub reuses: Option<JobId>,
}

/// What the jobs of a plan would cost at one provider.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProviderEstimate {
    pub provider: String,
    /// Submits that would be sent (each a call against the provider's quota).
    pub calls: u64,
    /// Outputs asked for (`n` summed; 1 where unset).
    pub outputs: u64,
    /// The provider's remaining quota or balance, where it reports one.
    pub quota_remaining: Option<i64>,
    pub quota_detail: Option<String>,
}

/// `batch.submit`'s answer: the expanded jobs and the bad rows; `batch` is set once the batch
/// was created (never in a dry run, nor when bad rows stopped it).
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchPlan {
    pub batch: Option<BatchInfo>,
    /// The expanded jobs: every one in a dry run or when bad rows stopped the batch, none
    /// once it was created (`batch.get` lists its rows).
    pub jobs: Vec<PlannedJob>,
    /// Jobs that reuse a succeeded job with the same parameters instead of running.
    #[serde(default)]
    pub reused: u64,
    pub invalid: Vec<RowProblem>,
    pub estimate: Vec<ProviderEstimate>,
}

/// How many of a batch's rows are where.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchCounts {
    pub total: u64,
    /// Not yet sent to the engine.
    pub pending: u64,
    /// Queued or at the provider.
    pub in_flight: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub canceled: u64,
}

impl BatchCounts {
    /// Every row has ended.
    pub fn finished(&self) -> bool {
        self.pending == 0 && self.in_flight == 0
    }
}

/// A batch as `batch.list` shows it.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchInfo {
    pub id: u64,
    pub name: String,
    /// `cli` or `inbox`.
    pub source: String,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub canceled: bool,
    pub counts: BatchCounts,
    /// The results manifest (`.jsonl`; a `.csv` lies beside it), once written.
    pub manifest: Option<String>,
}

/// `batch.get`, `batch.cancel`, `batch.retry`: a batch by its number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRef {
    pub id: u64,
}

/// One row of a batch with its current job.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchRow {
    pub index: u64,
    pub row: u64,
    pub prompt: String,
    pub job_id: Option<JobId>,
    pub job_num: Option<u64>,
    /// `None` while the row waits to be sent.
    pub state: Option<JobState>,
    pub error: Option<JobError>,
    /// The row's `output` path, where it has one.
    pub output: Option<String>,
    /// Where the files were copied to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copied: Vec<String>,
    /// The job's outputs (local paths, sha256, uploads).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<Output>,
    /// The row reuses a job another batch ran with the same parameters.
    #[serde(default)]
    pub reused: bool,
}

impl BatchRow {
    /// The kind of error the row's job failed with, for manifests.
    pub fn error_kind(&self) -> Option<JobErrorKind> {
        self.error.as_ref().map(|e| e.kind)
    }
}

/// `batch.get`: the batch and its rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchDetail {
    pub batch: BatchInfo,
    pub rows: Vec<BatchRow>,
}
