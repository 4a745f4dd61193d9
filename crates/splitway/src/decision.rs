//! (in progress)
use std::sync::Arc;
use crate::table::Table;
/// d
#[derive(Debug, Clone)]
pub struct Decision { pub(crate) table: Arc<Table> }
impl Decision {
    /// r
    pub fn route(&self) -> Option<&str> { todo!() }
    /// s
    pub fn server(&self) -> Option<ServerRef<'_>> { todo!() }
}
/// s
#[derive(Debug, Clone, Copy)]
pub struct ServerRef<'a> { name: &'a str }
impl<'a> ServerRef<'a> {
    /// n
    pub fn name(&self) -> &'a str { self.name }
}
/// e
#[derive(Debug, Clone)]
pub struct Explanation;
/// c
#[derive(Debug, Clone)]
pub struct Candidate;
/// s
#[derive(Debug, Clone, Copy)]
pub enum Status { /// ok
 Ok }
