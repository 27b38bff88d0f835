//! The JSON EPR serves for one package: the body of `/package/<name>/<version>/` (EPR's
//! `Package`) and one item of a `/search` answer (EPR's `BasePackage`). Objects are built in the
//! field order of EPR's Go structs, and a field is left out exactly where Go's `omitempty` (or
//! `omitzero`) would leave it out, so `gojson::to_go_pretty` gives EPR's bytes.
//!
//! In the full answer, the `policy_templates` and `data_streams` of the full Go struct shadow
//! the shorter ones of the embedded `BasePackage`, so they move after `assets`; the search item
//! keeps the short forms in their `BasePackage` places.

use serde_json::{Map, Value};

use super::manifest::{
    Conditions, DataStreamManifest, DeploymentModes, Deprecated, Image, Input, PackageManifest,
    PolicyTemplate, Stream, Variable,
};
use super::{DataStream, Package};

/// An object under construction, in insertion order.
#[derive(Default)]
struct Obj(Map<String, Value>);

impl Obj {
    fn new() -> Self {
        Obj::default()
    }
    fn put(&mut self, k: &str, v: impl Into<Value>) -> &mut Self {
        self.0.insert(k.to_string(), v.into());
        self
    }
    /// A Go `string` field with `omitempty`.
    fn str(&mut self, k: &str, s: &str) -> &mut Self {
        if !s.is_empty() {
            self.put(k, s);
        }
        self
    }
    /// A Go slice field with `omitempty`.
    fn list(&mut self, k: &str, items: Vec<Value>) -> &mut Self {
        if !items.is_empty() {
            self.put(k, Value::Array(items));
        }
        self
    }
    /// A Go pointer field with `omitempty`.
    fn opt(&mut self, k: &str, v: Option<Value>) -> &mut Self {
        if let Some(v) = v {
            self.put(k, v);
        }
        self
    }
    /// A Go `bool` field with `omitempty`.
    fn flag(&mut self, k: &str, b: bool) -> &mut Self {
        if b {
            self.put(k, true);
        }
        self
    }
    fn done(&mut self) -> Value {
        Value::Object(std::mem::take(&mut self.0))
    }
}

fn strings(v: &[String]) -> Vec<Value> {
    v.iter().map(|s| Value::from(s.as_str())).collect()
}

fn image(i: &Image) -> Value {
    Obj::new()
        .put("src", i.src.as_str())
        .put("path", i.path.as_str())
        .str("title", &i.title)
        .str("size", &i.size)
        .str("type", &i.kind)
        .done()
}

fn images(v: &[Image]) -> Vec<Value> {
    v.iter().map(image).collect()
}

fn deprecated(d: &Deprecated) -> Value {
    let mut o = Obj::new();
    o.put("since", d.since.as_str())
        .put("description", d.description.as_str());
    o.opt(
        "replaced_by",
        d.replaced_by.as_ref().map(|r| {
            Obj::new()
                .str("package", &r.package)
                .str("policy_template", &r.policy_template)
                .str("input", &r.input)
                .str("data_stream", &r.data_stream)
                .str("variable", &r.variable)
                .done()
        }),
    );
    o.done()
}

fn variable(v: &Variable) -> Value {
    let mut o = Obj::new();
    o.put("name", v.name.as_str())
        .put("type", v.kind.as_str())
        .str("title", &v.title)
        .str("description", &v.description);
    o.put("multi", v.multi)
        .put("required", v.required)
        .put("show_user", v.show_user);
    // An untyped Go field: left out when nil, which includes `{}` (go-ucfg gives nil for it).
    // Non-finite floats were refused when the package was loaded.
    let default = v
        .default
        .as_ref()
        .and_then(|d| d.to_json().ok())
        .filter(|j| !j.is_null());
    o.opt("default", default);
    o.opt("deprecated", v.deprecated.as_ref().map(deprecated));
    o.done()
}

fn variables(v: &[Variable]) -> Vec<Value> {
    v.iter().map(variable).collect()
}

fn stream(s: &Stream) -> Value {
    Obj::new()
        .str("input", &s.input)
        .str("package", &s.package)
        .list("vars", variables(&s.vars))
        .str("data_stream", &s.data_stream)
        .str("template_path", &s.template_path)
        .str("title", &s.title)
        .str("description", &s.description)
        .opt("enabled", s.enabled.map(Value::from))
        .str("ingestion_method", &s.ingestion_method)
        .done()
}

fn input(i: &Input) -> Value {
    Obj::new()
        .str("type", &i.kind)
        .str("package", &i.package)
        .list("vars", variables(&i.vars))
        .str("title", &i.title)
        .str("description", &i.description)
        .list("streams", i.streams.iter().map(stream).collect())
        .str("template_path", &i.template_path)
        .str("input_group", &i.input_group)
        .list("deployment_modes", strings(&i.deployment_modes))
        .opt("deprecated", i.deprecated.as_ref().map(deprecated))
        .done()
}

