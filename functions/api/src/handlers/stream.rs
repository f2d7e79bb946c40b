//! `GET /receipts/events`: the caller's receipt events.
//!
//! - As `text/event-stream` (the default): `id:` is the event's number,
//!   `event:` its type, `data:` the event as JSON. It starts after
//!   `Last-Event-ID` (the header a reconnecting client sends; 0 replays
//!   everything retained) or, without one, with what happens from now on.
//!   A comment line every `EVENTS_KEEPALIVE_SECS` keeps it open while idle;
//!   it ends after `EVENTS_STREAM_MAX_SECS` and the client reconnects.
//! - As JSON with `?after=N` (or `Accept: application/json`): one page of
//!   events after N, for clients that cannot stream.
//!
//! The token travels in the `Authorization` header only: browsers read the
//! stream with `fetch` (an `EventSource` cannot send the header).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::{Deserialize, Serialize};
use shared::db::events::ReceiptEvent;
use shared::domain::{InvalidInput, ReceiptId, UserId};
use shared::flow::service::ReceiptService;
use tokio::time::Instant;
use utoipa::IntoParams;

use crate::AppState;
use crate::error::ApiError;
use crate::error::doc;
use crate::extract::auth::CurrentUser;
use crate::extract::{Query, bounded, param, parse_cursor};

/// Events per JSON page, and per read of a stream.
const PAGE_MAX: u32 = 500;
const PAGE_DEFAULT: u32 = 100;

/// A page of events (`GET /receipts/events?after=N`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventsPage {
    pub events: Vec<ReceiptEvent>,
    /// Pass as `after` to read on (the last event's id, or `after` itself).
    pub next_after: i64,
    pub has_more: bool,
}

fn wants_json(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    accept.contains("application/json") && !accept.contains("text/event-stream")
}

#[utoipa::path(
    get,
    path = "/receipts/events",
    tag = "events",
    params(
        EventsQuery,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume a stream after this event"),
    ),
    responses(
        (status = 200, description = "A page of events (with `after`, or Accept: application/json), else a Server-Sent Events stream", content((EventsPage = "application/json"), (String = "text/event-stream"))),
        doc::BadInput,
        doc::NoToken,
        doc::NotFound,
        doc::Unavailable,
    ),
)]
pub async fn events(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<Response, ApiError> {
    let receipt = q.receipt_id;
    if let Some(id) = receipt {
        // Another user's receipt is as absent as one that never was.
        state.service.receipt(&user, id).await?;
    }
    let service = state.service.clone();
    if q.after.is_some() || wants_json(&headers) {
        return page(&service, &user, &q).await;
    }
    let last = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .map_err(|_| InvalidInput::new("Last-Event-ID", "must be an event id"))
                .and_then(|s| parse_cursor("Last-Event-ID", s))
        })
        .transpose()?;
    let after = match last {
        Some(n) => n,
        None => service.latest_event(&user).await?,
    };
    let cfg = &state.config;
    let stream = event_stream(Tail {
        service,
        user,
        receipt,
        after,
        poll: cfg.api.stream.poll,
        until: Instant::now() + cfg.api.stream.max,
        buffered: VecDeque::new(),
        started: false,
    });
    let mut resp = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(cfg.api.stream.keepalive))
        .into_response();
    // No proxy (nginx, a CDN) may hold the frames back.
    resp.headers_mut().insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-cache"),
    );
    Ok(resp)
}

/// `GET /receipts/events`'s query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// One receipt's events only
    #[serde(default, deserialize_with = "param::receipt_id")]
    #[param(value_type = Option<i64>)]
    receipt_id: Option<ReceiptId>,
    /// A page of events after this id (JSON)
    #[serde(default, deserialize_with = "param::cursor")]
    after: Option<i64>,
    /// At most this many
    #[serde(default, deserialize_with = "param::positive")]
    limit: Option<u32>,
}

/// One page of events after `after` (JSON), for a client that polls.
async fn page(
    service: &ReceiptService,
    user: &UserId,
    q: &EventsQuery,
) -> Result<Response, ApiError> {
    let after = q.after.unwrap_or(0);
    let limit = bounded("limit", q.limit, PAGE_DEFAULT, PAGE_MAX)?;
    let mut events = service
        .events_after(user, after, q.receipt_id, limit + 1)
        .await?;
    let has_more = events.len() > limit as usize;
    events.truncate(limit as usize);
    let next_after = events.last().map_or(after, |e| e.id);
    Ok(Json(EventsPage {
        events,
        next_after,
        has_more,
    })
    .into_response())
}

/// Where an open stream is.
struct Tail {
    service: ReceiptService,
    user: UserId,
    receipt: Option<ReceiptId>,
    after: i64,
    poll: Duration,
    until: Instant,
    buffered: VecDeque<ReceiptEvent>,
    started: bool,
}

/// How long a client waits before reconnecting after the stream ends.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

fn event_stream(tail: Tail) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(tail, |mut t| async move {
        if !t.started {
            // Sent at once: the client knows the stream is open (and API
            // Gateway has a first frame to send), when to come back, and,
            // through `id:` without `data:` (which sets the last event id
            // and dispatches nothing), where to resume from if it ends
            // before any event.
            t.started = true;
            let hello = Event::default()
                .id(t.after.to_string())
                .retry(RECONNECT_AFTER)
                .comment(format!("receipt events after {}", t.after));
            return Some((Ok(hello), t));
        }
        loop {
            if let Some(e) = t.buffered.pop_front() {
                t.after = e.id;
                return Some((Ok(frame(&e)), t));
            }
            if Instant::now() >= t.until {
                return None;
            }
            match t
                .service
                .events_after(&t.user, t.after, t.receipt, PAGE_MAX)
                .await
            {
                Ok(events) if !events.is_empty() => t.buffered.extend(events),
                Ok(_) => {
                    tokio::time::sleep_until((Instant::now() + t.poll).min(t.until)).await;
                }
                Err(e) => {
                    // The client reconnects with the last id it saw.
                    tracing::warn!(error = %e, user = %t.user, "event stream ends: database error");
                    return None;
                }
            }
        }
    })
}

fn frame(e: &ReceiptEvent) -> Event {
    let data = serde_json::to_string(e).unwrap_or_else(|_| "{}".to_owned());
    Event::default()
        .id(e.id.to_string())
        .event(e.event_type.as_str())
        .data(data)
}
