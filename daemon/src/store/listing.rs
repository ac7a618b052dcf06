//! `jobs.list`: one page of jobs, filtered and sorted on the database side, in a fixed
//! number of queries whatever the page's size (the page and the count). Each job comes as
//! the JSON text the store keeps for it (see `wire`), so a page is copied, not rebuilt. A list filtered by state and provider alone is counted from `job_counts`, which
//! triggers keep, so a page costs the same with 100 jobs or 1,000,000.

use super::db::Store;
use super::error::StoreError;
use super::ids::job_number;
use super::wire::{self, TextPage, WirePage};
use genq_protocol::methods::{JobPage, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, ListParams, Sort};
use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};
use serde_json::value::RawValue;

impl Store {
    /// One page of jobs, filtered and sorted on the database side. After a full page of the
    /// largest size (a client walking a whole listing), the next page is read ahead, so the
    /// reader works on it while this one travels and is read.
    pub async fn list_jobs(&self, p: ListParams) -> Result<WirePage, StoreError> {
        let page = match self.read_ahead().take(&p) {
            Some(ahead) => ahead.await.map_err(|_| StoreError::Closed)??,
            None => {
                let asked = p.clone();
                self.read(move |conn| list(conn, &asked)).await?
            }
        };
        if p.limit == Some(LIST_MAX_LIMIT)
            && let Some(cursor) = &page.next_cursor
        {
            let next = ListParams {
                cursor: Some(cursor.clone()),
                ..p
            };
            let asked = next.clone();
            let ahead = self.read_later(move |conn| list(conn, &asked));
            self.read_ahead().keep(next, ahead);
        }
        checked(page)
    }
}

/// A list's filters as SQL conditions and their arguments.
struct Filters {
    conditions: Vec<String>,
    args: Vec<Value>,
    /// No condition but on `state` and `provider`, the columns `job_counts` has too.
    by_state_and_provider_only: bool,
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
        Filters {
            conditions,
            args,
            by_state_and_provider_only: p.retried.is_none()
                && p.text.as_ref().is_none_or(|t| t.is_empty()),
        }
    }

    fn clause(conditions: &[String]) -> String {
        if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        }
    }
}

fn list(conn: &Connection, p: &ListParams) -> Result<TextPage, StoreError> {
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
    let unfiltered = filters.conditions.is_empty();
    let mut conditions = filters.conditions;
    let mut args = filters.args;
    if let Some(cursor) = &p.cursor {
        conditions.push(format!("id {cmp} ?"));
        args.push(cursor.clone().into());
    }
    args.push(i64::from(limit).into());
    args.push((p.offset.unwrap_or(0) as i64).into());
    // Without filters, the compact table of texts alone, read in id order; with them, each
    // matching job's text.
    let from = if unfiltered {
        "SELECT id, text FROM job_wire"
    } else {
        "SELECT id, (SELECT text FROM job_wire AS w WHERE w.id = jobs.id) FROM jobs"
    };
    let mut stmt = conn.prepare_cached(&format!(
        "{from} {} ORDER BY id {order} LIMIT ? OFFSET ?",
        Filters::clause(&conditions)
    ))?;
    let rows = stmt
        .query_map(params_from_iter(args.iter()), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if rows.len() == limit as usize {
        rows.last().map(|(id, _)| id.clone())
    } else {
        None
    };
    Ok(JobPage {
        jobs: wire::fill_missing(conn, rows)?,
        next_cursor,
        total,
    })
}

/// A page of texts checked as JSON, off the reader's thread: the reader goes on with the
/// page read ahead meanwhile.
fn checked(page: TextPage) -> Result<WirePage, StoreError> {
    let jobs = page
        .jobs
        .into_iter()
        .map(|text| {
            RawValue::from_string(text)
                .map_err(|e| StoreError::Corrupt(format!("a job's stored JSON: {e}")))
        })
        .collect::<Result<_, _>>()?;
    Ok(JobPage {
        jobs,
        next_cursor: page.next_cursor,
        total: page.total,
    })
}

/// How many jobs match `filters`: from the counts per state and provider when those are
/// all it asks about, else by counting the matching rows.
fn count(conn: &Connection, filters: &Filters) -> Result<u64, StoreError> {
    let from = if filters.by_state_and_provider_only {
        "SELECT COALESCE(SUM(n), 0) FROM job_counts"
    } else {
        "SELECT COUNT(*) FROM jobs"
    };
    let total: i64 = conn
        .prepare_cached(&format!("{from} {}", Filters::clause(&filters.conditions)))?
        .query_row(params_from_iter(filters.args.iter()), |r| r.get(0))?;
    Ok(total.max(0) as u64)
}
