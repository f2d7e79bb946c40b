//! Ingest: S3 `ObjectCreated` events (S3 → ingest queue → here) register the
//! receipt if it is new and, with `AUTO_OCR` on, queue its OCR job.
//!
//! The same event twice gives one receipt and at most one OCR message: the
//! receipt is found by bucket and key, and only a `pending` → `queued`
//! transition sends a message.

use std::collections::{HashMap, HashSet};

use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

use crate::aws::sqs::PriorityQueues;
use crate::db::{NewReceipt, ReceiptRepository, RepoError};
use crate::domain::message::OcrMessage;
use crate::domain::{ImageKind, OcrStatus, Priority, clean_file_name, owner_of_key};
use crate::runtime::metrics::{Metrics, Unit};

/// Decodes an S3 event key: `+` is a space, then percent-decoding
/// (AWS, LocalStack and moto each encode differently; this reads them all).
pub fn decode_key(raw: &str) -> Option<String> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// One upload named by an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub bucket: String,
    pub key: String,
    pub size: i64,
}

/// What an ingest message holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestBody {
    /// S3's `s3:TestEvent`, sent when a notification is configured.
    TestEvent,
    Uploads(Vec<Upload>),
}

pub fn parse_body(body: &str) -> Result<IngestBody, String> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    if value.get("Event").and_then(|v| v.as_str()) == Some("s3:TestEvent") {
        return Ok(IngestBody::TestEvent);
    }
    let event: S3Event =
        serde_json::from_value(value).map_err(|e| format!("not an S3 event: {e}"))?;
    let mut uploads = Vec::new();
    for r in event.records {
        let name = r.event_name.as_deref().unwrap_or("");
        if !name.starts_with("ObjectCreated") {
            tracing::info!(
                event_name = name,
                "skipping an S3 event that is not ObjectCreated"
            );
            continue;
        }
        let (Some(bucket), Some(raw_key)) = (r.s3.bucket.name, r.s3.object.key) else {
            return Err("S3 record without bucket or key".to_owned());
        };
        let key =
            decode_key(&raw_key).ok_or_else(|| format!("S3 key {raw_key:?} does not decode"))?;
        uploads.push(Upload {
            bucket,
            key,
            size: r.s3.object.size.unwrap_or(0),
        });
    }
    Ok(IngestBody::Uploads(uploads))
}

/// Why an upload could not be registered now (its message comes back).
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Storage(#[from] crate::aws::s3::StorageError),
}

pub struct Ingest {
    pub repo: ReceiptRepository,
    /// Clears a presigned upload's unregistered tag (in the bucket its
    /// event names).
    pub storage: crate::aws::s3::S3Storage,
    pub ocr_queues: PriorityQueues,
    pub bucket: String,
    pub upload_prefix: String,
    /// Objects larger than this are refused: no receipt, an error log line
    /// and an `IngestRefused` metric (the presigned POST's policy already
    /// keeps them out; this catches any other way in).
    pub max_bytes: u64,
    pub auto_ocr: bool,
    pub metrics: Metrics,
    /// Sends the batch's new webhook deliveries on (with `WEBHOOK_QUEUE_URL`).
    pub relay: Option<crate::flow::webhooks::Relay>,
}

impl Ingest {
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut failed: HashSet<String> = HashSet::new();
        // OCR jobs to send, with the ingest message each came from.
        let mut jobs: Vec<(String, OcrMessage)> = Vec::new();
        let (mut registered, mut skipped) = (0usize, 0usize);

        for msg in &event.records {
            let message_id = msg.message_id.clone().unwrap_or_default();
            let body = msg.body.as_deref().unwrap_or("");
            let uploads = match parse_body(body) {
                Ok(IngestBody::TestEvent) => {
                    tracing::info!(message_id, "skipping s3:TestEvent");
                    continue;
                }
                Ok(IngestBody::Uploads(u)) => u,
                Err(e) => {
                    tracing::error!(message_id, error = %e, "poison ingest message");
                    failed.insert(message_id);
                    continue;
                }
            };
            for upload in uploads {
                match self.register(&upload).await {
                    Ok(Some(job)) => {
                        registered += 1;
                        if let Some(job) = job {
                            jobs.push((message_id.clone(), job));
                        }
                    }
                    Ok(None) => skipped += 1,
                    Err(e) => {
                        tracing::error!(message_id, key = upload.key, error = %e, "could not register an upload");
                        failed.insert(message_id.clone());
                    }
                }
            }
        }

