//! Runnable examples: `cargo run -p splitway-examples --bin axum_canary` (an axum service) and
//! `cargo run -p splitway-examples --bin hyper_canary` (a plain hyper server).
