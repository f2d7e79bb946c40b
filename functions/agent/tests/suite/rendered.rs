//! The agent on receipts the tests render themselves (text drawn into an
//! image with a system font), through the library, the HTTP service and
//! the command line. The real PP-OCRv6 models on ONNX Runtime (fetched by
//! `./infra/fetch-models.sh`, which the test command runs), no mocks.

use crate::{pool, today};
use std::io::Cursor;
use std::time::Duration;

use agent::http::{AgentState, default_fetch_hosts, router};
use agent::ocr::{EngineConfig, ModelFiles};
use axum::body::Body;
use http_body_util::BodyExt;
use image::{GrayImage, ImageFormat, Luma};
use serde_json::Value;
use shared::outbound::ssrf::FetchPolicy;
use tower::ServiceExt;

use testkit::render::render;

fn encode(img: &GrayImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

const RECEIPT: [&str; 13] = [
    "KEDAI RUNCIT MAJU SDN BHD",
    "NO 12, JALAN MERDEKA 3,",
    "TAMAN SENTOSA, 43000 KAJANG",
    "TEL: 03-8736 1234",
    "DATE: 25/12/2018  14:02",
    "TEH TARIK       2 x 2.50    5.00",
    "ROTI CANAI                  3.00",
    "NASI LEMAK                  6.50",
    "SUBTOTAL                   14.50",
    "GST 6%                      0.87",
    "TOTAL RM                   15.37",
    "CASH                       20.00",
    "CHANGE                      4.63",
];

/// Reads a receipt with the shared engine (the answer must be a reading).
fn read(bytes: &[u8]) -> shared::domain::extraction::Extraction {
    pool()
        .run_here(|eng| agent::extract::extract(eng, bytes, today(), None))
        .unwrap()
}

/// Keeps a rendered receipt for a person to look at (`AGENT_TEST_DUMP=DIR`).
fn dump(name: &str, bytes: &[u8]) {
    if let Ok(dir) = std::env::var("AGENT_TEST_DUMP") {
        std::fs::write(format!("{dir}/{name}"), bytes).unwrap();
    }
}

#[test]
fn reads_the_fields_of_a_rendered_receipt() {
    let png = encode(&render(&RECEIPT), ImageFormat::Png);
    let e = read(&png);
    assert_eq!(
        e.merchant.name.as_deref(),
        Some("KEDAI RUNCIT MAJU SDN BHD"),
        "{:?}",
        e.raw_text
    );
    assert_eq!(
        e.merchant.address.as_deref(),
        Some("NO 12, JALAN MERDEKA 3, TAMAN SENTOSA, 43000 KAJANG")
    );
    assert_eq!(
        e.purchase_date,
        chrono::NaiveDate::from_ymd_opt(2018, 12, 25)
    );
    assert_eq!(e.currency.as_deref(), Some("MYR"));
    assert_eq!(e.total, Some("15.37".parse().unwrap()), "{:?}", e.raw_text);
    assert_eq!(e.subtotal, Some("14.50".parse().unwrap()));
    assert_eq!(e.tax, Some("0.87".parse().unwrap()));
    let items: Vec<(String, String)> = e
        .items
        .iter()
        .map(|i| (i.name.clone(), i.amount.unwrap().to_string()))
        .collect();
    assert_eq!(
        items,
        vec![
            ("TEH TARIK".to_owned(), "5.00".to_owned()),
            ("ROTI CANAI".to_owned(), "3.00".to_owned()),
            ("NASI LEMAK".to_owned(), "6.50".to_owned())
        ]
    );
    assert_eq!(e.items[0].quantity, Some("2".parse().unwrap()));
    assert_eq!(e.items[0].unit_price, Some("2.50".parse().unwrap()));
    assert_eq!(
        e.validation.status,
        shared::domain::extraction::ValidationStatus::Ok,
        "{:?}",
        e.validation
    );
    assert!(e.confidence.unwrap() > 0.7);
    assert!(e.engine.unwrap().starts_with("ppocrv6 det "));
}

/// A faded thermal print photographed under uneven light: the ink only 35
/// grey levels darker than the paper, the paper going from light grey at
/// the top left to dark grey at the bottom right, slightly out of focus.
/// A person reads every line; the `tesseract` command reads no merchant,
/// no date and no total from it (its global threshold follows the light).
fn faint_photo(img: &GrayImage) -> GrayImage {
    let (w, h) = img.dimensions();
    let out = GrayImage::from_fn(w, h, |x, y| {
        let paper = 235.0 - 115.0 * (0.6 * y as f32 / h as f32 + 0.4 * x as f32 / w as f32);
        let coverage = 1.0 - f32::from(img.get_pixel(x, y).0[0]) / 255.0;
        Luma([(paper - 35.0 * coverage).round().clamp(0.0, 255.0) as u8])
    });
    imageproc::filter::gaussian_blur_f32(&out, 0.8)
}

#[test]
fn reads_a_faint_low_contrast_thermal_print() {
    let faint = faint_photo(&render(&RECEIPT));
    let jpeg = encode(&faint, ImageFormat::Jpeg);
    dump("faint.jpg", &jpeg);
    let e = read(&jpeg);
    assert_eq!(e.total, Some("15.37".parse().unwrap()), "{:?}", e.raw_text);
    assert_eq!(
        e.purchase_date,
        chrono::NaiveDate::from_ymd_opt(2018, 12, 25)
    );
    assert_eq!(
        e.merchant.name.as_deref(),
        Some("KEDAI RUNCIT MAJU SDN BHD")
    );
    assert_ne!(
        e.validation.status,
        shared::domain::extraction::ValidationStatus::Error
    );
}

/// A one-page PDF holding the receipt as a JPEG image, written by hand
/// (the smallest valid PDF: catalog, pages, page, content, image, xref).
fn pdf_of(jpeg: &[u8], w: u32, h: u32) -> Vec<u8> {
    let mut out: Vec<u8> = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    let (pw, ph) = (w as f32 * 72.0 / 150.0, h as f32 * 72.0 / 150.0);
    let content = format!("q {pw:.2} 0 0 {ph:.2} 0 0 cm /Im0 Do Q");
    let objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {pw:.2} {ph:.2}] /Contents 4 0 R /Resources << /XObject << /Im0 5 0 R >> >> >>"
        )
        .into_bytes(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()).into_bytes(),
        [
            format!(
                "<< /Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /DCTDecode /Length {} >>\nstream\n",
                jpeg.len()
            )
            .into_bytes(),
            jpeg.to_vec(),
            b"\nendstream".to_vec(),
        ]
        .concat(),
    ];
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n", i + 1).into_bytes());
        out.extend(body);
        out.extend(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).into_bytes());
    for o in offsets {
        out.extend(format!("{o:010} 00000 n \n").into_bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .into_bytes(),
    );
    out
}

