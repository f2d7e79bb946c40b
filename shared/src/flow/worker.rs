//! The OCR worker: takes a batch of OCR queue messages and answers which of
//! them failed (SQS partial batch response), so that only those come back.
//!
//! Per message: parse, claim the receipt the message names (only if the
//! message agrees with the receipt's row, fenced by attempt), presign the
//! row's image, call the agent, save the result in one statement that
//! holds only while the claim does. A passing failure comes back after a
//! backoff that grows with the receive count; on the last allowed receive
//! the receipt is marked `failed` and the message goes to the DLQ. A
//! permanent failure marks the receipt `failed` at once and acknowledges
//! the message. A message that cannot be read, or that disagrees with its
//! receipt's row, goes to the DLQ at once and touches nothing.
//!
//! The worker puts dead messages in the DLQ itself (SendMessage, then the
//! message is acknowledged): SQS's redrive policy would only move them
//! after `maxReceiveCount` × the visibility timeout. The policy stays as
//! the safety net when the DLQ cannot be reached.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::FutureExt;
use futures::stream::{self, StreamExt};
use serde_json::json;
use tracing::Instrument;

use crate::aws::s3::S3Storage;
use crate::db::{ClaimOutcome, ReceiptRepository};
use crate::domain::message::OcrMessage;
use crate::outbound::agent::{Agent, AgentError, ExtractRequest};
use crate::runtime::metrics::{Metrics, Unit};

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// The normal-priority OCR queue and its DLQ.
    pub normal: QueuePair,
    /// The high-priority ones. A message's own pair is told by its event
    /// source ARN.
    pub high: QueuePair,
    /// Receives after which SQS moves the message to the DLQ.
    pub max_receive_count: u32,
    /// How long a claim holds: the agent timeout plus a margin.
    pub lease: Duration,
    /// Messages of one batch processed at once.
    pub concurrency: usize,
    /// Backoff after the first failed receive; doubles with each receive.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Lifetime of the image URL given to the agent.
    pub image_url_ttl: Duration,
}

/// An OCR queue and its dead-letter queue.
#[derive(Debug, Clone, Default)]
pub struct QueuePair {
    /// The queue (for ChangeMessageVisibility).
    pub queue_url: String,
    /// Its dead-letter queue, where the worker puts dead messages itself.
    pub dlq_url: String,
}

impl WorkerSettings {
    /// The queues and timings of the configuration; a lease and an image
    /// link outlast one call of the agent.
    pub fn from_config(cfg: &crate::config::Common, agent_timeout: Duration) -> Self {
        let q = &cfg.queues;
        Self {
            normal: QueuePair {
                queue_url: q.ocr.clone(),
                dlq_url: q.ocr_dlq.clone(),
            },
            high: QueuePair {
                queue_url: q.ocr_high.clone(),
                dlq_url: q.ocr_high_dlq.clone(),
            },
            max_receive_count: q.max_receive_count,
            lease: agent_timeout + Duration::from_secs(60),
            concurrency: cfg.processing.worker_concurrency,
            backoff_base: cfg.processing.retry_backoff_base,
            backoff_max: Duration::from_secs(900),
            image_url_ttl: agent_timeout + Duration::from_secs(300),
        }
    }

    /// The queues a message came from: the pair whose queue the message's
    /// event source ARN names (`arn:aws:sqs:region:account:name`, the URL's
    /// last segment); the normal pair when it names neither.
    pub fn pair_for(&self, msg: &SqsMessage) -> &QueuePair {
        let name = |url: &str| url.rsplit('/').next().unwrap_or_default().to_owned();
        match msg
            .event_source_arn
            .as_deref()
            .and_then(|a| a.rsplit(':').next())
        {
            Some(q) if !q.is_empty() && q == name(&self.high.queue_url) => &self.high,
            _ => &self.normal,
        }
    }

