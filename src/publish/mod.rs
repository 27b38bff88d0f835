//! Stage 7: `eprgen publish` uploads a built tree to object storage (S3, GCS, Azure Blob or a
//! folder) so that the bucket always serves one complete build. Like `serve` it reads only the
//! built tree (its manifest); it hands on a report and the CDN invalidation list.
//!
//! The key of each object is its path in the tree (under the URL's prefix), with the manifest's
//! Content-Type, Cache-Control and Content-Encoding, and its blake3 in the object's user
//! metadata (`blake3`). A publish:
//!
//! 1. reads the bucket's `_eprgen/manifest.json` (the live build) and `_eprgen/publish.json`
//!    (the journal of a publish that did not finish); a path whose entry (size, blake3,
//!    headers) is the same in both manifests and that no unfinished publish overwrote is
//!    unchanged and not touched;
//! 2. checks every other object that may be there already (HEAD: blake3 metadata and headers;
//!    `file://`: its bytes): just those keys when they are few, else the keys a single listing
//!    of the prefix shows with the new size; so a publish that was killed resumes without
//!    sending again what arrived;
//! 3. writes in a safe order: first the bodies nothing points to yet (new keys: zips, package
//!    files, answers); then the journal, naming every live key about to be overwritten; then the
//!    route data and the overwritten keys; last the manifest (the bucket's stage pointer: its
//!    blake3 is the build id). Identical bytes with identical headers are uploaded once and
//!    copied server-side (also from an unchanged live object);
//! 4. deletes the journal, and with `--prune`, every object under the prefix the new build does
//!    not have, only once the new manifest is live.

pub mod store;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use object_store::{
    Attribute, Attributes, GetOptions, ObjectStore, ObjectStoreExt, PutOptions, PutPayload,
};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::edge::Built;
use crate::error::{Error, IoContext, Result};
use crate::write::manifest::{FileMeta, Manifest};
use crate::write::{MANIFEST, META_DIR};
use store::Destination;

/// The journal of a publish in progress: live keys it overwrites before its manifest is live.
pub const JOURNAL: &str = "_eprgen/publish.json";
/// The user-metadata key holding an object's blake3.
pub const BLAKE3_META: &str = "blake3";
/// Test hook: abort the process (as a kill would) after this many writes to the store.
pub const ABORT_AFTER_ENV: &str = "EPRGEN_PUBLISH_ABORT_AFTER";
/// Bodies up to this size are sent in one request; larger ones in multipart uploads.
const SINGLE_PUT_MAX: u64 = 64 * 1024 * 1024;
const PART_SIZE: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct PublishOptions {
    pub root: PathBuf,
    pub to: String,
    /// Requests in flight at once.
    pub jobs: usize,
    /// Attempts per request after the first (exponential backoff; cloud stores).
    pub retries: usize,
    pub prune: bool,
    pub dry_run: bool,
}

/// Progress of the writes, for the CLI's progress bar.
pub trait Progress: Send + Sync {
    /// `objects` writes of `bytes` bytes in all are about to be made.
    fn start(&self, objects: u64, bytes: u64);
    /// One write of `bytes` bytes is done.
    fn advance(&self, bytes: u64);
}

/// A `Progress` that shows nothing.
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _: u64, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// One write a publish makes (or, with `--dry-run`, would make).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Action {
    Upload { key: String, size: u64 },
    Copy { from: String, key: String },
    Delete { key: String },
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Upload { key, size } => write!(f, "upload {key} ({size} bytes)"),
            Action::Copy { from, key } => write!(f, "copy {from} -> {key}"),
            Action::Delete { key } => write!(f, "delete {key}"),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PublishReport {
    pub url: String,
    pub build_id: String,
    /// The build the bucket served before (None: no manifest there).
    pub previous_build_id: Option<String>,
    /// Objects of the build (the manifest's files, the manifest, the error body).
    pub objects: usize,
    pub bytes: u64,
    /// Same entry in the live manifest: not touched.
    pub unchanged: usize,
    /// Already in the bucket with the right bytes and headers (a resumed publish).
    pub present: usize,
    pub uploaded: usize,
    pub uploaded_bytes: u64,
    pub copied: usize,
    pub deleted: usize,
    pub dry_run: bool,
    pub ms: u64,
    /// The viewer paths a CDN must invalidate (`/*` for a first publish).
    pub invalidation: Vec<String>,
    /// Every write, in order (with `--dry-run`, what would be written).
    #[serde(skip)]
    pub actions: Vec<Action>,
}

