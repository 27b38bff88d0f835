//! `eprgen serve`: serve a built tree exactly as a CDN with eprgen's routing would. It reads only
//! the tree (`_eprgen/manifest.json` for headers, `_eprgen/routes.json` for routes), so it starts
//! without indexing anything. Files are looked up in the manifest, never by a path taken from
//! the request, so nothing outside the tree can be reached.
//!
//! When the root is an eprgen output link (see `write`), each request resolves the link once and
//! is answered entirely from that build; a rebuild that swaps the link is picked up at once.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;

use crate::catalog::query::{CategoriesFilter, SearchFilter};
use crate::error::{Error, IoContext, Result};
use crate::plan::compose::{AnswerIndex, Composer, Parts};
use crate::plan::routes::{answer_path, RouteTable, ROUTES};
use crate::plan::space::{RouteError, Routed, Router};
use crate::plan::Endpoint;
use crate::render::compress::Encoding;
use crate::render::headers::{NO_STORE, TEXT};
use crate::write::manifest::{FileMeta, Manifest};

/// `<prefix>search` and `<prefix>categories` always compose (after EPR's 400 checks): the path
/// a CDN sends the queries it has no file for to, on a fallback origin serving the same tree.
pub const COMPOSE_PREFIX: &str = "/_eprgen/compose/";

/// Query strings longer than this are refused (EPR-shaped 400).
pub const MAX_QUERY: usize = 8 * 1024;

/// Files up to this size are read in one go; larger ones are streamed.
const SMALL_FILE: u64 = 1024 * 1024;

/// One loaded build.
#[derive(Debug)]
pub struct Tree {
    pub dir: PathBuf,
    /// Every file a request can name (precompressed siblings are not among them).
    pub files: HashMap<String, FileMeta>,
    /// The precompressed siblings of a file (`<file>.gz`, `<file>.br`), by the file's path.
    pub siblings: HashMap<String, Vec<(Encoding, String, FileMeta)>>,
    pub routes: RouteTable,
    pub search: Router,
    pub categories: Router,
    /// Composes the answers the route table does not materialize.
    pub composer: Option<Composer>,
    /// Bodies of small files already read (a build never changes, so nothing goes stale).
    cache: RwLock<(usize, HashMap<String, Bytes>)>,
    /// Composed bodies by canonical query, most recently used kept.
    composed: std::sync::Mutex<Composed>,
}

/// A bounded least-recently-used cache of composed bodies (as slices of the composer's
/// fragment buffer, so an entry costs its slice list, not its body).
#[derive(Debug)]
struct Composed {
    lru: lru::LruCache<String, Parts>,
    bytes: usize,
}

/// At most this many bytes are kept by cached composed bodies.
const COMPOSED_BYTES: usize = 64 * 1024 * 1024;

impl Composed {
    fn new() -> Composed {
        Composed {
            lru: lru::LruCache::unbounded(),
            bytes: 0,
        }
    }

    fn get(&mut self, key: &str) -> Option<Parts> {
        self.lru.get(key).cloned()
    }

    fn cost(key: &str, body: &Parts) -> usize {
        key.len() + body.held()
    }

    fn put(&mut self, key: String, body: Parts) {
        let cost = Composed::cost(&key, &body);
        if cost > COMPOSED_BYTES / 4 {
            return;
        }
        self.bytes += cost;
        if let Some(old) = self.lru.put(key.clone(), body) {
            self.bytes -= Composed::cost(&key, &old);
        }
        while self.bytes > COMPOSED_BYTES {
            match self.lru.pop_lru() {
                Some((k, b)) => self.bytes -= Composed::cost(&k, &b),
                None => break,
            }
        }
    }
}

/// Files up to this size are kept in memory once read, up to `CACHE_BYTES` in all.
const CACHE_FILE: u64 = 1024 * 1024;
const CACHE_BYTES: usize = 128 * 1024 * 1024;

impl Tree {
    /// The whole body of a small file: from memory, or read once (synchronously: it is small
    /// and in the page cache, cheaper than a trip through a blocking pool).
    fn small_file(&self, rel: &str, size: u64) -> io::Result<Bytes> {
        if let Some(b) = self.cache.read().expect("cache lock").1.get(rel) {
            return Ok(b.clone());
        }
        let v = fs::read(self.dir.join(rel))?;
        if v.len() as u64 != size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "file differs from the manifest",
            ));
        }
        let b = Bytes::from(v);
        if size <= CACHE_FILE {
            let mut c = self.cache.write().expect("cache lock");
            if c.0 + b.len() <= CACHE_BYTES {
                c.0 += b.len();
                c.1.insert(rel.to_string(), b.clone());
            }
        }
        Ok(b)
    }
}

