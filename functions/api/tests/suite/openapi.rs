//! The OpenAPI document: it describes every route the API serves, and the
//! answers of a tour of the whole API (successes and errors) match the
//! schemas it gives for them.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use shared::config::LimitSettings;
use testkit::agent::{FakeAgent, Reply, sample_extraction};
use testkit::{ADMIN, Options, Part, TestApp, pipeline, png_bytes};

/// Every operation of the API, as a person reading the README expects them.
const OPERATIONS: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/openapi.json"),
    ("post", "/receipts"),
    ("get", "/receipts"),
    ("post", "/receipts/upload-url"),
    ("get", "/receipts/{id}"),
    ("get", "/users/me/settings"),
    ("put", "/users/me/settings"),
    ("post", "/receipts/ocr/process-all"),
    ("get", "/receipts/ocr/queue-status"),
    ("post", "/receipts/ocr/redrive"),
    ("post", "/receipts/ocr/retry-failed"),
    ("post", "/receipts/ocr/cancel-all"),
    ("get", "/receipts/ocr/stats"),
    ("post", "/receipts/{id}/ocr/retry"),
    ("post", "/receipts/{id}/ocr/cancel"),
    ("get", "/receipts/events"),
    ("post", "/webhooks"),
    ("get", "/webhooks"),
    ("delete", "/webhooks/{id}"),
    ("post", "/webhooks/{id}/test"),
    ("get", "/webhooks/{id}/deliveries"),
    ("post", "/webhooks/deliveries/{id}/resend"),
    ("get", "/"),
    ("get", "/ui/assets/{name}"),
    ("post", "/ui/dev-sign-in"),
    ("get", "/ui/fragments/session"),
    ("get", "/ui/fragments/receipts"),
    ("get", "/ui/fragments/failed"),
    ("get", "/ui/fragments/receipts/{id}"),
    ("get", "/ui/fragments/receipts/{id}/text"),
    ("get", "/ui/fragments/stats"),
    ("get", "/ui/fragments/ops"),
    ("delete", "/receipts/{id}"),
    ("delete", "/receipts"),
    ("delete", "/users/me"),
    ("delete", "/users/{user_id}"),
    ("get", "/erasures/{id}"),
];

/// Operations a caller without a token may use.
const PUBLIC: &[&str] = &[
    "/health",
    "/openapi.json",
    "/",
    "/ui/assets/{name}",
    "/ui/dev-sign-in",
];

async fn document(app: &TestApp) -> Value {
    let r = app.get("/openapi.json", None).await;
    assert_eq!(r.status, StatusCode::OK);
    r.json
}

/// The committed document, which `GET /openapi.json` serves, is the one
/// the handlers' annotations make: a change to the API is a change to
/// `functions/api/openapi.json`, seen in review.
#[test]
fn the_committed_document_is_the_one_the_annotations_make() {
    let generated = api::generate_openapi();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
        std::fs::write(path, &generated).expect("writes the document");
        return;
    }
    if generated != api::openapi::DOCUMENT {
        let (committed, made): (Vec<&str>, Vec<&str>) = (
            api::openapi::DOCUMENT.lines().collect(),
            generated.lines().collect(),
        );
        let n = (0..committed.len().max(made.len()))
            .find(|&i| committed.get(i) != made.get(i))
            .unwrap_or(0);
        let (committed, made) = (committed.get(n), made.get(n));
        panic!(
            "functions/api/openapi.json is not what the annotations make (line {}: {committed:?}, made {made:?}); \
             run `UPDATE_OPENAPI=1 cargo test -p api --test suite openapi` and commit the file",
            n + 1
        );
    }
}

fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.insert((method.clone(), path.clone()));
        }
    }
    ops
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_describes_every_route_the_api_serves() {
    let app = TestApp::spawn_with(Options {
        dev_sign_in: true,
        ..Default::default()
    })
    .await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "Receipt OCR");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // A webhook may subscribe to every event type the outbox writes.
    let listed: Vec<&str> = doc["components"]["schemas"]["EventType"]["enum"]
        .as_array()
        .expect("the event types are enumerated")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(listed, shared::db::events::EVENT_TYPES.to_vec());
    // And each one's delivery is documented.
    let hooks: BTreeSet<&str> = doc["webhooks"]
        .as_object()
        .expect("a webhooks section")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(hooks, shared::db::events::EVENT_TYPES.into_iter().collect());

    let expected: BTreeSet<(String, String)> = OPERATIONS
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(operations(&doc), expected);

    for (method, path) in &expected {
        let op = &doc["paths"][path][method];
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|c| c.starts_with('2')),
            "{method} {path} documents no success"
        );
        let public = PUBLIC.contains(&path.as_str());
        // Protected operations say so and document the 401; public ones
        // override the document's bearer requirement with none.
        assert_eq!(
            op["security"] == json!([{}]),
            public,
            "{method} {path}: security {}",
            op["security"]
        );
        if !public {
            assert!(responses.contains_key("401"), "{method} {path}: no 401");
        }
        // The Router serves it: a protected route without a token is 401
        // (the fallback of an unknown route would be 404).
        let concrete = path.replace("{id}", "1").replace("{name}", "app.css");
        let req = Request::builder()
            .method(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap())
            .uri(&concrete)
            .body(Body::empty())
            .unwrap();
        let resp = app.send_raw(req).await;
        if public {
            assert_ne!(
                resp.0,
                StatusCode::NOT_FOUND,
                "{method} {path} is not served"
            );
            assert_ne!(resp.0, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        } else {
            assert_eq!(resp.0, StatusCode::UNAUTHORIZED, "{method} {path}");
        }
    }
    // And what it does not describe, the API does not serve.
    let r = app
        .post("/receipts/ocr/pause", Some(&app.token("alice")))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .send_raw(Request::put("/receipts").body(Body::empty()).unwrap())
        .await;
    assert_eq!(r.0, StatusCode::METHOD_NOT_ALLOWED);
}

/// Calls the API, checks each answer against the document, and records
/// which operations were called.
struct Tour<'a> {
    app: &'a TestApp,
    doc: Value,
    seen: BTreeSet<(String, String)>,
    answers: usize,
}

impl Tour<'_> {
    /// Sends `req` (for the operation `method template`) and checks its
    /// status is documented and its body matches the documented schema.
    async fn call(&mut self, template: &str, req: Request<Body>) -> (StatusCode, Value) {
        let method = req.method().as_str().to_lowercase();
        let (status, headers, bytes) = self.app.send_raw(req).await;
        let op = &self.doc["paths"][template][&method];
        assert!(op.is_object(), "{method} {template} is not in the document");
        let answer = &op["responses"][status.as_str()];
        assert!(
            answer.is_object(),
            "{method} {template} answered {status}, which the document does not list: {}",
            String::from_utf8_lossy(&bytes)
        );
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert!(
                answer["headers"]["Retry-After"].is_object() && headers.contains_key("retry-after"),
                "{method} {template} 429: Retry-After is documented and sent"
            );
        }
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let body = if bytes.is_empty() {
            assert!(
                answer.get("content").is_none(),
                "{method} {template} {status}: the document promises a body"
            );
            Value::Null
        } else {
            let content = &answer["content"][&content_type];
            assert!(
                content.is_object(),
                "{method} {template} {status}: {content_type} is not a documented content type"
            );
            if content_type == "application/json" {
                let body: Value = serde_json::from_slice(&bytes).unwrap();
                let errors = schema_errors(&self.doc, &content["schema"], &body);
                assert!(
                    errors.is_empty(),
                    "{method} {template} {status}: the answer does not match its schema: {errors:#?}\n{body:#}"
                );
                body
            } else {
                Value::String(String::from_utf8_lossy(&bytes).into_owned())
            }
        };
        self.seen.insert((method, template.to_owned()));
        self.answers += 1;
        (status, body)
    }

    async fn get(
        &mut self,
        template: &str,
        path: &str,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        self.call(template, request(Method::GET, path, token, None))
            .await
    }

    async fn post(
        &mut self,
        template: &str,
        path: &str,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        self.call(template, request(Method::POST, path, token, None))
            .await
    }

    async fn post_json(
        &mut self,
        template: &str,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        self.call(template, request(Method::POST, path, token, Some(body)))
            .await
    }

    async fn upload(
        &mut self,
        path: &str,
        token: &str,
        key: Option<&str>,
        png: &[u8],
    ) -> (StatusCode, Value) {
        let (content_type, body) = testkit::multipart_body(&[Part::File {
            name: "file",
            file_name: "r.png",
            content_type: "image/png",
            bytes: png,
        }]);
        let mut b = Request::post(path)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", content_type);
        if let Some(k) = key {
            b = b.header("idempotency-key", k);
        }
        self.call("/receipts", b.body(Body::from(body)).unwrap())
            .await
    }
}

