//! Webhook delivery: Standard Webhooks signing, the retry schedule, the SSRF destination
//! policy and the HTTP dispatch of one attempt.

pub mod admission;
pub mod application;
pub mod dispatch;
pub mod ed25519;
pub mod endpoint;
pub mod jobs;
pub mod metrics;
pub mod nodes;
pub mod op_endpoint;
pub mod pace;
pub mod paced;
pub mod retention;
pub mod retry;
pub mod signing;
pub mod ssrf;
mod traced;
pub mod vault;
pub mod worker;
