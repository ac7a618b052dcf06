//! The LoRA card cache: cards seen from each source, and the listings (queries) that named
//! them, so browsing works offline and pages come back at once.

use super::db::Store;
use super::error::StoreError;
use super::sql::{json, query_value};
use genq_protocol::Timestamp;
use genq_protocol::catalog::LoraCard;
use rusqlite::{Connection, OptionalExtension, params};

/// A cached LoRA query.
#[derive(Clone, Debug)]
pub struct CachedLoras {
    pub cards: Vec<LoraCard>,
    pub total: Option<u64>,
    pub fetched_at: Timestamp,
}

impl Store {
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
        self.write(move |tx| {
            for c in &cards {
                put_card(tx, c, at)?;
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
            Ok(())
        })
        .await
    }

    /// Updates one cached card (e.g. its local cover).
    pub async fn update_lora_card(&self, card: LoraCard) -> Result<(), StoreError> {
        self.call(move |conn| {
            let at: Option<i64> = query_value(
                conn,
                "SELECT fetched_at FROM lora_cards WHERE source = ?1 AND id = ?2",
                params![card.source, card.id],
            )?;
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
        self.read(move |conn| load_card(conn, &source, &id)).await
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
    let text: Option<String> = query_value(
        conn,
        "SELECT card FROM lora_cards WHERE source = ?1 AND id = ?2",
        params![source, id],
    )?;
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("LoRA card {id}: {e}")))
    })
    .transpose()
}
