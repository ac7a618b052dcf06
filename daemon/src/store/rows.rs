//! Reading jobs and their outputs from their rows: one shape of a job for every query.

use super::error::StoreError;
use genq_protocol::job::OutputRole;
use genq_protocol::{Job, JobError, JobErrorKind, JobId, JobState, Output, Timestamp, Upload};
use rusqlite::{Connection, Row, params, params_from_iter};
use std::collections::BTreeMap;

/// An output as the provider reported it, before it is downloaded.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputRecord {
    pub index: u32,
    pub role: OutputRole,
    pub label: Option<String>,
    pub format: Option<String>,
    pub source_url: String,
}

pub(super) const JOB_COLUMNS: &str = "id, kind, provider, model, state, progress, spec, remote_id, \
    idempotency_key, retry_of, error_kind, error_message, error_request_id, times, created_at, \
    updated_at, finished_at, generation_ms, provider_requests, num";

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
pub(super) fn attach_outputs(conn: &Connection, jobs: &mut [Job]) -> Result<(), StoreError> {
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

pub(super) fn load_job(conn: &Connection, id: &str) -> Result<Option<Job>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"))?;
    let mut rows = stmt.query(params![id])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let mut job = job_from_row(row)?;
    attach_outputs(conn, std::slice::from_mut(&mut job))?;
    Ok(Some(job))
}

pub(super) fn require_job(conn: &Connection, id: &str) -> Result<Job, StoreError> {
    load_job(conn, id)?.ok_or_else(|| StoreError::NotFound(id.to_string()))
}

pub(super) fn times_json(times: &BTreeMap<JobState, Timestamp>) -> String {
    let raw: BTreeMap<JobState, i64> = times.iter().map(|(s, t)| (*s, t.unix_millis())).collect();
    serde_json::to_string(&raw).unwrap_or_else(|_| "{}".into())
}
