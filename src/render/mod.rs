//! Stage 5: turn the catalog into files. `headers` decides Content-Type and Cache-Control,
//! `zip` writes deterministic package zips, `compress` the `.gz`/`.br` siblings of answers and
//! package JSON.

pub mod compress;
pub mod headers;
pub mod zip;
