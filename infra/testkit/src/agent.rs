//! A fake OCR agent the test controls: it speaks the agent contract over
//! real HTTP on 127.0.0.1:0, fetches the image URL it is given (so the
//! presigned GET is exercised), and answers from a script: an extraction,
//! an error status, or a stall.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use shared::domain::extraction::{
    Extraction, FieldConfidence, LineItem, LocaleUsed, Merchant, Source,
};
use url::Url;

#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 with this extraction.
    Extract(Box<Extraction>),
    /// This status with the JSON error shape.
    Status(u16),
    /// Wait this long, then answer the fallback.
    Stall(Duration),
}

/// Chooses the reply to a receipt's `n`-th call (from 1); takes precedence
/// over the script.
pub type Plan = Arc<dyn Fn(i64, usize) -> Reply + Send + Sync>;

#[derive(Default)]
pub struct AgentState {
    plan: Mutex<Option<Plan>>,
    /// Calls per receipt id.
    per_receipt: Mutex<std::collections::HashMap<i64, usize>>,
    /// Whether the agent fetches the image URL (a bench stub does not).
    fetch: std::sync::atomic::AtomicBool,
    calls: AtomicUsize,
    script: Mutex<VecDeque<Reply>>,
    fallback: Mutex<Option<Reply>>,
    /// (receipt_id, bytes of the image fetched) per call.
    pub fetched: Mutex<Vec<(i64, usize)>>,
    /// The Authorization header of each call.
    pub authorization: Mutex<Vec<Option<String>>>,
    /// (receipt_id, the locale hint sent) per call.
    pub locales: Mutex<Vec<(i64, Option<String>)>>,
}

#[derive(Clone)]
pub struct FakeAgent {
    pub url: Url,
    pub state: Arc<AgentState>,
}

/// A receipt's worth of extracted data.
pub fn sample_extraction() -> Extraction {
    Extraction {
        merchant: Merchant {
            name: Some("KEDAI MAKAN".into()),
            address: Some("1 JALAN BESAR".into()),
        },
        purchase_date: Some("2018-12-25".parse().unwrap()),
        currency: Some("MYR".into()),
        subtotal: Some("8.49".parse().unwrap()),
        tax: Some("0.51".parse().unwrap()),
        total: Some("9.00".parse().unwrap()),
        items: vec![
            LineItem {
                name: "TEH O".into(),
                code: None,
                quantity: Some("1".parse().unwrap()),
                unit_price: Some("4.50".parse().unwrap()),
                amount: Some("4.50".parse().unwrap()),
            },
            LineItem {
                name: "ROTI".into(),
                code: Some("9556001".into()),
                quantity: Some("1".parse().unwrap()),
                unit_price: Some("3.99".parse().unwrap()),
                amount: Some("3.99".parse().unwrap()),
            },
        ],
        confidence: Some(0.9),
        field_confidence: Some(FieldConfidence {
            merchant: 0.9,
            date: 0.96,
            total: 0.98,
            items: 0.9,
        }),
        locale: Some(LocaleUsed {
            tag: "ms-MY".into(),
            source: Source::Inferred,
            currency_source: Some(Source::Printed),
        }),
        raw_text: Some("KEDAI MAKAN\nTOTAL 9.00".into()),
        engine: Some("fake".into()),
        duration_ms: Some(1),
        ..Default::default()
    }
}

impl FakeAgent {
    /// Starts an agent that answers `fallback` once its script runs out.
    pub async fn start(fallback: Reply) -> Self {
        Self::start_with(fallback, true).await
    }

    /// An agent that answers without fetching the image: the fastest stub.
    pub async fn start_stub(fallback: Reply) -> Self {
        Self::start_with(fallback, false).await
    }

