//! Numbered schema migrations. Once landed, a migration is never edited: changes come as a
//! new one at the end.

use super::error::StoreError;
use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};
use std::path::Path;

const MIGRATIONS: &[&str] = &[
    // 1: jobs, their event log and their outputs.
    r#"
    CREATE TABLE jobs (
        id               TEXT PRIMARY KEY,
        kind             TEXT NOT NULL,
        provider         TEXT NOT NULL,
        model            TEXT,
        state            TEXT NOT NULL,
        progress         INTEGER,
        spec             TEXT NOT NULL,
        prompt           TEXT NOT NULL,
        remote_id        TEXT,
        idempotency_key  TEXT UNIQUE,
        retry_of         TEXT REFERENCES jobs(id),
        error_kind       TEXT,
        error_message    TEXT,
        error_request_id TEXT,
        times            TEXT NOT NULL DEFAULT '{}',
        created_at       INTEGER NOT NULL,
        updated_at       INTEGER NOT NULL,
        finished_at      INTEGER
    );
    CREATE INDEX jobs_by_state ON jobs(state, id);
    CREATE INDEX jobs_by_provider ON jobs(provider, id);

    CREATE TABLE job_events (
        seq     INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id  TEXT NOT NULL REFERENCES jobs(id),
        at      INTEGER NOT NULL,
        body    TEXT NOT NULL
    );
    CREATE INDEX job_events_by_job ON job_events(job_id, seq);

    CREATE TABLE outputs (
        job_id      TEXT NOT NULL REFERENCES jobs(id),
        idx         INTEGER NOT NULL,
        role        TEXT NOT NULL,
        label       TEXT,
        format      TEXT,
        source_url  TEXT,
        path        TEXT,
        sha256      TEXT,
        size        INTEGER,
        mime        TEXT,
        width       INTEGER,
        height      INTEGER,
        PRIMARY KEY (job_id, idx)
    );

    CREATE TABLE uploads (
        job_id  TEXT NOT NULL,
        idx     INTEGER NOT NULL,
        target  TEXT NOT NULL,
        url     TEXT,
        error   TEXT,
        at      INTEGER NOT NULL,
        PRIMARY KEY (job_id, idx, target),
        FOREIGN KEY (job_id, idx) REFERENCES outputs(job_id, idx)
    );
    "#,
    // 2: the catalog: suppliers, models and their parameters, capabilities, the category
    // tree, and the LoRA card cache (normalised cards only, never raw payloads).
    r#"
    CREATE TABLE suppliers (
        name          TEXT PRIMARY KEY,
        display_name  TEXT NOT NULL,
        base_url      TEXT NOT NULL,
        docs_url      TEXT,
        needs_key     INTEGER NOT NULL DEFAULT 1,
        active        INTEGER NOT NULL DEFAULT 1
    );

    CREATE TABLE capabilities (
        name           TEXT PRIMARY KEY,
        display_name   TEXT NOT NULL,
        input_types    TEXT NOT NULL DEFAULT '[]',
        output_types   TEXT NOT NULL DEFAULT '[]',
        domain         TEXT NOT NULL DEFAULT '',
        default_model  INTEGER REFERENCES models(rowid_) ON DELETE SET NULL
    );

    CREATE TABLE categories (
        name          TEXT PRIMARY KEY,
        display_name  TEXT NOT NULL,
        parent        TEXT REFERENCES categories(name)
    );

    CREATE TABLE models (
        rowid_        INTEGER PRIMARY KEY,
        supplier      TEXT NOT NULL REFERENCES suppliers(name),
        model_id      TEXT NOT NULL,
        display_name  TEXT NOT NULL,
        description   TEXT NOT NULL DEFAULT '',
        kind          TEXT NOT NULL,
        sub_type      TEXT NOT NULL,
        lora_family   TEXT,
        active        INTEGER NOT NULL DEFAULT 1,
        builtin       INTEGER NOT NULL DEFAULT 0,
        edited        INTEGER NOT NULL DEFAULT 0,
        removed_at    INTEGER,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        UNIQUE (supplier, model_id)
    );

    CREATE TABLE model_params (
        model         INTEGER NOT NULL REFERENCES models(rowid_) ON DELETE CASCADE,
        name          TEXT NOT NULL,
        kind          TEXT NOT NULL,
        default_value TEXT,
        min           REAL,
        max           REAL,
        allowed       TEXT NOT NULL DEFAULT '[]',
        description   TEXT NOT NULL DEFAULT '',
        pos           INTEGER NOT NULL,
        PRIMARY KEY (model, name)
    );

    CREATE TABLE model_capabilities (
        model       INTEGER NOT NULL REFERENCES models(rowid_) ON DELETE CASCADE,
        capability  TEXT NOT NULL REFERENCES capabilities(name),
        PRIMARY KEY (model, capability)
    );

    CREATE TABLE model_categories (
        model     INTEGER NOT NULL REFERENCES models(rowid_) ON DELETE CASCADE,
        category  TEXT NOT NULL REFERENCES categories(name),
        PRIMARY KEY (model, category)
    );

    CREATE TABLE lora_cards (
        source      TEXT NOT NULL,
        id          TEXT NOT NULL,
        card        TEXT NOT NULL,
        family      TEXT,
        fetched_at  INTEGER NOT NULL,
        PRIMARY KEY (source, id)
    );

    CREATE TABLE lora_queries (
        key         TEXT PRIMARY KEY,
        source      TEXT NOT NULL,
        ids         TEXT NOT NULL,
        total       INTEGER,
        fetched_at  INTEGER NOT NULL
    );
    "#,
    // 3: how long the provider took to generate, and the provider's request ids kept on
    // the job (a JSON list of {call, request_id, at}).
    r#"
    ALTER TABLE jobs ADD COLUMN generation_ms INTEGER;
    ALTER TABLE jobs ADD COLUMN provider_requests TEXT NOT NULL DEFAULT '[]';
    "#,
    // 4: job numbers, the short id people type: 1, 2, 3 … per home, in created order, never
    // reused (the counter only grows, whatever is deleted). Existing jobs are numbered in the
    // order they were made.
    r#"
    ALTER TABLE jobs ADD COLUMN num INTEGER;
    UPDATE jobs SET num = ranked.n
      FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, id) AS n FROM jobs) AS ranked
     WHERE jobs.id = ranked.id;
    CREATE UNIQUE INDEX jobs_by_num ON jobs(num);
    CREATE TABLE counters (
        name   TEXT PRIMARY KEY,
        value  INTEGER NOT NULL
    );
    INSERT INTO counters (name, value) SELECT 'job_num', COALESCE(MAX(num), 0) FROM jobs;
    "#,
    // 5: how many jobs each state and provider holds, kept by triggers in the transaction of
    // the change itself, so counting a large list (or the jobs per state) reads a few rows.
    // Counts are derived data: whatever an older copy left is built afresh.
    r#"
    DROP TRIGGER IF EXISTS job_counts_insert;
    DROP TRIGGER IF EXISTS job_counts_delete;
    DROP TRIGGER IF EXISTS job_counts_update;
    DROP TABLE IF EXISTS job_counts;
    CREATE TABLE job_counts (
        state     TEXT NOT NULL,
        provider  TEXT NOT NULL,
        n         INTEGER NOT NULL,
        PRIMARY KEY (state, provider)
    ) WITHOUT ROWID;
    INSERT INTO job_counts (state, provider, n)
        SELECT state, provider, COUNT(*) FROM jobs GROUP BY state, provider;
    CREATE TRIGGER job_counts_insert AFTER INSERT ON jobs BEGIN
        INSERT INTO job_counts (state, provider, n) VALUES (NEW.state, NEW.provider, 1)
            ON CONFLICT (state, provider) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER job_counts_delete AFTER DELETE ON jobs BEGIN
        UPDATE job_counts SET n = n - 1 WHERE state = OLD.state AND provider = OLD.provider;
    END;
    CREATE TRIGGER job_counts_update AFTER UPDATE OF state, provider ON jobs
        WHEN OLD.state IS NOT NEW.state OR OLD.provider IS NOT NEW.provider BEGIN
        UPDATE job_counts SET n = n - 1 WHERE state = OLD.state AND provider = OLD.provider;
        INSERT INTO job_counts (state, provider, n) VALUES (NEW.state, NEW.provider, 1)
            ON CONFLICT (state, provider) DO UPDATE SET n = n + 1;
    END;
    "#,
    // 6: batches: a batch file's rows, each sent as a job under an idempotency key made of
    // the batch, the row and the attempt.
    r#"
    CREATE TABLE IF NOT EXISTS batches (
        id           INTEGER PRIMARY KEY,
        name         TEXT NOT NULL,
        source       TEXT NOT NULL,
        source_key   TEXT UNIQUE,
        base_dir     TEXT,
        canceled     INTEGER NOT NULL DEFAULT 0,
        manifest     TEXT,
        created_at   INTEGER NOT NULL,
        finished_at  INTEGER
    );
    CREATE TABLE IF NOT EXISTS batch_rows (
        batch_id    INTEGER NOT NULL REFERENCES batches(id),
        idx         INTEGER NOT NULL,
        source_row  INTEGER NOT NULL,
        spec        TEXT NOT NULL,
        spec_hash   TEXT NOT NULL,
        output      TEXT,
        attempt     INTEGER NOT NULL DEFAULT 0,
        job_id      TEXT,
        prev_job    TEXT,
        reused      INTEGER NOT NULL DEFAULT 0,
        error       TEXT,
        copied      TEXT,
        PRIMARY KEY (batch_id, idx)
    );
    CREATE INDEX IF NOT EXISTS batch_rows_by_hash ON batch_rows(spec_hash);
    CREATE INDEX IF NOT EXISTS batch_rows_by_job ON batch_rows(job_id);
    "#,
    // 7: bearer tokens of the HTTP API, kept as their SHA-256 only.
    r#"
    CREATE TABLE IF NOT EXISTS api_tokens (
        name          TEXT PRIMARY KEY,
        hash          TEXT NOT NULL UNIQUE,
        created_at    INTEGER NOT NULL,
        last_used_at  INTEGER
    );
    "#,
    // 8: each job as `jobs.list` sends it, so a listing copies text instead of rebuilding
    // every row. The text is derived data, in a table of its own so job rows stay small and a
    // full listing reads one compact table in id order. Every job has a row here (triggers
    // add and remove it with the job); triggers clear its text in the transaction of any
    // change to the job, its outputs or their uploads, whoever writes, and the store renders
    // it again. A job listed without its text is rendered on the spot.
    r#"
    CREATE TABLE job_wire (
        id    TEXT PRIMARY KEY,
        text  TEXT
    ) WITHOUT ROWID;
    CREATE INDEX job_wire_missing ON job_wire(id) WHERE text IS NULL;
    INSERT INTO job_wire (id) SELECT id FROM jobs;
    CREATE TRIGGER job_wire_insert AFTER INSERT ON jobs BEGIN
        INSERT OR REPLACE INTO job_wire (id) VALUES (NEW.id);
    END;
    CREATE TRIGGER job_wire_delete AFTER DELETE ON jobs BEGIN
        DELETE FROM job_wire WHERE id = OLD.id;
    END;
    CREATE TRIGGER job_wire_update AFTER UPDATE ON jobs BEGIN
        UPDATE job_wire SET text = NULL WHERE id = NEW.id AND text IS NOT NULL;
    END;
    CREATE TRIGGER job_wire_output_insert AFTER INSERT ON outputs BEGIN
        UPDATE job_wire SET text = NULL WHERE id = NEW.job_id AND text IS NOT NULL;
    END;
    CREATE TRIGGER job_wire_output_update AFTER UPDATE ON outputs BEGIN
        UPDATE job_wire SET text = NULL WHERE id IN (OLD.job_id, NEW.job_id) AND text IS NOT NULL;
    END;
    CREATE TRIGGER job_wire_output_delete AFTER DELETE ON outputs BEGIN
        UPDATE job_wire SET text = NULL WHERE id = OLD.job_id AND text IS NOT NULL;
    END;
    CREATE TRIGGER job_wire_upload_insert AFTER INSERT ON uploads BEGIN
        UPDATE job_wire SET text = NULL WHERE id = NEW.job_id AND text IS NOT NULL;
    END;
    CREATE TRIGGER job_wire_upload_update AFTER UPDATE ON uploads BEGIN
        UPDATE job_wire SET text = NULL WHERE id IN (OLD.job_id, NEW.job_id) AND text IS NOT NULL;
    END;
    CREATE TRIGGER job_wire_upload_delete AFTER DELETE ON uploads BEGIN
        UPDATE job_wire SET text = NULL WHERE id = OLD.job_id AND text IS NOT NULL;
    END;
    "#,
];

/// Schema version this build writes.
pub fn latest_version() -> usize {
    MIGRATIONS.len()
}

pub(super) fn refuse_newer(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(StoreError::Sqlite)?;
    if version > latest_version() as i64 {
        return Err(StoreError::Open {
            path: path.to_path_buf(),
            message: format!(
                "has schema version {version}, newer than this genq understands ({}); \
                 it was left untouched. Upgrade genq, or point GENQ_HOME elsewhere",
                latest_version()
            ),
        });
    }
    Ok(())
}

fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATIONS.iter().map(|sql| M::up(sql)).collect())
}

pub(super) fn check_and_migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    refuse_newer(conn, path)?;
    migrations().to_latest(conn).map_err(|e| StoreError::Open {
        path: path.to_path_buf(),
        message: format!("cannot bring the schema up to date: {e}"),
    })
}

/// Brings a fresh database to an older schema, as an earlier genq left it.
#[cfg(test)]
pub(super) fn migrate_to(conn: &mut Connection, version: usize) {
    migrations()
        .to_version(conn, version)
        .unwrap_or_else(|e| panic!("migrating to {version}: {e}"));
}
