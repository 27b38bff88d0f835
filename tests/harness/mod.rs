//! Helpers of the reliability tests (bad inputs, atomicity, serving during rebuilds): write
//! small packages, hand-made zips (so a test controls every byte, bad names included), take a
//! byte-exact snapshot of an output tree, and run the binary with a time limit.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_eprgen"))
}

/// A manifest.yml that eprgen accepts, with `extra` lines appended.
pub fn manifest(name: &str, version: &str, extra: &str) -> String {
    format!(
        "format_version: 3.0.0\nname: {name}\ntitle: {name} title\nversion: {version}\n\
         description: the {name} package\ntype: integration\n{extra}"
    )
}

/// Write files under `root` (folders made as needed).
pub fn write_files(root: &Path, files: &[(&str, &[u8])]) {
    for (rel, body) in files {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    }
}

/// A valid folder package `<src>/<name>/<version>/` (manifest, readme, an icon); returns it.
pub fn good_package(src: &Path, name: &str, version: &str) -> PathBuf {
    let dir = src.join(name).join(version);
    let m = manifest(
        name,
        version,
        "icons:\n  - src: /img/icon.svg\n    type: image/svg+xml\n",
    );
    write_files(
        &dir,
        &[
            ("manifest.yml", m.as_bytes()),
            ("docs/README.md", format!("# {name}\n").as_bytes()),
            (
                "img/icon.svg",
                b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            ),
        ],
    );
    dir
}

/// A valid package's files as zip entries under `<name>-<version>/`.
pub fn good_zip_entries(name: &str, version: &str) -> Vec<ZipEntry> {
    let top = format!("{name}-{version}");
    vec![
        ZipEntry::file(
            &format!("{top}/manifest.yml"),
            manifest(name, version, "").as_bytes(),
        ),
        ZipEntry::file(&format!("{top}/docs/README.md"), b"# readme\n"),
    ]
}

// ---------------------------------------------------------------------------------------------
// A tiny zip writer: stored entries only, every field under the test's control.

/// One entry of a hand-made zip.
#[derive(Debug, Clone)]
pub struct ZipEntry {
    /// Raw name bytes (need not be UTF-8).
    pub name: Vec<u8>,
    pub data: Vec<u8>,
    /// Unix mode recorded in the central directory (`0o100644` for a file).
    pub mode: u32,
    /// Uncompressed size to declare, when it should differ from the data's length.
    pub declared_size: Option<u32>,
    /// CRC-32 to declare, when it should be wrong.
    pub declared_crc: Option<u32>,
}

impl ZipEntry {
    pub fn file(name: &str, data: &[u8]) -> ZipEntry {
        ZipEntry {
            name: name.as_bytes().to_vec(),
            data: data.to_vec(),
            mode: 0o100644,
            declared_size: None,
            declared_crc: None,
        }
    }

    pub fn dir(name: &str) -> ZipEntry {
        ZipEntry {
            mode: 0o040755,
            ..ZipEntry::file(name, b"")
        }
    }

    pub fn symlink(name: &str, target: &str) -> ZipEntry {
        ZipEntry {
            mode: 0o120777,
            ..ZipEntry::file(name, target.as_bytes())
        }
    }

    pub fn raw_name(name: &[u8], data: &[u8]) -> ZipEntry {
        ZipEntry {
            name: name.to_vec(),
            ..ZipEntry::file("", data)
        }
    }
}

pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The bytes of a zip holding `entries` (stored, no compression, DOS epoch times).
pub fn zip_bytes(entries: &[ZipEntry]) -> Vec<u8> {
    fn u16le(v: &mut Vec<u8>, x: u16) {
        v.extend_from_slice(&x.to_le_bytes());
    }
    fn u32le(v: &mut Vec<u8>, x: u32) {
        v.extend_from_slice(&x.to_le_bytes());
    }
    let mut out = Vec::new();
    let mut central = Vec::new();
    for e in entries {
        let offset = out.len() as u32;
        let crc = e.declared_crc.unwrap_or_else(|| crc32(&e.data));
        let size = e.data.len() as u32;
        let usize_ = e.declared_size.unwrap_or(size);
        let utf8 = std::str::from_utf8(&e.name).is_ok();
        let flags: u16 = if utf8 { 1 << 11 } else { 0 };
        // Local file header.
        u32le(&mut out, 0x0403_4b50);
        u16le(&mut out, 20);
        u16le(&mut out, flags);
        u16le(&mut out, 0); // stored
        u16le(&mut out, 0); // time 00:00:00
        u16le(&mut out, 0x21); // date 1980-01-01
        u32le(&mut out, crc);
        u32le(&mut out, size);
        u32le(&mut out, usize_);
        u16le(&mut out, e.name.len() as u16);
        u16le(&mut out, 0);
        out.extend_from_slice(&e.name);
        out.extend_from_slice(&e.data);
        // Central directory header.
        u32le(&mut central, 0x0201_4b50);
        u16le(&mut central, (3 << 8) | 20); // made by Unix, so the mode counts
        u16le(&mut central, 20);
        u16le(&mut central, flags);
        u16le(&mut central, 0);
        u16le(&mut central, 0);
        u16le(&mut central, 0x21);
        u32le(&mut central, crc);
        u32le(&mut central, size);
        u32le(&mut central, usize_);
        u16le(&mut central, e.name.len() as u16);
        u16le(&mut central, 0);
        u16le(&mut central, 0);
        u16le(&mut central, 0);
        u16le(&mut central, 0);
        u32le(&mut central, e.mode << 16);
        u32le(&mut central, offset);
        central.extend_from_slice(&e.name);
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    u32le(&mut out, 0x0605_4b50);
    u16le(&mut out, 0);
    u16le(&mut out, 0);
    u16le(&mut out, entries.len() as u16);
    u16le(&mut out, entries.len() as u16);
    u32le(&mut out, central.len() as u32);
    u32le(&mut out, cd_offset);
    u16le(&mut out, 0);
    out
}

// ---------------------------------------------------------------------------------------------
// Tree snapshots

/// Everything under `dir`, byte for byte: each path (not following symlinks) with its kind and
/// the blake3 of its contents or its link target; then, under `<link>/…`, the tree each symlink
/// to a folder leads to (followed once), so "the tree served through `public`" is in it too.
pub fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(dir, "", &mut out, true);
    out
}

fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>, follow: bool) {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap())
        .collect();
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let ft = e.file_type().unwrap();
        let path = e.path();
        if ft.is_symlink() {
            let target = fs::read_link(&path).unwrap();
            out.insert(rel.clone(), format!("link {}", target.display()));
            if follow && path.is_dir() {
                walk(&path, &format!("{rel}@"), out, false);
            }
        } else if ft.is_dir() {
            out.insert(rel.clone(), "dir".into());
            walk(&path, &rel, out, follow);
        } else {
            let bytes = fs::read(&path).unwrap();
            out.insert(rel, format!("file {}", blake3::hash(&bytes).to_hex()));
        }
    }
}

/// Assert two snapshots are equal, naming the first paths that differ.
pub fn assert_same_tree(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) {
    if before == after {
        return;
    }
    let mut diff = Vec::new();
    for (k, v) in before {
        match after.get(k) {
            None => diff.push(format!("- {k} ({v})")),
            Some(w) if w != v => diff.push(format!("~ {k} ({v} -> {w})")),
            _ => {}
        }
    }
    for (k, v) in after {
        if !before.contains_key(k) {
            diff.push(format!("+ {k} ({v})"));
        }
    }
    diff.truncate(20);
    panic!("output tree changed:\n{}", diff.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Running the binary

/// Every build of these tests uses one build time, so the same inputs give the same tree (and
/// build id) whenever they are built.
pub const SOURCE_DATE_EPOCH: &str = "1700000000";

/// Run eprgen with a time limit; a run that takes longer is killed and the test fails. `limit_vm`
/// caps the address space (KiB) through `ulimit -v`, so a run that eats memory fails.
pub fn run_limited(args: &[&str], limit: Duration, limit_vm: Option<u64>) -> Output {
    let mut cmd = match limit_vm {
        Some(kib) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
                .arg(bin());
            c
        }
        None => Command::new(bin()),
    };
    let mut child = cmd
        .args(args)
        .env("EPRGEN_LOG", "error")
        .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run eprgen");
    // Drain the pipes on threads so a chatty child never blocks.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let to = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let te = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("eprgen {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: to.join().unwrap(),
        stderr: te.join().unwrap(),
    }
}

