#![allow(clippy::unwrap_used, clippy::expect_used)]
#[tokio::test]
async fn warmup() {}