/// The headers an object carries, from the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Headers {
    content_type: String,
    cache_control: String,
    content_encoding: Option<String>,
}

#[derive(Debug, Clone)]
enum Source {
    File(PathBuf),
    Body(Vec<u8>),
}

/// One object of the new build.
#[derive(Debug, Clone)]
struct Object {
    rel: String,
    size: u64,
    blake3: String,
    headers: Headers,
    source: Source,
}

impl Object {
    fn of(rel: &str, m: &FileMeta, source: Source) -> Object {
        Object {
            rel: rel.to_string(),
            size: m.size,
            blake3: m.blake3.clone(),
            headers: Headers {
                content_type: m.content_type.clone(),
                cache_control: m.cache_control.clone(),
                content_encoding: m.content_encoding.clone(),
            },
            source,
        }
    }
}

/// The journal object's body.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Journal {
    build_id: String,
    overwrites: BTreeSet<String>,
}

/// What a publish does, in order.
#[derive(Debug, Default)]
struct Plan {
    /// Writes of the new bodies, then of the route data and overwritten keys, then the manifest.
    phases: [Phase; 3],
    /// Live keys the plan overwrites before its manifest is live (for the journal).
    overwrites: BTreeSet<String>,
    deletes: Vec<String>,
    unchanged: usize,
    present: usize,
}

#[derive(Debug, Default)]
struct Phase {
    uploads: Vec<Object>,
    /// (source key, object)
    copies: Vec<(String, Object)>,
}

/// What is known about the bucket before writing.
struct Remote {
    manifest: Option<Manifest>,
    manifest_bytes: Option<Vec<u8>>,
    journal: Option<Journal>,
    /// Keys under the prefix (paths in the tree) with their sizes; None when not listed.
    listing: Option<BTreeMap<String, u64>>,
    /// The live manifest is byte for byte the new one.
    same_build: bool,
}

fn same_entry(a: &FileMeta, b: &FileMeta) -> bool {
    a.size == b.size
        && a.blake3 == b.blake3
        && a.content_type == b.content_type
        && a.cache_control == b.cache_control
        && a.content_encoding == b.content_encoding
}

/// Which phase writes `rel`: 0 a key the live build does not have, 1 route data or a live key
/// overwritten, 2 the manifest.
fn phase_of(rel: &str, live: Option<&Manifest>) -> usize {
    let route_data =
        rel.starts_with(&format!("{META_DIR}/")) && rel != crate::edge::s3::RESOURCE_NOT_FOUND;
    let overwrites_live = live
        .is_some_and(|m| crate::write::RelPath::new(rel).is_some_and(|r| m.files.contains_key(&r)));
    if rel == MANIFEST {
        2
    } else if route_data || overwrites_live {
        1
    } else {
        // A key outside the live manifest is new to it, even when the bucket holds a stray
        // object there (a killed publish, the error body): nothing routes to it yet.
        0
    }
}

