//! Deleting finished jobs (`genq rm`, `genq clean`): the job, its outputs, uploads and events
//! go in one transaction, each announced by a `removed` event.

use super::appended::append;
use super::db::Store;
use super::error::StoreError;
use super::ids::resolve_id;
use super::rows::{JOB_COLUMNS, job_from_row};
use genq_protocol::{Event, EventBody, Job, JobState, Timestamp};
use rusqlite::{Connection, params, params_from_iter};

/// Which final jobs `genq clean` takes.
#[derive(Clone, Debug, Default)]
pub struct CleanFilter {
    /// Final states only; all of them when empty.
    pub states: Vec<JobState>,
    pub created_before: Option<Timestamp>,
    pub provider: Option<String>,
}

/// Jobs removed (oldest first, without their outputs) and the events announcing it.
#[derive(Debug, Default)]
pub struct Removal {
    pub jobs: Vec<Job>,
    pub events: Vec<Event>,
}

impl Store {
    /// Removes the jobs named by `ids` (ids or unique prefixes). Refuses all of them when
    /// one is not final, naming every such job.
    pub async fn remove_jobs(
        &self,
        ids: Vec<String>,
        outputs: bool,
    ) -> Result<Removal, StoreError> {
        self.write(move |tx| {
            let mut jobs: Vec<Job> = Vec::new();
            for id in &ids {
                let id = resolve_id(tx, id)?;
                if jobs.iter().all(|j| j.id.as_str() != id) {
                    jobs.push(load_row(tx, &id)?);
                }
            }
            let active: Vec<_> = jobs
                .iter()
                .filter(|j| !j.state.is_final())
                .map(|j| (j.id.clone(), j.state))
                .collect();
            if !active.is_empty() {
                return Err(StoreError::Unfinished(active));
            }
            jobs.sort_by(|a, b| a.id.cmp(&b.id));
            let events = delete(tx, &jobs, outputs)?;
            Ok(Removal { jobs, events })
        })
        .await
    }

    /// Removes the final jobs matching `filter`, or with `dry_run` only finds them.
    pub async fn clean_jobs(
        &self,
        filter: CleanFilter,
        outputs: bool,
        dry_run: bool,
    ) -> Result<Removal, StoreError> {
        self.write(move |tx| {
            let jobs = select(tx, &filter)?;
            if dry_run {
                return Ok(Removal {
                    jobs,
                    events: Vec::new(),
                });
            }
            let events = delete(tx, &jobs, outputs)?;
            Ok(Removal { jobs, events })
        })
        .await
    }
}

fn load_row(conn: &Connection, id: &str) -> Result<Job, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"))?;
    let mut rows = stmt.query(params![id])?;
    match rows.next()? {
        Some(row) => job_from_row(row),
        None => Err(StoreError::NotFound(id.to_string())),
    }
}

fn select(conn: &Connection, filter: &CleanFilter) -> Result<Vec<Job>, StoreError> {
    let states: Vec<JobState> = if filter.states.is_empty() {
        JobState::ALL.into_iter().filter(|s| s.is_final()).collect()
    } else {
        filter
            .states
            .iter()
            .copied()
            .filter(|s| s.is_final())
            .collect()
    };
    if states.is_empty() {
        return Ok(Vec::new());
    }
    let mut args: Vec<rusqlite::types::Value> = states
        .iter()
        .map(|s| s.as_str().to_string().into())
        .collect();
    let mut sql = format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE state IN ({})",
        vec!["?"; states.len()].join(",")
    );
    if let Some(before) = filter.created_before {
        sql.push_str(" AND created_at < ?");
        args.push(before.unix_millis().into());
    }
    if let Some(provider) = &filter.provider {
        sql.push_str(" AND provider = ?");
        args.push(provider.clone().into());
    }
    sql.push_str(" ORDER BY id");
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(params_from_iter(args.iter()))?;
    let mut jobs = Vec::new();
    while let Some(r) = rows.next()? {
        jobs.push(job_from_row(r)?);
    }
    Ok(jobs)
}

