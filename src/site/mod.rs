//! `site`: the browsable HTML catalog of a build, under `catalog/` in the tree.
//!
//! Stage: render. Takes the packages a build renders (their package model, stage, content hash
//! and parsed Kibana condition) and the staging folder, where the package files are already
//! written; hands on the pages it wrote (path, size, hash, Content-Type) for the manifest.
//!
//! Pages: `catalog/index.html` (every package, with a client-side filter),
//! `catalog/package/<name>/index.html` (one per package name, every version),
//! `catalog/category/<id>/index.html` (one per category in use), the filter's data as a script
//! (`catalog/catalog-index.js`, a script and not JSON so it loads from `file://`) and the shared
//! `catalog/assets/`. Every link is relative and names `index.html`, so the catalog works from
//! `file://`, behind every routing layer and under any URL prefix.
//!
//! Templates are minijinja (`templates/*.html`, built in; `--templates DIR` overrides any of
//! them by name). READMEs are Markdown rendered by pulldown-cmark and cleaned by ammonia.
//! A page whose inputs (its template context, templates and this module) are those of the
//! previous build is hard-linked from it instead of being rendered again; the keys are kept in
//! `_eprgen/catalog.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rayon::prelude::*;
use semver::Version as SemVersion;
use serde::Serialize;
use serde_json::{json, Value};

use crate::catalog::categories_list;
use crate::error::{Error, IoContext, Result};
use crate::package::Package;
use crate::plan::classes::normalise_points;
use crate::plan::constraint::Constraint;
use crate::read::Stage;
use crate::write::manifest::Manifest;
use crate::write::{RelPath, Staging, Written};

/// Where the page keys of a build are recorded (read back by the next build).
pub const KEYS: &str = "_eprgen/catalog.json";
/// The folder of the catalog in the tree.
pub const DIR: &str = "catalog";

pub const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// The built-in templates, by the name `--templates DIR` overrides them with.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("index.html", include_str!("templates/index.html")),
    ("package.html", include_str!("templates/package.html")),
    ("category.html", include_str!("templates/category.html")),
];
const CATALOG_CSS: &str = include_str!("assets/catalog.css");
/// The filter. It also runs in Node (tests/catalog_filter.js), where it exports its functions.
pub const CATALOG_JS: &str = include_str!("assets/catalog.js");

/// One package version the catalog shows.
pub struct Version<'a> {
    pub package: &'a Package,
    pub stage: Option<Stage>,
    pub content_hash: &'a str,
    pub kibana: Option<&'a Constraint>,
}

/// The templates of a build: built-in, or overridden from a folder.
pub struct Templates {
    env: minijinja::Environment<'static>,
    /// blake3 over every template's source and this module: part of every page key.
    hash: String,
}

impl Templates {
    /// The built-in templates, each replaced by `DIR/<name>` when that file exists. A file in
    /// `DIR` that is not one of the template names is refused (a misspelt override would be
    /// silently ignored otherwise), and so is a template that does not compile.
    pub fn load(dir: Option<&Path>) -> Result<Templates> {
        let mut sources: BTreeMap<&'static str, (String, String)> = TEMPLATES
            .iter()
            .map(|(n, s)| (*n, (format!("built-in template {n}"), s.to_string())))
            .collect();
        if let Some(dir) = dir {
            let list = std::fs::read_dir(dir).at(dir, "cannot list templates folder")?;
            let mut names = Vec::new();
            for e in list {
                names.push(e.at(dir, "cannot list templates folder")?.path());
            }
            names.sort();
            for p in names {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let Some((key, _)) = TEMPLATES.iter().find(|(n, _)| *n == name) else {
                    return Err(Error::Usage(format!(
                        "{}: not a catalog template (expected one of {})",
                        p.display(),
                        TEMPLATES
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                };
                let text = std::fs::read_to_string(&p).at(&p, "cannot read template")?;
                sources.insert(key, (p.display().to_string(), text));
            }
        }
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        let mut h = blake3::Hasher::new();
        h.update(crate::build::VERSION.as_bytes());
        h.update(include_str!("mod.rs").as_bytes());
        h.update(CATALOG_CSS.as_bytes());
        h.update(CATALOG_JS.as_bytes());
        for (name, (origin, text)) in sources {
            h.update(format!("\0{name}\0").as_bytes());
            h.update(text.as_bytes());
            env.add_template_owned(name, text)
                .map_err(|e| Error::Usage(format!("{origin}: template error: {e:#}")))?;
        }
        Ok(Templates {
            env,
            hash: h.finalize().to_hex().to_string(),
        })
    }

    fn render(&self, name: &str, ctx: &Value) -> Result<String> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| Error::Usage(format!("template {name}: cannot render: {e:#}")))
    }
}

/// A file of the catalog, written into the staging folder.
#[derive(Debug, Clone)]
pub struct Page {
    pub path: RelPath,
    pub written: Written,
    pub content_type: &'static str,
}

/// What [`render`] did.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    pub pages: Vec<Page>,
    /// Pages rendered in this build, and pages linked from the previous one.
    pub rendered: usize,
    pub reused: usize,
}

