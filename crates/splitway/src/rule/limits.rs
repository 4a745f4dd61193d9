//! Bounds on the work one rule may make: its length, its nesting, the size of each regex.
// Without the `internals` feature these items are crate-private; with it they are public.
#![cfg_attr(not(feature = "internals"), allow(unreachable_pub))]

/// Longest rule text accepted, in bytes.
pub const MAX_RULE_LEN: usize = 64 * 1024;
/// Deepest nesting of parentheses and `!` accepted in an expression.
pub const MAX_RULE_DEPTH: usize = 64;
/// Compiled-size limit of one regex (bytes), passed to `regex::RegexBuilder::size_limit`.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;
