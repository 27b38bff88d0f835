//! Bad-input corpus (issue 7). Every input is generated here; nothing binary is committed.
//!
//! Each case builds a good tree first (one valid package), then adds one bad input to the same
//! source folder and builds again into the same `--out`. It checks that the build
//! - exits with 1 (invalid packages),
//! - names the offending file and the reason on one line (`path: reason`),
//! - leaves the previous output byte for byte as it was (the whole folder beside `--out`,
//!   links, staging and build folders included, and the tree seen through the `public` link),
//! - finishes within a time limit and under a 1 GiB address-space limit (so YAML and zip bombs
//!   fail fast instead of hanging or eating memory).
//!
//! Cases by kind (105 in all):
//! - malformed YAML: 5 (unclosed flow, bad indentation, unterminated string, conflicting dotted
//!   keys, non-string key)
//! - YAML bombs: 8 (billion laughs with lists, with maps, quadratic alias fan-out, merge-key
//!   fan-out, alias bomb in a data stream manifest, deep nesting, deep dotted key, oversized
//!   YAML text)
//! - empty or non-mapping manifest: 5 (empty file, comments only, null, list, scalar)
//! - wrong field types: 8 (name, version, categories, conditions, screenshot src, multiple,
//!   kibana constraint type, manifest not UTF-8)
//! - missing manifest or readme: 4 (no manifest.yml, manifest.yml is a folder, zip without
//!   manifest, no docs/README.md)
//! - name or version not matching the folder or zip name: 5 (folder name, folder version, zip
//!   name, zip version, zip top folder)
//! - versions that are not semver: 5 (folder, manifest version, leading zero, format_version,
//!   zip file name)
//! - invalid kibana/agent constraints: 4 (kibana garbage, kibana dangling `||`, agent garbage,
//!   agent bad operator)
//! - not a zip / truncated zip: 5 (text, empty file, first half, last bytes cut, corrupt
//!   central directory)
//! - zip-slip and absolute entries: 5 (`top/../../x`, `../x`, `/etc/x`, `top\..\x`, `C:/x`)
//! - zip entries outside the package's top folder: 2 (other folder, stray root file)
//! - other bad zip entries: 6 (symlink entry, non-UTF-8 name, duplicate entry, wrong CRC of a
//!   parsed file, wrong CRC of a file only copied, entry size not the header's)
//! - symlinks out of the package: 7 (file, folder, relative file, sibling package, package
//!   folder is a link, name folder is a link, zip package is a link)
//! - symlink loops and broken links: 3 (two-link loop, folder containing itself, dangling)
//! - non-UTF-8 file names: 3 (file in a package, name folder, version folder)
//! - icons/screenshots: 6 (screenshot out of the package, icon missing, screenshot missing, icon
//!   is a folder, policy template icon out of the package, absolute host path)
//! - very large files: 5 (folder file, manifest itself, zip entry, deflated zip entry lying
//!   about its size, zip file itself)
//! - broken data stream manifest: 5 (bad YAML, not a map, wrong field type, bad type value,
//!   missing required fields)
//! - duplicate name+version within one stage: 2 (--source folder, --packages stage folder)
//! - other layout errors: 4 (zip name without version, stray file in a name folder, orphan
//!   signature, FIFO in a package)
//! - issue 17: 8 (ingest pipeline YAML with 150 KB of `[`, a 30 MB pipeline, package names
//!   with capitals, a dot, a dash; a folder and a zip over --max-package-size, a zip bomb by
//!   compression ratio)
//!
//! Plus `--skip-invalid` (builds without them, lists them, exits 0), "every problem is
//! listed in one run", and a catalog with more capabilities than `--materialize all` can list
//! (a usage error, exit 2).

mod harness;

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use harness::*;

/// A case's scratch space: the source folder (already holding the valid package `good`), and a
/// folder beside it with a secret that must never reach the tree.
struct Ctx {
    src: PathBuf,
    outside: PathBuf,
}

/// What the failing build must say: a line holding `path: ` and `reason`.
struct Expect {
    path: PathBuf,
    reason: String,
    args: Vec<String>,
    /// Where inputs come from: `--source src` (default) or `--packages DIR`.
    packages: Option<PathBuf>,
}

fn expect(path: impl Into<PathBuf>, reason: &str) -> Expect {
    Expect {
        path: path.into(),
        reason: reason.to_string(),
        args: Vec::new(),
        packages: None,
    }
}

impl Expect {
    fn with(mut self, args: &[&str]) -> Expect {
        self.args.extend(args.iter().map(|s| s.to_string()));
        self
    }
}

impl Ctx {
    /// A valid package `<name>/1.0.0` in the source folder.
    fn pkg(&self, name: &str) -> PathBuf {
        good_package(&self.src, name, "1.0.0")
    }

    /// Package `bad/1.0.0` with this manifest; returns the manifest's path.
    fn bad_manifest(&self, text: impl AsRef<[u8]>) -> PathBuf {
        let dir = self.pkg("bad");
        let m = dir.join("manifest.yml");
        fs::write(&m, text).unwrap();
        m
    }

    /// Package `bad/1.0.0` with `extra` appended to a valid manifest.
    fn bad_extra(&self, extra: &str) -> PathBuf {
        self.bad_manifest(manifest("bad", "1.0.0", extra))
    }

    /// A zip package file in the source folder.
    fn zip(&self, file: &str, entries: &[ZipEntry]) -> PathBuf {
        let p = self.src.join(file);
        fs::write(&p, zip_bytes(entries)).unwrap();
        p
    }

    /// `bad-1.0.0.zip` holding a valid package plus `more` entries.
    fn bad_zip(&self, more: Vec<ZipEntry>) -> PathBuf {
        let mut e = good_zip_entries("bad", "1.0.0");
        e.extend(more);
        self.zip("bad-1.0.0.zip", &e)
    }

