//! The REST job API: the socket's `submit` and `jobs.*` handlers behind HTTP routes.

use super::error::{ApiError, ApiPath, ApiQuery};
use super::job_path::JobPath;
use super::openai::parse_json;
use super::state::Shared;
use crate::server::methods::jobs;
use crate::store::WirePage;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use genq_protocol::methods::{JobPage, ListParams, Sort, SubmitParams};
use genq_protocol::{Event, Job, JobSpec, JobState};
use serde::Deserialize;
use utoipa::IntoParams;

/// Creates a job from a spec as `genq submit --from` reads it; the same `Idempotency-Key`
/// gives back the job it made first.
#[utoipa::path(post, path = "/v1/jobs", tag = "jobs",
    request_body(content = JobSpec, description = "The job spec, as `genq export` prints it"),
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 200 characters; the same key gives the same job")),
    responses(
        (status = 202, description = "The job, accepted", body = Job),
        (status = 400, description = "A field is invalid; `param` names it", body = super::error::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn submit(
    State(st): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Job>), ApiError> {
    let spec: JobSpec = parse_json(&body)?;
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| {
                    ApiError::invalid("Idempotency-Key", "Idempotency-Key: must be plain text")
                })?
                .to_string(),
        ),
    };
    let job = jobs::submit(
        &st.server,
        SubmitParams {
            spec,
            idempotency_key,
        },
    )
    .await
    .map_err(|e| {
        let mut e = ApiError::from(e);
        if e.detail.param.as_deref() == Some("idempotency_key") {
            e.detail.param = Some("Idempotency-Key".into());
        }
        e
    })?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

/// `GET /v1/jobs` filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// States, comma-separated (`queued,running`).
    pub state: Option<String>,
    pub provider: Option<String>,
    /// Case-insensitive part of the prompt, model or id.
    pub text: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 500; 50 when absent.
    pub limit: Option<u32>,
    /// `newest` (default) or `oldest`.
    pub sort: Option<String>,
}

/// Lists jobs, newest first, a page at a time.
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", params(ListQuery),
    responses(
        (status = 200, description = "A page of jobs and the cursor of the next", body = JobPage),
        (status = 400, description = "A filter is invalid", body = super::error::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<Shared>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<WirePage>, ApiError> {
    let mut states = Vec::new();
    for s in q
        .state
        .iter()
        .flat_map(|s| s.split(','))
        .filter(|s| !s.is_empty())
    {
        let state: JobState = s.trim().parse().map_err(|_| {
            let all: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::invalid(
                "state",
                format!("state: {s:?} is not a job state ({})", all.join(", ")),
            )
        })?;
        states.push(state);
    }
    let sort = match q.sort.as_deref() {
        None | Some("newest") => Sort::Newest,
        Some("oldest") => Sort::Oldest,
        Some(other) => {
            return Err(ApiError::invalid(
                "sort",
                format!("sort: {other:?} is not newest or oldest"),
            ));
        }
    };
    let page = jobs::list(
        &st.server,
        ListParams {
            state: states,
            provider: q.provider,
            text: q.text,
            cursor: q.cursor,
            limit: q.limit,
            sort,
            ..ListParams::default()
        },
    )
    .await?;
    Ok(Json(page))
}

/// One job.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs",
    params(JobPath),
    responses(
        (status = 200, description = "The job", body = Job),
        (status = 404, description = "No such job", body = super::error::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(st): State<Shared>,
    ApiPath(job): ApiPath<JobPath>,
) -> Result<Json<Job>, ApiError> {
    Ok(Json(jobs::get(&st.server, job.into()).await?))
}

/// Cancels an active job.
#[utoipa::path(post, path = "/v1/jobs/{id}/cancel", tag = "jobs",
    params(JobPath),
    responses(
        (status = 200, description = "The job, canceled", body = Job),
        (status = 404, description = "No such job", body = super::error::ErrorBody),
        (status = 409, description = "The job is already final", body = super::error::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn cancel(
    State(st): State<Shared>,
    ApiPath(job): ApiPath<JobPath>,
) -> Result<Json<Job>, ApiError> {
    Ok(Json(jobs::cancel(&st.server, job.into()).await?))
}

/// Submits a failed or canceled job again, as a new job pointing back at it.
#[utoipa::path(post, path = "/v1/jobs/{id}/retry", tag = "jobs",
    params(JobPath),
    responses(
        (status = 202, description = "The new job", body = Job),
        (status = 404, description = "No such job", body = super::error::ErrorBody),
        (status = 409, description = "The job cannot be retried", body = super::error::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn retry(
    State(st): State<Shared>,
    ApiPath(job): ApiPath<JobPath>,
) -> Result<(StatusCode, Json<Job>), ApiError> {
    let job = jobs::retry(&st.server, job.into()).await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

/// One job's events, oldest first.
#[utoipa::path(get, path = "/v1/jobs/{id}/events", tag = "jobs", operation_id = "job_events",
    params(JobPath),
    responses(
        (status = 200, description = "The events", body = Vec<Event>),
        (status = 404, description = "No such job", body = super::error::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn events(
    State(st): State<Shared>,
    ApiPath(job): ApiPath<JobPath>,
) -> Result<Json<Vec<Event>>, ApiError> {
    Ok(Json(jobs::events(&st.server, job.into()).await?))
}
