//! `submit` and the `jobs.*` methods.

use super::super::state::ServerState;
use super::params::check_i64;
use crate::store::{CleanFilter, WirePage};
use genq_protocol::methods::{
    CleanParams, DiskUsage, Empty, JobRef, LIST_MAX_TEXT, ListParams, RemoveParams, RemoveResult,
    SubmitParams, UploadParams,
};
use genq_protocol::{Event, Job, JobSpec, JobState, RpcError, Timestamp};
use std::sync::Arc;

pub async fn submit(state: &Arc<ServerState>, p: SubmitParams) -> Result<Job, RpcError> {
    Ok(state.engine.submit(p.spec, p.idempotency_key, None).await?)
}

/// A page of jobs, each as the JSON text the store keeps for it.
pub async fn list(state: &Arc<ServerState>, p: ListParams) -> Result<WirePage, RpcError> {
    if let Some(limit) = p.limit
        && (limit == 0 || limit > genq_protocol::methods::LIST_MAX_LIMIT)
    {
        return Err(RpcError::invalid_params(
            "limit",
            format!("limit: {limit} is out of range"),
            Some(format!("1 to {}", genq_protocol::methods::LIST_MAX_LIMIT)),
        ));
    }
    check_i64("offset", p.offset)?;
    if let Some(text) = &p.text {
        let chars = text.chars().count();
        if chars > LIST_MAX_TEXT {
            return Err(RpcError::invalid_params(
                "text",
                format!("text: {chars} characters is too long a search"),
                Some(format!("at most {LIST_MAX_TEXT} characters")),
            ));
        }
    }
    Ok(state.engine.store().list_jobs(p).await?)
}

pub async fn get(state: &Arc<ServerState>, p: JobRef) -> Result<Job, RpcError> {
    Ok(state.engine.store().get_job(p.id).await?)
}

pub async fn cancel(state: &Arc<ServerState>, p: JobRef) -> Result<Job, RpcError> {
    Ok(state.engine.cancel(p.id).await?)
}

pub async fn retry(state: &Arc<ServerState>, p: JobRef) -> Result<Job, RpcError> {
    Ok(state.engine.retry(p.id).await?)
}

/// The job's parameters as `submit` takes them. Specs never hold keys, so nothing needs
/// removing; storage overrides are kept since they are part of what was asked.
pub async fn export(state: &Arc<ServerState>, p: JobRef) -> Result<JobSpec, RpcError> {
    Ok(state.engine.store().get_job(p.id).await?.params)
}

pub async fn events(state: &Arc<ServerState>, p: JobRef) -> Result<Vec<Event>, RpcError> {
    let id = state.engine.store().resolve(p.id).await?;
    Ok(state.engine.store().events_for_job(id).await?)
}

pub async fn upload(state: &Arc<ServerState>, p: UploadParams) -> Result<Job, RpcError> {
    Ok(state.engine.upload(p.id, p.target).await?)
}

pub async fn remove(state: &Arc<ServerState>, p: RemoveParams) -> Result<RemoveResult, RpcError> {
    if p.ids.is_empty() {
        return Err(RpcError::invalid_params(
            "ids",
            "ids: name at least one job",
            Some("job ids or unique prefixes".into()),
        ));
    }
    Ok(state.engine.remove_jobs(p.ids, p.outputs).await?)
}

pub async fn clean(state: &Arc<ServerState>, p: CleanParams) -> Result<RemoveResult, RpcError> {
    if let Some(active) = p.state.iter().find(|s| !s.is_final()) {
        let finals: Vec<&str> = JobState::ALL
            .iter()
            .filter(|s| s.is_final())
            .map(|s| s.as_str())
            .collect();
        return Err(RpcError::invalid_params(
            "state",
            format!("state: {active} is not final; only finished jobs are cleaned"),
            Some(finals.join(", ")),
        ));
    }
    let created_before = match p.older_than_s {
        Some(secs) => {
            let ms = i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
            Some(Timestamp::from_unix_millis(
                Timestamp::now().unix_millis().saturating_sub(ms),
            ))
        }
        None => None,
    };
    let filter = CleanFilter {
        states: p.state,
        created_before,
        provider: p.provider,
    };
    Ok(state
        .engine
        .clean_jobs(filter, p.outputs, p.dry_run)
        .await?)
}

pub async fn usage(state: &Arc<ServerState>, _: Empty) -> Result<DiskUsage, RpcError> {
    Ok(state.engine.outputs_usage().await?)
}