/// Decide every write from the new build's objects and what the bucket holds. `present` says
/// which listed objects were checked to hold the new bytes and headers already.
fn plan(
    objects: &[Object],
    remote: &Remote,
    present: &BTreeSet<String>,
    prune: bool,
    keep: &BTreeSet<String>,
) -> Plan {
    let mut p = Plan::default();
    let live = remote.manifest.as_ref();
    let suspect: BTreeSet<&String> = remote
        .journal
        .iter()
        .flat_map(|j| j.overwrites.iter())
        .collect();
    // Unchanged live objects are copy sources for the same bytes and headers elsewhere.
    let mut sources: HashMap<(String, Headers), String> = HashMap::new();
    let mut todo: Vec<(usize, &Object)> = Vec::new();
    for o in objects {
        let unchanged = o.rel != MANIFEST
            && !suspect.contains(&o.rel)
            && live.is_some_and(|m| {
                crate::write::RelPath::new(o.rel.as_str())
                    .and_then(|r| m.files.get(&r))
                    .is_some_and(|old| {
                        same_entry(
                            old,
                            &FileMeta {
                                size: o.size,
                                blake3: o.blake3.clone(),
                                content_type: o.headers.content_type.clone(),
                                cache_control: o.headers.cache_control.clone(),
                                modified: old.modified,
                                content_encoding: o.headers.content_encoding.clone(),
                            },
                        )
                    })
            });
        // The manifest, and the objects outside it (the error body), were written by the
        // publish that made this very manifest live.
        let same_build = remote.same_build
            && !suspect.contains(&o.rel)
            && (o.rel == MANIFEST
                || crate::write::RelPath::new(o.rel.as_str())
                    .is_none_or(|r| !live.is_some_and(|m| m.files.contains_key(&r))));
        if unchanged || same_build {
            p.unchanged += 1;
            sources
                .entry((o.blake3.clone(), o.headers.clone()))
                .or_insert_with(|| o.rel.clone());
        } else if present.contains(&o.rel) {
            p.present += 1;
        } else {
            todo.push((phase_of(&o.rel, live), o));
        }
    }
    // Earliest phase first, so a copy's source is written before it (or is a live object).
    todo.sort_by_key(|(phase, _)| *phase);
    for (phase, o) in todo {
        if phase == 1 && live.is_some() && o.rel != MANIFEST {
            let is_live = live.is_some_and(|m| {
                crate::write::RelPath::new(o.rel.as_str()).is_some_and(|r| m.files.contains_key(&r))
            });
            if is_live || o.rel.starts_with(&format!("{META_DIR}/")) {
                p.overwrites.insert(o.rel.clone());
            }
        }
        let group = (o.blake3.clone(), o.headers.clone());
        match sources.get(&group) {
            Some(from) if o.rel != MANIFEST => {
                p.phases[phase].copies.push((from.clone(), o.clone()));
            }
            _ => {
                if o.rel != MANIFEST {
                    sources.insert(group, o.rel.clone());
                }
                p.phases[phase].uploads.push(o.clone());
            }
        }
    }
    if prune {
        if let Some(listing) = &remote.listing {
            let new: BTreeSet<&str> = objects.iter().map(|o| o.rel.as_str()).collect();
            p.deletes = listing
                .keys()
                .filter(|k| !new.contains(k.as_str()) && !keep.contains(k.as_str()))
                .cloned()
                .collect();
        }
    }
    p
}

/// The viewer paths a CDN must drop from its cache when these tree paths changed: answers and
/// route data stand behind every `/search` and `/categories` query; a precompressed sibling
/// behind its identity path; a package JSON behind `/package/{name}/{version}/`; a catalog
/// page behind its folder's path (`/catalog/…/`, which serve and nginx answer with it).
pub fn invalidation(changed: &BTreeSet<String>) -> Vec<String> {
    let mut out = BTreeSet::new();
    for rel in changed {
        let rel = rel
            .strip_suffix(".gz")
            .or_else(|| rel.strip_suffix(".br"))
            .filter(|r| r.ends_with(".json"))
            .unwrap_or(rel);
        if rel.starts_with("answers/")
            || rel == crate::plan::routes::ROUTES
            || rel == "_eprgen/index.json"
        {
            out.insert("/search*".to_string());
            out.insert("/categories*".to_string());
        } else if rel.starts_with(&format!("{META_DIR}/")) {
            continue;
        } else if rel == "index.json" {
            out.insert("/".to_string());
            out.insert("/index.json".to_string());
        } else {
            if let Some(dir) = rel
                .strip_suffix("/index.json")
                .filter(|d| d.starts_with("package/") && d.matches('/').count() == 2)
            {
                out.insert(format!("/{dir}/"));
            }
            if let Some(dir) = rel
                .strip_suffix("index.html")
                .filter(|d| d.starts_with("catalog/"))
            {
                out.insert(format!("/{dir}"));
            }
            out.insert(format!("/{rel}"));
        }
    }
    out.into_iter().collect()
}

/// Changed public paths between the live manifest and the new one (`/*` with no live one).
fn changed_paths(live: Option<&Manifest>, new: &Manifest) -> Vec<String> {
    let Some(live) = live else {
        return vec!["/*".to_string()];
    };
    let mut changed = BTreeSet::new();
    for (rel, m) in &new.files {
        if live.files.get(rel).is_none_or(|old| !same_entry(old, m)) {
            changed.insert(rel.to_string());
        }
    }
    for rel in live.files.keys() {
        if !new.files.contains_key(rel) {
            changed.insert(rel.to_string());
        }
    }
    invalidation(&changed)
}

/// Shared state of the running publish.
struct Ctx {
    dest: Destination,
    progress: Arc<dyn Progress>,
    writes: AtomicUsize,
    abort_after: Option<usize>,
    uploaded_bytes: AtomicU64,
}

