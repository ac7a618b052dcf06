//! What can go wrong in the store, as callers see it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
    #[error("no job matches {0:?}")]
    NotFound(String),
    #[error("{prefix:?} starts the ids of {count} jobs; give more of the id, or the job's number")]
    Ambiguous { prefix: String, count: usize },
    /// A job number no job has (yet, or any more).
    #[error("no job {given}{}", match last {
        0 => "; no job has been made yet".to_string(),
        last => format!("; job numbers go up to {last}"),
    })]
    NoJobNumber { given: String, last: u64 },
    #[error("job {id} is {from}; it cannot become {to}")]
    IllegalTransition {
        id: String,
        from: genq_protocol::JobState,
        to: genq_protocol::JobState,
    },
    /// A catalog entry refused; `field` names what is wrong.
    #[error("{field}: {message}")]
    Invalid {
        field: String,
        message: String,
        allowed: Option<String>,
    },
    #[error("no {what} matches {name:?}")]
    NotFoundWhat { what: &'static str, name: String },
    #[error("{name:?} matches several {what}s; {hint}")]
    AmbiguousWhat {
        what: &'static str,
        name: String,
        hint: String,
    },
    /// Only final jobs can be removed; these are not final (nothing was removed).
    #[error("{}", unfinished_message(.0))]
    Unfinished(Vec<(genq_protocol::JobId, genq_protocol::JobState)>),
    #[error("the database thread has stopped")]
    Closed,
}

fn unfinished_message(jobs: &[(genq_protocol::JobId, genq_protocol::JobState)]) -> String {
    let named: Vec<String> = jobs
        .iter()
        .map(|(id, state)| format!("{id} ({state})"))
        .collect();
    format!(
        "only finished jobs (succeeded, failed, canceled) can be removed; still active: {}. \
         Nothing was removed: cancel them first (`genq cancel ID`) or leave them out",
        named.join(", ")
    )
}
