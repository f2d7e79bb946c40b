//! The use cases: what the API asks for (service), what the worker, ingest
//! and the reconciler do with a message or on a schedule, and webhooks'
//! relay and delivery. They speak to Postgres through `db`, to AWS through
//! `aws` and to the agent through `outbound`.

pub mod erase;
pub mod ingest;
pub mod reconcile;
pub mod service;
pub mod webhooks;
pub mod worker;
