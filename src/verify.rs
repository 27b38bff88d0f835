//! `eprgen verify` and `eprgen diff`: check a built tree against its manifest, and list what
//! changed between two builds (the CDN invalidation list). Both read only built trees.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, IoContext, Result};
use crate::plan::routes::{answer_path, RouteTable, ROUTES};
use crate::write::manifest::Manifest;
use crate::write::{hash_file, MANIFEST};

/// One thing wrong with a tree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Problem {
    pub path: String,
    pub reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// The folder a tree root stands for (an output link resolves to its build).
pub fn resolve_root(root: &Path) -> PathBuf {
    match fs::read_link(root) {
        Ok(t) => root.parent().unwrap_or(Path::new(".")).join(t),
        Err(_) => root.to_path_buf(),
    }
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<()> {
    for e in fs::read_dir(dir).at(dir, "cannot list")? {
        let e = e.at(dir, "cannot list")?;
        let name = e.file_name().to_string_lossy().to_string();
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let ft = e.file_type().at(e.path(), "cannot stat")?;
        if ft.is_dir() {
            walk(&e.path(), &rel, out)?;
        } else {
            out.push(rel);
        }
    }
    Ok(())
}

/// Every problem of a tree: files that differ from the manifest (size, blake3), files missing
/// or not in the manifest, and routes that point at files the tree lacks. Empty means sound.
pub fn verify(root: &Path) -> Result<Vec<Problem>> {
    let dir = resolve_root(root);
    let manifest = Manifest::load(&dir)?;
    let mut problems = Vec::new();
    let mut on_disk = Vec::new();
    walk(&dir, "", &mut on_disk)?;
    let on_disk: BTreeSet<String> = on_disk.into_iter().filter(|p| p != MANIFEST).collect();
    for p in &on_disk {
        if crate::write::RelPath::new(p.clone())
            .map(|r| !manifest.files.contains_key(&r))
            .unwrap_or(true)
        {
            problems.push(Problem {
                path: p.clone(),
                reason: "not in the manifest".into(),
            });
        }
    }
    let checked: Vec<Option<Problem>> = manifest
        .files
        .par_iter()
        .map(|(rel, meta)| {
            if !on_disk.contains(rel.as_str()) {
                return Some(Problem {
                    path: rel.to_string(),
                    reason: "in the manifest but missing".into(),
                });
            }
            match hash_file(&rel.to_path(&dir)) {
                Err(e) => Some(Problem {
                    path: rel.to_string(),
                    reason: format!("cannot read: {e}"),
                }),
                Ok(w) if w.size != meta.size => Some(Problem {
                    path: rel.to_string(),
                    reason: format!("size {} differs from the manifest's {}", w.size, meta.size),
                }),
                Ok(w) if w.blake3 != meta.blake3 => Some(Problem {
                    path: rel.to_string(),
                    reason: "content differs from the manifest (blake3)".into(),
                }),
                Ok(_) => None,
            }
        })
        .collect();
    problems.extend(checked.into_iter().flatten());
    // Routes: every file they name must be in the manifest.
    let rp = dir.join(ROUTES);
    match fs::read(&rp)
        .ok()
        .and_then(|b| serde_json::from_slice::<RouteTable>(&b).ok())
    {
        None => problems.push(Problem {
            path: ROUTES.into(),
            reason: "route table missing or not valid".into(),
        }),
        Some(routes) => {
            let has = |f: &str| {
                crate::write::RelPath::new(f.to_string())
                    .map(|r| manifest.files.contains_key(&r))
                    .unwrap_or(false)
            };
            let mut need: Vec<(String, String)> = Vec::new();
            for (url, f) in &routes.paths {
                need.push((f.clone(), format!("route {url}")));
            }
            for (name, versions) in &routes.packages {
                for (v, p) in versions {
                    need.push((p.info.clone(), format!("package {name}@{v}")));
                    need.push((p.zip.clone(), format!("package {name}@{v}")));
                    if let Some(s) = &p.sig {
                        need.push((s.clone(), format!("package {name}@{v}")));
                    }
                }
            }
            for (ep, d) in [
                ("/search", &routes.search),
                ("/categories", &routes.categories),
            ] {
                // The empty id is "composed from the index", not a file.
                for a in d.answers.iter().filter(|a| !a.is_empty()) {
                    need.push((answer_path(a), format!("{ep} answer")));
                }
                for (i, n) in d.nodes.iter().enumerate() {
                    for r in n.refs() {
                        let ok = if r >= 0 {
                            (r as usize) < d.nodes.len()
                        } else {
                            ((-r - 1) as usize) < d.answers.len()
                        };
                        if !ok {
                            problems.push(Problem {
                                path: ROUTES.into(),
                                reason: format!(
                                    "{ep} node {i} points at {r}, which does not exist"
                                ),
                            });
                        }
                    }
                }
            }
            if let Some(c) = &routes.composed {
                need.push((c.index.clone(), "the composition index".into()));
            }
            for (f, why) in need {
                if !has(&f) {
                    problems.push(Problem {
                        path: f,
                        reason: format!("{why} points here, but the file is not in the tree"),
                    });
                }
            }
        }
    }
    problems.sort();
    problems.dedup();
    Ok(problems)
}

/// What changed between two builds, by tree path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// Load a manifest from a tree root or a manifest file.
pub fn load_manifest(p: &Path) -> Result<Manifest> {
    if p.is_file() {
        let bytes = fs::read(p).at(p, "cannot read manifest")?;
        return serde_json::from_slice(&bytes).map_err(|e| Error::NotATree {
            path: p.to_path_buf(),
            reason: format!("manifest is not valid: {e}"),
        });
    }
    Manifest::load(&resolve_root(p))
}

/// Paths added, changed (other bytes or headers) and removed from `old` to `new`.
pub fn diff(old: &Manifest, new: &Manifest) -> Diff {
    let mut d = Diff::default();
    for (p, m) in &new.files {
        match old.files.get(p) {
            None => d.added.push(p.to_string()),
            Some(x)
                if x.blake3 != m.blake3
                    || x.content_type != m.content_type
                    || x.cache_control != m.cache_control =>
            {
                d.changed.push(p.to_string())
            }
            Some(_) => {}
        }
    }
    for p in old.files.keys() {
        if !new.files.contains_key(p) {
            d.removed.push(p.to_string());
        }
    }
    d
}
