//! The page's picture in docs/page.md (docs/page.png), taken from a running stack
//! (`./infra/run-local.sh`) with the real OCR agent: signs in with the
//! development sign-in, uploads three receipts drawn here (and presses
//! Process all unless they are read by themselves), waits until all three
//! are read, and saves the page.
//!
//!   cargo run -p testkit --bin page-screenshot -- [BASE_URL] [OUT.png] [USER]
//!   (defaults: http://127.0.0.1:3000/ docs/page.png demo)

use std::time::Duration;

use testkit::browser::Browser;
use testkit::render::receipt_png;

const RECEIPTS: [&[&str]; 3] = [
    &[
        "KEDAI RUNCIT MAJU SDN BHD",
        "NO 12, JALAN MERDEKA 3,",
        "TAMAN SENTOSA, 43000 KAJANG",
        "DATE: 25/12/2018  14:02",
        "TEH TARIK       2 x 2.50    5.00",
        "ROTI CANAI                  3.00",
        "NASI LEMAK                  6.50",
        "TOTAL                      14.50",
    ],
    &[
        "SYARIKAT BUKU CERIA",
        "LOT 8, JALAN AMPANG,",
        "50450 KUALA LUMPUR",
        "DATE: 03/01/2019  10:15",
        "EXERCISE BOOK   3 x 1.20    3.60",
        "PENCIL BOX                  7.90",
        "TOTAL                      11.50",
    ],
    &[
        "RESTORAN SELERA KITA",
        "NO 5, JALAN BUNGA RAYA,",
        "75100 MELAKA",
        "DATE: 14/02/2019  19:40",
        "MEE GORENG                  6.00",
        "AIS KACANG                  4.50",
        "TOTAL                      10.50",
    ],
];

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let base = args
        .first()
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:3000/".into());
    let out = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "docs/page.png".into());
    let user = args.get(2).cloned().unwrap_or_else(|| "demo".into());

    let dir = std::env::temp_dir().join("receipts-page-screenshot");
    std::fs::create_dir_all(&dir).unwrap();
    let files: Vec<String> = RECEIPTS
        .iter()
        .enumerate()
        .map(|(i, lines)| {
            let path = dir.join(format!("receipt-{}.png", i + 1));
            std::fs::write(&path, receipt_png(lines)).unwrap();
            path.display().to_string()
        })
        .collect();

    let b = Browser::start(1280, 1120).await;
    b.goto(&base).await;
    b.type_into("#dev-user", &user).await;
    b.click("#dev-sign-in button[type=submit]").await;
    b.wait_until(
        "the stream is open",
        "document.body.dataset.stream === 'open'",
    )
    .await;
    b.find("#files")
        .await
        .send_keys(&files.join("\n"))
        .await
        .unwrap();
    b.wait_until(
        "three uploads",
        "document.querySelectorAll('#uploads li.ok').length === 3",
    )
    .await;
    // With AUTO_OCR (the local stack's default) uploads are read by
    // themselves and the bar follows them; without, Process all sends them.
    if b.eval("return document.body.dataset.autoOcr;").await != "true" {
        b.click("#process-all button[type=submit]").await;
    }
    b.wait_for_text("#progress-text", |t| t.starts_with("3 of 3 done"))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await; // the list and figures refresh
    let path = std::path::Path::new(&out);
    let png = b.client.screenshot().await.expect("screenshot");
    std::fs::write(path, png).expect("write the screenshot");
    eprintln!("saved {}", path.display());
    b.close().await;
}