    /// A data stream `ds` in package `bad` with this manifest; returns the manifest's path.
    fn bad_data_stream(&self, text: &str) -> PathBuf {
        let dir = self.pkg("bad");
        write_files(
            &dir,
            &[
                ("data_stream/ds/manifest.yml", text.as_bytes()),
                ("data_stream/ds/fields/base.yml", FIELDS.as_bytes()),
            ],
        );
        dir.join("data_stream/ds/manifest.yml")
    }
}

const FIELDS: &str = "- name: data_stream.type\n  type: constant_keyword\n- name: data_stream.dataset\n  type: constant_keyword\n- name: data_stream.namespace\n  type: constant_keyword\n- name: '@timestamp'\n  type: date\n";

/// 1 GiB of address space is plenty for these builds (`-j 2`), and far below what any of the
/// bombs would take.
const VM_LIMIT_KIB: u64 = 1024 * 1024;
const TIME_LIMIT: Duration = Duration::from_secs(20);

fn run_case(setup: impl FnOnce(&Ctx) -> Expect) {
    let t = tempfile::tempdir().unwrap();
    let ctx = Ctx {
        src: t.path().join("src"),
        outside: t.path().join("outside"),
    };
    fs::create_dir_all(&ctx.src).unwrap();
    write_files(
        &ctx.outside,
        &[
            ("secret.txt", b"TOP SECRET"),
            ("dir/secret.txt", b"TOP SECRET"),
        ],
    );
    ctx.pkg("good");
    let out_home = t.path().join("o");
    fs::create_dir_all(&out_home).unwrap();
    let out = out_home.join("public");
    build_ok(&[&ctx.src], &out, &[]);
    let before = snapshot(&out_home);
    assert!(before.contains_key("public@/package/good/1.0.0/manifest.yml"));

    let exp = setup(&ctx);
    let mut args = match &exp.packages {
        None => build_args(&[&ctx.src], &out, &["-j", "2"]),
        Some(dir) => {
            let mut v = build_args(&[], &out, &["-j", "2", "--packages"]);
            v.push(dir.display().to_string());
            v
        }
    };
    args.extend(exp.args.iter().cloned());
    let started = Instant::now();
    let o = run_limited(&strs(&args), TIME_LIMIT, Some(VM_LIMIT_KIB));
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected exit 1 (invalid packages), got {:?}:\n{stderr}",
        o.status
    );
    assert!(
        stderr.contains("invalid package(s):"),
        "no list of invalid packages:\n{stderr}"
    );
    let at = format!("{}: ", exp.path.display());
    assert!(
        stderr
            .lines()
            .any(|l| l.contains(&at) && l.contains(&exp.reason)),
        "no line naming {at:?} with reason {:?}:\n{stderr}",
        exp.reason
    );
    assert!(
        !stderr.contains("TOP SECRET"),
        "the secret leaked into the message"
    );
    assert!(took < TIME_LIMIT, "took {took:?}");
    assert_same_tree(&before, &snapshot(&out_home));
}

