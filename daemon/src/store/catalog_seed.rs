//! The catalog genq ships, applied to the database at every start.

use super::catalog_rows::{add_links, insert_model, write_param};
use super::db::Store;
use super::error::StoreError;
use super::sql::json;
use genq_protocol::Timestamp;
use genq_protocol::catalog::{ModelInput, Supplier};
use rusqlite::{OptionalExtension, Transaction, params};

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
                add_links(tx, row, &m.capabilities, &m.categories)?;
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

impl Store {
    /// Applies the shipped catalog; returns how many built-in models were new.
    pub async fn seed_catalog(&self, data: CatalogSeed) -> Result<usize, StoreError> {
        self.write_catalog(move |tx| {
            let added = seed(tx, &data, Timestamp::now().unix_millis())?;
            Ok(added)
        })
        .await
    }
}
