//! Events: what happened to a job, each with a persisted, strictly increasing `seq`.

use crate::job::{JobError, JobId, JobState, short_id};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

#[serde_with::skip_serializing_none]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub job_id: JobId,
    /// The job's number ([`crate::Job::num`]), so a line about it can name it as lists do.
    pub job_num: Option<u64>,
    pub at: Timestamp,
    #[serde(flatten)]
    pub body: EventBody,
}

#[serde_with::skip_serializing_none]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventBody {
    /// A job was created.
    Created {
        provider: String,
        #[serialize_always]
        model: Option<String>,
    },
    /// A job moved from one state to another.
    State {
        from: JobState,
        to: JobState,
        error: Option<JobError>,
    },
    /// The provider reported progress (0–100).
    Progress { progress: u8 },
    /// The provider accepted the job under this remote task id.
    Remote {
        remote_id: String,
        /// The provider's id of the submit request (e.g. `X-Tripo-Trace-ID`).
        request_id: Option<String>,
    },
    /// An output was stored locally.
    Output { index: u32, path: String },
    /// An output was uploaded to a storage target (or failed to be).
    Upload {
        index: u32,
        target: String,
        url: Option<String>,
        error: Option<String>,
    },
    /// Something worth knowing that does not change the state (a retry after a 429, …).
    Note { message: String },
    /// The job was deleted (`genq rm`, `genq clean`); its record and events are gone, so this
    /// event is announced live only and is not replayed.
    Removed {
        /// Its output files were deleted too.
        #[serde(default)]
        outputs: bool,
    },
}

impl Event {
    /// The job's id as people see it (see [`short_id`]).
    pub fn short_id(&self) -> String {
        short_id(&self.job_id, self.job_num)
    }

    /// The state this event moved its job to, if it is a transition.
    pub fn new_state(&self) -> Option<JobState> {
        match &self.body {
            EventBody::State { to, .. } => Some(*to),
            _ => None,
        }
    }
}
