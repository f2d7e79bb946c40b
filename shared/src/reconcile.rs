//! The reconciler: nothing may stay `queued` or `processing` forever. It
//! finds receipts whose claim's lease has run out (the worker died) or that
//! have been `queued` too long (the message was lost), and sends their OCR
//! message again. A duplicate message is harmless: the claim lets one
//! worker through and the others see `completed`.

use std::time::Duration;

use crate::domain::{ReceiptId, UserId};
use crate::message::OcrMessage;
use crate::queue::SqsQueue;
use crate::repo::{ReceiptRepository, RepoError};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    pub requeued: Vec<i64>,
    pub not_sent: usize,
}

pub struct Reconciler {
    pub repo: ReceiptRepository,
    pub ocr_queue: SqsQueue,
    pub queued_after: Duration,
    pub batch: u32,
}

impl Reconciler {
    /// One pass; returns what it re-sent. Receipts whose message could not
    /// be sent stay `queued` and are found again by a later pass.
    pub async fn run_once(&self) -> Result<ReconcileReport, RepoError> {
        let mut report = ReconcileReport::default();
        loop {
            let stuck = self.repo.take_stuck(self.queued_after, self.batch).await?;
            if stuck.is_empty() {
                break;
            }
            let n = stuck.len();
            let messages: Vec<OcrMessage> = stuck
                .iter()
                .filter_map(|r| {
                    Some(OcrMessage::new(
                        ReceiptId::new(r.id)?,
                        UserId::parse(&r.user_id).ok()?,
                        r.bucket.clone(),
                        r.object_key.clone(),
                    ))
                })
                .collect();
            let sent = self.ocr_queue.send_ocr_jobs(&messages).await;
            report.not_sent += sent.failed.len();
            report.requeued.extend(sent.sent);
            if n < self.batch as usize || !report.requeued.is_empty() && report.not_sent > 0 {
                break;
            }
        }
        if !report.requeued.is_empty() || report.not_sent > 0 {
            tracing::warn!(
                requeued = report.requeued.len(),
                not_sent = report.not_sent,
                "reconciler re-sent {} stuck receipts",
                report.requeued.len()
            );
        }
        Ok(report)
    }
}
