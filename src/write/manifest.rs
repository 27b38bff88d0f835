//! The tree's manifest: every file with its size, blake3, headers and modification time, plus
//! what the build was made of. Written last into `_eprgen/manifest.json`; its blake3 is the
//! build id. Everything is in BTreeMaps, so the same build gives the same bytes.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::RelPath;
use crate::error::{Error, IoContext, Result};

pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    pub size: u64,
    pub blake3: String,
    pub content_type: String,
    pub cache_control: String,
    /// Unix seconds of the build that first wrote this path with these bytes (Last-Modified).
    /// A precompressed sibling has its identity file's time.
    pub modified: u64,
    /// Set on a precompressed sibling (`<file>.gz`, `<file>.br`): `gzip` or `br`. Its
    /// Content-Type and Cache-Control are the identity file's.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub content_encoding: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageMeta {
    pub name: String,
    pub version: String,
    /// `dir` or `zip`.
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stage: Option<String>,
    /// blake3 over the package's input files (paths and contents) — its identity across builds.
    pub content_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub generator: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stage: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tag: Option<String>,
    /// Set for a mirror holding only what this Kibana version can install.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kibana_version: Option<String>,
    /// Hash of the build options that change output (cache times, version, …).
    pub options_hash: String,
    /// Hash of everything the answer space is computed from (eprgen's version and every
    /// package's identity and content): equal keys mean equal route tables and answers.
    #[serde(default)]
    pub plan_key: String,
    /// How the precompressed siblings were made (`render::compress::SETTINGS`); absent in a
    /// tree without siblings.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub compression: Option<String>,
    pub packages: BTreeMap<String, PackageMeta>,
    pub files: BTreeMap<RelPath, FileMeta>,
}

impl Manifest {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_to(&mut v).expect("manifest serializes");
        v
    }

    /// The manifest's bytes ([`Manifest::to_bytes`]) into `w`.
    pub fn write_to(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut *w, self)?;
        w.write_all(b"\n")
    }

    /// A manifest with `m`'s settings and no packages or files (what a first build replaces).
    pub fn empty_like(m: &Manifest) -> Manifest {
        Manifest {
            format: m.format,
            generator: m.generator.clone(),
            stage: m.stage.clone(),
            tag: m.tag.clone(),
            kibana_version: m.kibana_version.clone(),
            options_hash: m.options_hash.clone(),
            plan_key: m.plan_key.clone(),
            compression: m.compression.clone(),
            packages: BTreeMap::new(),
            files: BTreeMap::new(),
        }
    }

    /// The build id: the first 24 hex digits of the manifest's blake3.
    pub fn build_id(bytes: &[u8]) -> String {
        Manifest::id_of(&blake3::hash(bytes))
    }

    /// The build id of manifest bytes with this blake3.
    pub fn id_of(hash: &blake3::Hash) -> String {
        hash.to_hex()[..24].to_string()
    }

    pub fn load(root: &Path) -> Result<Manifest> {
        let p = root.join(super::MANIFEST);
        let bytes = std::fs::read(&p).at(&p, "cannot read manifest")?;
        serde_json::from_slice(&bytes).map_err(|e| Error::NotATree {
            path: p.clone(),
            reason: format!("manifest is not valid: {e}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_manifest_has_the_same_bytes_and_id() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("public");
        let mut files = BTreeMap::new();
        for i in 0..3 {
            files.insert(
                RelPath::new(format!("package/p/1.0.{i}/docs/README.md")).unwrap(),
                FileMeta {
                    size: i,
                    blake3: format!("{i:064}"),
                    content_type: "text/markdown; charset=utf-8".into(),
                    cache_control: "max-age=600, public".into(),
                    modified: 1_700_000_000 + i,
                    content_encoding: None,
                },
            );
        }
        let m = Manifest {
            format: FORMAT,
            generator: "eprgen test".into(),
            stage: Some("production".into()),
            tag: None,
            kibana_version: None,
            options_hash: "x".into(),
            plan_key: "k".into(),
            compression: None,
            packages: BTreeMap::new(),
            files,
        };
        let staging = crate::write::Staging::begin(&out).unwrap();
        let id = staging.write_manifest(&m).unwrap();
        assert_eq!(id, Manifest::build_id(&m.to_bytes()));
        let dir = staging.commit_written(&id).unwrap();
        assert_eq!(
            std::fs::read(dir.join(crate::write::MANIFEST)).unwrap(),
            m.to_bytes()
        );
        assert_eq!(Manifest::load(&out).unwrap(), m);
    }

    #[test]
    fn manifests_without_siblings_still_load() {
        let old = r#"{"format":1,"generator":"eprgen 0.1.0","options_hash":"x","packages":{},
            "files":{"a.json":{"size":1,"blake3":"b","content_type":"application/json",
            "cache_control":"max-age=600, public","modified":5}}}"#;
        let m: Manifest = serde_json::from_str(old).unwrap();
        assert_eq!(m.compression, None);
        let f = &m.files[&RelPath::new("a.json").unwrap()];
        assert_eq!(f.content_encoding, None);
        // Written back, an identity file still has no `content_encoding` key.
        assert!(!String::from_utf8(m.to_bytes())
            .unwrap()
            .contains("content_encoding"));
    }
}
