//! The worker crate's integration tests, one binary (linked once): each module
//! is one area, against a real Postgres and LocalStack (see infra/testkit).

mod deletion;
mod events;
mod faults;
mod leases;
mod locale;
mod pipeline;
mod webhooks;
