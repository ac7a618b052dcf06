//! Each job's JSON as `jobs.list` sends it, kept in `job_wire` so a listing copies text
//! instead of rebuilding every row and its outputs. The text is derived from the job's rows
//! by `serde` alone, the one home of the wire shape: triggers clear it in the transaction of
//! any change to a job, its outputs or their uploads (migration 8), and the store thread
//! renders the cleared texts again, before each group of writes commits and whenever it is
//! idle. A job listed without its text is rendered on the spot.

use super::error::StoreError;
use super::rows::{JOB_COLUMNS, attach_outputs, job_from_row};
use genq_protocol::methods::JobPage;
use rusqlite::{Connection, params, params_from_iter};
use serde_json::value::RawValue;
use std::collections::HashMap;

/// A page of jobs as their JSON text, ready to be sent as it is.
pub type WirePage = JobPage<Box<RawValue>>;
/// A page of jobs' texts as the database holds them, not yet checked as JSON.
pub(super) type TextPage = JobPage<String>;

/// Rows rendered at most before a group of writes commits: the rows the group changed come
/// first in a quiet store; a larger backlog (an upgraded database) is left to idle time.
pub(super) const BEFORE_COMMIT: usize = 512;
/// The jobs without their text, after `?1`, at most `?2`: only ever the missing ones, through
/// their index, so statistics gathered while many were missing never turn this into a scan of
/// every text.
const MISSING: &str = "SELECT id FROM job_wire INDEXED BY job_wire_missing
    WHERE text IS NULL AND id > ?1 ORDER BY id LIMIT ?2";
/// Rows rendered in one idle transaction, so a write waits at most one such step.
pub(super) const IDLE_STEP: usize = 64;

/// The jobs `ids` as their wire JSON, each beside its id; ids of no job are left out. A row
/// that cannot be read is an error, as it is for every other read.
pub(super) fn render(conn: &Connection, ids: &[&str]) -> Result<Vec<(String, String)>, StoreError> {
    let mut rendered = Vec::with_capacity(ids.len());
    // SQLite caps the variables of one statement.
    for chunk in ids.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(",");
        let mut stmt = conn.prepare(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id IN ({marks})"
        ))?;
        let mut rows = stmt.query(params_from_iter(chunk.iter()))?;
        let mut jobs = Vec::with_capacity(chunk.len());
        while let Some(r) = rows.next()? {
            jobs.push(job_from_row(r)?);
        }
        drop(rows);
        attach_outputs(conn, &mut jobs)?;
        for job in jobs {
            let text = serde_json::to_string(&job)
                .map_err(|e| StoreError::Corrupt(format!("job {}: {e}", job.id.0)))?;
            rendered.push((job.id.0, text));
        }
    }
    Ok(rendered)
}

/// Renders up to `limit` jobs without their text, of ids after `after`, in id order, and
/// stores the text. Returns the last id it looked at (to go on from), or `None` when no such
/// job was left. A job that cannot be rendered keeps no text and is skipped; listings read
/// it (and report it) the usual way.
pub(super) fn refresh(
    conn: &Connection,
    after: &str,
    limit: usize,
) -> Result<Option<String>, StoreError> {
    let ids: Vec<String> = conn
        .prepare_cached(MISSING)?
        .query_map(params![after, limit as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let Some(last) = ids.last().cloned() else {
        return Ok(None);
    };
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let rendered = match render(conn, &refs) {
        Ok(rendered) => rendered,
        // One damaged row must not hold back the others: render them one by one.
        Err(_) => refs
            .iter()
            .filter_map(|id| render(conn, &[id]).ok())
            .flatten()
            .collect(),
    };
    let mut store = conn.prepare_cached("UPDATE job_wire SET text = ?2 WHERE id = ?1")?;
    for (id, text) in &rendered {
        store.execute(params![id, text])?;
    }
    Ok(Some(last))
}

/// The wire text of the listed rows `(id, text)`, rendering those that have none yet, in
/// the order given.
pub(super) fn fill_missing(
    conn: &Connection,
    rows: Vec<(String, Option<String>)>,
) -> Result<Vec<String>, StoreError> {
    let missing: Vec<&str> = rows
        .iter()
        .filter(|(_, text)| text.is_none())
        .map(|(id, _)| id.as_str())
        .collect();
    let mut rendered: HashMap<String, String> = if missing.is_empty() {
        HashMap::new()
    } else {
        render(conn, &missing)?.into_iter().collect()
    };
    rows.into_iter()
        .map(|(id, text)| match text {
            Some(text) => Ok(text),
            None => rendered.remove(&id).ok_or_else(|| StoreError::NotFound(id)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_texts_are_found_through_their_index_after_statistics_saw_many() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("genq.db")).unwrap();
        super::super::migrations::check_and_migrate(&mut conn, dir.path()).unwrap();
        conn.execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
             INSERT INTO jobs (id, kind, provider, state, spec, prompt, created_at, updated_at)
             SELECT printf('0190-%06d', i), 'image', 'dashscope', 'succeeded',
                    '{\"provider\":\"dashscope\",\"prompt\":\"p\"}', 'p', i, i FROM n;
             ANALYZE;",
        )
        .unwrap();
        let mut after = String::new();
        while let Some(last) = refresh(&conn, &after, 500).unwrap() {
            after = last;
        }
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {MISSING}"))
            .unwrap()
            .query_map(params!["", 10], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            plan.iter().any(|step| step.contains("job_wire_missing")),
            "{plan:?}"
        );
        assert_eq!(refresh(&conn, "", 10).unwrap(), None);
    }
}
