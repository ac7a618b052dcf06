//! The fake Tripo's state: its constants, task scripts, tasks, uploads and account.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use serde_json::Value;

use crate::fakes::control::{Core, Script, Scripts};

pub(super) const OUTPUT_PREFIX: &str = "/tp-output/";
/// The bucket STS uploads go to; the fake serves it itself, path style.
pub const STS_BUCKET: &str = "tripo-data";
/// Largest object an STS grant allows (§3.2).
pub(super) const STS_MAX_BYTES: usize = 20 * 1024 * 1024;
pub const TRACE_HEADER: &str = "x-tripo-trace-id";
pub const LIMIT_MESSAGE: &str = "You have exceeded the limit of generation";
pub const CREDITS_MESSAGE: &str = "You don't have enough credit to perform this action";

/// `model_version`s the fake accepts (§3.3).
pub const MODEL_VERSIONS: &[&str] = &[
    "Turbo-v1.0-20250506",
    "v3.0-20250812",
    "v3.1-20260211",
    "P1-20260311",
    "v2.5-20250123",
    "v2.0-20240919",
    "v1.4-20240625",
];
pub(super) const TASK_TYPES: &[&str] = &["text_to_model", "image_to_model", "multiview_to_model"];
/// Credits one task costs (held as `frozen` while it runs).
pub const TASK_COST: f64 = 20.0;

/// How a task ends.
#[derive(Debug, Clone, PartialEq)]
pub enum TpOutcome {
    Succeed,
    Failed { error_code: i64, error_msg: String },
    Banned,
    Expired,
    Cancelled,
    Unknown,
}

/// The life of one task: `queued` for `queued`, then `running` for `running`, then final.
#[derive(Debug, Clone, PartialEq)]
pub struct TpScript {
    pub queued: Duration,
    pub running: Duration,
    pub outcome: TpOutcome,
}

impl Script for TpScript {
    fn succeed_after(duration: Duration) -> Self {
        TpScript::succeed_after(duration)
    }
}

impl TpScript {
    /// A success after `duration`, the first fifth of it queued.
    pub fn succeed_after(duration: Duration) -> Self {
        Self::outcome_after(duration, TpOutcome::Succeed)
    }

    pub fn outcome_after(duration: Duration, outcome: TpOutcome) -> Self {
        TpScript {
            queued: duration / 5,
            running: duration - duration / 5,
            outcome,
        }
    }

    pub(super) fn total(&self) -> Duration {
        self.queued + self.running
    }
}

#[derive(Debug, PartialEq)]
pub(super) enum Phase {
    Queued,
    Running,
    Done,
}

#[derive(Debug)]
pub(super) struct TpTask {
    pub(super) key: String,
    pub(super) kind: String,
    pub(super) created: Instant,
    pub(super) created_at: SystemTime,
    pub(super) script: TpScript,
    pub(super) input: Value,
    pub(super) quad: bool,
    pub(super) pbr: bool,
    /// Signatures of the output links handed out so far, with when each expires. Every
    /// query of a finished task hands out fresh ones.
    pub(super) links: HashMap<String, Instant>,
    /// `X-Tripo-Trace-ID` of every reply about this task: the create, then each query.
    pub(super) traces: Vec<String>,
}

impl TpTask {
    pub(super) fn phase(&self, now: Instant) -> Phase {
        let elapsed = now.saturating_duration_since(self.created);
        if elapsed < self.script.queued {
            Phase::Queued
        } else if elapsed < self.script.total() {
            Phase::Running
        } else {
            Phase::Done
        }
    }
}

/// The account and what was uploaded, under one lock.
#[derive(Debug)]
pub(super) struct Inner {
    pub(super) tasks: HashMap<String, TpTask>,
    pub(super) max_active: Option<usize>,
    pub(super) max_active_seen: usize,
    pub(super) balance: f64,
    pub(super) upload_404: bool,
    /// Both multipart endpoints answer 404: only the STS token route works.
    pub(super) multipart_404: bool,
    /// Outstanding STS grants by object key: (access key id, session token).
    pub(super) sts_grants: HashMap<String, (String, String)>,
    /// Objects PUT with an STS grant, by key.
    pub(super) objects: HashMap<String, Bytes>,
    /// This many of the next link sets are handed out already expired.
    pub(super) expire_next_links: u32,
    /// Uploaded files by image token.
    pub(super) uploads: HashMap<String, Bytes>,
}

/// The fake Tripo's state: its control, its task scripts and its account.
#[derive(Debug)]
pub struct TpState {
    pub(super) core: Core,
    pub(super) scripts: Scripts<TpScript>,
    pub(super) inner: Mutex<Inner>,
}

impl TpState {
    pub(super) fn fresh(core: Core) -> Self {
        core.set_key(new_key());
        TpState {
            core,
            scripts: Scripts::new(TpScript::succeed_after(Duration::from_millis(300))),
            inner: Mutex::new(Inner {
                tasks: HashMap::new(),
                max_active: Some(10),
                max_active_seen: 0,
                balance: 10_000.0,
                upload_404: false,
                multipart_404: false,
                sts_grants: HashMap::new(),
                objects: HashMap::new(),
                expire_next_links: 0,
                uploads: HashMap::new(),
            }),
        }
    }
}

/// A fresh API key in Tripo's format (`tsk_…`).
pub(super) fn new_key() -> String {
    format!("tsk_{}", uuid::Uuid::now_v7().simple())
}
