//! Uploads: through the API (multipart) or a presigned POST.

use chrono::{NaiveDate, Utc};

use crate::db::limits::Bucket;
use crate::db::{NewReceipt, Receipt, RepoError, UploadIntent};
use crate::domain::{ImageKind, InvalidInput, Priority, UserId, clean_file_name, upload_key};

use super::{ReceiptService, ServiceError, Upload, UploadUrl, Uploaded, sha256_hex};

impl ReceiptService {
    /// Stores the image in S3 and the receipt as `pending`. The row comes
    /// first, so that the S3 event finds it; if S3 refuses the object, the
    /// row is removed again and nothing remains.
    ///
    /// Before anything is stored: an `Idempotency-Key` seen before answers
    /// its receipt (the same bytes) or is refused (other bytes); bytes the
    /// user uploaded before answer that receipt unless `allow_duplicate`;
    /// then the uploads-per-minute limit is taken.
    pub async fn upload(
        &self,
        user: &UserId,
        upload: Upload<'_>,
    ) -> Result<Uploaded, ServiceError> {
        let size = upload.bytes.len() as u64;
        if size > self.max_upload_bytes {
            return Err(ServiceError::TooLarge {
                max_bytes: self.max_upload_bytes,
            });
        }
        if size == 0 {
            return Err(InvalidInput::new("file", "is empty").into());
        }
        let kind = ImageKind::sniff(&upload.bytes).ok_or(ServiceError::UnsupportedType)?;
        let sha = sha256_hex(&upload.bytes);
        let asked = (sha.as_str(), upload.purchase_date, upload.priority);
        if let Some(key) = upload.idempotency_key
            && let Some(r) = self.repo.by_idempotency_key(user, key).await?
        {
            return replayed(r, asked);
        }
        if !upload.allow_duplicate
            && let Some(r) = self.repo.by_content(user, &sha).await?
        {
            tracing::info!(receipt_id = %r.id, user_id = %user, "same bytes as receipt {}: not stored again", r.id);
            return Ok(Uploaded::Duplicate(r));
        }
        self.limits.take(user, Bucket::Uploads, 1).await?;
        let key = upload_key(&self.upload_prefix, user, kind);
        let file_name = clean_file_name(upload.file_name, kind);
        let inserted = self
            .repo
            .insert_pending(NewReceipt {
                user_id: user,
                bucket: self.storage.bucket(),
                object_key: &key,
                file_name: &file_name,
                content_type: kind.mime(),
                size_bytes: size as i64,
                purchase_date: upload.purchase_date,
                locale: upload.locale.map(crate::domain::Locale::as_str),
                priority: upload.priority,
                content_sha256: Some(&sha),
                idempotency_key: upload.idempotency_key,
            })
            .await?;
        let Some(receipt) = inserted else {
            // A twin request with the same key stored its receipt first.
            self.limits.give_back(user, Bucket::Uploads, 1).await?;
            let key = upload.idempotency_key.unwrap_or_default();
            let r = self
                .repo
                .by_idempotency_key(user, key)
                .await?
                .ok_or_else(|| RepoError::Corrupt(format!("idempotency key {key:?} vanished")))?;
            return replayed(r, (&sha, upload.purchase_date, upload.priority));
        };
        if let Err(e) = self.storage.put(&key, upload.bytes, kind.mime()).await {
            tracing::error!(receipt_id = %receipt.id, error = %e, "upload to S3 failed; removing the receipt");
            if let Err(del) = self.repo.delete_pending(receipt.id).await {
                tracing::error!(receipt_id = %receipt.id, error = %del, "could not remove the receipt of a failed upload");
            }
            // Nothing was stored: the upload does not count.
            self.limits.give_back(user, Bucket::Uploads, 1).await?;
            return Err(e.into());
        }
        tracing::info!(receipt_id = %receipt.id, user_id = %user, key, size, priority = %upload.priority, "receipt uploaded");
        Ok(Uploaded::Created(receipt))
    }

    /// A presigned POST for a direct upload of at most
    /// `max_direct_upload_bytes`; the S3 event registers it, at the
    /// priority asked for here. The same `Idempotency-Key` again answers the
    /// same object (and its receipt once it has arrived), so a repeated
    /// request never makes a second object.
    pub async fn upload_url(
        &self,
        user: &UserId,
        content_type: &str,
        priority: Priority,
        idempotency_key: Option<&str>,
        locale: Option<&crate::domain::Locale>,
    ) -> Result<UploadUrl, ServiceError> {
        let kind = ImageKind::from_mime(content_type).ok_or_else(|| {
            InvalidInput::new(
                "content_type",
                format!("must be {}", ImageKind::ALLOWED_TYPES),
            )
        })?;
        self.limits.take(user, Bucket::Uploads, 1).await?;
        let asked = UploadIntent {
            bucket: self.storage.bucket().to_owned(),
            object_key: upload_key(&self.upload_prefix, user, kind),
            user_id: user.clone(),
            idempotency_key: idempotency_key.map(str::to_owned),
            content_type: kind.mime().to_owned(),
            priority,
            locale: locale.map(|l| l.as_str().to_owned()),
        };
        let intent = match self.repo.upload_intent(&asked).await {
            Ok(i) => i,
            Err(e) => {
                self.limits.give_back(user, Bucket::Uploads, 1).await?;
                return Err(e.into());
            }
        };
        let mut receipt_id = None;
        if intent.object_key != asked.object_key {
            // A repeat: it costs nothing, and must ask for the same thing.
            self.limits.give_back(user, Bucket::Uploads, 1).await?;
            if intent.content_type != asked.content_type || intent.priority != priority {
                return Err(ServiceError::IdempotencyKeyReused(
                    "another content_type or priority",
                ));
            }
            receipt_id = self
                .repo
                .by_object(user, &intent.bucket, &intent.object_key)
                .await?
                .map(|r| r.id.get());
        }
        let post = self
            .storage
            .presign_post(
                &intent.object_key,
                &intent.content_type,
                self.max_direct_upload_bytes,
                self.presign_ttl,
            )
            .await?;
        Ok(UploadUrl {
            receipt_id,
            priority: intent.priority,
            upload_url: post.url,
            method: "POST".to_owned(),
            fields: post.fields,
            bucket: intent.bucket,
            key: intent.object_key,
            // What the policy signed for this path: the direct-upload cap.
            max_bytes: self.max_direct_upload_bytes,
            expires_at: Utc::now()
                + chrono::Duration::from_std(self.presign_ttl)
                    .unwrap_or(chrono::Duration::minutes(15)),
        })
    }
}

/// The answer to a repeated Idempotency-Key: its receipt, if the request
/// asks for the same thing (the same bytes, purchase date and priority).
fn replayed(
    r: Receipt,
    (sha, purchase_date, priority): (&str, Option<NaiveDate>, Priority),
) -> Result<Uploaded, ServiceError> {
    if r.content_sha256.as_deref() != Some(sha) {
        Err(ServiceError::IdempotencyKeyReused("another file"))
    } else if r.purchase_date != purchase_date || r.priority != priority {
        Err(ServiceError::IdempotencyKeyReused(
            "another purchase_date or priority",
        ))
    } else {
        Ok(Uploaded::Replayed(r))
    }
}