/// The previous build, whose unchanged pages are reused.
pub struct Previous<'a> {
    pub dir: &'a Path,
    pub manifest: &'a Manifest,
}

/// One page to make: its path, its key, and how to make its bytes.
struct Job {
    path: String,
    content_type: &'static str,
    key: String,
    make: Make,
}

enum Make {
    Template(&'static str, Value),
    /// A package page: its context, and the README to render into it (a tree path).
    Package(Value, Option<String>),
    Bytes(Vec<u8>),
}

/// Write the catalog of these versions into the staging folder.
pub fn render(
    staging: &Staging,
    versions: &[Version<'_>],
    templates: &Templates,
    previous: Option<Previous<'_>>,
) -> Result<Rendered> {
    let jobs = plan(versions, templates)?;
    let old_keys: BTreeMap<String, String> = previous
        .as_ref()
        .and_then(|p| std::fs::read(p.dir.join(KEYS)).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let done: Vec<Result<(Page, bool)>> = jobs
        .par_iter()
        .map(|job| {
            let path = RelPath::new(job.path.clone()).ok_or_else(|| Error::Input {
                path: job.path.clone().into(),
                reason: "not a safe path inside the tree".into(),
            })?;
            if let Some(prev) = &previous {
                if old_keys.get(&job.path) == Some(&job.key) {
                    if let Some(m) = prev.manifest.files.get(&path) {
                        let src = path.to_path(prev.dir);
                        if src.is_file() {
                            staging.link_from(&path, &src)?;
                            let written = Written {
                                size: m.size,
                                blake3: m.blake3.clone(),
                            };
                            let content_type = job.content_type;
                            return Ok((
                                Page {
                                    path,
                                    written,
                                    content_type,
                                },
                                true,
                            ));
                        }
                    }
                }
            }
            let bytes = match &job.make {
                Make::Bytes(b) => b.clone(),
                Make::Template(name, ctx) => templates.render(name, ctx)?.into_bytes(),
                Make::Package(ctx, readme) => {
                    let mut ctx = ctx.clone();
                    if let Some(r) = readme {
                        let file = staging.dir().join(r);
                        let md = std::fs::read(&file).at(&file, "cannot read README")?;
                        let base = format!("{}{}", ctx["root"].as_str().unwrap_or(""), dir_of(r));
                        ctx["readme_html"] =
                            json!(readme_html(&String::from_utf8_lossy(&md), &base));
                    }
                    templates.render("package.html", &ctx)?.into_bytes()
                }
            };
            let written = staging.write(&path, &bytes)?;
            Ok((
                Page {
                    path,
                    written,
                    content_type: job.content_type,
                },
                false,
            ))
        })
        .collect();
    let mut out = Rendered::default();
    let mut keys = BTreeMap::new();
    for (job, d) in jobs.iter().zip(done) {
        let (page, reused) = d?;
        if reused {
            out.reused += 1;
        } else {
            out.rendered += 1;
        }
        keys.insert(job.path.clone(), job.key.clone());
        out.pages.push(page);
    }
    let keys_path = RelPath::new(KEYS).expect("constant path");
    let mut bytes = serde_json::to_vec_pretty(&keys).expect("keys serialize");
    bytes.push(b'\n');
    let written = staging.write(&keys_path, &bytes)?;
    out.pages.push(Page {
        path: keys_path,
        written,
        content_type: "application/json",
    });
    Ok(out)
}

/// `a/b/c.md` → `a/b/`.
fn dir_of(p: &str) -> &str {
    match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    }
}

/// A package's versions, newest first, and the one its page and card describe: the newest
/// release, or the newest prerelease when it has no release.
struct Named<'a> {
    versions: Vec<&'a Version<'a>>,
    shown: &'a Version<'a>,
}

fn group<'a>(versions: &'a [Version<'a>]) -> BTreeMap<&'a str, Named<'a>> {
    let mut by: BTreeMap<&str, Vec<&Version<'_>>> = BTreeMap::new();
    for v in versions {
        by.entry(v.package.name.as_str()).or_default().push(v);
    }
    by.into_iter()
        .map(|(name, mut vs)| {
            vs.sort_by(|a, b| b.package.version.cmp(&a.package.version));
            let shown = vs
                .iter()
                .find(|v| v.package.version.pre.is_empty())
                .unwrap_or(&vs[0]);
            let shown = *shown;
            (
                name,
                Named {
                    versions: vs,
                    shown,
                },
            )
        })
        .collect()
}

/// A tree path as a relative URL from a page `root` (`../`…): each segment percent-encoded.
fn href(root: &str, tree_path: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let enc: Vec<String> = tree_path
        .trim_start_matches('/')
        .split('/')
        .map(|s| percent_encoding::utf8_percent_encode(s, SEGMENT).to_string())
        .collect();
    format!("{root}{}", enc.join("/"))
}

/// The categories a package is listed under: its own and its policy templates' known ones,
/// with their parents, sorted by id.
fn categories_of(p: &Package) -> BTreeSet<String> {
    let known = categories_list::known();
    let mut out = BTreeSet::new();
    let own = p.categories().iter();
    let templates = p
        .policy_template_categories()
        .into_iter()
        .flatten()
        .flatten();
    for c in own.chain(templates) {
        if let Some(k) = known.get(c) {
            out.insert(k.id.clone());
            if let Some(parent) = &k.parent {
                out.insert(parent.clone());
            }
        }
    }
    out
}

fn category_title(id: &str) -> String {
    categories_list::known()
        .get(id)
        .map(|c| c.title.clone())
        .unwrap_or_else(|| id.to_string())
}

/// The Kibana versions filter, precomputed so the page's script only looks things up: the
/// boundary points of every package's `conditions.kibana.version` (as the planner splits the
/// `kibana.version` dimension), and per package one verdict per class a *release* version can
/// fall in. Class `2k` is "strictly between points k-1 and k", class `2k+1` is "point k itself";
/// by [`Constraint::points`] every release in one class gets the same answer, and each verdict
/// here comes from [`Constraint::matches`] itself, so the script cannot disagree with /search.
pub struct KibanaClasses {
    pub points: Vec<SemVersion>,
}

impl KibanaClasses {
    pub fn new(constraints: impl Iterator<Item = Constraint>) -> KibanaClasses {
        let mut points = Vec::new();
        for c in constraints {
            points.extend(c.points());
        }
        KibanaClasses {
            points: normalise_points(points),
        }
    }

