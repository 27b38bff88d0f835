//! The model of one package: its files (`fs`), its typed `manifest.yml` (`manifest`) and the
//! JSON shapes EPR serves for it (`json`, written out byte for byte by `gojson`).
//!
//! [`load`] takes a listed package (`PackageFs`) and gives a [`Package`]: both manifests parsed
//! the way EPR parses them, EPR's defaults applied, its per-package validation run, and the
//! derived values (asset list, URL paths, readme) computed. Every problem found is returned, each
//! as an `Invalid` naming the file at fault. Checks that need other packages (name and version
//! against the folder, duplicates, version constraints) belong to later stages.

pub mod fs;
pub mod gojson;
pub mod json;
pub mod manifest;
mod yaml11;

use std::cmp::Ordering;
use std::collections::BTreeMap;

use semver::Version;
use serde::Deserialize;
use serde_json::Value;

use crate::catalog::categories_list;
use crate::error::Invalid;
use fs::PackageFs;
use manifest::{from_node, parse_yaml, DataStreamManifest, Deprecated, Image, PackageManifest};

/// How a package is loaded.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// A detached signature `<package>.sig` sits beside the package: EPR then adds
    /// `signature_path` to its JSON.
    pub has_signature: bool,
}

/// One valid package, as EPR sees it once loaded.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub version: Version,
    /// The manifest with EPR's defaults filled in and unknown package categories dropped.
    pub manifest: PackageManifest,
    /// In EPR's order: folder name order for folders, archive order for zips.
    pub data_streams: Vec<DataStream>,
    /// URL paths of every file, in EPR's order (by depth, then walk or archive order).
    pub assets: Vec<String>,
    /// `/package/<name>/<version>/docs/README.md`.
    pub readme: String,
    /// `/epr/<name>/<name>-<version>.zip.sig` when the package is signed.
    pub signature_path: Option<String>,
    /// The deprecation notice served for this package: its own, or after
    /// [`propagate_deprecation`] the one of the newest deprecated version of its name.
    pub deprecated: Option<Deprecated>,
}

/// One data stream of a package.
#[derive(Debug, Clone)]
pub struct DataStream {
    /// Folder name under `data_stream/`.
    pub dir: String,
    /// The manifest with EPR's defaults filled in (dataset, release, streams, pipeline).
    pub manifest: DataStreamManifest,
}

impl DataStream {
    /// The `package` EPR writes: the package name unless the manifest sets one.
    pub fn package<'a>(&'a self, pkg: &'a Package) -> &'a str {
        self.manifest.package.as_deref().unwrap_or(&pkg.name)
    }

    /// The `path` EPR writes: the folder name unless the manifest sets one.
    pub fn path(&self) -> &str {
        self.manifest.path.as_deref().unwrap_or(&self.dir)
    }
}

impl Package {
    /// The body of `/package/<name>/<version>/`.
    pub fn info_json(&self) -> Value {
        json::info(self)
    }

    /// This package as one item of a `/search` answer (EPR's `BasePackage`).
    pub fn search_json(&self) -> Value {
        json::search_item(self)
    }

    /// `ga`, `beta` or `experimental`, defaulted from the version when the manifest has none.
    pub fn release(&self) -> &str {
        &self.manifest.release
    }

    /// `integration` unless the manifest says otherwise (`input`, `content`, `solution`...).
    pub fn kind(&self) -> &str {
        &self.manifest.kind
    }

    pub fn format_version(&self) -> &str {
        &self.manifest.format_version
    }

    /// `format_version` as `MAJOR.MINOR.0`, what EPR compares `spec.min` / `spec.max` with.
    pub fn spec_version(&self) -> Version {
        let v = Version::parse(&self.manifest.format_version)
            .expect("format_version was checked at load");
        Version::new(v.major, v.minor, 0)
    }

    /// Package-level categories, unknown ids dropped.
    pub fn categories(&self) -> &[String] {
        self.manifest.categories.as_deref().unwrap_or(&[])
    }

    /// For each policy template, its categories as written (not filtered); `None` when the
    /// template has no `categories` key (or it is null), which EPR's /categories treats apart
    /// from an empty list.
    pub fn policy_template_categories(&self) -> Vec<Option<&[String]>> {
        self.manifest
            .policy_templates
            .iter()
            .map(|t| t.categories.as_deref())
            .collect()
    }

    /// `conditions.kibana.version`, unparsed; `None` when there is no kibana condition.
    pub fn kibana_version(&self) -> Option<&str> {
        let c = self.manifest.conditions.as_ref()?;
        c.kibana.as_ref().map(|k| k.version.as_str())
    }

    /// `conditions.agent.version`, unparsed; `None` when there is no agent condition.
    pub fn agent_version(&self) -> Option<&str> {
        let c = self.manifest.conditions.as_ref()?;
        c.agent.as_ref().map(|k| k.version.as_str())
    }

    /// `conditions.elastic.capabilities`; `None` when not set (the package then works with any).
    pub fn capabilities(&self) -> Option<&[String]> {
        let c = self.manifest.conditions.as_ref()?;
        c.elastic.as_ref()?.capabilities.as_deref()
    }

    /// `discovery.fields[].name` (empty when there are none).
    pub fn discovery_fields(&self) -> Vec<&str> {
        self.manifest
            .discovery
            .iter()
            .flat_map(|d| d.fields.iter().map(|f| f.name.as_str()))
            .collect()
    }

    /// `discovery.datasets[].name` (empty when there are none).
    pub fn discovery_datasets(&self) -> Vec<&str> {
        self.manifest
            .discovery
            .iter()
            .flat_map(|d| d.datasets.iter().map(|f| f.name.as_str()))
            .collect()
    }

    /// `/package/<name>/<version>`.
    pub fn url_path(&self) -> String {
        format!("/package/{}/{}", self.name, self.manifest.version)
    }

    /// `/epr/<name>/<name>-<version>.zip`.
    pub fn download_path(&self) -> String {
        format!("/epr/{0}/{0}-{1}.zip", self.name, self.manifest.version)
    }
}

