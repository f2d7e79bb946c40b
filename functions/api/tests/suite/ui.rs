//! The page, in a real browser (Debian's headless Chromium over WebDriver),
//! against the API served on a real port, the real Postgres and LocalStack,
//! the worker and ingest polling the test's queues, and a fake OCR agent the
//! test controls. Each step's screenshot is saved under
//! `target/ui-screenshots/` for review.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use shared::domain::extraction::{Extraction, Merchant};
use testkit::agent::{FakeAgent, Reply, sample_extraction};
use testkit::browser::Browser;
use testkit::render::receipt_png;
use testkit::{Options, TestApp, pipeline};

/// What the fake agent reads from receipt `id`: its own merchant and total.
fn extraction_for(id: i64) -> Extraction {
    Extraction {
        merchant: Merchant {
            name: Some(format!("SHOP NUMBER {id}")),
            address: Some("1 JALAN BESAR".into()),
        },
        total: Some(format!("{}.50", 10 + id).parse().unwrap()),
        ..sample_extraction()
    }
}

/// From now on the agent reads every receipt (merchant and total of its
/// own), but refuses receipt `refuse` the first time (a 422: it fails at
/// once, with the reason).
fn reads_every_receipt(agent: &FakeAgent, refuse: Option<i64>) {
    agent.plan(Arc::new(move |id, call| {
        if Some(id) == refuse && call == 1 {
            Reply::Status(422)
        } else {
            Reply::Extract(Box::new(extraction_for(id)))
        }
    }));
}

fn total_of(id: i64) -> String {
    format!("MYR {}.50", 10 + id)
}

