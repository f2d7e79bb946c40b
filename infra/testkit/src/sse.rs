//! Reads a `text/event-stream` body frame by frame, as a client would.

use std::time::Duration;

use axum::body::Body;
use futures::StreamExt;
use http::Request;
use tower::ServiceExt;

use crate::TestApp;

/// One frame: its fields, and any comment lines.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: Option<String>,
    pub retry: Option<String>,
    pub comments: Vec<String>,
}

impl Frame {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.data.as_deref().unwrap_or("null")).expect("data is JSON")
    }
}

/// An open stream.
pub struct SseReader {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    body: axum::body::BodyDataStream,
    buf: String,
}

/// Parses one frame's lines.
pub fn parse_frame(block: &str) -> Frame {
    let mut f = Frame::default();
    for line in block.lines() {
        if let Some(c) = line.strip_prefix(':') {
            f.comments.push(c.trim().to_owned());
            continue;
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
        match name {
            "id" => f.id = Some(value),
            "event" => f.event = Some(value),
            "data" => {
                f.data = Some(match f.data.take() {
                    Some(d) => format!("{d}\n{value}"),
                    None => value,
                })
            }
            "retry" => f.retry = Some(value),
            _ => {}
        }
    }
    f
}

impl SseReader {
    pub fn new(status: http::StatusCode, headers: http::HeaderMap, body: Body) -> Self {
        Self {
            status,
            headers,
            body: body.into_data_stream(),
            buf: String::new(),
        }
    }

    /// The next frame (comment-only frames included); `None` when the
    /// stream ends or nothing comes within `within`.
    pub async fn next_frame(&mut self, within: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(i) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..i + 2).collect();
                return Some(parse_frame(&block));
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .ok()??;
            let chunk = chunk.expect("body chunk");
            self.buf
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    /// The next frame that carries an event, skipping keep-alive comments.
    pub async fn next_event(&mut self, within: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let f = self.next_frame(left).await?;
            if f.data.is_some() {
                return Some(f);
            }
        }
    }
}

impl TestApp {
    /// Opens `GET path` as an event stream through the Router.
    pub async fn open_stream(
        &self,
        path: &str,
        token: &str,
        last_event_id: Option<&str>,
    ) -> SseReader {
        let mut b = Request::get(path)
            .header("authorization", format!("Bearer {token}"))
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            b = b.header("last-event-id", id);
        }
        let resp = self
            .router
            .clone()
            .oneshot(b.body(Body::empty()).unwrap())
            .await
            .expect("router answers");
        let (parts, body) = resp.into_parts();
        SseReader::new(parts.status, parts.headers, body)
    }
}
