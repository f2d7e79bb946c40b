//! The SQS adapter for the OCR queue.

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    QueueAttributeName, SendMessageBatchRequestEntry,
};
use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::aws::describe_sdk_error;
use crate::domain::Priority;
use crate::domain::message::OcrMessage;

/// SQS takes at most ten entries per SendMessageBatch.
pub const SQS_BATCH_MAX: usize = 10;
/// Batches in flight at once.
const SEND_CONCURRENCY: usize = 8;

/// Maps an SDK error of `operation` to a `QueueError` with its text.
fn sqs_error<E, R>(
    operation: &'static str,
) -> impl FnOnce(aws_sdk_sqs::error::SdkError<E, R>) -> QueueError
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error,
{
    move |e| QueueError::Sqs {
        operation,
        reason: describe_sdk_error(&e),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("SQS {operation} failed: {reason}")]
    Sqs {
        operation: &'static str,
        reason: String,
    },
}

/// What happened to each message of a send.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SendOutcome {
    /// Receipt ids whose message SQS accepted.
    pub sent: Vec<i64>,
    /// Receipt ids whose message SQS refused (or whose batch failed), with why.
    pub failed: Vec<(i64, String)>,
    /// SendMessageBatch calls made.
    pub batch_calls: usize,
}

impl SendOutcome {
    fn merge(&mut self, other: SendOutcome) {
        self.sent.extend(other.sent);
        self.failed.extend(other.failed);
        self.batch_calls += other.batch_calls;
    }
}

/// One message to send.
#[derive(Debug, Clone)]
struct Outgoing {
    id: i64,
    body: String,
    delay: i32,
    /// `MessageGroupId`: on a standard queue, the SQS fair-queue tenant.
    group: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueDepth {
    /// Messages waiting to be received.
    pub visible: i64,
    /// Messages received and not yet deleted.
    pub in_flight: i64,
    /// Messages sent with a delay that has not passed.
    pub delayed: i64,
}

impl std::ops::Add for QueueDepth {
    type Output = QueueDepth;
    fn add(self, o: QueueDepth) -> QueueDepth {
        QueueDepth {
            visible: self.visible + o.visible,
            in_flight: self.in_flight + o.in_flight,
            delayed: self.delayed + o.delayed,
        }
    }
}

/// A pair of queues, one per priority: the OCR queues, or their DLQs.
#[derive(Debug, Clone)]
pub struct PriorityQueues {
    pub high: SqsQueue,
    pub normal: SqsQueue,
}

impl PriorityQueues {
    /// The queues at these URLs: the high-priority one, then the normal.
    pub fn new(sqs: &aws_sdk_sqs::Client, high_url: &str, normal_url: &str) -> Self {
        Self {
            high: SqsQueue::new(sqs.clone(), high_url.to_owned()),
            normal: SqsQueue::new(sqs.clone(), normal_url.to_owned()),
        }
    }
}

/// Both queues' depths, and their sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PriorityDepths {
    pub high: QueueDepth,
    pub normal: QueueDepth,
}

impl PriorityDepths {
    pub fn total(&self) -> QueueDepth {
        self.high + self.normal
    }
}

impl PriorityQueues {
    pub fn get(&self, priority: Priority) -> &SqsQueue {
        match priority {
            Priority::High => &self.high,
            Priority::Normal => &self.normal,
        }
    }

    /// Both queues, high first.
    pub fn both(&self) -> [(Priority, &SqsQueue); 2] {
        [
            (Priority::High, &self.high),
            (Priority::Normal, &self.normal),
        ]
    }

    /// Sends each job to the queue of its priority (both sends at once).
    pub async fn send_ocr_jobs(&self, jobs: &[OcrMessage]) -> SendOutcome {
        let (high, normal): (Vec<OcrMessage>, Vec<OcrMessage>) = jobs
            .iter()
            .cloned()
            .partition(|m| m.priority == Priority::High);
        let (mut out, n) = tokio::join!(
            self.high.send_ocr_jobs(&high),
            self.normal.send_ocr_jobs(&normal)
        );
        out.merge(n);
        out.sent.sort_unstable();
        out.failed.sort_unstable();
        out
    }