/// Receipt images drawn by the test, written where the browser can pick them.
fn receipt_files(names: &[&str]) -> Vec<PathBuf> {
    let dir = std::env::temp_dir().join(format!("receipts-ui-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    names
        .iter()
        .map(|name| {
            let path = dir.join(name);
            let png = receipt_png(&[
                &format!("RECEIPT {}", name.to_uppercase()),
                "DATE: 25/12/2018",
                "TEH TARIK        2.50",
                "TOTAL            2.50",
            ]);
            std::fs::write(&path, png).unwrap();
            path
        })
        .collect()
}

async fn sign_in_as(b: &Browser, user: &str) {
    b.type_into("#dev-user", user).await;
    b.click("#dev-sign-in button[type=submit]").await;
    b.wait_for_text("#whoami", |t| t == format!("Signed in as {user}"))
        .await;
    b.wait_until(
        "the event stream is open",
        "document.body.dataset.stream === 'open'",
    )
    .await;
}

/// Signs in by pasting a token into the sign-in form.
async fn paste_token(b: &Browser, token: &str) {
    b.type_into("#token", token).await;
    b.click("#token-sign-in button[type=submit]").await;
}

/// The badges of the listed receipts, by id.
async fn badges(b: &Browser) -> serde_json::Value {
    b.eval(
        "return Object.fromEntries(Array.from(document.querySelectorAll('#view [data-status-of]')) \
         .map(e => [e.dataset.statusOf, e.textContent.trim()]));",
    )
    .await
}

#[tokio::test]
async fn a_person_signs_in_uploads_three_receipts_presses_process_all_and_watches_them_complete() {
    // AUTO_OCR off: uploads wait for Process all.
    let app = TestApp::spawn_with(Options {
        dev_sign_in: true,
        auto_ocr: false,
        ..Options::default()
    })
    .await;
    let agent = FakeAgent::start(Reply::Status(500)).await;
    let running = pipeline::start(&app, &agent).await;
    let base = app.serve().await;
    let b = Browser::start(1280, 1000).await;

    // Sign in with the development sign-in.
    b.goto(&base).await;
    b.find("#dev-sign-in").await;
    b.screenshot("01-sign-in").await;
    sign_in_as(&b, "alice").await;

    // Three receipts at once through the file picker the drop zone holds.
    let files = receipt_files(&["first.png", "second.png", "third.png"]);
    let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    b.find("#files")
        .await
        .send_keys(&paths.join("\n"))
        .await
        .unwrap();
    b.wait_until(
        "three uploads confirmed",
        "document.querySelectorAll('#uploads li.ok').length === 3",
    )
    .await;
    b.wait_until(
        "three pending receipts listed",
        "document.querySelectorAll('#view .badge-pending').length === 3",
    )
    .await;
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM receipts WHERE user_id = 'alice' ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(ids.len(), 3, "three receipts stored, for alice");
    let (one, two, three) = (ids[0], ids[1], ids[2]);
    reads_every_receipt(&agent, Some(two));
    b.screenshot("02-uploaded").await;

    // Process all: the bar reaches 3 of 3 from the event stream, no reload.
    b.eval("window.__notReloaded = true; return null;").await;
    b.click("#process-all button[type=submit]").await;
    let progress = b
        .wait_for_text("#progress-text", |t| t.starts_with("3 of 3 done"))
        .await;
    assert_eq!(progress, "3 of 3 done (1 failed)");
    let bar = b
        .eval("const p = document.getElementById('progress-bar'); return [p.value, p.max];")
        .await;
    assert_eq!(bar, json!([3, 3]));
    b.wait_until(
        "the badges show the outcome",
        "document.querySelectorAll('#view .badge-completed').length === 2 && \
         document.querySelectorAll('#view .badge-failed').length === 1",
    )
    .await;
    let mut expected = serde_json::Map::new();
    for (id, status) in [(one, "completed"), (two, "failed"), (three, "completed")] {
        expected.insert(id.to_string(), json!(status));
    }
    assert_eq!(badges(&b).await, serde_json::Value::Object(expected));
    assert_eq!(
        b.eval("return window.__notReloaded === true;").await,
        json!(true),
        "the page was not reloaded"
    );
    // The row's total follows its badge (the list is fetched again).
    b.wait_for_text(&format!("#view [data-total-of='{three}']"), |t| {
        t == total_of(three)
    })
    .await;
    b.screenshot("03-processed").await;

    // A receipt's page: its total, merchant, items, and the raw text on demand.
    b.click(&format!("#view a[href='#/receipts/{one}']")).await;
    assert_eq!(
        b.wait_for_text("#total", |t| !t.is_empty()).await,
        total_of(one)
    );
    assert_eq!(b.text("#merchant").await, format!("SHOP NUMBER {one}"));
    assert_eq!(b.text("#date").await, "2018-12-25");
    assert!(b.text("#view table").await.contains("TEH O"));
    let img_ok = b
        .eval(
            "const i = document.querySelector('.scan img'); \
             return !!i && i.complete && i.naturalWidth > 0;",
        )
        .await;
    b.click("#raw-text summary").await;
    b.wait_for_text("#raw-text pre", |t| t.contains("TOTAL 9.00"))
        .await;
    assert_eq!(
        img_ok,
        json!(true),
        "the receipt's image shows (presigned GET)"
    );
    b.screenshot("04-receipt").await;

    // The failed receipt: its reason in the failed list and on its page; Retry.
    b.click("a[href='#/failed']").await;
    let reason = b
        .wait_for_text(&format!("[data-reason-of='{two}']"), |t| !t.is_empty())
        .await;
    assert!(reason.contains("422"), "the reason is shown: {reason}");
    b.screenshot("05-failed").await;
    b.click(&format!("#view a[href='#/receipts/{two}']")).await;
    let shown = b.wait_for_text("#failure-reason", |t| !t.is_empty()).await;
    assert!(shown.contains("422"), "{shown}");
    b.click("button[data-action='retry']").await;
    b.wait_for_text(&format!("#view [data-status-of='{two}']"), |t| {
        t == "completed"
    })
    .await;
    assert_eq!(b.wait_for_text("#total", |t| t != "—").await, total_of(two));
    assert_eq!(agent.calls_for(two), 2, "read again once");
    app.wait_for_status(two, "completed", Duration::from_secs(5))
        .await;

    // The figures, from the stats endpoint.
    b.click("a[href='#/']").await;
    b.wait_for_text("#stat-finished", |t| t == "3").await;
    assert_eq!(b.text("#stat-success").await, "100 %");
    b.screenshot("06-list-and-stats").await;

    // At a phone's width nothing overflows sideways.
    b.client.set_window_size(390, 844).await.unwrap();
    b.wait_until(
        "no sideways scrolling at 390 px",
        "document.documentElement.scrollWidth <= window.innerWidth",
    )
    .await;
    b.screenshot("07-phone").await;
    b.client.set_window_size(1280, 1000).await.unwrap();

    // Bob sees none of alice's receipts, not even by their address.
    b.click("#sign-out").await;
    b.find("#dev-sign-in").await;
    sign_in_as(&b, "bob").await;
    b.wait_for_text("#list-count", |t| t == "0 receipts").await;
    b.goto(&format!("{base}#/receipts/{one}")).await;
    b.wait_for_text("#toast", |t| t == "not found").await;
    assert!(
        !b.exists("#total").await,
        "alice's receipt is not shown to bob"
    );
    assert_eq!(b.text("#stat-finished").await, "0");
    b.screenshot("08-bob").await;

    b.close().await;
    running.stop().await;
}

#[tokio::test]
async fn without_the_setting_there_is_no_dev_sign_in_and_a_pasted_token_signs_in() {
    let app = TestApp::spawn().await;
    assert!(!app.config.api.dev_sign_in, "off by default");
    let base = app.serve().await;

    // The route answers 404 with the JSON error, and mints nothing.
    let r = reqwest::Client::new()
        .post(format!("{base}ui/dev-sign-in"))
        .json(&json!({"user": "mallory"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");

    let b = Browser::start(1280, 900).await;
    b.goto(&base).await;
    b.find("#token-sign-in").await;
    // Every field of the page has a label (screen readers name it).
    let unlabelled = b
        .eval(
            "return Array.from(document.querySelectorAll('input, select, textarea')) \
             .filter(e => e.labels.length === 0).map(e => e.id);",
        )
        .await;
    assert_eq!(unlabelled, json!([]), "fields without a label");
    assert!(!b.exists("#dev-sign-in").await, "no development sign-in");
    assert!(!b.exists("#dev-user").await);

    // A forged token is refused, and the page says so.
    paste_token(&b, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.bad").await;
    let err = b.wait_for_text("#sign-in-error", |t| !t.is_empty()).await;
    assert!(err.contains("refused"), "{err}");
    assert!(!b.visible("#app").await);
    b.screenshot("11-token-refused").await;

    // A real token signs in; carol is no operator.
    paste_token(&b, &app.token("carol")).await;
    b.wait_for_text("#whoami", |t| t == "Signed in as carol")
        .await;
    assert!(
        !b.visible("#nav-ops").await,
        "carol sees no operators' link"
    );
    b.goto(&format!("{base}#/ops")).await;
    let refused = b.wait_for_text("#toast", |t| !t.is_empty()).await;
    assert!(refused.contains("operators"), "{refused}");
    assert!(!b.exists("#ops-dlq").await);

    // The operator sees the queues and the Redrive button.
    b.click("#sign-out").await;
    paste_token(&b, &app.token(testkit::ADMIN)).await;
    b.wait_for_text("#whoami", |t| t == "Signed in as admin")
        .await;
    b.click("#nav-ops").await;
    assert_eq!(b.wait_for_text("#ops-dlq", |t| !t.is_empty()).await, "0");
    assert_eq!(b.text("#ops-queue").await, "0");
    assert!(b.exists("button[data-action='redrive'][disabled]").await);
    b.screenshot("12-operators").await;
    b.close().await;
}

#[tokio::test]
async fn a_file_over_the_api_limit_goes_straight_to_storage_and_is_read_by_itself() {
    let app = TestApp::spawn_with(Options {
        dev_sign_in: true,
        max_upload_bytes: 1024,
        max_direct_upload_bytes: Some(5 * 1024 * 1024),
        ..Options::default()
    })
    .await;
    let agent = FakeAgent::start(Reply::Status(500)).await;
    reads_every_receipt(&agent, None);
    let running = pipeline::start(&app, &agent).await;
    let base = app.serve().await;
    let files = receipt_files(&["big.png"]);
    assert!(std::fs::metadata(&files[0]).unwrap().len() > 1024);

    let b = Browser::start(1280, 900).await;
    b.goto(&base).await;
    sign_in_as(&b, "dana").await;
    // Dropped on the drop zone, as a person drags a file from their desktop
    // (a drop event carrying the file, made in the page).
    // With it a small file, which goes to the API: uploads are read by
    // themselves here (AUTO_OCR), and the bar follows the one it knows.
    let b64 =
        |bytes: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes);
    b.client
        .execute(
            "const file = (b64, name) => { const bin = atob(b64); \
               const buf = new Uint8Array(bin.length); \
               for (let i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i); \
               return new File([buf], name, {type: 'image/png'}); }; \
             const dt = new DataTransfer(); \
             dt.items.add(file(arguments[0], 'big.png')); \
             dt.items.add(file(arguments[1], 'small.png')); \
             const zone = document.getElementById('dropzone'); \
             zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true})); \
             zone.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true})); \
             return null;",
            vec![
                json!(b64(&std::fs::read(&files[0]).unwrap())),
                json!(b64(&testkit::png_bytes())),
            ],
        )
        .await
        .unwrap();
    b.wait_until(
        "both uploads confirmed",
        "document.querySelectorAll('#uploads li.ok').length === 2",
    )
    .await;
    let line = b.text("#uploads li.ok:first-child").await;
    assert!(line.starts_with("big.png"), "{line}");
    assert!(line.contains("uploaded to storage"), "{line}");
    // S3 → ingest queue → receipt registered and queued → read; the page
    // learns of it from the stream.
    b.wait_for_text("#progress-text", |t| t == "1 of 1 done")
        .await;
    app.wait_for_receipts(2, Duration::from_secs(30)).await;
    let (id, owner): (i64, String) =
        sqlx::query_as("SELECT id, user_id FROM receipts WHERE file_name <> 'small.png'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(owner, "dana");
    b.wait_for_text(&format!("#view [data-status-of='{id}']"), |t| {
        t == "completed"
    })
    .await;
    b.wait_for_text(&format!("#view [data-total-of='{id}']"), |t| {
        t == total_of(id)
    })
    .await;
    b.screenshot("13-direct-upload").await;
    b.close().await;
    running.stop().await;
}

#[tokio::test]
async fn the_shell_and_its_assets_are_public_strict_and_hold_no_user_data() {
    let app = TestApp::spawn().await;
    app.seed_pending("alice", 2).await;
    let base = app.serve().await;
    let http = reqwest::Client::new();

    let r = http.get(&base).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = h["content-security-policy"].to_str().unwrap();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert!(h.get("set-cookie").is_none(), "no cookie");
    let html = r.text().await.unwrap();
    assert!(!html.contains("alice"), "the shell holds no user data");
    assert!(
        !html.contains("<script>"),
        "no inline script (the CSP forbids it)"
    );

    // Every asset the shell names is served from here, none from elsewhere.
    let srcs: Vec<&str> = html
        .split(['"', '\''])
        .filter(|s| s.starts_with("ui/assets/"))
        .collect();
    assert_eq!(srcs.len(), 4, "{srcs:?}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external asset"
    );
    for src in srcs {
        let r = http.get(format!("{base}{src}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{src}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(
            ct.starts_with("text/javascript") || ct.starts_with("text/css"),
            "{src}: {ct}"
        );
        assert!(!r.bytes().await.unwrap().is_empty());
    }
    let r = http
        .get(format!("{base}ui/assets/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
}

/// A stand-in for Cognito's hosted sign-in (its `/oauth2/authorize` and
/// `/oauth2/token`): one user, codes bound to their PKCE challenge, each
/// good once; the token answer carries CORS, as Cognito's does.
#[derive(Default)]
struct Idp {
    codes: std::sync::Mutex<std::collections::HashMap<String, (String, String)>>,
    id_token: String,
    exchanged: std::sync::atomic::AtomicUsize,
}

async fn start_idp(id_token: String) -> (url::Url, Arc<Idp>) {
    use axum::extract::{Form, Query, State};
    use axum::response::{IntoResponse, Redirect};
    use std::collections::HashMap;
    type Params = HashMap<String, String>;

    async fn authorize(State(idp): State<Arc<Idp>>, Query(q): Query<Params>) -> impl IntoResponse {
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "page-client");
        assert_eq!(q["code_challenge_method"], "S256");
        assert!(q["scope"].contains("openid"));
        let code = uuid::Uuid::new_v4().simple().to_string();
        idp.codes.lock().unwrap().insert(
            code.clone(),
            (q["code_challenge"].clone(), q["redirect_uri"].clone()),
        );
        let mut back = url::Url::parse(&q["redirect_uri"]).unwrap();
        back.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &q["state"]);
        Redirect::to(back.as_str())
    }

    async fn token(State(idp): State<Arc<Idp>>, Form(f): Form<Params>) -> impl IntoResponse {
        use sha2::Digest;
        let cors = [("access-control-allow-origin", "*")];
        let bound = idp.codes.lock().unwrap().remove(&f["code"]);
        let verified = bound.is_some_and(|(challenge, redirect)| {
            let digest = sha2::Sha256::digest(f["code_verifier"].as_bytes());
            let s256 =
                base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, digest);
            s256 == challenge
                && redirect == f["redirect_uri"]
                && f["client_id"] == "page-client"
                && f["grant_type"] == "authorization_code"
        });
        if !verified {
            return (
                http::StatusCode::BAD_REQUEST,
                cors,
                axum::Json(json!({"error": "invalid_grant"})),
            );
        }
        idp.exchanged
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        (
            http::StatusCode::OK,
            cors,
            axum::Json(
                json!({"id_token": idp.id_token, "access_token": "unused", "token_type": "Bearer", "expires_in": 3600}),
            ),
        )
    }

    let idp = Arc::new(Idp {
        id_token,
        ..Idp::default()
    });
    let app = axum::Router::new()
        .route("/oauth2/authorize", axum::routing::get(authorize))
        .route("/oauth2/token", axum::routing::post(token))
        .with_state(idp.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, idp)
}

#[tokio::test]
async fn a_person_signs_in_through_the_hosted_sign_in_and_no_token_or_code_stays_in_the_url() {
    // The stand-in issues what the API verifies here (HS256 with the test
    // secret); on AWS, Cognito's ID token passes API Gateway's authorizer.
    let probe = TestApp::spawn().await;
    let (domain, idp) = start_idp(probe.token("erin")).await;
    let app = TestApp::spawn_with(Options {
        hosted_sign_in: Some(shared::config::HostedSignIn {
            domain: domain.clone(),
            client_id: "page-client".into(),
        }),
        ..Options::default()
    })
    .await;
    let base = app.serve().await;
    let csp = reqwest::get(&base).await.unwrap().headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains(&format!(
            "connect-src 'self' {} {}",
            app.config
                .common
                .aws
                .endpoint_url
                .as_ref()
                .unwrap()
                .origin()
                .ascii_serialization(),
            domain.origin().ascii_serialization()
        )),
        "the token endpoint may be called: {csp}"
    );

    let b = Browser::start(1280, 900).await;
    b.goto(&base).await;
    b.screenshot("21-hosted-sign-in").await;
    b.click("#hosted-sign-in button[type=submit]").await;
    b.wait_for_text("#whoami", |t| t == "Signed in as erin")
        .await;
    assert_eq!(idp.exchanged.load(std::sync::atomic::Ordering::SeqCst), 1);
    let url = b.client.current_url().await.unwrap();
    assert_eq!(
        url.query(),
        None,
        "the code is gone from the address bar: {url}"
    );
    assert!(!url.as_str().contains(&probe.token("erin")));
    b.wait_until(
        "the event stream is open",
        "document.body.dataset.stream === 'open'",
    )
    .await;

    // A code that did not start in this tab (a forged link) signs no one in.
    b.click("#sign-out").await;
    b.goto(&format!("{base}?code=stolen&state=forged")).await;
    let err = b.wait_for_text("#sign-in-error", |t| !t.is_empty()).await;
    assert!(err.contains("state differs"), "{err}");
    assert!(!b.visible("#app").await);
    assert_eq!(idp.exchanged.load(std::sync::atomic::Ordering::SeqCst), 1);
    b.close().await;
}

#[tokio::test]
async fn a_person_uploads_at_high_priority_cancels_a_queued_receipt_and_is_told_of_a_duplicate() {
    // AUTO_OCR off and no worker: a processed-all receipt stays queued.
    let app = TestApp::spawn_with(Options {
        dev_sign_in: true,
        auto_ocr: false,
        ..Options::default()
    })
    .await;
    let base = app.serve().await;
    let b = Browser::start(1280, 1000).await;
    b.goto(&base).await;
    sign_in_as(&b, "gina").await;

    // High priority ticked: the upload is stored high, and listed so.
    b.click("#priority-high").await;
    let files = receipt_files(&["rush.png"]);
    let path = files[0].display().to_string();
    b.find("#files").await.send_keys(&path).await.unwrap();
    b.wait_until(
        "the upload confirmed",
        "document.querySelectorAll('#uploads li.ok').length === 1",
    )
    .await;
    let line = b.text("#uploads li.ok").await;
    assert!(line.contains("high priority"), "{line}");
    let (id, priority): (i64, String) =
        sqlx::query_as("SELECT id, priority FROM receipts WHERE user_id = 'gina'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(priority, "high");
    b.wait_for_text(&format!("#view [data-high-of='{id}']"), |t| t == "high")
        .await;

    // The same file again: the page says which receipt it already is.
    b.eval("document.getElementById('files').value = ''").await;
    b.find("#files").await.send_keys(&path).await.unwrap();
    b.wait_until(
        "the second upload answered",
        "document.querySelectorAll('#uploads li.ok').length === 2",
    )
    .await;
    let line = b.text("#uploads li.ok:last-child").await;
    assert_eq!(line, format!("rush.png: already uploaded as receipt {id}"));
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM receipts")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 1);

    // Process all at high priority (the box is still ticked), then cancel
    // it on its page before any worker reads it.
    b.click("#process-all button[type=submit]").await;
    b.wait_for_text(&format!("#view [data-status-of='{id}']"), |t| t == "queued")
        .await;
    let msgs = app.drain(&app.ocr_high_queue_url).await;
    assert_eq!(msgs.len(), 1, "the job went to the high queue");
    b.goto(&format!("{base}#/receipts/{id}")).await;
    b.click("button[data-action=cancel]").await;
    b.wait_for_text("#toast", |t| t.contains("cancelled")).await;
    assert_eq!(app.status_of(id).await, "pending");
    b.wait_until(
        "the Cancel button gone",
        "document.querySelector('button[data-action=cancel]') === null",
    )
    .await;
    b.screenshot("14-cancelled").await;
    b.close().await;
}
