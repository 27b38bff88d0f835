//! All valid packages of a build, and EPR's /search and /categories semantics over them.

pub mod categories;
pub mod categories_list;
pub mod entry;
pub mod query;
pub mod search;
