//! Reading the event log behind `seq` (see [`super::appended`] for how it is written).

use super::db::Store;
use super::error::StoreError;
use super::sql::query_rows;
use genq_protocol::{Event, EventBody, JobId, Timestamp};
use rusqlite::params;

/// Events with their job's number, which lives on the job.
const EVENT_SELECT: &str = "SELECT e.seq, e.job_id, e.at, e.body, j.num FROM job_events e \
     LEFT JOIN jobs j ON j.id = e.job_id";

type EventRow = (u64, String, i64, String, Option<i64>);

fn row_to_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventRow> {
    Ok((
        r.get::<_, i64>(0)? as u64,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
    ))
}

fn decode(rows: Vec<EventRow>) -> Result<Vec<Event>, StoreError> {
    rows.into_iter()
        .map(|(seq, job, at, body, num)| {
            let body: EventBody = serde_json::from_str(&body)
                .map_err(|e| StoreError::Corrupt(format!("event {seq}: {e}")))?;
            Ok(Event {
                seq,
                job_id: JobId(job),
                job_num: num.map(|n| n.max(0) as u64),
                at: Timestamp::from_unix_millis(at),
                body,
            })
        })
        .collect()
}

impl Store {
    /// Events with `seq > since`, oldest first, at most `limit`.
    pub async fn events_since(&self, since: u64, limit: u32) -> Result<Vec<Event>, StoreError> {
        self.call(move |conn| {
            let sql = format!("{EVENT_SELECT} WHERE e.seq > ?1 ORDER BY e.seq LIMIT ?2");
            decode(query_rows(
                conn,
                &sql,
                params![since as i64, limit],
                row_to_event,
            )?)
        })
        .await
    }

    /// Every event of one job, oldest first.
    pub async fn events_for_job(&self, id: JobId) -> Result<Vec<Event>, StoreError> {
        self.call(move |conn| {
            let sql = format!("{EVENT_SELECT} WHERE e.job_id = ?1 ORDER BY e.seq");
            decode(query_rows(conn, &sql, params![id.as_str()], row_to_event)?)
        })
        .await
    }

    /// The newest `seq` given out, 0 before the first event. Read from SQLite's sequence
    /// counter, since the newest events may belong to a job removed since.
    pub async fn head_seq(&self) -> Result<u64, StoreError> {
        self.call(|conn| {
            let seq: Option<i64> = conn.query_row(
                "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'job_events'), 0),
                            COALESCE((SELECT MAX(seq) FROM job_events), 0))",
                [],
                |r| r.get(0),
            )?;
            Ok(seq.unwrap_or(0) as u64)
        })
        .await
    }
}