impl Tree {
    pub fn load(dir: &Path) -> Result<Tree> {
        let manifest = Manifest::load(dir)?;
        let rp = dir.join(ROUTES);
        let bytes = fs::read(&rp).at(&rp, "cannot read route table")?;
        let routes: RouteTable = serde_json::from_slice(&bytes).map_err(|e| Error::NotATree {
            path: rp.clone(),
            reason: format!("route table is not valid: {e}"),
        })?;
        // Every file the route table names must be a plain path inside the tree (the manifest's
        // paths are checked as it loads): a tampered tree is refused whole, not served in part.
        let named = routes
            .paths
            .values()
            .chain(routes.packages.values().flat_map(|v| {
                v.values()
                    .flat_map(|p| [Some(&p.info), Some(&p.zip), p.sig.as_ref()])
                    .flatten()
            }))
            .chain(routes.composed.iter().map(|c| &c.index));
        for p in named {
            if crate::write::RelPath::new(p.as_str()).is_none() {
                return Err(Error::NotATree {
                    path: rp.clone(),
                    reason: format!(
                        "route table names {p:?}, which is not a plain path inside the tree"
                    ),
                });
            }
        }
        for id in routes
            .search
            .answers
            .iter()
            .chain(&routes.categories.answers)
        {
            if !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::NotATree {
                    path: rp.clone(),
                    reason: format!("route table names answer {id:?}, which is not a hex id"),
                });
            }
        }
        let mut files: HashMap<String, FileMeta> = HashMap::new();
        let mut encoded = Vec::new();
        for (k, v) in manifest.files {
            match v.content_encoding.as_deref().and_then(Encoding::from_token) {
                Some(e) => encoded.push((e, k.as_str().to_string(), v)),
                None => {
                    files.insert(k.as_str().to_string(), v);
                }
            }
        }
        // A sibling belongs to the file its name extends (an unknown coding is just not served).
        let mut siblings: HashMap<String, Vec<(Encoding, String, FileMeta)>> = HashMap::new();
        for (e, path, meta) in encoded {
            if let Some(of) = path.strip_suffix(e.suffix()) {
                if files.contains_key(of) {
                    siblings
                        .entry(of.to_string())
                        .or_default()
                        .push((e, path, meta));
                }
            }
        }
        let search = Router::new(routes.search.clone());
        let categories = Router::new(routes.categories.clone());
        let composer = match &routes.composed {
            Some(c) => {
                let ip = dir.join(&c.index);
                if !files.contains_key(&c.index) {
                    return Err(Error::NotATree {
                        path: ip,
                        reason: "the composition index is not in the manifest".into(),
                    });
                }
                let bytes = fs::read(&ip).at(&ip, "cannot read the composition index")?;
                let index: AnswerIndex =
                    serde_json::from_slice(&bytes).map_err(|e| Error::NotATree {
                        path: ip.clone(),
                        reason: format!("composition index is not valid: {e}"),
                    })?;
                Some(Composer::new(index))
            }
            None => None,
        };
        Ok(Tree {
            dir: dir.to_path_buf(),
            files,
            siblings,
            routes,
            search,
            categories,
            composer,
            cache: Default::default(),
            composed: std::sync::Mutex::new(Composed::new()),
        })
    }

    /// A composed answer body: from the cache, or composed now. `None` when the tree cannot
    /// compose (no index, or an index that cannot place the query).
    pub fn compose(&self, ep: Endpoint, raw_query: &str) -> Option<Bytes> {
        self.compose_parts(ep, raw_query).map(|p| p.join())
    }

    /// [`Tree::compose`]'s body as the slices it is sent as.
    pub fn compose_parts(&self, ep: Endpoint, raw_query: &str) -> Option<Parts> {
        let composer = self.composer.as_ref()?;
        let router = match ep {
            Endpoint::Search => &self.search,
            Endpoint::Categories => &self.categories,
        };
        let mut key = router.keys(ep, raw_query).ok()?.join("&");
        key.insert(0, if ep == Endpoint::Search { 's' } else { 'c' });
        if let Some(b) = self.composed.lock().expect("cache lock").get(&key) {
            return Some(b);
        }
        let body = match ep {
            Endpoint::Search => composer.search_parts(&SearchFilter::from_query(raw_query).ok()?),
            Endpoint::Categories => composer
                .categories_body(&CategoriesFilter::from_query(raw_query).ok()?)
                .map(Parts::owned),
        }
        .ok()?;
        self.composed
            .lock()
            .expect("cache lock")
            .put(key, body.clone());
        Some(body)
    }
}

/// What a request resolves to, before any I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A file of the tree (by manifest path).
    File(String),
    /// An answer composed from the index (the raw query).
    Compose(Endpoint, String),
    /// EPR's empty 200 of `/health`.
    Health,
    /// A plain-text error as EPR's http.Error writes it. `cache` keeps the route's cache header
    /// (EPR sets it before a missing package file is found out).
    Error {
        status: u16,
        message: String,
        cache: Option<String>,
    },
    /// gorilla/mux StrictSlash redirect.
    Redirect(String),
}

fn err(status: u16, message: &str) -> Outcome {
    Outcome::Error {
        status,
        message: message.to_string(),
        cache: None,
    }
}

fn strict_semver(v: &str) -> bool {
    semver::Version::parse(v).is_ok()
}