    async fn start_with(fallback: Reply, fetch: bool) -> Self {
        let state = Arc::new(AgentState::default());
        state.fetch.store(fetch, Ordering::SeqCst);
        *state.fallback.lock().unwrap() = Some(fallback);
        let app = axum::Router::new()
            .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
            .route("/v1/extract", post(extract))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, state }
    }

    /// Answers `replies` to the next calls, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    pub fn set_fallback(&self, reply: Reply) {
        *self.state.fallback.lock().unwrap() = Some(reply);
    }

    pub fn calls(&self) -> usize {
        self.state.calls.load(Ordering::SeqCst)
    }

    /// Answers by receipt and call number from now on.
    pub fn plan(&self, plan: Plan) {
        *self.state.plan.lock().unwrap() = Some(plan);
    }

    /// How many times a receipt was sent to the agent.
    pub fn calls_for(&self, receipt_id: i64) -> usize {
        self.state
            .per_receipt
            .lock()
            .unwrap()
            .get(&receipt_id)
            .copied()
            .unwrap_or(0)
    }
}

/// Counts a call and keeps what the test may check of it; the receipt's id.
fn record(state: &AgentState, headers: &http::HeaderMap, req: &Value) -> i64 {
    state.calls.fetch_add(1, Ordering::SeqCst);
    state.authorization.lock().unwrap().push(
        headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    );
    let receipt_id = req["receipt_id"].as_i64().unwrap_or(0);
    state
        .locales
        .lock()
        .unwrap()
        .push((receipt_id, req["locale"].as_str().map(str::to_owned)));
    receipt_id
}

async fn extract(
    State(state): State<Arc<AgentState>>,
    headers: http::HeaderMap,
    Json(req): Json<Value>,
) -> Response {
    let receipt_id = record(&state, &headers, &req);
    let nth = {
        let mut per = state.per_receipt.lock().unwrap();
        let n = per.entry(receipt_id).or_default();
        *n += 1;
        *n
    };
    let Some(image_url) = req["image_url"].as_str() else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"code": "bad_request", "message": "image_url is required"}})),
        )
            .into_response();
    };
    let image = if !state.fetch.load(Ordering::SeqCst) {
        0
    } else {
        match fetch(image_url).await {
            Ok(n) => n,
            Err(answer) => return answer,
        }
    };
    state.fetched.lock().unwrap().push((receipt_id, image));
    let planned = state.plan.lock().unwrap().clone();
    let mut reply = match planned {
        Some(plan) => Some(plan(receipt_id, nth)),
        None => state.script.lock().unwrap().pop_front(),
    };
    loop {
        let r = reply.take().unwrap_or_else(|| {
            state
                .fallback
                .lock()
                .unwrap()
                .clone()
                .expect("a fallback reply")
        });
        match r {
            Reply::Extract(e) => return Json(*e).into_response(),
            Reply::Status(code) => {
                let status = StatusCode::from_u16(code).unwrap();
                let msg = format!("fake agent answers {code}");
                return (
                    status,
                    Json(json!({"error": {"code": "fake", "message": msg}})),
                )
                    .into_response();
            }
            Reply::Stall(d) => tokio::time::sleep(d).await,
        }
    }
}

/// Fetches the image as the real agent does: its size, or the error
/// answer the real agent gives.
async fn fetch(image_url: &str) -> Result<usize, Response> {
    let fail = |status: StatusCode, code: &str, msg: String| {
        (
            status,
            Json(json!({"error": {"code": code, "message": msg}})),
        )
            .into_response()
    };
    match reqwest::get(image_url).await {
        Ok(r) if r.status().is_success() => Ok(r.bytes().await.map(|b| b.len()).unwrap_or(0)),
        // As the real agent: an image that is not there is bad input.
        Ok(r) if matches!(r.status().as_u16(), 404 | 410) => Err(fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "image_not_found",
            format!("there is no image at image_url ({})", r.status()),
        )),
        Ok(r) => Err(fail(
            StatusCode::BAD_GATEWAY,
            "fetch_failed",
            format!("image_url answered {}", r.status()),
        )),
        Err(e) => Err(fail(
            StatusCode::BAD_GATEWAY,
            "fetch_failed",
            format!("image_url could not be fetched: {e}"),
        )),
    }
}
