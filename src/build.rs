//! `build`: the whole pipeline, from input folders to a swapped-in output tree.
//!
//! read → (per package, in parallel: open, parse, validate, render its files) → catalog →
//! plan (every /search and /categories answer) → write (manifest last, atomic swap).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use serde_json::json;

use crate::catalog::entry::Entry;
use crate::error::{Error, Invalid, IoContext, Result};
use crate::package::fs::{open_input, Limits, Origin, PackageFs};
use crate::package::{self, gojson, LoadOptions, Package};
use crate::plan::compose::INDEX;
use crate::plan::routes::{answer_path, PackageRoute, RouteTable, ROUTES};
use crate::plan::{self, constraint::Constraint};
use crate::read::{self, Root, Stage};
use crate::render::compress::{self, Earlier, Sibling};
use crate::render::headers::{self, CacheKind, CacheTimes};
use crate::render::zip::write_package_zip;
use crate::write::manifest::{FileMeta, Manifest, PackageMeta};
use crate::write::{RelPath, Staging, Written};

/// eprgen's own version, reported as `service.version` in `/index.json`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where the packages come from.
#[derive(Debug, Clone)]
pub enum Inputs {
    /// A package-storage tree: `DIR/{production,staging,snapshot}`, as far as the stage serves.
    Stages { dir: PathBuf, stage: Stage },
    /// Folders of packages; the first one holding a name+version wins.
    Sources(Vec<PathBuf>),
}

#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub inputs: Inputs,
    pub out: PathBuf,
    pub skip_invalid: bool,
    pub cache: CacheTimes,
    /// Serve this file as `/favicon.ico` instead of eprgen's own.
    pub favicon: Option<PathBuf>,
    pub limits: Limits,
    /// A stack-version tag recorded in the manifest (e.g. `8.15.0`).
    pub tag: Option<String>,
    /// Build a mirror holding only the packages this Kibana version can install.
    pub kibana_version: Option<String>,
    /// The build the stage policy compares with: a tree or a manifest file (default: the tree
    /// at `out`, when it is a build of the same stage).
    pub previous: Option<PathBuf>,
    /// Build without the tree at `out`: no reuse, no stage-policy comparison (`--no-previous`).
    pub no_previous: bool,
    /// `name@version`s a staging build may overwrite / remove.
    pub allow_overwrite: Vec<String>,
    pub allow_removal: Vec<String>,
    /// Which /search and /categories answers get whole bodies (the rest are composed).
    pub profile: plan::Profile,
    /// `--materialize all` refuses to write more answer bytes than this.
    pub max_answer_bytes: u64,
    /// Write the HTML catalog (`catalog/`).
    pub catalog: bool,
    /// Override the catalog's built-in templates with the files of this folder.
    pub templates: Option<PathBuf>,
}

/// The code whose output the plan key stands for: answers are reused only from a build by the
/// same planner and semantics.
const PLANNER_SOURCES: &[&str] = &[
    include_str!("plan/space.rs"),
    include_str!("plan/diagram.rs"),
    include_str!("plan/compose.rs"),
    include_str!("plan/classes.rs"),
    include_str!("plan/constraint.rs"),
    include_str!("catalog/search.rs"),
    include_str!("catalog/categories.rs"),
    include_str!("catalog/query.rs"),
    include_str!("package/gojson.rs"),
];

/// Default `--max-answer-bytes`.
pub const MAX_ANSWER_BYTES: u64 = 4 << 30;

impl BuildOptions {
    pub fn new(inputs: Inputs, out: impl Into<PathBuf>) -> Self {
        BuildOptions {
            inputs,
            out: out.into(),
            skip_invalid: false,
            cache: CacheTimes::default(),
            favicon: None,
            limits: Limits::default(),
            tag: None,
            kibana_version: None,
            previous: None,
            no_previous: false,
            allow_overwrite: Vec::new(),
            allow_removal: Vec::new(),
            profile: plan::Profile::default(),
            max_answer_bytes: MAX_ANSWER_BYTES,
            catalog: true,
            templates: None,
        }
    }
}

