//! Jobs, their outputs and uploads. State changes go through [`Store::transition`], the one
//! place that refuses a transition the lifecycle does not allow.

use super::events::append;
use super::ids::{job_number, next_number, resolve_id};
use super::{Store, StoreError};
use genq_protocol::methods::{JobPage, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, ListParams, Sort};
use genq_protocol::{
    Event, EventBody, Job, JobError, JobErrorKind, JobId, JobKind, JobSpec, JobState, Output,
    ProviderRequest, Timestamp, Upload,
};
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use std::collections::BTreeMap;

/// A job about to be created.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub id: JobId,
    pub kind: JobKind,
    pub spec: JobSpec,
    pub idempotency_key: Option<String>,
    pub retry_of: Option<JobId>,
}

/// A state change and what comes with it.
#[derive(Clone, Debug, Default)]
pub struct Transition {
    pub to: Option<JobState>,
    pub error: Option<JobError>,
    /// The provider's task id, committed together with the state change.
    pub remote_id: Option<String>,
    /// Outputs the provider reported, recorded with the move to `fetching` (or their fresh
    /// links after a re-query).
    pub outputs: Vec<OutputRecord>,
    /// The provider's id of the request behind this change, kept on the job as
    /// `(call, request_id)`; with `remote_id` it also goes into the `remote` event.
    pub request: Option<(String, String)>,
    /// How long the provider took to generate, recorded with the move to `fetching`.
    pub generation_ms: Option<u64>,
}

impl Transition {
    pub fn to(state: JobState) -> Self {
        Transition {
            to: Some(state),
            ..Transition::default()
        }
    }

    pub fn failed(error: JobError) -> Self {
        Transition {
            to: Some(JobState::Failed),
            error: Some(error),
            ..Transition::default()
        }
    }
}

/// An output as the provider reported it, before it is downloaded.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputRecord {
    pub index: u32,
    pub role: String,
    pub label: Option<String>,
    pub format: Option<String>,
    pub source_url: String,
}

pub(super) const JOB_COLUMNS: &str = "id, kind, provider, model, state, progress, spec, remote_id, \
    idempotency_key, retry_of, error_kind, error_message, error_request_id, times, created_at, \
    updated_at, finished_at, generation_ms, provider_requests, num";

/// Request ids kept per job; older ones are dropped (a job re-queried after many restarts).
const MAX_PROVIDER_REQUESTS: usize = 32;

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

pub(super) fn job_from_row(r: &Row<'_>) -> Result<Job, StoreError> {
    let id: String = r.get(0)?;
    let kind: String = r.get(1)?;
    let state: String = r.get(4)?;
    let spec: String = r.get(6)?;
    let times: String = r.get(13)?;
    let error_kind: Option<String> = r.get(10)?;
    let times: BTreeMap<JobState, i64> =
        serde_json::from_str(&times).map_err(|e| corrupt(format!("job {id} times: {e}")))?;
    Ok(Job {
        kind: kind
            .parse()
            .map_err(|e| corrupt(format!("job {id}: {e}")))?,
        provider: r.get(2)?,
        model: r.get(3)?,
        state: state
            .parse()
            .map_err(|e| corrupt(format!("job {id}: {e}")))?,
        progress: r.get::<_, Option<i64>>(5)?.map(|p| p.clamp(0, 100) as u8),
        params: serde_json::from_str(&spec).map_err(|e| corrupt(format!("job {id} spec: {e}")))?,
        remote_id: r.get(7)?,
        idempotency_key: r.get(8)?,
        retry_of: r.get::<_, Option<String>>(9)?.map(JobId),
        error: match error_kind {
            Some(kind) => Some(JobError {
                kind: serde_json::from_value(serde_json::Value::String(kind))
                    .unwrap_or(JobErrorKind::Other),
                message: r.get::<_, Option<String>>(11)?.unwrap_or_default(),
                provider_request_id: r.get(12)?,
            }),
            None => None,
        },
        times: times
            .into_iter()
            .map(|(s, t)| (s, Timestamp::from_unix_millis(t)))
            .collect(),
        created_at: Timestamp::from_unix_millis(r.get(14)?),
        updated_at: Timestamp::from_unix_millis(r.get(15)?),
        finished_at: r
            .get::<_, Option<i64>>(16)?
            .map(Timestamp::from_unix_millis),
        generation_ms: r.get::<_, Option<i64>>(17)?.map(|ms| ms.max(0) as u64),
        provider_requests: serde_json::from_str(&r.get::<_, String>(18)?)
            .map_err(|e| corrupt(format!("job {id} provider_requests: {e}")))?,
        outputs: Vec::new(),
        num: r.get::<_, Option<i64>>(19)?.map(|n| n.max(0) as u64),
        id: JobId(id),
    })
}

