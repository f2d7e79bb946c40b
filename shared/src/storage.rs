//! The S3 adapter for receipt images.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;

use crate::aws::describe_sdk_error;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("S3 {operation} failed: {reason}")]
    S3 {
        operation: &'static str,
        reason: String,
    },
}

/// A presigned request the client performs itself.
#[derive(Debug, Clone)]
pub struct PresignedRequest {
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct S3Storage {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Storage {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    pub async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), StorageError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| StorageError::S3 {
                operation: "PutObject",
                reason: describe_sdk_error(&e),
            })?;
        Ok(())
    }

    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| StorageError::S3 {
                operation: "DeleteObject",
                reason: describe_sdk_error(&e),
            })?;
        Ok(())
    }

    /// A presigned PUT of `key` with the given content type.
    pub async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        ttl: Duration,
    ) -> Result<PresignedRequest, StorageError> {
        let conf = PresigningConfig::expires_in(ttl).map_err(|e| StorageError::S3 {
            operation: "presign PutObject",
            reason: e.to_string(),
        })?;
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .presigned(conf)
            .await
            .map_err(|e| StorageError::S3 {
                operation: "presign PutObject",
                reason: describe_sdk_error(&e),
            })?;
        Ok(PresignedRequest {
            url: req.uri().to_owned(),
            method: req.method().to_owned(),
            headers: req
                .headers()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        })
    }

    /// A presigned GET of `key` in `bucket` (what the agent fetches): the
    /// bucket and key come from the receipt's row.
    pub async fn presign_get(
        &self,
        bucket: &str,
        key: &str,
        ttl: Duration,
    ) -> Result<String, StorageError> {
        let conf = PresigningConfig::expires_in(ttl).map_err(|e| StorageError::S3 {
            operation: "presign GetObject",
            reason: e.to_string(),
        })?;
        let req = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .presigned(conf)
            .await
            .map_err(|e| StorageError::S3 {
                operation: "presign GetObject",
                reason: describe_sdk_error(&e),
            })?;
        Ok(req.uri().to_owned())
    }
}
