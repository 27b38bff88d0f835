//! Stage 6: put a build on disk without ever exposing half a tree.
//!
//! Layout beside the output path `OUT` (e.g. `public`):
//! ```text
//! OUT -> .OUT.eprgen/builds/<build id>     a symlink, replaced atomically by rename(2)
//! .OUT.eprgen/builds/<id>/                  complete trees (the current one and the one before)
//! .OUT.eprgen/staging-<nonce>/              the build in progress
//! .OUT.eprgen/lock                          held while a build runs
//! ```
//! Files are written into the staging folder, `_eprgen/manifest.json` last, then the staging
//! folder is renamed to `builds/<id>` and the `OUT` link is swapped. A killed build leaves only a
//! staging folder, which the next build removes. Readers that resolve `OUT` once per request
//! always see one whole build.

pub mod manifest;

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, IoContext, Result};

/// Where the tree's own metadata lives; never served.
pub const META_DIR: &str = "_eprgen";
pub const MANIFEST: &str = "_eprgen/manifest.json";

/// How many finished builds to keep (the current one and its predecessor, so readers that
/// resolved the link just before a swap can finish).
const KEEP_BUILDS: usize = 2;

/// A relative, `/`-separated path inside the output tree, checked to stay inside it.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct RelPath(String);

/// A path read back from a tree's manifest is held to the same rule as one written, so a
/// tampered manifest naming `../../etc/passwd` is refused when the tree is loaded.
impl TryFrom<String> for RelPath {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<RelPath, String> {
        RelPath::new(s.clone())
            .ok_or_else(|| format!("path {s:?} leaves the tree or is not a plain relative path"))
    }
}

impl From<RelPath> for String {
    fn from(p: RelPath) -> String {
        p.0
    }
}

impl RelPath {
    /// Accepts only plain relative paths: no empty, `.` or `..` components, no backslashes.
    pub fn new(s: impl Into<String>) -> Option<RelPath> {
        let s = s.into();
        let ok = !s.is_empty()
            && !s.starts_with('/')
            && !s.contains('\\')
            && !s.contains('\0')
            && s.split('/').all(|c| !c.is_empty() && c != "." && c != "..");
        ok.then_some(RelPath(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn to_path(&self, root: &Path) -> PathBuf {
        let mut p = root.to_path_buf();
        for c in self.0.split('/') {
            p.push(c);
        }
        p
    }
}

impl std::fmt::Display for RelPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Size and blake3 (hex) of written bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub size: u64,
    pub blake3: String,
}

/// The folder a build is written into, and the output it will replace.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    out: PathBuf,
    home: PathBuf,
    _lock: File,
    done: bool,
    /// First path written with each content (blake3), for hard-linking duplicates.
    seen: std::sync::Mutex<std::collections::HashMap<String, RelPath>>,
}

impl Drop for Staging {
    /// A build that fails removes its own staging folder (a killed one leaves it to the next).
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn home_of(out: &Path) -> Result<PathBuf> {
    let name = out.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        Error::Usage(format!(
            "{}: output path must end in a folder name",
            out.display()
        ))
    })?;
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok(parent.join(format!(".{name}.eprgen")))
}

/// Refuse an output path eprgen may not replace, before anything is built: a file, a folder
/// that is neither empty nor an eprgen tree, or a symlink (dangling or not) that is not the link
/// eprgen makes (`.OUT.eprgen/builds/<id>`, relative).
pub fn check_out(out: &Path) -> Result<()> {
    let home = home_of(out)?;
    match fs::symlink_metadata(out) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(out, "cannot stat output", e)),
        Ok(md) if md.file_type().is_symlink() => {
            let target = fs::read_link(out).at(out, "cannot read output link")?;
            let ours = target
                .strip_prefix(Path::new(home.file_name().expect("home has a name")).join("builds"))
                .is_ok_and(|id| id.components().count() == 1);
            if ours {
                Ok(())
            } else {
                Err(Error::Usage(format!(
                    "{}: is a symlink to {}, which is not an eprgen build; refusing to replace it",
                    out.display(),
                    target.display()
                )))
            }
        }
        Ok(md) if md.is_dir() => {
            let is_tree = out.join(MANIFEST).is_file();
            let is_empty = fs::read_dir(out)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
            if is_tree || is_empty {
                Ok(())
            } else {
                Err(Error::Usage(format!(
                    "{}: exists and is not an eprgen output; refusing to replace it",
                    out.display()
                )))
            }
        }
        Ok(_) => Err(Error::Usage(format!(
            "{}: exists and is not a folder",
            out.display()
        ))),
    }
}

