//! How people name jobs: by number (`42`), by full id, or by a unique start of the id. The
//! one place that turns what a user typed into a job, and that hands out the numbers.

use super::error::StoreError;
use super::sql::query_value;
use rusqlite::{Connection, OptionalExtension, params};

/// Shortest start of an id accepted: the first 4 characters change only every 50 days, and
/// fewer would name nearly every job.
pub const MIN_PREFIX: usize = 4;

/// Finds the one job a user means. The rule, in order:
/// 1. digits without a leading zero (`42`) are a job number, and nothing else;
/// 2. a full job id (any case) is that job;
/// 3. hex digits and dashes, at least [`MIN_PREFIX`] of them, are the start of one job's id;
///    several matches are an error.
///
/// Ids are UUIDv7s, whose first character stays `0` until the year 2527, so no id prefix
/// reads as a number and a number never needs telling apart from a prefix.
pub(super) fn resolve_id(conn: &Connection, given: &str) -> Result<String, StoreError> {
    let given = given.trim();
    if let Some(num) = job_number(given) {
        return resolve_number(conn, given, num);
    }
    let lowered = given.to_ascii_lowercase();
    let exact: Option<String> = conn
        .prepare_cached("SELECT id FROM jobs WHERE id IN (?1, ?2) LIMIT 1")?
        .query_row(params![given, lowered], |r| r.get(0))
        .optional()?;
    if let Some(id) = exact {
        return Ok(id);
    }
    if lowered.len() < MIN_PREFIX || !lowered.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(StoreError::Invalid {
            field: "id".into(),
            message: format!("{given:?} is not a job number or id"),
            allowed: Some(format!(
                "a job number (as lists show it, e.g. 42), a full job id, or at least \
                 {MIN_PREFIX} characters of one"
            )),
        });
    }
    // Ids are lowercase hex with dashes, so a range scan on the primary key finds prefixes.
    let upper = format!("{lowered}\u{10FFFF}");
    let mut stmt =
        conn.prepare_cached("SELECT id FROM jobs WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT 2")?;
    let found: Vec<String> = stmt
        .query_map(params![lowered, upper], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    match <[String; 1]>::try_from(found) {
        Ok([id]) => Ok(id),
        Err(found) if found.is_empty() => Err(StoreError::NotFound(given.to_string())),
        Err(_) => {
            let count: i64 = conn.query_row(
                "SELECT COUNT(*) FROM jobs WHERE id >= ?1 AND id < ?2",
                params![lowered, upper],
                |r| r.get(0),
            )?;
            Err(StoreError::Ambiguous {
                prefix: given.to_string(),
                count: count as usize,
            })
        }
    }
}

/// `given` as a job number: decimal digits, no sign, no leading zero.
pub(super) fn job_number(given: &str) -> Option<u64> {
    let digits = given.starts_with(|c: char| c.is_ascii_digit() && c != '0')
        && given.chars().all(|c| c.is_ascii_digit());
    // Too large to be a number any home reaches: still a number, one that names no job.
    digits.then(|| given.parse().unwrap_or(u64::MAX))
}

fn resolve_number(conn: &Connection, given: &str, num: u64) -> Result<String, StoreError> {
    let found: Option<String> = conn
        .prepare_cached("SELECT id FROM jobs WHERE num = ?1")?
        .query_row(params![num.min(i64::MAX as u64) as i64], |r| r.get(0))
        .optional()?;
    match found {
        Some(id) => Ok(id),
        None => Err(StoreError::NoJobNumber {
            given: given.to_string(),
            last: last_number(conn)?,
        }),
    }
}

/// The number given to the newest job so far (0 before the first).
fn last_number(conn: &Connection) -> Result<u64, StoreError> {
    let last: Option<i64> = query_value(
        conn,
        "SELECT value FROM counters WHERE name = 'job_num'",
        [],
    )?;
    Ok(last.unwrap_or(0).max(0) as u64)
}

/// Takes the next job number, in the transaction that inserts the job: the number and the
/// job are committed together or not at all.
pub(super) fn next_number(tx: &Connection) -> Result<i64, StoreError> {
    Ok(tx
        .prepare_cached(
            "UPDATE counters SET value = value + 1 WHERE name = 'job_num' RETURNING value",
        )?
        .query_row([], |r| r.get(0))?)
}
