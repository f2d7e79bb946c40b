//! Looking at what the app did: receipts' rows, queue messages, objects,
//! and waiting for a condition.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::Value;

use crate::TestApp;

impl TestApp {
    pub async fn status_of(&self, id: i64) -> String {
        sqlx::query_scalar("SELECT ocr_status FROM receipts WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// The OCR message the system sends for a receipt (from its row).
    pub async fn ocr_job(&self, id: i64) -> shared::domain::message::OcrMessage {
        let (user, bucket, key): (String, String, String) =
            sqlx::query_as("SELECT user_id, bucket, object_key FROM receipts WHERE id = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await
                .unwrap();
        shared::domain::message::OcrMessage::new(
            shared::domain::ReceiptId::new(id).unwrap(),
            shared::domain::UserId::parse(&user).unwrap(),
            bucket,
            key,
        )
    }

    /// Every (id, status, updated_at) row: to check that nothing changed.
    pub async fn snapshot(&self) -> Vec<(i64, String, chrono::DateTime<chrono::Utc>)> {
        sqlx::query_as("SELECT id, ocr_status, updated_at FROM receipts ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .unwrap()
    }

    pub async fn set_status(&self, id: i64, status: &str, last_error: Option<&str>) {
        sqlx::query("UPDATE receipts SET ocr_status = $2, last_error = $3 WHERE id = $1")
            .bind(id)
            .bind(status)
            .bind(last_error)
            .execute(&self.pool)
            .await
            .unwrap();
    }

    /// Receives every message on `queue_url` (and deletes it); returns bodies.
    pub async fn drain(&self, queue_url: &str) -> Vec<Value> {
        self.drain_raw(queue_url)
            .await
            .into_iter()
            .map(|(body, _)| serde_json::from_str(&body).unwrap())
            .collect()
    }

    /// Receives every message on `queue_url` (and deletes it); returns each
    /// body with its string message attributes.
    pub async fn drain_raw(&self, queue_url: &str) -> Vec<(String, BTreeMap<String, String>)> {
        let mut out = Vec::new();
        let mut empty_polls = 0;
        while empty_polls < 2 {
            let resp = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_attribute_names("All")
                .send()
                .await
                .unwrap();
            let msgs = resp.messages();
            if msgs.is_empty() {
                empty_polls += 1;
                continue;
            }
            for m in msgs {
                let attrs = m
                    .message_attributes()
                    .map(|a| {
                        a.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.string_value()?.to_owned())))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push((m.body().unwrap_or_default().to_owned(), attrs));
                self.sqs
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        out
    }

    pub async fn object_keys(&self) -> Vec<String> {
        let resp = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .send()
            .await
            .unwrap();
        resp.contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }
}

/// Waits until `done` answers true; panics saying `what` after `within`.
pub async fn wait_until(what: &str, within: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !done().await {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A number from a process's `/proc/<pid>/status` (`"self"` for this
/// process): the first figure of `field`, e.g. `Threads` or `VmHWM` (KiB).
pub fn proc_status(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Every attribute of a queue.
pub async fn queue_attributes(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> HashMap<aws_sdk_sqs::types::QueueAttributeName, String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default()
}

pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    queue_attributes(sqs, url)
        .await
        .remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .expect("a queue has an ARN")
}