fn is_pkg_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Map a request to an outcome. `path` is the raw (percent-encoded) path, `query` the raw query.
pub fn resolve(tree: &Tree, raw_path: &str, query: Option<&str>) -> Outcome {
    if query.map(|q| q.len() > MAX_QUERY).unwrap_or(false) {
        return err(400, "query string too long");
    }
    let Some(path) = decode_path(raw_path) else {
        return err(404, "404 page not found");
    };
    let routes = &tree.routes;
    if let Some(ep) = path.strip_prefix(COMPOSE_PREFIX) {
        let (ep, router) = match ep {
            "search" => (Endpoint::Search, &tree.search),
            "categories" => (Endpoint::Categories, &tree.categories),
            _ => return err(404, "404 page not found"),
        };
        return match router.keys(ep, query.unwrap_or("")) {
            Ok(_) => Outcome::Compose(ep, query.unwrap_or("").to_string()),
            Err(msg) => err(400, &msg),
        };
    }
    if path == "/search" || path == "/categories" {
        let (ep, router) = if path == "/search" {
            (Endpoint::Search, &tree.search)
        } else {
            (Endpoint::Categories, &tree.categories)
        };
        return match router.route(ep, query.unwrap_or("")) {
            Ok(Routed::Answer(id)) => Outcome::File(answer_path(id)),
            Ok(Routed::Compose) => Outcome::Compose(ep, query.unwrap_or("").to_string()),
            Err(RouteError::Incomplete) => err(500, crate::plan::space::INCOMPLETE),
            Err(RouteError::BadRequest(msg)) => err(400, &msg),
        };
    }
    if path == "/health" {
        return Outcome::Health;
    }
    if let Some(file) = routes.paths.get(&path) {
        return Outcome::File(file.clone());
    }
    let with_query = |p: &str| match query {
        Some(q) if !q.is_empty() => format!("{p}?{q}"),
        _ => p.to_string(),
    };
    // The HTML catalog (`eprgen build` writes it, see site.rs): files under `catalog/`, a
    // folder's `index.html` for a path ending in `/`. Its links are relative, so `/catalog`
    // redirects to `/catalog/`.
    if path == "/catalog" {
        return Outcome::Redirect(with_query("/catalog/"));
    }
    if let Some(rest) = path.strip_prefix("/catalog/") {
        let index = if rest.is_empty() || rest.ends_with('/') {
            "index.html"
        } else {
            ""
        };
        let file = format!("catalog/{rest}{index}");
        return if tree.files.contains_key(&file) && !file.contains("//") {
            Outcome::File(file)
        } else {
            err(404, "404 page not found")
        };
    }
    // StrictSlash: `/search/` → `/search`, `/package/a/1.0.0` → `/package/a/1.0.0/`.
    if let Some(stripped) = path.strip_suffix('/') {
        if stripped == "/search"
            || stripped == "/categories"
            || stripped == "/health"
            || routes.paths.contains_key(stripped)
        {
            return Outcome::Redirect(with_query(stripped));
        }
    }
    let segs: Vec<&str> = path.split('/').collect();
    // segs[0] is "" (the path starts with '/').
    match segs.as_slice() {
        ["", "package", name, version] if is_pkg_name(name) => {
            Outcome::Redirect(with_query(&format!("{path}/")))
        }
        ["", "package", name, version, ""] if is_pkg_name(name) => {
            if !strict_semver(version) {
                return err(400, "invalid package version");
            }
            match routes.packages.get(*name).and_then(|v| v.get(*version)) {
                Some(p) => Outcome::File(p.info.clone()),
                None => err(404, "package revision not found"),
            }
        }
        ["", "package", name, version, rest @ ..] if !rest.is_empty() => {
            if !strict_semver(version) {
                return err(400, "invalid package version");
            }
            if routes
                .packages
                .get(*name)
                .and_then(|v| v.get(*version))
                .is_none()
            {
                return err(404, "package revision not found");
            }
            let file = format!("package/{name}/{version}/{}", rest.join("/"));
            if tree.files.contains_key(&file) && !rest.iter().any(|s| s.is_empty()) {
                Outcome::File(file)
            } else {
                let cache = tree
                    .files
                    .get(&routes.packages[*name][*version].zip)
                    .map(|m| m.cache_control.clone());
                Outcome::Error {
                    status: 404,
                    message: "resource not found".into(),
                    cache,
                }
            }
        }
        ["", "epr", _dir, file] => {
            let (stem, sig) = if let Some(s) = file.strip_suffix(".zip.sig") {
                (s, true)
            } else if let Some(s) = file.strip_suffix(".zip") {
                (s, false)
            } else {
                return err(404, "404 page not found");
            };
            // `{packageName:[a-z0-9_]+}-{packageVersion}`: the name stops at the first '-'.
            let Some((name, version)) = stem.split_once('-') else {
                return err(404, "404 page not found");
            };
            if !is_pkg_name(name) || version.is_empty() {
                return err(404, "404 page not found");
            }
            if !strict_semver(version) {
                return err(400, "invalid package version");
            }
            let found = routes.packages.get(name).and_then(|v| v.get(version));
            match (found, sig) {
                (Some(p), false) => Outcome::File(p.zip.clone()),
                (Some(p), true) => match &p.sig {
                    Some(s) => Outcome::File(s.clone()),
                    None => err(404, "signature file not found"),
                },
                (None, false) => err(404, "artifact not found"),
                (None, true) => err(404, "signature file not found"),
            }
        }
        _ => err(404, "404 page not found"),
    }
}