#[test]
fn reads_the_first_page_of_a_pdf_receipt() {
    let img = render(&RECEIPT);
    let pdf = pdf_of(&encode(&img, ImageFormat::Jpeg), img.width(), img.height());
    let e = read(&pdf);
    assert_eq!(e.total, Some("15.37".parse().unwrap()), "{:?}", e.raw_text);
    assert_eq!(
        e.merchant.name.as_deref(),
        Some("KEDAI RUNCIT MAJU SDN BHD")
    );
}

#[test]
fn a_missing_model_is_an_error_that_names_the_fetch_command() {
    let empty = std::env::temp_dir().join(format!("agent-no-models-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let mut files = ModelFiles::new(&empty);
    // With the runtime library present, the first missing piece is a model.
    let runtime = ModelFiles::new(agent::ocr::models::default_dir()).runtime();
    files.runtime_override = Some(runtime);
    let err = match agent::pool::EnginePool::new(1, &files, &EngineConfig::default()) {
        Ok(_) => panic!("an engine without models"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("./infra/fetch-models.sh"), "{err}");
    assert!(err.contains(&empty.display().to_string()), "{err}");
    assert!(err.contains("det.onnx"), "{err}");
    // The command line says the same and fails.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_agent"))
        .args(["extract", "/dev/null"])
        .env("AGENT_MODELS_DIR", &empty)
        .env_remove("ORT_DYLIB_PATH")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("./infra/fetch-models.sh"), "{stderr}");
    std::fs::remove_dir_all(&empty).unwrap();
}

#[test]
fn reads_a_skewed_jpeg_scan_and_other_date_formats() {
    let lines = [
        "Corner Bakery",
        "12 Main Street",
        "Springfield",
        "10 MAR 2018",
        "Bagel               2.50",
        "Coffee              3.25",
        "GRAND TOTAL        $5.75",
    ];
    let img = render(&lines);
    let skewed = imageproc::geometric_transformations::rotate_about_center(
        &img,
        2.5f32.to_radians(),
        imageproc::geometric_transformations::Interpolation::Bilinear,
        imageproc::geometric_transformations::Border::Constant(Luma([255])),
    );
    let jpeg = encode(&skewed, ImageFormat::Jpeg);
    dump("skewed.jpg", &jpeg);
    let e = read(&jpeg);
    assert_eq!(e.total, Some("5.75".parse().unwrap()), "{:?}", e.raw_text);
    assert_eq!(
        e.purchase_date,
        chrono::NaiveDate::from_ymd_opt(2018, 3, 10)
    );
    assert_eq!(e.currency.as_deref(), Some("USD"));
    assert_eq!(e.merchant.name.as_deref(), Some("Corner Bakery"));
}

#[test]
fn numbers_that_do_not_add_up_get_a_warning() {
    let lines = [
        "ACME TRADING SDN BHD",
        "DATE 01/02/2019",
        "WIDGET                     4.00",
        "GADGET                     3.00",
        "TOTAL                     12.00",
    ];
    let png = encode(&render(&lines), ImageFormat::Png);
    let e = read(&png);
    assert_eq!(e.total, Some("12.00".parse().unwrap()), "{:?}", e.raw_text);
    assert_eq!(
        e.validation.status,
        shared::domain::extraction::ValidationStatus::Warning
    );
    assert!(
        e.validation
            .issues
            .iter()
            .any(|i| i.code == "items_sum_mismatch")
    );
}

#[test]
fn a_blank_page_answers_nulls_and_says_so() {
    let png = encode(
        &GrayImage::from_pixel(600, 900, Luma([255])),
        ImageFormat::Png,
    );
    let e = read(&png);
    assert_eq!(e.total, None);
    assert_eq!(e.purchase_date, None);
    assert_eq!(e.merchant.name, None);
    assert!(e.items.is_empty());
    assert_eq!(
        e.validation.status,
        shared::domain::extraction::ValidationStatus::Error
    );
    assert_eq!(e.validation.issues[0].code, "no_text");
}

// ---- HTTP ----

/// The test's image servers run on loopback: local mode, that host only.
fn app(max_image_bytes: usize) -> axum::Router {
    router(AgentState::new(
        pool(),
        max_image_bytes,
        Duration::from_secs(5),
        FetchPolicy::new(["127.0.0.1".to_owned()], true),
    ))
}

async fn call(app: axum::Router, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let req = http::Request::post("/v1/extract")
        .header("content-type", content_type)
        .body(Body::from(body))
        .unwrap();
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn error_code(v: &Value) -> &str {
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );
    v["error"]["code"].as_str().unwrap()
}

/// Serves `body` with `status` at http://127.0.0.1:PORT/image.
async fn image_server(status: u16, body: Vec<u8>) -> String {
    let app = axum::Router::new().route(
        "/image",
        axum::routing::get(move || {
            let body = body.clone();
            async move { (http::StatusCode::from_u16(status).unwrap(), body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/image")
}

#[tokio::test]
async fn extract_by_image_url_and_by_bytes() {
    let png = encode(&render(&RECEIPT), ImageFormat::Png);
    let url = image_server(200, png.clone()).await;
    let body =
        serde_json::json!({"receipt_id": 17, "user_id": "alice", "image_url": url}).to_string();
    let (status, v) = call(app(1 << 22), "application/json", body.into_bytes()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["total"], "15.37");
    assert_eq!(v["purchase_date"], "2018-12-25");
    assert_eq!(v["validation"]["status"], "ok");
    assert!(v["duration_ms"].as_i64().is_some());

    let (status, v) = call(app(1 << 22), "image/png", png).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["merchant"]["name"], "KEDAI RUNCIT MAJU SDN BHD");
}

#[tokio::test]
async fn bad_input_gets_a_4xx_with_the_json_error() {
    let png = encode(&render(&RECEIPT), ImageFormat::Png);
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "image/jpeg",
            b"this is text, not a picture".to_vec(),
            422,
            "not_an_image",
        ),
        (
            "image/jpeg",
            vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F'],
            422,
            "not_an_image",
        ),
        ("image/png", Vec::new(), 400, "empty"),
        (
            "application/pdf",
            b"%PDF-1.7\n".to_vec(),
            422,
            "unreadable_pdf",
        ),
        ("image/png", b"%PDF-1.7\n".to_vec(), 422, "unreadable_pdf"),
        (
            "text/plain",
            b"hello".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "application/json",
            b"{\"url\": 1}".to_vec(),
            400,
            "bad_request",
        ),
        (
            "application/json",
            b"{\"image_url\": \"file:///etc/passwd\"}".to_vec(),
            400,
            "bad_request",
        ),
    ];
    for (ct, body, want, code) in cases {
        let (status, v) = call(app(1 << 22), ct, body).await;
        assert_eq!(status, want, "{ct}: {v}");
        assert_eq!(error_code(&v), code, "{ct}");
    }
    let (status, v) = call(app(1000), "image/png", png).await;
    assert_eq!(status, 413, "{v}");
    assert_eq!(error_code(&v), "too_large");
}

/// A server that counts its requests and answers each with a redirect to
/// `to`; returns its base URL and the counter.
async fn counting_redirect(to: &str) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let (h, to) = (hits.clone(), to.to_owned());
    let app = axum::Router::new().fallback(move || {
        h.fetch_add(1, Ordering::SeqCst);
        let to = to.clone();
        async move { (http::StatusCode::FOUND, [(http::header::LOCATION, to)], "") }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), hits)
}

#[tokio::test]
async fn image_url_is_fetched_only_from_trusted_hosts_outside_the_network() {
    use std::sync::atomic::Ordering;
    let (inside, hits) = counting_redirect("http://169.254.169.254/latest/meta-data/").await;
    let port = inside.rsplit(':').next().unwrap().to_owned();
    let agent = |fetch: FetchPolicy| {
        router(AgentState::new(
            pool(),
            1 << 22,
            Duration::from_secs(5),
            fetch,
        ))
    };
    // Trusted names, but each is inside the network: refused without local mode.
    let strict = || {
        FetchPolicy::new(
            [
                "127.0.0.1".to_owned(),
                "localhost".to_owned(),
                "169.254.169.254".to_owned(),
                "[::1]".to_owned(),
            ],
            false,
        )
    };
    for url in [
        format!("{inside}/image"),
        format!("http://localhost:{port}/image"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://[::1]:{port}/image"),
        // Not a trusted host at all.
        "https://attacker.example/receipt.png".to_owned(),
    ] {
        let body = serde_json::json!({"image_url": url}).to_string();
        let (status, v) = call(agent(strict()), "application/json", body.into_bytes()).await;
        assert_eq!(status, 403, "{url}: {v}");
        assert_eq!(error_code(&v), "forbidden_url", "{url}");
    }
    // Local mode trusts the emulator's host and port, nothing else on it.
    let local = || FetchPolicy::new([format!("127.0.0.1:{port}")], true);
    let body = serde_json::json!({"image_url": "http://127.0.0.1:3000/health"}).to_string();
    let (status, v) = call(agent(local()), "application/json", body.into_bytes()).await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing was fetched so far");
    // A trusted host that redirects: not followed.
    let body = serde_json::json!({"image_url": format!("{inside}/image")}).to_string();
    let (status, v) = call(agent(local()), "application/json", body.into_bytes()).await;
    assert_eq!(status, 403, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("redirect"),
        "{v}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "asked once, the redirect not followed"
    );

    // By default, the receipts bucket's S3 endpoints.
    assert_eq!(
        default_fetch_hosts(Some("receipts-prod"), Some("eu-west-1"), None),
        vec![
            "receipts-prod.s3.eu-west-1.amazonaws.com",
            "s3.eu-west-1.amazonaws.com",
            "receipts-prod.s3.amazonaws.com"
        ]
    );
    assert_eq!(
        default_fetch_hosts(Some("b"), None, Some("http://127.0.0.1:4566")),
        vec!["b.s3.amazonaws.com", "127.0.0.1:4566"]
    );
}

#[tokio::test]
async fn an_image_url_that_cannot_be_fetched_is_worth_retrying() {
    let failing = image_server(503, Vec::new()).await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        format!("http://{addr}/image")
    };
    for url in [failing, dead] {
        let body = serde_json::json!({"image_url": url}).to_string();
        let (status, v) = call(app(1 << 22), "application/json", body.into_bytes()).await;
        assert_eq!(status, 502, "{url}: {v}");
        assert_eq!(error_code(&v), "fetch_failed");
    }
}

#[tokio::test]
async fn an_image_url_with_no_image_is_bad_input_not_worth_retrying() {
    for code in [404, 410] {
        let gone = image_server(code, Vec::new()).await;
        let body = serde_json::json!({"image_url": gone}).to_string();
        let (status, v) = call(app(1 << 22), "application/json", body.into_bytes()).await;
        assert_eq!(status, 422, "{v}");
        assert_eq!(error_code(&v), "image_not_found");
    }
}

#[tokio::test]
async fn health_names_the_engine() {
    let resp = app(1 << 22)
        .oneshot(http::Request::get("/health").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert!(
        v["engine"].as_str().unwrap().starts_with("ppocrv6 det "),
        "{v}"
    );
}

// ---- command line ----

#[test]
fn the_command_line_prints_the_same_json() {
    let dir = std::env::temp_dir().join(format!("agent-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("receipt.png");
    std::fs::write(&file, encode(&render(&RECEIPT), ImageFormat::Png)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_agent"))
        .arg("extract")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["total"], "15.37");
    assert_eq!(v["merchant"]["name"], "KEDAI RUNCIT MAJU SDN BHD");

    let bad = dir.join("notes.jpg");
    std::fs::write(&bad, "not an image").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_agent"))
        .arg("extract")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a JPEG"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn with_a_token_the_agent_answers_only_callers_that_send_it() {
    const TOKEN: &str = "agent-token-0123456789-0123456789-xyz";
    let app = router(
        AgentState::new(
            pool(),
            1 << 22,
            Duration::from_secs(5),
            FetchPolicy::default(),
        )
        .with_token(Some(TOKEN.into())),
    );
    let png = encode(&render(&RECEIPT), ImageFormat::Png);
    let send = |auth: Option<String>| {
        let mut req = http::Request::post("/v1/extract").header("content-type", "image/png");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        app.clone()
            .oneshot(req.body(Body::from(png.clone())).unwrap())
    };
    for auth in [
        None,
        Some("Bearer wrong".to_owned()),
        Some(format!("Bearer {TOKEN}x")),
        Some(TOKEN.to_owned()),
    ] {
        let resp = send(auth.clone()).await.unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{auth:?}");
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(error_code(&v), "unauthorized");
    }
    let resp = send(Some(format!("Bearer {TOKEN}"))).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // Health stays open: load balancers and the local runner probe it.
    let health = app
        .oneshot(http::Request::get("/health").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
}
