//! In-process tests of the HTTP app: privacy, validation, transport rules, and that every
//! change commits with exactly its event (and a refused change with none).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;
mod openapi;
mod platform;
mod ready;
mod roles;
mod security_headers;
mod setup;
mod transport;
mod webhooks_api;
mod wire;