/// EPR's rule for deprecation notices across the packages of one index: for each name, the
/// notice of its newest deprecated version is served for every version of that name (older and
/// newer ones alike). EPR applies it per indexer (the zip paths and the folder paths are two).
pub fn propagate_deprecation<'a>(packages: impl IntoIterator<Item = &'a mut Package>) {
    let mut all: Vec<&mut Package> = packages.into_iter().collect();
    let mut newest: BTreeMap<String, (Version, Deprecated)> = BTreeMap::new();
    for p in all.iter() {
        let Some(d) = &p.manifest.deprecated else {
            continue;
        };
        match newest.get(&p.name) {
            Some((v, _)) if p.version.cmp_precedence(v) != Ordering::Greater => {}
            _ => {
                newest.insert(p.name.clone(), (p.version.clone(), d.clone()));
            }
        }
    }
    for p in all.iter_mut() {
        if let Some((_, d)) = newest.get(&p.name) {
            p.deprecated = Some(d.clone());
        }
    }
}

const README: &str = "docs/README.md";
const RELEASES: [&str; 3] = ["experimental", "beta", "ga"];
const DATA_STREAM_TYPES: [&str; 4] = ["logs", "metrics", "synthetics", "traces"];

/// How EPR names the way an input collects data, by input type (EPR's embedded
/// `ingestion_method.yml`). Input packages get it on their policy templates, data stream
/// streams on each stream.
fn ingestion_method(input: &str) -> Option<&'static str> {
    Some(match input {
        "cel" | "entity-analytics" | "httpjson" | "o365audit" | "salesforce" | "streaming"
        | "websocket" | "winlog" => "API",
        "apache/metrics"
        | "aws/metrics"
        | "awsfargate/metrics"
        | "azure/metrics"
        | "containerd/metrics"
        | "docker/metrics"
        | "elasticsearch/metrics"
        | "enterprisesearch/metrics"
        | "etcd/metrics"
        | "gcp/metrics"
        | "haproxy/metrics"
        | "http/metrics"
        | "kibana/metrics"
        | "kubernetes/metrics"
        | "logstash/metrics"
        | "meraki/metrics"
        | "nats/metrics"
        | "nginx/metrics"
        | "panw/metrics"
        | "rabbitmq/metrics"
        | "stan/metrics"
        | "vsphere/metrics"
        | "windows/metrics" => "API",
        "memcached/metrics" | "mongodb/metrics" | "mysql/metrics" | "postgresql/metrics"
        | "redis" | "redis/metrics" | "sql/metrics" | "zookeeper/metrics" => "Database",
        "activemq/metrics" | "jolokia/metrics" | "kafka/metrics" => "Jolokia",
        "filestream" | "logfile" | "linux/metrics" | "system/metrics" => "File",
        "syslog" | "tcp" | "udp" | "statsd/metrics" => "Network Protocol",
        "http_endpoint" => "Webhook",
        "aws-s3" => "AWS S3",
        "azure-blob-storage" => "Azure Blob Storage",
        "aws-cloudwatch" => "AWS CloudWatch",
        "azure-eventhub" => "Azure Event Hub",
        "etw" => "ETW",
        "gcp-pubsub" => "GCP Pub/Sub",
        "gcs" => "Google Cloud Storage",
        "iis/metrics" => "Windows Performance Counters",
        "journald" => "journald",
        "kafka" => "Kafka",
        "lumberjack" => "Lumberjack",
        "netflow" => "NetFlow",
        "prometheus/metrics" => "Prometheus",
        _ => return None,
    })
}

/// Release EPR assumes when a manifest has none: beta for prereleases and 0.x, else ga.
fn default_release(v: &Version) -> &'static str {
    if !v.pre.is_empty() || v.major == 0 {
        "beta"
    } else {
        "ga"
    }
}

/// Problems found while loading, each tied to a file of the package.
struct Problems<'a> {
    fs: &'a PackageFs,
    list: Vec<Invalid>,
}

impl Problems<'_> {
    fn add(&mut self, rel: &str, reason: impl Into<String>) {
        self.list
            .push(Invalid::new(self.fs.display_path(rel), reason));
    }
}

/// One file or folder in the order EPR's globbing sees them.
struct Walked {
    rel: String,
    is_dir: bool,
}

/// Package entries in EPR's glob order. For folders that is a depth-first walk with the
/// entries of each folder sorted by name (so `a/x` comes before `a-b`, unlike a byte sort of
/// whole paths). For zips it is the order of entries in the archive, and only entries that are
/// in the archive: folders a zip lists no entry for are not seen.
fn walk_order(fs: &PackageFs) -> Result<Vec<Walked>, Invalid> {
    let Some(bytes) = fs.zip_bytes() else {
        let mut v: Vec<Walked> = fs
            .entries()
            .iter()
            .map(|e| Walked {
                rel: e.path.clone(),
                is_dir: e.is_dir,
            })
            .collect();
        v.sort_by(|a, b| a.rel.split('/').cmp(b.rel.split('/')));
        return Ok(v);
    };
    let top = fs.zip_top().expect("a zip package has a top folder");
    let bad = |e: zip::result::ZipError| {
        Invalid::new(fs.origin().path(), format!("not a valid zip: {e}"))
    };
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(bad)?;
    let mut out = Vec::new();
    for i in 0..z.len() {
        let f = z.by_index_raw(i).map_err(bad)?;
        let clean: Vec<&str> = f
            .name()
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .collect();
        if clean.len() < 2 || clean[0] != top {
            continue;
        }
        let rel = clean[1..].join("/");
        out.push(Walked {
            is_dir: fs.is_dir(&rel),
            rel,
        });
    }
    Ok(out)
}

/// Check the `src` of an icon or screenshot: a path inside the package to a file that exists
/// (EPR stats it and refuses the package otherwise).
fn check_image(p: &mut Problems<'_>, fs: &PackageFs, what: &str, img: &Image) {
    if img.src.is_empty() {
        p.add("manifest.yml", format!("{what}: src is missing"));
        return;
    }
    // Cleaned as Go's path.Join does (`/img//a.png` is `img/a.png`); `..` may not climb out.
    let mut parts: Vec<&str> = Vec::new();
    for seg in img.src.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    p.add(
                        "manifest.yml",
                        format!("{what}: src {:?} points outside the package", img.src),
                    );
                    return;
                }
            }
            s => parts.push(s),
        }
    }
    let rel = parts.join("/");
    if rel.is_empty() || !fs.is_file(&rel) {
        p.add(
            "manifest.yml",
            format!("{what}: src {:?} is not a file in the package", img.src),
        );
    }
}