impl Staging {
    /// Take the build lock, clear what killed builds left, and open a fresh staging folder.
    pub fn begin(out: &Path) -> Result<Staging> {
        check_out(out)?;
        let home = home_of(out)?;
        fs::create_dir_all(home.join("builds")).at(&home, "cannot create build folder")?;
        let lock_path = home.join("lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .at(&lock_path, "cannot open lock")?;
        lock.try_lock().map_err(|_| {
            Error::Usage(format!(
                "{}: another eprgen build is writing this output",
                out.display()
            ))
        })?;
        // Holding the lock, every staging folder is a leftover of a killed build.
        for e in fs::read_dir(&home).at(&home, "cannot list")? {
            let e = e.at(&home, "cannot list")?;
            if e.file_name().to_string_lossy().starts_with("staging-")
                || e.file_name() == "link.tmp"
            {
                let p = e.path();
                if p.is_dir() {
                    fs::remove_dir_all(&p).at(&p, "cannot remove stale staging folder")?;
                } else {
                    fs::remove_file(&p).at(&p, "cannot remove stale file")?;
                }
            }
        }
        let nonce = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = home.join(format!("staging-{}-{nonce}", std::process::id()));
        fs::create_dir(&dir).at(&dir, "cannot create staging folder")?;
        Ok(Staging {
            dir,
            out: out.to_path_buf(),
            home,
            _lock: lock,
            done: false,
            seen: Default::default(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn prepare(&self, rel: &RelPath) -> Result<PathBuf> {
        let p = rel.to_path(&self.dir);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).at(parent, "cannot create folder")?;
        }
        Ok(p)
    }

    /// Write bytes to a new file (it must not exist yet).
    pub fn write(&self, rel: &RelPath, bytes: &[u8]) -> Result<Written> {
        let p = self.prepare(rel)?;
        let mut f = File::options()
            .write(true)
            .create_new(true)
            .open(&p)
            .at(&p, "cannot create")?;
        f.write_all(bytes).at(&p, "cannot write")?;
        Ok(Written {
            size: bytes.len() as u64,
            blake3: blake3::hash(bytes).to_hex().to_string(),
        })
    }

    /// Copy an opened input in, hashing it on the way (`src` names it in errors).
    pub fn copy_from(&self, rel: &RelPath, src: &Path, mut input: impl Read) -> Result<Written> {
        let p = self.prepare(rel)?;
        let mut output = File::options()
            .write(true)
            .create_new(true)
            .open(&p)
            .at(&p, "cannot create")?;
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut size = 0u64;
        loop {
            let n = input.read(&mut buf).at(src, "cannot read")?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            output.write_all(&buf[..n]).at(&p, "cannot write")?;
            size += n as u64;
        }
        Ok(Written {
            size,
            blake3: hasher.finalize().to_hex().to_string(),
        })
    }

    /// Stream into a new file through `fill`, which gets a writer that hashes what passes.
    pub fn create_with<F>(&self, rel: &RelPath, fill: F) -> Result<Written>
    where
        F: FnOnce(&mut File) -> io::Result<()>,
    {
        let p = self.prepare(rel)?;
        let mut f = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&p)
            .at(&p, "cannot create")?;
        fill(&mut f).at(&p, "cannot write")?;
        drop(f);
        hash_file(&p)
    }

    /// Hard-link a file of an earlier build in (copy when linking is not possible).
    pub fn link_from(&self, rel: &RelPath, src: &Path) -> Result<()> {
        let p = self.prepare(rel)?;
        if fs::hard_link(src, &p).is_err() {
            fs::copy(src, &p).at(&p, "cannot copy from the previous build")?;
        }
        Ok(())
    }

    /// Store identical content once: if these bytes were written before under another path,
    /// replace this file by a hard link to that one. Every path keeps working.
    pub fn dedupe(&self, rel: &RelPath, blake3: &str) -> Result<()> {
        let first = {
            let mut seen = self.seen.lock().expect("dedupe map");
            match seen.get(blake3) {
                Some(first) if first != rel => first.clone(),
                Some(_) => return Ok(()),
                None => {
                    seen.insert(blake3.to_string(), rel.clone());
                    return Ok(());
                }
            }
        };
        let p = rel.to_path(&self.dir);
        let tmp = p.with_extension("eprgen-link");
        match fs::hard_link(first.to_path(&self.dir), &tmp) {
            Ok(()) => {}
            // The file system's link limit (65,000 on ext4): this copy stays a file of its own
            // and the next duplicates link to it.
            Err(e) if e.raw_os_error() == Some(libc::EMLINK) => {
                let mut seen = self.seen.lock().expect("dedupe map");
                seen.insert(blake3.to_string(), rel.clone());
                return Ok(());
            }
            Err(e) => return Err(Error::io(&tmp, "cannot link duplicate", e)),
        }
        fs::rename(&tmp, &p).at(&p, "cannot replace duplicate by a link")?;
        Ok(())
    }

    /// Set a file's modification time (what web servers send as Last-Modified).
    pub fn set_modified(&self, rel: &RelPath, secs: u64) -> Result<()> {
        let p = rel.to_path(&self.dir);
        let t = UNIX_EPOCH + std::time::Duration::from_secs(secs);
        File::options()
            .write(true)
            .open(&p)
            .and_then(|f| f.set_modified(t))
            .at(&p, "cannot set modification time")
    }

    pub fn exists(&self, rel: &RelPath) -> bool {
        rel.to_path(&self.dir).exists()
    }

    /// Finish: write the manifest last, move the tree to `builds/<id>`, swap the output link,
    /// and drop builds older than the previous one. Returns the folder now served.
    pub fn commit(self, build_id: &str, manifest: &[u8]) -> Result<PathBuf> {
        let m = RelPath::new(MANIFEST).expect("constant path");
        let mp = self.prepare(&m)?;
        fs::write(&mp, manifest).at(&mp, "cannot write manifest")?;
        self.commit_written(build_id)
    }

    /// Writes the manifest into the staging folder as it serializes, hashing the same bytes
    /// (at scale the manifest is tens of MB: it is never held whole in memory). Returns the
    /// build id ([`manifest::Manifest::build_id`] of those bytes); then [`Staging::commit_written`].
    pub fn write_manifest(&self, manifest: &manifest::Manifest) -> Result<String> {
        /// Every byte goes to the file and to the hash.
        struct Tee<W: Write> {
            out: W,
            hash: blake3::Hasher,
        }
        impl<W: Write> Write for Tee<W> {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                let n = self.out.write(buf)?;
                self.hash.update(&buf[..n]);
                Ok(n)
            }
            fn flush(&mut self) -> io::Result<()> {
                self.out.flush()
            }
        }
        let m = RelPath::new(MANIFEST).expect("constant path");
        let mp = self.prepare(&m)?;
        let file = File::create(&mp).at(&mp, "cannot write manifest")?;
        let mut tee = Tee {
            out: io::BufWriter::with_capacity(1 << 20, file),
            hash: blake3::Hasher::new(),
        };
        manifest
            .write_to(&mut tee)
            .and_then(|()| tee.flush())
            .at(&mp, "cannot write manifest")?;
        Ok(manifest::Manifest::id_of(&tee.hash.finalize()))
    }

    /// Moves a staging folder whose manifest is written into place and swaps the output link.
    pub fn commit_written(mut self, build_id: &str) -> Result<PathBuf> {
        sync_tree(&self.dir)?;
        let builds = self.home.join("builds");
        let final_dir = builds.join(build_id);
        if final_dir.exists() {
            // The same inputs and options were built before: that tree is byte-identical.
            fs::remove_dir_all(&self.dir).at(&self.dir, "cannot remove staging folder")?;
        } else {
            fs::rename(&self.dir, &final_dir).at(&final_dir, "cannot move build into place")?;
        }
        self.done = true;
        self.swap_link(build_id)?;
        self.prune(build_id)?;
        Ok(final_dir)
    }

    fn swap_link(&self, build_id: &str) -> Result<()> {
        let home_name = self.home.file_name().expect("home has a name");
        let target = Path::new(home_name).join("builds").join(build_id);
        let tmp = self.home.join("link.tmp");
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&target, &tmp).at(&tmp, "cannot create link")?;
        // Checked before the build too; again here, as the output may have changed meanwhile.
        if let Err(e) = check_out(&self.out) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        match fs::symlink_metadata(&self.out) {
            Ok(md) if md.file_type().is_symlink() => {}
            Ok(md) if md.is_dir() => {
                // A plain folder from before: keep it only if it is an eprgen tree we may replace.
                let is_tree = self.out.join(MANIFEST).is_file();
                let is_empty = fs::read_dir(&self.out)
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(false);
                if !is_tree && !is_empty {
                    let _ = fs::remove_file(&tmp);
                    return Err(Error::Usage(format!(
                        "{}: exists and is not an eprgen output; refusing to replace it",
                        self.out.display()
                    )));
                }
                let aside = self
                    .home
                    .join("builds")
                    .join(format!("previous-{}", std::process::id()));
                fs::rename(&self.out, &aside).at(&self.out, "cannot move previous output aside")?;
            }
            Ok(_) => {
                let _ = fs::remove_file(&tmp);
                return Err(Error::Usage(format!(
                    "{}: exists and is not a folder",
                    self.out.display()
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&self.out, "cannot stat output", e)),
        }
        fs::rename(&tmp, &self.out).at(&self.out, "cannot swap output link")?;
        Ok(())
    }

    fn prune(&self, current: &str) -> Result<()> {
        let builds = self.home.join("builds");
        let mut all: Vec<(SystemTime, PathBuf)> = Vec::new();
        for e in fs::read_dir(&builds).at(&builds, "cannot list builds")? {
            let e = e.at(&builds, "cannot list builds")?;
            if e.file_name() == current {
                continue;
            }
            let t = e
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(UNIX_EPOCH);
            all.push((t, e.path()));
        }
        all.sort();
        all.reverse();
        for (_, p) in all.into_iter().skip(KEEP_BUILDS - 1) {
            fs::remove_dir_all(&p).at(&p, "cannot remove old build")?;
        }
        // Mark the current build as the newest, for the next prune.
        let cur = builds.join(current);
        let _ = File::open(&cur).and_then(|f| f.set_modified(SystemTime::now()));
        Ok(())
    }
}

/// blake3 and size of a file on disk.
pub fn hash_file(p: &Path) -> Result<Written> {
    hash_reader(File::open(p).at(p, "cannot open")?, p)
}

/// blake3 and size of what a reader yields (`p` names it in errors).
pub fn hash_reader(mut f: impl Read, p: &Path) -> Result<Written> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).at(p, "cannot read")?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok(Written {
        size,
        blake3: hasher.finalize().to_hex().to_string(),
    })
}

