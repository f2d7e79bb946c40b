//! The api crate's integration tests, one binary (linked once): each module
//! is one area, against a real Postgres and LocalStack (see infra/testkit).

mod api;
mod coldstart;
mod control;
mod deletion;
mod events;
mod formats;
mod lambda;
mod openapi;
mod repo;
mod sizes;
mod stats;
mod ui;
mod ui_delete;
mod ui_photos;
mod ui_reading;
