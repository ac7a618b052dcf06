//! Everything that can change the app's state: keys resolved through the keymap, text typed
//! into an input, and the replies and notifications that come back from the daemon.

use crate::tui::catalog::CatalogData;
use crate::tui::preview::{Cover, Preview};
use crossterm::event::KeyEvent;
use genq_protocol::batch::{BatchDetail, BatchInfo};
use genq_protocol::catalog::{LoraCard, LoraPage};
use genq_protocol::methods::{JobPage, StatusResult};
use genq_protocol::{Event, Job, JobId, JobSpec};
use std::fmt;

/// The actions a key can be bound to. Each has a stable name for `config.toml` overrides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UiAction {
    Quit,
    ForceQuit,
    Suspend,
    Up,
    Down,
    Top,
    Bottom,
    PageUp,
    PageDown,
    Open,
    Back,
    Help,
    NextScreen,
    GotoJobs,
    GotoDetail,
    GotoSubmit,
    NewJob,
    Cancel,
    Retry,
    Rerun,
    Export,
    Copy,
    OpenOutput,
    ToggleMouse,
    FilterNext,
    FilterPrev,
    Search,
    ToggleSort,
    ConfirmYes,
    ConfirmNo,
    SearchApply,
    FieldNext,
    FieldPrev,
    PickNext,
    PickPrev,
    FormSubmit,
    NormalizeLoras,
    GotoModels,
    GotoLoras,
    ToggleView,
    Refresh,
    FilterBase,
    NextSource,
    MarkLora,
    Generate,
    OpenLora,
    NextLora,
    PrevScreen,
    ClearForm,
    Messages,
    GroupBatches,
}

impl UiAction {
    pub const ALL: &[UiAction] = &[
        UiAction::Quit,
        UiAction::ForceQuit,
        UiAction::Suspend,
        UiAction::Up,
        UiAction::Down,
        UiAction::Top,
        UiAction::Bottom,
        UiAction::PageUp,
        UiAction::PageDown,
        UiAction::Open,
        UiAction::Back,
        UiAction::Help,
        UiAction::NextScreen,
        UiAction::GotoJobs,
        UiAction::GotoDetail,
        UiAction::GotoSubmit,
        UiAction::NewJob,
        UiAction::Cancel,
        UiAction::Retry,
        UiAction::Rerun,
        UiAction::Export,
        UiAction::Copy,
        UiAction::OpenOutput,
        UiAction::ToggleMouse,
        UiAction::FilterNext,
        UiAction::FilterPrev,
        UiAction::Search,
        UiAction::ToggleSort,
        UiAction::ConfirmYes,
        UiAction::ConfirmNo,
        UiAction::SearchApply,
        UiAction::FieldNext,
        UiAction::FieldPrev,
        UiAction::PickNext,
        UiAction::PickPrev,
        UiAction::FormSubmit,
        UiAction::NormalizeLoras,
        UiAction::GotoModels,
        UiAction::GotoLoras,
        UiAction::ToggleView,
        UiAction::Refresh,
        UiAction::FilterBase,
        UiAction::NextSource,
        UiAction::MarkLora,
        UiAction::Generate,
        UiAction::OpenLora,
        UiAction::NextLora,
        UiAction::PrevScreen,
        UiAction::ClearForm,
        UiAction::Messages,
        UiAction::GroupBatches,
    ];

    /// The name used in `config.toml` (`[keys.jobs] cancel = "x"`).
    pub fn name(self) -> &'static str {
        use UiAction::*;
        match self {
            Quit => "quit",
            ForceQuit => "force_quit",
            Suspend => "suspend",
            Up => "up",
            Down => "down",
            Top => "top",
            Bottom => "bottom",
            PageUp => "page_up",
            PageDown => "page_down",
            Open => "open",
            Back => "back",
            Help => "help",
            NextScreen => "next_screen",
            GotoJobs => "goto_jobs",
            GotoDetail => "goto_detail",
            GotoSubmit => "goto_submit",
            NewJob => "new_job",
            Cancel => "cancel",
            Retry => "retry",
            Rerun => "rerun",
            Export => "export",
            Copy => "copy",
            OpenOutput => "open_output",
            ToggleMouse => "toggle_mouse",
            FilterNext => "filter_next",
            FilterPrev => "filter_prev",
            Search => "search",
            ToggleSort => "toggle_sort",
            ConfirmYes => "confirm_yes",
            ConfirmNo => "confirm_no",
            SearchApply => "search_apply",
            FieldNext => "field_next",
            FieldPrev => "field_prev",
            PickNext => "pick_next",
            PickPrev => "pick_prev",
            FormSubmit => "submit",
            NormalizeLoras => "normalize_loras",
            GotoModels => "goto_models",
            GotoLoras => "goto_loras",
            ToggleView => "toggle_view",
            Refresh => "refresh",
            FilterBase => "filter_base",
            NextSource => "next_source",
            MarkLora => "mark_lora",
            Generate => "generate",
            OpenLora => "open_lora",
            NextLora => "next_lora",
            PrevScreen => "prev_screen",
            ClearForm => "clear_form",
            Messages => "messages",
            GroupBatches => "group_batches",
        }
    }

    pub fn from_name(name: &str) -> Option<UiAction> {
        UiAction::ALL.iter().copied().find(|a| a.name() == name)
    }
}