    /// The visibility timeout after the `receive_count`-th failed receive.
    pub fn backoff(&self, receive_count: u32) -> Duration {
        let factor = 2u32.saturating_pow(receive_count.saturating_sub(1).min(16));
        self.backoff_base
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    /// Acknowledged without OCR: already completed or failed (a late or
    /// duplicate message), gone, or not claimable.
    Skipped(&'static str),
    /// Marked `failed` for good; the message is acknowledged.
    Failed(String),
    /// Comes back after a backoff (a batch item failure). Also what a dead
    /// message becomes when the DLQ cannot be reached: SQS's redrive
    /// policy then moves it.
    Retry(String),
    /// Last receive: marked `failed`; the worker put the message in the DLQ
    /// and it is acknowledged here.
    DeadLetter(String),
    /// Not an OCR message, or one that disagrees with its receipt's row:
    /// put in the DLQ at once and acknowledged here; no receipt touched.
    Refused(String),
}

impl Outcome {
    /// Whether SQS should see this message again (batch item failure):
    /// only a retry. Dead messages are already in the DLQ.
    pub fn is_batch_failure(&self) -> bool {
        matches!(self, Outcome::Retry(_))
    }
}

pub struct Worker<A> {
    pub repo: ReceiptRepository,
    pub storage: S3Storage,
    pub sqs: aws_sdk_sqs::Client,
    pub agent: A,
    pub settings: WorkerSettings,
    pub metrics: Metrics,
    /// Sends the batch's new webhook deliveries on (with `WEBHOOK_QUEUE_URL`).
    pub relay: Option<crate::flow::webhooks::Relay>,
}

fn receive_count(msg: &SqsMessage) -> u32 {
    msg.attributes
        .get("ApproximateReceiveCount")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// Why a message whose receipt was deleted while it was read is dropped.
const DELETED: &str = "receipt was deleted while it was read";

impl<A: Agent> Worker<A> {
    /// Handles a batch; the response names the messages SQS must keep.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let started = Instant::now();
        let outcomes: Vec<(Option<String>, Outcome)> = stream::iter(event.records)
            .map(|msg| async move {
                let id = msg.message_id.clone();
                // A panic fails this message alone.
                let outcome = AssertUnwindSafe(self.handle_message(&msg))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| {
                        tracing::error!(message_id = ?id, "handler panicked");
                        Outcome::Retry("handler panicked".to_owned())
                    });
                (id, outcome)
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;

        let mut response = SqsBatchResponse::default();
        let (mut completed, mut failed, mut retried, mut skipped) = (0, 0, 0, 0);
        for (id, outcome) in &outcomes {
            match outcome {
                Outcome::Completed => completed += 1,
                Outcome::Skipped(_) => skipped += 1,
                Outcome::Failed(_) | Outcome::DeadLetter(_) => failed += 1,
                Outcome::Retry(_) => retried += 1,
                Outcome::Refused(_) => failed += 1,
            }
            if outcome.is_batch_failure() {
                // A message without an id cannot be named; failing the whole
                // batch is the only safe answer then.
                let mut f = BatchItemFailure::default();
                f.item_identifier = id.clone().unwrap_or_default();
                response.batch_item_failures.push(f);
            }
        }
        tracing::info!(
            messages = outcomes.len(),
            completed,
            failed,
            retried,
            skipped,
            duration_ms = started.elapsed().as_millis() as u64,
            "batch done: {completed} processed, {failed} failed, {retried} to retry, {skipped} skipped"
        );
        crate::flow::webhooks::Relay::kick(self.relay.as_ref()).await;
        response
    }

    /// Handles one message.
    pub async fn handle_message(&self, msg: &SqsMessage) -> Outcome {
        let message_id = msg.message_id.as_deref().unwrap_or("");
        let rc = receive_count(msg);
        let job = match OcrMessage::parse(msg.body.as_deref().unwrap_or("")) {
            Ok(job) => job,
            Err(e) => {
                tracing::error!(message_id, receive_count = rc, error = %e, "poison message");
                let outcome = self.refuse(msg, e.to_string()).await;
                if matches!(outcome, Outcome::Refused(_)) {
                    self.metrics.emit(&[("Refused", 1.0, Unit::Count)], &[]);
                }
                return outcome;
            }
        };
        let span = tracing::info_span!(
            "ocr",
            receipt_id = job.receipt_id.get(),
            message_id,
            receive_count = rc
        );
        let started = Instant::now();
        let outcome = self.process(&job, msg, rc).instrument(span.clone()).await;
        let _g = span.enter();
        let elapsed = started.elapsed().as_millis() as f64;
        let id = job.receipt_id;
        match &outcome {
            Outcome::Completed => {
                tracing::info!(duration_ms = elapsed as u64, "receipt {id} processed");
                self.metrics.emit(
                    &[
                        ("Processed", 1.0, Unit::Count),
                        ("ProcessingTime", elapsed, Unit::Milliseconds),
                    ],
                    &[("receipt_id", json!(id.get()))],
                );
            }
            Outcome::Failed(reason) | Outcome::DeadLetter(reason) => {
                tracing::warn!(
                    reason,
                    dead_letter = matches!(outcome, Outcome::DeadLetter(_)),
                    "receipt {id} failed: {reason}"
                );
                self.metrics.emit(
                    &[("Failed", 1.0, Unit::Count)],
                    &[("receipt_id", json!(id.get())), ("reason", json!(reason))],
                );
            }
            Outcome::Retry(reason) => {
                tracing::warn!(reason, "receipt {id} will be retried: {reason}");
                self.metrics.emit(
                    &[("Retried", 1.0, Unit::Count)],
                    &[("receipt_id", json!(id.get())), ("reason", json!(reason))],
                );
            }
            Outcome::Skipped(why) => tracing::info!(why, "receipt {id} skipped: {why}"),
            Outcome::Refused(reason) => {
                tracing::error!(reason, "message for receipt {id} refused: {reason}");
                self.metrics.emit(
                    &[("Refused", 1.0, Unit::Count)],
                    &[("receipt_id", json!(id.get()))],
                );
            }
        }
        outcome
    }

    /// The receipt's claim for this message, or what to do with the
    /// message when there is none: skip it, refuse it, or have it back.
    async fn take_claim(
        &self,
        job: &OcrMessage,
        msg: &SqsMessage,
        rc: u32,
    ) -> Result<crate::db::Claim, Outcome> {
        let last_receive = rc >= self.settings.max_receive_count;
        match self.repo.claim(job, self.settings.lease).await {
            Ok(ClaimOutcome::Claimed(c)) => Ok(c),
            Ok(ClaimOutcome::AlreadyCompleted) => Err(Outcome::Skipped("already completed")),
            // `failed` is final until a retry or a redrive sets `queued` (and
            // sends a fresh message); a late copy is not read again.
            Ok(ClaimOutcome::AlreadyFailed) => Err(Outcome::Skipped("already failed")),
            Ok(ClaimOutcome::NotFound) => Err(Outcome::Skipped("receipt no longer exists")),
            Ok(ClaimOutcome::Mismatch(fields)) => {
                let reason = format!(
                    "the message's {} differs from receipt {}'s",
                    fields.join(", "),
                    job.receipt_id
                );
                Err(self.refuse(msg, reason).await)
            }
            Ok(ClaimOutcome::Busy(crate::domain::OcrStatus::Processing)) if !last_receive => {
                // Another worker holds it. Come back when its lease may have
                // run out, in case that worker died.
                self.delay(msg, self.settings.lease).await;
                Err(Outcome::Retry("held by another worker".to_owned()))
            }
            Ok(ClaimOutcome::Busy(crate::domain::OcrStatus::Processing)) => {
                // The last receive, and a lease still holds it (a worker
                // died, or could not release its claim): this message may
                // not come again, so a fresh copy takes its place, due when
                // the lease has run out. The receipt is never left
                // `processing` without a message.
                Err(self.hand_on(job, msg).await)
            }
            Ok(ClaimOutcome::Busy(_)) => Err(Outcome::Skipped("not claimable")),
            Err(e) => {
                self.delay(msg, self.settings.backoff(rc)).await;
                Err(Outcome::Retry(format!("database: {e}")))
            }
        }
    }

    async fn process(&self, job: &OcrMessage, msg: &SqsMessage, rc: u32) -> Outcome {
        let claim = match self.take_claim(job, msg, rc).await {
            Ok(c) => c,
            Err(outcome) => return outcome,
        };
        tracing::debug!(attempt = claim.attempt, "claimed");

        let image_url = match self
            .storage
            .presign_get(&job.bucket, &job.key, self.settings.image_url_ttl)
            .await
        {
            Ok(url) => url,
            Err(e) => {
                return self
                    .transient(&claim, msg, rc, format!("storage: {e}"))
                    .await;
            }
        };
        let req = ExtractRequest {
            receipt_id: job.receipt_id.get(),
            user_id: job.user_id.as_str().to_owned(),
            image_url,
            locale: claim.locale.clone(),
        };
        let called = Instant::now();
        let result = self.agent.extract(&req).await;
        let latency = called.elapsed().as_millis() as f64;
        self.metrics.emit(
            &[("AgentLatency", latency, Unit::Milliseconds)],
            &[("receipt_id", json!(job.receipt_id.get()))],
        );
        match result {
            Ok(extraction) => match self.repo.complete(&claim, &extraction).await {
                Ok(true) => Outcome::Completed,
                Ok(false) if self.deleted(&claim).await => Outcome::Skipped(DELETED),
                Ok(false) => Outcome::Skipped("claim lost to a newer attempt"),
                Err(e) => {
                    self.transient(&claim, msg, rc, format!("database: {e}"))
                        .await
                }
            },
            Err(e @ AgentError::Rejected { .. }) => {
                let reason = e.to_string();
                match self.repo.fail(&claim, &reason, false).await {
                    Ok(false) if self.deleted(&claim).await => Outcome::Skipped(DELETED),
                    Ok(_) => Outcome::Failed(reason),
                    Err(db) => {
                        self.transient(&claim, msg, rc, format!("database: {db}"))
                            .await
                    }
                }
            }
            Err(e) => self.transient(&claim, msg, rc, e.to_string()).await,
        }
    }

    /// A passing failure: back to `queued` with the error and a backoff, or
    /// on the last receive `failed` and on to the DLQ.
    async fn transient(
        &self,
        claim: &crate::db::Claim,
        msg: &SqsMessage,
        rc: u32,
        reason: String,
    ) -> Outcome {
        if self.deleted(claim).await {
            // Its image went with it: nothing to retry, nothing to keep.
            return Outcome::Skipped(DELETED);
        }
        if rc >= self.settings.max_receive_count {
            let why = format!("{reason} (gave up after {rc} attempts)");
            let in_dlq = self.to_dlq(msg, &why).await;
            if let Err(e) = self.repo.fail(claim, &why, true).await {
                tracing::error!(error = %e, "could not mark the receipt failed");
            }
            if in_dlq {
                return Outcome::DeadLetter(why);
            }
            // Visible at once: SQS's redrive policy moves it on its next receive.
            self.delay(msg, Duration::ZERO).await;
            return Outcome::Retry(why);
        }
        if let Err(e) = self.repo.release(claim, &reason).await {
            // The lease runs out and the message comes back anyway.
            tracing::error!(error = %e, "could not release the claim");
        }
        self.delay(msg, self.settings.backoff(rc)).await;
        Outcome::Retry(reason)
    }

    /// Whether the claimed receipt was deleted meanwhile (a database
    /// error counts as not: the usual path handles it).
    async fn deleted(&self, claim: &crate::db::Claim) -> bool {
        matches!(self.repo.exists(claim.receipt_id).await, Ok(false))
    }

    /// A dead message: into the DLQ now, or, if the DLQ cannot be reached,
    /// back to SQS, whose redrive policy moves it after its last receive.
    async fn refuse(&self, msg: &SqsMessage, reason: String) -> Outcome {
        if self.to_dlq(msg, &reason).await {
            Outcome::Refused(reason)
        } else {
            self.delay(msg, self.settings.backoff(receive_count(msg)))
                .await;
            Outcome::Retry(reason)
        }
    }

    /// Puts a copy of the message in the DLQ with why it is there. True when
    /// SQS accepted it (the original may then be acknowledged).
    async fn to_dlq(&self, msg: &SqsMessage, reason: &str) -> bool {
        let attr = |v: &str| {
            aws_sdk_sqs::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
        };
        // SQS refuses an empty body; a poison message may have one.
        let body = msg
            .body
            .as_deref()
            .filter(|b| !b.is_empty())
            .unwrap_or("(empty)");
        let mut send = self
            .sqs
            .send_message()
            .queue_url(&self.settings.pair_for(msg).dlq_url)
            .message_body(body);
        // Attribute values are at most 256 KiB together; a reason is short.
        let reason: String = reason.chars().take(1000).collect();
        for (name, value) in [
            ("dead_letter_reason", Some(reason.as_str())),
            ("source_message_id", msg.message_id.as_deref()),
        ] {
            if let Some(Ok(v)) = value.filter(|v| !v.is_empty()).map(attr) {
                send = send.message_attributes(name, v);
            }
        }
        match send.send().await {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(error = %crate::aws::describe_sdk_error(&e), "could not put the message in the DLQ");
                false
            }
        }
    }

    /// Sets when the message is seen again.
    /// Sends a fresh copy of the message, delayed by the lease (at most
    /// SQS's 15 minutes), then lets the original go; if SQS refuses the
    /// copy, the original is kept for its next receive.
    async fn hand_on(&self, job: &OcrMessage, msg: &SqsMessage) -> Outcome {
        let body = msg.body.clone().unwrap_or_default();
        let secs = self.settings.lease.as_secs().clamp(1, 900) as i32;
        let sent = self
            .sqs
            .send_message()
            .queue_url(&self.settings.pair_for(msg).queue_url)
            .message_body(body)
            .delay_seconds(secs)
            .message_group_id(job.user_id.as_str())
            .send()
            .await;
        match sent {
            Ok(_) => {
                tracing::info!(
                    receipt_id = job.receipt_id.get(),
                    delay_secs = secs,
                    "held by a lease on the last receive: handed on to a fresh message"
                );
                Outcome::Skipped("held by a lease: handed on to a fresh message")
            }
            Err(e) => {
                let reason = crate::aws::describe_sdk_error(&e);
                self.delay(msg, self.settings.lease).await;
                Outcome::Retry(format!("could not hand the message on: {reason}"))
            }
        }
    }

    async fn delay(&self, msg: &SqsMessage, after: Duration) {
        let Some(handle) = msg.receipt_handle.as_deref() else {
            return;
        };
        let secs = after.as_secs().min(43_199) as i32;
        if let Err(e) = self
            .sqs
            .change_message_visibility()
            .queue_url(&self.settings.pair_for(msg).queue_url)
            .receipt_handle(handle)
            .visibility_timeout(secs)
            .send()
            .await
        {
            tracing::warn!(error = %crate::aws::describe_sdk_error(&e), "could not change the message's visibility");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> WorkerSettings {
        WorkerSettings {
            normal: QueuePair {
                queue_url: "http://sqs/000000000000/app-ocr".into(),
                dlq_url: "http://sqs/000000000000/app-ocr-dlq".into(),
            },
            high: QueuePair {
                queue_url: "http://sqs/000000000000/app-ocr-high".into(),
                dlq_url: "http://sqs/000000000000/app-ocr-high-dlq".into(),
            },
            max_receive_count: 5,
            lease: Duration::from_secs(360),
            concurrency: 10,
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(900),
            image_url_ttl: Duration::from_secs(600),
        }
    }

    #[test]
    fn a_message_is_answered_on_the_queues_it_came_from() {
        let s = settings();
        let from = |arn: Option<&str>| {
            let mut m = SqsMessage::default();
            m.event_source_arn = arn.map(str::to_owned);
            s.pair_for(&m).dlq_url.clone()
        };
        assert_eq!(
            from(Some("arn:aws:sqs:us-east-1:000000000000:app-ocr-high")),
            s.high.dlq_url
        );
        assert_eq!(
            from(Some("arn:aws:sqs:us-east-1:000000000000:app-ocr")),
            s.normal.dlq_url
        );
        // A name that only starts like the high queue's is not it.
        assert_eq!(
            from(Some("arn:aws:sqs:us-east-1:000000000000:app-ocr-high-dlq")),
            s.normal.dlq_url
        );
        assert_eq!(from(None), s.normal.dlq_url);
    }

    #[test]
    fn backoff_doubles_with_each_receive_up_to_the_cap() {
        let s = settings();
        assert_eq!(s.backoff(1), Duration::from_secs(10));
        assert_eq!(s.backoff(2), Duration::from_secs(20));
        assert_eq!(s.backoff(4), Duration::from_secs(80));
        assert_eq!(s.backoff(10), Duration::from_secs(900));
        assert_eq!(s.backoff(1000), Duration::from_secs(900));
    }

    #[test]
    fn only_retries_are_batch_failures() {
        assert!(Outcome::Retry(String::new()).is_batch_failure());
        // The worker put these in the DLQ itself: acknowledged here.
        assert!(!Outcome::DeadLetter(String::new()).is_batch_failure());
        assert!(!Outcome::Refused(String::new()).is_batch_failure());
        assert!(!Outcome::Completed.is_batch_failure());
        assert!(!Outcome::Failed(String::new()).is_batch_failure());
        assert!(!Outcome::Skipped("x").is_batch_failure());
    }
}
