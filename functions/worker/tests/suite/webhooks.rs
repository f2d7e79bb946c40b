//! Webhooks end to end: a receiver in the test (an axum server verifying
//! with the same `standardwebhooks` crate) registered by a user, the real
//! pipeline, the webhook queue on LocalStack and the sender.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use shared::flow::webhooks::Sent;
use standardwebhooks::Webhook;
use testkit::agent::{FakeAgent, Reply, sample_extraction};
use testkit::{Options, TestApp, pipeline};

const SOON: Duration = Duration::from_secs(30);

/// What is wrong with a delivered payload by the API's OpenAPI document
/// (its `webhooks` section: the payload of the event's type).
fn documented_errors(payload: &Value) -> Vec<String> {
    let doc: Value = serde_json::from_str(include_str!("../../../api/openapi.json")).unwrap();
    let event_type = payload["type"].as_str().unwrap();
    let mut schema =
        doc["webhooks"][event_type]["post"]["requestBody"]["content"]["application/json"]["schema"]
            .clone();
    assert!(schema.is_object(), "{event_type} is documented");
    schema["components"] = doc["components"].clone();
    let validator = jsonschema::draft202012::new(&schema).expect("a JSON Schema");
    validator
        .iter_errors(payload)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// What a receiver got: each request's headers, body, and whether its
/// signature verified with the endpoint's secret; and when.
#[derive(Clone, Default)]
struct Receiver {
    secret: Arc<Mutex<Option<String>>>,
    got: Arc<Mutex<Vec<(HeaderMap, Bytes, bool)>>>,
    at: Arc<Mutex<Vec<tokio::time::Instant>>>,
    /// Answers in order; the last one repeats.
    script: Arc<Mutex<Vec<u16>>>,
}

impl Receiver {
    async fn start(script: &[u16]) -> (Self, SocketAddr) {
        let r = Receiver {
            script: Arc::new(Mutex::new(script.to_vec())),
            ..Default::default()
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, addr)
    }

    fn requests(&self) -> Vec<(HeaderMap, Bytes, bool)> {
        self.got.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize) -> Vec<(HeaderMap, Bytes, bool)> {
        let deadline = tokio::time::Instant::now() + SOON;
        loop {
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} requests, expected {n}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Answers the script's next status; a 429 says `Retry-After: 3`.
async fn receive(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(&'static str, &'static str); 1]) {
    let verified = r
        .secret
        .lock()
        .unwrap()
        .as_deref()
        .map(|s| Webhook::new(s).unwrap().verify(&body, &headers).is_ok())
        .unwrap_or(false);
    r.got.lock().unwrap().push((headers, body, verified));
    r.at.lock().unwrap().push(tokio::time::Instant::now());
    let mut script = r.script.lock().unwrap();
    let code = if script.len() > 1 {
        script.remove(0)
    } else {
        script[0]
    };
    let retry_after = if code == 429 { "3" } else { "0" };
    (
        StatusCode::from_u16(code).unwrap(),
        [("retry-after", retry_after)],
    )
}

async fn register(app: &TestApp, user: &str, url: &str, events: &[&str]) -> testkit::Response {
    app.post_json(
        "/webhooks",
        Some(&app.token(user)),
        &json!({"url": url, "events": events}),
    )
    .await
}

#[tokio::test]
async fn a_receiver_gets_receipt_completed_once_signed_after_answering_500_twice() {
    let app = TestApp::spawn_with(Options {
        webhooks: true,
        ..Options::default()
    })
    .await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    let running = pipeline::start(&app, &agent).await;
    let sender = pipeline::start_webhooks(&app).await;
    let (receiver, addr) = Receiver::start(&[500, 500, 200]).await;
    let alice = app.token("alice");

    let r = register(
        &app,
        "alice",
        &format!("http://{addr}/hook"),
        &["receipt.completed"],
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let secret = r.json["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let endpoint = r.json["id"].as_i64().unwrap();
    *receiver.secret.lock().unwrap() = Some(secret.clone());
    let listed = app.get("/webhooks", Some(&alice)).await;
    assert_eq!(listed.json["items"][0]["id"], endpoint);
    assert!(
        listed.json["items"][0].get("secret").is_none(),
        "shown once only"
    );
    assert!(
        app.get("/webhooks", Some(&app.token("bob"))).await.json["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let id = app.upload_png("alice").await;
    app.wait_for_status(id, "completed", SOON).await;
    let got = receiver.wait_for(3).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got_all = receiver.requests();
    assert_eq!(got_all.len(), 3, "delivered once: two 500s and a 200");
    let ids: Vec<&str> = got
        .iter()
        .map(|(h, _, _)| h["webhook-id"].to_str().unwrap())
        .collect();
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "the same webhook-id on every try: {ids:?}"
    );
    for (headers, body, verified) in &got {
        assert!(verified, "signed with the endpoint's secret");
        assert_eq!(headers["content-type"], "application/json");
        let payload: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(payload["type"], "receipt.completed");
        assert_eq!(payload["data"]["receipt_id"], id);
        assert_eq!(payload["data"]["status"], "completed");
        // What the receiver needs without calling back.
        assert_eq!(
            payload["data"]["summary"],
            json!({
                "merchant": "KEDAI MAKAN",
                "purchase_date": "2018-12-25",
                "total": "9.00",
                "currency": "MYR",
                "item_count": 2,
                "confidence": 0.9
            }),
            "{payload}"
        );
        assert_eq!(documented_errors(&payload), Vec::<String>::new());
        assert!(payload["timestamp"].as_str().unwrap().ends_with('Z'));
    }

    // The delivery's record agrees.
    let d = app
        .get(&format!("/webhooks/{endpoint}/deliveries"), Some(&alice))
        .await;
    assert_eq!(d.status, StatusCode::OK);
    let items = d.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", d.json);
    assert_eq!(items[0]["state"], "delivered");
    assert_eq!(items[0]["attempts"], 3);
    assert_eq!(items[0]["last_status"], 200);
    assert_eq!(items[0]["webhook_id"], ids[0]);

    // What a receiver refuses: another secret, a changed body, a changed
    // timestamp, and a signature that is too old.
    let (headers, body, _) = &got[2];
    let right = Webhook::new(&secret).unwrap();
    assert!(right.verify(body, headers).is_ok());
    let other = Webhook::new(&shared::flow::webhooks::new_secret()).unwrap();
    assert!(
        other.verify(body, headers).is_err(),
        "forged: another secret"
    );
    let mut tampered = body.to_vec();
    tampered.extend_from_slice(b" ");
    assert!(
        right.verify(&tampered, headers).is_err(),
        "forged: another body"
    );
    let ts: i64 = headers["webhook-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut moved = headers.clone();
    moved.insert("webhook-timestamp", (ts + 1).to_string().parse().unwrap());
    assert!(
        right.verify(body, &moved).is_err(),
        "forged: another timestamp"
    );
    let stale_ts = ts - 600;
    let mut stale = headers.clone();
    stale.insert("webhook-timestamp", stale_ts.to_string().parse().unwrap());
    let sig = right
        .sign(headers["webhook-id"].to_str().unwrap(), stale_ts, body)
        .unwrap();
    stale.insert("webhook-signature", sig.parse().unwrap());
    assert!(
        matches!(
            right.verify(body, &stale),
            Err(standardwebhooks::WebhookError::TimestampTooOldError)
        ),
        "stale"
    );

    // A resend goes out again with the same webhook-id.
    let delivery = items[0]["id"].as_i64().unwrap();
    let r = app
        .post(
            &format!("/webhooks/deliveries/{delivery}/resend"),
            Some(&alice),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.json);
    let again = receiver.wait_for(4).await;
    assert_eq!(again[3].0["webhook-id"].to_str().unwrap(), ids[0]);
    assert!(again[3].2);
    // Bob cannot see or resend alice's.
    let bob = app.token("bob");
    let r = app
        .post(
            &format!("/webhooks/deliveries/{delivery}/resend"),
            Some(&bob),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .get(&format!("/webhooks/{endpoint}/deliveries"), Some(&bob))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    running.stop().await;
    sender.stop().await;
}

#[tokio::test]
async fn a_410_disables_the_endpoint_and_other_answers_are_not_followed() {
    let app = TestApp::spawn_with(Options {
        webhooks: true,
        ..Options::default()
    })
    .await;
    let sender = pipeline::start_webhooks(&app).await;
    let alice = app.token("alice");

    let (gone, gone_addr) = Receiver::start(&[410]).await;
    let r = register(
        &app,
        "alice",
        &format!("http://{gone_addr}/hook"),
        &["receipt.failed"],
    )
    .await;
    let endpoint = r.json["id"].as_i64().unwrap();
    let t = app
        .post(&format!("/webhooks/{endpoint}/test"), Some(&alice))
        .await;
    assert_eq!(t.status, StatusCode::ACCEPTED, "{}", t.json);
    assert_eq!(t.json["type"], "webhook.test");
    gone.wait_for(1).await;
    let deadline = tokio::time::Instant::now() + SOON;
    let listed = loop {
        let l = app.get("/webhooks", Some(&alice)).await;
        if l.json["items"][0]["enabled"] == false {
            break l;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", l.json);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        listed.json["items"][0]["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410")
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(gone.requests().len(), 1, "a 410 is not retried");
    let t = app
        .post(&format!("/webhooks/{endpoint}/test"), Some(&alice))
        .await;
    assert_eq!(t.status, StatusCode::CONFLICT);

    // A redirect is an answer, not an instruction: not followed, not retried.
    let (moved, moved_addr) = Receiver::start(&[302]).await;
    let r = register(
        &app,
        "alice",
        &format!("http://{moved_addr}/hook"),
        &["receipt.failed"],
    )
    .await;
    let endpoint = r.json["id"].as_i64().unwrap();
    app.post(&format!("/webhooks/{endpoint}/test"), Some(&alice))
        .await;
    moved.wait_for(1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(moved.requests().len(), 1);
    let d = app
        .get(&format!("/webhooks/{endpoint}/deliveries"), Some(&alice))
        .await;
    assert_eq!(d.json["items"][0]["state"], "failed");
    assert_eq!(d.json["items"][0]["last_status"], 302);

    // 429 with Retry-After: 3 is tried again no sooner than asked (the
    // schedule here says 1 s), then delivered.
    let (busy, busy_addr) = Receiver::start(&[429, 200]).await;
    let r = register(
        &app,
        "alice",
        &format!("http://{busy_addr}/hook"),
        &["receipt.failed"],
    )
    .await;
    let endpoint = r.json["id"].as_i64().unwrap();
    app.post(&format!("/webhooks/{endpoint}/test"), Some(&alice))
        .await;
    busy.wait_for(2).await;
    let at = busy.at.lock().unwrap().clone();
    assert!(
        at[1] - at[0] >= Duration::from_millis(2900),
        "retried after {:?}",
        at[1] - at[0]
    );
    let d = app
        .get(&format!("/webhooks/{endpoint}/deliveries"), Some(&alice))
        .await;
    let deadline = tokio::time::Instant::now() + SOON;
    let mut d = d;
    while d.json["items"][0]["state"] != "delivered" {
        assert!(tokio::time::Instant::now() < deadline, "{}", d.json);
        tokio::time::sleep(Duration::from_millis(100)).await;
        d = app
            .get(&format!("/webhooks/{endpoint}/deliveries"), Some(&alice))
            .await;
    }
    assert_eq!(d.json["items"][0]["attempts"], 2);
    sender.stop().await;
}

/// Resolves names from a table; no traffic goes anywhere.
struct Table(HashMap<&'static str, Vec<IpAddr>>);

impl shared::outbound::ssrf::Lookup for Table {
    fn lookup(
        &self,
        host: String,
    ) -> futures::future::BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let ips = self.0.get(host.as_str()).cloned();
        Box::pin(async move {
            ips.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such host"))
        })
    }
}

fn table() -> Arc<Table> {
    Arc::new(Table(HashMap::from([
        ("private.example", vec!["10.1.2.3".parse().unwrap()]),
        (
            "mixed.example",
            vec![
                "93.184.216.34".parse().unwrap(),
                "192.168.0.7".parse().unwrap(),
            ],
        ),
        ("public.example", vec!["93.184.216.34".parse().unwrap()]),
        (
            "localhost",
            vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
        ),
    ])))
}

#[tokio::test]
async fn internal_addresses_are_refused_at_registration_and_at_delivery() {
    // No local mode: plain http to loopback is refused too.
    let mut app = TestApp::spawn().await;
    let mut state = app.state.clone();
    state.webhook_policy = shared::outbound::ssrf::WebhookUrlPolicy::with_lookup(false, table());
    app.router = state.router();
    for url in [
        "http://127.0.0.1:9/hook",
        "https://127.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "https://100.64.0.1/hook",
        "https://[fd00::1]/hook",
        "https://224.0.0.1/hook",
        "https://0.0.0.0/hook",
        "https://private.example/hook",
        "https://mixed.example/hook",
        "https://nowhere.example/hook",
        "http://public.example/hook",
        "https://user:pass@public.example/hook",
        "ftp://public.example/hook",
    ] {
        let r = register(&app, "alice", url, &["receipt.completed"]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url}: {}", r.json);
        assert_eq!(r.error_code(), "invalid_input", "{url}");
        assert!(
            r.json["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("url"),
            "{url}: {}",
            r.json
        );
    }
    let ok = register(
        &app,
        "alice",
        "https://public.example/hook",
        &["receipt.completed"],
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.json);
    let bad = register(
        &app,
        "alice",
        "https://public.example/hook",
        &["receipt.eaten"],
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 1, "refusals changed nothing");
}

#[tokio::test]
async fn a_delivery_to_an_address_that_turned_internal_is_refused_and_sends_nothing() {
    let mut app = TestApp::spawn_with(Options {
        webhooks: true,
        ..Options::default()
    })
    .await;
    app.config.common.webhooks.allow_http_loopback = false;
    // Something listening on loopback: it must see no connection.
    let (trap, trap_addr) = Receiver::start(&[200]).await;
    // Endpoints as if registered while their names resolved publicly
    // (DNS rebinding), or before a policy change.
    let mut ids = Vec::new();
    for url in [
        "https://private.example/hook".to_owned(),
        "https://169.254.169.254/latest/meta-data/".to_owned(),
        "https://[::1]/hook".to_owned(),
        format!("http://{trap_addr}/hook"),
        format!("http://localhost:{}/hook", trap_addr.port()),
    ] {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO webhook_endpoints (user_id, url, secret, event_types) \
             VALUES ('alice', $1, $2, ARRAY['receipt.completed']) RETURNING id",
        )
        .bind(&url)
        .bind(shared::flow::webhooks::new_secret())
        .fetch_one(&app.pool)
        .await
        .unwrap();
        ids.push((url, id));
    }
    let sender = pipeline::webhook_sender(&app, Some(table()));
    let store = shared::flow::webhooks::WebhookStore::new(app.pool.clone());
    let alice = shared::domain::UserId::parse("alice").unwrap();
    for (url, endpoint) in &ids {
        let d = store.test(&alice, *endpoint).await.unwrap();
        let sent = sender.deliver(d.id).await.unwrap();
        match &sent {
            Sent::Failed { error, .. } => {
                assert!(error.starts_with("refused"), "{url}: {error}")
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    assert!(trap.requests().is_empty(), "no traffic went to loopback");
}

#[tokio::test]
async fn an_endpoint_failing_for_longer_than_the_setting_is_disabled() {
    let mut app = TestApp::spawn_with(Options {
        webhooks: true,
        ..Options::default()
    })
    .await;
    app.config.common.webhooks.disable_after = Duration::from_millis(1500);
    let sender = pipeline::start_webhooks(&app).await;
    let alice = app.token("alice");
    let (down, addr) = Receiver::start(&[503]).await;
    let r = register(
        &app,
        "alice",
        &format!("http://{addr}/hook"),
        &["receipt.failed"],
    )
    .await;
    let endpoint = r.json["id"].as_i64().unwrap();
    app.post(&format!("/webhooks/{endpoint}/test"), Some(&alice))
        .await;
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let l = app.get("/webhooks", Some(&alice)).await;
        if l.json["items"][0]["enabled"] == false {
            let reason = l.json["items"][0]["disabled_reason"].as_str().unwrap();
            assert!(reason.contains("every delivery failed since"), "{reason}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", l.json);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tries = down.requests().len();
    assert!((2..=4).contains(&tries), "{tries} tries");
    let d = app
        .get(&format!("/webhooks/{endpoint}/deliveries"), Some(&alice))
        .await;
    assert_eq!(d.json["items"][0]["state"], "failed");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(down.requests().len(), tries, "nothing more once disabled");
    sender.stop().await;
}

#[tokio::test]
async fn a_webhook_can_subscribe_to_cancellations_and_gets_one() {
    let app = TestApp::spawn_with(Options {
        webhooks: true,
        ..Options::default()
    })
    .await;
    let sender = pipeline::start_webhooks(&app).await;
    let (receiver, addr) = Receiver::start(&[200]).await;
    let r = register(
        &app,
        "alice",
        &format!("http://{addr}/hook"),
        &["receipt.cancelled"],
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    *receiver.secret.lock().unwrap() = Some(r.json["secret"].as_str().unwrap().to_owned());

    // Queued (no worker runs here), then cancelled.
    let alice = app.token("alice");
    let id = app.seed_pending("alice", 1).await[0];
    let q = app.post("/receipts/ocr/process-all", Some(&alice)).await;
    assert_eq!(q.json["queued"], 1, "{}", q.json);
    let c = app
        .post(&format!("/receipts/{id}/ocr/cancel"), Some(&alice))
        .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.json);

    let got = receiver.wait_for(1).await;
    let (_, body, verified) = &got[0];
    assert!(verified, "signed");
    let payload: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(payload["type"], "receipt.cancelled", "{payload}");
    assert_eq!(payload["data"]["receipt_id"], id);
    assert_eq!(payload["data"]["status"], "pending");
    assert!(payload["data"].get("summary").is_none(), "{payload}");
    assert_eq!(documented_errors(&payload), Vec::<String>::new());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.requests().len(), 1, "only the event subscribed to");
    sender.stop().await;
}
