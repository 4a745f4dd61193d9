//! (in progress)
use crate::{config::Config, Decision, RequestView};
/// r
#[derive(Debug, Clone)]
pub struct Router;
impl Router {
    /// n
    pub fn new(config: &Config) -> Router { let _ = config; Router }
    /// r
    pub fn route(&self, req: &RequestView<'_>) -> Decision { let _ = req; todo!() }
}
