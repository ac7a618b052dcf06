//! `jobs.list`: one page of jobs, filtered and sorted on the database side, in a fixed
//! number of queries whatever the page's size (the page, its outputs, their uploads, and the
//! count). The count is kept between calls while the database has not changed, so paging
//! through a large, quiet list does not count every row again for every page.

use super::db::Store;
use super::error::StoreError;
use super::ids::job_number;
use super::rows::{JOB_COLUMNS, attach_outputs, job_from_row};
use genq_protocol::methods::{JobPage, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, ListParams, Sort};
use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};
use std::cell::RefCell;
use std::collections::HashMap;

impl Store {
    /// One page of jobs, filtered and sorted on the database side.
    pub async fn list_jobs(&self, p: ListParams) -> Result<JobPage, StoreError> {
        self.call(move |conn| list(conn, &p)).await
    }
}

/// A list's filters as SQL conditions and their arguments.
struct Filters {
    conditions: Vec<String>,
    args: Vec<Value>,
}

impl Filters {
    fn of(p: &ListParams) -> Filters {
        let mut conditions: Vec<String> = Vec::new();
        let mut args: Vec<Value> = Vec::new();
        if !p.state.is_empty() {
            let marks = vec!["?"; p.state.len()].join(",");
            conditions.push(format!("state IN ({marks})"));
            args.extend(p.state.iter().map(|s| s.as_str().to_string().into()));
        }
        if let Some(provider) = &p.provider {
            conditions.push("provider = ?".into());
            args.push(provider.clone().into());
        }
        if let Some(retried) = p.retried {
            // One pass over the retries, not one per row.
            let op = if retried { "IN" } else { "NOT IN" };
            conditions.push(format!(
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
            conditions.push(
                "(prompt LIKE ? ESCAPE '\\' OR model LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\' \
                  OR num = ?)"
                    .into(),
            );
            let pattern = format!("%{escaped}%");
            args.extend(std::iter::repeat_n(Value::from(pattern), 3));
            args.push(num.into());
        }
        Filters { conditions, args }
    }

    fn clause(conditions: &[String]) -> String {
        if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        }
    }
}

fn list(conn: &Connection, p: &ListParams) -> Result<JobPage, StoreError> {
    let limit = p
        .limit
        .unwrap_or(LIST_DEFAULT_LIMIT)
        .clamp(1, LIST_MAX_LIMIT);
    let filters = Filters::of(p);
    let total = count(conn, &filters)?;
    let (cmp, order) = match p.sort {
        Sort::Newest => ("<", "DESC"),
        Sort::Oldest => (">", "ASC"),
    };
    let mut conditions = filters.conditions;
    let mut args = filters.args;
    if let Some(cursor) = &p.cursor {
        conditions.push(format!("id {cmp} ?"));
        args.push(cursor.clone().into());
    }
    args.push(i64::from(limit).into());
    args.push((p.offset.unwrap_or(0) as i64).into());
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs {} ORDER BY id {order} LIMIT ? OFFSET ?",
        Filters::clause(&conditions)
    ))?;
    let mut rows = stmt.query(params_from_iter(args.iter()))?;
    let mut jobs = Vec::with_capacity(limit as usize);
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
        total,
    })
}

/// Counts are kept while the database is as it was when they were taken: no row changed
/// through this connection (`total_changes`) and no other connection committed
/// (`data_version`).
#[derive(Default)]
struct Totals {
    stamp: (u64, i64),
    by_filter: HashMap<String, u64>,
}

/// Different filters kept at once, at most (a TUI and a few scripts).
const TOTALS_KEPT: usize = 16;

thread_local! {
    /// On the store thread, which runs every query.
    static TOTALS: RefCell<Totals> = RefCell::new(Totals::default());
}

/// How many jobs match `filters`.
fn count(conn: &Connection, filters: &Filters) -> Result<u64, StoreError> {
    let data_version: i64 = conn
        .prepare_cached("PRAGMA data_version")?
        .query_row([], |r| r.get(0))?;
    let stamp = (conn.total_changes(), data_version);
    let clause = Filters::clause(&filters.conditions);
    let key = format!("{clause} {:?}", filters.args);
    let kept = TOTALS.with(|t| {
        let t = t.borrow();
        (t.stamp == stamp)
            .then(|| t.by_filter.get(&key).copied())
            .flatten()
    });
    if let Some(total) = kept {
        return Ok(total);
    }
    let total: i64 = conn
        .prepare_cached(&format!("SELECT COUNT(*) FROM jobs {clause}"))?
        .query_row(params_from_iter(filters.args.iter()), |r| r.get(0))?;
    let total = total.max(0) as u64;
    TOTALS.with(|t| {
        let mut t = t.borrow_mut();
        if t.stamp != stamp || t.by_filter.len() >= TOTALS_KEPT {
            t.stamp = stamp;
            t.by_filter.clear();
        }
        t.by_filter.insert(key, total);
    });
    Ok(total)
}
