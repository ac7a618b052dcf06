//! The job lifecycle as changes that carry exactly their data, and the one place that
//! applies them: [`Store::transition`] refuses a change the lifecycle does not allow.

use super::appended::append;
use super::db::Store;
use super::error::StoreError;
use super::rows::{OutputRecord, require_job, times_json};
use genq_protocol::job::ProviderCall;
use genq_protocol::{Event, EventBody, Job, JobError, JobId, JobState, ProviderRequest, Timestamp};
use rusqlite::{Connection, params};

/// Request ids kept per job; older ones are dropped (a job re-queried after many restarts).
const MAX_PROVIDER_REQUESTS: usize = 32;

/// A change to a job. Each carries what is recorded with it, so a change cannot come with
/// data that does not belong to it (a task id without a submit, outputs without a finish).
#[derive(Clone, Debug)]
pub enum Transition {
    /// To `submitting`: the request may go out from now on.
    Submitting,
    /// Back to `queued`: the provider took nothing (busy, rate limited), the job waits again.
    Requeued,
    /// To `running`: the provider accepted the task.
    Submitted {
        remote_id: String,
        /// The provider's id of the submit request, kept on the job and in the `remote` event.
        request_id: Option<String>,
    },
    /// To `fetching`: the task finished with these outputs.
    Finished {
        outputs: Vec<OutputRecord>,
        /// The provider's id of the poll reply that saw the task finish.
        request_id: Option<String>,
        /// How long the provider took to generate.
        generation_ms: u64,
    },
    /// No state change: fresh links for some outputs, after a download was refused.
    Relinked {
        outputs: Vec<OutputRecord>,
        /// The provider's id of the re-query's reply.
        request_id: Option<String>,
    },
    /// To `storing`: every output is downloaded and verified.
    Fetched,
    /// To `succeeded`: the outputs are stored.
    Succeeded,
    /// To `failed`.
    Failed(JobError),
    /// To `failed`, as the provider reported it on a poll: the reply's request id (the
    /// error's) is kept among the job's requests too.
    TaskFailed(JobError),
    /// To `canceled`.
    Canceled,
}

impl Transition {
    /// The state this change moves the job to, if any.
    fn target(&self) -> Option<JobState> {
        Some(match self {
            Transition::Submitting => JobState::Submitting,
            Transition::Requeued => JobState::Queued,
            Transition::Submitted { .. } => JobState::Running,
            Transition::Finished { .. } => JobState::Fetching,
            Transition::Relinked { .. } => return None,
            Transition::Fetched => JobState::Storing,
            Transition::Succeeded => JobState::Succeeded,
            Transition::Failed(_) | Transition::TaskFailed(_) => JobState::Failed,
            Transition::Canceled => JobState::Canceled,
        })
    }

    /// The error a failure records, to be edited (scrubbed) before it is committed.
    pub fn error_mut(&mut self) -> Option<&mut JobError> {
        match self {
            Transition::Failed(e) | Transition::TaskFailed(e) => Some(e),
            _ => None,
        }
    }

    fn error(&self) -> Option<&JobError> {
        match self {
            Transition::Failed(e) | Transition::TaskFailed(e) => Some(e),
            _ => None,
        }
    }

    /// The provider request that comes with this change, as `(call, request id)`.
    fn request(&self) -> Option<(ProviderCall, &str)> {
        let (call, id) = match self {
            Transition::Submitted { request_id, .. } => (ProviderCall::Submit, request_id),
            Transition::Finished { request_id, .. } => (ProviderCall::Poll, request_id),
            Transition::Relinked { request_id, .. } => (ProviderCall::Requery, request_id),
            Transition::TaskFailed(e) => (ProviderCall::Poll, &e.provider_request_id),
            _ => return None,
        };
        id.as_deref().map(|id| (call, id))
    }

    fn outputs(&self) -> &[OutputRecord] {
        match self {
            Transition::Finished { outputs, .. } | Transition::Relinked { outputs, .. } => outputs,
            _ => &[],
        }
    }
}

