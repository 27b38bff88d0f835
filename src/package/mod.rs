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
    let rel = img.src.trim_start_matches('/');
    if rel.split('/').any(|s| s == "..") {
        p.add(
            "manifest.yml",
            format!("{what}: src {:?} points outside the package", img.src),
        );
    } else if rel.is_empty() || rel.split('/').any(|s| s.is_empty() || s == ".") || !fs.exists(rel)
    {
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
        if let Some(ds) = load_data_stream(p, fs, parts[1], name, release) {
            out.push(ds);
        }
    }
    out
}

fn load_data_stream(
    p: &mut Problems<'_>,
    fs: &PackageFs,
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
    if !RELEASES.contains(&m.release.as_str()) {
        p.add(
            &file,
            format!(
                "release {:?} is not one of experimental, beta, ga",
                m.release
            ),
        );
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
    match serde_yaml_ng::Deserializer::from_str(text).next() {
        None => Ok(()),
        Some(doc) => AnyMap::deserialize(doc)
            .map(|_| ())
            .map_err(|e| e.to_string()),
    }
}
