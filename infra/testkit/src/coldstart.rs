//! The cold-start benchmark's measuring (`coldstart-bench`, run by
//! `infra/coldstart-bench.sh`): a function's binary is started the way
//! Lambda starts it, under the Runtime API stand-in ([`FakeRuntime`]),
//! against the local Postgres and LocalStack, and timed:
//!
//! - **init**: from spawning the process to its first
//!   `GET /runtime/invocation/next` (Lambda's init phase);
//! - **first invocation**: from that request (its event is waiting, as on
//!   a cold start caused by a request) to the function's whole answer;
//! - **warm invocation**: from queueing an event for the running process
//!   to its whole answer.
//!
//! Each invocation does the function's real work on its own fresh input (an
//! API read, an OCR job against a stub agent, an S3 upload to register, a
//! signed webhook delivery), and its answer is checked after the clock
//! stops: a figure of a function that failed is never reported.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::agent::{FakeAgent, Reply as AgentReply, sample_extraction};
use crate::runtime::{FakeRuntime, Reply};
use crate::{Options, TestApp};

/// The functions the benchmark starts; `Bare` is the yardstick, and
/// `BareOneThread` the same binary on a one-thread runtime (as the functions
/// but `events` run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    Bare,
    BareOneThread,
    Api,
    Worker,
    Ingest,
    Reconciler,
    Events,
    Webhooks,
}

impl Function {
    pub const ALL: [Function; 8] = [
        Function::Bare,
        Function::BareOneThread,
        Function::Api,
        Function::Worker,
        Function::Ingest,
        Function::Reconciler,
        Function::Events,
        Function::Webhooks,
    ];

    /// Its name in the report and in `--only`.
    pub fn name(self) -> &'static str {
        match self {
            Function::Bare => "bare-lambda",
            Function::BareOneThread => "bare-one-thread",
            Function::Api => "api",
            Function::Worker => "worker",
            Function::Ingest => "ingest",
            Function::Reconciler => "reconciler",
            Function::Events => "events",
            Function::Webhooks => "webhooks",
        }
    }

    /// The package whose binary it is (`target/lambda/<package>/bootstrap`).
    pub fn package(self) -> &'static str {
        match self {
            Function::BareOneThread => Function::Bare.name(),
            f => f.name(),
        }
    }

    /// What one invocation does, for the report.
    pub fn work(self) -> &'static str {
        match self {
            Function::Bare => "echo the event",
            Function::BareOneThread => "echo the event, on one thread",
            Function::Api => "GET /receipts/{id}",
            Function::Worker => "one OCR job (stub agent)",
            Function::Ingest => "one S3 upload event",
            Function::Reconciler => "one scheduled run",
            Function::Events => "GET /receipts/events, to the first bytes",
            Function::Webhooks => "one signed delivery",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The stream function's latency ends at its first bytes: the stream
    /// itself stays open until `EVENTS_STREAM_MAX_SECS`.
    fn streams(self) -> bool {
        self == Function::Events
    }
}

/// One start of a function.
#[derive(Clone, Debug)]
pub struct Start {
    pub init: Duration,
    pub first: Duration,
    pub warm: Vec<Duration>,
    /// The process's peak resident memory (VmHWM), KiB.
    pub peak_rss_kib: Option<u64>,
}

/// What the function answered to one invocation.
#[derive(Debug, Default)]
struct Answer {
    body: Vec<u8>,
}

/// The data, queues, stub agent and webhook receiver the functions work
/// on, made once per run.
pub struct Bench {
    pub app: TestApp,
    agent: FakeAgent,
    database_url: String,
    receipt: i64,
    endpoint: i64,
    received: Arc<AtomicUsize>,
    receiver: String,
    ocr_queue_arn: String,
    events_dir: PathBuf,
}

const USER: &str = "alice";
/// Longest wait for a start or an answer.
const PATIENCE: Duration = Duration::from_secs(60);
/// The pause between making a start's input and starting the function.
const SETTLE: Duration = Duration::from_millis(200);

