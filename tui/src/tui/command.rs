//! What the app asks the outside world to do. `App::update` returns these instead of doing
//! I/O, so state changes stay testable; the event loop runs them on spawned tasks and feeds
//! the replies back as actions.

use genq_protocol::catalog::LorasListParams;
use genq_protocol::methods::ListParams;
use genq_protocol::{JobId, JobSpec};
use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// `jobs.list` for the visible window; the reply carries `generation` so stale pages are
    /// dropped.
    FetchPage {
        generation: u64,
        params: ListParams,
    },
    FetchJob(JobId),
    FetchEvents(JobId),
    FetchStatus,
    Subscribe {
        since_seq: Option<u64>,
    },
    Cancel(JobId),
    Retry(JobId),
    /// `jobs.export` to pre-fill the submit form.
    ExportForRerun(JobId),
    /// `jobs.export` written to a JSON file.
    ExportToFile {
        id: JobId,
        path: PathBuf,
    },
    Submit(JobSpec),
    /// Put text on the clipboard with OSC 52 (works over SSH).
    Copy(String),
    /// Open a job's output with the system opener; when `path` is not on this machine, the
    /// job's files are pulled into the cache directory first.
    OpenOutput {
        id: JobId,
        path: String,
    },
    SetMouse(bool),
    /// Decode and scale an image on a blocking thread, sized to `cols` × `rows` cells.
    LoadPreview {
        id: JobId,
        path: String,
        cols: u16,
        rows: u16,
    },
    /// `outputs.preview` sized for `cols` × `rows` cells, for a job whose output is not on
    /// this machine.
    FetchPreview {
        id: JobId,
        cols: u16,
        rows: u16,
    },
    /// `models.list` (with removed ones), `suppliers.list`, `categories.list`,
    /// `capabilities.list`.
    FetchCatalog,
    /// One page of `loras.list` (`params.page`); replies carry `generation`.
    FetchLoras {
        generation: u64,
        params: LorasListParams,
    },
    /// Encode a LoRA cover thumbnail on a blocking thread.
    LoadCover {
        id: String,
        path: String,
        cols: u16,
        rows: u16,
    },
    /// `loras.get` for a LoRA a job used.
    FetchLoraCard(String),
    Batch(BatchCall),
    Suspend,
    Quit,
}

/// The batch calls: the list, one batch with its rows, and what cancel and retry send.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BatchCall {
    /// `batch.list`.
    List,
    /// `batch.get`.
    Get(u64),
    /// `batch.cancel`.
    Cancel(u64),
    /// `batch.retry`.
    Retry(u64),
}
