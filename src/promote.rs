//! `eprgen promote`: move a package version to the next stage of a package-storage tree, as
//! `elastic-package promote` does: add it to the target stage, remove it from the one before.
//! Works on the input side (package folders and zips), reusing `read` and the package loader.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Invalid, IoContext, Result};
use crate::package::fs::{Limits, Origin, PackageFs};
use crate::read::{self, Root, Stage};

/// What a promotion does (or would do, with `--dry-run`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    pub id: String,
    pub from: PathBuf,
    pub to: PathBuf,
    /// The target already held identical content: only the source is removed.
    pub already_there: bool,
    pub signature: Option<(PathBuf, PathBuf)>,
}

impl std::fmt::Display for Promotion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.already_there {
            write!(
                f,
                "{}: already in {} with the same content; removing {}",
                self.id,
                self.to.display(),
                self.from.display()
            )
        } else {
            write!(
                f,
                "{}: {} -> {}",
                self.id,
                self.from.display(),
                self.to.display()
            )
        }
    }
}

fn previous_stage(to: Stage) -> Result<Stage> {
    match to {
        Stage::Production => Ok(Stage::Staging),
        Stage::Staging => Ok(Stage::Snapshot),
        Stage::Snapshot => Err(Error::Usage(
            "nothing is promoted to snapshot (it is the first stage)".into(),
        )),
    }
}

/// blake3 over every file (path and bytes) of a package, folder or zip alike.
fn content(origin: &Origin) -> std::result::Result<String, Invalid> {
    let fs = PackageFs::open(origin, Limits::default())?;
    let mut h = blake3::Hasher::new();
    for e in fs.entries().iter().filter(|e| !e.is_dir) {
        h.update(e.path.as_bytes());
        h.update(&[0]);
        h.update(blake3::hash(&fs.read(&e.path)?).as_bytes());
    }
    Ok(h.finalize().to_hex().to_string())
}

fn find(dir: &Path, stage: Stage, name: &str, version: &str) -> Result<Option<read::RawPackage>> {
    let root = dir.join(stage.as_str());
    if !root.is_dir() {
        return Ok(None);
    }
    let found = read::read(&[Root {
        path: root,
        stage: Some(stage),
    }])?;
    if let Some(bad) = found.invalid.iter().find(|i| {
        let p = i.path.to_string_lossy();
        p.contains(&format!("/{name}/{version}")) || p.contains(&format!("/{name}-{version}.zip"))
    }) {
        return Err(Error::InvalidPackages(vec![bad.clone()]));
    }
    Ok(found
        .packages
        .into_iter()
        .find(|p| p.name == name && p.version == version))
}

/// Plan and (unless `dry_run`) carry out the promotion of `id` (`name@version`) to `to`.
pub fn promote(dir: &Path, id: &str, to: Stage, dry_run: bool) -> Result<Promotion> {
    let (name, version) = id
        .split_once('@')
        .ok_or_else(|| Error::Usage(format!("{id:?}: expected name@version")))?;
    if semver::Version::parse(version).is_err() {
        return Err(Error::Usage(format!(
            "{id:?}: {version:?} is not a valid semantic version"
        )));
    }
    let from = previous_stage(to)?;
    let src = find(dir, from, name, version)?.ok_or_else(|| Error::Input {
        path: dir.join(from.as_str()),
        reason: format!("{id} is not in the {} stage", from.as_str()),
    })?;
    // Only a valid package moves on.
    let pfs = PackageFs::open(&src.origin, Limits::default())
        .map_err(|e| Error::InvalidPackages(vec![e]))?;
    let pkg = crate::package::load(
        &pfs,
        &crate::package::LoadOptions {
            has_signature: src.signature.is_some(),
        },
    )
    .map_err(Error::InvalidPackages)?;
    if pkg.name != name || pkg.version.to_string() != version {
        return Err(Error::Input {
            path: pfs.display_path("manifest.yml"),
            reason: format!("manifest says {}@{}, not {id}", pkg.name, pkg.version),
        });
    }
    drop(pfs);
    let target_root = dir.join(to.as_str());
    let target = match &src.origin {
        Origin::Dir(_) => target_root.join(name).join(version),
        Origin::Zip(p) => target_root.join(p.file_name().expect("zip has a name")),
    };
    let existing = find(dir, to, name, version)?;
    let already_there = match &existing {
        None => false,
        Some(t) => {
            let a = content(&src.origin).map_err(|e| Error::InvalidPackages(vec![e]))?;
            let b = content(&t.origin).map_err(|e| Error::InvalidPackages(vec![e]))?;
            if a != b {
                return Err(Error::Input {
                    path: t.origin.path().to_path_buf(),
                    reason: format!("{id} is already in the {} stage with different content; refusing to promote", to.as_str()),
                });
            }
            true
        }
    };
    let signature = src.signature.as_ref().map(|s| {
        (
            s.clone(),
            target_root.join(s.file_name().expect("sig has a name")),
        )
    });
    let plan = Promotion {
        id: id.to_string(),
        from: src.origin.path().to_path_buf(),
        to: target.clone(),
        already_there,
        signature,
    };
    if dry_run {
        return Ok(plan);
    }
    if !already_there {
        let parent = target.parent().expect("target has a parent");
        fs::create_dir_all(parent).at(parent, "cannot create stage folder")?;
        fs::rename(&plan.from, &target).at(&target, "cannot move the package")?;
        if let Some((s, t)) = &plan.signature {
            fs::rename(s, t).at(t, "cannot move the signature")?;
        }
    } else {
        let p = &plan.from;
        if p.is_dir() {
            fs::remove_dir_all(p).at(p, "cannot remove the promoted package")?;
        } else {
            fs::remove_file(p).at(p, "cannot remove the promoted package")?;
        }
        if let Some((s, _)) = &plan.signature {
            fs::remove_file(s).at(s, "cannot remove the signature")?;
        }
    }
    // Leave no empty `<name>/` folder behind in the source stage.
    if let Origin::Dir(p) = &src.origin {
        if let Some(name_dir) = p.parent() {
            if fs::read_dir(name_dir)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false)
            {
                let _ = fs::remove_dir(name_dir);
            }
        }
    }
    Ok(plan)
}
