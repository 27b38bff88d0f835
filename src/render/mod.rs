//! Stage 5: turn the catalog into files. `headers` decides Content-Type and Cache-Control,
//! `zip` writes deterministic package zips.

pub mod headers;
pub mod zip;
