//! Deleting: a receipt's S3 object after its row is gone, erasures in
//! bounded batches within a time budget, retention, and the S3 deletions
//! that failed before, tried again.
//!
//! The rows go first, in one statement that also lists the object in
//! `storage_deletions`; the object follows after the commit. A crash or an
//! S3 failure in between leaves the listing, which the reconciler works
//! off: nothing is forgotten, and no object is deleted whose row remains.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::aws::s3::S3Storage;
use crate::db::erase::{Erasure, StorageDeletions, StoredObject};
use crate::db::{ReceiptRepository, RepoError};

/// Receipts deleted per batch (one transaction each).
pub const ERASE_BATCH: u32 = 500;

#[derive(Clone, Debug)]
pub struct Eraser {
    pub repo: ReceiptRepository,
    /// The S3 client (objects are deleted in the bucket their row names).
    pub storage: S3Storage,
    pub batch: u32,
}

/// What a pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EraseReport {
    pub receipts_deleted: u64,
    pub erasures_finished: u64,
    pub objects_deleted: u64,
    /// Objects S3 did not delete this time; they are tried again later.
    pub objects_left: u64,
}

impl Eraser {
    pub fn new(repo: ReceiptRepository, storage: S3Storage) -> Self {
        Self {
            repo,
            storage,
            batch: ERASE_BATCH,
        }
    }

    /// Deletes the objects of deleted receipts from S3 and marks them
    /// deleted in `storage_deletions`; those S3 refuses (or all of a
    /// bucket, when S3 cannot be reached) wait there for a later try.
    pub async fn remove_objects(
        &self,
        objects: &[StoredObject],
        report: &mut EraseReport,
    ) -> Result<(), RepoError> {
        let listed = StorageDeletions(self.repo.pool());
        let mut by_bucket: BTreeMap<&str, Vec<StoredObject>> = BTreeMap::new();
        for o in objects {
            by_bucket.entry(&o.bucket).or_default().push(o.clone());
        }
        for (bucket, objs) in by_bucket {
            let keys: Vec<&str> = objs.iter().map(|o| o.key.as_str()).collect();
            // Why each object is not gone: S3's word per key, or the call's.
            let refused: BTreeMap<String, String> =
                match self.storage.delete_many(bucket, &keys).await {
                    Ok(refused) => refused.into_iter().collect(),
                    Err(e) => keys
                        .iter()
                        .map(|k| ((*k).to_owned(), e.to_string()))
                        .collect(),
                };
            let (left, gone): (Vec<StoredObject>, Vec<StoredObject>) =
                objs.into_iter().partition(|o| refused.contains_key(&o.key));
            listed.done(&gone).await?;
            report.objects_deleted += gone.len() as u64;
            report.objects_left += left.len() as u64;
            // One statement per reason (all of them, when the call failed).
            let mut by_reason: BTreeMap<&str, Vec<StoredObject>> = BTreeMap::new();
            for object in left {
                by_reason
                    .entry(&refused[&object.key])
                    .or_default()
                    .push(object);
            }
            for (why, objs) in by_reason {
                tracing::warn!(
                    bucket,
                    objects = objs.len(),
                    error = why,
                    "S3 objects not deleted yet; tried again later"
                );
                listed.failed(&objs, why).await?;
            }
        }
        Ok(())
    }

    /// Runs an erasure until it is done or `deadline` passes; returns it as
    /// it then stands. Safe to run again, and concurrently: each batch
    /// takes receipts no other holds.
    pub async fn run(
        &self,
        erasure: &Erasure,
        deadline: Instant,
        report: &mut EraseReport,
    ) -> Result<Erasure, RepoError> {
        loop {
            let batch = self.repo.erase_batch(erasure, self.batch).await?;
            report.receipts_deleted += batch.objects.len() as u64;
            self.remove_objects(&batch.objects, report).await?;
            if batch.finished {
                report.erasures_finished += 1;
                tracing::info!(
                    erasure_id = erasure.id,
                    user_id = erasure.user_id,
                    requested_by = erasure.requested_by,
                    "erasure done"
                );
                break;
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        let now = self.repo.erasure(erasure.id).await?;
        now.ok_or_else(|| RepoError::Corrupt(format!("erasure {} vanished", erasure.id)))
    }

    /// Every running erasure, oldest first, until `deadline`.
    pub async fn run_all(
        &self,
        deadline: Instant,
        report: &mut EraseReport,
    ) -> Result<(), RepoError> {
        for erasure in self.repo.running_erasures(100).await? {
            if Instant::now() >= deadline {
                break;
            }
            self.run(&erasure, deadline, report).await?;
        }
        Ok(())
    }

    /// Deletes receipts uploaded more than `days` ago, in batches, until
    /// none is left or `deadline` passes.
    pub async fn expire(
        &self,
        days: u32,
        deadline: Instant,
        report: &mut EraseReport,
    ) -> Result<(), RepoError> {
        loop {
            let objects = self.repo.delete_expired(days, self.batch).await?;
            report.receipts_deleted += objects.len() as u64;
            self.remove_objects(&objects, report).await?;
            if objects.len() < self.batch as usize || Instant::now() >= deadline {
                return Ok(());
            }
        }
    }

    /// The objects whose deletion failed (or whose deleter crashed), tried
    /// again once due, until `deadline`.
    pub async fn retry_objects(
        &self,
        deadline: Instant,
        report: &mut EraseReport,
    ) -> Result<(), RepoError> {
        loop {
            let due = StorageDeletions(self.repo.pool()).due(self.batch).await?;
            let before = report.objects_deleted;
            self.remove_objects(&due, report).await?;
            let progressed = report.objects_deleted > before;
            if due.len() < self.batch as usize || !progressed || Instant::now() >= deadline {
                return Ok(());
            }
        }
    }
}

/// How long a pass of the reconciler may spend deleting.
pub const PASS_BUDGET: Duration = Duration::from_secs(60);
