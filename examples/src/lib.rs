//! Runnable examples: `cargo run -p splitway-examples --bin axum_canary` (an axum service) and
//! `cargo run -p splitway-examples --bin hyper_canary` (a plain hyper server).

/// The core crate's README (the one crates.io shows), its example run as a doc-test here
/// beside the project README's, which the core crate runs itself.
#[doc = include_str!("../../crates/splitway/README.md")]
#[cfg(doctest)]
pub struct CoreReadmeDoctests;
