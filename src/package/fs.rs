//! Read access to one package's files, whether it is a folder `<name>/<version>/` or a zip
//! `<name>-<version>.zip` with a single top folder. This is where the "never follow a path out of
//! a package" rule is enforced: every path handed on is relative, `/`-separated, UTF-8, free of
//! `..`, and was checked to stay inside the package (symlinks included).

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{Cursor, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::Invalid;

/// Where a package comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Dir(PathBuf),
    Zip(PathBuf),
}

impl Origin {
    pub fn path(&self) -> &Path {
        match self {
            Origin::Dir(p) | Origin::Zip(p) => p,
        }
    }
}

/// Limits applied while reading a package.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest single file (uncompressed) accepted, in bytes.
    pub max_file_bytes: u64,
    /// Largest package accepted: the sum of its files, uncompressed, in bytes.
    pub max_package_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 256 * 1024 * 1024,
            max_package_bytes: 2 << 30,
        }
    }
}

/// A zip package may expand to at most this many times its own size once it is over
/// [`RATIO_FLOOR`] bytes uncompressed. Deflate tops out near 1032:1; real packages (JSON, YAML,
/// Markdown, PNG) stay well under 50:1, so a higher ratio over many bytes is a zip bomb.
pub const MAX_RATIO: u64 = 200;
pub const RATIO_FLOOR: u64 = 64 << 20;

/// Open one input file for reading, once, without following a symlink at its last component
/// and without blocking on a FIFO (`O_NOFOLLOW | O_NONBLOCK`). Type and size are checked on the
/// open handle (fstat), so a file swapped after it was listed cannot slip a foreign file, an
/// oversized one or a FIFO in: every read goes through this handle. Returns the handle, bounded
/// to the size fstat gave (a file that grows meanwhile is read only that far), and its metadata.
pub fn open_input(
    path: &Path,
    max_bytes: u64,
) -> Result<(std::io::Take<File>, fs::Metadata), String> {
    let f = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => "is now a symlink (it changed while eprgen read it)".to_string(),
            _ => format!("cannot open: {e}"),
        })?;
    let md = f.metadata().map_err(|e| format!("cannot stat: {e}"))?;
    if !md.is_file() {
        return Err("not a regular file".into());
    }
    if md.len() > max_bytes {
        return Err(format!(
            "file is {} bytes, over the limit of {max_bytes} bytes",
            md.len()
        ));
    }
    let len = md.len();
    Ok((f.take(len), md))
}

/// The file behind an entry of a folder package, as listed: its path and its identity
/// (device, inode), which the file opened later must still have.
#[derive(Debug, Clone)]
struct Listed {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

/// One file or folder inside a package, by its path relative to the package root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsEntry {
    /// Relative, `/`-separated, no leading or trailing slash.
    pub path: String,
    pub is_dir: bool,
    /// Uncompressed size in bytes (0 for folders).
    pub size: u64,
}

#[derive(Debug)]
enum Source {
    /// Folder root, and for each file entry the real file to read (a symlink's checked target).
    Dir {
        root: PathBuf,
        real: Vec<Option<Listed>>,
    },
    /// The zip, its central directory parsed once (a clone shares it), the top folder name, and
    /// for each entry its index in the archive.
    Zip {
        bytes: Arc<[u8]>,
        archive: zip::ZipArchive<Cursor<Arc<[u8]>>>,
        top: String,
        index: Vec<Option<usize>>,
    },
}

/// The files of one package, listed once and readable by relative path.
#[derive(Debug)]
pub struct PackageFs {
    origin: Origin,
    /// In walk order: sorted component by component, so a folder comes right before its
    /// contents (`a`, `a/b`, `a.txt`), as EPR's zips list them.
    entries: Vec<FsEntry>,
    source: Source,
    limits: Limits,
}

