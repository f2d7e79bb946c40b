//! The OCR worker: takes a batch of OCR queue messages and answers which of
//! them failed (SQS partial batch response), so that only those come back.
//!
//! Per message: parse (a poison body fails alone), claim the receipt
//! (fenced by attempt), presign the image, call the agent, save the result
//! in one transaction that holds only while the claim does. A passing
//! failure comes back after a backoff that grows with the receive count;
//! on the last allowed receive the receipt is marked `failed` and the
//! message goes on to the DLQ. A permanent failure marks the receipt
//! `failed` at once and acknowledges the message.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::FutureExt;
use futures::stream::{self, StreamExt};
use serde_json::json;
use tracing::Instrument;

use crate::agent::{Agent, AgentError, ExtractRequest};
use crate::message::OcrMessage;
use crate::metrics::{Metrics, Unit};
use crate::repo::{ClaimOutcome, ReceiptRepository};
use crate::storage::S3Storage;

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// The OCR queue (for ChangeMessageVisibility).
    pub queue_url: String,
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

impl WorkerSettings {
    pub fn from_config(cfg: &crate::config::Config) -> Self {
        Self {
            queue_url: cfg.ocr_queue_url.clone(),
            max_receive_count: cfg.max_receive_count,
            lease: cfg.agent_timeout + Duration::from_secs(60),
            concurrency: cfg.worker_concurrency,
            backoff_base: cfg.retry_backoff_base,
            backoff_max: Duration::from_secs(900),
            image_url_ttl: cfg.agent_timeout + Duration::from_secs(300),
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
    /// Acknowledged without OCR (already completed, gone, or held by another worker).
    Skipped(&'static str),
    /// Marked `failed` for good; the message is acknowledged.
    Failed(String),
    /// Comes back after a backoff (a batch item failure).
    Retry(String),
    /// Last receive: marked `failed`, and the message goes on to the DLQ.
    DeadLetter(String),
    /// Not an OCR message; fails alone and ends in the DLQ.
    Poison(String),
    /// Delivered past its last allowed receive (the receipt is already
    /// `failed`): handed back so that SQS moves it to the DLQ.
    PastLastReceive,
}

impl Outcome {
    /// Whether SQS should see this message again (batch item failure).
    pub fn is_batch_failure(&self) -> bool {
        matches!(
            self,
            Outcome::Retry(_) | Outcome::DeadLetter(_) | Outcome::Poison(_)
        )
    }
}

pub struct Worker<A> {
    pub repo: ReceiptRepository,
    pub storage: S3Storage,
    pub sqs: aws_sdk_sqs::Client,
    pub agent: A,
    pub settings: WorkerSettings,
    pub metrics: Metrics,
}

fn receive_count(msg: &SqsMessage) -> u32 {
    msg.attributes
        .get("ApproximateReceiveCount")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

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
                Outcome::Retry(_) | Outcome::Poison(_) | Outcome::PastLastReceive => retried += 1,
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
                return Outcome::Poison(e.to_string());
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
                    &[("receipt_id", json!(id.get()))],
                );
            }
            Outcome::Retry(reason) => {
                tracing::warn!(reason, "receipt {id} will be retried: {reason}");
                self.metrics.emit(
                    &[("Retried", 1.0, Unit::Count)],
                    &[("receipt_id", json!(id.get()))],
                );
            }
            Outcome::Skipped(why) => tracing::info!(why, "receipt {id} skipped: {why}"),
            Outcome::PastLastReceive => {
                tracing::warn!("receipt {id}: message past its last receive, on to the DLQ")
            }
            Outcome::Poison(_) => {}
        }
        outcome
    }

    async fn process(&self, job: &OcrMessage, msg: &SqsMessage, rc: u32) -> Outcome {
        let last_receive = rc >= self.settings.max_receive_count;
        let claim = match self.repo.claim(job.receipt_id, self.settings.lease).await {
            Ok(ClaimOutcome::Claimed(c)) => c,
            Ok(ClaimOutcome::AlreadyCompleted) => return Outcome::Skipped("already completed"),
            Ok(ClaimOutcome::NotFound) => return Outcome::Skipped("receipt no longer exists"),
            Ok(ClaimOutcome::DeadLettered) => {
                // Delivered again after its last allowed receive: the receipt
                // is `failed` already. Hand it back so that SQS moves it on.
                self.delay(msg, Duration::ZERO).await;
                return Outcome::PastLastReceive;
            }
            Ok(ClaimOutcome::Busy(crate::domain::OcrStatus::Processing)) if !last_receive => {
                // Another worker holds it. Come back when its lease may have
                // run out, in case that worker died.
                self.delay(msg, self.settings.lease).await;
                return Outcome::Retry("held by another worker".to_owned());
            }
            Ok(ClaimOutcome::Busy(_)) => return Outcome::Skipped("not claimable"),
            Err(e) => {
                self.delay(msg, self.settings.backoff(rc)).await;
                return Outcome::Retry(format!("database: {e}"));
            }
        };
        tracing::debug!(attempt = claim.attempt, "claimed");

        let image_url = match self
            .storage
            .presign_get(&job.key, self.settings.image_url_ttl)
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
                Ok(false) => Outcome::Skipped("claim lost to a newer attempt"),
                Err(e) => {
                    self.transient(&claim, msg, rc, format!("database: {e}"))
                        .await
                }
            },
            Err(e @ AgentError::Rejected { .. }) => {
                let reason = e.to_string();
                match self.repo.fail(&claim, &reason, false).await {
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
        claim: &crate::repo::Claim,
        msg: &SqsMessage,
        rc: u32,
        reason: String,
    ) -> Outcome {
        if rc >= self.settings.max_receive_count {
            let why = format!("{reason} (gave up after {rc} attempts)");
            if let Err(e) = self.repo.fail(claim, &why, true).await {
                tracing::error!(error = %e, "could not mark the receipt failed");
            }
            // Visible at once, so that SQS moves it to the DLQ now.
            self.delay(msg, Duration::ZERO).await;
            return Outcome::DeadLetter(why);
        }
        if let Err(e) = self.repo.release(claim, &reason).await {
            // The lease runs out and the message comes back anyway.
            tracing::error!(error = %e, "could not release the claim");
        }
        self.delay(msg, self.settings.backoff(rc)).await;
        Outcome::Retry(reason)
    }

    /// Sets when the message is seen again.
    async fn delay(&self, msg: &SqsMessage, after: Duration) {
        let Some(handle) = msg.receipt_handle.as_deref() else {
            return;
        };
        let secs = after.as_secs().min(43_199) as i32;
        if let Err(e) = self
            .sqs
            .change_message_visibility()
            .queue_url(&self.settings.queue_url)
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
            queue_url: String::new(),
            max_receive_count: 5,
            lease: Duration::from_secs(360),
            concurrency: 10,
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(900),
            image_url_ttl: Duration::from_secs(600),
        }
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
    fn only_retries_dead_letters_and_poison_are_batch_failures() {
        assert!(Outcome::Retry(String::new()).is_batch_failure());
        assert!(Outcome::DeadLetter(String::new()).is_batch_failure());
        assert!(Outcome::Poison(String::new()).is_batch_failure());
        assert!(!Outcome::Completed.is_batch_failure());
        assert!(!Outcome::Failed(String::new()).is_batch_failure());
        assert!(!Outcome::Skipped("x").is_batch_failure());
    }
}
