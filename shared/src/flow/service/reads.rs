//! Reading the caller's receipts (one, a page of them, their figures) and
//! settings. Each is the caller's own; another user's receipt is as absent
//! as one that never was.

use std::time::Duration;

use crate::aws::sqs::{PriorityDepths, QueueError};
use crate::db::events::ReceiptEvent;
use crate::db::settings::{self, UserSettings};
use crate::db::stats::{self, OcrStats, StatsScope};
use crate::db::{Receipt, ReceiptDetail};
use crate::domain::{OcrStatus, Page, ReceiptId, UserId};

use super::{ReceiptService, ServiceError};

impl ReceiptService {
    /// The caller's receipt, without what was read.
    pub async fn receipt(&self, user: &UserId, id: ReceiptId) -> Result<Receipt, ServiceError> {
        self.repo.get(user, id).await?.ok_or(ServiceError::NotFound)
    }

    /// The caller's receipt and what was read from it.
    pub async fn detail(
        &self,
        user: &UserId,
        id: ReceiptId,
    ) -> Result<ReceiptDetail, ServiceError> {
        self.repo
            .get_detail(user, id)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// One page of the caller's receipts, newest first (of one status if
    /// given), and how many there are in all.
    pub async fn list(
        &self,
        user: &UserId,
        status: Option<OcrStatus>,
        page: Page,
    ) -> Result<(Vec<ReceiptDetail>, i64), ServiceError> {
        Ok(self.repo.list(user, status, page).await?)
    }

    /// The OCR figures of the last `hours`, of the caller or of everyone.
    pub async fn stats(&self, scope: StatsScope<'_>, hours: u32) -> Result<OcrStats, ServiceError> {
        Ok(stats::ocr_stats(self.repo.pool(), scope, hours).await?)
    }
}

impl ReceiptService {
    /// The caller's settings (defaults when none are saved).
    pub async fn settings(&self, user: &UserId) -> Result<UserSettings, ServiceError> {
        Ok(settings::get(self.repo.pool(), user).await?)
    }

    /// Saves the caller's settings.
    pub async fn save_settings(&self, user: &UserId, s: &UserSettings) -> Result<(), ServiceError> {
        Ok(settings::put(self.repo.pool(), user, s).await?)
    }

    /// The caller's events after the event `after` (of one receipt, if
    /// given), oldest first, at most `limit`.
    pub async fn events_after(
        &self,
        user: &UserId,
        after: i64,
        receipt: Option<ReceiptId>,
        limit: u32,
    ) -> Result<Vec<ReceiptEvent>, ServiceError> {
        Ok(self.events.after(user, after, receipt, limit).await?)
    }

    /// The id of the caller's newest event (0: none yet): a new stream
    /// starts after it.
    pub async fn latest_event(&self, user: &UserId) -> Result<i64, ServiceError> {
        Ok(self.events.latest(user).await?)
    }

    /// A link to the receipt's image that works for `ttl`.
    pub async fn image_link(&self, r: &Receipt, ttl: Duration) -> Result<String, ServiceError> {
        Ok(self
            .storage
            .presign_get(&r.bucket, &r.object_key, ttl)
            .await?)
    }

    /// How many messages wait in the OCR queues and in their DLQs, each
    /// by priority (each may be unknown when SQS does not answer).
    pub async fn queue_depths(
        &self,
    ) -> (
        Result<PriorityDepths, QueueError>,
        Result<PriorityDepths, QueueError>,
    ) {
        tokio::join!(self.ocr_queues.depths(), self.ocr_dlqs.depths())
    }
}
