//! Creating jobs, reading and listing them, and recording what happens to them besides state
//! changes (progress, notes, outputs, uploads). State changes go through
//! [`Store::transition`](super::transition).

use super::appended::append;
use super::db::Store;
use super::error::StoreError;
use super::ids::{next_number, resolve_id};
use super::rows::{
    JOB_COLUMNS, OutputRecord, attach_outputs, job_from_row, require_job, times_json,
};
use super::sql::{query_rows, query_value};
use genq_protocol::job::OutputRole;
use genq_protocol::{Event, EventBody, Job, JobId, JobKind, JobSpec, JobState, Timestamp};
use rusqlite::{Connection, params};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A downloaded, verified output on disk, as its job records it.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputFile {
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
    pub mime: String,
    /// Width and height in pixels, for an image.
    pub dims: Option<(u32, u32)>,
}

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
                let existing: Option<String> = query_value(
                    tx,
                    "SELECT id FROM jobs WHERE idempotency_key = ?1",
                    params![key],
                )?;
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
        self.read(move |conn| {
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
    pub async fn output_stored(
        &self,
        id: JobId,
        index: u32,
        file: OutputFile,
    ) -> Result<Event, StoreError> {
        self.write(move |tx| {
            let path = file.path.display().to_string();
            tx.execute(
                "UPDATE outputs SET path = ?3, sha256 = ?4, size = ?5, mime = ?6, width = ?7,
                    height = ?8 WHERE job_id = ?1 AND idx = ?2",
                params![
                    id.as_str(),
                    index,
                    path,
                    file.sha256,
                    file.size as i64,
                    file.mime,
                    file.dims.map(|d| d.0),
                    file.dims.map(|d| d.1)
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

    /// Every job past `queued` and not in a final state, oldest first: the jobs a start
    /// resumes (queued ones wait in the database for their provider's admitter).
    pub async fn started_jobs(&self) -> Result<Vec<Job>, StoreError> {
        self.call(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs
                 WHERE state IN ('submitting', 'running', 'fetching', 'storing') ORDER BY id"
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
        self.read(|conn| {
            counts(
                conn,
                "SELECT state, SUM(n) FROM job_counts GROUP BY state HAVING SUM(n) > 0",
            )
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
            let rows: Vec<(String, Option<i64>)> = query_rows(
                conn,
                "SELECT times, generation_ms FROM jobs
                 WHERE provider = ?1 AND model IS ?2 AND state = 'succeeded'
                 ORDER BY id DESC LIMIT ?3",
                params![provider, model, limit],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
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

    /// Up to `limit` ids of `provider`'s queued jobs, oldest first, after `after`.
    pub async fn queued_ids(
        &self,
        provider: String,
        after: Option<JobId>,
        limit: u32,
    ) -> Result<Vec<JobId>, StoreError> {
        self.call(move |conn| {
            query_rows(
                conn,
                "SELECT id FROM jobs WHERE state = 'queued' AND provider = ?1 AND id > ?2
                 ORDER BY id LIMIT ?3",
                params![provider, after.as_ref().map_or("", |a| a.as_str()), limit],
                |r| Ok(JobId(r.get(0)?)),
            )
        })
        .await
    }

    /// How many jobs wait in `queued`, per provider.
    pub async fn queued_per_provider(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        self.call(|conn| {
            counts(
                conn,
                "SELECT provider, n FROM job_counts WHERE state = 'queued' AND n > 0",
            )
        })
        .await
    }
}

/// A count per name from `job_counts`: `sql` selects the name and its count.
fn counts(conn: &Connection, sql: &str) -> Result<BTreeMap<String, u64>, StoreError> {
    let rows = query_rows(conn, sql, [], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
    })?;
    Ok(rows.into_iter().collect())
}