/// Deletes the jobs with everything that points at them. A job retried from one of them
/// keeps its own record and loses only the link. The `removed` event takes the next `seq`
/// and is then deleted with the job's other events: live subscribers get it, and a client
/// replaying from an older `seq` sees the gap and refetches.
fn delete(conn: &Connection, jobs: &[Job], outputs: bool) -> Result<Vec<Event>, StoreError> {
    let now = Timestamp::now();
    let mut events = Vec::with_capacity(jobs.len());
    for job in jobs {
        let id = job.id.as_str();
        conn.prepare_cached("UPDATE jobs SET retry_of = NULL WHERE retry_of = ?1")?
            .execute(params![id])?;
        conn.prepare_cached("DELETE FROM uploads WHERE job_id = ?1")?
            .execute(params![id])?;
        conn.prepare_cached("DELETE FROM outputs WHERE job_id = ?1")?
            .execute(params![id])?;
        events.push(append(conn, &job.id, now, EventBody::Removed { outputs })?);
        conn.prepare_cached("DELETE FROM job_events WHERE job_id = ?1")?
            .execute(params![id])?;
        conn.prepare_cached("DELETE FROM jobs WHERE id = ?1")?
            .execute(params![id])?;
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Created, NewJob, Transition};
    use genq_protocol::{JobError, JobErrorKind, JobId, JobKind, JobSpec};

    async fn job(s: &Store, retry_of: Option<JobId>, end: Option<JobState>) -> JobId {
        let new = NewJob {
            id: JobId(uuid::Uuid::now_v7().to_string()),
            kind: JobKind::Image,
            spec: JobSpec {
                provider: "modelscope".into(),
                prompt: "p".into(),
                ..JobSpec::default()
            },
            idempotency_key: None,
            retry_of,
        };
        let Ok(Created::New(job, _)) = s.create_job(new).await else {
            panic!("not created")
        };
        let change = match end {
            Some(JobState::Canceled) => Transition::Canceled,
            Some(JobState::Failed) => Transition::Failed(JobError {
                kind: JobErrorKind::Provider,
                message: "failed".into(),
                provider_request_id: None,
            }),
            Some(other) => panic!("no test job ends {other}"),
            None => return job.id,
        };
        s.transition(job.id.clone(), change).await.unwrap();
        job.id
    }

    #[tokio::test]
    async fn removal_is_all_or_nothing_keeps_retries_and_never_moves_the_head_back() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _t) = Store::open(&dir.path().join("genq.db")).unwrap();
        let old = job(&s, None, Some(JobState::Canceled)).await;
        let busy = job(&s, None, None).await;
        let newer = job(&s, Some(old.clone()), Some(JobState::Canceled)).await;

        let err = s
            .remove_jobs(vec![old.0.clone(), busy.0.clone()], false)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Unfinished(j) if j[0].0 == busy),
            "{err}"
        );
        assert!(err.to_string().contains(busy.as_str()));
        assert!(s.get_job(old.0.clone()).await.is_ok());

        let head = s.head_seq().await.unwrap();
        // The newest events are the removed job's own: the head must not fall back.
        let removal = s.remove_jobs(vec![newer.0.clone()], true).await.unwrap();
        assert_eq!(removal.events.len(), 1);
        assert_eq!(removal.events[0].seq, head + 1);
        assert_eq!(removal.events[0].body, EventBody::Removed { outputs: true });
        assert_eq!(s.head_seq().await.unwrap(), head + 1);

        s.remove_jobs(vec![old.0.clone()], false).await.unwrap();
        assert!(matches!(
            s.get_job(old.0.clone()).await,
            Err(StoreError::NotFound(_))
        ));
        let dangling: i64 = s
            .call(|c| {
                Ok(
                    c.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
                        r.get(0)
                    })?,
                )
            })
            .await
            .unwrap();
        assert_eq!(dangling, 0);

        let retried = job(&s, Some(busy.clone()), Some(JobState::Failed)).await;
        let filter = CleanFilter {
            states: vec![JobState::Failed],
            ..CleanFilter::default()
        };
        let dry = s.clean_jobs(filter.clone(), false, true).await.unwrap();
        assert_eq!(dry.jobs.len(), 1);
        assert!(dry.events.is_empty());
        assert!(s.get_job(retried.0.clone()).await.is_ok());
        let past = CleanFilter {
            created_before: Some(Timestamp::from_unix_millis(0)),
            ..CleanFilter::default()
        };
        assert!(
            s.clean_jobs(past, false, false)
                .await
                .unwrap()
                .jobs
                .is_empty()
        );
        let done = s.clean_jobs(filter, false, false).await.unwrap();
        assert_eq!(done.jobs[0].id, retried);
        assert_eq!(
            s.get_job(busy.0.clone()).await.unwrap().state,
            JobState::Queued
        );
    }
}