/// SQLite caps the variables in one statement; larger sets are loaded in slices.
const IDS_PER_QUERY: usize = 500;

/// Loads the outputs (with uploads) of the given jobs into them.
fn attach_outputs(conn: &Connection, jobs: &mut [Job]) -> Result<(), StoreError> {
    for chunk in jobs.chunks_mut(IDS_PER_QUERY) {
        attach_outputs_chunk(conn, chunk)?;
    }
    Ok(())
}

fn attach_outputs_chunk(conn: &Connection, jobs: &mut [Job]) -> Result<(), StoreError> {
    if jobs.is_empty() {
        return Ok(());
    }
    let marks = vec!["?"; jobs.len()].join(",");
    let ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
    let mut by_job: BTreeMap<String, Vec<Output>> = BTreeMap::new();
    let mut stmt = conn.prepare(&format!(
        "SELECT job_id, idx, path, sha256, size, mime, width, height, source_url, label, format
         FROM outputs WHERE job_id IN ({marks}) ORDER BY job_id, idx"
    ))?;
    let mut rows = stmt.query(params_from_iter(ids.iter()))?;
    while let Some(r) = rows.next()? {
        let job: String = r.get(0)?;
        by_job.entry(job).or_default().push(Output {
            index: r.get(1)?,
            path: r.get(2)?,
            sha256: r.get(3)?,
            size: r.get::<_, Option<i64>>(4)?.map(|s| s as u64),
            mime: r.get(5)?,
            width: r.get(6)?,
            height: r.get(7)?,
            source_url: r.get(8)?,
            uploads: Vec::new(),
            label: r.get(9)?,
            format: r.get(10)?,
        });
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT job_id, idx, target, url, error FROM uploads WHERE job_id IN ({marks})
         ORDER BY job_id, idx, target"
    ))?;
    let mut rows = stmt.query(params_from_iter(ids.iter()))?;
    while let Some(r) = rows.next()? {
        let job: String = r.get(0)?;
        let idx: u32 = r.get(1)?;
        if let Some(out) = by_job
            .get_mut(&job)
            .and_then(|outs| outs.iter_mut().find(|o| o.index == idx))
        {
            out.uploads.push(Upload {
                target: r.get(2)?,
                url: r.get(3)?,
                error: r.get(4)?,
            });
        }
    }
    for job in jobs {
        job.outputs = by_job.remove(job.id.as_str()).unwrap_or_default();
    }
    Ok(())
}

fn load_job(conn: &Connection, id: &str) -> Result<Option<Job>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"))?;
    let mut rows = stmt.query(params![id])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let mut job = job_from_row(row)?;
    attach_outputs(conn, std::slice::from_mut(&mut job))?;
    Ok(Some(job))
}

fn require_job(conn: &Connection, id: &str) -> Result<Job, StoreError> {
    load_job(conn, id)?.ok_or_else(|| StoreError::NotFound(id.to_string()))
}

fn times_json(times: &BTreeMap<JobState, Timestamp>) -> String {
    let raw: BTreeMap<JobState, i64> = times.iter().map(|(s, t)| (*s, t.unix_millis())).collect();
    serde_json::to_string(&raw).unwrap_or_else(|_| "{}".into())
}

fn insert_job(tx: &Connection, new: &NewJob, now: Timestamp) -> Result<Event, StoreError> {
    let mut times = BTreeMap::new();
    times.insert(JobState::Queued, now);
    let spec = serde_json::to_string(&new.spec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let num = next_number(tx)?;
    tx.execute(
        "INSERT INTO jobs (id, kind, provider, model, state, spec, prompt, idempotency_key,
                           retry_of, times, created_at, updated_at, num)
         VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11)",
        params![
            new.id.as_str(),
            new.kind.as_str(),
            new.spec.provider,
            new.spec.model,
            spec,
            new.spec.prompt,
            new.idempotency_key,
            new.retry_of.as_ref().map(|r| r.as_str()),
            times_json(&times),
            now.unix_millis(),
            num,
        ],
    )?;
    append(
        tx,
        &new.id,
        now,
        EventBody::Created {
            provider: new.spec.provider.clone(),
            model: new.spec.model.clone(),
        },
    )
}

