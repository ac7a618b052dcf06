//! Bearer tokens of the HTTP API. Only a token's SHA-256 is kept: a copy of the database
//! gives nobody a way in. Tokens are 256 random bits, so a plain hash is enough.

use super::db::Store;
use super::error::StoreError;
use super::sql::query_value;
use genq_protocol::Timestamp;
use genq_protocol::methods::TokenInfo;
use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

/// Every token starts with this, so a leaked one is easy to recognise (and to search for).
pub const TOKEN_PREFIX: &str = "genq_";

/// How often a token's `last_used_at` is written: once a minute is enough to answer "is it
/// still used", and spares the database a write per request.
const LAST_USED_STEP_MS: i64 = 60_000;

/// A new token and its hash.
pub fn new_token() -> (String, String) {
    use base64::Engine as _;
    let bytes: [u8; 32] = rand::random();
    let token = format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = hash_token(&token);
    (token, hash)
}

/// What the database keeps of a token.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn check_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            field: "name".into(),
            message: format!("{name:?} is not a token name"),
            allowed: Some("1 to 64 letters, digits, '-', '_' or '.'".into()),
        })
    }
}

impl Store {
    /// Records a token by its hash; a name already taken is refused.
    pub async fn add_token(&self, name: String, hash: String) -> Result<TokenInfo, StoreError> {
        check_name(&name)?;
        self.call(move |conn| {
            let now = Timestamp::now();
            let taken: Option<i64> = query_value(
                conn,
                "SELECT 1 FROM api_tokens WHERE name = ?1",
                params![name],
            )?;
            if taken.is_some() {
                return Err(StoreError::Invalid {
                    field: "name".into(),
                    message: format!("a token named {name:?} exists already"),
                    allowed: Some("a new name, or `genq token rm` the old one first".into()),
                });
            }
            conn.execute(
                "INSERT INTO api_tokens (name, hash, created_at) VALUES (?1, ?2, ?3)",
                params![name, hash, now.unix_millis()],
            )?;
            Ok(TokenInfo {
                name,
                created_at: now,
                last_used_at: None,
            })
        })
        .await
    }

    /// Every token, oldest first.
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        self.call(|conn| {
            let mut stmt = conn.prepare(
                "SELECT name, created_at, last_used_at FROM api_tokens ORDER BY created_at, name",
            )?;
            let rows = stmt.query_map([], token_info)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Deletes a token; it stops working at the next request.
    pub async fn remove_token(&self, name: String) -> Result<TokenInfo, StoreError> {
        self.call(move |conn| {
            let info = conn
                .query_row(
                    "SELECT name, created_at, last_used_at FROM api_tokens WHERE name = ?1",
                    params![name],
                    token_info,
                )
                .optional()?
                .ok_or_else(|| StoreError::NotFoundWhat {
                    what: "token",
                    name: name.clone(),
                })?;
            conn.execute("DELETE FROM api_tokens WHERE name = ?1", params![name])?;
            Ok(info)
        })
        .await
    }

    /// The name of the token with this hash, noting its use; `None` for no such token.
    pub async fn use_token(&self, hash: String) -> Result<Option<String>, StoreError> {
        self.call(move |conn| {
            let now = Timestamp::now().unix_millis();
            let found: Option<(String, Option<i64>)> = conn
                .query_row(
                    "SELECT name, last_used_at FROM api_tokens WHERE hash = ?1",
                    params![hash],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((name, last)) = found else {
                return Ok(None);
            };
            if last.is_none_or(|l| now - l >= LAST_USED_STEP_MS) {
                conn.execute(
                    "UPDATE api_tokens SET last_used_at = ?1 WHERE hash = ?2",
                    params![now, hash],
                )?;
            }
            Ok(Some(name))
        })
        .await
    }
}

fn token_info(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenInfo> {
    Ok(TokenInfo {
        name: r.get(0)?,
        created_at: Timestamp::from_unix_millis(r.get(1)?),
        last_used_at: r.get::<_, Option<i64>>(2)?.map(Timestamp::from_unix_millis),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tokens_are_kept_hashed_and_found_by_their_hash() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _thread) = Store::open(&dir.path().join("genq.db")).unwrap();
        let (token, hash) = new_token();
        assert!(token.starts_with(TOKEN_PREFIX));
        store.add_token("ci".into(), hash.clone()).await.unwrap();
        assert!(store.add_token("ci".into(), "x".into()).await.is_err());
        assert!(store.add_token("a b".into(), "y".into()).await.is_err());
        assert_eq!(
            store
                .use_token(hash_token(&token))
                .await
                .unwrap()
                .as_deref(),
            Some("ci")
        );
        assert_eq!(
            store.use_token(hash_token("genq_nope")).await.unwrap(),
            None
        );
        let listed = store.list_tokens().await.unwrap();
        assert!(listed[0].last_used_at.is_some());
        let text = std::fs::read(dir.path().join("genq.db")).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&text).contains(&token));
        store.remove_token("ci".into()).await.unwrap();
        assert_eq!(store.use_token(hash).await.unwrap(), None);
    }
}
