//! The event log behind `seq`: appended in the same transaction as the change it announces,
//! and sent on the bus by the store thread once that transaction has committed.

use super::StoreError;
use genq_protocol::{Event, EventBody, JobId, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};
use std::cell::RefCell;

thread_local! {
    /// Events appended by the write running now on this (the store) thread, in `seq` order.
    static APPENDED: RefCell<Vec<Event>> = const { RefCell::new(Vec::new()) };
}

/// The events appended since the last call, for publication (or dropping) by the store
/// thread when the write that appended them ends.
pub(super) fn take_appended() -> Vec<Event> {
    APPENDED.with(|a| std::mem::take(&mut *a.borrow_mut()))
}

pub(super) fn append(
    conn: &Connection,
    job_id: &JobId,
    at: Timestamp,
    body: EventBody,
) -> Result<Event, StoreError> {
    let json = serde_json::to_string(&body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    conn.prepare_cached("INSERT INTO job_events (job_id, at, body) VALUES (?1, ?2, ?3)")?
        .execute(params![job_id.as_str(), at.unix_millis(), json])?;
    let seq = conn.last_insert_rowid() as u64;
    let job_num: Option<i64> = conn
        .prepare_cached("SELECT num FROM jobs WHERE id = ?1")?
        .query_row(params![job_id.as_str()], |r| r.get(0))
        .optional()?
        .flatten();
    let event = Event {
        seq,
        job_id: job_id.clone(),
        job_num: job_num.map(|n| n.max(0) as u64),
        at,
        body,
    };
    APPENDED.with(|a| a.borrow_mut().push(event.clone()));
    Ok(event)
}

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

impl super::Store {
    /// Events with `seq > since`, oldest first, at most `limit`.
    pub async fn events_since(&self, since: u64, limit: u32) -> Result<Vec<Event>, StoreError> {
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "{EVENT_SELECT} WHERE e.seq > ?1 ORDER BY e.seq LIMIT ?2"
            ))?;
            let rows = stmt
                .query_map(params![since as i64, limit], row_to_event)?
                .collect::<Result<Vec<_>, _>>()?;
            decode(rows)
        })
        .await
    }

    /// Every event of one job, oldest first.
    pub async fn events_for_job(&self, id: JobId) -> Result<Vec<Event>, StoreError> {
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "{EVENT_SELECT} WHERE e.job_id = ?1 ORDER BY e.seq"
            ))?;
            let rows = stmt
                .query_map(params![id.as_str()], row_to_event)?
                .collect::<Result<Vec<_>, _>>()?;
            decode(rows)
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
