//! Receipt events end to end: an upload goes through ingest, the worker and
//! a fake agent while its owner watches the event stream.

use std::time::Duration;

use http::StatusCode;
use testkit::agent::{FakeAgent, Reply, sample_extraction};
use testkit::sse::Frame;
use testkit::{TestApp, pipeline};

const SOON: Duration = Duration::from_secs(30);
const QUIET: Duration = Duration::from_millis(1500);

/// Reads events until one says `completed` for `id`.
async fn until_completed(stream: &mut testkit::sse::SseReader, id: i64) -> Vec<Frame> {
    let mut seen = Vec::new();
    loop {
        let f = stream
            .next_event(SOON)
            .await
            .unwrap_or_else(|| panic!("the stream went quiet after {seen:?}"));
        let done = f.json()["receipt_id"] == id && f.json()["status"] == "completed";
        seen.push(f);
        if done {
            return seen;
        }
    }
}

#[tokio::test]
async fn the_stream_shows_an_upload_go_from_queued_to_completed_and_a_reconnect_loses_nothing() {
    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    let running = pipeline::start(&app, &agent).await;
    let (alice, bob) = (app.token("alice"), app.token("bob"));

    let mut stream = app.open_stream("/receipts/events", &alice, None).await;
    assert_eq!(stream.status, StatusCode::OK);
    assert_eq!(stream.headers["content-type"], "text/event-stream");
    let hello = stream
        .next_frame(SOON)
        .await
        .expect("the stream opens at once");
    assert_eq!(hello.retry.as_deref(), Some("1000"));
    let mut other = app.open_stream("/receipts/events", &bob, None).await;
    other.next_frame(SOON).await.expect("bob's stream opens");

    let id = app.upload_png("alice").await;
    let frames = until_completed(&mut stream, id).await;
    let kinds: Vec<(String, String)> = frames
        .iter()
        .map(|f| {
            assert_eq!(f.json()["receipt_id"], id);
            assert_eq!(f.event.as_deref(), f.json()["type"].as_str());
            (
                f.event.clone().unwrap(),
                f.json()["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("receipt.created", "pending"),
        ("receipt.queued", "queued"),
        ("receipt.processing", "processing"),
        ("receipt.completed", "completed"),
    ];
    assert_eq!(
        kinds,
        expected.map(|(a, b)| (a.to_owned(), b.to_owned())),
        "in order, each once"
    );
    let ids: Vec<i64> = frames
        .iter()
        .map(|f| f.id.as_deref().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![1, 2, 3, 4],
        "the user's events are numbered from 1"
    );
    assert!(stream.next_event(QUIET).await.is_none(), "nothing more");
    assert!(
        other.next_event(QUIET).await.is_none(),
        "another user's events never appear"
    );

    // A reconnect after event 2 gets 3 and 4, once each, and nothing else.
    let mut again = app.open_stream("/receipts/events", &alice, Some("2")).await;
    let mut resumed = Vec::new();
    while let Some(f) = again.next_event(QUIET).await {
        resumed.push(f.id.unwrap());
    }
    assert_eq!(resumed, vec!["3", "4"]);
    // From 0 with a receipt filter: all four.
    let mut all = app
        .open_stream(
            &format!("/receipts/events?receipt_id={id}"),
            &alice,
            Some("0"),
        )
        .await;
    let mut replayed = 0;
    while all.next_event(QUIET).await.is_some() {
        replayed += 1;
    }
    assert_eq!(replayed, 4);

    // The JSON twin pages through the same events.
    let page = app
        .get("/receipts/events?after=0&limit=3", Some(&alice))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let got: Vec<i64> = page.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, vec![1, 2, 3]);
    assert_eq!(page.json["has_more"], true);
    assert_eq!(page.json["next_after"], 3);
    let rest = app.get("/receipts/events?after=3", Some(&alice)).await;
    assert_eq!(rest.json["events"][0]["type"], "receipt.completed");
    assert_eq!(rest.json["has_more"], false);
    let none = app.get("/receipts/events?after=0", Some(&bob)).await;
    assert_eq!(none.json["events"].as_array().unwrap().len(), 0);

    running.stop().await;
}
