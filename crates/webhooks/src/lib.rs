//! Webhook delivery: Standard Webhooks signing, the retry schedule, the SSRF destination
//! policy and the HTTP dispatch of one attempt.

pub mod application;
pub mod dispatch;
pub mod endpoint;
pub mod metrics;
pub mod nodes;
pub mod pace;
pub mod paced;
pub mod retry;
pub mod signing;
pub mod ssrf;
pub mod vault;
pub mod worker;
