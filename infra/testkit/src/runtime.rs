//! A stand-in for the Lambda Runtime API, enough to run a function's real
//! binary in a test: it hands out the events it is given, one per
//! `GET …/invocation/next`, and passes each response's body on as it
//! arrives (a streamed response chunk by chunk).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::{Notify, mpsc};

/// What the function sent back for one invocation.
#[derive(Debug)]
pub enum Reply {
    /// The response's headers (e.g. `lambda-runtime-function-response-mode`).
    Started(HeaderMap),
    /// A piece of the body, as it arrived.
    Chunk(Bytes),
    /// The body is complete.
    End,
    /// The function reported an error.
    Error(String),
}

#[derive(Clone)]
struct Shared {
    events: Arc<Mutex<VecDeque<(String, Value)>>>,
    more: Arc<Notify>,
    replies: mpsc::UnboundedSender<(String, Reply)>,
    /// When each `GET …/invocation/next` arrived (the first one ends the
    /// function's init).
    polls: Arc<Mutex<Vec<Instant>>>,
}

pub struct FakeRuntime {
    pub addr: SocketAddr,
    shared: Shared,
    replies: mpsc::UnboundedReceiver<(String, Reply)>,
}

impl FakeRuntime {
    pub async fn start() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Shared {
            events: Arc::default(),
            more: Arc::default(),
            replies: tx,
            polls: Arc::default(),
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            addr,
            shared,
            replies: rx,
        }
    }

    /// Queues an event for the function; returns its request id.
    pub fn invoke(&self, event: Value) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        self.shared
            .events
            .lock()
            .unwrap()
            .push_back((id.clone(), event));
        self.shared.more.notify_one();
        id
    }

    /// The environment Lambda gives every function, pointing it at this
    /// stand-in (with LocalStack's test credentials).
    pub fn lambda_env(&self, function: &str) -> Vec<(&'static str, String)> {
        vec![
            ("PATH", std::env::var("PATH").unwrap_or_default()),
            ("AWS_LAMBDA_RUNTIME_API", self.addr.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", function.to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512".to_owned()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "test".to_owned()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "test".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ]
    }

    /// When the function first asked for an event: the end of its init.
    pub fn first_poll(&self) -> Option<Instant> {
        self.shared.polls.lock().unwrap().first().copied()
    }

    /// The next thing the function sent back, within `within`.
    pub async fn reply(&mut self, within: std::time::Duration) -> Option<(String, Reply)> {
        tokio::time::timeout(within, self.replies.recv())
            .await
            .ok()
            .flatten()
    }
}

async fn next(State(s): State<Shared>) -> Response {
    s.polls.lock().unwrap().push(Instant::now());
    loop {
        let notified = s.more.notified();
        if let Some((id, event)) = s.events.lock().unwrap().pop_front() {
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + 900_000;
            return (
                [
                    ("lambda-runtime-aws-request-id", id),
                    ("lambda-runtime-deadline-ms", deadline.to_string()),
                    (
                        "lambda-runtime-invoked-function-arn",
                        "arn:aws:lambda:us-east-1:000000000000:function:test".to_owned(),
                    ),
                    ("lambda-runtime-trace-id", "Root=1-0-0".to_owned()),
                    ("content-type", "application/json".to_owned()),
                ],
                event.to_string(),
            )
                .into_response();
        }
        notified.await;
    }
}

fn send(s: &Shared, id: &str, reply: Reply) {
    let _ = s.replies.send((id.to_owned(), reply));
}

async fn response(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> StatusCode {
    send(&s, &id, Reply::Started(headers));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => send(&s, &id, Reply::Chunk(c)),
            Err(e) => {
                send(&s, &id, Reply::Error(e.to_string()));
                return StatusCode::BAD_REQUEST;
            }
        }
    }
    send(&s, &id, Reply::End);
    StatusCode::ACCEPTED
}

async fn error(State(s): State<Shared>, Path(id): Path<String>, body: String) -> StatusCode {
    send(&s, &id, Reply::Error(body));
    StatusCode::ACCEPTED
}

async fn init_error(State(s): State<Shared>, body: String) -> StatusCode {
    send(&s, "init", Reply::Error(body));
    StatusCode::ACCEPTED
}