impl Ctx {
    /// Count a write to the store (and honour the kill test hook).
    fn wrote(&self, bytes: u64) {
        self.progress.advance(bytes);
        let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        if self.abort_after == Some(n) {
            eprintln!("{ABORT_AFTER_ENV}={n}: aborting after {n} writes (test hook)");
            std::process::abort();
        }
    }

    fn attributes(&self, o: &Object) -> Attributes {
        let mut a = Attributes::new();
        if !self.dest.has_attributes {
            return a;
        }
        a.insert(
            Attribute::ContentType,
            o.headers.content_type.clone().into(),
        );
        a.insert(
            Attribute::CacheControl,
            o.headers.cache_control.clone().into(),
        );
        if let Some(e) = &o.headers.content_encoding {
            a.insert(Attribute::ContentEncoding, e.clone().into());
        }
        a.insert(
            Attribute::Metadata(BLAKE3_META.into()),
            o.blake3.clone().into(),
        );
        a
    }

    async fn upload(&self, o: Object) -> Result<()> {
        let key = self.dest.key(&o.rel)?;
        let opts = PutOptions {
            attributes: self.attributes(&o),
            ..Default::default()
        };
        let bytes = match &o.source {
            Source::Body(b) => b.clone(),
            Source::File(p) if o.size <= SINGLE_PUT_MAX => {
                tokio::fs::read(p).await.at(p, "cannot read")?
            }
            Source::File(p) => return self.upload_parts(&o, p, key, opts).await,
        };
        check_bytes(&o, &bytes)?;
        let n = bytes.len() as u64;
        self.dest
            .store
            .put_opts(&key, PutPayload::from(bytes), opts)
            .await
            .map_err(|e| self.dest.error(&o.rel, "cannot upload", e))?;
        self.uploaded_bytes.fetch_add(n, Ordering::Relaxed);
        self.wrote(n);
        Ok(())
    }

    /// A large body in parts, hashed on the way; not completed when it differs from the manifest.
    async fn upload_parts(
        &self,
        o: &Object,
        p: &std::path::Path,
        key: object_store::path::Path,
        opts: PutOptions,
    ) -> Result<()> {
        use tokio::io::AsyncReadExt;
        let mopts = object_store::PutMultipartOptions {
            attributes: opts.attributes,
            ..Default::default()
        };
        let mut up = self
            .dest
            .store
            .put_multipart_opts(&key, mopts)
            .await
            .map_err(|e| self.dest.error(&o.rel, "cannot upload", e))?;
        let mut f = tokio::fs::File::open(p).await.at(p, "cannot open")?;
        let mut hasher = blake3::Hasher::new();
        let mut size = 0u64;
        loop {
            let mut buf = Vec::with_capacity(PART_SIZE);
            while buf.len() < PART_SIZE {
                let n = (&mut f)
                    .take((PART_SIZE - buf.len()) as u64)
                    .read_to_end(&mut buf)
                    .await
                    .at(p, "cannot read")?;
                if n == 0 {
                    break;
                }
            }
            if buf.is_empty() {
                break;
            }
            hasher.update(&buf);
            size += buf.len() as u64;
            let last = buf.len() < PART_SIZE;
            up.put_part(PutPayload::from(buf))
                .await
                .map_err(|e| self.dest.error(&o.rel, "cannot upload", e))?;
            if last {
                break;
            }
        }
        if size != o.size || hasher.finalize().to_hex().as_str() != o.blake3 {
            let _ = up.abort().await;
            return Err(differs(o));
        }
        up.complete()
            .await
            .map_err(|e| self.dest.error(&o.rel, "cannot upload", e))?;
        self.uploaded_bytes.fetch_add(size, Ordering::Relaxed);
        self.wrote(size);
        Ok(())
    }

    async fn copy(&self, from: String, o: Object) -> Result<()> {
        let (src, dst) = (self.dest.key(&from)?, self.dest.key(&o.rel)?);
        self.dest
            .store
            .copy(&src, &dst)
            .await
            .map_err(|e| self.dest.error(&o.rel, "cannot copy", e))?;
        self.wrote(0);
        Ok(())
    }

