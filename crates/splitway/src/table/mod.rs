//! (in progress)
/// t
#[derive(Debug)]
pub struct Table;
