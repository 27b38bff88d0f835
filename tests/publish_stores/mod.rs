//! Real object stores on loopback for tests/publish.rs: moto's S3 server and Azurite's blob
//! service, each started on a free port and stopped on drop, plus a plain-HTTP reader of what a
//! bucket holds (keys, bytes and headers), independent of the object_store crate eprgen uses.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(port: u16, child: &mut Child, what: &str) {
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited at start: {status}");
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "{what} did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One HTTP/1.1 request; returns (status, lowercased headers, body).
pub fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, BTreeMap<String, String>, Vec<u8>) {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).expect("connect");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let hs: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = buf[split + 4..].to_vec();
    if hs
        .get("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        let mut out = Vec::new();
        let mut b = &body[..];
        while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
            let n =
                usize::from_str_radix(std::str::from_utf8(&b[..i]).unwrap().trim(), 16).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&b[i + 2..i + 2 + n]);
            b = &b[i + 2 + n + 2..];
        }
        body = out;
    }
    (status, hs, body)
}

/// Percent-encode a key for a request path (`/` kept).
pub fn encode(key: &str) -> String {
    let mut out = String::new();
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Every `<tag>…</tag>` value of an XML document, in order.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let j = after.find(&close).expect("closing tag");
        out.push(xml_unescape(&after[..j]));
        rest = &after[j + close.len()..];
    }
    out
}

/// One object as a plain HTTP GET returns it.
#[derive(Debug, Clone)]
pub struct Got {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub content_encoding: Option<String>,
}

/// What a bucket (or container) holds, read over plain HTTP.
pub trait Bucket {
    /// The `--to` URL of the bucket with `prefix`.
    fn url(&self, prefix: &str) -> String;
    /// Environment for `eprgen publish`.
    fn env(&self) -> Vec<(String, String)>;
    /// Every key under `prefix` (without it).
    fn keys(&self, prefix: &str) -> Vec<String>;
    /// GET one object (None: 404).
    fn get(&self, prefix: &str, key: &str) -> Option<Got>;
}

fn got(status: u16, hs: BTreeMap<String, String>, body: Vec<u8>, what: &str) -> Option<Got> {
    match status {
        404 => None,
        200 => Some(Got {
            body,
            content_type: hs.get("content-type").cloned(),
            cache_control: hs.get("cache-control").cloned(),
            content_encoding: hs.get("content-encoding").cloned(),
        }),
        s => panic!("GET {what}: {s} {}", String::from_utf8_lossy(&body)),
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}/{key}")
    }
}

/// moto's S3 server (`python3 -m moto.server`), one bucket created.
pub struct Moto {
    child: Child,
    pub base: String,
    pub bucket: String,
}

impl Moto {
    pub fn start(bucket: &str) -> Moto {
        Self::start_with(bucket, &[])
    }

    /// With extra environment for the server (e.g. `INITIAL_NO_AUTH_ACTION_COUNT`).
    pub fn start_with(bucket: &str, env: &[(&str, &str)]) -> Moto {
        let port = free_port();
        let mut child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto (pip install 'moto[server]')");
        wait_for(port, &mut child, "moto");
        let base = format!("http://127.0.0.1:{port}");
        let m = Moto {
            child,
            base,
            bucket: bucket.to_string(),
        };
        if !bucket.is_empty() {
            let (status, _, body) = request(&m.base, "PUT", &format!("/{bucket}"), &[], b"");
            assert_eq!(
                status,
                200,
                "create bucket: {}",
                String::from_utf8_lossy(&body)
            );
        }
        m
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Bucket for Moto {
    fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.bucket)
    }

    fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", self.base.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn keys(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let p = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        loop {
            let mut q = format!("/{}?list-type=2&prefix={}", self.bucket, encode(&p));
            if let Some(t) = &token {
                q.push_str(&format!("&continuation-token={}", encode(t)));
            }
            let (status, _, body) = request(&self.base, "GET", &q, &[], b"");
            let xml = String::from_utf8(body).unwrap();
            assert_eq!(status, 200, "{xml}");
            out.extend(
                xml_values(&xml, "Key")
                    .into_iter()
                    .map(|k| k[p.len()..].to_string()),
            );
            token = xml_values(&xml, "NextContinuationToken").into_iter().next();
            if token.is_none() {
                return out;
            }
        }
    }

    fn get(&self, prefix: &str, key: &str) -> Option<Got> {
        let path = format!("/{}/{}", self.bucket, encode(&join(prefix, key)));
        // The bucket is private: moto refuses anonymous reads of objects, and (unless started
        // to check signatures) takes any signed-looking request.
        let auth = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, \
SignedHeaders=host, Signature=0";
        let (s, hs, body) = request(&self.base, "GET", &path, &[("Authorization", auth)], b"");
        got(s, hs, body, &path)
    }
}

