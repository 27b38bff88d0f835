//! The finite answer space: constraint boundaries, value classes and the route table.

pub mod constraint;
pub mod routes;

/// The two query endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Search,
    Categories,
}
pub mod classes;
pub mod compose;
pub mod diagram;
pub mod space;

pub use space::{plan, Planned, Profile};
