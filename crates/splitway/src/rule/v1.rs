//! (in progress)

use super::{Rule, RuleError};

pub(super) fn parse(texts: &[&str]) -> Result<Rule, RuleError> {
    let _ = texts;
    todo!("rule helper")
}

pub(super) fn looks_like_v1(text: &str) -> bool {
    let _ = text;
    todo!("rule helper")
}