impl Store {
    /// Applies a change (and what comes with it) and appends its events, in one
    /// transaction. A change the lifecycle does not allow is refused here and nowhere else.
    pub async fn transition(
        &self,
        id: JobId,
        change: Transition,
    ) -> Result<(Job, Vec<Event>), StoreError> {
        self.write(move |tx| {
            let mut job = require_job(tx, id.as_str())?;
            let now = Timestamp::now();
            let mut events = Vec::new();
            if let Some(request) = change.request() {
                record_request(tx, &mut job, request, now)?;
            }
            if let Transition::Finished { generation_ms, .. } = &change {
                record_generation(tx, &id, *generation_ms)?;
            }
            if let Transition::Submitted {
                remote_id,
                request_id,
            } = &change
            {
                events.push(record_remote(tx, &id, remote_id, request_id, now)?);
            }
            record_outputs(tx, &id, change.outputs())?;
            if let Some(to) = change.target() {
                events.push(change_state(tx, &mut job, to, change.error(), now)?);
            }
            let job = require_job(tx, id.as_str())?;
            Ok((job, events))
        })
        .await
    }
}

/// Keeps a provider's request id on the job, dropping the oldest past the limit.
fn record_request(
    tx: &Connection,
    job: &mut Job,
    (call, request_id): (ProviderCall, &str),
    now: Timestamp,
) -> Result<(), StoreError> {
    job.provider_requests.push(ProviderRequest {
        call,
        request_id: request_id.to_string(),
        at: now,
    });
    let drop = job
        .provider_requests
        .len()
        .saturating_sub(MAX_PROVIDER_REQUESTS);
    job.provider_requests.drain(..drop);
    let json = serde_json::to_string(&job.provider_requests)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.execute(
        "UPDATE jobs SET provider_requests = ?2, updated_at = ?3 WHERE id = ?1",
        params![job.id.as_str(), json, now.unix_millis()],
    )?;
    Ok(())
}

fn record_generation(tx: &Connection, id: &JobId, ms: u64) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE jobs SET generation_ms = ?2 WHERE id = ?1",
        params![id.as_str(), ms.min(i64::MAX as u64) as i64],
    )?;
    Ok(())
}

/// Records the provider's task id and announces it.
fn record_remote(
    tx: &Connection,
    id: &JobId,
    remote_id: &str,
    request_id: &Option<String>,
    now: Timestamp,
) -> Result<Event, StoreError> {
    tx.execute(
        "UPDATE jobs SET remote_id = ?2, updated_at = ?3 WHERE id = ?1",
        params![id.as_str(), remote_id, now.unix_millis()],
    )?;
    append(
        tx,
        id,
        now,
        EventBody::Remote {
            remote_id: remote_id.to_string(),
            request_id: request_id.clone(),
        },
    )
}

/// Records outputs as the provider reported them (or their fresh links).
fn record_outputs(tx: &Connection, id: &JobId, outputs: &[OutputRecord]) -> Result<(), StoreError> {
    for out in outputs {
        tx.execute(
            "INSERT INTO outputs (job_id, idx, role, label, format, source_url)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (job_id, idx) DO UPDATE SET
                role = excluded.role, label = excluded.label,
                format = excluded.format, source_url = excluded.source_url",
            params![
                id.as_str(),
                out.index,
                out.role.as_str(),
                out.label,
                out.format,
                out.source_url
            ],
        )?;
    }
    Ok(())
}

/// Moves the job to `to` if the lifecycle allows it, and announces the move.
fn change_state(
    tx: &Connection,
    job: &mut Job,
    to: JobState,
    error: Option<&JobError>,
    now: Timestamp,
) -> Result<Event, StoreError> {
    let from = job.state;
    if !from.can_transition_to(to) {
        return Err(StoreError::IllegalTransition {
            id: job.id.to_string(),
            from,
            to,
        });
    }
    job.times.insert(to, now);
    let finished = to.is_final().then_some(now.unix_millis());
    tx.execute(
        "UPDATE jobs SET state = ?2, times = ?3, updated_at = ?4,
            finished_at = COALESCE(?5, finished_at),
            progress = CASE WHEN ?2 = 'succeeded' THEN 100 ELSE progress END,
            error_kind = COALESCE(?6, error_kind),
            error_message = COALESCE(?7, error_message),
            error_request_id = COALESCE(?8, error_request_id)
         WHERE id = ?1",
        params![
            job.id.as_str(),
            to.as_str(),
            times_json(&job.times),
            now.unix_millis(),
            finished,
            error.map(|e| e.kind.as_str()),
            error.map(|e| e.message.as_str()),
            error.and_then(|e| e.provider_request_id.as_deref())
        ],
    )?;
    append(
        tx,
        &job.id,
        now,
        EventBody::State {
            from,
            to,
            error: error.cloned(),
        },
    )
}