/// Flush the written tree to disk before it becomes visible (a crash after the swap must not
/// expose empty files).
fn sync_tree(dir: &Path) -> Result<()> {
    // One syncfs-like pass: fsync each file is slow for 100k files; sync the manifest and rely
    // on the folder renames being ordered after data by the file system's journal.
    let m = dir.join(MANIFEST);
    File::open(&m)
        .and_then(|f| f.sync_all())
        .at(&m, "cannot sync manifest")?;
    Ok(())
}

/// This process's peak resident memory so far, in MiB (Linux `VmHWM`; 0 where unknown), for the
/// stage log lines.
pub fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relpath_refuses_escapes() {
        for bad in ["", "/a", "a/../b", "..", "a//b", "./a", "a\\b", "a/"] {
            assert!(RelPath::new(bad).is_none(), "{bad:?}");
        }
        assert!(RelPath::new("package/a/1.0.0/docs/README.md").is_some());
    }

    #[test]
    fn commit_swaps_and_keeps_previous_until_next() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("public");
        for (i, id) in ["aaa", "bbb", "ccc"].iter().enumerate() {
            let s = Staging::begin(&out).unwrap();
            s.write(
                &RelPath::new("index.json").unwrap(),
                format!("{i}").as_bytes(),
            )
            .unwrap();
            s.commit(id, b"{}").unwrap();
            assert_eq!(
                fs::read_to_string(out.join("index.json")).unwrap(),
                format!("{i}")
            );
        }
        let builds: Vec<_> = fs::read_dir(t.path().join(".public.eprgen/builds"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(builds.len(), 2, "{builds:?}");
        assert!(fs::symlink_metadata(&out).unwrap().file_type().is_symlink());
    }

    #[test]
    fn killed_build_leftovers_are_cleared_and_foreign_folder_is_kept() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("public");
        let s = Staging::begin(&out).unwrap();
        s.write(&RelPath::new("x").unwrap(), b"x").unwrap();
        let mine = s.dir().to_path_buf();
        drop(s); // a failed build removes its own staging folder
        assert!(!mine.exists());
        // As if a build was killed: its staging folder stays behind.
        let left = t.path().join(".public.eprgen/staging-1-1");
        fs::create_dir_all(left.join("package")).unwrap();
        let s = Staging::begin(&out).unwrap();
        assert!(!left.exists());
        drop(s);
        fs::remove_dir_all(t.path().join(".public.eprgen")).unwrap();
        fs::create_dir_all(&out).unwrap();
        fs::write(out.join("mine.txt"), "keep").unwrap();
        // Refused before anything is built (issue 17), and left alone.
        let e = Staging::begin(&out).unwrap_err();
        assert!(e.to_string().contains("is not an eprgen output"), "{e}");
        assert_eq!(fs::read_to_string(out.join("mine.txt")).unwrap(), "keep");
        assert!(!t.path().join(".public.eprgen").exists());
    }
}
