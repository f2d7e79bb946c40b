//! The library the receipt OCR functions are thin wrappers over: domain
//! types, configuration, the repository, the queue and storage adapters,
//! the OCR use cases, auth and telemetry.

pub mod agent;
pub mod app;
pub mod auth;
pub mod aws;
pub mod config;
pub mod domain;
pub mod events;
pub mod extraction;
pub mod ingest;
pub mod limits;
pub mod message;
pub mod metrics;
pub mod queue;
pub mod reconcile;
pub mod repo;
pub mod runner;
pub mod service;
pub mod settings;
pub mod ssrf;
pub mod stats;
pub mod storage;
pub mod telemetry;
pub mod webhooks;
pub mod worker;
