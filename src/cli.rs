//! The command line: clap definitions and what each subcommand runs.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::build::{BuildOptions, Inputs};
use crate::package::fs::Limits;
use crate::read::Stage;
use crate::render::headers::CacheTimes;

#[derive(Debug, Parser)]
#[command(
    name = "eprgen",
    version,
    about = "Build a complete Elastic Package Registry as static files, and serve it",
    long_about = "eprgen turns a package-storage tree (or folders of packages) into a directory of static files \
that any CDN, S3 bucket or web server can serve as an Elastic Package Registry: package JSON, files, \
deterministic zips, and every /search and /categories answer, with a small route table that maps query \
strings to answer files.\n\nExit codes: 0 ok; 1 the input or tree is wrong (invalid packages, verify \
mismatch); 2 usage, I/O or internal error."
)]
pub struct Cli {
    /// Print only errors (no progress, no summary).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the static registry tree.
    #[command(
        after_long_help = "Examples:\n  eprgen build\n  eprgen build --stage staging --out public\n  \
eprgen build --source packages/local --source packages/production --out /srv/epr\n  \
eprgen build --skip-invalid --cache-search 60\n  \
eprgen build --templates my-templates   # the HTML catalog (catalog/index.html) with your templates"
    )]
    Build(Box<BuildArgs>),
    /// Serve a built tree over HTTP with eprgen's routes and headers.
    #[command(
        after_long_help = "Examples:\n  eprgen serve\n  eprgen serve --root /srv/epr --addr 0.0.0.0:8080\n  \
eprgen serve --addr 127.0.0.1:0   # any free port; the address is printed"
    )]
    Serve(ServeArgs),
    /// Check a built tree against its manifest: sizes, blake3 hashes, stray or missing files,
    /// routes that point nowhere. Exit 0 only when all holds.
    #[command(after_long_help = "Examples:\n  eprgen verify\n  eprgen verify --root /srv/epr")]
    Verify(VerifyArgs),
    /// List the paths added, changed and removed between two builds (the CDN invalidation list).
    #[command(after_long_help = "Examples:\n  eprgen diff old/public public\n  \
eprgen diff old/_eprgen/manifest.json public --json")]
    Diff(DiffArgs),
    /// Move a package version to the next stage of a package-storage tree (snapshot → staging →
    /// production): add it there, remove it from the stage before.
    #[command(
        after_long_help = "Examples:\n  eprgen promote tinyhttp@1.1.0 --to production\n  \
eprgen promote jobqueue@0.2.0-beta.1 --to staging --packages packages --dry-run"
    )]
    Promote(PromoteArgs),
    /// Upload a built tree to object storage (S3, GCS, Azure Blob, a folder) in a safe order:
    /// only what changed, the manifest last, so the bucket always serves one complete build.
    #[command(after_long_help = PUBLISH_HELP)]
    Publish(PublishArgs),
    /// Make what serves a built tree without eprgen: nginx, CloudFront + S3.
    #[command(subcommand)]
    Routes(RoutesCommand),
}