/// Percent-decode a request path and refuse anything that is not a plain absolute path:
/// `.`/`..` segments (also encoded), NUL, backslashes, empty segments other than a trailing one.
pub fn decode_path(raw: &str) -> Option<String> {
    if !raw.starts_with('/') {
        return None;
    }
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()?
        .into_owned();
    if decoded.contains('\0') || decoded.contains('\\') {
        return None;
    }
    let segs: Vec<&str> = decoded[1..].split('/').collect();
    for (i, s) in segs.iter().enumerate() {
        if *s == "." || *s == ".." || (s.is_empty() && i + 1 != segs.len()) {
            return None;
        }
    }
    Some(decoded)
}

type Body = BoxBody<Bytes, io::Error>;

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

fn http_date(secs: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
}

fn error_response(status: u16, message: &str, cache: Option<&str>, cors: bool) -> Response<Body> {
    let mut r = Response::new(full(format!("{message}\n")));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    let cc = cache.unwrap_or(NO_STORE);
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_str(cc).unwrap_or(HeaderValue::from_static(NO_STORE)),
    );
    if cors {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    r
}

/// Parse a single `bytes=` range against a size; `Err(())` when unsatisfiable, `Ok(None)` when
/// the header is absent or not one simple range (then the whole file is sent).
fn parse_range(h: Option<&str>, size: u64) -> std::result::Result<Option<(u64, u64)>, ()> {
    let Some(spec) = h.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        (size.saturating_sub(n), size.saturating_sub(1))
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end: u64 = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            b.parse::<u64>()
                .map_err(|_| ())?
                .min(size.saturating_sub(1))
        };
        if start >= size || end < start {
            return Err(());
        }
        (start, end)
    };
    if size == 0 {
        return Err(());
    }
    Ok(Some(range))
}

/// A qvalue (RFC 9110 §12.4.2) in thousandths, or None when it is not one.
fn parse_q(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_n: u16 = format!("{frac:0<3}").parse().ok()?;
    match int {
        "0" => Some(frac_n),
        "1" if frac_n == 0 => Some(1000),
        _ => None,
    }
}

/// The content coding to send, from the request's `Accept-Encoding` (all its lines joined)
/// and the codings a file has siblings in; `None` is the identity bytes.
///
/// RFC 9110 §12.5.3: no header at all → identity (what EPR sends); an empty one → identity; a
/// coding is acceptable when listed (or matched by `*`) with q > 0 (`x-gzip` is `gzip`); the
/// highest q wins, `br` before `gzip` on equal q, and a coding before identity on equal q.
/// Identity is acceptable unless `identity;q=0` (or `*;q=0` without an `identity` entry);
/// when nothing listed is acceptable the header is disregarded and identity sent. An element
/// with a malformed qvalue is ignored; the first entry for a coding counts.
pub fn negotiate(accept: Option<&str>, available: &[Encoding]) -> Option<Encoding> {
    let accept = accept?;
    let (mut star, mut identity) = (None, None);
    let mut listed: Vec<(Encoding, u16)> = Vec::new();
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        if coding.is_empty() {
            continue;
        }
        let mut q = Some(1000);
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                if k.trim().eq_ignore_ascii_case("q") {
                    q = parse_q(v.trim());
                }
            }
        }
        let Some(q) = q else { continue };
        let enc = match coding.as_str() {
            "*" => {
                star.get_or_insert(q);
                continue;
            }
            "identity" => {
                identity.get_or_insert(q);
                continue;
            }
            "x-gzip" => Encoding::Gzip,
            c => match Encoding::from_token(c) {
                Some(e) => e,
                None => continue,
            },
        };
        if !listed.iter().any(|(e, _)| *e == enc) {
            listed.push((enc, q));
        }
    }
    let q_of = |e: Encoding| {
        listed
            .iter()
            .find(|(x, _)| *x == e)
            .map(|(_, q)| *q)
            .or(star)
            .unwrap_or(0)
    };
    let best = available
        .iter()
        .map(|e| (q_of(*e), *e == Encoding::Br, *e))
        .filter(|(q, _, _)| *q > 0)
        .max()?;
    // Identity not named: acceptable, below every listed coding.
    let identity_q = identity.or(star).unwrap_or(1);
    (best.0 >= identity_q).then_some(best.2)
}

/// Every `Accept-Encoding` line of a request, joined as one list.
fn accept_encoding(req: &Request<hyper::body::Incoming>) -> Option<String> {
    let mut lines = req.headers().get_all(header::ACCEPT_ENCODING).iter();
    let first = lines.next()?;
    let mut s = String::from_utf8_lossy(first.as_bytes()).into_owned();
    for l in lines {
        s.push(',');
        s.push_str(&String::from_utf8_lossy(l.as_bytes()));
    }
    Some(s)
}