impl Bench {
    pub async fn setup() -> Self {
        let app = TestApp::spawn_with(Options {
            webhooks: true,
            ..Options::default()
        })
        .await;
        let agent = FakeAgent::start_stub(AgentReply::Extract(Box::new(sample_extraction()))).await;
        let receipt = app.upload_png(USER).await;

        // A webhook receiver answering 204 to every delivery.
        let received = Arc::new(AtomicUsize::new(0));
        let count = received.clone();
        let hook = Router::new().route(
            "/hook",
            post(move |_: Bytes| {
                let count = count.clone();
                async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, hook).await });
        let r = app
            .post_json(
                "/webhooks",
                Some(&app.token(USER)),
                &json!({"url": receiver, "events": ["receipt.completed"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        let endpoint = r.json["id"].as_i64().unwrap();

        let ocr_queue_arn = crate::queue_arn(&app.sqs, &app.ocr_queue_url).await;
        let database_url = app.database_url().await;
        Self {
            app,
            agent,
            database_url,
            receipt,
            endpoint,
            received,
            receiver,
            ocr_queue_arn,
            events_dir: crate::stack::repo_root().join("fixtures/lambda-events"),
        }
    }

    /// The environment Lambda and the template give the function.
    fn env(&self, f: Function, runtime: &FakeRuntime) -> Vec<(&'static str, String)> {
        let mut env = runtime.lambda_env(f.package());
        match f {
            Function::Bare => return env,
            Function::BareOneThread => {
                env.push(("BARE_RUNTIME", "current_thread".to_owned()));
                return env;
            }
            _ => {}
        }
        let app = &self.app;
        env.extend([
            (
                "AWS_ENDPOINT_URL",
                std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL is set"),
            ),
            ("DATABASE_URL", self.database_url.clone()),
            ("OCR_QUEUE_URL", app.ocr_queue_url.clone()),
            ("OCR_DLQ_URL", app.ocr_dlq_url.clone()),
            ("OCR_HIGH_QUEUE_URL", app.ocr_high_queue_url.clone()),
            ("OCR_HIGH_DLQ_URL", app.ocr_high_dlq_url.clone()),
            ("INGEST_QUEUE_URL", app.ingest_queue_url.clone()),
            ("RECEIPTS_BUCKET", app.bucket.clone()),
            ("AUTH_MODE", "apigateway".to_owned()),
            ("EVENTS_STREAM_MAX_SECS", "1".to_owned()),
            ("EVENTS_KEEPALIVE_SECS", "1".to_owned()),
            ("AGENT_URL", self.agent.url.to_string()),
            (
                "WEBHOOK_QUEUE_URL",
                app.config
                    .common
                    .webhooks
                    .queue_url
                    .clone()
                    .unwrap_or_default(),
            ),
            ("WEBHOOK_ALLOW_HTTP_LOOPBACK", "true".to_owned()),
        ]);
        env
    }

    fn event_file(&self, name: &str) -> Value {
        let path = self.events_dir.join(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap()
    }

    /// One SQS record carrying `body`, as the event source mapping hands it over.
    fn sqs_event(&self, body: String, arn: &str) -> Value {
        let mut ev = self.event_file("sqs-ocr.json");
        let record = &mut ev["Records"][0];
        record["messageId"] = json!(uuid::Uuid::new_v4().to_string());
        record["body"] = json!(body);
        record["eventSourceARN"] = json!(arn);
        ev
    }

    /// A fresh input for one invocation of `f` (made before the clock starts).
    async fn event(&self, f: Function, n: usize) -> Value {
        let app = &self.app;
        match f {
            Function::Bare | Function::BareOneThread => json!({ "n": n }),
            Function::Api => {
                let mut ev = self.event_file("api-list-receipts.json");
                let path = format!("/receipts/{}", self.receipt);
                ev["path"] = json!(path);
                ev["pathParameters"]["proxy"] = json!(&path[1..]);
                ev["requestContext"]["path"] = json!(format!("/prod{path}"));
                ev["queryStringParameters"] = Value::Null;
                ev["multiValueQueryStringParameters"] = Value::Null;
                ev
            }
            Function::Worker => {
                let id = app.seed_uploaded(USER, 1).await[0];
                sqlx::query("UPDATE receipts SET ocr_status = 'queued' WHERE id = $1")
                    .bind(id)
                    .execute(&app.pool)
                    .await
                    .unwrap();
                let job = serde_json::to_string(&app.ocr_job(id).await).unwrap();
                self.sqs_event(job, &self.ocr_queue_arn)
            }
            Function::Ingest => {
                let key = format!("uploads/{USER}/{}.png", uuid::Uuid::new_v4());
                app.put_png(&key).await;
                let mut s3 = self.event_file("sqs-ingest.json");
                let mut inner: Value =
                    serde_json::from_str(s3["Records"][0]["body"].as_str().unwrap()).unwrap();
                let rec = &mut inner["Records"][0]["s3"];
                rec["bucket"]["name"] = json!(app.bucket);
                rec["bucket"]["arn"] = json!(format!("arn:aws:s3:::{}", app.bucket));
                rec["object"]["key"] = json!(key);
                rec["object"]["size"] = json!(crate::png_bytes().len());
                s3["Records"][0]["body"] = json!(inner.to_string());
                s3["Records"][0]["messageId"] = json!(uuid::Uuid::new_v4().to_string());
                s3
            }
            Function::Reconciler => self.event_file("schedule.json"),
            Function::Events => self.event_file("api-events-stream.json"),
            Function::Webhooks => {
                let store = shared::flow::webhooks::WebhookStore::new(app.pool.clone());
                let d = store
                    .test(&shared::domain::UserId::parse(USER).unwrap(), self.endpoint)
                    .await
                    .expect("a test delivery");
                self.sqs_event(
                    json!({ "delivery_id": d.id }).to_string(),
                    "arn:aws:sqs:us-east-1:000000000000:webhooks",
                )
            }
        }
    }

    /// Whether `answer` is what a user wanted from `event`.
    async fn check(&self, f: Function, event: &Value, answer: &Answer) -> Result<(), String> {
        let app = &self.app;
        let text = String::from_utf8_lossy(&answer.body).into_owned();
        let no_failures = |text: &str| -> Result<(), String> {
            let v: Value = serde_json::from_str(text).map_err(|e| format!("{e}: {text}"))?;
            match v["batchItemFailures"].as_array() {
                Some(f) if f.is_empty() => Ok(()),
                _ => Err(format!("failures in the batch: {text}")),
            }
        };
        match f {
            Function::Bare | Function::BareOneThread => {
                let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
                (v["hello"] == *event).then_some(()).ok_or(text)
            }
            Function::Api => {
                let v: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
                let body: Value = serde_json::from_str(v["body"].as_str().unwrap_or(""))
                    .map_err(|e| format!("{e}: {text}"))?;
                (v["statusCode"] == 200 && body["id"] == self.receipt)
                    .then_some(())
                    .ok_or(text)
            }
            Function::Worker => {
                no_failures(&text)?;
                let job: Value =
                    serde_json::from_str(event["Records"][0]["body"].as_str().unwrap()).unwrap();
                let status = app.status_of(job["receipt_id"].as_i64().unwrap()).await;
                (status == "completed")
                    .then_some(())
                    .ok_or(format!("receipt {status} after the worker"))
            }
            Function::Ingest => {
                no_failures(&text)?;
                let body: Value =
                    serde_json::from_str(event["Records"][0]["body"].as_str().unwrap()).unwrap();
                let key = &body["Records"][0]["s3"]["object"]["key"];
                let n: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM receipts WHERE object_key = $1")
                        .bind(key.as_str())
                        .fetch_one(&app.pool)
                        .await
                        .unwrap();
                (n == 1)
                    .then_some(())
                    .ok_or(format!("{n} receipts for {key}"))
            }
            Function::Reconciler => {
                let v: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
                v["requeued"].is_u64().then_some(()).ok_or(text)
            }
            Function::Events => {
                let prelude = answer
                    .body
                    .split(|b| *b == 0)
                    .next()
                    .and_then(|p| serde_json::from_slice::<Value>(p).ok())
                    .ok_or(format!("no JSON prelude: {text}"))?;
                (prelude["statusCode"] == 200).then_some(()).ok_or(text)
            }
            Function::Webhooks => {
                no_failures(&text)?;
                let id =
                    serde_json::from_str::<Value>(event["Records"][0]["body"].as_str().unwrap())
                        .unwrap()["delivery_id"]
                        .as_i64()
                        .unwrap();
                let state: String =
                    sqlx::query_scalar("SELECT state FROM webhook_deliveries WHERE id = $1")
                        .bind(id)
                        .fetch_one(&app.pool)
                        .await
                        .unwrap();
                (state == "delivered")
                    .then_some(())
                    .ok_or(format!("delivery {state}"))
            }
        }
    }

    /// Deliveries the receiver got (each warm and first webhook invocation adds one).
    pub fn webhook_requests(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }

    /// The receiver's URL.
    pub fn receiver(&self) -> &str {
        &self.receiver
    }

    /// Starts `binary` as function `f`, invokes it once cold and `warm`
    /// times warm, checks every answer, and stops it.
    pub async fn start(&self, f: Function, binary: &Path, warm: usize) -> Result<Start, String> {
        self.start_with_env(f, binary, warm, &[]).await
    }

    /// [`Bench::start`] with settings of its own over the function's.
    pub async fn start_with_env(
        &self,
        f: Function,
        binary: &Path,
        warm: usize,
        env: &[(&str, &str)],
    ) -> Result<Start, String> {
        let mut runtime = FakeRuntime::start().await;
        let event = self.event(f, 0).await;
        let id = runtime.invoke(event.clone());
        // What making the input set off (an S3 upload's notification in
        // LocalStack, a commit in Postgres) and what the last start left
        // (its sessions ending) must not fall on this init.
        tokio::time::sleep(SETTLE).await;
        // The binary is read into the page cache before the clock starts:
        // init is what the function does, not how fast this machine's disk
        // gives back the pages its memory manager dropped. (This VM pages
        // out what was not touched for about a minute, so without the read
        // each start re-read a varying share of its binary from disk.)
        std::fs::read(binary).map_err(|e| format!("{}: {e}", binary.display()))?;
        let spawned = Instant::now();
        let mut child = tokio::process::Command::new(binary)
            .env_clear()
            .envs(self.env(f, &runtime))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("{}: {e}", binary.display()))?;
        let (answer, answered) = wait_answer(&mut runtime, &id, f.streams()).await?;
        let polled = runtime
            .first_poll()
            .ok_or("answered without asking for an event")?;
        self.check(f, &event, &answer).await?;
        let mut start = Start {
            init: polled - spawned,
            first: answered - polled,
            warm: Vec::with_capacity(warm),
            peak_rss_kib: None,
        };
        for n in 1..=warm {
            let event = self.event(f, n).await;
            let sent = Instant::now();
            let id = runtime.invoke(event.clone());
            let (answer, answered) = wait_answer(&mut runtime, &id, f.streams()).await?;
            start.warm.push(answered - sent);
            self.check(f, &event, &answer).await?;
        }
        start.peak_rss_kib = child.id().and_then(peak_rss_kib);
        let _ = child.kill().await;
        Ok(start)
    }
}

/// Waits for the whole answer to `id` (for a stream, the clock stops at the
/// first bytes; the rest is still read); returns it and when it was complete.
async fn wait_answer(
    runtime: &mut FakeRuntime,
    id: &str,
    streams: bool,
) -> Result<(Answer, Instant), String> {
    let mut answer = Answer::default();
    let mut first_bytes = None;
    loop {
        let (from, reply) = runtime
            .reply(PATIENCE)
            .await
            .ok_or("no answer within a minute")?;
        match reply {
            Reply::Error(e) => return Err(format!("the function failed ({from}): {e}")),
            _ if from != id => return Err(format!("an answer to {from}, not {id}")),
            Reply::Started(_) => {}
            Reply::Chunk(c) => {
                first_bytes.get_or_insert_with(Instant::now);
                answer.body.extend_from_slice(&c);
            }
            Reply::End => {
                let end = Instant::now();
                let at = if streams {
                    first_bytes.unwrap_or(end)
                } else {
                    end
                };
                return Ok((answer, at));
            }
        }
    }
}

/// VmHWM of a running process, KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    crate::proc_status(&pid.to_string(), "VmHWM")
}

/// The median of `xs` (the mean of the middle two for an even count).
pub fn median(xs: &[Duration]) -> Duration {
    let mut v = xs.to_vec();
    v.sort();
    match v.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        let ms = Duration::from_millis;
        assert_eq!(median(&[ms(5), ms(1), ms(3)]), ms(3));
        assert_eq!(
            median(&[ms(4), ms(1), ms(3), ms(2)]),
            Duration::from_micros(2500)
        );
        assert_eq!(median(&[]), Duration::ZERO);
    }
}