/// What `create_job` did.
pub enum Created {
    New(Job, Event),
    /// A job with the same idempotency key already existed.
    Existing(Job),
}

impl Store {
    /// Creates a job in `queued`, or returns the job already created with the same
    /// idempotency key.
    pub async fn create_job(&self, new: NewJob) -> Result<Created, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            if let Some(key) = &new.idempotency_key {
                let existing: Option<String> = tx
                    .query_row(
                        "SELECT id FROM jobs WHERE idempotency_key = ?1",
                        params![key],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(id) = existing {
                    return Ok(Created::Existing(require_job(&tx, &id)?));
                }
            }
            let event = insert_job(&tx, &new, Timestamp::now())?;
            let job = require_job(&tx, new.id.as_str())?;
            tx.commit()?;
            Ok(Created::New(job, event))
        })
        .await
    }

    /// Creates many jobs in one transaction (imports, benchmarks). Runners are not started.
    pub async fn create_jobs(&self, jobs: Vec<NewJob>) -> Result<usize, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let now = Timestamp::now();
            for new in &jobs {
                insert_job(&tx, new, now)?;
            }
            tx.commit()?;
            Ok(jobs.len())
        })
        .await
    }

    /// The job a user means by `id` (see [`resolve_id`] for the rule).
    pub async fn get_job(&self, id: String) -> Result<Job, StoreError> {
        self.call(move |conn| {
            let id = resolve_id(conn, &id)?;
            require_job(conn, &id)
        })
        .await
    }

    /// The full id of the job a user means by `id`: its number, its id, or the start of it.
    pub async fn resolve(&self, id: String) -> Result<JobId, StoreError> {
        self.call(move |conn| resolve_id(conn, &id).map(JobId))
            .await
    }

    /// Applies a state change (and what comes with it) and appends its events, in one
    /// transaction. A change the lifecycle does not allow is refused here and nowhere else.
    pub async fn transition(
        &self,
        id: JobId,
        change: Transition,
    ) -> Result<(Job, Vec<Event>), StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let mut job = require_job(&tx, id.as_str())?;
            let now = Timestamp::now();
            let mut events = Vec::new();
            if let Some((call, request_id)) = &change.request {
                job.provider_requests.push(ProviderRequest {
                    call: call.clone(),
                    request_id: request_id.clone(),
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
                    params![id.as_str(), json, now.unix_millis()],
                )?;
            }
            if let Some(ms) = change.generation_ms {
                tx.execute(
                    "UPDATE jobs SET generation_ms = ?2 WHERE id = ?1",
                    params![id.as_str(), ms.min(i64::MAX as u64) as i64],
                )?;
            }
            if let Some(remote_id) = &change.remote_id {
                tx.execute(
                    "UPDATE jobs SET remote_id = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id.as_str(), remote_id, now.unix_millis()],
                )?;
                events.push(append(
                    &tx,
                    &id,
                    now,
                    EventBody::Remote {
                        remote_id: remote_id.clone(),
                        request_id: change.request.as_ref().map(|(_, r)| r.clone()),
                    },
                )?);
            }
            for out in &change.outputs {
                tx.execute(
                    "INSERT INTO outputs (job_id, idx, role, label, format, source_url)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (job_id, idx) DO UPDATE SET
                        role = excluded.role, label = excluded.label,
                        format = excluded.format, source_url = excluded.source_url",
                    params![
                        id.as_str(),
                        out.index,
                        out.role,
                        out.label,
                        out.format,
                        out.source_url
                    ],
                )?;
            }
            if let Some(to) = change.to {
                let from = job.state;
                if !from.can_transition_to(to) {
                    return Err(StoreError::IllegalTransition {
                        id: id.to_string(),
                        from,
                        to,
                    });
                }
                job.times.insert(to, now);
                let finished = to.is_final().then_some(now.unix_millis());
                let (ek, em, er) = match &change.error {
                    Some(e) => (
                        Some(e.kind.as_str()),
                        Some(e.message.as_str()),
                        e.provider_request_id.as_deref(),
                    ),
                    None => (None, None, None),
                };
                tx.execute(
                    "UPDATE jobs SET state = ?2, times = ?3, updated_at = ?4,
                        finished_at = COALESCE(?5, finished_at),
                        progress = CASE WHEN ?2 = 'succeeded' THEN 100 ELSE progress END,
                        error_kind = COALESCE(?6, error_kind),
                        error_message = COALESCE(?7, error_message),
                        error_request_id = COALESCE(?8, error_request_id)
                     WHERE id = ?1",
                    params![
                        id.as_str(),
                        to.as_str(),
                        times_json(&job.times),
                        now.unix_millis(),
                        finished,
                        ek,
                        em,
                        er
                    ],
                )?;
                events.push(append(
                    &tx,
                    &id,
                    now,
                    EventBody::State {
                        from,
                        to,
                        error: change.error.clone(),
                    },
                )?);
            }
            let job = require_job(&tx, id.as_str())?;
            tx.commit()?;
            Ok((job, events))
        })
        .await
    }

    /// Records provider progress; returns the event when it changed.
    pub async fn set_progress(&self, id: JobId, progress: u8) -> Result<Option<Event>, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let changed = tx.execute(
                "UPDATE jobs SET progress = ?2, updated_at = ?3
                 WHERE id = ?1 AND (progress IS NULL OR progress != ?2)
                   AND state NOT IN ('succeeded', 'failed', 'canceled')",
                params![id.as_str(), progress, Timestamp::now().unix_millis()],
            )?;
            let event = if changed > 0 {
                Some(append(
                    &tx,
                    &id,
                    Timestamp::now(),
                    EventBody::Progress { progress },
                )?)
            } else {
                None
            };
            tx.commit()?;
            Ok(event)
        })
        .await
    }

    /// Appends an informational event (a retry, a slowdown, …).
    pub async fn note(&self, id: JobId, message: String) -> Result<Event, StoreError> {
        self.call(move |conn| append(conn, &id, Timestamp::now(), EventBody::Note { message }))
            .await
    }

    /// Records a downloaded, verified output.
    #[allow(clippy::too_many_arguments)]
    pub async fn output_stored(
        &self,
        id: JobId,
        index: u32,
        path: String,
        sha256: String,
        size: u64,
        mime: String,
        dims: Option<(u32, u32)>,
    ) -> Result<Event, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "UPDATE outputs SET path = ?3, sha256 = ?4, size = ?5, mime = ?6, width = ?7,
                    height = ?8 WHERE job_id = ?1 AND idx = ?2",
                params![
                    id.as_str(),
                    index,
                    path,
                    sha256,
                    size as i64,
                    mime,
                    dims.map(|d| d.0),
                    dims.map(|d| d.1)
                ],
            )?;
            tx.execute(
                "UPDATE jobs SET updated_at = ?2 WHERE id = ?1",
                params![id.as_str(), Timestamp::now().unix_millis()],
            )?;
            let ev = append(
                &tx,
                &id,
                Timestamp::now(),
                EventBody::Output { index, path },
            )?;
            tx.commit()?;
            Ok(ev)
        })
        .await
    }

    /// Records an upload of one output to one target, or why it failed.
    pub async fn upload_recorded(
        &self,
        id: JobId,
        index: u32,
        target: String,
        url: Option<String>,
        error: Option<String>,
    ) -> Result<Event, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let now = Timestamp::now();
            tx.execute(
                "INSERT INTO uploads (job_id, idx, target, url, error, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (job_id, idx, target) DO UPDATE SET
                    url = excluded.url, error = excluded.error, at = excluded.at",
                params![id.as_str(), index, target, url, error, now.unix_millis()],
            )?;
            let ev = append(&tx, &id, now, EventBody::Upload { index, target, url, error })?;
            tx.commit()?;
            Ok(ev)
        })
        .await
    }

    /// Outputs of a job as the provider reported them (role, label, format, source URL).
    pub async fn output_records(&self, id: JobId) -> Result<Vec<OutputRecord>, StoreError> {
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT idx, role, label, format, source_url FROM outputs WHERE job_id = ?1 ORDER BY idx",
            )?;
            let rows = stmt
                .query_map(params![id.as_str()], |r| {
                    Ok(OutputRecord {
                        index: r.get(0)?,
                        role: r.get(1)?,
                        label: r.get(2)?,
                        format: r.get(3)?,
                        source_url: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Every job not in a final state, oldest first.
    pub async fn unfinished_jobs(&self) -> Result<Vec<Job>, StoreError> {
        self.call(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs
                 WHERE state NOT IN ('succeeded', 'failed', 'canceled') ORDER BY id"
            ))?;
            let mut rows = stmt.query([])?;
            let mut jobs = Vec::new();
            while let Some(r) = rows.next()? {
                jobs.push(job_from_row(r)?);
            }
            drop(rows);
            attach_outputs(conn, &mut jobs)?;
            Ok(jobs)
        })
        .await
    }

    /// Number of jobs per state.
    pub async fn counts_by_state(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        self.call(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT state, COUNT(*) FROM jobs GROUP BY state")?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
                })?
                .collect::<Result<BTreeMap<_, _>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Run times (in ms) of the latest successful jobs of one model: how long the provider
    /// took as recorded with the move to `fetching`, else (older jobs) submit to `fetching`.
    pub async fn recent_durations(
        &self,
        provider: String,
        model: Option<String>,
        limit: u32,
    ) -> Result<Vec<i64>, StoreError> {
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT times, generation_ms FROM jobs
                 WHERE provider = ?1 AND model IS ?2 AND state = 'succeeded'
                 ORDER BY id DESC LIMIT ?3",
            )?;
            let rows = stmt
                .query_map(params![provider, model, limit], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows
                .iter()
                .filter_map(|(times, generation_ms)| {
                    generation_ms.or_else(|| {
                        let t = serde_json::from_str::<BTreeMap<JobState, i64>>(times).ok()?;
                        Some(t.get(&JobState::Fetching)? - t.get(&JobState::Running)?)
                    })
                })
                .filter(|d| *d >= 0)
                .collect())
        })
        .await
    }

    /// One page of jobs, filtered and sorted on the database side.
    pub async fn list_jobs(&self, p: ListParams) -> Result<JobPage, StoreError> {
        self.call(move |conn| list(conn, &p)).await
    }
}

