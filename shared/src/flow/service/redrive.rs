//! The operators' redrive of the dead-letter queues.

use std::time::Duration;

use crate::aws::sqs::SQS_BATCH_MAX;
use crate::domain::Priority;
use crate::domain::message::OcrMessage;

use super::{ReceiptService, Redrive, ServiceError, message_for};

impl ReceiptService {
    /// Gives every dead-lettered receipt another go: each goes back to
    /// `queued` with one fresh OCR message (so a fresh receive count) in the
    /// queue of its priority, and the DLQ copies of the messages of
    /// receipts are removed from both DLQs, so that each receipt is read
    /// once. Messages that name no receipt, or disagree with its row
    /// (poison, forged), stay in the DLQ for a person to read.
    pub async fn redrive(&self) -> Result<Redrive, ServiceError> {
        let depth = self.ocr_dlqs.depths().await?;
        let requeued = self.repo.requeue_dead_lettered().await?;
        let messages = requeued
            .iter()
            .map(message_for)
            .collect::<Result<Vec<_>, _>>()?;
        let sent = self.ocr_queues.send_ocr_jobs(&messages).await;
        if !sent.failed.is_empty() {
            // Left `queued`: the reconciler re-sends them.
            tracing::warn!(
                count = sent.failed.len(),
                "redrive: some OCR messages were not sent; the reconciler will"
            );
        }
        let (mut removed, mut kept) = (0, 0);
        for (priority, dlq) in self.ocr_dlqs.both() {
            let expected = match priority {
                Priority::High => depth.high.visible,
                Priority::Normal => depth.normal.visible,
            };
            let (r, k) = self.sweep_dlq(dlq, expected).await?;
            removed += r;
            kept += k;
        }
        let dlq_messages = depth.total().visible;
        let receipt_ids: Vec<i64> = requeued.iter().map(|r| r.id).collect();
        tracing::info!(
            dlq_messages,
            receipts = receipt_ids.len(),
            removed,
            kept,
            "redrive: {} receipts back to queued, {removed} DLQ messages removed, {kept} kept",
            receipt_ids.len()
        );
        Ok(Redrive {
            dlq_messages,
            receipt_ids,
            removed_from_dlq: removed,
            kept_in_dlq: kept,
        })
    }

    /// Removes from the DLQ the messages whose receipt the database now
    /// decides (it was just re-queued, or is gone); keeps the rest, a
    /// receipt dead-lettered again meanwhile included. Looks at
    /// about `expected` messages (the DLQ's depth before), each once.
    async fn sweep_dlq(
        &self,
        dlq: &crate::aws::sqs::SqsQueue,
        expected: i64,
    ) -> Result<(usize, usize), ServiceError> {
        // Seen messages stay hidden until the sweep ends, then kept ones
        // are made visible again.
        const HIDE: Duration = Duration::from_secs(120);
        let budget = usize::try_from(expected.max(0)).unwrap_or(0) + SQS_BATCH_MAX;
        let (mut removed, mut kept) = (0usize, Vec::new());
        let mut seen = 0usize;
        while seen < budget {
            let batch = dlq.receive(HIDE).await?;
            if batch.is_empty() {
                break;
            }
            seen += batch.len();
            let mut gone = Vec::new();
            for m in batch {
                let Some(handle) = m.receipt_handle().map(str::to_owned) else {
                    continue;
                };
                let decided = match OcrMessage::parse(m.body().unwrap_or("")) {
                    Ok(job) => self.repo.dead_letter_obsolete(&job).await?,
                    Err(_) => false,
                };
                if decided {
                    gone.push(handle);
                } else {
                    kept.push(handle);
                }
            }
            dlq.delete(&gone).await?;
            removed += gone.len();
        }
        if let Err(e) = dlq.release(&kept).await {
            // They come back on their own when HIDE runs out.
            tracing::warn!(error = %e, "redrive: could not make kept DLQ messages visible");
        }
        Ok((removed, kept.len()))
    }
}
