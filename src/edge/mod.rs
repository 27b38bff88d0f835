//! Routing layers that serve a built tree without eprgen running: an nginx server block with an
//! njs router, a CloudFront Functions viewer-request function with its KeyValueStore data, and
//! per-object S3 metadata. Stage 7 like `serve`: it reads only a built tree (route table and
//! manifest) and hands on text (configuration, code, data files).
//!
//! The routing rules exist once in JavaScript (`router.js`), a port of `plan::space::Router`
//! and `serve::resolve`; tests/edge_equivalence.rs runs it in Node against the Rust answers for
//! thousands of queries and paths, so the two cannot drift apart unnoticed.

pub mod cloudfront;
pub mod minify;
pub mod nginx;
pub mod s3;

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::plan::routes::{RouteTable, ROUTES};
use crate::write::manifest::Manifest;
use crate::write::MANIFEST;

/// The router shared by every layer (and by the tests).
pub const ROUTER_JS: &str = include_str!("router.js");
/// Composition from the index (`plan::compose` in JavaScript), for the nginx module.
pub const COMPOSE_JS: &str = include_str!("compose.js");
/// The njs adapter (appended to `ROUTER_JS` and `COMPOSE_JS` to make the nginx module).
pub const NGINX_JS: &str = include_str!("nginx.js");
/// The CloudFront Functions adapter.
pub const CLOUDFRONT_JS: &str = include_str!("cloudfront.js");

/// A built tree as the layers see it.
#[derive(Debug)]
pub struct Built {
    /// The root as given (often the output link).
    pub root: PathBuf,
    /// The build folder it resolves to now.
    pub dir: PathBuf,
    /// The build id (the first 24 hex digits of the manifest's blake3).
    pub build_id: String,
    pub manifest: Manifest,
    pub routes: RouteTable,
}

impl Built {
    /// Load the tree at `root`, following the output link to the current build.
    pub fn load(root: &Path) -> Result<Built> {
        let dir = fs::canonicalize(root).at(root, "cannot resolve the tree")?;
        let mp = dir.join(MANIFEST);
        let bytes = fs::read(&mp).at(&mp, "cannot read manifest")?;
        let manifest = Manifest::load(&dir)?;
        let rp = dir.join(ROUTES);
        let rbytes = fs::read(&rp).at(&rp, "cannot read route table")?;
        let routes: RouteTable = serde_json::from_slice(&rbytes).map_err(|e| Error::NotATree {
            path: rp.clone(),
            reason: format!("route table is not valid: {e}"),
        })?;
        let root = if root.is_absolute() {
            root.to_path_buf()
        } else {
            std::env::current_dir()
                .at(root, "cannot resolve the tree")?
                .join(root)
        };
        Ok(Built {
            root,
            dir,
            build_id: Manifest::build_id(&bytes),
            manifest,
            routes,
        })
    }
}