const PUBLISH_HELP: &str = "Destinations and their environment:\n  \
s3://BUCKET/PREFIX    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION,\n                        \
AWS_ENDPOINT_URL (or AWS_ENDPOINT) for S3-compatible servers, AWS_ALLOW_HTTP=true for http://\n  \
gs://BUCKET/PREFIX    GOOGLE_SERVICE_ACCOUNT (a key file) or GOOGLE_APPLICATION_CREDENTIALS\n  \
az://CONTAINER/PREFIX AZURE_STORAGE_ACCOUNT_NAME, AZURE_STORAGE_ACCOUNT_KEY (or AZURE_STORAGE_SAS_KEY);\n                        \
AZURE_STORAGE_USE_EMULATOR=true and AZURITE_BLOB_STORAGE_URL for Azurite\n  \
file:///PATH          an existing folder (no headers are stored)\n\n\
Exit codes: 0 ok; 1 the tree differs from its manifest or the bucket's manifest is not valid; 2 a bad \
URL, missing credentials, a bucket that does not exist, permission denied or another store error.\n\n\
Examples:\n  eprgen publish --root public --to s3://my-bucket/epr --invalidation-list paths.txt\n  \
eprgen publish --root public --to s3://my-bucket/epr --prune -j 32 --json\n  \
eprgen publish --root public --to az://registry --dry-run";

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The built tree to publish (the --out of a build; a link is resolved once).
    #[arg(long, default_value = "public", value_name = "DIR")]
    pub root: PathBuf,
    /// The destination: s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, az://CONTAINER/PREFIX or
    /// file:///PATH. Each object's key is its path in the tree under PREFIX.
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Requests in flight at once.
    #[arg(long, short, default_value_t = 16, value_name = "N")]
    pub jobs: usize,
    /// Retries of a failed request (connection errors, 5xx, 429), with exponential backoff.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub retries: usize,
    /// After the new manifest is live, delete every object under PREFIX the new build does not have.
    #[arg(long)]
    pub prune: bool,
    /// Print what would be uploaded, copied and deleted; write nothing to the store.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the viewer paths a CDN must invalidate here, one a line (`/*` on a first publish).
    #[arg(long, value_name = "FILE")]
    pub invalidation_list: Option<PathBuf>,
    /// Print a JSON summary on stdout (counts, bytes, time, the invalidation paths).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The version to promote, as name@version.
    pub id: String,
    /// The stage to promote to: staging (from snapshot) or production (from staging).
    #[arg(long, value_name = "STAGE")]
    pub to: Stage,
    /// The package-storage tree.
    #[arg(long, default_value = "packages", value_name = "DIR")]
    pub packages: PathBuf,
    /// Only print what would be done.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The built tree to check.
    #[arg(long, default_value = "public", value_name = "DIR")]
    pub root: PathBuf,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The older build: a tree root or its `_eprgen/manifest.json`.
    pub old: PathBuf,
    /// The newer build: a tree root or its `_eprgen/manifest.json`.
    pub new: PathBuf,
    /// Print JSON `{"added": [...], "changed": [...], "removed": [...]}` instead of lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum RoutesCommand {
    /// Print an nginx server block (njs routing) serving the tree like `eprgen serve`.
    #[command(
        after_long_help = "Writes the njs router module to --js and prints the server block that \
imports it. Regenerate it and reload nginx after each build.\n\nExamples:\n  \
eprgen routes nginx --root /srv/epr/public --listen 80 --js /etc/nginx/eprgen-router.js > /etc/nginx/conf.d/epr.conf\n  \
eprgen routes nginx --root public --listen 127.0.0.1:8081"
    )]
    Nginx(NginxArgs),
    /// Print a CloudFront Functions viewer-request function routing to the tree's objects.
    #[command(
        after_long_help = "The route table goes to a CloudFront KeyValueStore: --kvs-out writes its \
import file.\n\nExamples:\n  eprgen routes cloudfront --root public --kvs-out kvs.json > function.js"
    )]
    Cloudfront(CloudfrontArgs),
    /// Print each object's S3 metadata (Content-Type, Cache-Control) from the manifest.
    #[command(
        after_long_help = "To upload, use `eprgen publish`; `--format shell` is retired and only prints a \
script that runs it.\n\nExamples:\n  eprgen routes s3-metadata --root public > objects.json"
    )]
    S3Metadata(S3MetadataArgs),
}

#[derive(Debug, Args)]
pub struct NginxArgs {
    /// The built tree to serve (the --out of a build; a link is fine).
    #[arg(long, default_value = "public", value_name = "DIR")]
    pub root: PathBuf,
    /// nginx `listen` parameter: a port or address:port.
    #[arg(long, default_value = "8080", value_name = "ADDR")]
    pub listen: String,
    /// Where to write the njs router module the server block imports.
    #[arg(long, default_value = "eprgen-router.js", value_name = "FILE")]
    pub js: PathBuf,
}