/// `path.Join("/package", name, version, src)`: Go's path.Join cleans the result.
fn image_url(name: &str, version: &str, src: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for s in ["package", name, version].into_iter().chain(src.split('/')) {
        match s {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

fn check_semver(s: &str) -> Result<Version, String> {
    Version::parse(s).map_err(|e| e.to_string())
}

/// Load one package. See the module documentation.
pub fn load(fs: &PackageFs, opts: &LoadOptions) -> Result<Package, Vec<Invalid>> {
    let mut p = Problems {
        fs,
        list: Vec::new(),
    };
    let text = fs.read_to_string("manifest.yml").map_err(|e| vec![e])?;
    let node = parse_yaml(&text).map_err(|e| {
        vec![Invalid::new(
            fs.display_path("manifest.yml"),
            format!("invalid YAML: {e}"),
        )]
    })?;
    if !matches!(node, manifest::Node::Map(_)) {
        return Err(vec![Invalid::new(
            fs.display_path("manifest.yml"),
            "is not a YAML map",
        )]);
    }
    let mut m: PackageManifest = from_node(&node)
        .map_err(|e| vec![Invalid::new(fs.display_path("manifest.yml"), e.to_string())])?;

    // Fields EPR requires (Package.Validate and go-ucfg `required` tags).
    if m.format_version.is_empty() {
        p.add("manifest.yml", "format_version is missing");
    } else if let Err(e) = check_semver(&m.format_version) {
        p.add(
            "manifest.yml",
            format!(
                "format_version {:?} is not a semantic version: {e}",
                m.format_version
            ),
        );
    }
    let version = match check_semver(&m.version) {
        Ok(v) => Some(v),
        Err(e) => {
            p.add(
                "manifest.yml",
                format!("version {:?} is not a semantic version: {e}", m.version),
            );
            None
        }
    };
    if m.title.as_deref().unwrap_or("").is_empty() {
        p.add("manifest.yml", "title is missing");
    }
    if m.description.is_empty() {
        p.add("manifest.yml", "description is missing");
    }
    if m.name.is_empty() {
        p.add("manifest.yml", "name is missing");
    }

    if m.kind.is_empty() {
        m.kind = "integration".into();
    }
    if m.license.is_empty() {
        // The old place for the license was conditions.elastic.subscription.
        let sub = m
            .conditions
            .as_ref()
            .and_then(|c| c.elastic.as_ref())
            .map(|e| e.subscription.clone());
        m.license = sub
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "basic".into());
    }
    if m.release.is_empty() {
        if let Some(v) = &version {
            m.release = default_release(v).into();
        }
    }
    if version.is_some() && !RELEASES.contains(&m.release.as_str()) {
        p.add(
            "manifest.yml",
            format!(
                "release {:?} is not one of experimental, beta, ga",
                m.release
            ),
        );
    }
    // EPR drops (and logs) package categories it does not know; policy template ones stay.
    if let Some(c) = &mut m.categories {
        c.retain(|c| categories_list::is_known(c));
    }

    let (name, ver) = (m.name.clone(), m.version.clone());
    for (i, img) in m.icons.iter_mut().enumerate() {
        check_image(&mut p, fs, &format!("icons.{i}"), img);
        img.path = image_url(&name, &ver, &img.src);
    }
    for (i, img) in m.screenshots.iter_mut().enumerate() {
        check_image(&mut p, fs, &format!("screenshots.{i}"), img);
        img.path = image_url(&name, &ver, &img.src);
    }

    let is_input_package = m.kind == "input";
    for (i, t) in m.policy_templates.iter_mut().enumerate() {
        let at = format!("policy_templates.{i}");
        for (field, v) in [
            ("name", &t.name),
            ("title", &t.title),
            ("description", &t.description),
        ] {
            if v.is_empty() {
                p.add("manifest.yml", format!("{at}.{field} is missing"));
            }
        }
        t.multiple.get_or_insert(true);
        for (j, img) in t.icons.iter_mut().enumerate() {
            check_image(&mut p, fs, &format!("{at}.icons.{j}"), img);
            img.path = image_url(&name, &ver, &img.src);
        }
        for (j, img) in t.screenshots.iter_mut().enumerate() {
            check_image(&mut p, fs, &format!("{at}.screenshots.{j}"), img);
            img.path = image_url(&name, &ver, &img.src);
        }
        let doc = format!("docs/{}.md", t.name);
        if !t.name.is_empty() && fs.is_file(&doc) {
            t.readme = Some(format!("/package/{name}/{ver}/{doc}"));
        } else if !t.name.is_empty() && fs.is_dir(&doc) {
            p.add(&doc, "is a folder, not the policy template's readme");
        }
        if is_input_package && !t.input.is_empty() {
            t.ingestion_method = ingestion_method(&t.input).unwrap_or_default().into();
        }
        if let Some(a) = t
            .deployment_modes
            .as_ref()
            .and_then(|d| d.agentless.as_ref())
        {
            if !a.release.is_empty() && a.release != "beta" && a.release != "ga" {
                p.add(
                    "manifest.yml",
                    format!(
                        "{at}.deployment_modes.agentless.release {:?} is not beta or ga",
                        a.release
                    ),
                );
            }
        }
        for (j, input) in t.inputs.iter().enumerate() {
            if input.kind.is_empty() == input.package.is_empty() {
                p.add(
                    "manifest.yml",
                    format!("{at}.inputs.{j} must have exactly one of type and package"),
                );
            }
        }
    }
    if let Some(d) = &m.discovery {
        let names = d
            .fields
            .iter()
            .map(|f| ("fields", f))
            .chain(d.datasets.iter().map(|f| ("datasets", f)));
        for (what, f) in names {
            if f.name.is_empty() {
                p.add(
                    "manifest.yml",
                    format!("discovery.{what}: an entry has no name"),
                );
            }
        }
    }
    if let Some(r) = &m.requires {
        for (what, list) in [("input", &r.input), ("content", &r.content)] {
            for (j, req) in list.iter().enumerate() {
                if req.package.is_empty() || req.version.is_empty() {
                    p.add(
                        "manifest.yml",
                        format!("requires.{what}.{j} needs both package and version"),
                    );
                }
            }
        }
    }
    let deprecated = m.deprecated.clone();
    if let Some(bad) = m
        .vars
        .iter()
        .filter_map(|v| v.default.as_ref())
        .chain(
            m.policy_templates
                .iter()
                .flat_map(|t| t.inputs.iter())
                .flat_map(|i| i.vars.iter())
                .filter_map(|v| v.default.as_ref()),
        )
        .find_map(|d| d.to_json().err())
    {
        p.add(
            "manifest.yml",
            format!("a var default is not valid JSON: {bad}"),
        );
    }

    if !fs.is_file(README) {
        let why = if fs.is_dir(README) {
            "is a folder"
        } else {
            "is missing; EPR requires a README"
        };
        p.add(README, why);
    }

    let walk = match walk_order(fs) {
        Ok(w) => w,
        Err(e) => {
            p.list.push(e);
            Vec::new()
        }
    };
    let assets = collect_assets(&mut p, &walk, &name, &ver);
    let data_streams = load_data_streams(&mut p, fs, &walk, &name, &m.release);

    if !p.list.is_empty() {
        p.list.sort();
        p.list.dedup();
        return Err(p.list);
    }
    let version = version.expect("no problems means the version parsed");
    let url = format!("/package/{name}/{ver}");
    Ok(Package {
        readme: format!("{url}/{README}"),
        signature_path: opts
            .has_signature
            .then(|| format!("/epr/{name}/{name}-{ver}.zip.sig")),
        name,
        version,
        manifest: m,
        data_streams,
        assets,
        deprecated,
    })
}

/// EPR lists assets level by level (`*`, `*/*`, ...) until a level matches nothing, skipping
/// folders and `.DS_Store` files, and refusing folders whose name contains `-`.
fn collect_assets(p: &mut Problems<'_>, walk: &[Walked], name: &str, ver: &str) -> Vec<String> {
    let mut out = Vec::new();
    for depth in 1.. {
        let level: Vec<&Walked> = walk
            .iter()
            .filter(|w| w.rel.split('/').count() == depth)
            .collect();
        if level.is_empty() {
            break;
        }
        for w in level {
            if w.rel.contains(".DS_Store") {
                continue;
            }
            if w.is_dir {
                let base = w.rel.rsplit('/').next().unwrap_or(&w.rel);
                if base.contains('-') {
                    p.add(&w.rel, "folder names inside a package may not contain `-`");
                }
                continue;
            }
            out.push(format!("/package/{name}/{ver}/{}", w.rel));
        }
    }
    out
}

fn load_data_streams(
    p: &mut Problems<'_>,
    fs: &PackageFs,
    walk: &[Walked],
    name: &str,
    release: &str,
) -> Vec<DataStream> {
    let mut out = Vec::new();
    for w in walk {
        let parts: Vec<&str> = w.rel.split('/').collect();
        if parts.len() != 3 || parts[0] != "data_stream" || parts[2] != "manifest.yml" {
            continue;
        }
        if let Some(ds) = load_data_stream(p, fs, walk, parts[1], name, release) {
            out.push(ds);
        }
    }
    out
}

fn load_data_stream(
    p: &mut Problems<'_>,
    fs: &PackageFs,
    walk: &[Walked],
    dir: &str,
    name: &str,
    release: &str,
) -> Option<DataStream> {
    let base = format!("data_stream/{dir}");
    let file = format!("{base}/manifest.yml");
    let text = match fs.read_to_string(&file) {
        Ok(t) => t,
        Err(e) => {
            p.list.push(e);
            return None;
        }
    };
    let node = match parse_yaml(&text) {
        Ok(n) => n,
        Err(e) => {
            p.add(&file, format!("invalid YAML: {e}"));
            return None;
        }
    };
    let mut m: DataStreamManifest = match from_node(&node) {
        Ok(m) => m,
        Err(e) => {
            p.add(&file, e.to_string());
            return None;
        }
    };
    let before = p.list.len();
    // Checks EPR runs on the manifest as written, before its defaults.
    if m.dataset.contains('-') {
        p.add(
            &file,
            format!("dataset {:?} may not contain `-`", m.dataset),
        );
    }
    if !DATA_STREAM_TYPES.contains(&m.kind.as_str()) {
        p.add(
            &file,
            format!(
                "type {:?} is not one of logs, metrics, synthetics, traces",
                m.kind
            ),
        );
    }
    if m.title.is_empty() {
        p.add(&file, "title is missing");
    }
    let pipeline_dir = format!("{base}/elasticsearch/ingest_pipeline");
    if !m.ingest_pipeline.is_empty() {
        check_pipeline(p, fs, &pipeline_dir, &m.ingest_pipeline, &file);
    }
    let fields_dir = format!("{base}/fields");
    if let Err(e) = check_required_fields(fs, walk, &fields_dir) {
        p.add(&fields_dir, e);
    }
    for (i, s) in m.streams.iter().enumerate() {
        if s.input.is_empty() == s.package.is_empty() {
            p.add(
                &file,
                format!("streams.{i} must have exactly one of input and package"),
            );
        }
    }
    for (i, s) in m.streams.iter().flat_map(|s| s.vars.iter()).enumerate() {
        if let Some(Err(e)) = s.default.as_ref().map(|d| d.to_json()) {
            p.add(
                &file,
                format!("a stream var default ({i}) is not valid JSON: {e}"),
            );
        }
    }

    // EPR also checks an inherited release, but a bad one is reported for the package already.
    if !m.release.is_empty() && !RELEASES.contains(&m.release.as_str()) {
        p.add(
            &file,
            format!(
                "release {:?} is not one of experimental, beta, ga",
                m.release
            ),
        );
    }

    // EPR's defaults.
    if m.dataset.is_empty() {
        m.dataset = format!("{name}.{dir}");
    }
    if m.release.is_empty() {
        m.release = release.to_string();
    }
    for s in &mut m.streams {
        s.enabled.get_or_insert(true);
        if s.template_path.is_empty() {
            s.template_path = "stream.yml.hbs".into();
        }
        if let Some(method) = ingestion_method(&s.input) {
            s.ingestion_method = method.into();
        }
    }
    // Pipelines: a `default.json` / `default.yml` is used when none is named, and pipeline files
    // that nothing can use make EPR refuse the package.
    let prefix = format!("{pipeline_dir}/");
    let pipelines: Vec<&str> = fs
        .entries()
        .iter()
        .filter_map(|e| e.path.strip_prefix(&prefix))
        .filter(|rest| !rest.contains('/'))
        .collect();
    let has_default = pipelines
        .iter()
        .any(|f| *f == "default.json" || *f == "default.yml");
    match &mut m.elasticsearch {
        Some(es) if es.ingest_pipeline.name.is_empty() => {
            if has_default {
                es.ingest_pipeline.name = "default".into();
                m.ingest_pipeline = "default".into();
            }
        }
        _ => {
            if m.ingest_pipeline.is_empty() && has_default {
                m.ingest_pipeline = "default".into();
            }
        }
    }
    if m.ingest_pipeline.is_empty() && !pipelines.is_empty() {
        p.add(
            &pipeline_dir,
            format!(
                "pipelines that no data stream setting uses: {}",
                pipelines.join(", ")
            ),
        );
    }
    (p.list.len() == before).then(|| DataStream {
        dir: dir.to_string(),
        manifest: m,
    })
}

/// A pipeline named in a data stream manifest must exist as `<name>.json` or `<name>.yml` and
/// parse.
fn check_pipeline(p: &mut Problems<'_>, fs: &PackageFs, dir: &str, pipeline: &str, manifest: &str) {
    let mut found = false;
    for ext in ["json", "yml"] {
        let f = format!("{dir}/{pipeline}.{ext}");
        if !fs.exists(&f) {
            continue;
        }
        found = true;
        // Not even read when it is over the YAML limit (3 bytes: a byte order mark).
        let limit = manifest::MAX_YAML_BYTES as u64 + 3;
        if ext == "yml" && fs.size(&f).is_some_and(|n| n > limit) {
            p.add(
                &f,
                format!(
                    "invalid ingest pipeline: document is over the limit of {} bytes for YAML",
                    manifest::MAX_YAML_BYTES
                ),
            );
            continue;
        }
        let text = match fs.read_to_string(&f) {
            Ok(t) => t,
            Err(e) => {
                p.list.push(e);
                continue;
            }
        };
        let ok = if ext == "json" {
            serde_json::from_str::<serde_json::Map<String, Value>>(&text)
                .map(|_| ())
                .map_err(|e| e.to_string())
        } else {
            yaml_map_check(&text)
        };
        if let Err(e) = ok {
            p.add(&f, format!("invalid ingest pipeline: {e}"));
        }
    }
    if !found {
        p.add(
            manifest,
            format!("ingest_pipeline {pipeline:?} has no file {dir}/{pipeline}.json or .yml"),
        );
    }
}

/// Whether YAML text is a map (or empty), as EPR checks pipeline files: with Go's YAML parser
/// alone, so no dotted-key expansion, and a repeated key is not an error.
fn yaml_map_check(text: &str) -> Result<(), String> {
    struct AnyMap;
    impl<'de> serde::Deserialize<'de> for AnyMap {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<AnyMap, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = AnyMap;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a map")
                }
                fn visit_unit<E>(self) -> Result<AnyMap, E> {
                    Ok(AnyMap)
                }
                fn visit_none<E>(self) -> Result<AnyMap, E> {
                    Ok(AnyMap)
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut m: A,
                ) -> Result<AnyMap, A::Error> {
                    while m
                        .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                        .is_some()
                    {}
                    Ok(AnyMap)
                }
            }
            d.deserialize_any(V)
        }
    }
    // Held to the manifest limits: a pipeline of 100 KB of `[` cost 22 s of CPU before.
    let text = manifest::check_yaml(text)?;
    match serde_yaml_ng::Deserializer::from_str(text).next() {
        None => Ok(()),
        Some(doc) => AnyMap::deserialize(doc)
            .map(|_| ())
            .map_err(|e| e.to_string()),
    }
}

