//! The Lambda path: API Gateway REST proxy events (the files in `fixtures/lambda-events/`)
//! through lambda_http's adapter into the same Router, against the real
//! Postgres and LocalStack.

use base64::Engine;
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Context, LambdaEvent, Service};
use serde_json::{Value, json};
use shared::config::AuthConfig;
use testkit::{Options, Part, TestApp, multipart_body, png_bytes};

fn event(name: &str) -> Value {
    let path = format!(
        "{}/../../fixtures/lambda-events/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .unwrap()
}

/// Runs one event through the Lambda adapter; returns (statusCode, JSON body).
async fn invoke(app: &TestApp, event: Value) -> (u16, Value) {
    let req: LambdaRequest =
        serde_json::from_value(event).expect("an API Gateway REST proxy event");
    let mut adapter = Adapter::from(app.state.clone().lambda_service());
    let resp = adapter
        .call(LambdaEvent::new(req, Context::default()))
        .await
        .expect("handler answers");
    let out = serde_json::to_value(&resp).unwrap();
    let status = out["statusCode"].as_u64().unwrap() as u16;
    let body = out["body"].as_str().unwrap_or("");
    let body = if out["isBase64Encoded"] == true {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .unwrap(),
        )
        .unwrap()
    } else {
        body.to_owned()
    };
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

async fn apigw_app() -> TestApp {
    TestApp::spawn_with(Options {
        auth: AuthConfig::ApiGateway,
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn health_event_answers_on_a_staged_api() {
    let app = apigw_app().await;
    let (status, body) = invoke(&app, event("api-health.json")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn the_caller_is_the_authorizers_verified_subject() {
    let app = apigw_app().await;
    let mine = app.seed_pending("alice", 2).await;
    app.seed_pending("bob", 3).await;

    let (status, body) = invoke(&app, event("api-list-receipts.json")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 2);
    let ids: Vec<i64> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![mine[1], mine[0]]);

    // A Lambda authorizer's principalId works the same way.
    let mut ev = event("api-list-receipts.json");
    ev["requestContext"]["authorizer"] = json!({"principalId": "bob"});
    let (_, body) = invoke(&app, ev).await;
    assert_eq!(body["total"], 3);

    // No authorizer context: 401, whatever the headers claim.
    let mut ev = event("api-list-receipts.json");
    ev["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("authorizer");
    ev["headers"]["X-User-Id"] = json!("alice");
    ev["queryStringParameters"]["user_id"] = json!("alice");
    let (status, body) = invoke(&app, ev).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
}

#[tokio::test]
async fn process_all_event_queues_the_callers_pending_receipts() {
    let app = apigw_app().await;
    let ids = app.seed_pending("alice", 7).await;
    let (status, body) = invoke(&app, event("api-process-all.json")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "queued");
    assert_eq!(body["queued"], 5, "the event asks limit=5");
    let bodies = app.drain(&app.ocr_queue_url).await;
    let mut sent: Vec<i64> = bodies
        .iter()
        .map(|b| b["receipt_id"].as_i64().unwrap())
        .collect();
    sent.sort();
    assert_eq!(sent, ids[..5].to_vec());

    let mut ev = event("api-process-all.json");
    ev["queryStringParameters"] = json!({"limit": "abc"});
    ev["multiValueQueryStringParameters"] = json!({"limit": ["abc"]});
    let (status, body) = invoke(&app, ev).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_input");
    assert_eq!(app.status_of(ids[6]).await, "pending");
}

#[tokio::test]
async fn queue_status_and_upload_url_events() {
    let app = apigw_app().await;
    app.seed_pending("alice", 2).await;
    let (status, body) = invoke(&app, event("api-queue-status.json")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pending"], 2);
    assert_eq!(body["total_tracked"], 2);

    let (status, body) = invoke(&app, event("api-upload-url.json")).await;
    assert_eq!(status, 201, "{body}");
    assert!(body["key"].as_str().unwrap().starts_with("uploads/alice/"));
}

#[tokio::test]
async fn a_multipart_upload_arrives_base64_encoded_and_is_stored() {
    let app = apigw_app().await;
    let (content_type, bytes) = multipart_body(&[Part::File {
        name: "file",
        file_name: "scan.png",
        content_type: "image/png",
        bytes: &png_bytes(),
    }]);
    let mut ev = event("api-list-receipts.json");
    ev["httpMethod"] = json!("POST");
    ev["requestContext"]["httpMethod"] = json!("POST");
    ev["queryStringParameters"] = Value::Null;
    ev["multiValueQueryStringParameters"] = Value::Null;
    ev["headers"]["Content-Type"] = json!(content_type);
    ev["multiValueHeaders"]["Content-Type"] = json!([content_type]);
    ev["body"] = json!(base64::engine::general_purpose::STANDARD.encode(&bytes));
    ev["isBase64Encoded"] = json!(true);
    let (status, body) = invoke(&app, ev).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "pending");
    assert_eq!(app.object_keys().await.len(), 1);
}

#[tokio::test]
async fn with_jwt_mode_the_lambda_verifies_the_bearer_token_itself() {
    let app = TestApp::spawn().await; // AUTH_MODE=jwt
    app.seed_pending("carol", 1).await;
    let mut ev = event("api-queue-status.json");
    // An authorizer context is not trusted in jwt mode.
    let (status, _) = invoke(&app, ev.clone()).await;
    assert_eq!(status, 401);
    let token = app.token("carol");
    ev["headers"]["Authorization"] = json!(format!("Bearer {token}"));
    ev["multiValueHeaders"]["Authorization"] = json!([format!("Bearer {token}")]);
    let (status, body) = invoke(&app, ev).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pending"], 1);
    assert_eq!(body["user_id"], "carol");
}
