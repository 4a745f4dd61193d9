//! Choosing a server inside a backend.
//!
//! Per-server mutable state (the round-robin position) lives in atomics beside the immutable
//! table, so a pick never blocks a reader.

mod wrr;

pub(crate) use wrr::SmoothWrr;
