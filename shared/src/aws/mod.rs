//! Builds the AWS SDK configuration and clients once, for AWS or LocalStack.

pub mod s3;
pub mod sqs;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::retries::ErrorKind;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

use crate::config::Aws;

/// The SDK's HTTP client: reqwest, the client the agent and the webhooks
/// use too, so a binary carries one HTTP stack (hyper, HTTP/1.1) and one
/// TLS stack (rustls with ring, Mozilla's roots compiled in), the ones sqlx
/// uses as well. The SDK's own client would add HTTP/2 (h2) and, with its
/// default features, aws-lc-rs; it also builds its TLS configuration, the
/// trust store parsed, every time an SDK client is created.
///
/// Nothing is built until a request needs it: the first request of a
/// connector setting (the SDK's connect and read timeouts) builds one
/// reqwest client, and every later request with those settings, of every
/// SDK client sharing this one, reuses it and its connection pool.
/// Redirects go back to the SDK, as its own client does (an S3 redirect
/// says the bucket is in another region; following it would hide that).
#[derive(Clone, Debug, Default)]
pub struct SdkHttpClient {
    built: Arc<Built>,
}

#[derive(Debug, Default)]
struct Built {
    clients: Mutex<Vec<(ConnectorKey, reqwest::Client)>>,
    count: AtomicUsize,
}

/// The connector settings a client is built for.
type ConnectorKey = (Option<Duration>, Option<Duration>);

impl SdkHttpClient {
    /// How many reqwest clients it has built so far.
    pub fn clients_built(&self) -> usize {
        self.built.count.load(Ordering::SeqCst)
    }

    fn client(&self, key: ConnectorKey) -> Result<reqwest::Client, reqwest::Error> {
        let mut clients = self.built.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, client)) = clients.iter().find(|(k, _)| *k == key) {
            return Ok(client.clone());
        }
        let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        if let Some(t) = key.0 {
            builder = builder.connect_timeout(t);
        }
        if let Some(t) = key.1 {
            builder = builder.read_timeout(t);
        }
        let client = builder.build()?;
        self.built.count.fetch_add(1, Ordering::SeqCst);
        clients.push((key, client.clone()));
        Ok(client)
    }
}

impl HttpClient for SdkHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let client = self
            .client((settings.connect_timeout(), settings.read_timeout()))
            .map_err(Arc::new);
        SharedHttpConnector::new(Connector(client))
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("reqwest", None))
    }
}