fn deployment_modes(d: &DeploymentModes) -> Value {
    let mut o = Obj::new();
    o.opt(
        "default",
        d.default
            .as_ref()
            .map(|m| Obj::new().put("enabled", m.enabled).done()),
    );
    o.opt(
        "agentless",
        d.agentless.as_ref().map(|m| {
            Obj::new()
                .put("enabled", m.enabled)
                .opt("is_default", m.is_default.map(Value::from))
                .str("release", &m.release)
                .done()
        }),
    );
    o.done()
}

fn categories(c: &Option<Vec<String>>) -> Vec<Value> {
    c.as_deref().map(strings).unwrap_or_default()
}

/// A policy template in the full answer (EPR's `PolicyTemplate`).
fn policy_template(t: &PolicyTemplate) -> Value {
    Obj::new()
        .put("name", t.name.as_str())
        .put("title", t.title.as_str())
        .put("description", t.description.as_str())
        .list("data_streams", strings(&t.data_streams))
        .list("inputs", t.inputs.iter().map(input).collect())
        .opt("multiple", t.multiple.map(Value::from))
        .list("icons", images(&t.icons))
        .list("categories", categories(&t.categories))
        .list("screenshots", images(&t.screenshots))
        .opt("readme", t.readme.as_deref().map(Value::from))
        .opt(
            "deployment_modes",
            t.deployment_modes.as_ref().map(deployment_modes),
        )
        .str("type", &t.kind)
        .str("input", &t.input)
        .str("ingestion_method", &t.ingestion_method)
        .str("template_path", &t.template_path)
        .opt("deprecated", t.deprecated.as_ref().map(deprecated))
        .done()
}

/// A policy template in a search item (EPR's `BasePolicyTemplate`).
fn base_policy_template(t: &PolicyTemplate) -> Value {
    Obj::new()
        .put("name", t.name.as_str())
        .put("title", t.title.as_str())
        .put("description", t.description.as_str())
        .list("icons", images(&t.icons))
        .list("categories", categories(&t.categories))
        .opt(
            "deployment_modes",
            t.deployment_modes.as_ref().map(deployment_modes),
        )
        .list("data_streams", strings(&t.data_streams))
        .opt("deprecated", t.deprecated.as_ref().map(deprecated))
        .done()
}

fn root_privileges(root: bool) -> Value {
    Obj::new().flag("root", root).done()
}

fn data_stream(p: &Package, ds: &DataStream) -> Value {
    let m: &DataStreamManifest = &ds.manifest;
    let es = m.elasticsearch.as_ref().map(|es| {
        let mut o = Obj::new();
        // Non-finite floats were refused when the package was loaded.
        for (k, map) in [
            ("index_template.settings", &es.index_template.settings),
            ("index_template.mappings", &es.index_template.mappings),
        ] {
            if let Ok(j) = map.to_json() {
                if !j.is_empty() {
                    o.put(k, Value::Object(j));
                }
            }
        }
        o.str("ingest_pipeline.name", &es.ingest_pipeline.name);
        o.opt(
            "privileges",
            es.privileges
                .as_ref()
                .map(|pr| Obj::new().list("indices", strings(&pr.indices)).done()),
        );
        o.done()
    });
    Obj::new()
        .put("type", m.kind.as_str())
        .str("dataset", &m.dataset)
        .flag("hidden", m.hidden)
        .str("ilm_policy", &m.ilm_policy)
        .flag("dataset_is_prefix", m.dataset_is_prefix)
        .put("title", m.title.as_str())
        .str("release", &m.release)
        .str("ingest_pipeline", &m.ingest_pipeline)
        .list("streams", m.streams.iter().map(stream).collect())
        .str("package", ds.package(p))
        .opt("elasticsearch", es)
        .opt(
            "agent",
            m.agent.as_ref().map(|a| {
                Obj::new()
                    .opt(
                        "privileges",
                        a.privileges.as_ref().map(|pr| root_privileges(pr.root)),
                    )
                    .done()
            }),
        )
        .str("path", ds.path())
        .opt("deprecated", m.deprecated.as_ref().map(deprecated))
        .done()
}

fn base_data_stream(ds: &DataStream) -> Value {
    let m = &ds.manifest;
    Obj::new()
        .str("type", &m.kind)
        .put("dataset", m.dataset.as_str())
        .put("title", m.title.as_str())
        .opt("deprecated", m.deprecated.as_ref().map(deprecated))
        .done()
}

