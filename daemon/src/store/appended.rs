//! Appending to the event log behind `seq`: in the same transaction as the change it
//! announces; the store thread sends what was appended on the bus once that transaction has
//! committed.

use super::error::StoreError;
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
