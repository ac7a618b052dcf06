//! Reading and writing a model's rows (the model, its parameters, capabilities and
//! categories), with the checks that need the database.

use super::error::StoreError;
use super::sql::{json, query_rows, query_value};
use genq_protocol::catalog::{Model, ModelInput, ModelParam};
use rusqlite::{Connection, params};

pub(super) fn invalid(field: impl Into<String>, message: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        field: field.into(),
        message: message.into(),
        allowed: None,
    }
}

pub(super) fn names(conn: &Connection, sql: &str) -> Result<Vec<String>, StoreError> {
    query_rows(conn, sql, [], |r| r.get(0))
}

/// Finds a model's row by `supplier:id` or a unique id.
pub(super) fn resolve_model(conn: &Connection, model: &str) -> Result<i64, StoreError> {
    if let Some((supplier, id)) = model.split_once(':') {
        let found: Option<i64> = query_value(
            conn,
            "SELECT rowid_ FROM models WHERE supplier = ?1 AND model_id = ?2",
            params![supplier, id],
        )?;
        if let Some(row) = found {
            return Ok(row);
        }
    }
    let rows: Vec<i64> = query_rows(
        conn,
        "SELECT rowid_ FROM models WHERE model_id = ?1",
        params![model],
        |r| r.get(0),
    )?;
    match rows.as_slice() {
        [one] => Ok(*one),
        [] => Err(StoreError::NotFoundWhat {
            what: "model",
            name: model.to_string(),
        }),
        _ => Err(StoreError::AmbiguousWhat {
            what: "model",
            name: model.to_string(),
            hint: "name it as supplier:id".into(),
        }),
    }
}

pub(super) fn load_model(conn: &Connection, row: i64) -> Result<Model, StoreError> {
    let mut m = conn
        .prepare_cached(
            "SELECT supplier, model_id, display_name, description, kind, sub_type, lora_family,
                active, builtin, removed_at
         FROM models WHERE rowid_ = ?1",
        )?
        .query_row(params![row], |r| {
            let supplier: String = r.get(0)?;
            let id: String = r.get(1)?;
            Ok(Model {
                key: format!("{supplier}:{id}"),
                supplier,
                id,
                display_name: r.get(2)?,
                description: r.get(3)?,
                kind: r.get(4)?,
                sub_type: r.get(5)?,
                lora_family: r.get(6)?,
                active: r.get(7)?,
                builtin: r.get(8)?,
                removed: r.get::<_, Option<i64>>(9)?.is_some(),
                default_for: Vec::new(),
                capabilities: Vec::new(),
                categories: Vec::new(),
                params: Vec::new(),
            })
        })?;
    let list = |sql: &str| query_rows(conn, sql, params![row], |r| r.get(0));
    m.capabilities =
        list("SELECT capability FROM model_capabilities WHERE model = ?1 ORDER BY capability")?;
    m.categories =
        list("SELECT category FROM model_categories WHERE model = ?1 ORDER BY category")?;
    m.default_for = list("SELECT name FROM capabilities WHERE default_model = ?1 ORDER BY name")?;
    let mut stmt = conn.prepare_cached(
        "SELECT name, kind, default_value, min, max, allowed, description
         FROM model_params WHERE model = ?1 ORDER BY pos, name",
    )?;
    let mut rows = stmt.query(params![row])?;
    while let Some(r) = rows.next()? {
        let name: String = r.get(0)?;
        let kind: String = r.get(1)?;
        let default: Option<String> = r.get(2)?;
        let allowed: String = r.get(5)?;
        let bad = |e: String| StoreError::Corrupt(format!("model {} parameter {name}: {e}", m.key));
        m.params.push(ModelParam {
            kind: kind.parse().map_err(bad)?,
            default: default
                .map(|d| serde_json::from_str(&d))
                .transpose()
                .map_err(|e| bad(e.to_string()))?,
            min: r.get(3)?,
            max: r.get(4)?,
            allowed: serde_json::from_str(&allowed).map_err(|e| bad(e.to_string()))?,
            description: r.get(6)?,
            name,
        });
    }
    Ok(m)
}

