//! The job a REST path names, read and documented once for every route under `/v1/jobs/{id}`.

use genq_protocol::methods::JobRef;
use serde::Deserialize;
use utoipa::IntoParams;

/// The job a path names.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct JobPath {
    /// Job number, id, or unique id prefix
    id: String,
}

impl From<JobPath> for JobRef {
    fn from(p: JobPath) -> JobRef {
        JobRef { id: p.id }
    }
}
