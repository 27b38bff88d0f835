//! `eprgen routes s3-metadata`: the object metadata every file of a tree needs in S3, so a
//! bucket sends the manifest's Content-Type and Cache-Control (S3 returns them from the
//! object's metadata), as JSON. `eprgen publish` (src/publish/) uploads with exactly these
//! headers; the old `--format shell` (`aws s3 cp` per file) is now a wrapper calling it.
//!
//! The precompressed siblings of answers and package JSON (`<file>.gz`, `<file>.br`) are objects
//! of their own with their identity file's Content-Type and Cache-Control and a
//! `Content-Encoding` (`gzip`, `br`), which S3 sends back as it is: a request rewritten to a
//! sibling's key gets the compressed bytes with the right headers (see the README's CloudFront
//! section for how a distribution picks them).
//!
//! Besides the tree's files it lists the one object the CloudFront setup adds: the body of
//! EPR's `resource not found` 404, served by the distribution's custom error response for a
//! missing file of a known package (the function cannot know which files a package has).

use serde::Serialize;

use super::Built;
use crate::error::Result;
use crate::render::headers::{NO_STORE, TEXT};
use crate::write::manifest::Manifest;

/// The key of the `resource not found` body (see the README's CloudFront section).
pub const RESOURCE_NOT_FOUND: &str = "_eprgen/errors/resource-not-found.txt";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Object {
    pub key: String,
    pub content_type: String,
    pub cache_control: String,
    /// `gzip` or `br` for a precompressed sibling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    /// The file to upload (None for an object eprgen makes up, whose body is `body`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// Every object, in key order, then the error body.
pub fn objects(root: &std::path::Path) -> Result<Vec<Object>> {
    let built = Built::load(root)?;
    let mut out: Vec<Object> = built
        .manifest
        .files
        .iter()
        .map(|(rel, m)| Object {
            key: rel.as_str().to_string(),
            content_type: m.content_type.clone(),
            cache_control: m.cache_control.clone(),
            content_encoding: m.content_encoding.clone(),
            file: Some(built.root.join(rel.as_str()).display().to_string()),
            body: None,
        })
        .collect();
    out.push(not_found_object(&built.manifest));
    Ok(out)
}

/// The `resource not found` body the CloudFront setup adds to a tree's objects.
pub fn not_found_object(manifest: &Manifest) -> Object {
    // EPR keeps the route's cache header on this 404 (serve does too): the zips' one.
    let cache = manifest
        .files
        .iter()
        .find(|(rel, _)| rel.as_str().ends_with(".zip"))
        .map(|(_, m)| m.cache_control.clone())
        .unwrap_or_else(|| NO_STORE.to_string());
    Object {
        key: RESOURCE_NOT_FOUND.to_string(),
        content_type: TEXT.to_string(),
        cache_control: cache,
        content_encoding: None,
        file: None,
        body: Some("resource not found\n".to_string()),
    }
}

/// Single-quote for a POSIX shell.
fn sh(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `--format shell` is retired: one `aws s3 cp` per file had no parallelism, diffing, deletes or
/// resume. What is left is a two-line script that runs `eprgen publish` (kept so that
/// `... --format shell | sh` pipelines keep working), with a note saying so.
pub fn shell(root: &std::path::Path, dest: &str) -> String {
    format!(
        "#!/bin/sh\n# `eprgen routes s3-metadata --format shell` is retired: use `eprgen publish`\n\
# (parallel, diffing, resumable uploads in a safe order; see the README).\n\
exec eprgen publish --root {} --to {} \"$@\"\n",
        sh(&root.display().to_string()),
        sh(dest.trim_end_matches('/'))
    )
}