        // All OCR jobs of the batch go out together, ten to a call.
        self.send_jobs(&jobs, &mut failed).await;
        let queued = jobs.len();
        tracing::info!(
            messages = event.records.len(),
            registered,
            queued,
            skipped,
            failed = failed.len(),
            "ingest batch done"
        );
        self.metrics.emit(
            &[
                ("Ingested", registered as f64, Unit::Count),
                ("IngestFailed", failed.len() as f64, Unit::Count),
            ],
            &[],
        );
        crate::flow::webhooks::Relay::kick(self.relay.as_ref()).await;
        let mut response = SqsBatchResponse::default();
        for id in failed {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            response.batch_item_failures.push(f);
        }
        response
    }

    /// Sends the batch's OCR jobs; a job SQS refuses puts its receipt back
    /// to `pending` and its ingest message in `failed`, to be retried.
    async fn send_jobs(&self, jobs: &[(String, OcrMessage)], failed: &mut HashSet<String>) {
        if jobs.is_empty() {
            return;
        }
        let messages: Vec<OcrMessage> = jobs.iter().map(|(_, m)| m.clone()).collect();
        let sent = self.ocr_queues.send_ocr_jobs(&messages).await;
        if sent.failed.is_empty() {
            return;
        }
        let refused: HashMap<i64, String> = sent.failed.into_iter().collect();
        let ids: Vec<i64> = refused.keys().copied().collect();
        if let Err(e) = self.repo.unqueue(&ids, OcrStatus::Pending).await {
            tracing::error!(error = %e, "could not put unsent receipts back to pending");
        }
        for (message_id, job) in jobs {
            if let Some(reason) = refused.get(&job.receipt_id.get()) {
                tracing::warn!(
                    receipt_id = job.receipt_id.get(),
                    reason,
                    "OCR job not sent; the ingest message will be retried"
                );
                failed.insert(message_id.clone());
            }
        }
    }

    /// Registers one upload. `Ok(None)`: not ours, skipped. `Ok(Some(job))`:
    /// registered; `job` is the OCR message to send, if it was just queued.
    async fn register(&self, upload: &Upload) -> Result<Option<Option<OcrMessage>>, RegisterError> {
        if upload.bucket != self.bucket {
            tracing::info!(
                bucket = upload.bucket,
                "skipping an upload to another bucket"
            );
            return Ok(None);
        }
        let Some(owner) = owner_of_key(&self.upload_prefix, &upload.key) else {
            tracing::info!(key = upload.key, "skipping a key outside the upload prefix");
            return Ok(None);
        };
        let Some(kind) = ImageKind::from_extension(&upload.key) else {
            tracing::info!(key = upload.key, "skipping a file of an unsupported type");
            return Ok(None);
        };
        if u64::try_from(upload.size).map_or(true, |size| size > self.max_bytes) {
            tracing::error!(
                key = upload.key,
                size = upload.size,
                max_bytes = self.max_bytes,
                "refusing an upload over the size cap: no receipt is registered"
            );
            self.metrics
                .emit(&[("IngestRefused", 1.0, Unit::Count)], &[]);
            return Ok(None);
        }
        // The unregistered tag goes first: were the receipt made first and
        // the tag left, the bucket's lifecycle rule would expire its image.
        if !self.storage.clear_tags(&upload.bucket, &upload.key).await? {
            tracing::info!(
                key = upload.key,
                "skipping an upload that is gone (deleted)"
            );
            return Ok(None);
        }
        let file_name = clean_file_name(Some(&upload.key), kind);
        let registered = self
            .repo
            .register_upload(
                NewReceipt {
                    user_id: &owner,
                    bucket: &upload.bucket,
                    object_key: &upload.key,
                    file_name: &file_name,
                    content_type: kind.mime(),
                    size_bytes: upload.size,
                    purchase_date: None,
                    locale: None,
                    // The upload-url request's priority wins, if there was one.
                    priority: Priority::Normal,
                    content_sha256: None,
                    idempotency_key: None,
                },
                self.auto_ocr,
            )
            .await?;
        let Some(registered) = registered else {
            tracing::info!(
                key = upload.key,
                "registered by a concurrent delivery of the event"
            );
            return Ok(Some(None));
        };
        tracing::info!(
            receipt_id = registered.receipt.id,
            user_id = %owner,
            created = registered.created,
            queued = registered.queued,
            "upload registered"
        );
        // Without a job it was already queued, in flight or done (or
        // AUTO_OCR is off): one OCR run is enough.
        if !registered.queued {
            return Ok(Some(None));
        }
        Ok(Some(Some(registered.receipt.message()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_decode_as_each_service_encodes_them() {
        // `uploads/r 1+a.jpg` as AWS, LocalStack and moto put it in events.
        for raw in [
            "uploads/r+1%2Ba.jpg",
            "uploads/r%201%2Ba.jpg",
            "uploads%2Fr+1%2Ba.jpg",
        ] {
            assert_eq!(
                decode_key(raw).as_deref(),
                Some("uploads/r 1+a.jpg"),
                "{raw}"
            );
        }
        assert_eq!(
            decode_key("uploads/alice/x.jpg").as_deref(),
            Some("uploads/alice/x.jpg")
        );
        assert_eq!(decode_key("%FF%FE"), None);
    }

    #[test]
    fn reads_s3_events_and_the_test_event() {
        assert_eq!(
            parse_body(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#),
            Ok(IngestBody::TestEvent)
        );
        let body = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
            "eventTime":"2026-11-29T06:25:51.609Z","eventName":"ObjectCreated:Put",
            "userIdentity":{"principalId":"X"},"requestParameters":{"sourceIPAddress":"127.0.0.1"},
            "responseElements":{},"s3":{"s3SchemaVersion":"1.0","configurationId":"c",
            "bucket":{"name":"receipts","ownerIdentity":{"principalId":"X"},"arn":"arn:aws:s3:::receipts"},
            "object":{"key":"uploads/alice/r%201%2Ba.jpg","size":1234,"eTag":"e","sequencer":"1"}}},
            {"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-11-29T06:25:51.609Z",
            "eventName":"ObjectRemoved:Delete","userIdentity":{"principalId":"X"},"requestParameters":{},
            "responseElements":{},"s3":{"bucket":{"name":"receipts"},"object":{"key":"uploads/alice/x.jpg"}}}]}"#;
        assert_eq!(
            parse_body(body),
            Ok(IngestBody::Uploads(vec![Upload {
                bucket: "receipts".into(),
                key: "uploads/alice/r 1+a.jpg".into(),
                size: 1234
            }]))
        );
        assert!(parse_body("hello").is_err());
        assert!(parse_body(r#"{"Records":"x"}"#).is_err());
    }
}
