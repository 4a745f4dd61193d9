//! (in progress)

use super::{Rule, RuleError, Syntax};

pub(super) fn parse(text: &str, syntax: Syntax) -> Result<Rule, RuleError> {
    let _ = (text, syntax);
    todo!("rule helper")
}
