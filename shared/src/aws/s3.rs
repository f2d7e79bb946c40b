//! The S3 adapter for receipt images.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine;
use chrono::{DateTime, Utc};

use crate::aws::describe_sdk_error;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("S3 {operation} failed: {reason}")]
    S3 {
        operation: &'static str,
        reason: String,
    },
}

/// A presigned POST: a `multipart/form-data` POST to `url` with `fields`
/// first and the file (`file`) last.
#[derive(Debug, Clone)]
pub struct PresignedPost {
    pub url: String,
    pub fields: BTreeMap<String, String>,
}

/// The tag a presigned upload is stored with until ingest has registered
/// its receipt: the bucket's lifecycle rule expires objects still carrying
/// it (an upload no receipt was made of) after some days.
pub const UNREGISTERED_TAG: (&str, &str) = ("receipt", "unregistered");

fn unregistered_tagging() -> String {
    let (k, v) = UNREGISTERED_TAG;
    format!("<Tagging><TagSet><Tag><Key>{k}</Key><Value>{v}</Value></Tag></TagSet></Tagging>")
}

/// The policy of a presigned POST (SigV4), as S3 documents it in
/// "Creating a POST policy".
struct PostPolicy<'a> {
    bucket: &'a str,
    key: &'a str,
    content_type: &'a str,
    max_bytes: u64,
    access_key_id: &'a str,
    session_token: Option<&'a str>,
    region: &'a str,
    now: SystemTime,
    ttl: Duration,
}

impl PostPolicy<'_> {
    /// The form fields, `policy` (base64 of the policy document) included;
    /// the signature is added by the caller.
    fn fields(&self) -> BTreeMap<String, String> {
        let now: DateTime<Utc> = self.now.into();
        let expires = now + chrono::Duration::from_std(self.ttl).unwrap_or_default();
        let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
        let credential = format!(
            "{}/{}/{}/s3/aws4_request",
            self.access_key_id,
            now.format("%Y%m%d"),
            self.region
        );
        let mut fields = BTreeMap::from([
            ("key".to_owned(), self.key.to_owned()),
            ("Content-Type".to_owned(), self.content_type.to_owned()),
            ("x-amz-algorithm".to_owned(), "AWS4-HMAC-SHA256".to_owned()),
            ("x-amz-credential".to_owned(), credential.clone()),
            ("x-amz-date".to_owned(), amz_date.clone()),
            ("tagging".to_owned(), unregistered_tagging()),
        ]);
        let mut conditions = vec![
            serde_json::json!({"bucket": self.bucket}),
            serde_json::json!(["eq", "$key", self.key]),
            serde_json::json!(["eq", "$Content-Type", self.content_type]),
            serde_json::json!(["content-length-range", 1, self.max_bytes]),
            serde_json::json!({"x-amz-algorithm": "AWS4-HMAC-SHA256"}),
            serde_json::json!({"x-amz-credential": credential}),
            serde_json::json!({"x-amz-date": amz_date}),
            serde_json::json!({"tagging": unregistered_tagging()}),
        ];
        if let Some(token) = self.session_token {
            fields.insert("x-amz-security-token".into(), token.to_owned());
            conditions.push(serde_json::json!({"x-amz-security-token": token}));
        }
        let policy = serde_json::json!({
            "expiration": expires.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "conditions": conditions,
        });
        fields.insert(
            "policy".into(),
            base64::engine::general_purpose::STANDARD.encode(policy.to_string()),
        );
        fields
    }
}

#[derive(Debug, Clone)]
pub struct S3Storage {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// What presigned POSTs are signed with (the SDK's own presigning finds
    /// its credentials itself; a POST policy is signed here).
    credentials: Option<SharedCredentialsProvider>,
}