/// A file, or (for an answer or package JSON with precompressed siblings) the sibling the
/// request's Accept-Encoding picks, sent with `Content-Encoding` and whole: a Range is only
/// honoured on the identity bytes. Every response of a file with siblings (identity, 304 and
/// 416 too) carries `Vary: Accept-Encoding`.
async fn file_response(
    tree: &Tree,
    rel: &str,
    req: &Request<hyper::body::Incoming>,
    head: bool,
) -> Response<Body> {
    let Some(meta) = tree.files.get(rel) else {
        return error_response(404, "404 page not found", None, false);
    };
    let siblings = tree.siblings.get(rel);
    let encoded = siblings.and_then(|s| {
        let codings: Vec<Encoding> = s.iter().map(|(e, _, _)| *e).collect();
        let e = negotiate(accept_encoding(req).as_deref(), &codings)?;
        s.iter().find(|(x, _, _)| *x == e)
    });
    // What the body is made of: the identity file or the chosen sibling.
    let (body_rel, body_meta) = match encoded {
        Some((_, p, m)) => (p.as_str(), m),
        None => (rel, meta),
    };
    let path = tree.dir.join(body_rel);
    let vary = |mut r: Response<Body>| {
        if siblings.is_some() {
            r.headers_mut()
                .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        }
        r
    };
    let mut builder = Response::builder()
        .header(header::CONTENT_TYPE, meta.content_type.as_str())
        .header(header::CACHE_CONTROL, meta.cache_control.as_str())
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        .header(header::LAST_MODIFIED, http_date(meta.modified))
        .header(header::ACCEPT_RANGES, "bytes");
    if let Some((e, _, _)) = encoded {
        builder = builder.header(header::CONTENT_ENCODING, e.token());
    }
    if siblings.is_some() {
        builder = builder.header(header::VARY, "Accept-Encoding");
    }
    // If-Modified-Since: 304 unless the file is newer than the date (seconds precision).
    if let Some(ims) = req
        .headers()
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
    {
        if let Ok(t) = httpdate::parse_http_date(ims) {
            let secs = t
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            if meta.modified <= secs && req.headers().get(header::IF_NONE_MATCH).is_none() {
                let mut r = Response::new(full(Bytes::new()));
                *r.status_mut() = StatusCode::NOT_MODIFIED;
                let h = r.headers_mut();
                h.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_str(&meta.cache_control).expect("ascii"),
                );
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
                h.insert(
                    header::LAST_MODIFIED,
                    HeaderValue::from_str(&http_date(meta.modified)).expect("ascii"),
                );
                return vary(r);
            }
        }
    }
    // An encoded body is sent whole: a byte range of it would not be one of the file.
    let range_header = match encoded {
        Some(_) => None,
        None => req
            .headers()
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok()),
    };
    let range = match parse_range(range_header, meta.size) {
        Ok(r) => r,
        Err(()) => {
            let mut r = error_response(416, "invalid range: failed to overlap", None, true);
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{}", meta.size)).expect("ascii"),
            );
            return vary(r);
        }
    };
    let (start, len, status) = match range {
        Some((a, b)) => {
            builder = builder.header(
                header::CONTENT_RANGE,
                format!("bytes {a}-{b}/{}", meta.size),
            );
            (a, b - a + 1, StatusCode::PARTIAL_CONTENT)
        }
        None => (0, body_meta.size, StatusCode::OK),
    };
    builder = builder.status(status).header(header::CONTENT_LENGTH, len);
    if head {
        return builder.body(full(Bytes::new())).expect("valid response");
    }
    let body = if body_meta.size <= SMALL_FILE {
        match tree.small_file(body_rel, body_meta.size) {
            Ok(b) => full(b.slice(start as usize..(start + len) as usize)),
            Err(_) => return error_response(500, "internal server error", None, false),
        }
    } else {
        match tokio::fs::File::open(&path).await {
            Ok(f) => stream_file(f, start, len).await,
            Err(_) => return error_response(500, "internal server error", None, false),
        }
    };
    builder.body(body).expect("valid response")
}

/// A composed answer: the headers its materialized twin would have (Last-Modified is the
/// index's time), the body sent as its slices (headers go out before any body byte is copied).
fn composed_response(
    tree: &Tree,
    ep: Endpoint,
    query: &str,
    req: &Request<hyper::body::Incoming>,
) -> Response<Body> {
    let (Some(c), Some(body)) = (&tree.routes.composed, tree.compose_parts(ep, query)) else {
        return error_response(500, crate::plan::space::INCOMPLETE, None, false);
    };
    let cache = match ep {
        Endpoint::Search => &c.search_cache,
        Endpoint::Categories => &c.categories_cache,
    };
    let modified = tree.files.get(&c.index).map_or(0, |m| m.modified);
    if let Some(ims) = req
        .headers()
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
    {
        let secs = ims
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if modified <= secs && req.headers().get(header::IF_NONE_MATCH).is_none() {
            return Response::builder()
                .status(StatusCode::NOT_MODIFIED)
                .header(header::CACHE_CONTROL, cache.as_str())
                .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
                .header(header::LAST_MODIFIED, http_date(modified))
                .body(full(Bytes::new()))
                .expect("valid response");
        }
    }
    Response::builder()
        .header(header::CONTENT_TYPE, crate::render::headers::JSON)
        .header(header::CACHE_CONTROL, cache.as_str())
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        .header(header::LAST_MODIFIED, http_date(modified))
        .header(header::CONTENT_LENGTH, body.len)
        .body(parts_body(body))
        .expect("valid response")
}