fn list(conn: &Connection, p: &ListParams) -> Result<JobPage, StoreError> {
    let limit = p
        .limit
        .unwrap_or(LIST_DEFAULT_LIMIT)
        .clamp(1, LIST_MAX_LIMIT);
    let mut filters: Vec<String> = Vec::new();
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if !p.state.is_empty() {
        let marks = vec!["?"; p.state.len()].join(",");
        filters.push(format!("state IN ({marks})"));
        args.extend(p.state.iter().map(|s| s.as_str().to_string().into()));
    }
    if let Some(provider) = &p.provider {
        filters.push("provider = ?".into());
        args.push(provider.clone().into());
    }
    if let Some(retried) = p.retried {
        // One pass over the retries, not one per row.
        let op = if retried { "IN" } else { "NOT IN" };
        filters.push(format!(
            "id {op} (SELECT retry_of FROM jobs WHERE retry_of IS NOT NULL)"
        ));
    }
    if let Some(text) = p.text.as_ref().filter(|t| !t.is_empty()) {
        let escaped = text
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        // A job number finds its job too, as lists show it.
        let num = job_number(text.trim()).map_or(-1, |n| n.min(i64::MAX as u64) as i64);
        filters.push(
            "(prompt LIKE ? ESCAPE '\\' OR model LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\' \
              OR num = ?)"
                .into(),
        );
        let pattern = format!("%{escaped}%");
        args.extend(std::iter::repeat_n(
            rusqlite::types::Value::from(pattern),
            3,
        ));
        args.push(num.into());
    }
    let where_filters = if filters.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", filters.join(" AND "))
    };
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM jobs {where_filters}"),
        params_from_iter(args.iter()),
        |r| r.get(0),
    )?;
    let (cmp, order) = match p.sort {
        Sort::Newest => ("<", "DESC"),
        Sort::Oldest => (">", "ASC"),
    };
    let mut page_filters = filters.clone();
    let mut page_args = args.clone();
    if let Some(cursor) = &p.cursor {
        page_filters.push(format!("id {cmp} ?"));
        page_args.push(cursor.clone().into());
    }
    let where_page = if page_filters.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", page_filters.join(" AND "))
    };
    page_args.push(i64::from(limit).into());
    page_args.push((p.offset.unwrap_or(0) as i64).into());
    let mut stmt = conn.prepare(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs {where_page} ORDER BY id {order} LIMIT ? OFFSET ?"
    ))?;
    let mut rows = stmt.query(params_from_iter(page_args.iter()))?;
    let mut jobs = Vec::new();
    while let Some(r) = rows.next()? {
        jobs.push(job_from_row(r)?);
    }
    drop(rows);
    attach_outputs(conn, &mut jobs)?;
    let next_cursor = if jobs.len() == limit as usize {
        jobs.last().map(|j| j.id.0.clone())
    } else {
        None
    };
    Ok(JobPage {
        jobs,
        next_cursor,
        total: total as u64,
    })
}
