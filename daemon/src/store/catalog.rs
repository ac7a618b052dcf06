//! Catalog tables: suppliers, models with parameters, capabilities (and the default model of
//! each), the category tree, and the LoRA card cache. Checks that need the database
//! (does the supplier exist, is the id taken) are made here, inside the write transaction.

use super::db::Store;
use super::error::StoreError;
use genq_protocol::Timestamp;
use genq_protocol::catalog::{
    Capability, Category, LoraCard, Model, ModelEdit, ModelInput, ModelParam, ModelsListParams,
    Supplier,
};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::collections::BTreeMap;

/// A capability as seeded (its default comes separately).
#[derive(Clone, Debug)]
pub struct CapabilitySeed {
    pub name: &'static str,
    pub display_name: &'static str,
    pub input_types: &'static [&'static str],
    pub output_types: &'static [&'static str],
    pub domain: &'static str,
}

/// What genq ships: inserted when missing; built-in models the user never edited are
/// brought up to date; nothing the user added or changed is touched.
#[derive(Clone, Debug, Default)]
pub struct CatalogSeed {
    pub suppliers: Vec<Supplier>,
    pub capabilities: Vec<CapabilitySeed>,
    /// (name, display name, parent)
    pub categories: Vec<(&'static str, &'static str, Option<&'static str>)>,
    /// Each model with the capabilities it is the built-in default of.
    pub models: Vec<(ModelInput, Vec<&'static str>)>,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        field: field.into(),
        message: message.into(),
        allowed: None,
    }
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn names(conn: &Connection, sql: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Finds a model's row by `supplier:id` or a unique id.
fn resolve_model(conn: &Connection, model: &str) -> Result<i64, StoreError> {
    if let Some((supplier, id)) = model.split_once(':') {
        let found: Option<i64> = conn
            .query_row(
                "SELECT rowid_ FROM models WHERE supplier = ?1 AND model_id = ?2",
                params![supplier, id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(row) = found {
            return Ok(row);
        }
    }
    let mut stmt = conn.prepare_cached("SELECT rowid_ FROM models WHERE model_id = ?1")?;
    let rows: Vec<i64> = stmt
        .query_map(params![model], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
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

fn load_model(conn: &Connection, row: i64) -> Result<Model, StoreError> {
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
    let list = |sql: &str| -> Result<Vec<String>, StoreError> {
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params![row], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    };
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

fn check_refs(
    tx: &Connection,
    capabilities: &[String],
    categories: &[String],
) -> Result<(), StoreError> {
    let known_caps = names(tx, "SELECT name FROM capabilities ORDER BY name")?;
    for (i, c) in capabilities.iter().enumerate() {
        if !known_caps.contains(c) {
            return Err(StoreError::Invalid {
                field: format!("capabilities[{i}]"),
                message: format!("unknown capability {c:?}"),
                allowed: Some(known_caps.join(", ")),
            });
        }
    }
    let known_cats = names(tx, "SELECT name FROM categories ORDER BY name")?;
    for (i, c) in categories.iter().enumerate() {
        if !known_cats.contains(c) {
            return Err(StoreError::Invalid {
                field: format!("categories[{i}]"),
                message: format!("unknown category {c:?}"),
                allowed: Some(known_cats.join(", ")),
            });
        }
    }
    Ok(())
}

fn write_links(
    tx: &Connection,
    row: i64,
    capabilities: Option<&[String]>,
    categories: Option<&[String]>,
) -> Result<(), StoreError> {
    if let Some(caps) = capabilities {
        tx.execute(
            "DELETE FROM model_capabilities WHERE model = ?1",
            params![row],
        )?;
        // A model that loses a capability stops being its default.
        tx.execute(
            "UPDATE capabilities SET default_model = NULL WHERE default_model = ?1",
            params![row],
        )?;
        for c in caps {
            tx.execute(
                "INSERT OR IGNORE INTO model_capabilities (model, capability) VALUES (?1, ?2)",
                params![row, c],
            )?;
        }
    }
    if let Some(cats) = categories {
        tx.execute(
            "DELETE FROM model_categories WHERE model = ?1",
            params![row],
        )?;
        for c in cats {
            tx.execute(
                "INSERT OR IGNORE INTO model_categories (model, category) VALUES (?1, ?2)",
                params![row, c],
            )?;
        }
    }
    Ok(())
}

fn write_param(tx: &Connection, row: i64, pos: usize, p: &ModelParam) -> Result<(), StoreError> {
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

fn insert_model(
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

fn seed(tx: &Transaction<'_>, seed: &CatalogSeed, now: i64) -> Result<usize, StoreError> {
    for s in &seed.suppliers {
        tx.execute(
            "INSERT OR IGNORE INTO suppliers (name, display_name, base_url, docs_url, needs_key, active)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![s.name, s.display_name, s.base_url, s.docs_url, s.needs_key, s.active],
        )?;
    }
    for c in &seed.capabilities {
        tx.execute(
            "INSERT OR IGNORE INTO capabilities (name, display_name, input_types, output_types, domain)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![c.name, c.display_name, json(&c.input_types)?, json(&c.output_types)?, c.domain],
        )?;
    }
    for (name, display, parent) in &seed.categories {
        tx.execute(
            "INSERT OR IGNORE INTO categories (name, display_name, parent) VALUES (?1, ?2, ?3)",
            params![name, display, parent],
        )?;
    }
    let mut added = 0;
    for (m, defaults) in &seed.models {
        let existing: Option<(i64, bool, bool)> = tx
            .query_row(
                "SELECT rowid_, builtin, edited FROM models WHERE supplier = ?1 AND model_id = ?2",
                params![m.supplier, m.id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let row = match existing {
            None => {
                added += 1;
                insert_model(tx, m, true, now)?
            }
            // A built-in nobody changed follows the shipped definition.
            Some((row, true, false)) => {
                tx.execute(
                    "UPDATE models SET display_name = ?2, description = ?3, kind = ?4,
                        sub_type = ?5, lora_family = ?6 WHERE rowid_ = ?1",
                    params![
                        row,
                        m.display_name.clone().unwrap_or_else(|| m.id.clone()),
                        m.description,
                        m.kind,
                        m.sub_type,
                        m.lora_family
                    ],
                )?;
                tx.execute("DELETE FROM model_params WHERE model = ?1", params![row])?;
                for (i, p) in m.params.iter().enumerate() {
                    write_param(tx, row, i, p)?;
                }
                for c in &m.capabilities {
                    tx.execute(
                        "INSERT OR IGNORE INTO model_capabilities (model, capability) VALUES (?1, ?2)",
                        params![row, c],
                    )?;
                }
                for c in &m.categories {
                    tx.execute(
                        "INSERT OR IGNORE INTO model_categories (model, category) VALUES (?1, ?2)",
                        params![row, c],
                    )?;
                }
                row
            }
            Some((row, _, _)) => row,
        };
        for cap in defaults {
            // Only where no default was chosen yet: a user's choice stays.
            tx.execute(
                "UPDATE capabilities SET default_model = ?1
                 WHERE name = ?2 AND default_model IS NULL",
                params![row, cap],
            )?;
        }
    }
    Ok(added)
}

/// A cached LoRA query.
#[derive(Clone, Debug)]
pub struct CachedLoras {
    pub cards: Vec<LoraCard>,
    pub total: Option<u64>,
    pub fetched_at: Timestamp,
}

impl Store {
    /// Applies the shipped catalog; returns how many built-in models were new.
    pub async fn seed_catalog(&self, data: CatalogSeed) -> Result<usize, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let added = seed(&tx, &data, Timestamp::now().unix_millis())?;
            tx.commit()?;
            Ok(added)
        })
        .await
    }

    pub async fn suppliers(&self) -> Result<Vec<Supplier>, StoreError> {
        self.call(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, display_name, base_url, docs_url, needs_key, active
                 FROM suppliers ORDER BY name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(Supplier {
                    name: r.get(0)?,
                    display_name: r.get(1)?,
                    base_url: r.get(2)?,
                    docs_url: r.get(3)?,
                    needs_key: r.get(4)?,
                    active: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn list_models(&self, p: ModelsListParams) -> Result<Vec<Model>, StoreError> {
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT m.rowid_ FROM models m
                 WHERE (?1 IS NULL OR m.supplier = ?1)
                   AND (?2 IS NULL OR EXISTS (SELECT 1 FROM model_capabilities c
                                              WHERE c.model = m.rowid_ AND c.capability = ?2))
                   AND (?3 OR m.removed_at IS NULL)
                 ORDER BY m.supplier, m.builtin DESC, m.model_id",
            )?;
            let rows: Vec<i64> = stmt
                .query_map(params![p.supplier, p.capability, p.include_removed], |r| {
                    r.get(0)
                })?
                .collect::<Result<_, _>>()?;
            rows.into_iter().map(|r| load_model(conn, r)).collect()
        })
        .await
    }

    pub async fn get_model(&self, model: String) -> Result<Model, StoreError> {
        self.call(move |conn| load_model(conn, resolve_model(conn, &model)?))
            .await
    }

    /// The kinds (`image`, `model3d`, …) of a supplier's models that are not removed.
    pub async fn supplier_kinds(&self, supplier: String) -> Result<Vec<String>, StoreError> {
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT DISTINCT kind FROM models WHERE supplier = ?1 AND removed_at IS NULL",
            )?;
            let kinds = stmt
                .query_map(params![supplier], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(kinds)
        })
        .await
    }

    /// A model by supplier and id, `None` when the catalog does not know it.
    pub async fn find_model(
        &self,
        supplier: String,
        id: String,
    ) -> Result<Option<Model>, StoreError> {
        self.call(move |conn| {
            let row: Option<i64> = conn
                .prepare_cached("SELECT rowid_ FROM models WHERE supplier = ?1 AND model_id = ?2")?
                .query_row(params![supplier, id], |r| r.get(0))
                .optional()?;
            row.map(|r| load_model(conn, r)).transpose()
        })
        .await
    }

    /// The default model of a capability, unless it is removed or inactive.
    pub async fn default_model(&self, capability: String) -> Result<Option<Model>, StoreError> {
        self.call(move |conn| {
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
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let supplier_known: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM suppliers WHERE name = ?1)",
                params![m.supplier],
                |r| r.get(0),
            )?;
            if !supplier_known {
                let known = names(&tx, "SELECT name FROM suppliers ORDER BY name")?;
                return Err(StoreError::Invalid {
                    field: "supplier".into(),
                    message: format!("unknown supplier {:?}", m.supplier),
                    allowed: Some(known.join(", ")),
                });
            }
            let existing: Option<Option<i64>> = tx
                .query_row(
                    "SELECT removed_at FROM models WHERE supplier = ?1 AND model_id = ?2",
                    params![m.supplier, m.id],
                    |r| r.get(0),
                )
                .optional()?;
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
            check_refs(&tx, &m.capabilities, &m.categories)?;
            let row = insert_model(&tx, &m, false, Timestamp::now().unix_millis())?;
            let model = load_model(&tx, row)?;
            tx.commit()?;
            Ok(model)
        })
        .await
    }

    pub async fn edit_model(&self, e: ModelEdit) -> Result<Model, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let row = resolve_model(&tx, &e.model)?;
            check_refs(
                &tx,
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
            write_links(&tx, row, e.capabilities.as_deref(), e.categories.as_deref())?;
            let existing: i64 = tx.query_row(
                "SELECT COUNT(*) FROM model_params WHERE model = ?1",
                params![row],
                |r| r.get(0),
            )?;
            for (i, p) in e.set_params.iter().enumerate() {
                write_param(&tx, row, existing as usize + i, p)?;
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
            let model = load_model(&tx, row)?;
            tx.commit()?;
            Ok(model)
        })
        .await
    }

    /// Soft delete (`removed = true`) or restore.
    pub async fn set_model_removed(
        &self,
        model: String,
        removed: bool,
    ) -> Result<Model, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let row = resolve_model(&tx, &model)?;
            let now = Timestamp::now().unix_millis();
            tx.execute(
                "UPDATE models SET removed_at = CASE WHEN ?2 THEN COALESCE(removed_at, ?3) END,
                    edited = 1, updated_at = ?3 WHERE rowid_ = ?1",
                params![row, removed, now],
            )?;
            let model = load_model(&tx, row)?;
            tx.commit()?;
            Ok(model)
        })
        .await
    }

    /// Makes the model the default of `capability` (one of its capabilities).
    pub async fn set_default_model(
        &self,
        model: String,
        capability: Option<String>,
    ) -> Result<Model, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let row = resolve_model(&tx, &model)?;
            let m = load_model(&tx, row)?;
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
            let model = load_model(&tx, row)?;
            tx.commit()?;
            Ok(model)
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

    /// A cached LoRA query, whatever its age.
    pub async fn cached_loras(&self, key: String) -> Result<Option<CachedLoras>, StoreError> {
        self.call(move |conn| {
            let row: Option<(String, Option<i64>, i64, String)> = conn
                .query_row(
                    "SELECT ids, total, fetched_at, source FROM lora_queries WHERE key = ?1",
                    params![key],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let Some((ids, total, fetched_at, source)) = row else {
                return Ok(None);
            };
            let ids: Vec<String> =
                serde_json::from_str(&ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let mut cards = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(card) = load_card(conn, &source, &id)? {
                    cards.push(card);
                }
            }
            Ok(Some(CachedLoras {
                cards,
                total: total.map(|t| t as u64),
                fetched_at: Timestamp::from_unix_millis(fetched_at),
            }))
        })
        .await
    }

    /// Stores a fetched query and its cards (replacing older copies of the same cards).
    pub async fn cache_loras(
        &self,
        key: String,
        source: String,
        cards: Vec<LoraCard>,
        total: Option<u64>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            for c in &cards {
                put_card(&tx, c, at)?;
            }
            let ids: Vec<&str> = cards.iter().map(|c| c.id.as_str()).collect();
            tx.execute(
                "INSERT INTO lora_queries (key, source, ids, total, fetched_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (key) DO UPDATE SET source = excluded.source, ids = excluded.ids,
                    total = excluded.total, fetched_at = excluded.fetched_at",
                params![
                    key,
                    source,
                    json(&ids)?,
                    total.map(|t| t as i64),
                    at.unix_millis()
                ],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Updates one cached card (e.g. its local cover).
    pub async fn update_lora_card(&self, card: LoraCard) -> Result<(), StoreError> {
        self.call(move |conn| {
            let at: Option<i64> = conn
                .query_row(
                    "SELECT fetched_at FROM lora_cards WHERE source = ?1 AND id = ?2",
                    params![card.source, card.id],
                    |r| r.get(0),
                )
                .optional()?;
            put_card(
                conn,
                &card,
                at.map_or_else(Timestamp::now, Timestamp::from_unix_millis),
            )
        })
        .await
    }

    /// A LoRA the catalog has seen from `source`, by its card id.
    pub async fn lora_card(
        &self,
        source: String,
        id: String,
    ) -> Result<Option<LoraCard>, StoreError> {
        self.call(move |conn| load_card(conn, &source, &id)).await
    }
}

fn put_card(conn: &Connection, c: &LoraCard, at: Timestamp) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO lora_cards (source, id, card, family, fetched_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (source, id) DO UPDATE SET card = excluded.card, family = excluded.family,
            fetched_at = excluded.fetched_at",
        params![c.source, c.id, json(c)?, c.base_model, at.unix_millis()],
    )?;
    Ok(())
}

fn load_card(conn: &Connection, source: &str, id: &str) -> Result<Option<LoraCard>, StoreError> {
    let text: Option<String> = conn
        .query_row(
            "SELECT card FROM lora_cards WHERE source = ?1 AND id = ?2",
            params![source, id],
            |r| r.get(0),
        )
        .optional()?;
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("LoRA card {id}: {e}")))
    })
    .transpose()
}