/// A body sent as the given slices, one frame each.
fn parts_body(body: Parts) -> Body {
    if let [one] = body.parts.as_slice() {
        return full(one.clone());
    }
    let frames = body.parts.into_iter().map(|b| Ok(Frame::data(b)));
    BodyExt::boxed(StreamBody::new(futures_util::stream::iter(frames)))
}

async fn stream_file(mut f: tokio::fs::File, start: u64, len: u64) -> Body {
    use tokio::io::AsyncSeekExt;
    if start > 0 && f.seek(io::SeekFrom::Start(start)).await.is_err() {
        return full(Bytes::new());
    }
    let stream = futures_util::stream::unfold((f, len), |(mut f, left)| async move {
        if left == 0 {
            return None;
        }
        let mut buf = vec![0u8; (256 * 1024).min(left as usize)];
        match f.read(&mut buf).await {
            Ok(0) => Some((
                Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank")),
                (f, 0),
            )),
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Frame::data(Bytes::from(buf))), (f, left - n as u64)))
            }
            Err(e) => Some((Err(e), (f, 0))),
        }
    });
    BodyExt::boxed(StreamBody::new(stream))
}

/// The served root and the build currently loaded from it.
struct State {
    root: PathBuf,
    current: RwLock<(Option<PathBuf>, Arc<Tree>)>,
}

impl State {
    /// The tree for this request: reload when the root link points at another build.
    fn tree(&self) -> Arc<Tree> {
        let target = fs::read_link(&self.root).ok();
        {
            let cur = self.current.read().expect("lock");
            if cur.0 == target {
                return cur.1.clone();
            }
        }
        let dir = match &target {
            Some(t) => self.root.parent().unwrap_or(Path::new(".")).join(t),
            None => self.root.clone(),
        };
        match Tree::load(&dir) {
            Ok(t) => {
                let t = Arc::new(t);
                *self.current.write().expect("lock") = (target, t.clone());
                t
            }
            Err(e) => {
                tracing::warn!(
                    "cannot load new build at {}: {e}; still serving the previous one",
                    dir.display()
                );
                self.current.read().expect("lock").1.clone()
            }
        }
    }
}

async fn handle(
    state: Arc<State>,
    req: Request<hyper::body::Incoming>,
) -> std::result::Result<Response<Body>, Infallible> {
    // A registry is read-only: every other method is refused. EPR (gorilla/mux without method
    // matchers) answers them as GET; its clients (Kibana's Fleet, elastic-package, curl in docs)
    // only send GET and HEAD, and a browser's CORS preflight is never needed for those simple
    // requests, so a 405 changes nothing for them and stops a POST from being cached as a GET.
    if req.method() != hyper::Method::GET && req.method() != hyper::Method::HEAD {
        let mut r = error_response(405, "405 method not allowed", None, true);
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(r);
    }
    let tree = state.tree();
    let head = req.method() == hyper::Method::HEAD;
    let outcome = resolve(&tree, req.uri().path(), req.uri().query());
    let mut resp = match outcome {
        Outcome::File(rel) => file_response(&tree, &rel, &req, head).await,
        Outcome::Compose(ep, query) => composed_response(&tree, ep, &query, &req),
        Outcome::Health => {
            let mut r = Response::new(full(Bytes::new()));
            r.headers_mut().insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            r
        }
        Outcome::Error {
            status,
            message,
            cache,
        } => {
            // Unmatched routes get no CORS header in EPR (its middleware runs on matched routes).
            let cors = message != "404 page not found";
            error_response(status, &message, cache.as_deref(), cors)
        }
        Outcome::Redirect(loc) => {
            let body = format!(
                "<a href=\"{}\">Moved Permanently</a>.\n\n",
                html_escape(&loc)
            );
            let mut r = Response::new(full(body));
            *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
            r.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_str(&loc).unwrap_or(HeaderValue::from_static("/")),
            );
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        }
    };
    if head {
        *resp.body_mut() = full(Bytes::new());
    }
    Ok(resp)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// Options of `eprgen serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub root: PathBuf,
    pub addr: SocketAddr,
    /// A client must send a request's whole header within this time (nginx's
    /// `client_header_timeout`, 60 s).
    pub header_timeout: Duration,
    /// A connection with no bytes in either direction for this long is closed (nginx's
    /// `keepalive_timeout`, 75 s).
    pub idle_timeout: Duration,
    /// A write that makes no progress for this long closes the connection (nginx's
    /// `send_timeout`, 60 s).
    pub send_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog. `None`: below the open-file
    /// limit (see [`default_max_connections`]).
    pub max_connections: Option<usize>,
}

