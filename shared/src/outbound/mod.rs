//! Requests this application makes over HTTP: the OCR agent's client, and
//! the SSRF guard every URL that came from outside goes through.

pub mod agent;
pub mod ssrf;
