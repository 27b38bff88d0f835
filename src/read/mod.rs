//! Stage 1: find the packages of a build. Walks the input roots (stage folders of a
//! package-storage tree, or `--source` folders) for `<name>/<version>/` folders and
//! `<name>-<version>.zip` files (+ `.zip.sig`), and applies precedence between roots: the first
//! root holding a name+version wins. Hands on `Vec<RawPackage>` in index order; nothing is parsed.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Invalid, IoContext, Result};
use crate::package::fs::Origin;

/// A package-storage stage.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Production,
    Staging,
    Snapshot,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Production => "production",
            Stage::Staging => "staging",
            Stage::Snapshot => "snapshot",
        }
    }

    /// The stages a build of this stage serves, most stable first (that order is the precedence).
    pub fn served(self) -> &'static [Stage] {
        match self {
            Stage::Production => &[Stage::Production],
            Stage::Staging => &[Stage::Production, Stage::Staging],
            Stage::Snapshot => &[Stage::Production, Stage::Staging, Stage::Snapshot],
        }
    }
}

impl std::str::FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "production" => Ok(Stage::Production),
            "staging" => Ok(Stage::Staging),
            "snapshot" => Ok(Stage::Snapshot),
            _ => Err(format!(
                "unknown stage {s:?} (expected production, staging or snapshot)"
            )),
        }
    }
}

/// One input root, in precedence order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    pub path: PathBuf,
    /// The stage this root is, when reading a package-storage tree.
    pub stage: Option<Stage>,
}

/// The roots of `--packages DIR --stage S`: DIR/production, then DIR/staging, then DIR/snapshot,
/// as far as S serves them. A missing stage folder is an empty stage.
pub fn stage_roots(dir: &Path, stage: Stage) -> Result<Vec<Root>> {
    if !dir.is_dir() {
        return Err(Error::Input {
            path: dir.into(),
            reason: "packages folder does not exist".into(),
        });
    }
    Ok(stage
        .served()
        .iter()
        .map(|s| Root {
            path: dir.join(s.as_str()),
            stage: Some(*s),
        })
        .filter(|r| r.path.exists())
        .collect())
}

/// A package found on disk, not yet parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPackage {
    pub origin: Origin,
    /// `<zip>.sig` next to a zip package.
    pub signature: Option<PathBuf>,
    /// Name and version as the folder or file name gives them.
    pub name: String,
    pub version: String,
    /// Index of the root it came from (lower wins).
    pub root: usize,
    pub stage: Option<Stage>,
}

/// What reading found: packages in index order, packages shadowed by a more stable root, and
/// problems (a file that cannot be a package, a duplicate within one root).
#[derive(Debug, Default)]
pub struct Found {
    pub packages: Vec<RawPackage>,
    pub shadowed: Vec<RawPackage>,
    pub invalid: Vec<Invalid>,
}

/// Walk every root and apply precedence.
pub fn read(roots: &[Root]) -> Result<Found> {
    let mut found = Found::default();
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (i, root) in roots.iter().enumerate() {
        let mut here = read_root(root, i, &mut found.invalid)?;
        // Within one root a name+version may appear once (a folder and a zip of it is ambiguous).
        here.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
        let mut j = 0;
        while j < here.len() {
            let mut k = j + 1;
            while k < here.len()
                && here[k].name == here[j].name
                && here[k].version == here[j].version
            {
                k += 1;
            }
            if k - j > 1 {
                let paths: Vec<String> = here[j..k]
                    .iter()
                    .map(|p| p.origin.path().display().to_string())
                    .collect();
                for p in &here[j..k] {
                    found.invalid.push(Invalid::new(
                        p.origin.path(),
                        format!(
                            "{}@{} appears more than once in {}: {}",
                            p.name,
                            p.version,
                            root.path.display(),
                            paths.join(", ")
                        ),
                    ));
                }
            } else {
                let p = here[j].clone();
                let key = (p.name.clone(), p.version.clone());
                match seen.entry(key) {
                    std::collections::btree_map::Entry::Occupied(_) => found.shadowed.push(p),
                    std::collections::btree_map::Entry::Vacant(slot) => {
                        slot.insert(found.packages.len());
                        found.packages.push(p);
                    }
                }
            }
            j = k;
        }
    }
    found.invalid.sort();
    Ok(found)
}

fn is_hidden(name: &str) -> bool {
    name.starts_with('.')
}

