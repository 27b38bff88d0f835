//! The finite answer space: constraint boundaries, value classes and the route table.

pub mod constraint;