impl PackageFs {
    /// List a package folder or zip, refusing anything that leaves the package.
    pub fn open(origin: &Origin, limits: Limits) -> Result<PackageFs, Invalid> {
        match origin {
            Origin::Dir(root) => open_dir(root, limits),
            Origin::Zip(path) => open_zip(path, limits),
        }
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// Every file and folder, in walk order (see [`walk_cmp`]).
    pub fn entries(&self) -> &[FsEntry] {
        &self.entries
    }

    /// The top folder name inside a zip package (`example-1.0.1`), `None` for folders.
    pub fn zip_top(&self) -> Option<&str> {
        match &self.source {
            Source::Zip { top, .. } => Some(top),
            Source::Dir { .. } => None,
        }
    }

    fn find(&self, rel: &str) -> Option<usize> {
        let rel = rel.trim_start_matches('/');
        self.entries
            .binary_search_by(|e| walk_cmp(&e.path, rel))
            .ok()
    }

    /// The size of a file as listed.
    pub fn size(&self, rel: &str) -> Option<u64> {
        self.find(rel).map(|i| self.entries[i].size)
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.find(rel).is_some()
    }

    pub fn is_file(&self, rel: &str) -> bool {
        self.find(rel)
            .map(|i| !self.entries[i].is_dir)
            .unwrap_or(false)
    }

    pub fn is_dir(&self, rel: &str) -> bool {
        self.find(rel)
            .map(|i| self.entries[i].is_dir)
            .unwrap_or(false)
    }

    /// A path to show in messages for a file of this package: the real file for folders,
    /// `archive.zip/top/rel` for zips.
    pub fn display_path(&self, rel: &str) -> PathBuf {
        match &self.source {
            Source::Dir { root, .. } => root.join(rel),
            Source::Zip { top, .. } => self.origin.path().join(top).join(rel),
        }
    }

    /// Read a whole file by relative path.
    pub fn read(&self, rel: &str) -> Result<Vec<u8>, Invalid> {
        let i = self
            .find(rel)
            .filter(|&i| !self.entries[i].is_dir)
            .ok_or_else(|| Invalid::new(self.display_path(rel), "no such file in the package"))?;
        match &self.source {
            Source::Dir { .. } => {
                let mut f = self.open_file(rel)?;
                let mut out = Vec::new();
                f.read_to_end(&mut out).map_err(|e| {
                    Invalid::new(self.display_path(rel), format!("cannot read: {e}"))
                })?;
                Ok(out)
            }
            Source::Zip { archive, index, .. } => {
                let mut z = archive.clone();
                let idx = index[i].expect("file entries have a zip index");
                let mut f = z.by_index(idx).map_err(|e| {
                    Invalid::new(self.display_path(rel), format!("cannot read from zip: {e}"))
                })?;
                let mut out = Vec::with_capacity(f.size() as usize);
                f.read_to_end(&mut out).map_err(|e| {
                    Invalid::new(self.display_path(rel), format!("cannot read from zip: {e}"))
                })?;
                Ok(out)
            }
        }
    }

    /// Read a file as UTF-8 text.
    pub fn read_to_string(&self, rel: &str) -> Result<String, Invalid> {
        let bytes = self.read(rel)?;
        String::from_utf8(bytes)
            .map_err(|_| Invalid::new(self.display_path(rel), "is not valid UTF-8"))
    }

    /// Open a file of a folder package for streaming (hashing, copying), through
    /// [`open_input`], and check it is still the file that was listed: a file or folder swapped
    /// since (for a symlink, a FIFO, or a folder leading elsewhere) has another identity and is
    /// refused. For zips, use [`PackageFs::read`].
    pub fn open_file(&self, rel: &str) -> Result<std::io::Take<File>, Invalid> {
        let shown = self.display_path(rel);
        let listed = match (&self.source, self.find(rel)) {
            (Source::Dir { real, .. }, Some(i)) => real[i].as_ref(),
            _ => None,
        }
        .ok_or_else(|| Invalid::new(&shown, "no such file in the package folder"))?;
        let (f, md) = open_input(&listed.path, self.limits.max_file_bytes)
            .map_err(|e| Invalid::new(&shown, e))?;
        if (md.dev(), md.ino()) != (listed.dev, listed.ino) {
            return Err(Invalid::new(
                &shown,
                "changed while eprgen read it (it is no longer the file that was listed)",
            ));
        }
        Ok(f)
    }

    /// Whether this is a folder package (its files are opened with [`PackageFs::open_file`]).
    pub fn is_folder(&self) -> bool {
        matches!(self.source, Source::Dir { .. })
    }

    /// The raw zip bytes of a zip package.
    pub fn zip_bytes(&self) -> Option<&[u8]> {
        match &self.source {
            Source::Zip { bytes, .. } => Some(bytes),
            Source::Dir { .. } => None,
        }
    }
}

/// Order of a depth-first walk that lists each folder's children by name: compare paths
/// component by component (`a/b` < `a.txt`, although `.` sorts before `/` as bytes).
pub fn walk_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.split('/').cmp(b.split('/'))
}

