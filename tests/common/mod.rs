//! Helpers shared by the integration tests: run the real binary, start `eprgen serve` on a free
//! loopback port, find the conformance kit in ../shared.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_eprgen"))
}

/// The conformance kit beside the repository (`../shared/conformance`).
pub fn kit() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance");
    assert!(
        p.join("check.py").is_file(),
        "conformance kit not found at {}",
        p.display()
    );
    p
}

pub fn eprgen(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env("EPRGEN_LOG", "warn")
        .output()
        .expect("run eprgen")
}

/// A running `eprgen serve`, stopped on drop.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    pub fn start(root: &Path) -> Server {
        let mut child = Command::new(bin())
            .args(["serve", "--root"])
            .arg(root)
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start eprgen serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read address");
        let base = line.trim().rsplit(' ').next().expect("address").to_string();
        assert!(
            base.starts_with("http://127.0.0.1:"),
            "unexpected serve output {line:?}"
        );
        Server { child, base }
    }

    /// GET a path; returns (status, headers lowercased, body).
    pub fn get(&self, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
        http_get(&self.base, path, &[])
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 GET over a fresh loopback connection.
pub fn http_get(
    base: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("send");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let hs = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect::<Vec<_>>();
    let mut body = buf[split + 4..].to_vec();
    if hs
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    (status, hs, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(std::str::from_utf8(&b[..i]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + n]);
        b = &b[i + 2 + n + 2..];
    }
    out
}

/// Run check.py; returns (passed, failed, skipped, full output).
pub fn check(base: &str, extra: &[&str]) -> (u32, u32, u32, String) {
    let out = Command::new("python3")
        .arg(kit().join("check.py"))
        .args(["--base-url", base])
        .args(extra)
        .output()
        .expect("run check.py");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let last = text
        .lines()
        .rev()
        .find(|l| l.contains(" passed, "))
        .unwrap_or_else(|| panic!("no summary in {text}"));
    let nums: Vec<u32> = last
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (nums[0], nums[1], nums[2], text)
}

/// Run the whole conformance kit against a server the way every routing layer must pass it:
/// each group with 0 failures (byte-exact JSON except `static`, whose `service.version` is
/// eprgen's own), then all groups together. `context` adds a layer's own diagnostics (logs).
pub fn check_every_group(base: &str, layer: &str, context: impl Fn() -> String) {
    for group in [
        "package",
        "file",
        "artifact",
        "signature",
        "static",
        "error",
        "headers",
        "search",
        "categories",
    ] {
        let strict: &[&str] = if group == "static" {
            &[]
        } else {
            &["--strict-json"]
        };
        let (passed, failed, _, text) = check(base, &[&["--group", group], strict].concat());
        println!("{layer} {group}: {passed} passed, {failed} failed");
        assert_eq!(failed, 0, "{layer}, group {group}:\n{text}\n{}", context());
        assert!(passed > 0, "{layer}, group {group} ran nothing");
    }
    let (passed, failed, skipped, text) = check(base, &[]);
    println!("{layer} all groups: {passed} passed, {failed} failed, {skipped} skipped");
    assert_eq!(failed, 0, "{layer}:\n{text}\n{}", context());
}