    async fn delete(&self, rel: String) -> Result<()> {
        let key = self.dest.key(&rel)?;
        match self.dest.store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(self.dest.error(&rel, "cannot delete", e)),
        }
        self.wrote(0);
        Ok(())
    }

    /// Does the bucket hold `o` already (same bytes, and headers where the store keeps them)?
    async fn holds(&self, o: Object) -> Result<Option<String>> {
        let key = self.dest.key(&o.rel)?;
        if self.dest.has_attributes {
            let r = match self
                .dest
                .store
                .get_opts(&key, GetOptions::new().with_head(true))
                .await
            {
                Ok(r) => r,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(self.dest.error(&o.rel, "cannot read", e)),
            };
            let a = &r.attributes;
            let get = |k: &Attribute| a.get(k).map(|v| v.as_ref().to_string());
            let ok = r.meta.size == o.size
                && get(&Attribute::Metadata(BLAKE3_META.into())).as_deref()
                    == Some(o.blake3.as_str())
                && get(&Attribute::ContentType).as_deref() == Some(o.headers.content_type.as_str())
                && get(&Attribute::CacheControl).as_deref()
                    == Some(o.headers.cache_control.as_str())
                && get(&Attribute::ContentEncoding) == o.headers.content_encoding;
            Ok(ok.then_some(o.rel))
        } else {
            let bytes = match self.dest.store.get(&key).await {
                Ok(r) => r
                    .bytes()
                    .await
                    .map_err(|e| self.dest.error(&o.rel, "cannot read", e))?,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(self.dest.error(&o.rel, "cannot read", e)),
            };
            let ok =
                bytes.len() as u64 == o.size && blake3::hash(&bytes).to_hex().as_str() == o.blake3;
            Ok(ok.then_some(o.rel))
        }
    }

    /// Read a small object; None when it does not exist.
    async fn read(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        let key = self.dest.key(rel)?;
        match self.dest.store.get(&key).await {
            Ok(r) => Ok(Some(
                r.bytes()
                    .await
                    .map_err(|e| self.dest.error(rel, "cannot read", e))?
                    .to_vec(),
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.dest.error(rel, "cannot read", e)),
        }
    }

    async fn list(&self) -> Result<BTreeMap<String, u64>> {
        use futures_util::StreamExt;
        let prefix = if self.dest.prefix.is_empty() {
            None
        } else {
            Some(
                object_store::path::Path::parse(&self.dest.prefix).map_err(|e| {
                    Error::Usage(format!("{}: not a valid prefix: {e}", self.dest.url))
                })?,
            )
        };
        let mut stream = self.dest.store.list(prefix.as_ref());
        let mut out = BTreeMap::new();
        while let Some(m) = stream.next().await {
            let m = match m {
                Ok(m) => m,
                // A folder that does not exist yet is an empty prefix.
                Err(object_store::Error::NotFound { .. }) if !self.dest.has_attributes => break,
                Err(e) => return Err(self.dest.error("", "cannot list", e)),
            };
            if let Some(rel) = self.dest.rel(m.location.as_ref()) {
                out.insert(rel.to_string(), m.size);
            }
        }
        Ok(out)
    }
}

/// The tree's file is not what its manifest says (changed after the build): exit 1.
fn differs(o: &Object) -> Error {
    let path = match &o.source {
        Source::File(p) => p.clone(),
        Source::Body(_) => PathBuf::from(&o.rel),
    };
    Error::Input {
        path,
        reason: "differs from the tree's manifest (size or blake3; run `eprgen verify`)"
            .to_string(),
    }
}

fn check_bytes(o: &Object, bytes: &[u8]) -> Result<()> {
    if bytes.len() as u64 != o.size || blake3::hash(bytes).to_hex().as_str() != o.blake3 {
        return Err(differs(o));
    }
    Ok(())
}

/// Run `f` on every item with at most `jobs` in flight; the first error stops the rest.
async fn bounded<T, R, F, Fut>(jobs: usize, items: Vec<T>, f: F) -> Result<Vec<R>>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<R>> + Send + 'static,
    R: Send + 'static,
{
    let mut set = JoinSet::new();
    let mut out = Vec::with_capacity(items.len());
    let mut items = items.into_iter();
    loop {
        while set.len() < jobs.max(1) {
            match items.next() {
                Some(x) => {
                    set.spawn(f(x));
                }
                None => break,
            }
        }
        match set.join_next().await {
            None => return Ok(out),
            Some(Ok(r)) => out.push(r?),
            Some(Err(e)) => {
                return Err(Error::Usage(format!("internal error: a task failed: {e}")))
            }
        }
    }
}

/// Publish the tree at `opts.root` to `opts.to`.
pub fn publish(opts: &PublishOptions, progress: Arc<dyn Progress>) -> Result<PublishReport> {
    let dest = store::open(&opts.to, opts.retries)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::io("tokio", "cannot start the runtime", e))?;
    let abort_after = std::env::var(ABORT_AFTER_ENV)
        .ok()
        .and_then(|v| v.parse().ok());
    let ctx = Arc::new(Ctx {
        dest,
        progress,
        writes: AtomicUsize::new(0),
        abort_after,
        uploaded_bytes: AtomicU64::new(0),
    });
    rt.block_on(run(opts, ctx))
}