/// The fields every data stream must define, with their types (EPR's required-fields check).
const REQUIRED_FIELDS: [(&str, &str); 4] = [
    ("data_stream.type", "constant_keyword"),
    ("data_stream.dataset", "constant_keyword"),
    ("data_stream.namespace", "constant_keyword"),
    ("@timestamp", "date"),
];

/// One field definition of a `fields/*.yml` file. Top-level entries keep their YAML values;
/// the entries of a group's `fields` list are compared as Go's `%v` text, as EPR does.
type FieldDef = BTreeMap<String, manifest::Node>;

/// EPR refuses a data stream whose `fields/*.yml` files (read in glob order, all entries
/// together) do not define the [`REQUIRED_FIELDS`], either by their dotted name or as a group
/// (`name: data_stream` with `fields: [{name: type, ...}]`). Its lookup stops with an error at
/// the first entry that has no `name`, which is reproduced here.
fn check_required_fields(fs: &PackageFs, walk: &[Walked], dir: &str) -> Result<(), String> {
    use manifest::Node;
    let prefix = format!("{dir}/");
    let mut all: Vec<FieldDef> = Vec::new();
    for w in walk.iter().filter(|w| {
        w.rel
            .strip_prefix(&prefix)
            .is_some_and(|r| !r.contains('/'))
    }) {
        if w.is_dir {
            return Err(format!("{} is a folder", w.rel));
        }
        let text = fs.read_to_string(&w.rel).map_err(|e| e.reason)?;
        match parse_yaml(&text).map_err(|e| format!("{}: {e}", w.rel))? {
            Node::Null => {}
            Node::Seq(items) => {
                for item in items {
                    match item {
                        Node::Map(m) => all.push(m),
                        Node::Null => all.push(FieldDef::new()),
                        _ => return Err(format!("{}: a field definition is not a map", w.rel)),
                    }
                }
            }
            _ => return Err(format!("{}: not a list of field definitions", w.rel)),
        }
    }
    for (name, want) in REQUIRED_FIELDS {
        let got = find_field(&all, name).or_else(|_| find_field_in_group(&all, name))?;
        if got != want {
            return Err(format!(
                "field {name:?} has type {got:?}, expected {want:?}"
            ));
        }
    }
    Ok(())
}

