//! Builds the AWS SDK configuration and clients once, for AWS or LocalStack.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;

use crate::config::Config;

/// The shared SDK configuration. With `AWS_ENDPOINT_URL` set (LocalStack),
/// every client talks to that endpoint; a region and dummy credentials are
/// supplied when the environment has none.
pub async fn sdk_config(cfg: &Config) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &cfg.aws_region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &cfg.aws_endpoint_url {
        loader = loader.endpoint_url(endpoint.as_str().trim_end_matches('/'));
        if cfg.aws_region.is_none() {
            loader = loader.region(Region::new("us-east-1"));
        }
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
            && std::env::var_os("AWS_PROFILE").is_none()
        {
            loader = loader.credentials_provider(Credentials::new(
                "test",
                "test",
                None,
                None,
                "localstack",
            ));
        }
    }
    loader.load().await
}

/// An S3 client; path-style addressing when talking to an emulator.
pub fn s3_client(sdk: &SdkConfig, path_style: bool) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(path_style)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

pub fn sqs_client(sdk: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(sdk)
}

/// The text of an SDK error with its service code, never a debug dump.
pub fn describe_sdk_error<E, R>(err: &aws_sdk_sqs::error::SdkError<E, R>) -> String
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error,
{
    use aws_sdk_sqs::error::SdkError;
    match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            match (e.code(), e.message()) {
                (Some(code), Some(msg)) => format!("{code}: {msg}"),
                (Some(code), None) => code.to_owned(),
                _ => e.to_string(),
            }
        }
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        SdkError::DispatchFailure(d) => {
            if d.is_io() {
                "connection failed".to_owned()
            } else if d.is_timeout() {
                "timed out".to_owned()
            } else {
                "dispatch failure".to_owned()
            }
        }
        other => other.to_string(),
    }
}