impl ServeOptions {
    pub fn new(root: impl Into<PathBuf>, addr: SocketAddr) -> ServeOptions {
        ServeOptions {
            root: root.into(),
            addr,
            header_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(75),
            send_timeout: Duration::from_secs(60),
            max_connections: None,
        }
    }
}

/// The connection cap when none is given: the soft open-file limit less room for the listener,
/// the files being sent and the runtime (an eighth of the limit, at least 16), at most 16,384.
pub fn default_max_connections() -> usize {
    let soft = fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).map(str::to_string))
        })
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1024);
    // Each connection may hold a socket and one open file.
    (soft.saturating_sub((soft / 8).max(16)) / 2).clamp(1, 16_384)
}

/// A client connection with the send and idle timeouts: a write that stays pending for
/// `send` fails, and so does a read that stays pending when nothing moved either way for `idle`.
struct Guarded<S> {
    inner: S,
    idle: Duration,
    send: Duration,
    idle_at: std::pin::Pin<Box<tokio::time::Sleep>>,
    send_at: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<S> Guarded<S> {
    fn new(inner: S, idle: Duration, send: Duration) -> Guarded<S> {
        Guarded {
            inner,
            idle,
            send,
            idle_at: Box::pin(tokio::time::sleep(idle)),
            send_at: None,
        }
    }

    fn active(&mut self) {
        let at = tokio::time::Instant::now() + self.idle;
        self.idle_at.as_mut().reset(at);
    }

    /// A write is pending: fail once it has been for `send`.
    fn write_pending<T>(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<T>> {
        use std::future::Future;
        let send = self.send;
        let at = self
            .send_at
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(send)));
        match at.as_mut().poll(cx) {
            std::task::Poll::Ready(()) => {
                std::task::Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "send timeout")))
            }
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        use std::future::Future;
        use std::task::Poll;
        let before = buf.filled().len();
        match std::pin::Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.active();
                }
                Poll::Ready(r)
            }
            Poll::Pending => match self.idle_at.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "idle timeout")))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        match std::pin::Pin::new(&mut self.inner).poll_write(cx, buf) {
            std::task::Poll::Ready(r) => {
                self.send_at = None;
                self.active();
                std::task::Poll::Ready(r)
            }
            std::task::Poll::Pending => self.write_pending(cx),
        }
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> std::task::Poll<io::Result<usize>> {
        match std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            std::task::Poll::Ready(r) => {
                self.send_at = None;
                self.active();
                std::task::Poll::Ready(r)
            }
            std::task::Poll::Pending => self.write_pending(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match std::pin::Pin::new(&mut self.inner).poll_flush(cx) {
            std::task::Poll::Ready(r) => {
                self.send_at = None;
                std::task::Poll::Ready(r)
            }
            std::task::Poll::Pending => self.write_pending(cx),
        }
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Load the tree and serve until the process is stopped. Prints the bound address on stdout
/// (useful with port 0).
pub fn serve(opts: &ServeOptions) -> Result<()> {
    let target = fs::read_link(&opts.root).ok();
    let dir = match &target {
        Some(t) => opts.root.parent().unwrap_or(Path::new(".")).join(t),
        None => opts.root.clone(),
    };
    let tree = Tree::load(&dir)?;
    let state = Arc::new(State {
        root: opts.root.clone(),
        current: RwLock::new((target, Arc::new(tree))),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io(&opts.root, "cannot start runtime", e))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(opts.addr)
            .await
            .map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", opts.addr)))?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::Usage(format!("cannot listen: {e}")))?;
        let cap = opts.max_connections.unwrap_or_else(default_max_connections);
        println!("serving {} on http://{local}", opts.root.display());
        use std::io::Write;
        let _ = std::io::stdout().flush();
        tracing::info!(max_connections = cap, "listening");
        // At the cap, accept waits for a connection to end: new clients wait in the backlog.
        let slots = Arc::new(tokio::sync::Semaphore::new(cap));
        // Accept errors (out of file descriptors, mostly) back off from 10 ms to 1 s, and are
        // logged once per run of failures, not once per try.
        let mut backoff = Duration::ZERO;
        loop {
            let slot = slots
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let (stream, _) = match listener.accept().await {
                Ok(s) => {
                    if !backoff.is_zero() {
                        tracing::warn!("accepting connections again");
                        backoff = Duration::ZERO;
                    }
                    s
                }
                Err(e) => {
                    if backoff.is_zero() {
                        tracing::warn!(
                            "accept failed: {e}; retrying with backoff (up to 1 s) until it succeeds"
                        );
                        backoff = Duration::from_millis(10);
                    } else {
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                    drop(slot);
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let state = state.clone();
            let io = Guarded::new(stream, opts.idle_timeout, opts.send_timeout);
            let header_timeout = opts.header_timeout;
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| handle(state.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(header_timeout)
                    .serve_connection(TokioIo::new(io), svc)
                    .await;
                drop(slot);
            });
        }
    })
}

/// Seconds since the epoch, for the manifest's modification times.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_refuses_traversal() {
        for bad in [
            "/package/../x",
            "/package/%2e%2e/x",
            "/a//b",
            "/a/%2e/b",
            "/a%00",
            "/a\\b",
            "x",
        ] {
            assert_eq!(decode_path(bad), None, "{bad}");
        }
        assert_eq!(
            decode_path("/package/a/1.0.0/docs%2FREADME.md").as_deref(),
            Some("/package/a/1.0.0/docs/README.md")
        );
        assert_eq!(
            decode_path("/package/a/1.0.0/").as_deref(),
            Some("/package/a/1.0.0/")
        );
    }

    #[test]
    fn accept_encoding_negotiation() {
        use Encoding::{Br, Gzip};
        let both = [Gzip, Br];
        let n = |h: Option<&str>| negotiate(h, &both);
        // No header: EPR's identity bytes. An empty one: no coding wanted.
        assert_eq!(n(None), None);
        assert_eq!(n(Some("")), None);
        assert_eq!(n(Some("gzip")), Some(Gzip));
        assert_eq!(n(Some("br")), Some(Br));
        assert_eq!(n(Some("GZIP")), Some(Gzip));
        assert_eq!(n(Some("x-gzip")), Some(Gzip));
        // Equal q: br first; otherwise the higher q.
        assert_eq!(n(Some("gzip, deflate, br")), Some(Br));
        assert_eq!(n(Some("gzip;q=1.0, br;q=1")), Some(Br));
        assert_eq!(n(Some("gzip;q=1, br;q=0.9")), Some(Gzip));
        assert_eq!(n(Some("br;q=0.001, gzip;q=0.002")), Some(Gzip));
        assert_eq!(n(Some("gzip ; q=0.5 , br ; Q=0.4")), Some(Gzip));
        // q=0 refuses a coding.
        assert_eq!(n(Some("gzip;q=0, br;q=0")), None);
        assert_eq!(n(Some("br;q=0, gzip")), Some(Gzip));
        assert_eq!(n(Some("gzip;q=0.000")), None);
        // `*` stands for every coding not listed.
        assert_eq!(n(Some("*")), Some(Br));
        assert_eq!(n(Some("br;q=0, *")), Some(Gzip));
        assert_eq!(n(Some("*;q=0")), None);
        assert_eq!(n(Some("gzip, *;q=0")), Some(Gzip));
        // Identity: preferred only when asked for with a higher q; excluding it does not
        // make an unavailable coding appear (the header is then disregarded).
        assert_eq!(n(Some("identity")), None);
        assert_eq!(n(Some("identity, gzip")), Some(Gzip));
        assert_eq!(n(Some("identity;q=1, gzip;q=0.5")), None);
        assert_eq!(n(Some("identity;q=0, gzip;q=0.1")), Some(Gzip));
        assert_eq!(n(Some("identity;q=0")), None);
        assert_eq!(n(Some("deflate, compress")), None);
        assert_eq!(negotiate(Some("br"), &[Gzip]), None);
        assert_eq!(negotiate(Some("gzip, br"), &[Gzip]), Some(Gzip));
        assert_eq!(negotiate(Some("gzip"), &[]), None);
        // Malformed qvalues drop their element; the first entry for a coding counts.
        assert_eq!(n(Some("gzip;q=2")), None);
        assert_eq!(n(Some("gzip;q=0.0001")), None);
        assert_eq!(n(Some("gzip;q=abc, br;q=0.5")), Some(Br));
        assert_eq!(n(Some("gzip;q=0, gzip")), None);
        assert_eq!(n(Some(" , ,gzip,")), Some(Gzip));
        assert_eq!(n(Some("gzip;level=9")), Some(Gzip));
    }

    #[test]
    fn qvalues() {
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("1.000"), Some(1000));
        assert_eq!(parse_q("0.5"), Some(500));
        assert_eq!(parse_q("0.05"), Some(50));
        assert_eq!(parse_q("0"), Some(0));
        assert_eq!(parse_q("0."), Some(0));
        for bad in ["1.5", "2", "-0", "0.1234", ".5", "", "0.a", "01"] {
            assert_eq!(parse_q(bad), None, "{bad}");
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range(Some("bytes=0-9"), 100), Ok(Some((0, 9))));
        assert_eq!(parse_range(Some("bytes=90-"), 100), Ok(Some((90, 99))));
        assert_eq!(parse_range(Some("bytes=-10"), 100), Ok(Some((90, 99))));
        assert_eq!(parse_range(Some("bytes=0-1000"), 100), Ok(Some((0, 99))));
        assert_eq!(parse_range(Some("bytes=100-"), 100), Err(()));
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Ok(None));
        assert_eq!(parse_range(None, 100), Ok(None));
    }
}
