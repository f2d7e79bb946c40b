//! The queues and bucket a test runs on.

use crate::{VISIBILITY_TIMEOUT_SECS, queue_arn, unique};

/// The queues and bucket a test runs on: made for the test (short
/// timeouts, see [`MAX_RECEIVE_COUNT`]), or those of a stack made from
/// template.yaml ([`stack::Stack`]).
#[derive(Clone, Debug)]
pub struct Resources {
    pub bucket: String,
    pub ocr_queue_url: String,
    pub ocr_dlq_url: String,
    pub ocr_high_queue_url: String,
    pub ocr_high_dlq_url: String,
    pub ingest_queue_url: String,
    pub ingest_dlq_url: String,
    pub max_receive_count: u32,
}

impl Resources {
    /// Fresh queues (with DLQs and redrive policies) and a bucket notifying
    /// the ingest queue of uploads, named for one test.
    pub(crate) async fn create(
        sqs: &aws_sdk_sqs::Client,
        s3: &aws_sdk_s3::Client,
        max_receive_count: u32,
    ) -> Self {
        let name = unique("t-").replace('_', "-");
        let (ocr_url, dlq_url) =
            queue_with_dlq(sqs, &format!("{name}-ocr"), max_receive_count).await;
        let (ocr_high_queue_url, ocr_high_dlq_url) =
            queue_with_dlq(sqs, &format!("{name}-ocr-high"), max_receive_count).await;
        let (ingest_url, ingest_dlq_url) =
            queue_with_dlq(sqs, &format!("{name}-ingest"), max_receive_count).await;
        let ingest_arn = queue_arn(sqs, &ingest_url).await;
        let bucket = name.to_lowercase();
        bucket_notifying(s3, &bucket, &ingest_arn).await;
        Self {
            bucket,
            ocr_queue_url: ocr_url,
            ocr_dlq_url: dlq_url,
            ocr_high_queue_url,
            ocr_high_dlq_url,
            ingest_queue_url: ingest_url,
            ingest_dlq_url,
            max_receive_count,
        }
    }
}

/// A bucket that notifies the ingest queue of uploads and takes the
/// page's presigned POSTs, as the template sets it up.
async fn bucket_notifying(s3: &aws_sdk_s3::Client, bucket: &str, ingest_arn: &str) {
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("create bucket");
    // Uploads notify the ingest queue, as the template sets it up for the local stack.
    use aws_sdk_s3::types::{
        Event, FilterRule, FilterRuleName, NotificationConfiguration,
        NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter,
    };
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .queue_arn(ingest_arn)
                        .events(Event::from("s3:ObjectCreated:*"))
                        .filter(
                            NotificationConfigurationFilter::builder()
                                .key(
                                    S3KeyFilter::builder()
                                        .filter_rules(
                                            FilterRule::builder()
                                                .name(FilterRuleName::Prefix)
                                                .value("uploads/")
                                                .build(),
                                        )
                                        .build(),
                                )
                                .build(),
                        )
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .expect("bucket notification");
    // The page's presigned POSTs from a browser, as the template allows them.
    use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
    s3.put_bucket_cors()
        .bucket(bucket)
        .cors_configuration(
            CorsConfiguration::builder()
                .cors_rules(
                    CorsRule::builder()
                        .allowed_methods("POST")
                        .allowed_origins("*")
                        .allowed_headers("*")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("bucket CORS");
}

/// A queue `name` with the test timeouts, redriving to `name-dlq` after
/// [`MAX_RECEIVE_COUNT`] receives; returns (queue URL, DLQ URL).
pub(crate) async fn queue_with_dlq(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    max_receive_count: u32,
) -> (String, String) {
    use aws_sdk_sqs::types::QueueAttributeName as Attr;
    let create = |name: String| async move {
        sqs.create_queue()
            .queue_name(&name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("LocalStack answers (create {name}): {e}"))
            .queue_url
            .unwrap()
    };
    let dlq_url = create(format!("{name}-dlq")).await;
    let dlq_arn = queue_arn(sqs, &dlq_url).await;
    let url = create(name.to_owned()).await;
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(
            Attr::RedrivePolicy,
            format!(
                r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{max_receive_count}"}}"#
            ),
        )
        .attributes(Attr::VisibilityTimeout, VISIBILITY_TIMEOUT_SECS.to_string())
        .send()
        .await
        .expect("queue attributes");
    (url, dlq_url)
}