macro_rules! cases {
    ($($name:ident: $setup:expr;)*) => {
        $(
            #[test]
            fn $name() {
                run_case($setup);
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------
// Malformed YAML

cases! {
    yaml_unclosed_flow: |c| expect(c.bad_manifest("name: [bad\n"), "invalid YAML");
    yaml_bad_indentation: |c| expect(
        c.bad_manifest("name: bad\n  title: x\n version: 1.0.0\n"),
        "invalid YAML",
    );
    yaml_unterminated_string: |c| expect(
        c.bad_manifest(manifest("bad", "1.0.0", "owner:\n  github: \"abc\n")),
        "invalid YAML",
    );
    yaml_conflicting_dotted_keys: |c| expect(
        c.bad_extra("conditions.kibana.version: ^8.0.0\nconditions:\n  kibana.version: ^7.0.0\n"),
        "duplicate key `conditions.kibana.version`",
    );
    yaml_non_string_key: |c| expect(c.bad_extra("1: one\n"), "is not a string");
}

// ---------------------------------------------------------------------------------------------
// YAML bombs: must fail fast and small (see VM_LIMIT_KIB, TIME_LIMIT).

/// The classic: 9 levels of 9 references, 9^9 strings once expanded.
fn billion_laughs(list: bool) -> String {
    let mut s = String::from("lol0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let refs: Vec<String> = (0..9)
            .map(|k| {
                if list {
                    format!("*a{}", i - 1)
                } else {
                    format!("k{k}: *a{}", i - 1)
                }
            })
            .collect();
        let (open, close) = if list { ("[", "]") } else { ("{", "}") };
        s.push_str(&format!("lol{i}: &a{i} {open}{}{close}\n", refs.join(", ")));
    }
    s
}

/// One big anchored list referenced many times: few references, so the YAML parser's own
/// repetition limit does not trigger, yet 200 million values once expanded.
fn alias_fan_out(n: usize, m: usize) -> String {
    let mut s = format!("big: &big [{}]\n", vec!["x"; n].join(","));
    s.push_str(&format!("refs: [{}]\n", vec!["*big"; m].join(",")));
    s
}

cases! {
    yaml_billion_laughs_lists: |c| expect(
        c.bad_manifest(manifest("bad", "1.0.0", &billion_laughs(true))),
        "invalid YAML: repetition limit exceeded",
    );
    yaml_billion_laughs_maps: |c| expect(
        c.bad_manifest(manifest("bad", "1.0.0", &billion_laughs(false))),
        "invalid YAML: repetition limit exceeded",
    );
    yaml_alias_fan_out: |c| expect(
        c.bad_manifest(manifest("bad", "1.0.0", &alias_fan_out(20_000, 10_000))),
        "more than 1000000 values once aliases are expanded",
    );
    yaml_merge_key_fan_out: |c| {
        let keys: Vec<String> = (0..20_000).map(|i| format!("k{i}: {i}")).collect();
        let mut s = format!("base: &base {{{}}}\nmany:\n", keys.join(", "));
        for i in 0..10_000 {
            s.push_str(&format!("  - {{<<: *base, id: {i}}}\n"));
        }
        expect(
            c.bad_manifest(manifest("bad", "1.0.0", &s)),
            "more than 1000000 values once aliases are expanded",
        )
    };
    yaml_alias_bomb_in_data_stream: |c| {
        let m = format!("type: logs\ntitle: T\n{}", alias_fan_out(20_000, 10_000));
        expect(c.bad_data_stream(&m), "more than 1000000 values once aliases are expanded")
    };
    yaml_deep_nesting: |c| expect(
        c.bad_manifest(format!("deep: {}{}\n", "[".repeat(100_000), "]".repeat(100_000))),
        "recursion limit exceeded",
    );
    yaml_deep_dotted_key: |c| expect(
        // An explicit key has no length limit; 200,000 dotted parts would nest as deep.
        c.bad_extra(&format!("? a{}\n: 1\n", ".a".repeat(200_000))),
        "nested more than 256 levels deep once dotted keys are expanded",
    );
    yaml_oversized_text: |c| {
        let mut s = manifest("bad", "1.0.0", "vars:\n");
        while s.len() <= 17 << 20 {
            s.push_str("  - {name: v, type: text, title: t}\n");
        }
        expect(c.bad_manifest(s), "over the limit of 4194304 bytes for YAML")
    };
}

// ---------------------------------------------------------------------------------------------
// Empty or non-mapping manifest

cases! {
    manifest_empty_file: |c| expect(c.bad_manifest(""), "is not a YAML map");
    manifest_comments_only: |c| expect(c.bad_manifest("# nothing here\n"), "is not a YAML map");
    manifest_null: |c| expect(c.bad_manifest("~\n"), "is not a YAML map");
    manifest_list: |c| expect(c.bad_manifest("- name: bad\n- version: 1.0.0\n"), "is not a YAML map");
    manifest_scalar: |c| expect(c.bad_manifest("just some text\n"), "is not a YAML map");
}

// ---------------------------------------------------------------------------------------------
// Wrong field types

cases! {
    type_name_list: |c| expect(
        c.bad_manifest(manifest("bad", "1.0.0", "").replace("name: bad", "name: [bad]")),
        "name: expected a string, found a list",
    );
    type_version_map: |c| expect(
        c.bad_manifest(manifest("bad", "1.0.0", "").replace("version: 1.0.0", "version: {v: 1}")),
        "version: expected a string, found a map",
    );
    type_categories_map: |c| expect(
        c.bad_extra("categories: {web: true}\n"),
        "categories: expected a list, found a map",
    );
    type_conditions_number: |c| expect(
        c.bad_extra("conditions: 5\n"),
        "conditions: expected a map, found a number",
    );
    type_screenshot_src_map: |c| expect(
        c.bad_extra("screenshots:\n  - src: {path: /img/icon.svg}\n"),
        "screenshots.0.src: expected a string, found a map",
    );
    type_multiple_not_bool: |c| expect(
        c.bad_extra("policy_templates:\n  - name: t\n    title: T\n    description: d\n    multiple: maybe\n"),
        "policy_templates.0.multiple: expected a boolean",
    );
    type_kibana_constraint_list: |c| expect(
        c.bad_extra("conditions:\n  kibana:\n    version: [8.0.0]\n"),
        "conditions.kibana.version: expected a string, found a list",
    );
    type_manifest_not_utf8: |c| {
        let mut m = manifest("bad", "1.0.0", "").into_bytes();
        m.extend_from_slice(b"owner: {github: \xff\xfe}\n");
        expect(c.bad_manifest(m), "is not valid UTF-8")
    };
}

// ---------------------------------------------------------------------------------------------
// Missing manifest or readme

cases! {
    missing_manifest: |c| {
        let dir = c.pkg("bad");
        fs::remove_file(dir.join("manifest.yml")).unwrap();
        expect(dir.join("manifest.yml"), "missing manifest.yml")
    };
    manifest_is_a_folder: |c| {
        let dir = c.pkg("bad");
        fs::remove_file(dir.join("manifest.yml")).unwrap();
        fs::create_dir(dir.join("manifest.yml")).unwrap();
        expect(dir.join("manifest.yml"), "missing manifest.yml")
    };
    missing_manifest_in_zip: |c| {
        let z = c.zip(
            "bad-1.0.0.zip",
            &[ZipEntry::file("bad-1.0.0/docs/README.md", b"# r\n")],
        );
        expect(z, "zip has no top folder holding manifest.yml")
    };
    missing_readme: |c| {
        let dir = c.pkg("bad");
        fs::remove_file(dir.join("docs/README.md")).unwrap();
        expect(dir.join("docs/README.md"), "is missing")
    };
}

// ---------------------------------------------------------------------------------------------
// Name or version not matching the folder or zip name

cases! {
    name_differs_from_folder: |c| expect(
        c.bad_manifest(manifest("other", "1.0.0", "")),
        "name \"other\" does not match",
    );
    version_differs_from_folder: |c| expect(
        c.bad_manifest(manifest("bad", "1.0.1", "")),
        "version \"1.0.1\" does not match",
    );
    name_differs_from_zip: |c| {
        let z = c.zip(
            "bad-1.0.0.zip",
            &[
                ZipEntry::file("bad-1.0.0/manifest.yml", manifest("other", "1.0.0", "").as_bytes()),
                ZipEntry::file("bad-1.0.0/docs/README.md", b"# r\n"),
            ],
        );
        expect(z.join("bad-1.0.0/manifest.yml"), "name \"other\" does not match")
    };
    version_differs_from_zip: |c| {
        let z = c.zip(
            "bad-1.0.0.zip",
            &[
                ZipEntry::file("bad-1.0.0/manifest.yml", manifest("bad", "2.0.0", "").as_bytes()),
                ZipEntry::file("bad-1.0.0/docs/README.md", b"# r\n"),
            ],
        );
        expect(z.join("bad-1.0.0/manifest.yml"), "version \"2.0.0\" does not match")
    };
    zip_top_folder_differs: |c| {
        let z = c.zip(
            "bad-1.0.0.zip",
            &[
                ZipEntry::file("other-1.0.0/manifest.yml", manifest("bad", "1.0.0", "").as_bytes()),
                ZipEntry::file("other-1.0.0/docs/README.md", b"# r\n"),
            ],
        );
        expect(z, "top folder \"other-1.0.0\" in the zip should be \"bad-1.0.0\"")
    };
}

// ---------------------------------------------------------------------------------------------
// Versions that are not semver

cases! {
    folder_version_not_semver: |c| {
        let dir = good_package(&c.src, "bad", "latest");
        fs::write(dir.join("manifest.yml"), manifest("bad", "1.0.0", "")).unwrap();
        expect(dir, "\"latest\" is not a valid semantic version")
    };
    manifest_version_not_semver: |c| {
        let dir = good_package(&c.src, "bad", "1.0.0.0");
        let m = dir.join("manifest.yml");
        fs::write(&m, manifest("bad", "'1.0.0.0'", "")).unwrap();
        expect(m, "version \"1.0.0.0\" is not a semantic version")
    };
    version_leading_zero: |c| {
        let dir = good_package(&c.src, "bad", "01.0.0");
        let m = dir.join("manifest.yml");
        fs::write(&m, manifest("bad", "01.0.0", "")).unwrap();
        expect(m, "version \"01.0.0\" is not a semantic version")
    };
    format_version_not_semver: |c| expect(
        c.bad_manifest(manifest("bad", "1.0.0", "").replace("format_version: 3.0.0", "format_version: three")),
        "format_version \"three\" is not a semantic version",
    );
    zip_file_version_not_semver: |c| {
        let z = c.zip(
            "bad-latest.zip",
            &[
                ZipEntry::file("bad-latest/manifest.yml", manifest("bad", "1.0.0", "").as_bytes()),
                ZipEntry::file("bad-latest/docs/README.md", b"# r\n"),
            ],
        );
        expect(z, "\"latest\" is not a valid semantic version")
    };
}

// ---------------------------------------------------------------------------------------------
// Invalid kibana/agent constraints

cases! {
    kibana_constraint_garbage: |c| expect(
        c.bad_extra("conditions:\n  kibana.version: not a constraint\n"),
        "conditions.kibana.version \"not a constraint\" is not a valid constraint",
    );
    kibana_constraint_dangling_or: |c| expect(
        c.bad_extra("conditions:\n  kibana.version: '^8.0.0 ||'\n"),
        "conditions.kibana.version \"^8.0.0 ||\" is not a valid constraint",
    );
    agent_constraint_garbage: |c| expect(
        c.bad_extra("conditions:\n  agent.version: eight\n"),
        "conditions.agent.version \"eight\" is not a valid constraint",
    );
    agent_constraint_bad_operator: |c| expect(
        c.bad_extra("conditions:\n  agent.version: '>>8.0.0'\n"),
        "conditions.agent.version \">>8.0.0\" is not a valid constraint",
    );
}

// ---------------------------------------------------------------------------------------------
// Not a zip, truncated zip

fn good_zip() -> Vec<u8> {
    zip_bytes(&good_zip_entries("bad", "1.0.0"))
}

cases! {
    zip_is_text: |c| {
        let z = c.src.join("bad-1.0.0.zip");
        fs::write(&z, "this is not a zip\n").unwrap();
        expect(z, "not a valid zip archive")
    };
    zip_is_empty: |c| {
        let z = c.src.join("bad-1.0.0.zip");
        fs::write(&z, "").unwrap();
        expect(z, "not a valid zip archive")
    };
    zip_truncated_half: |c| {
        let z = c.src.join("bad-1.0.0.zip");
        let b = good_zip();
        fs::write(&z, &b[..b.len() / 2]).unwrap();
        expect(z, "not a valid zip archive")
    };
    zip_truncated_end: |c| {
        let z = c.src.join("bad-1.0.0.zip");
        let b = good_zip();
        fs::write(&z, &b[..b.len() - 10]).unwrap();
        expect(z, "not a valid zip archive")
    };
    zip_corrupt_central_directory: |c| {
        let z = c.src.join("bad-1.0.0.zip");
        let mut b = good_zip();
        // The central directory's first signature byte.
        let cd = u32::from_le_bytes(b[b.len() - 6..b.len() - 2].try_into().unwrap()) as usize;
        b[cd] ^= 0xff;
        fs::write(&z, &b).unwrap();
        expect(z, "zip")
    };
}

// ---------------------------------------------------------------------------------------------
// Zip-slip, absolute paths, entries outside the top folder, other bad entries

cases! {
    zip_slip_inside_top: |c| expect(
        c.bad_zip(vec![ZipEntry::file("bad-1.0.0/../../evil.sh", b"x")]),
        "points outside the archive",
    );
    zip_slip_at_root: |c| expect(
        c.bad_zip(vec![ZipEntry::file("../evil.sh", b"x")]),
        "points outside the archive",
    );
    zip_absolute_path: |c| expect(
        c.bad_zip(vec![ZipEntry::file("/etc/evil.conf", b"x")]),
        "absolute or non-portable path",
    );
    zip_backslash_path: |c| expect(
        c.bad_zip(vec![ZipEntry::file("bad-1.0.0\\..\\..\\evil.sh", b"x")]),
        "absolute or non-portable path",
    );
    zip_drive_letter_path: |c| expect(
        c.bad_zip(vec![ZipEntry::file("C:/evil.sh", b"x")]),
        "absolute or non-portable path",
    );
    zip_entry_in_other_folder: |c| expect(
        c.bad_zip(vec![ZipEntry::file("other-1.0.0/x.txt", b"x")]),
        "is outside the package's top folder",
    );
    zip_entry_at_root: |c| expect(
        c.bad_zip(vec![ZipEntry::file("stray.txt", b"x")]),
        "is outside the package's top folder",
    );
    zip_symlink_entry: |c| expect(
        c.bad_zip(vec![ZipEntry::symlink("bad-1.0.0/leak", "/etc/passwd")]),
        "is a symlink",
    );
    zip_non_utf8_name: |c| expect(
        c.bad_zip(vec![ZipEntry::raw_name(b"bad-1.0.0/\xff\xfe.txt", b"x")]),
        "not valid UTF-8",
    );
    zip_duplicate_entry: |c| expect(
        c.bad_zip(vec![ZipEntry::file("bad-1.0.0/docs/README.md", b"# again\n")]),
        "appears twice",
    );
    zip_bad_crc_of_manifest: |c| {
        let mut e = good_zip_entries("bad", "1.0.0");
        e[0].declared_crc = Some(crc32(&e[0].data) ^ 1);
        let z = c.zip("bad-1.0.0.zip", &e);
        expect(z.join("bad-1.0.0/manifest.yml"), "cannot read from zip: Invalid checksum")
    };
    zip_bad_crc_of_copied_file: |c| {
        // docs/README.md is never parsed, only served inside the zip: still a broken zip.
        let mut e = good_zip_entries("bad", "1.0.0");
        e[1].declared_crc = Some(crc32(&e[1].data) ^ 1);
        let z = c.zip("bad-1.0.0.zip", &e);
        expect(z.join("bad-1.0.0/docs/README.md"), "cannot read from zip: Invalid checksum")
    };
    zip_entry_size_lies: |c| {
        let mut e = good_zip_entries("bad", "1.0.0");
        e[1].declared_size = Some(3);
        let z = c.zip("bad-1.0.0.zip", &e);
        expect(z.join("bad-1.0.0/docs/README.md"), "holds 9 bytes but its header says 3")
    };
}

// ---------------------------------------------------------------------------------------------
// Symlinks

cases! {
    symlink_file_outside: |c| {
        let dir = c.pkg("bad");
        std::os::unix::fs::symlink(c.outside.join("secret.txt"), dir.join("docs/leak.md")).unwrap();
        expect(dir.join("docs/leak.md"), "symlink points outside the package")
    };
    symlink_folder_outside: |c| {
        let dir = c.pkg("bad");
        std::os::unix::fs::symlink(c.outside.join("dir"), dir.join("kibana")).unwrap();
        expect(dir.join("kibana"), "symlink points outside the package")
    };
    symlink_relative_outside: |c| {
        let dir = c.pkg("bad");
        std::os::unix::fs::symlink("../../../../outside/secret.txt", dir.join("img/leak.svg")).unwrap();
        expect(dir.join("img/leak.svg"), "symlink points outside the package")
    };
    symlink_to_sibling_package: |c| {
        let dir = c.pkg("bad");
        std::os::unix::fs::symlink("../../../good/1.0.0/docs/README.md", dir.join("docs/other.md")).unwrap();
        expect(dir.join("docs/other.md"), "symlink points outside the package")
    };
    symlink_package_folder: |c| {
        let real = good_package(&c.outside, "bad", "1.0.0");
        fs::create_dir_all(c.src.join("bad")).unwrap();
        std::os::unix::fs::symlink(&real, c.src.join("bad/1.0.0")).unwrap();
        expect(c.src.join("bad/1.0.0"), "may not be symlinks")
    };
    symlink_name_folder: |c| {
        good_package(&c.outside, "bad", "1.0.0");
        std::os::unix::fs::symlink(c.outside.join("bad"), c.src.join("bad")).unwrap();
        expect(c.src.join("bad"), "may not be symlinks")
    };
    zip_package_is_symlink: |c| {
        let real = c.outside.join("bad-1.0.0.zip");
        fs::write(&real, good_zip()).unwrap();
        std::os::unix::fs::symlink(&real, c.src.join("bad-1.0.0.zip")).unwrap();
        expect(c.src.join("bad-1.0.0.zip"), "may not be symlinks")
    };
    symlink_loop_two_links: |c| {
        let dir = c.pkg("bad");
        std::os::unix::fs::symlink("b", dir.join("a")).unwrap();
        std::os::unix::fs::symlink("a", dir.join("b")).unwrap();
        expect(dir.join("a"), "cannot be resolved")
    };
    symlink_folder_contains_itself: |c| {
        let dir = c.pkg("bad");
        std::os::unix::fs::symlink("..", dir.join("img/up")).unwrap();
        expect(dir.join("img/up"), "symlink loop")
    };
    symlink_dangling: |c| {
        let dir = c.pkg("bad");
        std::os::unix::fs::symlink("nowhere.txt", dir.join("docs/gone.md")).unwrap();
        expect(dir.join("docs/gone.md"), "cannot be resolved")
    };
}

// ---------------------------------------------------------------------------------------------
// Non-UTF-8 file names

cases! {
    non_utf8_file_in_package: |c| {
        let dir = c.pkg("bad");
        let name = std::ffi::OsStr::from_bytes(b"docs/\xff\xfe.md");
        fs::write(dir.join(name), "x").unwrap();
        expect(dir.join(name), "file name is not valid UTF-8")
    };
    non_utf8_name_folder: |c| {
        let name = std::ffi::OsStr::from_bytes(b"bad\xff");
        let dir = c.src.join(name);
        fs::create_dir_all(dir.join("1.0.0")).unwrap();
        expect(dir, "file name is not valid UTF-8")
    };
    non_utf8_version_folder: |c| {
        let name = std::ffi::OsStr::from_bytes(b"1.0.0\xff");
        let dir = c.src.join("bad").join(name);
        fs::create_dir_all(&dir).unwrap();
        expect(dir, "file name is not valid UTF-8")
    };
}

// ---------------------------------------------------------------------------------------------
// Icons and screenshots

cases! {
    screenshot_src_outside: |c| expect(
        c.bad_extra("screenshots:\n  - src: ../../../outside/secret.txt\n"),
        "screenshots.0: src \"../../../outside/secret.txt\" points outside the package",
    );
    icon_src_missing: |c| {
        let m = c.bad_manifest(manifest("bad", "1.0.0", "icons:\n  - src: /img/missing.svg\n"));
        expect(m, "icons.0: src \"/img/missing.svg\" is not a file in the package")
    };
    screenshot_src_missing: |c| expect(
        c.bad_extra("screenshots:\n  - src: /img/shot.png\n"),
        "screenshots.0: src \"/img/shot.png\" is not a file in the package",
    );
    icon_src_is_folder: |c| {
        let m = c.bad_manifest(manifest("bad", "1.0.0", "icons:\n  - src: /img\n"));
        expect(m, "icons.0: src \"/img\" is not a file in the package")
    };
    policy_template_icon_outside: |c| expect(
        c.bad_extra("policy_templates:\n  - name: t\n    title: T\n    description: d\n    icons:\n      - src: /img/../../x.svg\n"),
        "policy_templates.0.icons.0: src \"/img/../../x.svg\" points outside the package",
    );
    icon_src_host_path: |c| {
        let secret = c.outside.join("secret.txt");
        let m = c.bad_manifest(manifest("bad", "1.0.0", &format!("icons:\n  - src: {}\n", secret.display())));
        expect(m, "is not a file in the package")
    };
}

// ---------------------------------------------------------------------------------------------
// Very large files (over --max-file-size)

cases! {
    large_file_in_folder: |c| {
        let dir = c.pkg("bad");
        fs::write(dir.join("docs/big.md"), vec![b'x'; 5000]).unwrap();
        expect(dir.join("docs/big.md"), "over the limit of 4096 bytes").with(&["--max-file-size", "4096"])
    };
    large_manifest: |c| {
        let mut m = manifest("bad", "1.0.0", "");
        m.push_str(&format!("# {}\n", "x".repeat(5000)));
        expect(c.bad_manifest(m), "over the limit of 4096 bytes").with(&["--max-file-size", "4096"])
    };
    large_zip_entry: |c| expect(
        c.bad_zip(vec![ZipEntry::file("bad-1.0.0/docs/big.md", &vec![b'x'; 5000])]),
        "over the limit of 4096 bytes",
    ).with(&["--max-file-size", "4096"]);
    large_zip_entry_understated: |c| {
        // A small zip bomb: 100,000 deflated bytes that say they are 10.
        let m = manifest("bad", "1.0.0", "");
        let big = vec![b'x'; 100_000];
        let mut z = deflated_zip_bytes(&[
            ("bad-1.0.0/manifest.yml", m.as_bytes()),
            ("bad-1.0.0/docs/README.md", b"# r\n"),
            ("bad-1.0.0/docs/big.md", &big),
        ]);
        patch_declared_size(&mut z, "bad-1.0.0/docs/big.md", 10);
        let p = c.src.join("bad-1.0.0.zip");
        fs::write(&p, z).unwrap();
        expect(p.join("bad-1.0.0/docs/big.md"), "holds more than 4096 bytes, over the limit")
            .with(&["--max-file-size", "4096"])
    };
    large_zip_file: |c| {
        // Every entry is under the limit, the zip file (served as one file) is not.
        let mut more = Vec::new();
        for i in 0..4 {
            more.push(ZipEntry::file(&format!("bad-1.0.0/docs/part{i}.md"), &vec![b'x'; 3000]));
        }
        let z = c.bad_zip(more);
        let len = fs::metadata(&z).unwrap().len();
        expect(z, &format!("zip is {len} bytes, over the limit of 4096 bytes"))
            .with(&["--max-file-size", "4096"])
    };
}

// ---------------------------------------------------------------------------------------------
// Broken data stream manifests

cases! {
    data_stream_bad_yaml: |c| expect(c.bad_data_stream("type: [logs\n"), "invalid YAML");
    data_stream_not_a_map: |c| expect(c.bad_data_stream("- type: logs\n"), "expected a map");
    data_stream_wrong_type: |c| expect(
        c.bad_data_stream("type: logs\ntitle: T\nstreams: 5\n"),
        "streams: expected a list, found a number",
    );
    data_stream_bad_type_value: |c| expect(
        c.bad_data_stream("type: nope\ntitle: T\n"),
        "type \"nope\" is not one of logs, metrics, synthetics, traces",
    );
    data_stream_missing_fields: |c| {
        let m = c.bad_data_stream("type: logs\ntitle: T\n");
        let dir = m.parent().unwrap().to_path_buf();
        fs::write(dir.join("fields/base.yml"), "- name: message\n  type: text\n").unwrap();
        expect(dir.join("fields"), "data_stream.type")
    };
}

// ---------------------------------------------------------------------------------------------
// Duplicate name+version within one stage

cases! {
    duplicate_folder_and_zip_in_source: |c| {
        c.pkg("bad");
        let z = c.zip("bad-1.0.0.zip", &good_zip_entries("bad", "1.0.0"));
        expect(z, "bad@1.0.0 appears more than once")
    };
    duplicate_in_stage_folder: |c| {
        let stage = c.src.parent().unwrap().join("storage/production");
        good_package(&stage, "good", "1.0.0");
        good_package(&stage, "bad", "1.0.0");
        fs::write(stage.join("bad-1.0.0.zip"), zip_bytes(&good_zip_entries("bad", "1.0.0"))).unwrap();
        let mut e = expect(stage.join("bad/1.0.0"), "bad@1.0.0 appears more than once");
        e.packages = Some(stage.parent().unwrap().to_path_buf());
        e
    };
}

// ---------------------------------------------------------------------------------------------
// Other layout errors

cases! {
    zip_name_without_version: |c| {
        let z = c.zip("bad.zip", &good_zip_entries("bad", "1.0.0"));
        expect(z, "zip package name must be <name>-<version>.zip")
    };
    stray_file_in_name_folder: |c| {
        c.pkg("bad");
        fs::write(c.src.join("bad/notes.txt"), "x").unwrap();
        expect(c.src.join("bad/notes.txt"), "expected a <version> folder here")
    };
    orphan_signature: |c| {
        let s = c.src.join("bad-1.0.0.zip.sig");
        fs::write(&s, "sig").unwrap();
        expect(s, "signature without its zip package")
    };
    fifo_in_package: |c| {
        let dir = c.pkg("bad");
        let fifo = dir.join("docs/pipe.md");
        let ok = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(ok.success());
        expect(fifo, "not a regular file or folder")
    };
}

// ---------------------------------------------------------------------------------------------
// Issue 17: pipeline YAML under the manifest limits, package-spec names, package size and
// compression ratio.

/// Package `bad` with a data stream whose ingest pipeline `default.yml` holds `text`; returns
/// the pipeline's path.
fn bad_pipeline(c: &Ctx, text: &[u8]) -> PathBuf {
    let dir = c.pkg("bad");
    write_files(
        &dir,
        &[
            (
                "data_stream/ds/manifest.yml",
                b"type: logs\ntitle: T\ningest_pipeline: default\n",
            ),
            ("data_stream/ds/fields/base.yml", FIELDS.as_bytes()),
            (
                "data_stream/ds/elasticsearch/ingest_pipeline/default.yml",
                text,
            ),
        ],
    );
    dir.join("data_stream/ds/elasticsearch/ingest_pipeline/default.yml")
}

cases! {
    pipeline_yaml_deep_flow: |c| {
        // 150 KB of `[`: 30 s of CPU in the YAML scanner before it was held to the limits.
        let p = bad_pipeline(c, "[".repeat(150_000).as_bytes());
        expect(p, "invalid ingest pipeline: more than 1024 nested")
    };
    pipeline_yaml_oversized: |c| {
        // 30 MB of YAML: over 1 GiB of parser memory before; now refused unread.
        let p = bad_pipeline(c, "a: b\n".repeat(6_000_000).as_bytes());
        expect(p, "invalid ingest pipeline: document is over the limit of 4194304 bytes for YAML")
    };
    name_with_capitals: |c| {
        let dir = good_package(&c.src, "BadPkg", "1.0.0");
        expect(dir, "package name \"BadPkg\" may hold only a-z, 0-9 and `_`")
    };
    name_with_dot: |c| {
        let dir = good_package(&c.src, "bad.pkg", "1.0.0");
        expect(dir, "package name \"bad.pkg\" may hold only a-z, 0-9 and `_`")
    };
    name_with_dash: |c| {
        let dir = good_package(&c.src, "bad-pkg", "1.0.0");
        expect(dir, "package name \"bad-pkg\" may hold only a-z, 0-9 and `_`")
    };
    package_over_max_package_size: |c| {
        let dir = c.pkg("bad");
        fs::write(dir.join("docs/part.md"), vec![b'x'; 3000]).unwrap();
        expect(dir, "over the limit of 3000 bytes (--max-package-size)")
            .with(&["--max-package-size", "3000"])
    };
    zip_over_max_package_size: |c| {
        let z = c.bad_zip(vec![ZipEntry::file("bad-1.0.0/docs/part.md", &vec![b'x'; 3000])]);
        expect(z, "over the limit of 3000 bytes (--max-package-size)")
            .with(&["--max-package-size", "3000"])
    };
    zip_bomb_ratio: |c| {
        // 80 MiB of zeros deflate to some 80 KB: a thousand to one.
        let m = manifest("bad", "1.0.0", "");
        let zeros = vec![0u8; 80 << 20];
        let z = deflated_zip_bytes(&[
            ("bad-1.0.0/manifest.yml", m.as_bytes()),
            ("bad-1.0.0/docs/README.md", b"# r\n"),
            ("bad-1.0.0/docs/zeros.bin", &zeros),
        ]);
        let p = c.src.join("bad-1.0.0.zip");
        fs::write(&p, z).unwrap();
        expect(p, "more than 200 times its size (a zip bomb?)")
    };
}

// ---------------------------------------------------------------------------------------------
// --skip-invalid, and every problem in one run

/// Bad packages of several kinds, each under its own name, beside `good`.
fn several_bad(src: &Path, outside: &Path) -> Vec<(PathBuf, &'static str)> {
    let yaml = good_package(src, "bad_yaml", "1.0.0").join("manifest.yml");
    fs::write(&yaml, "name: [bad\n").unwrap();
    let zip = src.join("bad_zip-1.0.0.zip");
    fs::write(&zip, "not a zip").unwrap();
    let link = good_package(src, "bad_link", "1.0.0").join("docs/leak.md");
    std::os::unix::fs::symlink(outside.join("secret.txt"), &link).unwrap();
    let name = good_package(src, "bad_name", "1.0.0").join("manifest.yml");
    fs::write(&name, manifest("other", "1.0.0", "")).unwrap();
    good_package(src, "dup", "1.0.0");
    let dup = src.join("dup-1.0.0.zip");
    fs::write(&dup, zip_bytes(&good_zip_entries("dup", "1.0.0"))).unwrap();
    let slip = src.join("bad_slip-1.0.0.zip");
    let mut e = good_zip_entries("bad_slip", "1.0.0");
    e.push(ZipEntry::file("bad_slip-1.0.0/../../x", b"x"));
    fs::write(&slip, zip_bytes(&e)).unwrap();
    vec![
        (yaml, "invalid YAML"),
        (zip, "not a valid zip archive"),
        (link, "symlink points outside the package"),
        (name, "does not match"),
        (dup, "appears more than once"),
        (slip, "points outside the archive"),
    ]
}

#[test]
fn every_problem_is_listed_in_one_run() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    let outside = t.path().join("outside");
    write_files(&outside, &[("secret.txt", b"TOP SECRET")]);
    good_package(&src, "good", "1.0.0");
    let bad = several_bad(&src, &outside);
    let out = t.path().join("public");
    let args = build_args(&[&src], &out, &[]);
    let o = run(&strs(&args));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{} invalid package(s)", bad.len() + 1)),
        "{stderr}"
    );
    for (path, reason) in &bad {
        let at = format!("{}: ", path.display());
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(&at) && l.contains(reason)),
            "{at}{reason} not listed:\n{stderr}"
        );
    }
    // Nothing was written: no output link, no build, no staging folder left.
    assert!(fs::symlink_metadata(&out).is_err());
    let home = t.path().join(".public.eprgen");
    let left: Vec<_> = fs::read_dir(home.join("builds")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    let staging: Vec<_> = fs::read_dir(&home)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with("staging-"))
        .collect();
    assert!(staging.is_empty(), "{staging:?}");
}

