//! `GET /v1/events`: the event log as server-sent events. Each event's `id` is its `seq`, so
//! a client that reconnects with `Last-Event-ID` (or `?since=`) gets every event after it,
//! from the database, then live ones: no gaps, no repeats.

use super::error::{ApiError, ApiQuery};
use super::state::Shared;
use crate::server::feed::{self, FeedItem};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::mpsc;
use utoipa::IntoParams;

/// Events waiting to be written to one client; a client that stops reading falls behind
/// the bus and gets `resync` instead of slowing anyone down.
const OUT_BUFFER: usize = 1024;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Replay events after this seq (`Last-Event-ID` wins when both are given); only new
    /// events when neither is.
    pub since: Option<u64>,
}

/// Streams events: `id` is the seq, `data` the event as JSON; an `event: resync` line means
/// the client fell behind and should reconnect with its last id.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventsQuery,
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this seq")),
    responses(
        (status = 200, description = "Server-sent events", content_type = "text/event-stream"),
        (status = 400, description = "since or Last-Event-ID is not a seq", body = super::error::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn events(
    State(st): State<Shared>,
    ApiQuery(q): ApiQuery<EventsQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let last_id = match headers.get("last-event-id").map(|v| v.to_str()) {
        None => None,
        Some(Ok(v)) => Some(v.trim().parse::<u64>().map_err(|_| {
            ApiError::invalid(
                "Last-Event-ID",
                format!("Last-Event-ID: {v:?} is not a seq"),
            )
        })?),
        Some(Err(_)) => {
            return Err(ApiError::invalid(
                "Last-Event-ID",
                "Last-Event-ID: not a seq",
            ));
        }
    };
    let since = last_id.or(q.since);
    if since.is_some_and(|s| i64::try_from(s).is_err()) {
        return Err(ApiError::invalid(
            "since",
            format!("since: at most {}", i64::MAX),
        ));
    }
    let engine = &st.server.engine;
    // Listen before reading the head, so nothing falls between the two.
    let live = engine.events();
    let store = engine.store().clone();
    let since = match since {
        Some(s) => s,
        None => store
            .head_seq()
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?,
    };
    let (tx, rx) = mpsc::channel(OUT_BUFFER);
    tokio::spawn(feed::forward(store, live, since, tx, sse_item));
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn sse_item(item: FeedItem<'_>) -> Option<Result<SseEvent, Infallible>> {
    let event = match item {
        FeedItem::Event(e) => SseEvent::default()
            .id(e.seq.to_string())
            .json_data(e)
            .ok()?,
        FeedItem::Resync { last_seq } => SseEvent::default()
            .event("resync")
            .data(format!("{{\"last_seq\":{last_seq}}}")),
    };
    Some(Ok(event))
}
