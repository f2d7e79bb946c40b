//! Deleting: one receipt at once; a user's receipts before a day, or
//! everything of a user, as an erasure that starts within the request and
//! is finished by the reconciler in bounded batches.

use std::time::{Duration, Instant};

use chrono::NaiveDate;

use crate::db::erase::Erasure;
use crate::domain::{ReceiptId, UserId};
use crate::flow::erase::{EraseReport, Eraser};

use super::{ReceiptService, ServiceError};

/// How long a request spends on an erasure before it answers; the
/// reconciler does the rest.
pub const ERASE_IN_REQUEST: Duration = Duration::from_secs(2);

impl ReceiptService {
    fn eraser(&self) -> Eraser {
        Eraser::new(self.repo.clone(), self.storage.clone())
    }

    /// Deletes one of the user's receipts, whatever its status, then its
    /// object. A worker reading it writes nothing afterwards.
    pub async fn delete(&self, user: &UserId, id: ReceiptId) -> Result<(), ServiceError> {
        let object = self
            .repo
            .delete_receipt(user, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        tracing::info!(receipt_id = id.get(), user_id = %user, "receipt deleted");
        self.eraser()
            .remove_objects(&[object], &mut EraseReport::default())
            .await?;
        Ok(())
    }

    /// Erases `user`'s receipts uploaded before `before` (or, with `None`,
    /// everything of the user), as `requested_by` asked. Asking again while
    /// it runs answers the same erasure.
    pub async fn erase(
        &self,
        user: &UserId,
        before: Option<NaiveDate>,
        requested_by: &UserId,
    ) -> Result<Erasure, ServiceError> {
        let erasure = self
            .repo
            .request_erasure(user, before, requested_by.as_str())
            .await?;
        tracing::info!(
            erasure_id = erasure.id,
            user_id = %user,
            requested_by = %requested_by,
            before = ?before,
            "erasure asked for"
        );
        let deadline = Instant::now() + ERASE_IN_REQUEST;
        Ok(self
            .eraser()
            .run(&erasure, deadline, &mut EraseReport::default())
            .await?)
    }

    /// An erasure, for the user it erases or the one who asked for it;
    /// operators see every one.
    pub async fn erasure(
        &self,
        caller: &UserId,
        operator: bool,
        id: i64,
    ) -> Result<Erasure, ServiceError> {
        let erasure = self.repo.erasure(id).await?.ok_or(ServiceError::NotFound)?;
        let own = erasure.user_id == caller.as_str() || erasure.requested_by == caller.as_str();
        if own || operator {
            Ok(erasure)
        } else {
            Err(ServiceError::NotFound)
        }
    }
}