async fn run(opts: &PublishOptions, ctx: Arc<Ctx>) -> Result<PublishReport> {
    let t0 = Instant::now();
    // Resolve the output link once: the build folder stays as it is while we read it.
    let built = Built::load(&opts.root)?;
    let mp = built.dir.join(MANIFEST);
    let manifest_bytes = std::fs::read(&mp).at(&mp, "cannot read manifest")?;
    let new = &built.manifest;
    let mut objects: Vec<Object> = new
        .files
        .iter()
        .filter(|(rel, _)| rel.as_str() != JOURNAL)
        .map(|(rel, m)| Object::of(rel.as_str(), m, Source::File(rel.to_path(&built.dir))))
        .collect();
    let nf = crate::edge::s3::not_found_object(new);
    let body = nf.body.clone().unwrap_or_default().into_bytes();
    objects.push(Object {
        rel: nf.key.clone(),
        size: body.len() as u64,
        blake3: blake3::hash(&body).to_hex().to_string(),
        headers: Headers {
            content_type: nf.content_type,
            cache_control: nf.cache_control,
            content_encoding: None,
        },
        source: Source::Body(body),
    });
    let mf = FileMeta {
        size: manifest_bytes.len() as u64,
        blake3: blake3::hash(&manifest_bytes).to_hex().to_string(),
        content_type: "application/json".to_string(),
        cache_control: crate::render::headers::NO_STORE.to_string(),
        modified: 0,
        content_encoding: None,
    };
    objects.push(Object::of(
        MANIFEST,
        &mf,
        Source::Body(manifest_bytes.clone()),
    ));

    // 1. What the bucket serves, and what an unfinished publish may have overwritten.
    let live_bytes = ctx.read(MANIFEST).await?;
    let live = match &live_bytes {
        Some(b) => Some(
            serde_json::from_slice::<Manifest>(b).map_err(|e| Error::NotATree {
                path: PathBuf::from(ctx.dest.display_key(MANIFEST)),
                reason: format!("the bucket's manifest is not valid: {e}"),
            })?,
        ),
        None => None,
    };
    let journal = match ctx.read(JOURNAL).await? {
        Some(b) => Some(
            serde_json::from_slice::<Journal>(&b).map_err(|e| Error::NotATree {
                path: PathBuf::from(ctx.dest.display_key(JOURNAL)),
                reason: format!("the publish journal is not valid: {e}"),
            })?,
        ),
        None => None,
    };
    let same = live_bytes.as_deref() == Some(manifest_bytes.as_slice());
    let mut remote = Remote {
        manifest: live,
        manifest_bytes: live_bytes,
        journal,
        listing: None,
        same_build: same,
    };
    // 2. Check what of the rest arrived already. A bucket serving a build that differs in a
    //    few paths is asked about those (a HEAD each); otherwise (a first publish, many
    //    changes, --prune) it is listed once and only keys there with the new size are asked.
    let first = plan(&objects, &remote, &BTreeSet::new(), false, &BTreeSet::new());
    let pending: Vec<&Object> = first
        .phases
        .iter()
        .flat_map(|p| p.uploads.iter().chain(p.copies.iter().map(|(_, o)| o)))
        .collect();
    if opts.prune || remote.manifest.is_none() || pending.len() > (objects.len() / 100).max(100) {
        remote.listing = Some(ctx.list().await?);
    }
    let candidates: Vec<Object> = pending
        .into_iter()
        .filter(|o| match &remote.listing {
            Some(l) => l.get(&o.rel).is_some_and(|size| *size == o.size),
            None => true,
        })
        .cloned()
        .collect();
    let c2 = ctx.clone();
    let present: BTreeSet<String> = bounded(opts.jobs, candidates, move |o| {
        let c = c2.clone();
        async move { c.holds(o).await }
    })
    .await?
    .into_iter()
    .flatten()
    .collect();
    let keep: BTreeSet<String> = [JOURNAL.to_string()].into();
    let plan = plan(&objects, &remote, &present, opts.prune, &keep);

    let mut report = PublishReport {
        url: ctx.dest.url.clone(),
        build_id: built.build_id.clone(),
        previous_build_id: remote
            .manifest_bytes
            .as_ref()
            .map(|b| Manifest::build_id(b)),
        objects: objects.len(),
        bytes: objects.iter().map(|o| o.size).sum(),
        unchanged: plan.unchanged,
        present: plan.present,
        dry_run: opts.dry_run,
        invalidation: changed_paths(remote.manifest.as_ref(), new),
        ..Default::default()
    };
    for phase in &plan.phases {
        for o in &phase.uploads {
            report.actions.push(Action::Upload {
                key: o.rel.clone(),
                size: o.size,
            });
        }
        for (from, o) in &phase.copies {
            report.actions.push(Action::Copy {
                from: from.clone(),
                key: o.rel.clone(),
            });
        }
    }
    for d in &plan.deletes {
        report.actions.push(Action::Delete { key: d.clone() });
    }
    report.uploaded = plan.phases.iter().map(|p| p.uploads.len()).sum();
    report.copied = plan.phases.iter().map(|p| p.copies.len()).sum();
    report.deleted = plan.deletes.len();
    if opts.dry_run {
        report.uploaded_bytes = plan
            .phases
            .iter()
            .flat_map(|p| &p.uploads)
            .map(|o| o.size)
            .sum();
        report.ms = t0.elapsed().as_millis() as u64;
        return Ok(report);
    }

    // 3. Write, in the safe order.
    let writes = report.uploaded + report.copied + report.deleted;
    let bytes: u64 = plan
        .phases
        .iter()
        .flat_map(|p| &p.uploads)
        .map(|o| o.size)
        .sum();
    let journal_written = !plan.overwrites.is_empty();
    ctx.progress
        .start((writes + usize::from(journal_written)) as u64, bytes);
    let Plan {
        phases, overwrites, ..
    } = plan;
    for (i, phase) in phases.into_iter().enumerate() {
        if i == 1 && journal_written {
            // Name every live key this publish overwrites before its manifest is live, so the
            // next publish does not trust the live manifest for them.
            let mut j = remote.journal.take().unwrap_or_default();
            j.build_id = built.build_id.clone();
            j.overwrites.extend(overwrites.iter().cloned());
            let body = serde_json::to_vec_pretty(&j).expect("journal serializes");
            let key = ctx.dest.key(JOURNAL)?;
            ctx.dest
                .store
                .put(&key, PutPayload::from(body))
                .await
                .map_err(|e| ctx.dest.error(JOURNAL, "cannot write", e))?;
            ctx.wrote(0);
        }
        let c = ctx.clone();
        bounded(opts.jobs, phase.uploads, move |o| {
            let c = c.clone();
            async move { c.upload(o).await }
        })
        .await?;
        let c = ctx.clone();
        bounded(opts.jobs, phase.copies, move |(from, o)| {
            let c = c.clone();
            async move { c.copy(from, o).await }
        })
        .await?;
    }
    // 4. The new build is live: drop the journal, then what it no longer has.
    if journal_written || remote.journal.is_some() {
        let key = ctx.dest.key(JOURNAL)?;
        match ctx.dest.store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(ctx.dest.error(JOURNAL, "cannot delete", e)),
        }
    }
    let c = ctx.clone();
    bounded(opts.jobs, plan_deletes(&report), move |rel| {
        let c = c.clone();
        async move { c.delete(rel).await }
    })
    .await?;
    report.uploaded_bytes = ctx.uploaded_bytes.load(Ordering::Relaxed);
    report.ms = t0.elapsed().as_millis() as u64;
    Ok(report)
}

