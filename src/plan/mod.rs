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
pub mod diagram;
pub mod space;

pub use space::{plan, Planned};

/// Route a raw query string of an endpoint through the tree's route table: the answer's blake3,
/// or EPR's 400 message for an invalid query.
pub fn route_query(
    routes: &routes::RouteTable,
    ep: Endpoint,
    raw_query: &str,
) -> Result<String, String> {
    let d = match ep {
        Endpoint::Search => &routes.search,
        Endpoint::Categories => &routes.categories,
    };
    space::route(d, ep, raw_query)
}
