//! The reconciler: nothing may stay `queued` or `processing` forever. It
//! re-sends the OCR message of receipts whose message was lost, and only
//! those: a receipt `queued` for long may just be waiting behind a backlog.
//!
//! Every `queued` or `processing` receipt has a message in the OCR queue
//! (waiting, in flight or delayed) unless it was lost, so at most
//! (receipts in flight − messages in the queue) messages are lost. The
//! reconciler re-sends that many, taken from the receipts `queued` longer
//! than the threshold or `processing` past their lease, oldest first. With
//! a backlog and nothing lost, the queue holds as many messages as there
//! are receipts in flight, and nothing is re-sent. A duplicate is harmless
//! anyway: the claim lets one worker through and the others see it done.

use std::time::Duration;

use crate::aws::sqs::PriorityQueues;
use crate::db::erase::StorageDeletions;
use crate::db::{ReceiptRepository, RepoError};
use crate::domain::message::OcrMessage;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    pub requeued: Vec<i64>,
    pub not_sent: usize,
    /// Receipts `queued` or `processing`, and messages in the OCR queue,
    /// when the pass began; the difference bounds the lost messages.
    pub in_flight: i64,
    pub in_queue: i64,
    /// Webhook deliveries found lost and handed to the relay, and how many
    /// messages the relay sent.
    pub deliveries_released: u64,
    pub deliveries_sent: usize,
    /// Events older than the retention, deleted.
    pub events_pruned: u64,
    /// Presigned uploads handed out before the retention, forgotten (their
    /// Idempotency-Keys with them).
    pub upload_intents_pruned: u64,
    /// Erasures carried on, receipts past their retention deleted, and S3
    /// deletions tried again.
    pub erase: crate::flow::erase::EraseReport,
}

/// At most how many messages can be lost: receipts in flight that the
/// queue does not hold a message for.
pub fn lost_at_most(receipts_in_flight: i64, messages_in_queue: i64) -> i64 {
    (receipts_in_flight - messages_in_queue).max(0)
}

pub struct Reconciler {
    pub repo: ReceiptRepository,
    /// The OCR queues (both priorities).
    pub ocr_queues: PriorityQueues,
    pub queued_after: Duration,
    pub batch: u32,
    /// Prunes events and finished webhook deliveries past their retention.
    pub events: crate::db::events::EventLog,
    pub event_retention: Duration,
    /// Hands lost webhook deliveries to the webhook queue again.
    pub relay: Option<crate::flow::webhooks::Relay>,
    /// Carries on erasures, applies the retention, and deletes the S3
    /// objects whose deletion failed before.
    pub eraser: crate::flow::erase::Eraser,
    /// Receipts uploaded more than this many days ago are deleted
    /// (`RECEIPT_RETENTION_DAYS`; `None`: kept).
    pub retention_days: Option<u32>,
}

impl Reconciler {
    /// One pass; returns what it re-sent. Receipts whose message could not
    /// be sent stay `queued` and are found again by a later pass.
    pub async fn run_once(&self) -> Result<ReconcileReport, RepoError> {
        let mut report = ReconcileReport::default();
        // Messages first, then receipts: a receipt queued in between counts
        // as possibly lost, never the other way round (it is not stale yet).
        let depth = match self.ocr_queues.depths().await {
            Ok(d) => d.total(),
            Err(e) => {
                // Nothing could be sent anyway.
                tracing::warn!(error = %e, "reconciler: OCR queue unavailable; nothing re-sent");
                return Ok(report);
            }
        };
        report.in_queue = depth.visible + depth.in_flight + depth.delayed;
        report.in_flight = self.repo.count_in_flight().await?;
        let mut budget = lost_at_most(report.in_flight, report.in_queue);
        while budget > 0 {
            let take = u32::try_from(budget).unwrap_or(u32::MAX).min(self.batch);
            let stuck = self.repo.take_stuck(self.queued_after, take).await?;
            if stuck.is_empty() {
                break;
            }
            let n = stuck.len();
            budget -= n as i64;
            let messages: Vec<OcrMessage> = stuck
                .iter()
                .filter_map(|r| {
                    r.message()
                        .map_err(|e| tracing::error!(error = %e, "reconciler: unreadable receipt"))
                        .ok()
                })
                .collect();
            let sent = self.ocr_queues.send_ocr_jobs(&messages).await;
            report.not_sent += sent.failed.len();
            report.requeued.extend(sent.sent);
            if n < take as usize || report.not_sent > 0 {
                break;
            }
        }
        self.webhooks_and_events(&mut report).await?;
        self.deletions(&mut report).await?;
        if !report.requeued.is_empty() || report.not_sent > 0 {
            tracing::warn!(
                requeued = report.requeued.len(),
                not_sent = report.not_sent,
                in_flight = report.in_flight,
                in_queue = report.in_queue,
                "reconciler re-sent {} stuck receipts",
                report.requeued.len()
            );
        }
        Ok(report)
    }
}

impl Reconciler {
    /// Lost webhook deliveries back to the queue; old events pruned.
    async fn webhooks_and_events(&self, report: &mut ReconcileReport) -> Result<(), RepoError> {
        if let Some(relay) = &self.relay {
            report.deliveries_released = relay
                .store
                .release_lost(crate::flow::webhooks::LOST_AFTER)
                .await?;
            report.deliveries_sent = relay.run().await?;
        }
        report.events_pruned = self.events.prune(self.event_retention, 10_000).await?;
        report.upload_intents_pruned = self.repo.prune_upload_intents(self.event_retention).await?;
        if report.deliveries_released > 0 || report.events_pruned > 0 {
            tracing::info!(
                deliveries_released = report.deliveries_released,
                deliveries_sent = report.deliveries_sent,
                events_pruned = report.events_pruned,
                upload_intents_pruned = report.upload_intents_pruned,
                "reconciler: webhook deliveries and events"
            );
        }
        Ok(())
    }
}

impl Reconciler {
    /// Running erasures carried on, the retention applied, failed S3
    /// deletions tried again: each in bounded batches, within one budget.
    pub async fn deletions(&self, report: &mut ReconcileReport) -> Result<(), RepoError> {
        let deadline = std::time::Instant::now() + crate::flow::erase::PASS_BUDGET;
        let r = &mut report.erase;
        self.eraser.run_all(deadline, r).await?;
        if let Some(days) = self.retention_days {
            self.eraser.expire(days, deadline, r).await?;
        }
        self.eraser.retry_objects(deadline, r).await?;
        StorageDeletions(self.repo.pool())
            .prune(self.event_retention, 10_000)
            .await?;
        if r.receipts_deleted > 0 || r.objects_deleted > 0 || r.objects_left > 0 {
            tracing::info!(
                receipts_deleted = r.receipts_deleted,
                erasures_finished = r.erasures_finished,
                objects_deleted = r.objects_deleted,
                objects_left = r.objects_left,
                "reconciler: deletions"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backlog_holding_every_message_has_nothing_lost() {
        assert_eq!(lost_at_most(2000, 2000), 0);
        // Duplicates and poison in the queue make it hold more.
        assert_eq!(lost_at_most(2000, 2010), 0);
        assert_eq!(lost_at_most(2000, 1998), 2);
        assert_eq!(lost_at_most(3, 0), 3);
    }
}
