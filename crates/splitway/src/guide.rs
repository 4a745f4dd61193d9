//! Guides: how to use splitway for each phase of a canary release.

/// Which server-choice method fits which phase of a release, and the cohort hash specified
/// well enough to reimplement.
#[doc = include_str!("../docs/selection.md")]
pub mod selection {}