fn read_root(root: &Root, index: usize, invalid: &mut Vec<Invalid>) -> Result<Vec<RawPackage>> {
    let mut out = Vec::new();
    let md = fs::metadata(&root.path).at(&root.path, "cannot open input folder")?;
    if !md.is_dir() {
        return Err(Error::Input {
            path: root.path.clone(),
            reason: "input is not a folder".into(),
        });
    }
    let mut names: Vec<_> = fs::read_dir(&root.path)
        .at(&root.path, "cannot list input folder")?
        .collect::<std::io::Result<Vec<_>>>()
        .at(&root.path, "cannot list input folder")?;
    names.sort_by_key(|e| e.file_name());
    for entry in names {
        let path = entry.path();
        let Some(fname) = entry.file_name().to_str().map(str::to_string) else {
            invalid.push(Invalid::new(&path, "file name is not valid UTF-8"));
            continue;
        };
        if is_hidden(&fname) {
            continue;
        }
        let ft = entry.file_type().at(&path, "cannot stat")?;
        if ft.is_symlink() {
            invalid.push(Invalid::new(
                &path,
                "package folders and zips may not be symlinks",
            ));
            continue;
        }
        if ft.is_dir() {
            read_name_dir(root, index, &path, &fname, invalid, &mut out)?;
        } else if let Some(stem) = fname.strip_suffix(".zip") {
            match stem.split_once('-') {
                Some((name, version)) if !name.is_empty() && !version.is_empty() => {
                    let sig = root.path.join(format!("{fname}.sig"));
                    out.push(RawPackage {
                        origin: Origin::Zip(path.clone()),
                        signature: sig.is_file().then_some(sig),
                        name: name.to_string(),
                        version: version.to_string(),
                        root: index,
                        stage: root.stage,
                    });
                }
                _ => invalid.push(Invalid::new(
                    &path,
                    "zip package name must be <name>-<version>.zip",
                )),
            }
        } else if fname.ends_with(".zip.sig") {
            let zip = root.path.join(fname.trim_end_matches(".sig"));
            if !zip.is_file() {
                invalid.push(Invalid::new(&path, "signature without its zip package"));
            }
        } else {
            tracing::debug!(path = %path.display(), "not a package, ignored");
        }
    }
    Ok(out)
}

fn read_name_dir(
    root: &Root,
    index: usize,
    dir: &Path,
    name: &str,
    invalid: &mut Vec<Invalid>,
    out: &mut Vec<RawPackage>,
) -> Result<()> {
    let mut versions: Vec<_> = fs::read_dir(dir)
        .at(dir, "cannot list package folder")?
        .collect::<std::io::Result<Vec<_>>>()
        .at(dir, "cannot list package folder")?;
    versions.sort_by_key(|e| e.file_name());
    for v in versions {
        let path = v.path();
        let Some(vname) = v.file_name().to_str().map(str::to_string) else {
            invalid.push(Invalid::new(&path, "file name is not valid UTF-8"));
            continue;
        };
        if is_hidden(&vname) {
            continue;
        }
        let ft = v.file_type().at(&path, "cannot stat")?;
        if ft.is_symlink() {
            invalid.push(Invalid::new(&path, "package folders may not be symlinks"));
            continue;
        }
        if !ft.is_dir() {
            invalid.push(Invalid::new(&path, "expected a <version> folder here"));
            continue;
        }
        out.push(RawPackage {
            origin: Origin::Dir(path),
            signature: None,
            name: name.to_string(),
            version: vname,
            root: index,
            stage: root.stage,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk(dir: &Path, rel: &str) {
        fs::create_dir_all(dir.join(rel)).unwrap();
        fs::write(dir.join(rel).join("manifest.yml"), "x").unwrap();
    }

    #[test]
    fn stage_precedence_most_stable_wins() {
        let t = tempfile::tempdir().unwrap();
        mk(t.path(), "production/a/1.0.0");
        mk(t.path(), "staging/a/1.0.0");
        mk(t.path(), "staging/a/1.1.0");
        mk(t.path(), "snapshot/b/0.1.0");
        let roots = stage_roots(t.path(), Stage::Staging).unwrap();
        let f = read(&roots).unwrap();
        let ids: Vec<_> = f
            .packages
            .iter()
            .map(|p| format!("{}@{}:{:?}", p.name, p.version, p.stage.unwrap()))
            .collect();
        assert_eq!(ids, ["a@1.0.0:Production", "a@1.1.0:Staging"]);
        assert_eq!(f.shadowed.len(), 1);
        let f = read(&stage_roots(t.path(), Stage::Snapshot).unwrap()).unwrap();
        assert_eq!(f.packages.len(), 3);
        let f = read(&stage_roots(t.path(), Stage::Production).unwrap()).unwrap();
        assert_eq!(f.packages.len(), 1);
    }

    #[test]
    fn duplicate_in_one_root_is_invalid() {
        let t = tempfile::tempdir().unwrap();
        mk(t.path(), "a/1.0.0");
        fs::write(t.path().join("a-1.0.0.zip"), "zip").unwrap();
        let f = read(&[Root {
            path: t.path().into(),
            stage: None,
        }])
        .unwrap();
        assert!(f.packages.is_empty());
        assert_eq!(f.invalid.len(), 2);
        assert!(f.invalid[0].reason.contains("more than once"));
    }

    #[test]
    fn zip_names_and_signatures() {
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join("my_pkg-1.2.3-beta.1.zip"), "z").unwrap();
        fs::write(t.path().join("my_pkg-1.2.3-beta.1.zip.sig"), "s").unwrap();
        fs::write(t.path().join("orphan-1.0.0.zip.sig"), "s").unwrap();
        let f = read(&[Root {
            path: t.path().into(),
            stage: None,
        }])
        .unwrap();
        assert_eq!(f.packages[0].name, "my_pkg");
        assert_eq!(f.packages[0].version, "1.2.3-beta.1");
        assert!(f.packages[0].signature.is_some());
        assert!(f.invalid[0].reason.contains("signature without"));
    }
}