#[derive(Debug, Args)]
pub struct CloudfrontArgs {
    /// The built tree (as uploaded to the bucket).
    #[arg(long, default_value = "public", value_name = "DIR")]
    pub root: PathBuf,
    /// Write the KeyValueStore import file (JSON) here.
    #[arg(long, value_name = "FILE")]
    pub kvs_out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct S3MetadataArgs {
    /// The built tree.
    #[arg(long, default_value = "public", value_name = "DIR")]
    pub root: PathBuf,
    /// `json` (a list of objects), or `shell` (retired: a script that runs `eprgen publish`).
    #[arg(long, default_value = "json", value_name = "FORMAT", value_parser = ["json", "shell"])]
    pub format: String,
    /// Upload destination of the shell commands.
    #[arg(long, default_value = "s3://BUCKET", value_name = "S3URL")]
    pub dest: String,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// A package-storage tree with production/, staging/ and snapshot/ folders of
    /// `<name>/<version>/` package folders or `<name>-<version>.zip` files (+ `.zip.sig`).
    #[arg(
        long,
        default_value = "packages",
        value_name = "DIR",
        conflicts_with = "source"
    )]
    pub packages: PathBuf,
    /// Which stage to build: production serves production; staging serves staging+production;
    /// snapshot serves all three. The more stable stage wins a name+version held twice.
    #[arg(long, default_value = "production", value_name = "STAGE")]
    pub stage: Stage,
    /// A folder of package folders and/or zips, instead of --packages (repeatable; the first
    /// folder holding a name+version wins). Example: --source a --source b
    #[arg(long, value_name = "PATH")]
    pub source: Vec<PathBuf>,
    /// Output folder (a link to the current build, swapped atomically).
    #[arg(long, default_value = "public", value_name = "DIR")]
    pub out: PathBuf,
    /// Build without invalid packages (they are still listed, and the exit code is 0).
    #[arg(long)]
    pub skip_invalid: bool,
    /// Cache-Control max-age in seconds of `/`, `/index.json` and `/package/{name}/{version}/`.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub cache_index: u64,
    /// Cache-Control max-age in seconds of /search answers.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub cache_search: u64,
    /// Cache-Control max-age in seconds of /categories answers.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub cache_categories: u64,
    /// Cache-Control max-age in seconds of package files, zips, signatures and the favicon.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub cache_catch_all: u64,
    /// Serve this file as /favicon.ico (default: eprgen's own icon).
    #[arg(long, value_name = "FILE")]
    pub favicon: Option<PathBuf>,
    /// Do not write the browsable HTML catalog (`catalog/`, see `/catalog/index.html`).
    #[arg(long)]
    pub no_catalog: bool,
    /// Override the catalog's built-in minijinja templates (base.html, index.html,
    /// package.html, category.html) with the files of this folder that have those names.
    /// Example: --templates my-templates
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Largest package file accepted, in bytes.
    #[arg(long, default_value_t = 256 * 1024 * 1024, value_name = "BYTES")]
    pub max_file_size: u64,
    /// Largest package accepted: the sum of its files, uncompressed (a zip by its entries), in
    /// bytes. A zip that expands to more than 200 times its size past 64 MiB is refused too.
    #[arg(long, default_value_t = 2 << 30, value_name = "BYTES")]
    pub max_package_size: u64,
    /// Record a stack-version tag in the manifest, e.g. 8.15.0.
    #[arg(long, value_name = "VERSION")]
    pub tag: Option<String>,
    /// Build a self-contained mirror holding only the packages this Kibana version can install
    /// (every answer stays correct for that Kibana). Example: --kibana-version 8.15.0
    #[arg(long, value_name = "VERSION")]
    pub kibana_version: Option<String>,
    /// The build the stage policy compares with: a tree or its `_eprgen/manifest.json`
    /// (default: the tree at --out, when it is a build of the same stage).
    #[arg(long, value_name = "PATH")]
    pub previous: Option<PathBuf>,
    /// Build without comparing with the tree at --out (needed on purpose when that tree is
    /// damaged and cannot be read): no stage-policy check, no reuse of its files.
    #[arg(long, conflicts_with = "previous")]
    pub no_previous: bool,
    /// Let a staging build change the content of this published version (repeatable).
    #[arg(long, value_name = "NAME@VERSION")]
    pub allow_overwrite: Vec<String>,
    /// Let a staging build drop this published version (repeatable).
    #[arg(long, value_name = "NAME@VERSION")]
    pub allow_removal: Vec<String>,
    /// Which /search and /categories answers get whole bodies as files: `profile`, the query
    /// shapes Kibana sends (kibana.version, prerelease, experimental, category, type, package,
    /// all=true with package; /categories with include_policy_templates) under each --preset;
    /// every other query is composed by `eprgen serve`, nginx or the CDN's fallback origin.
    /// `all`: every class of every parameter (no composition), refused above --max-answer-bytes.
    #[arg(long, value_enum, default_value = "profile", value_name = "WHAT")]
    pub materialize: Materialize,
    /// A deployment preset of the profile: the capabilities, spec.min and spec.max one Kibana
    /// configuration sends, as a query string (repeatable; replaces the defaults, Kibana's
    /// serverless observability and security settings; `none` keeps only "absent").
    /// Example: --preset 'capabilities=apm,observability&spec.min=1.0&spec.max=3.0'
    #[arg(long = "preset", value_name = "QUERY")]
    pub presets: Vec<String>,
    /// With --materialize all: the most bytes of answers to write; the build counts them first
    /// and refuses a larger answer space.
    #[arg(long, default_value_t = crate::build::MAX_ANSWER_BYTES, value_name = "BYTES")]
    pub max_answer_bytes: u64,
    /// Print a JSON report on stdout: build id, counts, and the paths added, changed and removed
    /// since the previous build (the CDN invalidation list).
    #[arg(long)]
    pub json: bool,
    /// Worker threads (default: one per core).
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,
}