fn plan_deletes(report: &PublishReport) -> Vec<String> {
    report
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Delete { key } => Some(key.clone()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(blake3: &str) -> FileMeta {
        FileMeta {
            size: 1,
            blake3: blake3.into(),
            content_type: "application/json".into(),
            cache_control: "max-age=600, public".into(),
            modified: 0,
            content_encoding: None,
        }
    }

    fn obj(rel: &str, blake3: &str) -> Object {
        Object::of(rel, &meta(blake3), Source::Body(vec![0]))
    }

    fn manifest(files: &[(&str, &str)]) -> Manifest {
        Manifest {
            format: 1,
            generator: "t".into(),
            stage: None,
            tag: None,
            kibana_version: None,
            options_hash: String::new(),
            plan_key: String::new(),
            compression: None,
            packages: BTreeMap::new(),
            files: files
                .iter()
                .map(|(p, b)| (crate::write::RelPath::new(*p).unwrap(), meta(b)))
                .collect(),
        }
    }

    fn remote(m: Option<Manifest>, listing: &[&str]) -> Remote {
        Remote {
            manifest: m,
            manifest_bytes: None,
            journal: None,
            listing: Some(listing.iter().map(|k| (k.to_string(), 1)).collect()),
            same_build: false,
        }
    }

    fn keys(v: &[Object]) -> Vec<&str> {
        v.iter().map(|o| o.rel.as_str()).collect()
    }

    #[test]
    fn new_bodies_first_then_route_data_and_overwrites_then_the_manifest() {
        let live = manifest(&[("index.json", "i1"), ("epr/a/a-1.zip", "z1")]);
        let objects = vec![
            obj("index.json", "i2"),
            obj("epr/a/a-1.zip", "z1"),
            obj("epr/a/a-2.zip", "z2"),
            obj("_eprgen/routes.json", "r2"),
            obj(MANIFEST, "m2"),
        ];
        let p = plan(
            &objects,
            &remote(Some(live), &["index.json", "epr/a/a-1.zip", "old.txt"]),
            &BTreeSet::new(),
            true,
            &BTreeSet::new(),
        );
        assert_eq!(keys(&p.phases[0].uploads), ["epr/a/a-2.zip"]);
        assert_eq!(
            keys(&p.phases[1].uploads),
            ["index.json", "_eprgen/routes.json"]
        );
        assert_eq!(keys(&p.phases[2].uploads), [MANIFEST]);
        assert_eq!(p.unchanged, 1);
        assert_eq!(p.deletes, ["old.txt"]);
        assert_eq!(
            p.overwrites.iter().collect::<Vec<_>>(),
            ["_eprgen/routes.json", "index.json"]
        );
    }

    #[test]
    fn identical_bytes_are_uploaded_once_and_copied_also_from_live_objects() {
        let live = manifest(&[("package/a/1/README.md", "same")]);
        let objects = vec![
            obj("package/a/1/README.md", "same"),
            obj("package/a/2/README.md", "same"),
            obj("package/b/1/LICENSE", "lic"),
            obj("package/b/2/LICENSE", "lic"),
        ];
        let p = plan(
            &objects,
            &remote(Some(live), &[]),
            &BTreeSet::new(),
            false,
            &BTreeSet::new(),
        );
        assert_eq!(keys(&p.phases[0].uploads), ["package/b/1/LICENSE"]);
        let copies: Vec<_> = p.phases[0]
            .copies
            .iter()
            .map(|(f, o)| (f.as_str(), o.rel.as_str()))
            .collect();
        assert_eq!(
            copies,
            [
                ("package/a/1/README.md", "package/a/2/README.md"),
                ("package/b/1/LICENSE", "package/b/2/LICENSE")
            ]
        );
    }

    #[test]
    fn present_objects_and_journal_suspects() {
        let live = manifest(&[("index.json", "i1"), ("a.json", "a")]);
        let mut r = remote(Some(live), &["index.json", "a.json", "b.json"]);
        r.journal = Some(Journal {
            build_id: "x".into(),
            overwrites: ["index.json".to_string()].into(),
        });
        let objects = vec![
            obj("index.json", "i1"),
            obj("a.json", "a"),
            obj("b.json", "b"),
        ];
        let present: BTreeSet<String> = ["b.json".to_string()].into();
        let p = plan(&objects, &r, &present, false, &BTreeSet::new());
        // index.json has the live entry, but a killed publish may have overwritten it.
        assert_eq!(keys(&p.phases[1].uploads), ["index.json"]);
        assert!(p.phases[0].uploads.is_empty());
        assert_eq!((p.unchanged, p.present), (1, 1));
    }

    #[test]
    fn invalidation_paths_are_viewer_paths() {
        let changed: BTreeSet<String> = [
            "answers/abc.json.br",
            "package/a/1.0.0/index.json.gz",
            "package/a/1.0.0/docs/README.md",
            "epr/a/a-1.0.0.zip",
            "index.json",
            "_eprgen/manifest.json",
            "catalog/index.html",
            "catalog/package/a/index.html",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            invalidation(&changed),
            [
                "/",
                "/catalog/",
                "/catalog/index.html",
                "/catalog/package/a/",
                "/catalog/package/a/index.html",
                "/categories*",
                "/epr/a/a-1.0.0.zip",
                "/index.json",
                "/package/a/1.0.0/",
                "/package/a/1.0.0/docs/README.md",
                "/package/a/1.0.0/index.json",
                "/search*"
            ]
        );
    }
}
