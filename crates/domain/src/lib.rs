//! The datahooks domain: the platform's objects as the API shows them, the rules that govern
//! them (names, enums, roles and permissions) and the 11 webhook events with their payloads.
//!
//! Pure: no I/O, no clock reads, no async. Every other crate builds on these types.

pub mod access;
pub mod charts;
pub mod delivery;
pub mod error;
pub mod event_types;
pub mod events;
pub mod inputs;
pub mod jobs;
pub mod model;
pub mod names;
pub mod nesting;
pub mod operational;
pub mod release_file;
pub mod settings;
pub mod setup;
pub mod time;

pub use error::{Error, Result};
