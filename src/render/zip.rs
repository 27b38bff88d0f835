//! Deterministic package zips: the same package folder gives the same bytes on any machine.
//! Entries are `<name>-<version>/<path>` in walk order (folders as `dir/` entries before their
//! contents, no root entry, as EPR's archiver writes them), with the DOS epoch as time, fixed
//! permissions, deflate at one level and no extra fields.

use std::io::{self, Seek, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::package::fs::PackageFs;

/// Write the zip of a folder package, in the order of its listing. `read` gives a file's bytes
/// by relative path, one at a time (never the whole package): the build reads the copies it
/// just put in the tree, so the zip holds exactly the files served, and the input is read once.
pub fn write_package_zip<W: Write + Seek>(
    out: W,
    pkg: &PackageFs,
    top: &str,
    read: &dyn Fn(&str) -> io::Result<Vec<u8>>,
) -> io::Result<()> {
    let mut z = ZipWriter::new(out);
    let base = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(6))
        .last_modified_time(DateTime::default());
    for e in pkg.entries() {
        let name = format!("{top}/{}", e.path);
        if e.is_dir {
            z.add_directory(format!("{name}/"), base.unix_permissions(0o755))
                .map_err(io::Error::other)?;
        } else {
            let data = read(&e.path)?;
            let opts = base
                .unix_permissions(0o644)
                .large_file(data.len() as u64 >= u32::MAX as u64);
            z.start_file(name, opts).map_err(io::Error::other)?;
            z.write_all(&data)?;
        }
    }
    z.finish().map_err(io::Error::other)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::fs::{Limits, Origin};
    use std::fs;
    use std::io::Cursor;

    fn build(dir: &std::path::Path) -> Vec<u8> {
        let p = PackageFs::open(&Origin::Dir(dir.into()), Limits::default()).unwrap();
        let mut buf = Cursor::new(Vec::new());
        let read = |rel: &str| p.read(rel).map_err(|i| io::Error::other(i.to_string()));
        write_package_zip(&mut buf, &p, "pkg-1.0.0", &read).unwrap();
        buf.into_inner()
    }

    #[test]
    fn same_input_same_bytes_and_walk_order() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("a")).unwrap();
        fs::write(t.path().join("a/b.txt"), "b").unwrap();
        fs::write(t.path().join("a.txt"), "a").unwrap();
        fs::write(t.path().join("manifest.yml"), "m").unwrap();
        let one = build(t.path());
        // Different mtimes and permissions must not change the bytes.
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(t.path().join("a.txt"), "a").unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(t.path().join("a.txt"), fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(one, build(t.path()));
        let z = zip::ZipArchive::new(Cursor::new(one)).unwrap();
        let names: Vec<_> = z.file_names().collect();
        assert_eq!(
            names,
            [
                "pkg-1.0.0/a/",
                "pkg-1.0.0/a/b.txt",
                "pkg-1.0.0/a.txt",
                "pkg-1.0.0/manifest.yml"
            ]
        );
    }
}