/// What is wrong with `body` by `schema`, a schema of the document.
fn schema_errors(doc: &Value, schema: &Value, body: &Value) -> Vec<String> {
    let mut schema = schema.clone();
    schema["components"] = doc["components"].clone();
    let validator = jsonschema::draft202012::new(&schema)
        .unwrap_or_else(|e| panic!("not a JSON Schema: {e}: {schema}"));
    validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn request(method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    match body {
        Some(v) => b
            .header("content-type", "application/json")
            .body(Body::from(v.to_string()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

#[tokio::test]
async fn every_answer_of_a_tour_of_the_api_matches_its_schema() {
    let app = TestApp::spawn_with(Options {
        webhooks: true,
        dev_sign_in: true,
        limits: LimitSettings {
            uploads_per_minute: 6,
            queued_per_minute: 0,
            max_in_flight: 0,
        },
        ..Default::default()
    })
    .await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    let running = pipeline::start(&app, &agent).await;
    let mut t = Tour {
        doc: document(&app).await,
        app: &app,
        seen: BTreeSet::new(),
        answers: 0,
    };
    let alice = app.token("alice");
    let admin = app.token(ADMIN);
    let a = Some(alice.as_str());

    t.get("/health", "/health", None).await;
    t.get("/openapi.json", "/openapi.json", None).await;
    // The check can fail: answers that are not what the schemas say.
    let receipt = json!({"$ref": "#/components/schemas/ReceiptDetail"});
    let error = json!({"$ref": "#/components/schemas/ErrorBody"});
    for (schema, wrong) in [
        (&receipt, json!({"id": "seven"})),
        (&error, json!({"error": {"code": "x"}})),
        (&error, json!({"message": "flat"})),
    ] {
        assert!(
            !schema_errors(&t.doc, schema, &wrong).is_empty(),
            "{wrong} passed"
        );
    }

    // Uploads: new, replayed, a duplicate, refused; one read to the end.
    let png = png_bytes();
    let (st, first) = t.upload("/receipts", &alice, Some("tour-1"), &png).await;
    assert_eq!(st, StatusCode::CREATED);
    let id = first["id"].as_i64().unwrap();
    assert_eq!(
        t.upload("/receipts", &alice, Some("tour-1"), &png).await.0,
        StatusCode::OK
    );
    let (st, dup) = t.upload("/receipts", &alice, None, &png).await;
    assert_eq!(
        (st, dup["duplicate_of"].as_i64()),
        (StatusCode::OK, Some(id))
    );
    assert_eq!(
        t.upload("/receipts", &alice, Some("tour-1"), &png_bytes())
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        t.upload("/receipts?priority=later", &alice, None, &png)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    app.wait_for_status(id, "completed", Duration::from_secs(20))
        .await;
    let (st, detail) = t.get("/receipts/{id}", &format!("/receipts/{id}"), a).await;
    assert_eq!(st, StatusCode::OK);
    assert!(detail["metadata"]["total"].is_string(), "{detail}");
    t.get("/receipts/{id}", "/receipts/999999", a).await;
    t.get("/receipts/{id}", "/receipts/x", a).await;
    t.get("/receipts", "/receipts?per_page=5", a).await;
    t.get("/receipts", "/receipts?status=lost", a).await;
    t.get("/receipts", "/receipts", None).await;
    let (st, _) = t
        .post_json(
            "/receipts/upload-url",
            "/receipts/upload-url?priority=high",
            a,
            json!({"content_type": "image/png"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    t.post_json(
        "/receipts/upload-url",
        "/receipts/upload-url",
        a,
        json!({"content_type": "text/plain"}),
    )
    .await;
    t.post_json(
        "/receipts/upload-url",
        "/receipts/upload-url",
        a,
        json!({"type": "image/png"}),
    )
    .await;

    // Queueing, cancel, retries, status, stats, redrive.
    let pending = app.seed_pending("alice", 3).await;
    let (st, _) = t
        .post(
            "/receipts/ocr/process-all",
            "/receipts/ocr/process-all?limit=1&priority=high",
            a,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    t.post(
        "/receipts/ocr/process-all",
        "/receipts/ocr/process-all?limit=0",
        a,
    )
    .await;
    let queued = pending[0];
    let (st, _) = t
        .post(
            "/receipts/{id}/ocr/cancel",
            &format!("/receipts/{queued}/ocr/cancel"),
            a,
        )
        .await;
    // The worker may have claimed it first.
    assert!(st == StatusCode::OK || st == StatusCode::CONFLICT, "{st}");
    t.post(
        "/receipts/{id}/ocr/cancel",
        &format!("/receipts/{id}/ocr/cancel"),
        a,
    )
    .await;
    t.post("/receipts/ocr/cancel-all", "/receipts/ocr/cancel-all", a)
        .await;
    let (st, _) = t
        .post(
            "/receipts/{id}/ocr/retry",
            &format!("/receipts/{}/ocr/retry", pending[1]),
            a,
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    t.post(
        "/receipts/{id}/ocr/retry",
        &format!("/receipts/{id}/ocr/retry"),
        a,
    )
    .await;
    t.post("/receipts/{id}/ocr/retry", "/receipts/999999/ocr/retry", a)
        .await;
    app.set_status(pending[2], "failed", Some("unreadable"))
        .await;
    t.post(
        "/receipts/ocr/retry-failed",
        "/receipts/ocr/retry-failed",
        a,
    )
    .await;
    t.get(
        "/receipts/ocr/queue-status",
        "/receipts/ocr/queue-status",
        a,
    )
    .await;
    t.get(
        "/receipts/ocr/queue-status",
        &format!("/receipts/ocr/queue-status?receipt_id={id}"),
        a,
    )
    .await;
    t.get(
        "/receipts/ocr/queue-status",
        "/receipts/ocr/queue-status?receipt_id=0",
        a,
    )
    .await;
    t.get("/receipts/ocr/stats", "/receipts/ocr/stats?hours=1", a)
        .await;
    t.get("/receipts/ocr/stats", "/receipts/ocr/stats?scope=all", a)
        .await;
    t.get(
        "/receipts/ocr/stats",
        "/receipts/ocr/stats?scope=all",
        Some(&admin),
    )
    .await;
    t.post("/receipts/ocr/redrive", "/receipts/ocr/redrive", a)
        .await;
    let (st, _) = t
        .post(
            "/receipts/ocr/redrive",
            "/receipts/ocr/redrive",
            Some(&admin),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED);

    // Events.
    let (st, page) = t
        .get("/receipts/events", "/receipts/events?after=0&limit=50", a)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(!page["events"].as_array().unwrap().is_empty());
    t.get("/receipts/events", "/receipts/events?after=-1", a)
        .await;

    // Settings.
    let (st, _) = t.get("/users/me/settings", "/users/me/settings", a).await;
    assert_eq!(st, StatusCode::OK);
    let (st, s) = t
        .call(
            "/users/me/settings",
            request(
                Method::PUT,
                "/users/me/settings",
                a,
                Some(json!({"locale": "de-DE"})),
            ),
        )
        .await;
    assert_eq!((st, s), (StatusCode::OK, json!({"locale": "de-DE"})));
    let (st, _) = t
        .call(
            "/users/me/settings",
            request(
                Method::PUT,
                "/users/me/settings",
                a,
                Some(json!({"locale": "de_DE"})),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    // Webhooks.
    let (st, hook) = t
        .post_json(
            "/webhooks",
            "/webhooks",
            a,
            json!({"url": "http://127.0.0.1:9/hook", "events": ["receipt.completed"]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{hook}");
    let hook_id = hook["id"].as_i64().unwrap();
    t.post_json(
        "/webhooks",
        "/webhooks",
        a,
        json!({"url": "ftp://x", "events": []}),
    )
    .await;
    t.get("/webhooks", "/webhooks", a).await;
    let (st, delivery) = t
        .post(
            "/webhooks/{id}/test",
            &format!("/webhooks/{hook_id}/test"),
            a,
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    t.get(
        "/webhooks/{id}/deliveries",
        &format!("/webhooks/{hook_id}/deliveries?limit=5"),
        a,
    )
    .await;
    let delivery_id = delivery["id"].as_i64().unwrap();
    t.post(
        "/webhooks/deliveries/{id}/resend",
        &format!("/webhooks/deliveries/{delivery_id}/resend"),
        a,
    )
    .await;
    t.post(
        "/webhooks/deliveries/{id}/resend",
        "/webhooks/deliveries/999999/resend",
        a,
    )
    .await;
    let del = |p: String| request(Method::DELETE, &p, a, None);
    assert_eq!(
        t.call("/webhooks/{id}", del(format!("/webhooks/{hook_id}")))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.call("/webhooks/{id}", del(format!("/webhooks/{hook_id}")))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    t.get(
        "/webhooks/{id}/deliveries",
        &format!("/webhooks/{hook_id}/deliveries"),
        a,
    )
    .await;

    tour_deletion(&mut t, &app, &admin).await;

    // The page.
    t.get("/", "/", None).await;
    t.get("/ui/assets/{name}", "/ui/assets/app.js", None).await;
    t.get("/ui/assets/{name}", "/ui/assets/app.css", None).await;
    t.get("/ui/assets/{name}", "/ui/assets/secrets.txt", None)
        .await;
    t.get("/ui/assets/{name}", "/ui/assets/%FF", None).await;
    t.post_json(
        "/ui/dev-sign-in",
        "/ui/dev-sign-in",
        None,
        json!({"user": "erin"}),
    )
    .await;
    t.post_json(
        "/ui/dev-sign-in",
        "/ui/dev-sign-in",
        None,
        json!({"user": "a/b"}),
    )
    .await;
    for (template, path) in [
        ("/ui/fragments/session", "/ui/fragments/session".to_owned()),
        (
            "/ui/fragments/receipts",
            "/ui/fragments/receipts?status=completed".to_owned(),
        ),
        ("/ui/fragments/failed", "/ui/fragments/failed".to_owned()),
        (
            "/ui/fragments/receipts/{id}",
            format!("/ui/fragments/receipts/{id}"),
        ),
        (
            "/ui/fragments/receipts/{id}/text",
            format!("/ui/fragments/receipts/{id}/text"),
        ),
        ("/ui/fragments/stats", "/ui/fragments/stats".to_owned()),
        ("/ui/fragments/ops", "/ui/fragments/ops".to_owned()),
    ] {
        t.get(template, &path, a).await;
    }
    t.get("/ui/fragments/ops", "/ui/fragments/ops", Some(&admin))
        .await;
    t.get(
        "/ui/fragments/receipts/{id}",
        "/ui/fragments/receipts/999999",
        a,
    )
    .await;

    // Over the uploads limit (six a minute; this is the seventh attempt
    // to store something): 429, as documented.
    let mut limited = None;
    for _ in 0..6 {
        let (st, _) = t.upload("/receipts", &alice, None, &png_bytes()).await;
        if st == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(st);
            break;
        }
    }
    assert_eq!(limited, Some(StatusCode::TOO_MANY_REQUESTS));
    running.stop().await;

    let expected: BTreeSet<(String, String)> = OPERATIONS
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let missed: Vec<_> = expected.difference(&t.seen).collect();
    assert!(missed.is_empty(), "the tour did not call {missed:?}");
    eprintln!("{} answers checked against the document", t.answers);
}

/// The deletion routes, as another user (frank) so the rest of the tour
/// keeps alice's receipts.
async fn tour_deletion(t: &mut Tour<'_>, app: &TestApp, admin: &str) {
    let frank = app.token("frank");
    let f = Some(frank.as_str());
    let ids = app.seed_uploaded("frank", 2).await;
    let del = |p: &str, token: Option<&str>| request(Method::DELETE, p, token, None);
    let one = format!("/receipts/{}", ids[0]);
    assert_eq!(
        t.call("/receipts/{id}", del(&one, f)).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.call("/receipts/{id}", del(&one, f)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.call("/receipts/{id}", del("/receipts/x", f)).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        t.call("/receipts", del("/receipts", f)).await.0,
        StatusCode::BAD_REQUEST
    );
    let (st, erasure) = t
        .call("/receipts", del("/receipts?before=2000-01-01", f))
        .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    let path = format!("/erasures/{}", erasure["id"]);
    assert_eq!(t.get("/erasures/{id}", &path, f).await.0, StatusCode::OK);
    assert_eq!(
        t.get("/erasures/{id}", "/erasures/999999", f).await.0,
        StatusCode::NOT_FOUND
    );
    let (st, _) = t.call("/users/{user_id}", del("/users/frank", f)).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = t
        .call("/users/{user_id}", del("/users/a%20b", Some(admin)))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = t
        .call("/users/{user_id}", del("/users/gina", Some(admin)))
        .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    let (st, done) = t.call("/users/me", del("/users/me", f)).await;
    assert_eq!(st, StatusCode::ACCEPTED);
    assert_eq!(done["receipts_deleted"], 1);
}
