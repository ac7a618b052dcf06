//! Creating jobs, reading and listing them, and recording what happens to them besides state
//! changes (progress, notes, outputs, uploads). State changes go through
//! [`Store::transition`](super::transition).

use super::appended::append;
use super::db::Store;
use super::error::StoreError;
use super::ids::{job_number, next_number, resolve_id};
use super::rows::{
    JOB_COLUMNS, OutputRecord, attach_outputs, job_from_row, require_job, times_json,
};
use super::sql::query_rows;
use genq_protocol::job::OutputRole;
use genq_protocol::methods::{JobPage, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, ListParams, Sort};
use genq_protocol::{Event, EventBody, Job, JobId, JobKind, JobSpec, JobState, Timestamp};
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
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
        self.write(move |tx| {
            if let Some(key) = &new.idempotency_key {
                let existing: Option<String> = tx
                    .query_row(
                        "SELECT id FROM jobs WHERE idempotency_key = ?1",
                        params![key],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(id) = existing {
                    return Ok(Created::Existing(require_job(tx, &id)?));
                }
            }
            let event = insert_job(tx, &new, Timestamp::now())?;
            let job = require_job(tx, new.id.as_str())?;
            Ok(Created::New(job, event))
        })
        .await
    }

    /// Creates many jobs in one transaction (imports, benchmarks). Runners are not started.
    pub async fn create_jobs(&self, jobs: Vec<NewJob>) -> Result<usize, StoreError> {
        self.write(move |tx| {
            let now = Timestamp::now();
            for new in &jobs {
                insert_job(tx, new, now)?;
            }
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

    /// Records provider progress; returns the event when it changed.
    pub async fn set_progress(&self, id: JobId, progress: u8) -> Result<Option<Event>, StoreError> {
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE jobs SET progress = ?2, updated_at = ?3
                 WHERE id = ?1 AND (progress IS NULL OR progress != ?2)
                   AND state NOT IN ('succeeded', 'failed', 'canceled')",
                params![id.as_str(), progress, Timestamp::now().unix_millis()],
            )?;
            let event = if changed > 0 {
                Some(append(
                    tx,
                    &id,
                    Timestamp::now(),
                    EventBody::Progress { progress },
                )?)
            } else {
                None
            };
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
        self.write(move |tx| {
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
            let ev = append(tx, &id, Timestamp::now(), EventBody::Output { index, path })?;
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
        self.write(move |tx| {
            let now = Timestamp::now();
            tx.execute(
                "INSERT INTO uploads (job_id, idx, target, url, error, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (job_id, idx, target) DO UPDATE SET
                    url = excluded.url, error = excluded.error, at = excluded.at",
                params![id.as_str(), index, target, url, error, now.unix_millis()],
            )?;
            let ev = append(tx, &id, now, EventBody::Upload { index, target, url, error })?;
            Ok(ev)
        })
        .await
    }

    /// Outputs of a job as the provider reported them (role, label, format, source URL).
    pub async fn output_records(&self, id: JobId) -> Result<Vec<OutputRecord>, StoreError> {
        self.call(move |conn| {
            query_rows(
                conn,
                "SELECT idx, role, label, format, source_url FROM outputs WHERE job_id = ?1
                 ORDER BY idx",
                params![id.as_str()],
                |r| {
                    Ok(OutputRecord {
                        index: r.get(0)?,
                        // A role this version does not know is downloaded as an image.
                        role: r.get::<_, String>(1)?.parse().unwrap_or(OutputRole::Image),
                        label: r.get(2)?,
                        format: r.get(3)?,
                        source_url: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                    })
                },
            )
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
