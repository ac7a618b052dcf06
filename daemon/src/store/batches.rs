//! Batches and their rows. A row is sent as a job under an idempotency key made of the
//! batch, the row and the attempt, and the job's id is recorded on the row afterwards; a row
//! without a job id is still to send, so a restart sends it again under the same key and gets
//! the job created before, never a second one.

use super::db::Store;
use super::error::StoreError;
use super::rows::load_job;
use super::sql::{json, query_rows, query_value};
use genq_protocol::batch::{BatchCounts, BatchInfo, BatchRow, PlannedJob};
use genq_protocol::{Job, JobId, JobSpec, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

/// The error a row of a canceled batch that was never sent carries.
const CANCELED: &str = "canceled";

/// A batch about to be created.
#[derive(Clone, Debug)]
pub struct NewBatch {
    pub name: String,
    /// `cli` or `inbox`.
    pub source: String,
    /// A batch with the same key is not created twice (an inbox file seen again).
    pub source_key: Option<String>,
    pub base_dir: Option<String>,
    pub rows: Vec<NewBatchRow>,
}

/// A planned job as a batch row, with the hash of its spec that finds jobs to reuse.
#[derive(Clone, Debug)]
pub struct NewBatchRow {
    pub job: PlannedJob,
    pub spec_hash: String,
}

/// A row waiting to be sent.
#[derive(Clone, Debug)]
pub struct PendingRow {
    pub index: u64,
    pub spec: JobSpec,
    pub attempt: u32,
    pub retry_of: Option<JobId>,
}

/// A row as the batch's follower needs it once its job ended.
#[derive(Clone, Debug)]
pub struct RowOutput {
    pub batch_id: u64,
    pub index: u64,
    pub output: Option<String>,
    pub copied: bool,
    pub job: Job,
}

/// What creating a batch did.
pub enum BatchCreated {
    New(BatchInfo),
    /// A batch with the same source key existed.
    Existing(BatchInfo),
}

const INFO_COLUMNS: &str = "id, name, source, created_at, finished_at, canceled, manifest";

fn info_from(conn: &Connection, id: u64) -> Result<BatchInfo, StoreError> {
    let info = conn
        .query_row(
            &format!("SELECT {INFO_COLUMNS} FROM batches WHERE id = ?1"),
            params![id as i64],
            |r| {
                Ok(BatchInfo {
                    id: r.get::<_, i64>(0)? as u64,
                    name: r.get(1)?,
                    source: r.get(2)?,
                    created_at: Timestamp::from_unix_millis(r.get(3)?),
                    finished_at: r.get::<_, Option<i64>>(4)?.map(Timestamp::from_unix_millis),
                    canceled: r.get(5)?,
                    counts: BatchCounts::default(),
                    manifest: r.get(6)?,
                })
            },
        )
        .optional()?;
    let mut info = info.ok_or_else(|| StoreError::NotFoundWhat {
        what: "batch",
        name: id.to_string(),
    })?;
    info.counts = counts(conn, id)?;
    Ok(info)
}

fn counts(conn: &Connection, id: u64) -> Result<BatchCounts, StoreError> {
    let sql = "SELECT COUNT(*),
        COALESCE(SUM(br.job_id IS NULL AND br.error IS NULL), 0),
        COALESCE(SUM(j.state IN ('queued','submitting','running','fetching','storing')), 0),
        COALESCE(SUM(j.state = 'succeeded'), 0),
        COALESCE(SUM(j.state = 'failed' OR (br.job_id IS NULL AND br.error != ?2)), 0),
        COALESCE(SUM(j.state = 'canceled' OR (br.job_id IS NULL AND br.error = ?2)
                     OR (br.job_id IS NOT NULL AND j.id IS NULL)), 0)
        FROM batch_rows br LEFT JOIN jobs j ON j.id = br.job_id WHERE br.batch_id = ?1";
    Ok(conn.query_row(sql, params![id as i64, CANCELED], |r| {
        let n = |i: usize| r.get::<_, i64>(i).map(|v| v as u64);
        Ok(BatchCounts {
            total: n(0)?,
            pending: n(1)?,
            in_flight: n(2)?,
            succeeded: n(3)?,
            failed: n(4)?,
            canceled: n(5)?,
        })
    })?)
}

fn insert_batch(tx: &Connection, new: &NewBatch) -> Result<u64, StoreError> {
    tx.execute(
        "INSERT INTO batches (name, source, source_key, base_dir, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            new.name,
            new.source,
            new.source_key,
            new.base_dir,
            Timestamp::now().unix_millis()
        ],
    )?;
    let id = tx.last_insert_rowid() as u64;
    let mut stmt = tx.prepare_cached(
        "INSERT INTO batch_rows (batch_id, idx, source_row, spec, spec_hash, output, job_id,
                                 reused)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for NewBatchRow { job, spec_hash } in &new.rows {
        stmt.execute(params![
            id as i64,
            job.index as i64,
            job.row as i64,
            json(&job.spec)?,
            spec_hash,
            job.output,
            job.reuses.as_ref().map(|j| j.as_str()),
            job.reuses.is_some(),
        ])?;
    }
    Ok(id)
}

