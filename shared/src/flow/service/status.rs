//! Progress: one receipt's status, the caller's counts and the queues.

use crate::aws::sqs::{PriorityDepths, QueueError};
use crate::domain::{ReceiptId, UserId};

use super::{QueueStatus, ReceiptService, ReceiptStatus, ServiceError};

impl ReceiptService {
    pub async fn status(
        &self,
        user: &UserId,
        id: ReceiptId,
    ) -> Result<ReceiptStatus, ServiceError> {
        let r = self
            .repo
            .get(user, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok(ReceiptStatus {
            receipt_id: r.id,
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error,
            queued_at: r.queued_at,
            processed_at: r.processed_at,
            updated_at: r.updated_at,
        })
    }

    /// Counts by status from Postgres, and every queue's depth from SQS,
    /// asked concurrently. SQS being down does not hide the counts.
    pub async fn queue_status(&self, user: &UserId) -> Result<QueueStatus, ServiceError> {
        let (counts, queues, dlqs) = tokio::join!(
            self.repo.status_counts(user),
            self.ocr_queues.depths(),
            self.ocr_dlqs.depths()
        );
        let ok = |r: Result<PriorityDepths, QueueError>| {
            r.map_err(|e| tracing::warn!(error = %e, "queue depth unavailable"))
                .ok()
        };
        let (queues, dlqs) = (ok(queues), ok(dlqs));
        Ok(QueueStatus {
            counts: counts?,
            queue: queues.map(|d| d.total()),
            dlq: dlqs.map(|d| d.total()),
            queues,
            dlqs,
        })
    }
}