/// What `--materialize` writes as whole answer files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Materialize {
    /// The client profile; every other answer is composed.
    Profile,
    /// Every answer (exhaustive).
    All,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The built tree to serve (the --out of a build).
    #[arg(long, default_value = "public", value_name = "DIR")]
    pub root: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub addr: SocketAddr,
    /// Seconds a client has to send a request's whole header (nginx's client_header_timeout).
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    pub header_timeout: f64,
    /// Seconds a connection may sit with no bytes either way before it is closed (nginx's
    /// keepalive_timeout). Between requests the header timeout runs too, so an idle
    /// keep-alive connection closes after the shorter of the two.
    #[arg(long, default_value_t = 75.0, value_name = "SECONDS")]
    pub keepalive_timeout: f64,
    /// Seconds a write to a client may make no progress before the connection is closed
    /// (nginx's send_timeout).
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    pub send_timeout: f64,
    /// Connections served at once; more wait in the listen backlog (default: well below the
    /// open-file limit, `ulimit -n`: (limit - max(limit/8, 16)) / 2, at most 16384).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,
}

impl ServeArgs {
    pub fn options(&self) -> Result<crate::serve::ServeOptions, String> {
        let secs = |flag: &str, v: f64| {
            std::time::Duration::try_from_secs_f64(v)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| format!("--{flag} {v}: must be a positive number of seconds"))
        };
        let mut o = crate::serve::ServeOptions::new(self.root.clone(), self.addr);
        o.header_timeout = secs("header-timeout", self.header_timeout)?;
        o.idle_timeout = secs("keepalive-timeout", self.keepalive_timeout)?;
        o.send_timeout = secs("send-timeout", self.send_timeout)?;
        o.max_connections = self.max_connections.map(|n| n as usize);
        Ok(o)
    }
}

impl BuildArgs {
    pub fn options(&self) -> BuildOptions {
        let inputs = if self.source.is_empty() {
            Inputs::Stages {
                dir: self.packages.clone(),
                stage: self.stage,
            }
        } else {
            Inputs::Sources(self.source.clone())
        };
        let mut o = BuildOptions::new(inputs, self.out.clone());
        o.skip_invalid = self.skip_invalid;
        o.cache = CacheTimes {
            index: self.cache_index,
            search: self.cache_search,
            categories: self.cache_categories,
            catch_all: self.cache_catch_all,
        };
        o.favicon = self.favicon.clone();
        o.catalog = !self.no_catalog;
        o.templates = self.templates.clone();
        o.limits = Limits {
            max_file_bytes: self.max_file_size,
            max_package_bytes: self.max_package_size,
        };
        o.tag = self.tag.clone();
        o.kibana_version = self.kibana_version.clone();
        o.previous = self.previous.clone();
        o.no_previous = self.no_previous;
        o.allow_overwrite = self.allow_overwrite.clone();
        o.allow_removal = self.allow_removal.clone();
        o.profile.all = self.materialize == Materialize::All;
        if !self.presets.is_empty() {
            o.profile.presets = self
                .presets
                .iter()
                .filter(|p| p.as_str() != "none")
                .cloned()
                .collect();
        }
        o.max_answer_bytes = self.max_answer_bytes;
        o
    }
}