fn open_dir(root: &Path, limits: Limits) -> Result<PackageFs, Invalid> {
    let canon_root = fs::canonicalize(root)
        .map_err(|e| Invalid::new(root, format!("cannot open package folder: {e}")))?;
    let mut entries = Vec::new();
    let mut real = Vec::new();
    // Folders reached through an in-package symlink are walked too; a chain that comes back to a
    // folder already being walked is a loop.
    let mut stack: Vec<(PathBuf, String)> = vec![(canon_root.clone(), String::new())];
    let mut active: BTreeSet<PathBuf> = BTreeSet::new();
    walk_dir(
        &canon_root,
        root,
        &mut stack,
        &mut active,
        &mut entries,
        &mut real,
        limits,
    )?;
    // Sort in walk order so the order never depends on the file system.
    let mut idx: Vec<usize> = (0..entries.len()).collect();
    idx.sort_by(|&a, &b| walk_cmp(&entries[a].path, &entries[b].path));
    let entries: Vec<FsEntry> = idx.iter().map(|&i| entries[i].clone()).collect();
    let real: Vec<Option<Listed>> = idx.iter().map(|&i| real[i].clone()).collect();
    let total: u64 = entries.iter().map(|e| e.size).sum();
    if total > limits.max_package_bytes {
        return Err(Invalid::new(
            root,
            format!(
                "package holds {total} bytes of files, over the limit of {} bytes (--max-package-size)",
                limits.max_package_bytes
            ),
        ));
    }
    for w in entries.windows(2) {
        if w[0].path == w[1].path {
            return Err(Invalid::new(
                root.join(&w[0].path),
                "appears twice in the package",
            ));
        }
    }
    Ok(PackageFs {
        origin: Origin::Dir(root.to_path_buf()),
        entries,
        source: Source::Dir {
            root: root.to_path_buf(),
            real,
        },
        limits,
    })
}

