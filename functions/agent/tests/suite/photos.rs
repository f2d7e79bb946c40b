//! Phone photos read as well as scans, with the real OCR models: a
//! receipt the test renders, then saved with each EXIF orientation,
//! upside down, sideways without EXIF, on a table with perspective, very
//! long, and as HEIC (made here with libheif's `heif-enc`, which the test
//! command installs); a corrupt HEIC is a clear 422.

use crate::{pool, today};
use agent::eval::damage;
use agent::http::{AgentState, router};
use axum::body::Body;
use http_body_util::BodyExt;
use image::{GrayImage, imageops};
use rust_decimal::Decimal;
use serde_json::Value;
use shared::domain::extraction::Extraction;
use shared::outbound::ssrf::FetchPolicy;
use tower::ServiceExt;

use testkit::render::{heic, render};

const RECEIPT: [&str; 14] = [
    "KEDAI RUNCIT MAJU SDN BHD",
    "12 JALAN MERANTI, 47500 SUBANG",
    "Date: 14/03/2025  10:42",
    "SUSU SEGAR 1L           6.90",
    "ROTI GANDUM             4.50",
    "TELUR GRED A 10        12.80",
    "BERAS WANGI 5KG        27.00",
    "SUBTOTAL               51.20",
    "SST 6%                  3.07",
    "ROUNDING ADJ           -0.02",
    "TOTAL                  54.25",
    "CASH                  100.00",
    "CHANGE                 45.75",
    "THANK YOU, PLEASE COME AGAIN",
];

fn png(img: &GrayImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn read(bytes: &[u8]) -> Extraction {
    pool()
        .run_here(|eng| agent::extract::extract(eng, bytes, today(), None))
        .expect("the photo is read")
}

/// What a person checks on the page: the shop, the day, what was paid.
fn assert_read_right(e: &Extraction, what: &str) {
    let text = e.raw_text.clone().unwrap_or_default();
    assert_eq!(
        e.total,
        Some(Decimal::new(5425, 2)),
        "{what}: total\n{text}"
    );
    assert_eq!(
        e.purchase_date,
        chrono::NaiveDate::from_ymd_opt(2025, 3, 14),
        "{what}: date\n{text}"
    );
    assert!(
        e.merchant
            .name
            .as_deref()
            .is_some_and(|n| n.contains("KEDAI RUNCIT MAJU")),
        "{what}: merchant {:?}\n{text}",
        e.merchant.name
    );
}

#[test]
fn every_exif_orientation_reads_upright() {
    let upright = render(&RECEIPT);
    for value in 1..=8 {
        let jpeg = damage::exif_jpeg(&upright, value, 92).unwrap();
        assert_read_right(&read(&jpeg), &format!("EXIF orientation {value}"));
    }
}

#[test]
fn upside_down_and_sideways_without_exif_read_upright() {
    let upright = render(&RECEIPT);
    for (what, turned) in [
        ("upside down", imageops::rotate180(&upright)),
        ("turned right", imageops::rotate90(&upright)),
        ("turned left", imageops::rotate270(&upright)),
    ] {
        assert_read_right(&read(&png(&turned)), what);
    }
}

#[test]
fn a_photo_on_a_table_with_perspective_and_a_skew_reads_as_the_scan() {
    let upright = render(&RECEIPT);
    let mut rng = damage::Rng::new(11);
    let photo = damage::photo(&upright, &mut rng);
    assert!(photo.width() > upright.width(), "the table is in the frame");
    assert_read_right(&read(&damage::jpeg(&photo, 60).unwrap()), "photo");
    let skewed = damage::on_background(&upright, -7.0, &mut rng);
    assert_read_right(&read(&damage::jpeg(&skewed, 90).unwrap()), "skewed 7°");
}

#[test]
fn a_very_long_receipt_keeps_every_item() {
    let names: Vec<String> = (1..=150).map(|i| format!("ITEM NO {i:03}")).collect();
    let mut lines: Vec<String> = vec![
        "KEDAI RUNCIT MAJU SDN BHD".into(),
        "Date: 14/03/2025  10:42".into(),
    ];
    let mut sum = Decimal::ZERO;
    for (i, n) in names.iter().enumerate() {
        let amount = Decimal::new(100 + i as i64 * 7, 2);
        sum += amount;
        lines.push(format!("{n:<22}{amount:>7}"));
    }
    lines.push(format!("{:<22}{sum:>7}", "TOTAL"));
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let img = render(&refs);
    assert!(img.height() > 8 * img.width(), "{:?}", img.dimensions());
    let e = read(&png(&img));
    let text = e.raw_text.clone().unwrap_or_default();
    assert_eq!(e.total, Some(sum), "{text}");
    let read_names: Vec<&str> = e.items.iter().map(|i| i.name.as_str()).collect();
    let found = names
        .iter()
        .filter(|n| read_names.contains(&n.as_str()))
        .count();
    assert!(
        found >= 145,
        "{found} of 150 items read by name: {read_names:?}"
    );
    assert_eq!(e.items.len(), 150, "{read_names:?}");
}

async fn post(bytes: Vec<u8>, content_type: &str) -> (u16, Value) {
    let app = router(AgentState::new(
        pool(),
        4 << 20,
        std::time::Duration::from_secs(5),
        FetchPolicy::new(["127.0.0.1".to_owned()], true),
    ));
    let req = http::Request::post("/v1/extract")
        .header("content-type", content_type)
        .body(Body::from(bytes))
        .unwrap();
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_heic_photo_is_read_and_a_corrupt_one_is_a_clear_422() {
    let bytes = heic(&render(&RECEIPT));
    assert_eq!(&bytes[4..8], b"ftyp", "a HEIF file");
    assert_read_right(&read(&bytes), "HEIC");
    let (status, body) = post(bytes.clone(), "image/heic").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], "54.25", "{body}");

    // Cut short: the header says HEIC, the picture is gone.
    let (status, body) = post(bytes[..bytes.len() / 3].to_vec(), "image/heic").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "unreadable_heic", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("HEIC")),
        "{body}"
    );
}