pub(super) fn check_refs(
    tx: &Connection,
    capabilities: &[String],
    categories: &[String],
) -> Result<(), StoreError> {
    let known_caps = names(tx, "SELECT name FROM capabilities ORDER BY name")?;
    check_known(&known_caps, capabilities, "capabilities", "capability")?;
    let known_cats = names(tx, "SELECT name FROM categories ORDER BY name")?;
    check_known(&known_cats, categories, "categories", "category")
}

/// Refuses the first of `given` that is not `known`, naming it as `field[i]`.
fn check_known(
    known: &[String],
    given: &[String],
    field: &str,
    what: &str,
) -> Result<(), StoreError> {
    match given.iter().enumerate().find(|(_, c)| !known.contains(c)) {
        Some((i, c)) => Err(StoreError::Invalid {
            field: format!("{field}[{i}]"),
            message: format!("unknown {what} {c:?}"),
            allowed: Some(known.join(", ")),
        }),
        None => Ok(()),
    }
}

pub(super) fn write_links(
    tx: &Connection,
    row: i64,
    capabilities: Option<&[String]>,
    categories: Option<&[String]>,
) -> Result<(), StoreError> {
    if capabilities.is_some() {
        tx.execute(
            "DELETE FROM model_capabilities WHERE model = ?1",
            params![row],
        )?;
        // A model that loses a capability stops being its default.
        tx.execute(
            "UPDATE capabilities SET default_model = NULL WHERE default_model = ?1",
            params![row],
        )?;
    }
    if categories.is_some() {
        tx.execute(
            "DELETE FROM model_categories WHERE model = ?1",
            params![row],
        )?;
    }
    add_links(
        tx,
        row,
        capabilities.unwrap_or_default(),
        categories.unwrap_or_default(),
    )
}

/// Links a model to more capabilities and categories; the links it has stay.
pub(super) fn add_links(
    tx: &Connection,
    row: i64,
    capabilities: &[String],
    categories: &[String],
) -> Result<(), StoreError> {
    for c in capabilities {
        tx.execute(
            "INSERT OR IGNORE INTO model_capabilities (model, capability) VALUES (?1, ?2)",
            params![row, c],
        )?;
    }
    for c in categories {
        tx.execute(
            "INSERT OR IGNORE INTO model_categories (model, category) VALUES (?1, ?2)",
            params![row, c],
        )?;
    }
    Ok(())
}

pub(super) fn write_param(
    tx: &Connection,
    row: i64,
    pos: usize,
    p: &ModelParam,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO model_params (model, name, kind, default_value, min, max, allowed, description, pos)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (model, name) DO UPDATE SET kind = excluded.kind,
            default_value = excluded.default_value, min = excluded.min, max = excluded.max,
            allowed = excluded.allowed, description = excluded.description",
        params![
            row,
            p.name,
            p.kind.as_str(),
            p.default.as_ref().map(json).transpose()?,
            p.min,
            p.max,
            json(&p.allowed)?,
            p.description,
            pos as i64,
        ],
    )?;
    Ok(())
}

pub(super) fn insert_model(
    tx: &Connection,
    m: &ModelInput,
    builtin: bool,
    now: i64,
) -> Result<i64, StoreError> {
    tx.execute(
        "INSERT INTO models (supplier, model_id, display_name, description, kind, sub_type,
                             lora_family, active, builtin, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        params![
            m.supplier,
            m.id,
            m.display_name.clone().unwrap_or_else(|| m.id.clone()),
            m.description,
            m.kind,
            m.sub_type,
            m.lora_family,
            m.active,
            builtin,
            now,
        ],
    )?;
    let row = tx.last_insert_rowid();
    for (i, p) in m.params.iter().enumerate() {
        write_param(tx, row, i, p)?;
    }
    write_links(tx, row, Some(&m.capabilities), Some(&m.categories))?;
    Ok(row)
}