#[test]
fn skip_invalid_builds_without_them_and_lists_them() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    let outside = t.path().join("outside");
    write_files(&outside, &[("secret.txt", b"TOP SECRET")]);
    good_package(&src, "good", "1.0.0");
    let bad = several_bad(&src, &outside);
    let out = t.path().join("o/public");
    let args = build_args(&[&src], &out, &["--skip-invalid"]);
    let o = run(&strs(&args));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    for (path, reason) in &bad {
        let at = format!("skipped invalid package: {}: ", path.display());
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(&at) && l.contains(reason)),
            "{at}{reason} not listed:\n{stderr}"
        );
    }
    // The tree holds the good package only.
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("_eprgen/manifest.json")).unwrap()).unwrap();
    let pkgs: Vec<&String> = m["packages"].as_object().unwrap().keys().collect();
    assert_eq!(pkgs, ["good@1.0.0"]);
    let snap = snapshot(&t.path().join("o"));
    for k in snap.keys().filter(|k| k.starts_with("public@/")) {
        assert!(
            !k.contains("bad") && !k.contains("dup") && !k.contains("other"),
            "{k} should not be in the tree"
        );
    }
    assert!(
        snap.values()
            .all(|v| v != &format!("file {}", blake3::hash(b"TOP SECRET").to_hex())),
        "the secret reached the tree"
    );
    let routes = fs::read_to_string(out.join("_eprgen/routes.json")).unwrap();
    assert!(
        !routes.contains("bad_") && !routes.contains("dup"),
        "{routes}"
    );
}

