//! Whether the database takes writes now, for readiness checks.

use super::db::Store;
use super::error::StoreError;

impl Store {
    /// Takes the write lock and lets it go, writing nothing.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        self.call(|conn| {
            conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")?;
            Ok(())
        })
        .await
    }
}