fn field_name(f: &FieldDef) -> Result<&manifest::Node, String> {
    f.get("name")
        .ok_or_else(|| "a field definition has no name".to_string())
}

/// The type of the first entry named `name`.
fn find_field(all: &[FieldDef], name: &str) -> Result<String, String> {
    for f in all {
        if !matches!(field_name(f)?, manifest::Node::Str(n) if n == name) {
            continue;
        }
        return match f.get("type") {
            Some(manifest::Node::Str(t)) if !t.is_empty() => Ok(t.clone()),
            Some(manifest::Node::Str(_)) => Err(format!("field {name:?} has an empty type")),
            Some(_) => Err(format!("field {name:?} has a type that is not a string")),
            None => Err(format!("field {name:?} has no type")),
        };
    }
    Err(format!("field {name:?} is not defined"))
}

/// `a.b` defined as the entry `b` inside the `fields` of the group `a` (one level deep).
fn find_field_in_group(all: &[FieldDef], name: &str) -> Result<String, String> {
    use manifest::Node;
    let Some((group, leaf)) = name.rsplit_once('.') else {
        return find_field(all, name);
    };
    let mut cur: Vec<FieldDef> = all.to_vec();
    for part in group.split('.') {
        let mut next = None;
        for f in &cur {
            if !matches!(field_name(f)?, Node::Str(n) if n == part) {
                continue;
            }
            let Some(Node::Seq(items)) = f.get("fields") else {
                return Err(format!("field group {part:?} has no list of fields"));
            };
            // EPR turns each nested entry into text keys and values (Go's `%v`).
            let mut defs = Vec::new();
            for item in items {
                let Node::Map(m) = item else {
                    return Err(format!("field group {part:?} holds a non-map entry"));
                };
                defs.push(
                    m.iter()
                        .map(|(k, v)| (k.clone(), Node::Str(go_text(v))))
                        .collect(),
                );
            }
            next = Some(defs);
            break;
        }
        cur = next.ok_or_else(|| format!("field {name:?} is not defined"))?;
    }
    find_field(&cur, leaf)
}

