//! Runnable examples: `cargo run -p splitway-examples --bin axum_canary`.