    /// A release version in each class, or `None` when no release falls in it.
    pub fn representatives(&self) -> Vec<Option<SemVersion>> {
        let n = self.points.len();
        let mut out = Vec::with_capacity(2 * n + 1);
        for k in 0..=n {
            let rel = match k.checked_sub(1).map(|i| &self.points[i]) {
                None => SemVersion::new(0, 0, 0),
                Some(p) if p.pre.is_empty() => match p.patch.checked_add(1) {
                    Some(patch) => SemVersion::new(p.major, p.minor, patch),
                    None => {
                        out.push(None);
                        if k < n {
                            out.push(self.point_rep(k));
                        }
                        continue;
                    }
                },
                Some(p) => SemVersion::new(p.major, p.minor, p.patch),
            };
            out.push((k == n || rel < self.points[k]).then_some(rel));
            if k < n {
                out.push(self.point_rep(k));
            }
        }
        out
    }

    fn point_rep(&self, k: usize) -> Option<SemVersion> {
        let p = &self.points[k];
        p.pre.is_empty().then(|| p.clone())
    }

    /// `1` per class where some version of the package is installable, else `0`.
    pub fn verdicts(&self, reps: &[Option<SemVersion>], versions: &[&Version<'_>]) -> String {
        reps.iter()
            .map(|r| match r {
                Some(v)
                    if versions
                        .iter()
                        .any(|x| x.kibana.is_none_or(|c| c.matches(v))) =>
                {
                    '1'
                }
                _ => '0',
            })
            .collect()
    }

    /// The points as the script reads them: `[major, minor, patch, prerelease?]`, numbers as
    /// strings (they are u64; the script compares them as BigInt).
    pub fn points_json(&self) -> Value {
        Value::Array(
            self.points
                .iter()
                .map(|p| {
                    json!([
                        p.major.to_string(),
                        p.minor.to_string(),
                        p.patch.to_string(),
                        !p.pre.is_empty()
                    ])
                })
                .collect(),
        )
    }
}

/// Key of a page: its inputs and the templates.
fn key(templates: &Templates, parts: &[&[u8]]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(templates.hash.as_bytes());
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().to_hex().to_string()
}

#[derive(Serialize)]
struct Card {
    name: String,
    title: String,
    description: String,
    version: String,
    #[serde(rename = "type")]
    kind: String,
    stage: Option<&'static str>,
    release: String,
    categories: Vec<Value>,
    icon: Option<String>,
    href: String,
    deprecated: bool,
}

fn card(named: &Named<'_>, root: &str, catalog: &str) -> Card {
    let p = named.shown.package;
    let info = p.info_json();
    let icon = info["icons"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(|i| i["path"].as_str())
        .map(|path| href(root, path));
    Card {
        name: p.name.clone(),
        title: p.manifest.title.clone().unwrap_or_else(|| p.name.clone()),
        description: p.manifest.description.clone(),
        version: p.version.to_string(),
        kind: p.kind().to_string(),
        stage: named.shown.stage.map(Stage::as_str),
        release: p.release().to_string(),
        categories: categories_of(p)
            .into_iter()
            .map(|id| {
                json!({"id": id, "title": category_title(&id),
                       "href": format!("{catalog}category/{id}/index.html")})
            })
            .collect(),
        icon,
        href: format!("{catalog}package/{}/index.html", p.name),
        deprecated: p.deprecated.is_some(),
    }
}

/// Every page of the catalog, with its key.
fn plan(versions: &[Version<'_>], templates: &Templates) -> Result<Vec<Job>> {
    let named = group(versions);
    let classes = KibanaClasses::new(versions.iter().filter_map(|v| v.kibana.cloned()));
    let reps = classes.representatives();
    let mut jobs = Vec::new();
    let asset = |name: &str, ct: &'static str, bytes: &str| Job {
        path: format!("{DIR}/assets/{name}"),
        content_type: ct,
        key: key(templates, &[bytes.as_bytes()]),
        make: Make::Bytes(bytes.as_bytes().to_vec()),
    };
    jobs.push(asset("catalog.css", CSS, CATALOG_CSS));
    jobs.push(asset("catalog.js", JS, CATALOG_JS));

    // The filter's data, as a script that sets a global (a JSON file cannot be read from file://).
    let index = json!({
        "kibana_points": classes.points_json(),
        "packages": named.values().map(|n| {
            let p = n.shown.package;
            json!({
                "name": p.name,
                "title": p.manifest.title.clone().unwrap_or_else(|| p.name.clone()),
                "description": p.manifest.description.clone(),
                "type": p.kind(),
                "categories": categories_of(p),
                "kibana": classes.verdicts(&reps, &n.versions),
            })
        }).collect::<Vec<_>>(),
    });
    let script = format!(
        "window.EPRGEN_CATALOG = {};\n",
        serde_json::to_string(&index).expect("index serializes")
    );
    jobs.push(Job {
        path: format!("{DIR}/catalog-index.js"),
        content_type: JS,
        key: key(templates, &[script.as_bytes()]),
        make: Make::Bytes(script.into_bytes()),
    });

    // The index page.
    let cards: Vec<Card> = named.values().map(|n| card(n, "../", "")).collect();
    let mut all_categories: BTreeMap<String, Vec<&Card>> = BTreeMap::new();
    for c in &cards {
        for cat in &c.categories {
            let id = cat["id"].as_str().expect("id").to_string();
            all_categories.entry(id).or_default().push(c);
        }
    }
    let types: BTreeSet<&str> = cards.iter().map(|c| c.kind.as_str()).collect();
    let category_options: Vec<Value> = all_categories
        .keys()
        .map(|id| json!({"id": id, "title": category_title(id)}))
        .collect();
    let ctx = json!({
        "root": "../",
        "catalog": "",
        "packages": cards,
        "categories": category_options,
        "types": types,
        "versions": versions.len(),
        "generator": format!("eprgen {}", crate::build::VERSION),
    });
    jobs.push(Job {
        path: format!("{DIR}/index.html"),
        content_type: HTML,
        key: key(templates, &[ctx.to_string().as_bytes()]),
        make: Make::Template("index.html", ctx),
    });

    // One page per category.
    for (id, list) in &all_categories {
        let root = "../../../";
        let cat_cards: Vec<Card> = list
            .iter()
            .map(|c| card(&named[c.name.as_str()], root, "../../"))
            .collect();
        let parent = categories_list::known()
            .get(id)
            .and_then(|c| c.parent.clone());
        let ctx = json!({
            "root": root,
            "catalog": "../../",
            "category": {"id": id, "title": category_title(id),
                         "parent": parent.as_ref().map(|p| json!({"id": p, "title": category_title(p)}))},
            "packages": cat_cards,
            "generator": format!("eprgen {}", crate::build::VERSION),
        });
        jobs.push(Job {
            path: format!("{DIR}/category/{id}/index.html"),
            content_type: HTML,
            key: key(templates, &[ctx.to_string().as_bytes()]),
            make: Make::Template("category.html", ctx),
        });
    }

    // One page per package name.
    for (name, n) in &named {
        let root = "../../../";
        let shown = n.shown.package;
        let info = shown.info_json();
        let file =
            |v: &Package, s: &str| href(root, &format!("package/{}/{}/{s}", v.name, v.version));
        let versions: Vec<Value> = n
            .versions
            .iter()
            .map(|v| {
                let p = v.package;
                json!({
                    "version": p.version.to_string(),
                    "release": p.release(),
                    "stage": v.stage.map(Stage::as_str),
                    "prerelease": !p.version.pre.is_empty(),
                    "kibana": p.kibana_version(),
                    "agent": p.agent_version(),
                    "format_version": p.format_version(),
                    "download": href(root, &p.download_path()),
                    "signature": p.signature_path.as_deref().map(|s| href(root, s)),
                    "package_json": file(p, "index.json"),
                    "shown": std::ptr::eq(*v, n.shown),
                })
            })
            .collect();
        let images = |key: &str| -> Vec<Value> {
            info[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|i| {
                            let path = i["path"].as_str()?;
                            Some(json!({"href": href(root, path),
                                        "title": i["title"].as_str().unwrap_or(""),
                                        "size": i["size"].as_str()}))
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let readme_path = format!("package/{}/{}/docs/README.md", shown.name, shown.version);
        let readme = versions_file_exists(shown, "docs/README.md").then_some(readme_path);
        let ctx = json!({
            "root": root,
            "catalog": "../../",
            "package": card(n, root, "../../"),
            "info": info,
            "icons": images("icons"),
            "screenshots": images("screenshots"),
            "versions": versions,
            "readme_href": readme.as_ref().map(|r| href(root, r)),
            "readme_html": null,
            "generator": format!("eprgen {}", crate::build::VERSION),
        });
        jobs.push(Job {
            path: format!("{DIR}/package/{name}/index.html"),
            content_type: HTML,
            key: key(
                templates,
                &[ctx.to_string().as_bytes(), n.shown.content_hash.as_bytes()],
            ),
            make: Make::Package(ctx, readme),
        });
    }
    Ok(jobs)
}

fn versions_file_exists(p: &Package, file: &str) -> bool {
    let want = format!("{}/{file}", p.url_path());
    p.assets.contains(&want)
}

/// A README as safe HTML: Markdown (CommonMark + tables, strikethrough, task lists) rendered by
/// pulldown-cmark, then cleaned by ammonia (no scripts, event handlers, `javascript:` URLs or
/// styles). Relative links and images point into the package's files (`base`, ending in `/`).
pub fn readme_html(markdown: &str, base: &str) -> String {
    use pulldown_cmark::{html, Options, Parser};
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut raw = String::new();
    html::push_html(&mut raw, Parser::new_ext(markdown, opts));
    let clean = ammonia::Builder::default()
        .url_relative(ammonia::UrlRelative::Custom(Box::new(Rebase(
            base.to_string(),
        ))))
        .attribute_filter(local_images)
        // A link whose URL was dropped stays as `<a>` text; with ammonia's default `rel` it
        // would be invalid HTML (`rel` needs `href`), and `target` is not allowed anyway.
        .link_rel(None)
        .clean(&raw)
        .to_string();
    drop_images_without_src(&clean)
}

/// An `<img>` whose remote `src` was dropped is removed (an image without `src` is invalid
/// HTML). The input is ammonia's output, where every `<img` is a tag (text has `&lt;`).
fn drop_images_without_src(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find("<img") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail.find('>').map_or(tail.len(), |e| e + 1);
        if tail[..end].contains(" src=\"") {
            out.push_str(&tail[..end]);
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// An image from outside the tree would be fetched when the page is opened (the catalog must
/// work air-gapped and fetch nothing from elsewhere): only relative image URLs are kept.
fn local_images<'u>(
    element: &str,
    attribute: &str,
    value: &'u str,
) -> Option<std::borrow::Cow<'u, str>> {
    let scheme = value
        .split_once(':')
        .is_some_and(|(s, _)| !s.is_empty() && !s.contains('/'));
    if element == "img" && attribute == "src" && (scheme || value.starts_with("//")) {
        return None;
    }
    Some(value.into())
}

/// Relative URLs of a README point into its package's files; root-relative and
/// protocol-relative ones would leave the tree and are dropped.
struct Rebase(String);

impl<'a> ammonia::UrlRelativeEvaluate<'a> for Rebase {
    fn evaluate<'url>(&self, url: &'url str) -> Option<std::borrow::Cow<'url, str>> {
        if url.starts_with('#') {
            return Some(url.into());
        }
        if url.starts_with('/') {
            return None;
        }
        Some(format!("{}{url}", self.0).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_is_inert() {
        let md = "# Hi\n\n<script>alert(1)</script>\n\n[x](javascript:alert(2)) \
                  <img src=x onerror=alert(3)> <a href=\"JaVaScRiPt:alert(4)\">y</a>\n\n\
                  ![shot](../img/a.png) [abs](https://example.com/) [top](/etc/passwd) \
                  ![remote](https://example.com/t.png) <img src=\"//example.com/u.png\">";
        let html = readme_html(md, "../../../package/p/1.0.0/docs/");
        assert!(!html.to_lowercase().contains("<script"), "{html}");
        assert!(!html.to_lowercase().contains("javascript:"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
        assert!(
            html.contains("src=\"../../../package/p/1.0.0/docs/../img/a.png\""),
            "{html}"
        );
        assert!(html.contains("href=\"https://example.com/\""), "{html}");
        assert!(!html.contains("/etc/passwd\""), "{html}");
        assert!(html.contains("<a>top</a>"), "{html}");
        assert!(!html.contains("<img alt=\"remote\">"), "{html}");
        assert!(html.contains("<h1>Hi</h1>"), "{html}");
        assert!(!html.contains("example.com/t.png"), "{html}");
        assert!(!html.contains("example.com/u.png"), "{html}");
    }

    #[test]
    fn hrefs_are_relative_and_encoded() {
        assert_eq!(
            href("../", "/package/a/1.0.0/img/a b#c.png"),
            "../package/a/1.0.0/img/a%20b%23c.png"
        );
    }

    #[test]
    fn kibana_classes_follow_the_matcher() {
        let cs: Vec<Constraint> = ["^8.12.0 || ^9.0.0", ">=7.16.0-beta1, <8.0.0", "8.10.1"]
            .iter()
            .map(|s| Constraint::parse(s).unwrap())
            .collect();
        let classes = KibanaClasses::new(cs.iter().cloned());
        let reps = classes.representatives();
        assert_eq!(reps.len(), 2 * classes.points.len() + 1);
        for (i, r) in reps.iter().enumerate() {
            if let Some(v) = r {
                let k = classes.points.partition_point(|p| p < v);
                let class = if k < classes.points.len() && classes.points[k] == *v {
                    2 * k + 1
                } else {
                    2 * k
                };
                assert_eq!(class, i, "{v}");
            }
        }
    }
}