/// More distinct capabilities than an exhaustive answer space can list as subsets: the default
/// client profile composes those answers (no limit), `--materialize all` is a usage error
/// (exit 2) that says why, and the previous tree stays as it was.
#[test]
fn many_capabilities_compose_and_refuse_only_materialize_all() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    good_package(&src, "good", "1.0.0");
    let out = t.path().join("o/public");
    build_ok(&[&src], &out, &[]);
    let before = snapshot(&t.path().join("o"));
    for i in 0..40 {
        let name = format!("cap{i}");
        let dir = good_package(&src, &name, "1.0.0");
        fs::write(
            dir.join("manifest.yml"),
            manifest(
                &name,
                "1.0.0",
                &format!("conditions:\n  elastic.capabilities: [c{i}]\n"),
            ),
        )
        .unwrap();
    }
    let mut args = build_args(&[&src], &out, &[]);
    args.extend(["--materialize".to_string(), "all".to_string()]);
    let o = run(&strs(&args));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("40 distinct capabilities") && stderr.contains("--materialize all"),
        "{stderr}"
    );
    assert_same_tree(&before, &snapshot(&t.path().join("o")));

    build_ok(&[&src], &out, &[]);
    let tree = eprgen::serve::Tree::load(&fs::canonicalize(&out).unwrap()).unwrap();
    let q = "capabilities=c3,c17,c39,nope";
    let outcome = eprgen::serve::resolve(&tree, "/search", Some(q));
    let eprgen::serve::Outcome::Compose(ep, q) = outcome else {
        panic!("{outcome:?}")
    };
    let body = tree.compose(ep, &q).expect("composed");
    let names: Vec<String> = serde_json::from_slice::<Vec<serde_json::Value>>(&body)
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["cap17", "cap3", "cap39", "good"]);
}
