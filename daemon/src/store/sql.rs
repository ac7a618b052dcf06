//! Small helpers the tables' code shares: the rows of a query, one value of a query, a value
//! as a JSON column.

use super::error::StoreError;
use rusqlite::types::FromSql;
use rusqlite::{Connection, OptionalExtension, Params, Row};

/// Every row of a query, each mapped by `row`.
pub(super) fn query_rows<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The first column of a query's first row, `None` when it has no row.
pub(super) fn query_value<T: FromSql>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> Result<Option<T>, StoreError> {
    Ok(conn.query_row(sql, params, |r| r.get(0)).optional()?)
}

/// A value as stored in a JSON text column.
pub(super) fn json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}
