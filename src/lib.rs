//! eprgen: build a complete Elastic Package Registry as static files.
//!
//! The pipeline, one module per stage (dependencies point one way):
//! `read` (walk stages and sources) → `package` (parse and validate one package) →
//! `catalog` (all packages; EPR's /search and /categories semantics) → `plan` (the finite
//! answer space and its route table) → `render` (files, zips, answers) → `write` (staging dir,
//! manifest, atomic swap). `site` renders the browsable HTML catalog of a build. `serve` reads only a built tree.

pub mod build;
pub mod catalog;
pub mod cli;
pub mod edge;
pub mod error;
pub mod package;
pub mod plan;
pub mod promote;
pub mod publish;
pub mod read;
pub mod render;
pub mod serve;
pub mod site;
pub mod verify;
pub mod write;

pub use error::{Error, Invalid, Result};
