//! The library the receipt OCR functions are thin wrappers over: domain
//! types, configuration, the repository, the queue and storage adapters,
//! the OCR use cases, auth and telemetry.

pub mod auth;
pub mod aws;
pub mod config;
pub mod domain;
pub mod extraction;
pub mod message;
pub mod queue;
pub mod repo;
pub mod service;
pub mod storage;
pub mod telemetry;