impl Store {
    /// Creates a batch with its rows in one transaction, or returns the batch already made
    /// with the same source key.
    pub async fn create_batch(&self, new: NewBatch) -> Result<BatchCreated, StoreError> {
        self.write(move |tx| {
            if let Some(key) = &new.source_key {
                let existing: Option<i64> = query_value(
                    tx,
                    "SELECT id FROM batches WHERE source_key = ?1",
                    params![key],
                )?;
                if let Some(id) = existing {
                    return Ok(BatchCreated::Existing(info_from(tx, id as u64)?));
                }
            }
            let id = insert_batch(tx, &new)?;
            Ok(BatchCreated::New(info_from(tx, id)?))
        })
        .await
    }

    /// For each spec hash, a succeeded job some batch row ran with exactly that spec.
    pub async fn succeeded_with(
        &self,
        hashes: Vec<String>,
    ) -> Result<Vec<Option<JobId>>, StoreError> {
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT br.job_id FROM batch_rows br JOIN jobs j ON j.id = br.job_id
                 WHERE br.spec_hash = ?1 AND j.state = 'succeeded' LIMIT 1",
            )?;
            let mut found = Vec::with_capacity(hashes.len());
            for hash in &hashes {
                let id: Option<String> = stmt.query_row(params![hash], |r| r.get(0)).optional()?;
                found.push(id.map(JobId));
            }
            Ok(found)
        })
        .await
    }

    pub async fn batch_info(&self, id: u64) -> Result<BatchInfo, StoreError> {
        self.call(move |conn| info_from(conn, id)).await
    }

    /// Every batch, newest first.
    pub async fn list_batches(&self) -> Result<Vec<BatchInfo>, StoreError> {
        self.call(|conn| {
            let ids = query_rows(conn, "SELECT id FROM batches ORDER BY id DESC", [], |r| {
                r.get::<_, i64>(0)
            })?;
            ids.into_iter()
                .map(|id| info_from(conn, id as u64))
                .collect()
        })
        .await
    }

    /// Batches that still have rows to send or jobs to follow.
    pub async fn unfinished_batches(&self) -> Result<Vec<u64>, StoreError> {
        self.call(|conn| {
            let ids = query_rows(
                conn,
                "SELECT id FROM batches WHERE finished_at IS NULL ORDER BY id",
                [],
                |r| r.get::<_, i64>(0),
            )?;
            Ok(ids.into_iter().map(|id| id as u64).collect())
        })
        .await
    }

    /// Up to `limit` rows still to send, in order; none once the batch is canceled.
    pub async fn pending_rows(&self, id: u64, limit: u32) -> Result<Vec<PendingRow>, StoreError> {
        self.call(move |conn| {
            let rows = query_rows(
                conn,
                "SELECT br.idx, br.spec, br.attempt, br.prev_job FROM batch_rows br
                 JOIN batches b ON b.id = br.batch_id
                 WHERE br.batch_id = ?1 AND br.job_id IS NULL AND br.error IS NULL
                   AND b.canceled = 0
                 ORDER BY br.idx LIMIT ?2",
                params![id as i64, limit],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, u32>(2)?,
                        r.get::<_, Option<String>>(3)?,
                    ))
                },
            )?;
            rows.into_iter()
                .map(|(index, spec, attempt, prev)| {
                    Ok(PendingRow {
                        index: index as u64,
                        spec: serde_json::from_str(&spec)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        attempt,
                        retry_of: prev.map(JobId),
                    })
                })
                .collect()
        })
        .await
    }

    /// Records the job each row was sent as, or why the engine refused it, in one write.
    pub async fn set_row_jobs(
        &self,
        id: u64,
        sent: Vec<(u64, Result<JobId, String>)>,
    ) -> Result<(), StoreError> {
        self.write(move |tx| {
            let mut stmt = tx.prepare_cached(
                "UPDATE batch_rows SET job_id = ?3, error = ?4 WHERE batch_id = ?1 AND idx = ?2",
            )?;
            for (index, job) in sent {
                let (job_id, error) = match job {
                    Ok(j) => (Some(j.0), None),
                    Err(e) => (None, Some(e)),
                };
                stmt.execute(params![id as i64, index as i64, job_id, error])?;
            }
            Ok(())
        })
        .await
    }

    /// The batch row a job belongs to, with the job.
    pub async fn row_of_job(&self, job: JobId) -> Result<Option<RowOutput>, StoreError> {
        self.call(move |conn| {
            let row = conn
                .query_row(
                    "SELECT batch_id, idx, output, copied IS NOT NULL FROM batch_rows
                     WHERE job_id = ?1 ORDER BY batch_id DESC LIMIT 1",
                    params![job.as_str()],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, Option<String>>(2)?,
                            r.get::<_, bool>(3)?,
                        ))
                    },
                )
                .optional()?;
            let Some((batch_id, index, output, copied)) = row else {
                return Ok(None);
            };
            let Some(job) = load_job(conn, job.as_str())? else {
                return Ok(None);
            };
            Ok(Some(RowOutput {
                batch_id: batch_id as u64,
                index: index as u64,
                output,
                copied,
                job,
            }))
        })
        .await
    }

    /// Rows of a batch whose job succeeded and whose files are not copied yet.
    pub async fn rows_to_copy(&self, id: u64) -> Result<Vec<RowOutput>, StoreError> {
        self.call(move |conn| {
            let rows = query_rows(
                conn,
                "SELECT br.idx, br.output, br.job_id FROM batch_rows br
                 JOIN jobs j ON j.id = br.job_id
                 WHERE br.batch_id = ?1 AND br.output IS NOT NULL AND br.copied IS NULL
                   AND j.state = 'succeeded'",
                params![id as i64],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                },
            )?;
            let mut out = Vec::new();
            for (index, output, job_id) in rows {
                if let Some(job) = load_job(conn, &job_id)? {
                    out.push(RowOutput {
                        batch_id: id,
                        index: index as u64,
                        output,
                        copied: false,
                        job,
                    });
                }
            }
            Ok(out)
        })
        .await
    }

    /// Records where a row's files were copied.
    pub async fn set_row_copied(
        &self,
        id: u64,
        index: u64,
        paths: Vec<String>,
    ) -> Result<(), StoreError> {
        self.write(move |tx| {
            tx.execute(
                "UPDATE batch_rows SET copied = ?3 WHERE batch_id = ?1 AND idx = ?2",
                params![id as i64, index as i64, json(&paths)?],
            )?;
            Ok(())
        })
        .await
    }

    /// Whether every row of the batch has ended (none to send, no job unfinished).
    pub async fn batch_done(&self, id: u64) -> Result<bool, StoreError> {
        self.call(move |conn| {
            // From the last row back: the rows still open are mostly at the end, so the
            // scan stops early, whatever the batch's size.
            let open: Option<i64> = query_value(
                conn,
                "SELECT br.idx FROM batch_rows br LEFT JOIN jobs j ON j.id = br.job_id
                     WHERE br.batch_id = ?1 AND ((br.job_id IS NULL AND br.error IS NULL)
                       OR j.state IN ('queued','submitting','running','fetching','storing'))
                     ORDER BY br.idx DESC LIMIT 1",
                params![id as i64],
            )?;
            Ok(open.is_none())
        })
        .await
    }

    /// Marks the batch finished, with where its manifest was written.
    pub async fn finish_batch(&self, id: u64, manifest: Option<String>) -> Result<(), StoreError> {
        self.write(move |tx| {
            tx.execute(
                "UPDATE batches SET finished_at = ?2, manifest = COALESCE(?3, manifest)
                 WHERE id = ?1",
                params![id as i64, Timestamp::now().unix_millis(), manifest],
            )?;
            Ok(())
        })
        .await
    }

    /// The batch's name and where its relative outputs and manifest go.
    pub async fn batch_place(&self, id: u64) -> Result<(String, Option<String>), StoreError> {
        self.call(move |conn| {
            conn.query_row(
                "SELECT name, base_dir FROM batches WHERE id = ?1",
                params![id as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFoundWhat {
                what: "batch",
                name: id.to_string(),
            })
        })
        .await
    }

    /// The batch's rows, in order, each with its job.
    pub async fn batch_rows(&self, id: u64) -> Result<Vec<BatchRow>, StoreError> {
        self.call(move |conn| {
            info_from(conn, id)?;
            let rows = query_rows(
                conn,
                "SELECT idx, source_row, spec, job_id, output, copied, reused, error
                 FROM batch_rows WHERE batch_id = ?1 ORDER BY idx",
                params![id as i64],
                |r| {
                    Ok((
                        (r.get::<_, i64>(0)?, r.get::<_, i64>(1)?),
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, bool>(6)?,
                        r.get::<_, Option<String>>(7)?,
                    ))
                },
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for ((index, row), spec, job_id, output, copied, reused, error) in rows {
                let spec: JobSpec =
                    serde_json::from_str(&spec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let job = match &job_id {
                    Some(j) => load_job(conn, j)?,
                    None => None,
                };
                let refused = error.map(|message| genq_protocol::JobError {
                    kind: genq_protocol::JobErrorKind::InvalidParams,
                    message,
                    provider_request_id: None,
                });
                out.push(BatchRow {
                    index: index as u64,
                    row: row as u64,
                    prompt: spec.prompt,
                    job_id: job_id.map(JobId),
                    job_num: job.as_ref().and_then(|j| j.num),
                    state: job.as_ref().map(|j| j.state),
                    error: job.as_ref().and_then(|j| j.error.clone()).or(refused),
                    output,
                    copied: copied
                        .and_then(|c| serde_json::from_str(&c).ok())
                        .unwrap_or_default(),
                    outputs: job.map(|j| j.outputs).unwrap_or_default(),
                    reused,
                });
            }
            Ok(out)
        })
        .await
    }

    /// Cancels a batch: its rows not yet sent never will be. Returns the batch's unfinished
    /// jobs for the engine to cancel, queued ones first: a slot freed by a running one must
    /// not go to a job of the same batch.
    pub async fn cancel_batch(&self, id: u64) -> Result<Vec<JobId>, StoreError> {
        self.write(move |tx| {
            info_from(tx, id)?;
            tx.execute(
                "UPDATE batches SET canceled = 1 WHERE id = ?1",
                params![id as i64],
            )?;
            tx.execute(
                "UPDATE batch_rows SET error = ?2
                 WHERE batch_id = ?1 AND job_id IS NULL AND error IS NULL",
                params![id as i64, CANCELED],
            )?;
            let ids = query_rows(
                tx,
                "SELECT br.job_id FROM batch_rows br JOIN jobs j ON j.id = br.job_id
                 WHERE br.batch_id = ?1
                   AND j.state IN ('queued','submitting','running','fetching','storing')
                 ORDER BY j.state != 'queued', br.idx",
                params![id as i64],
                |r| r.get::<_, String>(0),
            )?;
            Ok(ids.into_iter().map(JobId).collect())
        })
        .await
    }

    /// Makes a batch's failed and canceled rows pending again, each with its next attempt
    /// (a new idempotency key) pointing back at the job it retries. Returns how many.
    pub async fn retry_batch(&self, id: u64) -> Result<u64, StoreError> {
        self.write(move |tx| {
            info_from(tx, id)?;
            let n = tx.execute(
                "UPDATE batch_rows SET prev_job = (SELECT id FROM jobs WHERE id = batch_rows.job_id), job_id = NULL,
                        error = NULL, copied = NULL, reused = 0, attempt = attempt + 1
                 WHERE batch_id = ?1 AND (error IS NOT NULL OR job_id IN
                   (SELECT id FROM jobs WHERE state IN ('failed', 'canceled'))
                   OR (job_id IS NOT NULL AND job_id NOT IN (SELECT id FROM jobs)))",
                params![id as i64],
            )?;
            if n > 0 {
                tx.execute(
                    "UPDATE batches SET canceled = 0, finished_at = NULL WHERE id = ?1",
                    params![id as i64],
                )?;
            }
            Ok(n as u64)
        })
        .await
    }
}