/// What a build did.
#[derive(Debug, Clone)]
pub struct BuildReport {
    pub build_id: String,
    pub out_dir: PathBuf,
    pub packages: usize,
    pub files: usize,
    pub bytes: u64,
    /// Invalid packages left out (only with `skip_invalid`).
    pub invalid: Vec<Invalid>,
    pub search_answers: usize,
    pub categories_answers: usize,
    pub search_nodes: usize,
    pub categories_nodes: usize,
    pub answer_bytes: u64,
    /// Bytes of distinct contents actually stored (identical files are hard links).
    pub stored_bytes: u64,
    /// Paths added, changed and removed since the build this one replaces.
    pub changes: crate::verify::Diff,
    /// What a snapshot (or allowed staging) build overwrote and removed, as `name@version: why`.
    pub policy_notes: Vec<String>,
    pub timings: Vec<(&'static str, u128)>,
}

/// A package that loaded and whose files are written into the staging folder.
struct Rendered {
    package: Package,
    kibana: Option<Constraint>,
    agent: Option<Constraint>,
    stage: Option<Stage>,
    source: &'static str,
    files: Vec<FileOut>,
    route: PackageRoute,
    content_hash: String,
}

/// The favicon eprgen serves by default: a 16x16 one-colour icon of our own.
fn default_favicon() -> Vec<u8> {
    // ICO header + one 16x16 32-bit BMP image, all pixels one blue.
    let (w, h) = (16u32, 16u32);
    let pixels = (w * h * 4) as usize;
    let mask = (h * 4) as usize; // 1-bit AND mask rows padded to 32 bits
    let bmp_size = 40 + pixels + mask;
    let mut v = Vec::new();
    v.extend_from_slice(&[0, 0, 1, 0, 1, 0]);
    v.extend_from_slice(&[w as u8, h as u8, 0, 0, 1, 0, 32, 0]);
    v.extend_from_slice(&(bmp_size as u32).to_le_bytes());
    v.extend_from_slice(&22u32.to_le_bytes());
    v.extend_from_slice(&40u32.to_le_bytes());
    v.extend_from_slice(&(w as i32).to_le_bytes());
    v.extend_from_slice(&((h * 2) as i32).to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&32u16.to_le_bytes());
    v.extend_from_slice(&[0u8; 24]);
    for _ in 0..(w * h) {
        v.extend_from_slice(&[0xc8, 0x7a, 0x00, 0xff]);
    }
    v.extend(std::iter::repeat_n(0u8, mask));
    v
}

fn rel(s: impl Into<String>) -> Result<RelPath> {
    let s = s.into();
    RelPath::new(s.clone()).ok_or_else(|| Error::Input {
        path: s.into(),
        reason: "not a safe path inside the tree".into(),
    })
}

/// Check what only the folder or file name can tell: name and version match the manifest.
fn check_identity(raw: &read::RawPackage, pkg: &Package, fs: &PackageFs) -> Vec<Invalid> {
    let mut bad = Vec::new();
    let manifest = fs.display_path("manifest.yml");
    // package-spec allows `^[a-z0-9_]+$` only, and EPR's routes match only that for the package
    // JSON, the zip and the signature: a package named otherwise would be listed by /search
    // but could not be installed.
    if !is_package_name(&raw.name) {
        bad.push(Invalid::new(
            raw.origin.path(),
            format!(
                "package name {:?} may hold only a-z, 0-9 and `_` (package-spec's pattern ^[a-z0-9_]+$)",
                raw.name
            ),
        ));
    }
    if pkg.name != raw.name {
        bad.push(Invalid::new(
            &manifest,
            format!(
                "name {:?} does not match the package's folder or file name {:?}",
                pkg.name, raw.name
            ),
        ));
    }
    if semver::Version::parse(&raw.version).is_err() {
        bad.push(Invalid::new(
            raw.origin.path(),
            format!("{:?} is not a valid semantic version", raw.version),
        ));
    } else if pkg.version.to_string() != raw.version {
        bad.push(Invalid::new(
            &manifest,
            format!(
                "version {:?} does not match the package's folder or file name {:?}",
                pkg.version.to_string(),
                raw.version
            ),
        ));
    }
    if let Some(top) = fs.zip_top() {
        let want = format!("{}-{}", raw.name, raw.version);
        if top != want {
            bad.push(Invalid::new(
                raw.origin.path(),
                format!("top folder {top:?} in the zip should be {want:?}"),
            ));
        }
    }
    bad
}

/// package-spec's name pattern, `^[a-z0-9_]+$`.
pub fn is_package_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Parse both version conditions once, so a bad constraint fails the build with its file.
fn constraints(
    pkg: &Package,
    fs: &PackageFs,
) -> (Option<Constraint>, Option<Constraint>, Vec<Invalid>) {
    let manifest = fs.display_path("manifest.yml");
    let mut bad = Vec::new();
    let mut parse = |what: &str, c: Option<&str>| match c {
        None => None,
        Some(s) => match Constraint::parse(s) {
            Ok(c) => Some(c),
            Err(e) => {
                bad.push(Invalid::new(
                    &manifest,
                    format!("conditions.{what}.version {s:?} is not a valid constraint: {e}"),
                ));
                None
            }
        },
    };
    let k = parse("kibana", pkg.kibana_version());
    let a = parse("agent", pkg.agent_version());
    (k, a, bad)
}

/// A loaded package with its parsed conditions.
struct Loaded {
    fs: PackageFs,
    package: Package,
    kibana: Option<Constraint>,
    agent: Option<Constraint>,
}

fn load_one(raw: &read::RawPackage, limits: Limits) -> std::result::Result<Loaded, Vec<Invalid>> {
    let fs = PackageFs::open(&raw.origin, limits).map_err(|e| vec![e])?;
    if !fs.is_file("manifest.yml") {
        return Err(vec![Invalid::new(
            fs.display_path("manifest.yml"),
            "missing manifest.yml",
        )]);
    }
    let pkg = package::load(
        &fs,
        &LoadOptions {
            has_signature: raw.signature.is_some(),
        },
    )?;
    let mut bad = check_identity(raw, &pkg, &fs);
    let (kibana, agent, cbad) = constraints(&pkg, &fs);
    bad.extend(cbad);
    if !bad.is_empty() {
        return Err(bad);
    }
    Ok(Loaded {
        fs,
        package: pkg,
        kibana,
        agent,
    })
}

/// A file written into the tree: its path, size and hash, Content-Type and cache kind.
type FileOut = (RelPath, Written, String, CacheKind);

/// The previous build, whose files a package with unchanged content can reuse.
pub struct Previous {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// blake3 over a package's inputs: every file's path and bytes (a zip: its bytes), and the
/// signature. Equal hashes mean every file eprgen renders from it is equal, except the package
/// JSON, which also depends on the package's other versions (deprecation) and is always rendered.
fn content_hash(raw: &read::RawPackage, fs: &PackageFs) -> Result<String> {
    let mut h = blake3::Hasher::new();
    match fs.zip_bytes() {
        Some(bytes) => {
            h.update(b"zip\0");
            h.update(blake3::hash(bytes).as_bytes());
        }
        None => {
            for e in fs.entries() {
                h.update(e.path.as_bytes());
                if e.is_dir {
                    h.update(b"/\0");
                    continue;
                }
                h.update(b"\0");
                let f = fs.open_file(&e.path).map_err(input_error)?;
                let shown = fs.display_path(&e.path);
                h.update(crate::write::hash_reader(f, &shown)?.blake3.as_bytes());
            }
        }
    }
    if let Some(s) = &raw.signature {
        h.update(b"sig\0");
        h.update(
            crate::write::hash_reader(open_signature(s)?, s)?
                .blake3
                .as_bytes(),
        );
    }
    Ok(h.finalize().to_hex().to_string())
}

fn input_error(i: Invalid) -> Error {
    Error::Input {
        path: i.path,
        reason: i.reason,
    }
}

/// Open a package's signature once, as every input is opened (see [`open_input`]).
fn open_signature(p: &Path) -> Result<std::io::Take<std::fs::File>> {
    // A signature is a few hundred bytes; 1 MiB is generous.
    open_input(p, 1 << 20)
        .map(|(f, _)| f)
        .map_err(|reason| Error::Input {
            path: p.to_path_buf(),
            reason,
        })
}

/// The tree paths a package renders to (besides its package JSON), in order.
fn package_paths(
    raw: &read::RawPackage,
    fs: &PackageFs,
    name: &str,
    version: &str,
) -> Result<Vec<RelPath>> {
    let mut out: Vec<RelPath> = fs
        .entries()
        .iter()
        .filter(|e| !e.is_dir)
        .map(|e| rel(format!("package/{name}/{version}/{}", e.path)))
        .collect::<Result<_>>()?;
    out.push(rel(format!("epr/{name}/{name}-{version}.zip"))?);
    if raw.signature.is_some() {
        out.push(rel(format!("epr/{name}/{name}-{version}.zip.sig"))?);
    }
    Ok(out)
}

/// Link every rendered file of an unchanged package from the previous build, if it has them all.
fn reuse(
    staging: &Staging,
    prev: &Previous,
    key: &str,
    hash: &str,
    paths: &[RelPath],
) -> Result<Option<Vec<FileOut>>> {
    if prev
        .manifest
        .packages
        .get(key)
        .map(|m| m.content_hash.as_str())
        != Some(hash)
    {
        return Ok(None);
    }
    let mut metas = Vec::with_capacity(paths.len());
    for p in paths {
        match prev.manifest.files.get(p) {
            Some(m) if p.to_path(&prev.dir).is_file() => metas.push(m),
            _ => return Ok(None),
        }
    }
    let mut out = Vec::with_capacity(paths.len());
    for (p, m) in paths.iter().zip(metas) {
        staging.link_from(p, &p.to_path(&prev.dir))?;
        out.push((
            p.clone(),
            Written {
                size: m.size,
                blake3: m.blake3.clone(),
            },
            m.content_type.clone(),
            CacheKind::CatchAll,
        ));
    }
    Ok(Some(out))
}

fn render_one(
    staging: &Staging,
    raw: &read::RawPackage,
    loaded: Loaded,
    prev: Option<&Previous>,
) -> Result<Rendered> {
    let Loaded {
        fs,
        package,
        kibana,
        agent,
    } = loaded;
    let fs = &fs;
    let (name, version) = (package.name.clone(), package.version.to_string());
    let base = format!("package/{name}/{version}");
    let hash = content_hash(raw, fs)?;
    let paths = package_paths(raw, fs, &name, &version)?;
    // The package JSON moves aside only if the package has its own root `index.json`; it is
    // written once deprecations are known across versions.
    let info_name = if fs.is_file("index.json") {
        "index.eprgen.json"
    } else {
        "index.json"
    };
    let info = rel(format!("{base}/{info_name}"))?;
    let zip = rel(format!("epr/{name}/{name}-{version}.zip"))?;
    let sig = raw
        .signature
        .as_ref()
        .map(|_| format!("epr/{name}/{name}-{version}.zip.sig"));
    let reused = match prev {
        Some(p) => reuse(staging, p, &format!("{name}@{version}"), &hash, &paths)?,
        None => None,
    };
    let files = match reused {
        Some(files) => files,
        None => {
            let mut files = Vec::new();
            for e in fs.entries().iter().filter(|e| !e.is_dir) {
                let r = rel(format!("{base}/{}", e.path))?;
                let w = if fs.is_folder() {
                    let f = fs.open_file(&e.path).map_err(input_error)?;
                    staging.copy_from(&r, &fs.display_path(&e.path), f)?
                } else {
                    let bytes = fs.read(&e.path).map_err(input_error)?;
                    staging.write(&r, &bytes)?
                };
                let head = read_head(&staging.dir().join(r.as_str()))?;
                files.push((
                    r,
                    w,
                    headers::content_type(&e.path, &head),
                    CacheKind::CatchAll,
                ));
            }
            // The zip: an input zip is served as it is, a folder is zipped deterministically.
            let w = match (&raw.origin, fs.zip_bytes()) {
                (Origin::Zip(_), Some(bytes)) => staging.write(&zip, bytes)?,
                _ => {
                    let top = format!("{name}-{version}");
                    staging.create_with(&zip, |f| {
                        let copies = staging.dir().join(&base);
                        let read = |rel: &str| std::fs::read(copies.join(rel));
                        write_package_zip(std::io::BufWriter::new(f), fs, &top, &read)
                    })?
                }
            };
            files.push((
                zip.clone(),
                w,
                "application/zip".into(),
                CacheKind::CatchAll,
            ));
            if let (Some(s), Some(sig)) = (&raw.signature, &sig) {
                let r = rel(sig.clone())?;
                let w = staging.copy_from(&r, s, open_signature(s)?)?;
                let head = read_head(&staging.dir().join(r.as_str()))?;
                files.push((
                    r.clone(),
                    w,
                    headers::content_type(r.as_str(), &head),
                    CacheKind::CatchAll,
                ));
            }
            // Identical files across versions are stored once (hard links).
            for (r, w, _, _) in &files {
                staging.dedupe(r, &w.blake3)?;
            }
            files
        }
    };
    Ok(Rendered {
        package,
        kibana,
        agent,
        stage: raw.stage,
        source: if matches!(raw.origin, Origin::Zip(_)) {
            "zip"
        } else {
            "dir"
        },
        files,
        route: PackageRoute {
            info: info.to_string(),
            zip: zip.to_string(),
            sig,
        },
        content_hash: hash,
    })
}

/// The HTML catalog (`catalog/`), rendered in parallel; an unchanged page is linked from the
/// previous build.
fn catalog_pages(
    staging: &Staging,
    rendered: &[Rendered],
    templates: &crate::site::Templates,
    previous: Option<&Previous>,
    timings: &mut Vec<(&'static str, u128)>,
) -> Result<Vec<FileOut>> {
    let t = Instant::now();
    let versions: Vec<crate::site::Version<'_>> = rendered
        .iter()
        .map(|r| crate::site::Version {
            package: &r.package,
            stage: r.stage,
            content_hash: &r.content_hash,
            kibana: r.kibana.as_ref(),
        })
        .collect();
    let prev = previous.map(|p| crate::site::Previous {
        dir: &p.dir,
        manifest: &p.manifest,
    });
    let site = crate::site::render(staging, &versions, templates, prev)?;
    timings.push(("catalog", t.elapsed().as_millis()));
    tracing::info!(
        pages = site.pages.len(),
        rendered = site.rendered,
        reused = site.reused,
        ms = t.elapsed().as_millis() as u64,
        "catalog written"
    );
    Ok(site
        .pages
        .into_iter()
        .map(|p| {
            (
                p.path,
                p.written,
                p.content_type.to_string(),
                CacheKind::Index,
            )
        })
        .collect())
}

/// When nothing the answer space depends on changed, link the previous build's answers and
/// take its diagrams instead of planning again.
fn reuse_plan(
    staging: &Staging,
    prev: &Previous,
    key: &str,
) -> Result<Option<(plan::Planned, Vec<FileOut>)>> {
    if prev.manifest.plan_key != key {
        return Ok(None);
    }
    let Ok(bytes) = std::fs::read(prev.dir.join(ROUTES)) else {
        return Ok(None);
    };
    let Ok(routes) = serde_json::from_slice::<RouteTable>(&bytes) else {
        return Ok(None);
    };
    let mut files = Vec::new();
    let mut answer_bytes = 0;
    for (ids, kind) in [
        (&routes.search.answers, CacheKind::Search),
        (&routes.categories.answers, CacheKind::Categories),
    ] {
        for id in ids.iter().filter(|id| !id.is_empty()) {
            let r = rel(answer_path(id))?;
            let Some(m) = prev.manifest.files.get(&r) else {
                return Ok(None);
            };
            let src = r.to_path(&prev.dir);
            if !src.is_file() {
                return Ok(None);
            }
            files.push((
                r,
                Written {
                    size: m.size,
                    blake3: m.blake3.clone(),
                },
                m.content_type.clone(),
                kind,
            ));
            answer_bytes += m.size;
        }
    }
    let ir = rel(INDEX)?;
    let Some(m) = prev.manifest.files.get(&ir) else {
        return Ok(None);
    };
    files.push((
        ir.clone(),
        Written {
            size: m.size,
            blake3: m.blake3.clone(),
        },
        m.content_type.clone(),
        CacheKind::None,
    ));
    for (r, _, _, _) in &files {
        staging.link_from(r, &r.to_path(&prev.dir))?;
    }
    Ok(Some((
        plan::Planned {
            search: routes.search,
            categories: routes.categories,
            answer_bytes,
            index: None,
        },
        files,
    )))
}

fn read_head(p: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut f = std::fs::File::open(p).at(p, "cannot open")?;
    let mut buf = vec![0u8; 512];
    let mut n = 0;
    while n < buf.len() {
        let k = f.read(&mut buf[n..]).at(p, "cannot read")?;
        if k == 0 {
            break;
        }
        n += k;
    }
    buf.truncate(n);
    Ok(buf)
}

/// Seconds since the epoch for new files: `SOURCE_DATE_EPOCH` when set (reproducible builds),
/// else now.
fn build_time() -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(crate::serve::now_secs)
}

/// The stage policy, against the previous build of the same stage:
/// production never overwrites or removes a published version; staging only with
/// `--allow-overwrite`/`--allow-removal name@version`; snapshot may do anything (reported).
/// Returns notes of what was overwritten or removed, or the refusal listing every offence.
fn check_policy(
    opts: &BuildOptions,
    previous: Option<&Previous>,
    rendered: &[Rendered],
) -> Result<Vec<String>> {
    let Inputs::Stages { stage, .. } = &opts.inputs else {
        return Ok(Vec::new());
    };
    let named;
    let prev = match &opts.previous {
        Some(p) => {
            named = crate::verify::load_manifest(p)?;
            Some(&named)
        }
        None => previous
            .map(|p| &p.manifest)
            .filter(|m| m.stage.as_deref() == Some(stage.as_str())),
    };
    let Some(prev) = prev else {
        return Ok(Vec::new());
    };
    let now: BTreeMap<String, &str> = rendered
        .iter()
        .map(|r| {
            (
                format!("{}@{}", r.package.name, r.package.version),
                r.content_hash.as_str(),
            )
        })
        .collect();
    let mut changes: Vec<(String, bool, String)> = Vec::new(); // (id, is_removal, what)
    for (id, meta) in &prev.packages {
        match now.get(id) {
            None => changes.push((id.clone(), true, "removed".into())),
            Some(h) if *h != meta.content_hash => changes.push((
                id.clone(),
                false,
                format!(
                    "content changed (was {}, now {})",
                    &meta.content_hash[..12],
                    &h[..12]
                ),
            )),
            Some(_) => {}
        }
    }
    let allowed = |id: &str, removal: bool| {
        let list = if removal {
            &opts.allow_removal
        } else {
            &opts.allow_overwrite
        };
        list.iter().any(|a| a == id)
    };
    let offences: Vec<String> = changes
        .iter()
        .filter(|(id, removal, _)| match stage {
            Stage::Production => true,
            Stage::Staging => !allowed(id, *removal),
            Stage::Snapshot => false,
        })
        .map(|(id, removal, what)| {
            let hint = match (stage, removal) {
                (Stage::Staging, true) => " (allow with --allow-removal ".to_string() + id + ")",
                (Stage::Staging, false) => " (allow with --allow-overwrite ".to_string() + id + ")",
                _ => String::new(),
            };
            format!("{id}: {what}{hint}")
        })
        .collect();
    if !offences.is_empty() {
        return Err(Error::Policy {
            stage: stage.as_str().to_string(),
            offences,
        });
    }
    let notes: Vec<String> = changes
        .into_iter()
        .map(|(id, _, what)| format!("{id}: {what}"))
        .collect();
    for n in &notes {
        tracing::warn!("{} build: {n}", stage.as_str());
    }
    Ok(notes)
}

/// The input roots of a build.
pub fn roots(inputs: &Inputs) -> Result<Vec<Root>> {
    Ok(match inputs {
        Inputs::Stages { dir, stage } => read::stage_roots(dir, *stage)?,
        Inputs::Sources(paths) => paths
            .iter()
            .map(|p| Root {
                path: p.clone(),
                stage: None,
            })
            .collect(),
    })
}

/// Load the catalog of a build in memory, without writing anything: the entries /search and
/// /categories work on, in index order, and the invalid packages (left out).
pub fn load_catalog(inputs: &Inputs, limits: Limits) -> Result<(Vec<Entry>, Vec<Invalid>)> {
    let found = read::read(&roots(inputs)?)?;
    let mut invalid = found.invalid.clone();
    let loaded: Vec<_> = found
        .packages
        .par_iter()
        .map(|raw| (raw, load_one(raw, limits)))
        .collect();
    let mut ok: Vec<(bool, Loaded)> = Vec::new();
    for (raw, l) in loaded {
        match l {
            Ok(l) => ok.push((matches!(raw.origin, Origin::Zip(_)), l)),
            Err(bad) => invalid.extend(bad),
        }
    }
    for zip in [true, false] {
        package::propagate_deprecation(
            ok.iter_mut()
                .filter(|(z, _)| *z == zip)
                .map(|x| &mut x.1.package),
        );
    }
    let entries = ok
        .iter()
        .map(|(_, l)| crate::catalog::entry_of(&l.package, l.kibana.clone(), l.agent.clone()))
        .collect();
    invalid.sort();
    Ok((entries, invalid))
}

/// The tree at `--out` that this build replaces, for reuse and the stage policy. A tree that
/// exists but cannot be read fails a production or staging build (the policy would otherwise
/// pass by default), unless `--previous` names what to compare with or `--no-previous` says to
/// build without it.
fn previous_tree(opts: &BuildOptions) -> Result<Option<Previous>> {
    if opts.no_previous {
        return Ok(None);
    }
    match std::fs::symlink_metadata(&opts.out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&opts.out, "cannot stat output", e)),
        Ok(_) => {}
    }
    let dir = crate::verify::resolve_root(&opts.out);
    // An empty folder (or a link to one) is a fresh output, not a damaged tree.
    let empty = std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_none());
    if empty {
        return Ok(None);
    }
    match Manifest::load(&opts.out) {
        Ok(manifest) => Ok(Some(Previous { dir, manifest })),
        Err(e) => {
            let guarded = match &opts.inputs {
                Inputs::Stages { stage, .. } => *stage != Stage::Snapshot,
                Inputs::Sources(_) => false,
            };
            if guarded && opts.previous.is_none() {
                return Err(Error::Input {
                    path: opts.out.join(crate::write::MANIFEST),
                    reason: format!(
                        "the previous build cannot be read, so the stage policy cannot be checked ({e}); \
pass --previous PATH to compare with another build, or --no-previous to build without comparing"
                    ),
                });
            }
            tracing::warn!("previous build not used: {e}");
            Ok(None)
        }
    }
}