/// A protocol error reduced to what the UI shows: the message, and for bad parameters the
/// field and what it allows.
#[derive(Clone, Debug, PartialEq)]
pub struct CallError {
    /// The daemon's error kind, when the daemon answered.
    pub kind: Option<genq_protocol::ErrorKind>,
    pub message: String,
    pub field: Option<String>,
    pub allowed: Option<String>,
}

impl CallError {
    /// An error that did not come from the daemon.
    pub fn local(message: impl Into<String>) -> CallError {
        CallError {
            kind: None,
            message: message.into(),
            field: None,
            allowed: None,
        }
    }
}

/// Maps a protocol client error into what the UI shows.
pub fn call_error(e: &crate::client::ClientError) -> CallError {
    match e.rpc() {
        Some(rpc) => CallError {
            kind: Some(rpc.kind()),
            message: rpc.message.clone(),
            field: rpc.field().map(str::to_string),
            allowed: rpc.data.as_ref().and_then(|d| d.allowed.clone()),
        },
        None => CallError::local(e.to_string()),
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(allowed) = &self.allowed {
            write!(f, " (allowed: {allowed})")?;
        }
        Ok(())
    }
}

#[derive(Debug)]
pub enum Action {
    /// A key bound in the keymap.
    Ui(UiAction),
    /// A key not bound in the current context, for the focused text input.
    Input(KeyEvent),
    /// Text pasted into the terminal (bracketed paste), for the focused text input.
    Paste(String),
    Resize(u16, u16),
    /// Animation and clock step; only sent while something is running.
    Tick,
    Connected {
        version: String,
    },
    Disconnected {
        reason: String,
    },
    Reconnecting {
        attempt: u32,
        delay_ms: u64,
    },
    Subscribed {
        head_seq: u64,
    },
    PageLoaded {
        generation: u64,
        offset: u64,
        page: JobPage,
    },
    JobLoaded(Job),
    EventsLoaded {
        id: JobId,
        events: Vec<Event>,
    },
    StatusLoaded(StatusResult),
    /// `providers.list`, fetched with the status for the quota shown in the status bar.
    ProvidersLoaded(Vec<genq_protocol::methods::ProviderInfo>),
    Notify(Event),
    Resync {
        last_seq: u64,
    },
    Submitted(Job),
    SubmitFailed(CallError),
    /// `jobs.export` came back for a re-run: open the form with it.
    RerunLoaded(JobSpec),
    /// A job was canceled or retried.
    JobChanged {
        verb: &'static str,
        job: Job,
    },
    /// Something worth a line in the status bar.
    Info(String),
    CallFailed {
        what: String,
        error: CallError,
    },
    PreviewReady(Preview),
    /// The output to preview is not on this machine: ask the daemon for a rendition.
    PreviewNotLocal(JobId),
    /// `models.list`, `suppliers.list`, `categories.list` and `capabilities.list`.
    CatalogLoaded(Box<CatalogData>),
    CatalogFailed(CallError),
    /// A page of `loras.list`; `covers` when it was asked with covers downloaded.
    LorasLoaded {
        generation: u64,
        page: u32,
        covers: bool,
        result: LoraPage,
    },
    LorasFailed {
        generation: u64,
        page: u32,
        covers: bool,
        error: CallError,
    },
    /// A cover thumbnail was encoded (or could not be).
    CoverReady(Cover),
    /// `loras.get` for a LoRA a job used.
    LoraCardLoaded(LoraCard),
    LoraCardFailed {
        id: String,
        error: CallError,
    },
    /// `batch.list`.
    BatchesLoaded(Vec<BatchInfo>),
    /// `batch.get`.
    BatchLoaded(Box<BatchDetail>),
    /// A batch was canceled or retried.
    BatchChanged {
        verb: &'static str,
        batch: BatchInfo,
    },
    /// A left click at a terminal cell.
    Click {
        col: u16,
        row: u16,
    },
}
