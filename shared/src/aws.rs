//! Builds the AWS SDK configuration and clients once, for AWS or LocalStack.

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::config::Config;

/// The SDK's HTTPS client: rustls with ring, the TLS stack and crypto
/// provider of sqlx and reqwest too, so a binary carries one of each (the
/// SDK's default client would add aws-lc-rs), and their trust store too:
/// Mozilla's roots, compiled in. The SDK's own default reads the system's
/// certificate files (every file of /etc/ssl/certs) when a client is built,
/// which was most of each function's init. The TLS configuration is built
/// at the first request ([`OnFirstRequest`]), and connections open then.
pub fn https_client() -> SharedHttpClient {
    use aws_smithy_http_client::tls::{
        Provider, TlsContext, TrustStore, rustls_provider::CryptoMode,
    };
    let mut roots = TrustStore::empty();
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        roots.add_pem_certificate(pem_certificate(cert));
    }
    let tls = TlsContext::builder()
        .with_trust_store(roots)
        .build()
        .expect("a TLS context of compiled-in roots builds");
    SharedHttpClient::new(OnFirstRequest(
        aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .tls_context(tls)
            .build_https(),
    ))
}

/// An HTTP client whose connector (for HTTPS: the TLS configuration, its
/// trust store parsed) is built when the first request needs it, once per
/// connector settings, and kept.
///
/// The SDK's own client builds a connector and throws it away each time an
/// SDK client is created (its "validate base client config" hook, there to
/// load the system's certificates early): three times in a function's init
/// (S3, SQS, and the STS client of the default credentials chain), each
/// time decoding and parsing the whole trust store, for a configuration
/// that cannot fail here (compiled-in roots). With the credentials below,
/// that was half of the reconciler's init. This forwards everything else
/// to the wrapped client.
#[derive(Debug)]
pub struct OnFirstRequest(pub SharedHttpClient);

impl HttpClient for OnFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn validate_final_config(
        &self,
        components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.validate_final_config(components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// A DER certificate as PEM (what the SDK's trust store takes).
fn pem_certificate(der: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::with_capacity(b64.len() + b64.len() / 64 + 64);
    pem.push_str("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem.into_bytes()
}

/// The shared SDK configuration. With `AWS_ENDPOINT_URL` set (LocalStack),
/// every client talks to that endpoint; a region and dummy credentials are
/// supplied when the environment has none. Nothing here waits on the
/// network: credentials are resolved at the first request.
///
/// With keys in the environment (always so on Lambda, which puts the
/// role's session there), credentials come from the environment, which
/// is what the SDK's default chain would choose first anyway; the chain's
/// other providers (profile files, web identity with its STS client, the
/// container and instance metadata endpoints) are not built.
pub async fn sdk_config(cfg: &Config) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https_client());
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some()
        && std::env::var_os("AWS_SECRET_ACCESS_KEY").is_some()
    {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// An HTTP client that counts the connectors it builds (plain HTTP:
    /// LocalStack).
    fn counting_client(built: &Arc<AtomicUsize>) -> SharedHttpClient {
        let built = built.clone();
        aws_smithy_http_client::Builder::new().build_with_connector_fn(move |_, _| {
            built.fetch_add(1, Ordering::SeqCst);
            aws_smithy_http_client::Connector::builder().build_http()
        })
    }

    async fn local_sdk(http: SharedHttpClient) -> SdkConfig {
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .expect("AWS_ENDPOINT_URL: the local stack (./infra/up.sh, .local/env)");
        aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .load()
            .await
    }

    #[tokio::test]
    async fn the_connector_is_built_at_the_first_request_and_kept() {
        // The SDK's client as it comes: a connector built (and dropped) for
        // every SDK client created, before any request.
        let eager = Arc::new(AtomicUsize::new(0));
        let sdk = local_sdk(counting_client(&eager)).await;
        let (_s3, _sqs) = (s3_client(&sdk, true), sqs_client(&sdk));
        assert_eq!(eager.load(Ordering::SeqCst), 2);

        // Wrapped: none until a request needs one, then one for all.
        let built = Arc::new(AtomicUsize::new(0));
        let sdk = local_sdk(SharedHttpClient::new(OnFirstRequest(counting_client(
            &built,
        ))))
        .await;
        let (s3, sqs) = (s3_client(&sdk, true), sqs_client(&sdk));
        assert_eq!(
            built.load(Ordering::SeqCst),
            0,
            "nothing built with the clients"
        );
        sqs.list_queues()
            .send()
            .await
            .expect("SQS answers through it");
        assert_eq!(built.load(Ordering::SeqCst), 1);
        sqs.list_queues().send().await.expect("SQS answers again");
        s3.list_buckets()
            .send()
            .await
            .expect("S3 answers through it");
        assert_eq!(built.load(Ordering::SeqCst), 1, "one connector, kept");
    }

    #[test]
    fn every_compiled_in_root_reads_back_from_its_pem() {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS;
        assert!(roots.len() > 100, "{} roots", roots.len());
        for der in roots {
            let back = CertificateDer::from_pem_slice(&pem_certificate(der)).expect("PEM parses");
            assert_eq!(back.as_ref(), der.as_ref());
        }
    }
}