/// One SDK request through reqwest; a client that could not be built fails
/// every request with why.
#[derive(Debug)]
struct Connector(Result<reqwest::Client, Arc<reqwest::Error>>);

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = match &self.0 {
            Ok(client) => client.clone(),
            Err(e) => {
                let e: BoxError = format!("the HTTP client could not be built: {e}").into();
                return HttpConnectorFuture::ready(Err(ConnectorError::other(e, None)));
            }
        };
        let request = match request
            .try_into_http1x()
            .map_err(BoxError::from)
            .and_then(|r| Ok(reqwest::Request::try_from(r.map(reqwest::Body::wrap))?))
        {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e))),
        };
        HttpConnectorFuture::new(async move {
            let response = client.execute(request).await.map_err(connector_error)?;
            let response: http::Response<reqwest::Body> = response.into();
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// What the SDK's retry policy needs to know of a failed request: a
/// timeout and an I/O failure (refused, reset, closed) are transient and
/// retried, as with the SDK's own client; so is a response cut short.
fn connector_error(err: reqwest::Error) -> ConnectorError {
    if err.is_timeout() {
        return ConnectorError::timeout(err.into());
    }
    if err.is_builder() {
        return ConnectorError::user(err.into());
    }
    if let Some(h) = find_source::<hyper::Error>(&err) {
        if h.is_timeout() {
            return ConnectorError::timeout(err.into());
        }
        if h.is_incomplete_message() {
            return ConnectorError::other(err.into(), Some(ErrorKind::TransientError));
        }
        if h.is_closed() || h.is_canceled() {
            return ConnectorError::io(err.into());
        }
    }
    if err.is_connect() || find_source::<std::io::Error>(&err).is_some() {
        return ConnectorError::io(err.into());
    }
    ConnectorError::other(err.into(), None)
}

fn find_source<'a, E: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        next = e.source();
    }
    None
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
pub async fn sdk_config(cfg: &Aws) -> SdkConfig {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).http_client(SdkHttpClient::default());
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some()
        && std::env::var_os("AWS_SECRET_ACCESS_KEY").is_some()
    {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    if let Some(region) = &cfg.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &cfg.endpoint_url {
        loader = loader.endpoint_url(endpoint.as_str().trim_end_matches('/'));
        if cfg.region.is_none() {
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
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    use aws_sdk_sqs::error::SdkError;
    use aws_sdk_sqs::operation::list_queues::ListQueuesError;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// The SDK on `http`, for `endpoint`, without retries (a test sees the
    /// first failure) and with `read_timeout`.
    async fn sdk_at(http: &SdkHttpClient, endpoint: &str, read_timeout: Duration) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .http_client(http.clone())
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .retry_config(RetryConfig::disabled())
            .timeout_config(TimeoutConfig::builder().read_timeout(read_timeout).build())
            .load()
            .await
    }

    /// How listing the queues at `endpoint` fails, with a short read
    /// timeout.
    async fn list_queues_failure(endpoint: &str) -> SdkError<ListQueuesError, HttpResponse> {
        let sdk = sdk_at(
            &SdkHttpClient::default(),
            endpoint,
            Duration::from_millis(500),
        )
        .await;
        sqs_client(&sdk)
            .list_queues()
            .send()
            .await
            .expect_err("the request fails")
    }

    fn local_stack() -> String {
        std::env::var("AWS_ENDPOINT_URL")
            .expect("AWS_ENDPOINT_URL: the local stack (./infra/up.sh, .local/env)")
    }

    /// A server on loopback that answers every request it reads with
    /// `answer` (given its own URL), or never when `answer` is `None`; it
    /// keeps each request's first line.
    async fn server(answer: Option<fn(&str) -> String>) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (base, requests) = (url.clone(), seen.clone());
        tokio::spawn(async move {
            loop {
                let (mut conn, _) = listener.accept().await.unwrap();
                let (base, requests) = (base.clone(), requests.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    loop {
                        let n = conn.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        let text = String::from_utf8_lossy(&buf[..n]);
                        if let Some(line) = text.lines().next().filter(|l| l.contains("HTTP/1")) {
                            requests.lock().unwrap().push(line.to_owned());
                            if let Some(answer) = answer {
                                let _ = conn.write_all(answer(&base).as_bytes()).await;
                            }
                        }
                    }
                });
            }
        });
        (url, seen)
    }

    #[tokio::test]
    async fn the_http_client_is_built_at_the_first_request_and_kept() {
        let http = SdkHttpClient::default();
        let sdk = sdk_at(&http, &local_stack(), Duration::from_secs(30)).await;
        let (s3, sqs) = (s3_client(&sdk, true), sqs_client(&sdk));
        assert_eq!(http.clients_built(), 0, "nothing built with the clients");
        sqs.list_queues()
            .send()
            .await
            .expect("SQS answers through it");
        assert_eq!(http.clients_built(), 1);
        sqs.list_queues().send().await.expect("SQS answers again");
        s3.list_buckets()
            .send()
            .await
            .expect("S3 answers through it");
        assert_eq!(http.clients_built(), 1, "one client, kept, for both");
    }

    #[tokio::test]
    async fn a_redirect_is_the_sdks_answer_not_followed() {
        let (url, seen) = server(Some(|base| {
            format!(
                "HTTP/1.1 301 Moved Permanently\r\nlocation: {base}/elsewhere\r\ncontent-length: 0\r\n\r\n"
            )
        }))
        .await;
        let err = list_queues_failure(&url).await;
        assert_eq!(
            err.raw_response().map(|r| r.status().as_u16()),
            Some(301),
            "{err:?}"
        );
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1, "one request, not followed: {seen:?}");
        assert!(seen[0].starts_with("POST / "), "{seen:?}");
    }

    #[tokio::test]
    async fn refused_and_stalled_requests_are_transient_failures() {
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let refused = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let err = list_queues_failure(&refused).await;
        assert!(
            matches!(&err, SdkError::DispatchFailure(d) if d.is_io()),
            "a refused connection is an I/O failure (retried): {err:?}"
        );
        assert_eq!(describe_sdk_error(&err), "connection failed");

        let (stalls, seen) = server(None).await;
        let err = list_queues_failure(&stalls).await;
        assert!(
            matches!(&err, SdkError::DispatchFailure(d) if d.is_timeout()),
            "no answer within the read timeout is a timeout (retried): {err:?}"
        );
        assert_eq!(describe_sdk_error(&err), "timed out");
        assert_eq!(seen.lock().unwrap().len(), 1);
    }
}