/// Run eprgen (30 s limit).
pub fn run(args: &[&str]) -> Output {
    run_limited(args, Duration::from_secs(30), None)
}

/// `eprgen build --quiet --source SRC... --out OUT [extra...]`.
pub fn build_args(sources: &[&Path], out: &Path, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec!["build".into(), "--quiet".into()];
    for s in sources {
        v.push("--source".into());
        v.push(s.display().to_string());
    }
    v.push("--out".into());
    v.push(out.display().to_string());
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

pub fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Build and require success.
pub fn build_ok(sources: &[&Path], out: &Path, extra: &[&str]) {
    let args = build_args(sources, out, extra);
    let o = run(&strs(&args));
    assert!(
        o.status.success(),
        "build failed ({:?}):\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A zip with deflated entries (through the zip crate), as `(name, data)`.
pub fn deflated_zip_bytes(entries: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Make the entry `name` declare `size` uncompressed bytes, in its central directory record and
/// its local header (a zip bomb's lie).
pub fn patch_declared_size(zip: &mut [u8], name: &str, size: u32) {
    let mut i = 0;
    while i + 46 <= zip.len() {
        if zip[i..i + 4] == [0x50, 0x4b, 0x01, 0x02] {
            let n = u16::from_le_bytes([zip[i + 28], zip[i + 29]]) as usize;
            if &zip[i + 46..i + 46 + n] == name.as_bytes() {
                zip[i + 24..i + 28].copy_from_slice(&size.to_le_bytes());
                let local = u32::from_le_bytes(zip[i + 42..i + 46].try_into().unwrap()) as usize;
                zip[local + 22..local + 26].copy_from_slice(&size.to_le_bytes());
                return;
            }
        }
        i += 1;
    }
    panic!("no entry {name} in the zip");
}

/// `n` small but complete packages `pkg_<i>/1.<v>.0` in `src` (folders of five files, a data
/// stream, varied categories and Kibana conditions). `variant` changes every package, so
/// two variants give two different trees.
pub fn many_packages(src: &Path, n: usize, variant: u32) {
    const FIELDS: &str = "- name: data_stream.type\n  type: constant_keyword\n- name: data_stream.dataset\n  type: constant_keyword\n- name: data_stream.namespace\n  type: constant_keyword\n- name: '@timestamp'\n  type: date\n";
    let cats = [
        "web",
        "security",
        "observability",
        "network",
        "cloud",
        "database",
    ];
    for i in 0..n {
        let name = format!("pkg_{i:04}");
        let version = format!("1.{}.0", variant);
        let kibana = format!("^8.{}.0", i % 7);
        let extra = format!(
            "categories: [{}]\nconditions:\n  kibana.version: '{kibana}'\n",
            cats[i % cats.len()]
        );
        let dir = src.join(&name).join(&version);
        let m = manifest(&name, &version, &extra);
        let readme = format!("# {name} {variant}\n\n{}\n", "lorem ipsum ".repeat(50));
        let ds = format!("type: logs\ntitle: {name} logs\n");
        let pad = vec![b'a' + (i % 26) as u8; 2048 + variant as usize];
        write_files(
            &dir,
            &[
                ("manifest.yml", m.as_bytes()),
                ("docs/README.md", readme.as_bytes()),
                ("kibana/dashboard/overview.json", &pad),
                ("data_stream/logs/manifest.yml", ds.as_bytes()),
                ("data_stream/logs/fields/base.yml", FIELDS.as_bytes()),
            ],
        );
    }
}