fn walk_dir(
    canon_root: &Path,
    shown_root: &Path,
    stack: &mut Vec<(PathBuf, String)>,
    active: &mut BTreeSet<PathBuf>,
    entries: &mut Vec<FsEntry>,
    real: &mut Vec<Option<Listed>>,
    limits: Limits,
) -> Result<(), Invalid> {
    let Some((dir, prefix)) = stack.pop() else {
        return Ok(());
    };
    active.insert(dir.clone());
    let mut children: Vec<_> = fs::read_dir(&dir)
        .map_err(|e| Invalid::new(shown_root.join(&prefix), format!("cannot list folder: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| Invalid::new(shown_root.join(&prefix), format!("cannot list folder: {e}")))?;
    children.sort_by_key(|c| c.file_name());
    for child in children {
        let name = child.file_name();
        let shown = shown_root.join(&prefix).join(&name);
        let Some(name) = name.to_str() else {
            return Err(Invalid::new(shown, "file name is not valid UTF-8"));
        };
        let rel = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        };
        let ft = child
            .file_type()
            .map_err(|e| Invalid::new(&shown, format!("cannot stat: {e}")))?;
        let mut target = child.path();
        if ft.is_symlink() {
            let t = fs::canonicalize(&target).map_err(|e| {
                Invalid::new(
                    &shown,
                    format!("symlink cannot be resolved (broken or a loop): {e}"),
                )
            })?;
            if !t.starts_with(canon_root) {
                return Err(Invalid::new(
                    &shown,
                    format!("symlink points outside the package (to {})", t.display()),
                ));
            }
            target = t;
        }
        // A plain entry is looked at without following links (a symlink swapped in after
        // readdir is then seen as one, and refused below); a checked symlink's target is followed.
        let md = if ft.is_symlink() {
            fs::metadata(&target)
        } else {
            fs::symlink_metadata(&target)
        }
        .map_err(|e| Invalid::new(&shown, format!("cannot stat: {e}")))?;
        if md.is_dir() {
            let canon = fs::canonicalize(&target)
                .map_err(|e| Invalid::new(&shown, format!("cannot resolve: {e}")))?;
            if active.contains(&canon) {
                return Err(Invalid::new(
                    &shown,
                    "symlink loop: the folder contains itself",
                ));
            }
            entries.push(FsEntry {
                path: rel.clone(),
                is_dir: true,
                size: 0,
            });
            real.push(None);
            stack.push((canon, rel));
            walk_dir(canon_root, shown_root, stack, active, entries, real, limits)?;
        } else if md.is_file() {
            if md.len() > limits.max_file_bytes {
                return Err(Invalid::new(
                    &shown,
                    format!(
                        "file is {} bytes, over the limit of {} bytes",
                        md.len(),
                        limits.max_file_bytes
                    ),
                ));
            }
            entries.push(FsEntry {
                path: rel,
                is_dir: false,
                size: md.len(),
            });
            real.push(Some(Listed {
                path: target,
                dev: md.dev(),
                ino: md.ino(),
            }));
        } else {
            return Err(Invalid::new(&shown, "not a regular file or folder"));
        }
    }
    active.remove(&dir);
    Ok(())
}

fn open_zip(path: &Path, limits: Limits) -> Result<PackageFs, Invalid> {
    // The zip is served as one file and held in memory while it is read: the limit applies to
    // it as well as to each entry.
    let (mut f, md) = open_input(path, u64::MAX).map_err(|e| Invalid::new(path, e))?;
    if md.len() > limits.max_file_bytes {
        return Err(Invalid::new(
            path,
            format!(
                "zip is {} bytes, over the limit of {} bytes",
                md.len(),
                limits.max_file_bytes
            ),
        ));
    }
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)
        .map_err(|e| Invalid::new(path, format!("cannot read: {e}")))?;
    let bytes: Arc<[u8]> = bytes.into();
    let mut z = zip::ZipArchive::new(Cursor::new(bytes.clone()))
        .map_err(|e| Invalid::new(path, format!("not a valid zip archive: {e}")))?;
    // The zip crate keeps one entry per name (the last one written), so a name held twice would
    // go unseen here while unzip tools and Fleet see both: count the central directory itself.
    if let Some(dup) = duplicate_record(&bytes, z.central_directory_start() as usize) {
        return Err(Invalid::new(
            path,
            format!("zip entry {dup:?} appears twice"),
        ));
    }
    // Names first, checked: no absolute paths, no `..`, UTF-8 only, no symlinks.
    let mut names: Vec<(String, bool, u64, usize)> = Vec::new();
    for i in 0..z.len() {
        let f = z
            .by_index_raw(i)
            .map_err(|e| Invalid::new(path, format!("corrupt zip entry #{i}: {e}")))?;
        let raw = f.name().to_string();
        if std::str::from_utf8(f.name_raw()).is_err() {
            return Err(Invalid::new(
                path,
                format!("zip entry {raw:?} has a name that is not valid UTF-8"),
            ));
        }
        if raw.starts_with('/') || raw.starts_with('\\') || raw.contains('\\') || raw.contains(':')
        {
            return Err(Invalid::new(
                path,
                format!("zip entry {raw:?} has an absolute or non-portable path"),
            ));
        }
        let parts: Vec<&str> = raw
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .collect();
        if parts.contains(&"..") {
            return Err(Invalid::new(
                path,
                format!("zip entry {raw:?} points outside the archive (`..`)"),
            ));
        }
        if parts.is_empty() {
            continue;
        }
        if let Some(mode) = f.unix_mode() {
            if mode & 0o170000 == 0o120000 {
                return Err(Invalid::new(
                    path,
                    format!("zip entry {raw:?} is a symlink, which packages may not hold"),
                ));
            }
        }
        if f.size() > limits.max_file_bytes {
            return Err(Invalid::new(
                path,
                format!(
                    "zip entry {raw:?} is {} bytes, over the limit of {} bytes",
                    f.size(),
                    limits.max_file_bytes
                ),
            ));
        }
        names.push((parts.join("/"), f.is_dir(), f.size(), i));
    }
    // What the zip expands to, by its headers (each entry is read below and must hold exactly
    // what its header says, so the headers bound the work).
    let total: u64 = names.iter().map(|n| n.2).sum();
    if total > limits.max_package_bytes {
        return Err(Invalid::new(
            path,
            format!(
                "zip expands to {total} bytes, over the limit of {} bytes (--max-package-size)",
                limits.max_package_bytes
            ),
        ));
    }
    if total > RATIO_FLOOR && total / (bytes.len() as u64).max(1) > MAX_RATIO {
        return Err(Invalid::new(
            path,
            format!(
                "zip of {} bytes expands to {total} bytes, more than {MAX_RATIO} times its size (a zip bomb?)",
                bytes.len()
            ),
        ));
    }
    // The package root is the top folder holding manifest.yml, as EPR finds it.
    let top = names
        .iter()
        .find_map(|(n, is_dir, _, _)| {
            let mut it = n.split('/');
            match (it.next(), it.next(), it.next()) {
                (Some(top), Some("manifest.yml"), None) if !is_dir => Some(top.to_string()),
                _ => None,
            }
        })
        .ok_or_else(|| Invalid::new(path, "zip has no top folder holding manifest.yml"))?;
    let mut files: Vec<(String, bool, u64, Option<usize>)> = Vec::new();
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    for (n, is_dir, size, i) in names {
        let Some(rel) = n
            .strip_prefix(&top)
            .and_then(|r| r.strip_prefix('/'))
            .map(str::to_string)
        else {
            if n == top && is_dir {
                continue;
            }
            return Err(Invalid::new(
                path,
                format!("zip entry {n:?} is outside the package's top folder {top:?}"),
            ));
        };
        // Parent folders exist even when the zip has no entries for them.
        let mut acc = String::new();
        let segs: Vec<&str> = rel.split('/').collect();
        for s in &segs[..segs.len() - 1] {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(s);
            dirs.insert(acc.clone());
        }
        if is_dir {
            dirs.insert(rel);
        } else {
            files.push((rel, false, size, Some(i)));
        }
    }
    for d in dirs {
        files.push((d, true, 0, None));
    }
    files.sort_by(|a, b| walk_cmp(&a.0, &b.0));
    for w in files.windows(2) {
        if w[0].0 == w[1].0 {
            return Err(Invalid::new(
                path,
                format!("zip entry {:?} appears twice", w[0].0),
            ));
        }
    }
    // Read every file once now, so a corrupt entry (bad checksum, more or fewer bytes than its
    // header says, which also defeats the size limit) makes the package invalid here rather
    // than failing, or being served as is, later.
    for (rel, _, size, i) in &files {
        let Some(i) = *i else { continue };
        let shown = path.join(&top).join(rel);
        let bad = |e: std::io::Error| Invalid::new(&shown, format!("cannot read from zip: {e}"));
        let f = z
            .by_index(i)
            .map_err(|e| Invalid::new(&shown, format!("cannot read from zip: {e}")))?;
        let n = std::io::copy(&mut f.take(limits.max_file_bytes + 1), &mut std::io::sink())
            .map_err(bad)?;
        if n > limits.max_file_bytes {
            return Err(Invalid::new(
                &shown,
                format!(
                    "zip entry holds more than {} bytes, over the limit",
                    limits.max_file_bytes
                ),
            ));
        }
        if n != *size {
            return Err(Invalid::new(
                &shown,
                format!("zip entry holds {n} bytes but its header says {size}"),
            ));
        }
    }
    let entries = files
        .iter()
        .map(|(p, d, s, _)| FsEntry {
            path: p.clone(),
            is_dir: *d,
            size: *s,
        })
        .collect();
    let index = files.iter().map(|f| f.3).collect();
    Ok(PackageFs {
        origin: Origin::Zip(path.to_path_buf()),
        entries,
        source: Source::Zip {
            bytes,
            archive: z,
            top,
            index,
        },
        limits,
    })
}

/// The first name that two central directory records share, if any (`start`: the offset of the
/// central directory).
fn duplicate_record(bytes: &[u8], start: usize) -> Option<String> {
    let mut names = BTreeSet::new();
    let mut i = start;
    while i + 46 <= bytes.len() && bytes[i..i + 4] == [0x50, 0x4b, 0x01, 0x02] {
        let at = |k: usize| u16::from_le_bytes([bytes[i + k], bytes[i + k + 1]]) as usize;
        let (n, extra, comment) = (at(28), at(30), at(32));
        let name = bytes.get(i + 46..i + 46 + n)?;
        if !names.insert(name) {
            return Some(String::from_utf8_lossy(name).into_owned());
        }
        i += 46 + n + extra + comment;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write_zip(path: &Path, entries: &[(&str, &[u8])]) {
        let f = fs::File::create(path).unwrap();
        let mut w = zip::ZipWriter::new(f);
        for (name, data) in entries {
            if name.ends_with('/') {
                w.add_directory(*name, zip::write::SimpleFileOptions::default())
                    .unwrap();
            } else {
                w.start_file(*name, zip::write::SimpleFileOptions::default())
                    .unwrap();
                w.write_all(data).unwrap();
            }
        }
        w.finish().unwrap();
    }

    #[test]
    fn lists_a_folder_sorted() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("b/c")).unwrap();
        fs::write(t.path().join("manifest.yml"), "x").unwrap();
        fs::write(t.path().join("b/c/d.txt"), "y").unwrap();
        let p = PackageFs::open(&Origin::Dir(t.path().into()), Limits::default()).unwrap();
        let names: Vec<_> = p.entries().iter().map(|e| e.path.as_str()).collect();
        assert_eq!(names, ["b", "b/c", "b/c/d.txt", "manifest.yml"]);
        fs::write(t.path().join("b.txt"), "z").unwrap();
        let p = PackageFs::open(&Origin::Dir(t.path().into()), Limits::default()).unwrap();
        let names: Vec<_> = p.entries().iter().map(|e| e.path.as_str()).collect();
        assert_eq!(names, ["b", "b/c", "b/c/d.txt", "b.txt", "manifest.yml"]);
        assert!(p.is_file("b.txt") && p.is_file("b/c/d.txt"));
        assert_eq!(p.read("b/c/d.txt").unwrap(), b"y");
        assert!(p.is_dir("b"));
    }

    #[test]
    fn refuses_symlink_out_of_the_package() {
        let t = tempfile::tempdir().unwrap();
        let pkg = t.path().join("pkg");
        fs::create_dir_all(&pkg).unwrap();
        fs::write(t.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(t.path().join("secret"), pkg.join("leak")).unwrap();
        let e = PackageFs::open(&Origin::Dir(pkg), Limits::default()).unwrap_err();
        assert!(e.reason.contains("outside the package"), "{e}");
    }

    #[test]
    fn refuses_symlink_loop() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("a")).unwrap();
        std::os::unix::fs::symlink(t.path().join("a"), t.path().join("a/self")).unwrap();
        let e = PackageFs::open(&Origin::Dir(t.path().into()), Limits::default()).unwrap_err();
        assert!(e.reason.contains("loop"), "{e}");
    }

    #[test]
    fn zip_root_and_synthesized_folders() {
        let t = tempfile::tempdir().unwrap();
        let z = t.path().join("x-1.0.0.zip");
        write_zip(
            &z,
            &[
                ("x-1.0.0/manifest.yml", b"m"),
                ("x-1.0.0/docs/README.md", b"r"),
            ],
        );
        let p = PackageFs::open(&Origin::Zip(z), Limits::default()).unwrap();
        let names: Vec<_> = p.entries().iter().map(|e| e.path.as_str()).collect();
        assert_eq!(names, ["docs", "docs/README.md", "manifest.yml"]);
        assert_eq!(p.read("docs/README.md").unwrap(), b"r");
        assert_eq!(p.zip_top(), Some("x-1.0.0"));
    }

    #[test]
    fn zip_slip_and_stray_entries_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let z = t.path().join("x-1.0.0.zip");
        write_zip(
            &z,
            &[("x-1.0.0/manifest.yml", b"m"), ("x-1.0.0/../../evil", b"e")],
        );
        assert!(PackageFs::open(&Origin::Zip(z.clone()), Limits::default())
            .unwrap_err()
            .reason
            .contains(".."));
        write_zip(&z, &[("x-1.0.0/manifest.yml", b"m"), ("other/file", b"e")]);
        assert!(PackageFs::open(&Origin::Zip(z.clone()), Limits::default())
            .unwrap_err()
            .reason
            .contains("outside"));
        fs::write(&z, b"not a zip").unwrap();
        assert!(PackageFs::open(&Origin::Zip(z), Limits::default())
            .unwrap_err()
            .reason
            .contains("not a valid zip"));
    }

    #[test]
    fn size_limit() {
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join("big"), vec![0u8; 100]).unwrap();
        let e = PackageFs::open(
            &Origin::Dir(t.path().into()),
            Limits {
                max_file_bytes: 10,
                ..Limits::default()
            },
        )
        .unwrap_err();
        assert!(e.reason.contains("over the limit"), "{e}");
    }
}
