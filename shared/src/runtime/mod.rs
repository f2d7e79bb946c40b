//! How the functions run: the SQS poller of the local runner, structured
//! logs, and CloudWatch metrics.

pub mod metrics;
pub mod runner;
pub mod telemetry;
