//! Feeds SQS-triggered handlers the way AWS's event source mapping does:
//! long-polls a queue, hands batches to the handler, and deletes only the
//! messages the partial batch response does not name. Used by the local
//! runner (LocalStack has no Lambda without Docker) and by the tests.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use tokio_util::sync::CancellationToken;

use crate::aws::describe_sdk_error;

#[derive(Debug, Clone)]
pub struct PollerSettings {
    pub queue_url: String,
    /// Messages per batch (1–10), like the mapping's `BatchSize`.
    pub batch_size: i32,
    /// Long-poll wait (0–20 s).
    pub wait: Duration,
    /// Batches in flight at once, like `ScalingConfig.MaximumConcurrency`.
    pub concurrency: usize,
}

/// Counters of a poller, readable while it runs.
#[derive(Debug, Default)]
pub struct PollerStats {
    pub received: AtomicU64,
    pub deleted: AtomicU64,
    pub failed: AtomicU64,
    pub batches: AtomicU64,
}

impl PollerStats {
    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        (
            self.received.load(Ordering::Relaxed),
            self.deleted.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.batches.load(Ordering::Relaxed),
        )
    }
}

pub struct Poller {
    sqs: aws_sdk_sqs::Client,
    settings: PollerSettings,
    queue_arn: String,
    region: String,
    pub stats: Arc<PollerStats>,
}

impl Poller {
    pub async fn new(sqs: aws_sdk_sqs::Client, settings: PollerSettings) -> Result<Self, String> {
        let queue_arn = crate::aws::sqs::SqsQueue::new(sqs.clone(), settings.queue_url.clone())
            .arn()
            .await
            .map_err(|e| format!("queue {}: {e}", settings.queue_url))?;
        let region = queue_arn
            .split(':')
            .nth(3)
            .unwrap_or("us-east-1")
            .to_owned();
        Ok(Self {
            sqs,
            settings,
            queue_arn,
            region,
            stats: Arc::new(PollerStats::default()),
        })
    }

    /// Polls until `stop` is cancelled; `concurrency` batches at once. The
    /// long poll is not interrupted (messages SQS hands out while we stop
    /// would stay invisible for the whole visibility timeout), so stopping
    /// takes up to `wait`, and a batch in hand is always finished.
    /// Polls until `stop` is cancelled, handing each batch to
    /// `handle(target, batch)`: the one way a long-lived handler (the
    /// worker, ingest, the webhook sender) is fed, in a task of its own.
    pub async fn serve<T, H, F>(self, target: Arc<T>, handle: H, stop: CancellationToken)
    where
        T: Send + Sync + 'static,
        H: Fn(Arc<T>, SqsEvent) -> F + Sync,
        F: Future<Output = SqsBatchResponse> + Send,
    {
        self.run(|ev| handle(target.clone(), ev), stop).await;
    }

    pub async fn run<H, F>(&self, handler: H, stop: CancellationToken)
    where
        H: Fn(SqsEvent) -> F + Sync,
        F: Future<Output = SqsBatchResponse> + Send,
    {
        let loops = (0..self.settings.concurrency.max(1)).map(|_| async {
            while !stop.is_cancelled() {
                if self.poll_once(&handler).await.is_err() {
                    // SQS unreachable: do not spin.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        });
        futures::future::join_all(loops).await;
    }

    /// One receive → handle → delete round; returns how many were received.
    /// A batch in hand is always finished, even when stopping.
    pub async fn poll_once<H, F>(&self, handler: &H) -> Result<usize, String>
    where
        H: Fn(SqsEvent) -> F,
        F: Future<Output = SqsBatchResponse>,
    {
        let receive = self
            .sqs
            .receive_message()
            .queue_url(&self.settings.queue_url)
            .max_number_of_messages(self.settings.batch_size.clamp(1, 10))
            .wait_time_seconds(self.settings.wait.as_secs().min(20) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send();
        let resp = receive.await.map_err(|e| {
            let reason = describe_sdk_error(&e);
            tracing::warn!(queue = %self.settings.queue_url, %reason, "ReceiveMessage failed");
            reason
        })?;
        let messages = resp.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(0);
        }
        let n = messages.len();
        self.stats.received.fetch_add(n as u64, Ordering::Relaxed);
        self.stats.batches.fetch_add(1, Ordering::Relaxed);

        let records: Vec<SqsMessage> = messages.iter().map(|m| self.to_event_record(m)).collect();
        let mut event = SqsEvent::default();
        event.records = records;
        let response = handler(event).await;

        let failed: std::collections::HashSet<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        // An empty identifier means "the whole batch failed", as on Lambda.
        let whole_batch_failed = failed.contains("");
        let done: Vec<&Message> = messages
            .iter()
            .filter(|m| !whole_batch_failed && !failed.contains(m.message_id().unwrap_or("")))
            .collect();
        self.stats
            .failed
            .fetch_add((n - done.len()) as u64, Ordering::Relaxed);
        self.delete(&done).await;
        Ok(n)
    }

    /// Deletes the messages handled, ten to a call, as Lambda's event
    /// source mapping does; one it could not delete comes back.
    async fn delete(&self, done: &[&Message]) {
        for chunk in done.chunks(10) {
            let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle()?)
                        .build()
                        .ok()
                })
                .collect();
            match self
                .sqs
                .delete_message_batch()
                .queue_url(&self.settings.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(out) => {
                    self.stats
                        .deleted
                        .fetch_add(out.successful().len() as u64, Ordering::Relaxed);
                    for f in out.failed() {
                        tracing::warn!(
                            code = f.code(),
                            "DeleteMessageBatch entry failed; the message comes back"
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!(reason = %describe_sdk_error(&e), "DeleteMessageBatch failed")
                }
            }
        }
    }

    /// The record as Lambda would pass it.
    fn to_event_record(&self, m: &Message) -> SqsMessage {
        let mut r = SqsMessage::default();
        r.message_id = m.message_id().map(str::to_owned);
        r.receipt_handle = m.receipt_handle().map(str::to_owned);
        r.body = m.body().map(str::to_owned);
        r.md5_of_body = m.md5_of_body().map(str::to_owned);
        r.attributes = m
            .attributes()
            .map(|a| {
                a.iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        r.event_source_arn = Some(self.queue_arn.clone());
        r.event_source = Some("aws:sqs".to_owned());
        r.aws_region = Some(self.region.clone());
        r
    }
}