/// The Azurite blob service, in memory, with one container anyone may read and list.
pub struct Azurite {
    child: Child,
    pub base: String,
    pub container: String,
    _dir: tempfile::TempDir,
}

/// Azurite's well-known development account.
const ACCOUNT: &str = "devstoreaccount1";
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Where .ci/run installs Azurite (`npm install --prefix target/node azurite`).
pub fn azurite_bin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/node/node_modules/.bin/azurite-blob")
}

impl Azurite {
    pub fn start(container: &str) -> Azurite {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let bin = azurite_bin();
        assert!(
            bin.exists(),
            "{} missing: npm install --prefix target/node azurite",
            bin.display()
        );
        let mut child = Command::new(bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .args(["--inMemoryPersistence", "--skipApiVersionCheck", "--silent"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start azurite");
        wait_for(port, &mut child, "azurite");
        let a = Azurite {
            child,
            base: format!("http://127.0.0.1:{port}"),
            container: container.to_string(),
            _dir: dir,
        };
        a.create_container();
        a
    }

    /// Create Container with public read and list access, signed with the account key
    /// (SharedKey, computed by Python's hmac so the test needs no Azure SDK).
    fn create_container(&self) {
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let script = r#"
import base64, hashlib, hmac, sys
account, key, container, date = sys.argv[1:5]
canon_headers = "x-ms-blob-public-access:container\nx-ms-date:" + date + "\nx-ms-version:2021-08-06\n"
canon_resource = "/" + account + "/" + account + "/" + container + "\nrestype:container"
s = "PUT\n\n\n\n\n\n\n\n\n\n\n\n" + canon_headers + canon_resource
sig = base64.b64encode(hmac.new(base64.b64decode(key), s.encode(), hashlib.sha256).digest()).decode()
print("SharedKey " + account + ":" + sig)
"#;
        let o = Command::new("python3")
            .args(["-c", script, ACCOUNT, KEY, &self.container, &date])
            .output()
            .unwrap();
        let auth = String::from_utf8(o.stdout).unwrap().trim().to_string();
        let (status, _, body) = request(
            &self.base,
            "PUT",
            &format!("/{ACCOUNT}/{}?restype=container", self.container),
            &[
                ("x-ms-blob-public-access", "container"),
                ("x-ms-date", &date),
                ("x-ms-version", "2021-08-06"),
                ("Authorization", &auth),
            ],
            b"",
        );
        assert_eq!(
            status,
            201,
            "create container: {}",
            String::from_utf8_lossy(&body)
        );
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Bucket for Azurite {
    fn url(&self, prefix: &str) -> String {
        format!("az://{}/{prefix}", self.container)
    }

    fn env(&self) -> Vec<(String, String)> {
        [
            ("AZURE_STORAGE_USE_EMULATOR", "true"),
            ("AZURITE_BLOB_STORAGE_URL", self.base.as_str()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn keys(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut marker = String::new();
        let p = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        loop {
            let q = format!(
                "/{ACCOUNT}/{}?restype=container&comp=list&prefix={}&marker={}",
                self.container,
                encode(&p),
                encode(&marker)
            );
            let (status, _, body) = request(&self.base, "GET", &q, &[], b"");
            let xml = String::from_utf8(body).unwrap();
            assert_eq!(status, 200, "{xml}");
            out.extend(
                xml_values(&xml, "Name")
                    .into_iter()
                    .map(|k| k[p.len()..].to_string()),
            );
            marker = xml_values(&xml, "NextMarker")
                .into_iter()
                .next()
                .unwrap_or_default();
            if marker.is_empty() {
                return out;
            }
        }
    }

    fn get(&self, prefix: &str, key: &str) -> Option<Got> {
        let path = format!(
            "/{ACCOUNT}/{}/{}",
            self.container,
            encode(&join(prefix, key))
        );
        let (s, hs, body) = request(&self.base, "GET", &path, &[], b"");
        got(s, hs, body, &path)
    }
}
