//! The HTTP headers each file of the tree is served with, decided at build time and recorded in
//! the tree's manifest so every server and uploader applies the same ones.

use serde::{Deserialize, Serialize};

/// Which of EPR's cache settings applies to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheKind {
    /// `/`, `/index.json`, `/package/{name}/{version}/` (EPR `cache_time.index`).
    Index,
    /// `/search` answers (`cache_time.search`).
    Search,
    /// `/categories` answers (`cache_time.categories`).
    Categories,
    /// Package files, zips, signatures, favicon (`cache_time.catch_all`).
    CatchAll,
    /// Not cached by clients (`/health`).
    None,
}

/// Seconds of `max-age` per kind. The defaults are EPR's (config.reference.yml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheTimes {
    pub index: u64,
    pub search: u64,
    pub categories: u64,
    pub catch_all: u64,
}

impl Default for CacheTimes {
    fn default() -> Self {
        CacheTimes {
            index: 10,
            search: 600,
            categories: 600,
            catch_all: 600,
        }
    }
}

impl CacheTimes {
    /// The Cache-Control value for a kind. EPR sends two header lines (`max-age=N`, `public`);
    /// one joined line means the same to every cache.
    pub fn header(&self, kind: CacheKind) -> String {
        let secs = match kind {
            CacheKind::Index => self.index,
            CacheKind::Search => self.search,
            CacheKind::Categories => self.categories,
            CacheKind::CatchAll => self.catch_all,
            CacheKind::None => return NO_STORE.to_string(),
        };
        format!("max-age={secs}, public")
    }
}

/// Cache-Control of error answers (EPR's noCacheHeaders).
pub const NO_STORE: &str = "max-age=0, private, no-store";

pub const JSON: &str = "application/json";
pub const TEXT: &str = "text/plain; charset=utf-8";

/// Content-Type of a package file, as EPR serves it: its own overrides for `.zip .ico .md .yml`,
/// then Go's built-in extension table, then content sniffing for anything else.
pub fn content_type(path: &str, head: &[u8]) -> String {
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let known = match ext.as_str() {
        "zip" => "application/zip",
        "ico" => "image/x-icon",
        "md" => "text/markdown; charset=utf-8",
        "yml" => "text/yaml; charset=UTF-8",
        "avif" => "image/avif",
        "css" => "text/css; charset=utf-8",
        "gif" => "image/gif",
        "htm" | "html" => "text/html; charset=utf-8",
        "jpeg" | "jpg" => "image/jpeg",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "wasm" => "application/wasm",
        "webp" => "image/webp",
        "xml" => "text/xml; charset=utf-8",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_string();
    }
    sniff(head).to_string()
}

/// A small subset of the WHATWG sniffing Go's http.DetectContentType does: images, zip, gzip,
/// pdf and HTML/XML by signature, then UTF-8 text without binary bytes, else octet-stream.
pub fn sniff(head: &[u8]) -> &'static str {
    let head = &head[..head.len().min(512)];
    let sigs: &[(&[u8], &str)] = &[
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"%PDF-", "application/pdf"),
        (b"PK\x03\x04", "application/zip"),
        (b"\x1f\x8b\x08", "application/x-gzip"),
    ];
    for (sig, ct) in sigs {
        if head.starts_with(sig) {
            return ct;
        }
    }
    let trimmed: &[u8] = {
        let start = head
            .iter()
            .position(|b| !matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' '))
            .unwrap_or(head.len());
        &head[start..]
    };
    let lower: Vec<u8> = trimmed
        .iter()
        .take(14)
        .map(|b| b.to_ascii_lowercase())
        .collect();
    if lower.starts_with(b"<!doctype html") || lower.starts_with(b"<html") {
        return "text/html; charset=utf-8";
    }
    if lower.starts_with(b"<?xml") {
        return "text/xml; charset=utf-8";
    }
    if head.is_empty() {
        return TEXT;
    }
    let binary = head
        .iter()
        .any(|&b| matches!(b, 0x00..=0x08 | 0x0b | 0x0e..=0x1a | 0x1c..=0x1f));
    if binary {
        "application/octet-stream"
    } else {
        TEXT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epr_overrides_and_go_table() {
        assert_eq!(
            content_type("manifest.yml", b""),
            "text/yaml; charset=UTF-8"
        );
        assert_eq!(
            content_type("docs/README.md", b""),
            "text/markdown; charset=utf-8"
        );
        assert_eq!(content_type("img/a.JPG", b""), "image/jpeg");
        assert_eq!(content_type("x.json", b""), "application/json");
        assert_eq!(
            content_type("agent/stream/stream.yml.hbs", b"paths:\n"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(
            content_type("blob", b"\x00\x01"),
            "application/octet-stream"
        );
        assert_eq!(content_type("noext", b"\x89PNG\r\n\x1a\nxx"), "image/png");
    }

    #[test]
    fn cache_headers() {
        let c = CacheTimes::default();
        assert_eq!(c.header(CacheKind::Index), "max-age=10, public");
        assert_eq!(c.header(CacheKind::Search), "max-age=600, public");
        assert_eq!(c.header(CacheKind::None), NO_STORE);
    }
}