/// Run a build. `progress` is told each step as it starts.
pub fn build(
    opts: &BuildOptions,
    progress: &(dyn Fn(usize, usize, &str) + Sync),
) -> Result<BuildReport> {
    opts.profile.check().map_err(Error::Usage)?;
    crate::write::check_out(&opts.out)?;
    // Templates are read first: a broken one fails the build before anything is written.
    let templates = match opts.catalog {
        true => Some(crate::site::Templates::load(opts.templates.as_deref())?),
        false => None,
    };
    let mut timings = Vec::new();
    let t0 = Instant::now();
    let steps = 5;
    progress(1, steps, "reading inputs");
    let roots = match &opts.inputs {
        Inputs::Stages { dir, stage } => read::stage_roots(dir, *stage)?,
        Inputs::Sources(paths) => paths
            .iter()
            .map(|p| Root {
                path: p.clone(),
                stage: None,
            })
            .collect(),
    };
    let found = read::read(&roots)?;
    let mut invalid = found.invalid.clone();
    timings.push(("read", t0.elapsed().as_millis()));
    tracing::info!(
        packages = found.packages.len(),
        shadowed = found.shadowed.len(),
        "inputs read"
    );

    // The previous tree, to carry Last-Modified times of unchanged files forward.
    let previous = previous_tree(opts)?;
    // The time each content was first built (its Last-Modified), by blake3.
    let mut first_seen: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for m in previous.iter().flat_map(|p| p.manifest.files.values()) {
        let t = first_seen.entry(m.blake3.clone()).or_insert(m.modified);
        *t = (*t).min(m.modified);
    }
    let now = build_time();

    let mirror =
        match &opts.kibana_version {
            Some(v) => Some(crate::plan::constraint::parse_version(v).map_err(|e| {
                Error::Usage(format!("--kibana-version {v:?} is not a version: {e}"))
            })?),
            None => None,
        };
    let t = Instant::now();
    progress(2, steps, "loading and rendering packages");
    let staging = Staging::begin(&opts.out)?;
    let results: Vec<std::result::Result<Option<Rendered>, Error>> = found
        .packages
        .par_iter()
        .map(|raw| match load_one(raw, opts.limits) {
            // A mirror for one Kibana leaves out what that Kibana cannot install.
            Ok(loaded)
                if mirror
                    .as_ref()
                    .is_some_and(|v| loaded.kibana.as_ref().is_some_and(|c| !c.matches(v))) =>
            {
                Ok(None)
            }
            Ok(loaded) => render_one(&staging, raw, loaded, previous.as_ref()).map(Some),
            Err(bad) => {
                for b in &bad {
                    tracing::warn!("{b}");
                }
                Err(Error::InvalidPackages(bad))
            }
        })
        .collect();
    let mut rendered = Vec::new();
    for r in results {
        match r {
            Ok(Some(x)) => rendered.push(x),
            Ok(None) => {}
            Err(Error::InvalidPackages(bad)) => invalid.extend(bad),
            Err(e) => return Err(e),
        }
    }
    invalid.sort();
    invalid.dedup();
    if !invalid.is_empty() && !opts.skip_invalid {
        drop(staging);
        return Err(Error::InvalidPackages(invalid));
    }
    let policy = check_policy(opts, previous.as_ref(), &rendered)?;
    // A skipped invalid package must leave nothing behind: only valid ones were rendered, but a
    // name+version shadowed by nothing else is simply absent.
    timings.push(("packages", t.elapsed().as_millis()));
    tracing::info!(
        rss_mib = crate::write::peak_rss_mib(),
        packages = rendered.len(),
        invalid = invalid.len(),
        ms = t.elapsed().as_millis() as u64,
        "packages rendered"
    );

    let t = Instant::now();
    progress(3, steps, "writing package JSON, planning the answer space");
    // EPR shows the newest deprecation notice of a name on all its versions, per indexer (all
    // zips are one, all folders another).
    let (mut zips, mut dirs): (Vec<&mut Rendered>, Vec<&mut Rendered>) =
        rendered.iter_mut().partition(|r| r.source == "zip");
    package::propagate_deprecation(zips.iter_mut().map(|r| &mut r.package));
    package::propagate_deprecation(dirs.iter_mut().map(|r| &mut r.package));
    let earlier = previous.as_ref().map(|p| Earlier {
        dir: &p.dir,
        manifest: &p.manifest,
    });
    // Precompressed siblings (`.gz`, `.br`) of every package JSON and answer.
    let mut siblings: Vec<Sibling> = Vec::new();
    let infos: Vec<Result<(RelPath, Written, Vec<Sibling>)>> = rendered
        .par_iter()
        .map(|r| {
            let info = rel(r.route.info.clone())?;
            let body = gojson::to_go_pretty(&r.package.info_json());
            let w = staging.write(&info, body.as_bytes())?;
            let sib =
                compress::write_siblings(&staging, earlier, &info, &w, Some(body.as_bytes()))?;
            Ok((info, w, sib))
        })
        .collect();
    for (r, w) in rendered.iter_mut().zip(infos) {
        let (info, w, sib) = w?;
        siblings.extend(sib);
        r.files
            .push((info, w, headers::JSON.to_string(), CacheKind::Index));
    }
    // Package JSON (and its siblings) is rendering, not planning: timed on its own.
    timings.push(("package json", t.elapsed().as_millis()));
    tracing::info!(ms = t.elapsed().as_millis() as u64, "package JSON written");
    let t = Instant::now();
    let entries: Vec<Entry> = rendered
        .iter()
        .map(|r| crate::catalog::entry_of(&r.package, r.kibana.clone(), r.agent.clone()))
        .collect();
    let plan_key = {
        let mut h = blake3::Hasher::new();
        h.update(VERSION.as_bytes());
        h.update(format!("{:?}", opts.profile).as_bytes());
        // Another planner (a development build of the same version) plans again.
        for src in PLANNER_SOURCES {
            h.update(src.as_bytes());
        }
        for r in &rendered {
            h.update(
                format!(
                    "\0{}@{}\0{}\0{}",
                    r.package.name, r.package.version, r.source, r.content_hash
                )
                .as_bytes(),
            );
        }
        h.finalize().to_hex().to_string()
    };
    let mut answer_files: Vec<FileOut> = Vec::new();
    // Time the answers' siblings took, told apart from planning.
    let mut compressing = std::time::Duration::ZERO;
    let space = match previous
        .as_ref()
        .and_then(|p| reuse_plan(&staging, p, &plan_key).transpose())
    {
        Some(reused) => {
            let (space, files) = reused?;
            if opts.profile.all && space.answer_bytes > opts.max_answer_bytes {
                return Err(Error::Usage(format!(
                    "--materialize all: the answers take {} bytes, more than \
                     --max-answer-bytes {}",
                    space.answer_bytes, opts.max_answer_bytes
                )));
            }
            answer_files = files;
            let written: Vec<(RelPath, Written)> = answer_files
                .iter()
                .filter(|(r, _, _, _)| r.as_str() != INDEX)
                .map(|(r, w, _, _)| (r.clone(), w.clone()))
                .collect();
            siblings.extend(compress::write_siblings_of(&staging, earlier, &written)?);
            tracing::info!("answer space unchanged: reused from the previous build");
            space
        }
        None => {
            if opts.profile.all {
                // Count first, write nothing: refuse before the tree fills up.
                let budget = opts.max_answer_bytes;
                let mut total = 0u64;
                let mut count = |_: &str, body: &[u8], _: CacheKind| -> Result<()> {
                    total += body.len() as u64;
                    if total > budget {
                        return Err(Error::Usage(format!(
                            "--materialize all: the answers take more than \
                             --max-answer-bytes {budget} bytes; raise the budget or build \
                             with the default client profile"
                        )));
                    }
                    Ok(())
                };
                plan::plan(&entries, &opts.profile, &mut count)?;
                eprintln!(
                    "--materialize all: estimated {total} bytes of answers (budget {budget})"
                );
            }
            let mut batch = compress::Batch::new(&staging, earlier);
            let mut sink = |hash: &str, body: &[u8], kind: CacheKind| -> Result<()> {
                let r = rel(answer_path(hash))?;
                let w = staging.write(&r, body)?;
                batch.add(&r, &w, body)?;
                answer_files.push((r, w, headers::JSON.to_string(), kind));
                Ok(())
            };
            let planned = plan::plan(&entries, &opts.profile, &mut sink)?;
            let (written, spent) = batch.finish()?;
            siblings.extend(written);
            compressing = spent;
            if let Some(index) = &planned.index {
                let r = rel(INDEX)?;
                let mut bytes = serde_json::to_vec(index).expect("index serializes");
                bytes.push(b'\n');
                let w = staging.write(&r, &bytes)?;
                answer_files.push((r, w, headers::JSON.to_string(), CacheKind::None));
            }
            planned
        }
    };
    let planning = t.elapsed().saturating_sub(compressing);
    timings.push(("plan", planning.as_millis()));
    timings.push(("compress answers", compressing.as_millis()));
    tracing::info!(
        rss_mib = crate::write::peak_rss_mib(),
        search_answers = space.search.bodies(),
        categories_answers = space.categories.bodies(),
        ms = planning.as_millis() as u64,
        compress_ms = compressing.as_millis() as u64,
        "answer space planned"
    );

    let catalog_files = match &templates {
        Some(t) => catalog_pages(&staging, &rendered, t, previous.as_ref(), &mut timings)?,
        None => Vec::new(),
    };
    let t = Instant::now();
    progress(4, steps, "writing answers and routes");
    let mut files = answer_files;
    files.extend(catalog_files);
    let answer_bytes = space.answer_bytes;
    let index = gojson::to_go_pretty(
        &json!({"service.name": "package-registry", "service.version": VERSION}),
    );
    let w = staging.write(&rel("index.json")?, index.as_bytes())?;
    files.push((
        rel("index.json")?,
        w,
        headers::JSON.to_string(),
        CacheKind::Index,
    ));
    let favicon = match &opts.favicon {
        Some(p) => std::fs::read(p).at(p, "cannot read favicon")?,
        None => default_favicon(),
    };
    let w = staging.write(&rel("favicon.ico")?, &favicon)?;
    files.push((
        rel("favicon.ico")?,
        w,
        "image/x-icon".into(),
        CacheKind::CatchAll,
    ));

    let mut routes = RouteTable {
        format: crate::plan::routes::FORMAT,
        paths: BTreeMap::new(),
        packages: BTreeMap::new(),
        search: space.search,
        categories: space.categories,
        composed: Some(crate::plan::routes::Composed {
            index: INDEX.to_string(),
            search_cache: opts.cache.header(CacheKind::Search),
            categories_cache: opts.cache.header(CacheKind::Categories),
        }),
    };
    routes.paths.insert("/".into(), "index.json".into());
    routes
        .paths
        .insert("/index.json".into(), "index.json".into());
    routes
        .paths
        .insert("/favicon.ico".into(), "favicon.ico".into());
    let mut packages_meta = BTreeMap::new();
    for r in &rendered {
        let (n, v) = (r.package.name.clone(), r.package.version.to_string());
        routes
            .packages
            .entry(n.clone())
            .or_default()
            .insert(v.clone(), r.route.clone());
        packages_meta.insert(
            format!("{n}@{v}"),
            PackageMeta {
                name: n,
                version: v,
                source: r.source.to_string(),
                stage: r.stage.map(|s| s.as_str().to_string()),
                content_hash: r.content_hash.clone(),
            },
        );
    }
    let routes_bytes = {
        let mut v = serde_json::to_vec(&routes).expect("routes serialize");
        v.push(b'\n');
        v
    };
    let w = staging.write(&rel(ROUTES)?, &routes_bytes)?;
    files.push((rel(ROUTES)?, w, headers::JSON.to_string(), CacheKind::None));
    timings.push(("answers", t.elapsed().as_millis()));

    progress(5, steps, "writing the manifest and swapping the tree in");
    let t = Instant::now();
    let mut manifest_files = BTreeMap::new();
    let mut total = 0u64;
    // Moved, not copied: at scale these lists are most of a build's memory.
    let all = rendered
        .iter_mut()
        .flat_map(|r| std::mem::take(&mut r.files))
        .chain(files);
    for (r, w, content_type, kind) in all {
        let modified = first_seen.get(&w.blake3).copied().unwrap_or(now);
        total += w.size;
        manifest_files.insert(
            r,
            FileMeta {
                size: w.size,
                blake3: w.blake3,
                content_type,
                cache_control: opts.cache.header(kind),
                modified,
                content_encoding: None,
            },
        );
    }
    for s in &siblings {
        let meta = compress::sibling_meta(&manifest_files[&s.of], s);
        total += meta.size;
        manifest_files.insert(s.path.clone(), meta);
    }
    // Web servers send a file's mtime as Last-Modified: make it the manifest's time (one call
    // per content, since equal contents share one inode).
    let mut unique: BTreeMap<&str, (&RelPath, u64, u64)> = BTreeMap::new();
    for (p, m) in &manifest_files {
        unique
            .entry(m.blake3.as_str())
            .or_insert((p, m.modified, m.size));
    }
    let stored: u64 = unique.values().map(|(_, _, size)| size).sum();
    unique
        .par_iter()
        .try_for_each(|(_, (p, t, _))| staging.set_modified(p, *t))?;
    let options_hash = blake3::hash(
        format!(
            "{VERSION}|{:?}|{:?}|{:?}",
            opts.cache, opts.tag, opts.kibana_version
        )
        .as_bytes(),
    )
    .to_hex()[..16]
        .to_string();
    let manifest = Manifest {
        format: crate::write::manifest::FORMAT,
        generator: format!("eprgen {VERSION}"),
        stage: match &opts.inputs {
            Inputs::Stages { stage, .. } => Some(stage.as_str().to_string()),
            Inputs::Sources(_) => None,
        },
        tag: opts.tag.clone(),
        kibana_version: opts.kibana_version.clone(),
        options_hash,
        plan_key,
        compression: Some(compress::SETTINGS.to_string()),
        packages: packages_meta,
        files: manifest_files,
    };
    let build_id = staging.write_manifest(&manifest)?;
    let nfiles = manifest.files.len();
    let changes = match &previous {
        Some(p) => crate::verify::diff(&p.manifest, &manifest),
        None => crate::verify::diff(&Manifest::empty_like(&manifest), &manifest),
    };
    let out_dir = staging.commit_written(&build_id)?;
    timings.push(("commit", t.elapsed().as_millis()));
    tracing::info!(build_id = %build_id, files = nfiles, bytes = total, ms = t0.elapsed().as_millis() as u64, "build done");
    Ok(BuildReport {
        build_id,
        out_dir,
        packages: rendered.len(),
        files: nfiles,
        bytes: total,
        invalid,
        search_answers: routes.search.bodies(),
        categories_answers: routes.categories.bodies(),
        search_nodes: routes.search.nodes.len(),
        categories_nodes: routes.categories.nodes.len(),
        answer_bytes,
        stored_bytes: stored,
        policy_notes: policy,
        changes,
        timings,
    })
}