impl S3Storage {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            credentials: None,
        }
    }

    /// The credentials to sign presigned POSTs with (the SDK config's).
    pub fn with_credentials(mut self, credentials: Option<SharedCredentialsProvider>) -> Self {
        self.credentials = credentials;
        self
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

    /// Removes an object's tags (the unregistered mark of a presigned
    /// upload, once its receipt exists). `Ok(false)`: no such object.
    pub async fn clear_tags(&self, bucket: &str, key: &str) -> Result<bool, StorageError> {
        match self
            .client
            .delete_object_tagging()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(false),
            Err(e) => Err(StorageError::S3 {
                operation: "DeleteObjectTagging",
                reason: describe_sdk_error(&e),
            }),
        }
    }

    /// Deletes objects of `bucket`, up to 1,000 per call (DeleteObjects).
    /// Returns the keys S3 did not delete, each with its reason; a key
    /// that does not exist counts as deleted.
    pub async fn delete_many(
        &self,
        bucket: &str,
        keys: &[&str],
    ) -> Result<Vec<(String, String)>, StorageError> {
        use aws_sdk_s3::types::{Delete, ObjectIdentifier};
        let mut refused = Vec::new();
        for chunk in keys.chunks(1000) {
            let objects = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(*k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StorageError::S3 {
                    operation: "DeleteObjects",
                    reason: e.to_string(),
                })?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| StorageError::S3 {
                    operation: "DeleteObjects",
                    reason: e.to_string(),
                })?;
            let out = self
                .client
                .delete_objects()
                .bucket(bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| StorageError::S3 {
                    operation: "DeleteObjects",
                    reason: describe_sdk_error(&e),
                })?;
            refused.extend(out.errors().iter().map(|e| {
                (
                    e.key().unwrap_or_default().to_owned(),
                    format!(
                        "{}: {}",
                        e.code().unwrap_or("error"),
                        e.message().unwrap_or_default()
                    ),
                )
            }));
        }
        Ok(refused)
    }

    /// A presigned POST (S3's browser upload form) of `key`: its policy,
    /// signed with SigV4, holds the key, the content type and a
    /// `content-length-range` of 1..=`max_bytes`, so S3 itself refuses a
    /// larger object (a presigned PUT cannot bound the size).
    pub async fn presign_post(
        &self,
        key: &str,
        content_type: &str,
        max_bytes: u64,
        ttl: Duration,
    ) -> Result<PresignedPost, StorageError> {
        let fail = |reason: String| StorageError::S3 {
            operation: "presign POST",
            reason,
        };
        let conf = self.client.config();
        let creds = self
            .credentials
            .as_ref()
            .ok_or_else(|| fail("no credentials".into()))?
            .provide_credentials()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let region = conf
            .region()
            .map(|r| r.as_ref().to_owned())
            .ok_or_else(|| fail("no region".into()))?;
        let now = SystemTime::now();
        let policy = PostPolicy {
            bucket: &self.bucket,
            key,
            content_type,
            max_bytes,
            access_key_id: creds.access_key_id(),
            session_token: creds.session_token(),
            region: &region,
            now,
            ttl,
        };
        let mut fields = policy.fields();
        let signing_key = aws_sigv4::sign::v4::generate_signing_key(
            creds.secret_access_key(),
            now,
            &region,
            "s3",
        );
        let signature =
            aws_sigv4::sign::v4::calculate_signature(signing_key, fields["policy"].as_bytes());
        fields.insert("x-amz-signature".into(), signature);
        Ok(PresignedPost {
            url: self.bucket_url().await?,
            fields,
        })
    }

    /// The bucket's URL as this client addresses it (path style on a local
    /// endpoint, virtual host on AWS): a presigned GET without its key.
    async fn bucket_url(&self) -> Result<String, StorageError> {
        const PROBE: &str = "k";
        let probe = self
            .presign_get(&self.bucket, PROBE, Duration::from_secs(60))
            .await?;
        let mut url = url::Url::parse(&probe).map_err(|e| StorageError::S3 {
            operation: "presign POST",
            reason: e.to_string(),
        })?;
        url.set_query(None);
        let path = url.path().strip_suffix(PROBE).unwrap_or("/").to_owned();
        url.set_path(&path);
        Ok(url.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_post_policy_bounds_size_key_and_type_and_signs_what_it_sends() {
        let policy = PostPolicy {
            bucket: "receipts",
            key: "uploads/alice/x.png",
            content_type: "image/png",
            max_bytes: 4_000_000,
            access_key_id: "AKIDEXAMPLE",
            session_token: Some("tok"),
            region: "eu-west-1",
            now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000),
            ttl: Duration::from_secs(900),
        };
        let fields = policy.fields();
        let doc: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::STANDARD
                .decode(&fields["policy"])
                .unwrap(),
        )
        .unwrap();
        let conditions = doc["conditions"].as_array().unwrap();
        assert!(conditions.contains(&serde_json::json!(["content-length-range", 1, 4_000_000])));
        assert!(conditions.contains(&serde_json::json!(["eq", "$key", "uploads/alice/x.png"])));
        assert!(conditions.contains(&serde_json::json!(["eq", "$Content-Type", "image/png"])));
        assert!(conditions.contains(&serde_json::json!({"bucket": "receipts"})));
        assert!(conditions.contains(&serde_json::json!({"x-amz-security-token": "tok"})));
        // 2026-11-18T11:06:40Z, plus 15 minutes.
        assert_eq!(doc["expiration"], "2026-11-18T11:21:40Z");
        assert_eq!(fields["x-amz-date"], "20261118T110640Z");
        assert_eq!(
            fields["x-amz-credential"],
            "AKIDEXAMPLE/20261118/eu-west-1/s3/aws4_request"
        );
        assert_eq!(fields["key"], "uploads/alice/x.png");
        assert_eq!(fields["Content-Type"], "image/png");
    }
}
