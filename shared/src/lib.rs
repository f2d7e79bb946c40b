//! The library the receipt OCR functions are thin wrappers over, in layers
//! (each uses only those listed before it):
//!
//! - `domain`: ids, statuses, inputs, what was read, the queue message;
//! - `config`: typed configuration, read once at start-up;
//! - `db`: Postgres: the receipts, the outbox of events, limits, figures;
//! - `aws`: the SDK's configuration, SQS and S3;
//! - `outbound`: the OCR agent's client and the SSRF guard;
//! - `runtime`: the local SQS poller, logs and metrics;
//! - `flow`: the use cases (service, worker, ingest, reconcile, webhooks);
//! - `auth`: who is calling (the API's);
//! - `wiring`: clients built once and the handlers built on them.

pub mod auth;
pub mod aws;
pub mod config;
pub mod db;
pub mod domain;
pub mod flow;
pub mod outbound;
pub mod runtime;
pub mod wiring;