    /// Both queues' approximate depths, asked at once.
    pub async fn depths(&self) -> Result<PriorityDepths, QueueError> {
        let (high, normal) = tokio::join!(self.high.depth(), self.normal.depth());
        Ok(PriorityDepths {
            high: high?,
            normal: normal?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn client(&self) -> &aws_sdk_sqs::Client {
        &self.client
    }

    /// Sends one message per OCR job, ten to a SendMessageBatch call, the
    /// calls concurrently; each carries `MessageGroupId` = its user id, so
    /// that an SQS fair queue serves quiet users before one that floods
    /// it. Never fails as a whole: every job ends in `sent` or in `failed`.
    pub async fn send_ocr_jobs(&self, jobs: &[OcrMessage]) -> SendOutcome {
        let entries: Vec<Outgoing> = jobs
            .iter()
            .map(|m| Outgoing {
                id: m.receipt_id.get(),
                body: m.to_body(),
                delay: 0,
                group: Some(m.user_id.as_str().to_owned()),
            })
            .collect();
        self.send_all(entries).await
    }

    /// Sends raw bodies keyed by id (distinct), each hidden for its delay
    /// in seconds (0–900, SQS's limit; clamped).
    pub async fn send_delayed(&self, entries: &[(i64, String, i32)]) -> SendOutcome {
        let entries = entries
            .iter()
            .map(|(id, body, delay)| Outgoing {
                id: *id,
                body: body.clone(),
                delay: *delay,
                group: None,
            })
            .collect();
        self.send_all(entries).await
    }

    async fn send_all(&self, entries: Vec<Outgoing>) -> SendOutcome {
        // Owned chunks and an owned adapter per call keep the futures 'static
        // (and so Send for any caller).
        let chunks: Vec<Vec<Outgoing>> = entries.chunks(SQS_BATCH_MAX).map(<[_]>::to_vec).collect();
        let results: Vec<SendOutcome> = stream::iter(chunks)
            .map(|chunk| {
                let this = self.clone();
                async move { this.send_chunk(&chunk).await }
            })
            .buffer_unordered(SEND_CONCURRENCY)
            .collect()
            .await;
        let mut out = SendOutcome::default();
        for r in results {
            out.merge(r);
        }
        out.sent.sort_unstable();
        out.failed.sort_unstable();
        out
    }

    async fn send_chunk(&self, chunk: &[Outgoing]) -> SendOutcome {
        let mut out = SendOutcome {
            batch_calls: 1,
            ..Default::default()
        };
        let entries: Result<Vec<_>, _> = chunk
            .iter()
            .map(|e| {
                SendMessageBatchRequestEntry::builder()
                    .id(e.id.to_string())
                    .message_body(&e.body)
                    .set_delay_seconds((e.delay > 0).then_some(e.delay.min(900)))
                    .set_message_group_id(e.group.clone())
                    .build()
            })
            .collect();
        let entries = match entries {
            Ok(e) => e,
            Err(e) => {
                out.failed = chunk.iter().map(|m| (m.id, e.to_string())).collect();
                return out;
            }
        };
        let resp = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await;
        match resp {
            Err(err) => {
                let reason = describe_sdk_error(&err);
                tracing::warn!(queue = %self.url, %reason, count = chunk.len(), "SendMessageBatch failed");
                out.failed = chunk.iter().map(|m| (m.id, reason.clone())).collect();
            }
            Ok(resp) => {
                let mut answered = std::collections::HashSet::new();
                for ok in resp.successful() {
                    if let Ok(id) = ok.id().parse::<i64>() {
                        answered.insert(id);
                        out.sent.push(id);
                    }
                }
                for bad in resp.failed() {
                    if let Ok(id) = bad.id().parse::<i64>() {
                        answered.insert(id);
                        let reason =
                            format!("{}: {}", bad.code(), bad.message().unwrap_or("refused"));
                        tracing::warn!(receipt_id = id, %reason, sender_fault = bad.sender_fault(), "SQS refused a message");
                        out.failed.push((id, reason));
                    }
                }
                // An entry SQS said nothing about cannot be assumed sent.
                for m in chunk {
                    if !answered.contains(&m.id) {
                        out.failed
                            .push((m.id, "no result for this entry".to_owned()));
                    }
                }
            }
        }
        out
    }

    pub async fn arn(&self) -> Result<String, QueueError> {
        let resp = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(sqs_error("GetQueueAttributes"))?;
        resp.attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .ok_or(QueueError::Sqs {
                operation: "GetQueueAttributes",
                reason: "no QueueArn".to_owned(),
            })
    }

    /// Receives up to ten messages without waiting, hidden for `hide`.
    pub async fn receive(&self, hide: std::time::Duration) -> Result<Vec<Message>, QueueError> {
        let resp = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(SQS_BATCH_MAX as i32)
            .visibility_timeout(hide.as_secs().min(43_199) as i32)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(sqs_error("ReceiveMessage"))?;
        Ok(resp.messages.unwrap_or_default())
    }

    /// Deletes received messages by receipt handle, ten to a call.
    pub async fn delete(&self, handles: &[String]) -> Result<(), QueueError> {
        for chunk in handles.chunks(SQS_BATCH_MAX) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(h)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| QueueError::Sqs {
                    operation: "DeleteMessageBatch",
                    reason: e.to_string(),
                })?;
            self.client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sqs_error("DeleteMessageBatch"))?;
        }
        Ok(())
    }

    /// Makes received messages visible again at once.
    pub async fn release(&self, handles: &[String]) -> Result<(), QueueError> {
        for chunk in handles.chunks(SQS_BATCH_MAX) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(h)
                        .visibility_timeout(0)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| QueueError::Sqs {
                    operation: "ChangeMessageVisibilityBatch",
                    reason: e.to_string(),
                })?;
            self.client
                .change_message_visibility_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sqs_error("ChangeMessageVisibilityBatch"))?;
        }
        Ok(())
    }

    /// The queue's approximate depth.
    pub async fn depth(&self) -> Result<QueueDepth, QueueError> {
        let resp = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(sqs_error("GetQueueAttributes"))?;
        let get = |name: QueueAttributeName| -> i64 {
            resp.attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Ok(QueueDepth {
            visible: get(QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            delayed: get(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        })
    }
}