fn conditions(c: &Conditions) -> Value {
    let version = |v: &super::manifest::VersionCondition| {
        Obj::new().put("version", v.version.as_str()).done()
    };
    let mut o = Obj::new();
    o.opt("kibana", c.kibana.as_ref().map(version));
    o.opt(
        "elastic",
        c.elastic.as_ref().map(|e| {
            Obj::new()
                .put("subscription", e.subscription.as_str())
                .list(
                    "capabilities",
                    e.capabilities.as_deref().map(strings).unwrap_or_default(),
                )
                .done()
        }),
    );
    o.opt("agent", c.agent.as_ref().map(version));
    o.done()
}

/// The fields of EPR's `BasePackage`, in order. `full` selects the full answer, where the
/// short `policy_templates` and `data_streams` are shadowed (left out here).
fn base_fields(o: &mut Obj, p: &Package, full: bool) {
    let m: &PackageManifest = &p.manifest;
    o.put("name", m.name.as_str());
    o.opt("title", m.title.as_deref().map(Value::from));
    o.put("version", m.version.as_str());
    o.str("release", &m.release);
    o.opt(
        "source",
        m.source
            .as_ref()
            .map(|s| Obj::new().str("license", &s.license).done()),
    );
    o.put("description", m.description.as_str());
    o.put("type", m.kind.as_str());
    o.put("download", p.download_path());
    o.put("path", p.url_path());
    o.list("icons", images(&m.icons));
    o.str("policy_templates_behavior", &m.policy_templates_behavior);
    if !full {
        o.list(
            "policy_templates",
            m.policy_templates
                .iter()
                .map(base_policy_template)
                .collect(),
        );
    }
    o.opt("conditions", m.conditions.as_ref().map(conditions));
    o.opt(
        "owner",
        m.owner.as_ref().map(|w| {
            Obj::new()
                .str("type", &w.kind)
                .str("github", &w.github)
                .done()
        }),
    );
    o.list("categories", categories(&m.categories));
    o.str("signature_path", p.signature_path.as_deref().unwrap_or(""));
    // `omitzero` with EPR's IsZero: left out when it lists no field and no dataset.
    if let Some(d) = m
        .discovery
        .as_ref()
        .filter(|d| !d.fields.is_empty() || !d.datasets.is_empty())
    {
        let named = |v: &[super::manifest::Named]| {
            v.iter()
                .map(|n| Obj::new().put("name", n.name.as_str()).done())
                .collect()
        };
        o.put(
            "discovery",
            Obj::new()
                .list("fields", named(&d.fields))
                .list("datasets", named(&d.datasets))
                .done(),
        );
    }
    if !full {
        o.list(
            "data_streams",
            p.data_streams.iter().map(base_data_stream).collect(),
        );
    }
    o.opt("deprecated", p.deprecated.as_ref().map(deprecated));
    o.opt(
        "requires",
        m.requires.as_ref().map(|r| {
            let reqs = |v: &[super::manifest::Requirement]| {
                v.iter()
                    .map(|q| {
                        Obj::new()
                            .put("package", q.package.as_str())
                            .put("version", q.version.as_str())
                            .done()
                    })
                    .collect()
            };
            Obj::new()
                .list("input", reqs(&r.input))
                .list("content", reqs(&r.content))
                .done()
        }),
    );
    o.str("group", &m.group);
}

/// The body of `/package/<name>/<version>/`.
pub fn info(p: &Package) -> Value {
    let m = &p.manifest;
    let mut o = Obj::new();
    base_fields(&mut o, p, true);
    o.put("format_version", m.format_version.as_str());
    o.put("readme", p.readme.as_str());
    o.str("license", &m.license);
    o.list("screenshots", images(&m.screenshots));
    o.list("assets", strings(&p.assets));
    o.list(
        "policy_templates",
        m.policy_templates.iter().map(policy_template).collect(),
    );
    o.list(
        "data_streams",
        p.data_streams.iter().map(|d| data_stream(p, d)).collect(),
    );
    o.list("vars", variables(&m.vars));
    o.opt(
        "elasticsearch",
        m.elasticsearch.as_ref().map(|e| {
            Obj::new()
                .opt(
                    "privileges",
                    e.privileges
                        .as_ref()
                        .map(|pr| Obj::new().list("cluster", strings(&pr.cluster)).done()),
                )
                .done()
        }),
    );
    o.opt(
        "agent",
        m.agent.as_ref().map(|a| {
            Obj::new()
                .opt(
                    "privileges",
                    a.privileges.as_ref().map(|pr| root_privileges(pr.root)),
                )
                .done()
        }),
    );
    o.done()
}

/// One item of a `/search` answer.
pub fn search_item(p: &Package) -> Value {
    let mut o = Obj::new();
    base_fields(&mut o, p, false);
    o.done()
}
