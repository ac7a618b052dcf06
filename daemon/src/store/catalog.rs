//! Catalog tables: suppliers, models with parameters, capabilities (and the default model of
//! each) and the category tree. Checks that need the database (does the supplier exist, is
//! the id taken) are made here, inside the write transaction.

use super::catalog_rows::{
    check_refs, insert_model, invalid, load_model, names, resolve_model, write_links, write_param,
};
use super::db::Store;
use super::error::StoreError;
use super::sql::{query_rows, query_value};
use genq_protocol::Timestamp;
use genq_protocol::catalog::{
    Capability, Category, Model, ModelEdit, ModelInput, ModelsListParams, Supplier,
};
use rusqlite::{OptionalExtension, Transaction, params};
use std::collections::BTreeMap;

impl Store {
    pub async fn suppliers(&self) -> Result<Vec<Supplier>, StoreError> {
        self.call(|conn| {
            query_rows(
                conn,
                "SELECT name, display_name, base_url, docs_url, needs_key, active
                 FROM suppliers ORDER BY name",
                [],
                |r| {
                    Ok(Supplier {
                        name: r.get(0)?,
                        display_name: r.get(1)?,
                        base_url: r.get(2)?,
                        docs_url: r.get(3)?,
                        needs_key: r.get(4)?,
                        active: r.get(5)?,
                    })
                },
            )
        })
        .await
    }

    pub async fn list_models(&self, p: ModelsListParams) -> Result<Vec<Model>, StoreError> {
        self.read(move |conn| {
            let rows: Vec<i64> = query_rows(
                conn,
                "SELECT m.rowid_ FROM models m
                 WHERE (?1 IS NULL OR m.supplier = ?1)
                   AND (?2 IS NULL OR EXISTS (SELECT 1 FROM model_capabilities c
                                              WHERE c.model = m.rowid_ AND c.capability = ?2))
                   AND (?3 OR m.removed_at IS NULL)
                 ORDER BY m.supplier, m.builtin DESC, m.model_id",
                params![p.supplier, p.capability, p.include_removed],
                |r| r.get(0),
            )?;
            rows.into_iter().map(|r| load_model(conn, r)).collect()
        })
        .await
    }

    pub async fn get_model(&self, model: String) -> Result<Model, StoreError> {
        self.call(move |conn| load_model(conn, resolve_model(conn, &model)?))
            .await
    }

    /// A model by supplier and id, `None` when the catalog does not know it.
    pub async fn find_model(
        &self,
        supplier: String,
        id: String,
    ) -> Result<Option<Model>, StoreError> {
        self.call(move |conn| {
            let row: Option<i64> = query_value(
                conn,
                "SELECT rowid_ FROM models WHERE supplier = ?1 AND model_id = ?2",
                params![supplier, id],
            )?;
            row.map(|r| load_model(conn, r)).transpose()
        })
        .await
    }

    /// The default model of a capability, unless it is removed or inactive.
    pub async fn default_model(&self, capability: String) -> Result<Option<Model>, StoreError> {
        self.read(move |conn| {
            let row: Option<i64> = conn
                .prepare_cached(
                    "SELECT m.rowid_ FROM capabilities c JOIN models m ON m.rowid_ = c.default_model
                     WHERE c.name = ?1 AND m.removed_at IS NULL AND m.active",
                )?
                .query_row(
                    params![capability],
                    |r| r.get(0),
                )
                .optional()?;
            row.map(|r| load_model(conn, r)).transpose()
        })
        .await
    }