/// Go's `%v` text of a scalar read by Go's YAML parser (good enough for names and types).
fn go_text(v: &manifest::Node) -> String {
    use manifest::Node;
    match v {
        Node::Null => "<nil>".into(),
        Node::Bool(b) => b.to_string(),
        Node::Int(i) => i.to_string(),
        Node::Uint(u) => u.to_string(),
        Node::Float(f) => gojson::go_format_v(*f),
        Node::Str(s) => s.clone(),
        Node::Seq(_) | Node::Map(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::fs::{Limits, Origin};
    use super::*;
    use std::io::Write;
    use std::path::Path;

    const README_MD: (&str, &str) = ("docs/README.md", "# readme");
    const FIELDS: &str = "- name: data_stream.type\n  type: constant_keyword\n- name: data_stream.dataset\n  type: constant_keyword\n- name: data_stream.namespace\n  type: constant_keyword\n- name: '@timestamp'\n  type: date\n";

    fn manifest(extra: &str) -> String {
        format!("format_version: 3.0.0\nname: p\ntitle: P\nversion: 1.0.0\ndescription: d\n{extra}")
    }

    fn write_tree(root: &Path, files: &[(&str, &str)]) {
        for (rel, body) in files {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
    }

    fn load_dir(files: &[(&str, &str)], sig: bool) -> Result<Package, Vec<Invalid>> {
        let t = tempfile::tempdir().unwrap();
        write_tree(t.path(), files);
        let fs = PackageFs::open(&Origin::Dir(t.path().into()), Limits::default()).unwrap();
        load(&fs, &LoadOptions { has_signature: sig })
    }

    fn load_zip(entries: &[(&str, &str)]) -> Result<Package, Vec<Invalid>> {
        let t = tempfile::tempdir().unwrap();
        let z = t.path().join("p-1.0.0.zip");
        let mut w = zip::ZipWriter::new(std::fs::File::create(&z).unwrap());
        for (name, body) in entries {
            if name.ends_with('/') {
                w.add_directory(*name, zip::write::SimpleFileOptions::default())
                    .unwrap();
            } else {
                w.start_file(*name, zip::write::SimpleFileOptions::default())
                    .unwrap();
                w.write_all(body.as_bytes()).unwrap();
            }
        }
        w.finish().unwrap();
        let fs = PackageFs::open(&Origin::Zip(z), Limits::default()).unwrap();
        load(&fs, &LoadOptions::default())
    }

    fn reasons(r: Result<Package, Vec<Invalid>>) -> Vec<String> {
        r.unwrap_err()
            .iter()
            .map(|i| {
                let p = i.path.to_string_lossy();
                let short = p
                    .rsplit_once("/p-1.0.0.zip/")
                    .map(|x| x.1)
                    .or(p.split_once("/.tmp").map(|_| ""));
                let rel = match short {
                    Some(s) if !s.is_empty() => s.to_string(),
                    _ => i
                        .path
                        .iter()
                        .skip(3)
                        .map(|c| c.to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/"),
                };
                format!("{rel}: {}", i.reason)
            })
            .collect()
    }

    #[test]
    fn release_license_and_type_defaults() {
        let rel = |v: &str| {
            load_dir(
                &[
                    ("manifest.yml", &manifest("").replace("1.0.0", v)),
                    README_MD,
                ],
                false,
            )
            .unwrap()
        };
        assert_eq!(rel("1.0.0").release(), "ga");
        assert_eq!(rel("0.9.0").release(), "beta");
        assert_eq!(rel("2.0.0-rc1").release(), "beta");
        let p = rel("1.0.0");
        assert_eq!(
            (p.kind(), p.manifest.license.as_str()),
            ("integration", "basic")
        );
        assert_eq!(p.signature_path, None);
        let p = load_dir(
            &[
                (
                    "manifest.yml",
                    &manifest("conditions.elastic.subscription: gold\n"),
                ),
                README_MD,
            ],
            true,
        )
        .unwrap();
        assert_eq!(p.manifest.license, "gold");
        assert_eq!(p.signature_path.as_deref(), Some("/epr/p/p-1.0.0.zip.sig"));
        assert_eq!(p.readme, "/package/p/1.0.0/docs/README.md");
        assert_eq!(p.info_json()["download"], "/epr/p/p-1.0.0.zip");
        assert_eq!(p.spec_version(), Version::new(3, 0, 0));
    }

    #[test]
    fn categories_templates_and_input_packages() {
        let m = manifest(
            "type: input\ncategories: [web, nonsense, security]\npolicy_templates:\n  - name: a\n    title: A\n    description: d\n    input: logfile\n    categories: [nonsense]\n    icons: [{src: img/i.svg}]\n  - name: b\n    title: B\n    description: d\n    input: unknown_input\n    ingestion_method: Manual\n    multiple: false\n",
        );
        let p = load_dir(
            &[
                ("manifest.yml", &m),
                README_MD,
                ("docs/a.md", "x"),
                ("img/i.svg", "<svg/>"),
            ],
            false,
        )
        .unwrap();
        assert_eq!(p.categories(), ["web", "security"]);
        assert_eq!(
            p.policy_template_categories(),
            [Some(&["nonsense".to_string()][..]), None]
        );
        let [a, b] = &p.manifest.policy_templates[..] else {
            panic!()
        };
        assert_eq!((a.multiple, b.multiple), (Some(true), Some(false)));
        assert_eq!(a.readme.as_deref(), Some("/package/p/1.0.0/docs/a.md"));
        assert_eq!(b.readme, None);
        assert_eq!(a.icons[0].path, "/package/p/1.0.0/img/i.svg");
        // Input packages get the method of their input; an unknown input clears it, as in EPR.
        assert_eq!(
            (a.ingestion_method.as_str(), b.ingestion_method.as_str()),
            ("File", "")
        );
    }

    #[test]
    fn data_stream_defaults() {
        let ds = "type: logs\ntitle: T\nstreams:\n  - input: logfile\n  - input: other\n    enabled: false\n    template_path: x.hbs\n";
        let p = load_dir(
            &[
                ("manifest.yml", &manifest("release: beta\n")),
                README_MD,
                ("data_stream/b/manifest.yml", ds),
                ("data_stream/b/fields/base.yml", FIELDS),
                (
                    "data_stream/b/elasticsearch/ingest_pipeline/default.yml",
                    "processors: []\n",
                ),
                (
                    "data_stream/a/manifest.yml",
                    "type: metrics\ntitle: A\ndataset: custom.set\nrelease: ga\n",
                ),
                ("data_stream/a/fields/base.yml", FIELDS),
            ],
            false,
        )
        .unwrap();
        let dirs: Vec<_> = p.data_streams.iter().map(|d| d.dir.as_str()).collect();
        assert_eq!(dirs, ["a", "b"]);
        let (a, b) = (&p.data_streams[0].manifest, &p.data_streams[1].manifest);
        assert_eq!(
            (a.dataset.as_str(), a.release.as_str()),
            ("custom.set", "ga")
        );
        assert_eq!(
            (
                b.dataset.as_str(),
                b.release.as_str(),
                b.ingest_pipeline.as_str()
            ),
            ("p.b", "beta", "default")
        );
        let s: Vec<_> = b
            .streams
            .iter()
            .map(|s| {
                (
                    s.enabled,
                    s.template_path.as_str(),
                    s.ingestion_method.as_str(),
                )
            })
            .collect();
        assert_eq!(
            s,
            [
                (Some(true), "stream.yml.hbs", "File"),
                (Some(false), "x.hbs", "")
            ]
        );
        let j = p.search_json();
        assert_eq!(
            j["data_streams"][1],
            serde_json::json!({"type": "logs", "dataset": "p.b", "title": "T"})
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_file() {
        let m = "format_version: 3.0\nname: p\nversion: 1.0\ndescription: d\nrelease: alpha\nicons:\n  - src: ../../etc/passwd\n  - src: /img/missing.png\n  - title: no src\nscreenshots: [{src: /img/s.png}]\npolicy_templates:\n  - name: t\n    inputs: [{title: neither}]\n";
        let got = reasons(load_dir(
            &[
                ("manifest.yml", m),
                ("img/s.png", "png"),
                ("bad-dir/x.txt", "x"),
                ("data_stream/ok/manifest.yml", "type: logs\ntitle: T\n"),
                ("data_stream/ok/fields/f.yml", FIELDS),
                (
                    "data_stream/bad/manifest.yml",
                    "type: nope\ndataset: a-b\ningest_pipeline: missing\n",
                ),
                (
                    "data_stream/bad/fields/f.yml",
                    "- name: data_stream.type\n  type: keyword\n",
                ),
                ("data_stream/worse/manifest.yml", "title: [x]\n"),
            ],
            false,
        ));
        let want = [
            "bad-dir: folder names inside a package may not contain `-`",
            "data_stream/bad/fields: field \"data_stream.type\" has type \"keyword\", expected \"constant_keyword\"",
            "data_stream/bad/manifest.yml: dataset \"a-b\" may not contain `-`",
            "data_stream/bad/manifest.yml: ingest_pipeline \"missing\" has no file data_stream/bad/elasticsearch/ingest_pipeline/missing.json or .yml",
            "data_stream/bad/manifest.yml: title is missing",
            "data_stream/bad/manifest.yml: type \"nope\" is not one of logs, metrics, synthetics, traces",
            "data_stream/worse/manifest.yml: title: expected a string, found a list",
            "docs/README.md: is missing; EPR requires a README",
            "manifest.yml: format_version \"3\" is not a semantic version: unexpected end of input while parsing major version number",
            "manifest.yml: icons.0: src \"../../etc/passwd\" points outside the package",
            "manifest.yml: icons.1: src \"/img/missing.png\" is not a file in the package",
            "manifest.yml: icons.2: src is missing",
            "manifest.yml: policy_templates.0.description is missing",
            "manifest.yml: policy_templates.0.inputs.0 must have exactly one of type and package",
            "manifest.yml: policy_templates.0.title is missing",
            "manifest.yml: title is missing",
            "manifest.yml: version \"1\" is not a semantic version: unexpected end of input while parsing major version number",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn unreadable_manifests() {
        let t = tempfile::tempdir().unwrap();
        write_tree(t.path(), &[README_MD]);
        let fs = PackageFs::open(&Origin::Dir(t.path().into()), Limits::default()).unwrap();
        let e = load(&fs, &LoadOptions::default()).unwrap_err();
        assert_eq!(e[0].path, t.path().join("manifest.yml"));
        let e = reasons(load_dir(&[("manifest.yml", "a: [b\n"), README_MD], false));
        assert!(e[0].starts_with("manifest.yml: invalid YAML: "), "{e:?}");
        let e = reasons(load_dir(&[("manifest.yml", "- a\n"), README_MD], false));
        assert_eq!(e, ["manifest.yml: is not a YAML map"]);
        let e = reasons(load_dir(
            &[("manifest.yml", &manifest("categories: 5\n")), README_MD],
            false,
        ));
        assert_eq!(
            e,
            ["manifest.yml: categories: expected a list, found a number"]
        );
    }

    #[test]
    fn unused_pipelines_are_refused() {
        let e = reasons(load_dir(
            &[
                ("manifest.yml", &manifest("")),
                README_MD,
                ("data_stream/a/manifest.yml", "type: logs\ntitle: T\n"),
                ("data_stream/a/fields/f.yml", FIELDS),
                (
                    "data_stream/a/elasticsearch/ingest_pipeline/other.json",
                    "{}",
                ),
            ],
            false,
        ));
        assert_eq!(e, ["data_stream/a/elasticsearch/ingest_pipeline: pipelines that no data stream setting uses: other.json"]);
    }

    #[test]
    fn folder_assets_follow_the_walk_order_level_by_level() {
        let p = load_dir(
            &[
                ("manifest.yml", &manifest("")),
                README_MD,
                ("a/x.txt", ""),
                ("a.b/x.txt", ""),
                ("a/.DS_Store", ""),
                ("z.txt", ""),
            ],
            false,
        )
        .unwrap();
        let assets: Vec<_> = p
            .assets
            .iter()
            .map(|a| a.trim_start_matches("/package/p/1.0.0/"))
            .collect();
        // By path bytes `a.b/x.txt` sorts first; EPR walks folder `a` before `a.b`.
        assert_eq!(
            assets,
            [
                "manifest.yml",
                "z.txt",
                "a/x.txt",
                "a.b/x.txt",
                "docs/README.md"
            ]
        );
    }

    #[test]
    fn zip_assets_and_data_streams_follow_the_archive() {
        let m = manifest("");
        let ds = "type: logs\ntitle: T\n";
        let p = load_zip(&[
            ("p-1.0.0/manifest.yml", &m),
            ("p-1.0.0/data_stream/z/manifest.yml", ds),
            ("p-1.0.0/data_stream/z/fields/f.yml", FIELDS),
            ("p-1.0.0/docs/README.md", "r"),
            ("p-1.0.0/data_stream/a/manifest.yml", ds),
            ("p-1.0.0/data_stream/a/fields/f.yml", FIELDS),
            ("p-1.0.0/LICENSE.txt", "l"),
        ])
        .unwrap();
        let dirs: Vec<_> = p.data_streams.iter().map(|d| d.dir.as_str()).collect();
        assert_eq!(dirs, ["z", "a"]);
        let assets: Vec<_> = p
            .assets
            .iter()
            .map(|a| a.trim_start_matches("/package/p/1.0.0/"))
            .collect();
        assert_eq!(
            assets,
            [
                "manifest.yml",
                "LICENSE.txt",
                "docs/README.md",
                "data_stream/z/manifest.yml",
                "data_stream/a/manifest.yml",
                "data_stream/z/fields/f.yml",
                "data_stream/a/fields/f.yml"
            ]
        );
        // EPR stops at the first level with no archive entry at all: without folder entries,
        // a file below a level that holds only folders is not listed.
        let p = load_zip(&[
            ("p-1.0.0/manifest.yml", &m),
            ("p-1.0.0/docs/README.md", "r"),
            ("p-1.0.0/a/b/c/d.txt", "d"),
        ])
        .unwrap();
        assert_eq!(p.assets.len(), 2);
        let p = load_zip(&[
            ("p-1.0.0/manifest.yml", &m),
            ("p-1.0.0/docs/README.md", "r"),
            ("p-1.0.0/a/", ""),
            ("p-1.0.0/a/b/", ""),
            ("p-1.0.0/a/b/c/", ""),
            ("p-1.0.0/a/b/c/d.txt", "d"),
        ])
        .unwrap();
        assert_eq!(
            p.assets.last().map(String::as_str),
            Some("/package/p/1.0.0/a/b/c/d.txt")
        );
    }

    #[test]
    fn deprecation_of_the_newest_deprecated_version_applies_to_all() {
        let mk = |v: &str, dep: Option<&str>| {
            let extra = dep
                .map(|d| format!("deprecated: {{since: '{d}', description: gone}}\n"))
                .unwrap_or_default();
            load_dir(
                &[
                    ("manifest.yml", &manifest(&extra).replace("1.0.0", v)),
                    README_MD,
                ],
                false,
            )
            .unwrap()
        };
        let mut pkgs = [
            mk("1.0.0", Some("old")),
            mk("2.0.0", Some("new")),
            mk("3.0.0", None),
        ];
        propagate_deprecation(pkgs.iter_mut());
        let since: Vec<_> = pkgs
            .iter()
            .map(|p| p.deprecated.as_ref().map(|d| d.since.as_str()))
            .collect();
        assert_eq!(since, [Some("new"); 3]);
        assert_eq!(pkgs[2].search_json()["deprecated"]["since"], "new");
    }
}