    pub async fn add_model(&self, m: ModelInput) -> Result<Model, StoreError> {
        self.write_catalog(move |tx| {
            let supplier_known: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM suppliers WHERE name = ?1)",
                params![m.supplier],
                |r| r.get(0),
            )?;
            if !supplier_known {
                let known = names(tx, "SELECT name FROM suppliers ORDER BY name")?;
                return Err(StoreError::Invalid {
                    field: "supplier".into(),
                    message: format!("unknown supplier {:?}", m.supplier),
                    allowed: Some(known.join(", ")),
                });
            }
            let existing: Option<Option<i64>> = query_value(tx, "SELECT removed_at FROM models WHERE supplier = ?1 AND model_id = ?2", params![m.supplier, m.id])?;
            match existing {
                Some(Some(_)) => {
                    return Err(invalid(
                        "id",
                        format!(
                            "{}:{} exists but was removed; restore it with `genq models restore {}:{}`",
                            m.supplier, m.id, m.supplier, m.id
                        ),
                    ));
                }
                Some(None) => {
                    return Err(invalid(
                        "id",
                        format!("{}:{} is already in the catalog; edit it instead", m.supplier, m.id),
                    ));
                }
                None => {}
            }
            check_refs(tx, &m.capabilities, &m.categories)?;
            let row = insert_model(tx, &m, false, Timestamp::now().unix_millis())?;
            let model = load_model(tx, row)?;
            Ok(model)
        })
        .await
    }

    pub async fn edit_model(&self, e: ModelEdit) -> Result<Model, StoreError> {
        let model = e.model.clone();
        self.change_model(model, move |tx, row| {
            check_refs(
                tx,
                e.capabilities.as_deref().unwrap_or_default(),
                e.categories.as_deref().unwrap_or_default(),
            )?;
            let now = Timestamp::now().unix_millis();
            tx.execute(
                "UPDATE models SET
                    display_name = COALESCE(?2, display_name),
                    description = COALESCE(?3, description),
                    sub_type = COALESCE(?4, sub_type),
                    lora_family = CASE WHEN ?5 IS NULL THEN lora_family
                                       WHEN ?5 = '' THEN NULL ELSE ?5 END,
                    active = COALESCE(?6, active),
                    edited = 1, updated_at = ?7
                 WHERE rowid_ = ?1",
                params![
                    row,
                    e.display_name,
                    e.description,
                    e.sub_type,
                    e.lora_family,
                    e.active,
                    now
                ],
            )?;
            write_links(tx, row, e.capabilities.as_deref(), e.categories.as_deref())?;
            let existing: i64 = tx.query_row(
                "SELECT COUNT(*) FROM model_params WHERE model = ?1",
                params![row],
                |r| r.get(0),
            )?;
            for (i, p) in e.set_params.iter().enumerate() {
                write_param(tx, row, existing as usize + i, p)?;
            }
            for (i, name) in e.drop_params.iter().enumerate() {
                let n = tx.execute(
                    "DELETE FROM model_params WHERE model = ?1 AND name = ?2",
                    params![row, name],
                )?;
                if n == 0 {
                    return Err(invalid(
                        format!("drop_params[{i}]"),
                        format!("the model has no parameter {name:?}"),
                    ));
                }
            }
            Ok(())
        })
        .await
    }

    /// Changes one model, named as people name it, in one transaction; returns it as changed.
    async fn change_model(
        &self,
        model: String,
        change: impl FnOnce(&Transaction<'_>, i64) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<Model, StoreError> {
        self.write_catalog(move |tx| {
            let row = resolve_model(tx, &model)?;
            change(tx, row)?;
            load_model(tx, row)
        })
        .await
    }

    /// Soft delete (`removed = true`) or restore.
    pub async fn set_model_removed(
        &self,
        model: String,
        removed: bool,
    ) -> Result<Model, StoreError> {
        self.change_model(model, move |tx, row| {
            let now = Timestamp::now().unix_millis();
            tx.execute(
                "UPDATE models SET removed_at = CASE WHEN ?2 THEN COALESCE(removed_at, ?3) END,
                    edited = 1, updated_at = ?3 WHERE rowid_ = ?1",
                params![row, removed, now],
            )?;
            Ok(())
        })
        .await
    }

    /// Makes the model the default of `capability` (one of its capabilities).
    pub async fn set_default_model(
        &self,
        model: String,
        capability: Option<String>,
    ) -> Result<Model, StoreError> {
        self.change_model(model, move |tx, row| {
            let m = load_model(tx, row)?;
            if m.removed || !m.active {
                return Err(invalid(
                    "model",
                    format!(
                        "{} is {}; only active models can be defaults",
                        m.key,
                        if m.removed { "removed" } else { "inactive" }
                    ),
                ));
            }
            let cap = match capability {
                Some(c) if m.capabilities.contains(&c) => c,
                Some(c) => {
                    return Err(StoreError::Invalid {
                        field: "capability".into(),
                        message: format!("{} does not have capability {c:?}", m.key),
                        allowed: Some(m.capabilities.join(", ")),
                    });
                }
                None if m.capabilities.len() == 1 => m.capabilities[0].clone(),
                None => {
                    return Err(StoreError::Invalid {
                        field: "capability".into(),
                        message: format!(
                            "{} has {} capabilities; say which one it becomes the default of",
                            m.key,
                            m.capabilities.len()
                        ),
                        allowed: Some(m.capabilities.join(", ")),
                    });
                }
            };
            tx.execute(
                "UPDATE capabilities SET default_model = ?1 WHERE name = ?2",
                params![row, cap],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn capabilities(&self) -> Result<Vec<Capability>, StoreError> {
        self.call(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT c.name, c.display_name, c.input_types, c.output_types, c.domain,
                        m.supplier || ':' || m.model_id
                 FROM capabilities c LEFT JOIN models m
                   ON m.rowid_ = c.default_model AND m.removed_at IS NULL
                 ORDER BY c.domain, c.name",
            )?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let list = |i: usize| -> Result<Vec<String>, StoreError> {
                    let s: String = r.get(i)?;
                    serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(e.to_string()))
                };
                out.push(Capability {
                    name: r.get(0)?,
                    display_name: r.get(1)?,
                    input_types: list(2)?,
                    output_types: list(3)?,
                    domain: r.get(4)?,
                    default_model: r.get(5)?,
                });
            }
            Ok(out)
        })
        .await
    }

    /// The category tree: roots, each with its children, sorted by name.
    pub async fn categories(&self) -> Result<Vec<Category>, StoreError> {
        self.call(|conn| {
            let mut models: BTreeMap<String, Vec<String>> = BTreeMap::new();
            let mut stmt = conn.prepare_cached(
                "SELECT mc.category, m.supplier || ':' || m.model_id
                 FROM model_categories mc JOIN models m ON m.rowid_ = mc.model
                 WHERE m.removed_at IS NULL ORDER BY 2",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                models.entry(r.get(0)?).or_default().push(r.get(1)?);
            }
            let mut stmt = conn.prepare_cached(
                "SELECT name, display_name, parent FROM categories ORDER BY name",
            )?;
            let flat: Vec<(String, String, Option<String>)> = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?;
            fn build(
                parent: Option<&str>,
                flat: &[(String, String, Option<String>)],
                models: &mut BTreeMap<String, Vec<String>>,
                depth: usize,
            ) -> Vec<Category> {
                if depth > 32 {
                    return Vec::new();
                }
                flat.iter()
                    .filter(|(_, _, p)| p.as_deref() == parent)
                    .map(|(name, display, p)| Category {
                        name: name.clone(),
                        display_name: display.clone(),
                        parent: p.clone(),
                        models: models.remove(name).unwrap_or_default(),
                        children: build(Some(name), flat, models, depth + 1),
                    })
                    .collect()
            }
            Ok(build(None, &flat, &mut models, 0))
        })
        .await
    }
}
