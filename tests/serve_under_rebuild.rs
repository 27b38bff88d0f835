//! `eprgen serve` under load while rebuilds swap the tree (issue 7).
//!
//! Several client threads in the test (std `TcpStream`, keep-alive and one connection per
//! request) send a bounded number of requests over loopback to `eprgen serve`, while
//! `eprgen build` runs again and again into the served `--out`, rotating through a few inputs
//! (every input gives other answers for most URLs). Every answer must be a complete answer of a
//! tree that was current at some moment while the request ran: of the build served when it was
//! sent, or of a build that ran while it was under way (so, with two inputs, "the old or the
//! new build's answer"). There must be no connection error and no 5xx, and both sides must
//! really have been seen mid-load.
//!
//! Two runs: two inputs alternating (the build folders are reused, nothing is removed), and
//! three inputs rotating (each build removes the build before the previous one, so a swap
//! also deletes a tree).

mod common;
mod harness;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Server;
use harness::*;

const PACKAGES: usize = 30;
/// Builds run during the load (after the first one).
const REBUILDS: usize = 8;
/// Requests each client sends at least (more while the rebuilds are not done).
const MIN_REQUESTS: usize = 150;
/// The whole load phase may take this long at most.
const MAX_LOAD: Duration = Duration::from_secs(90);
const CLIENTS: usize = 4;

/// Status and body: what must match one of the trees' answers.
type Answer = (u16, Vec<u8>);

/// URLs whose answers differ between inputs (variant `v` holds `pkg_i` at version `1.v.0`).
fn urls(variants: usize) -> Vec<String> {
    let mut v: Vec<String> = [
        "/",
        "/index.json",
        "/health",
        "/favicon.ico",
        "/search",
        "/search?all=true",
        "/search?kibana.version=8.3.0",
        "/search?category=web&prerelease=true",
        "/search?package=pkg_0001",
        "/search?kibana.version=not-a-version",
        "/categories",
        "/categories?include_policy_templates=true&kibana.version=8.6.1",
        "/package/pkg_0001/1.0.0",
        "/nowhere",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for k in 0..variants {
        v.push(format!("/package/pkg_0001/1.{k}.0/"));
        v.push(format!("/package/pkg_0002/1.{k}.0/docs/README.md"));
        v.push(format!(
            "/package/pkg_0003/1.{k}.0/kibana/dashboard/overview.json"
        ));
        v.push(format!("/epr/pkg_0004/pkg_0004-1.{k}.0.zip"));
    }
    v
}

/// A tiny HTTP/1.1 client: one request on a connection (kept alive or not), the whole answer.
fn request(
    conn: &mut Option<BufReader<TcpStream>>,
    addr: &str,
    path: &str,
    keep: bool,
) -> Result<Answer, String> {
    if conn.is_none() {
        let s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        *conn = Some(BufReader::new(s));
    }
    let r = conn.as_mut().unwrap();
    let close = if keep { "" } else { "Connection: close\r\n" };
    r.get_mut()
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{close}\r\n").as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut status_line = String::new();
    r.read_line(&mut status_line)
        .map_err(|e| format!("read: {e}"))?;
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut len = None;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).map_err(|e| format!("read: {e}"))?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "content-length" {
                len = v.parse::<usize>().ok();
            } else if k == "transfer-encoding" && v.contains("chunked") {
                chunked = true;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).map_err(|e| format!("read: {e}"))?;
            let n = usize::from_str_radix(size.trim(), 16).map_err(|e| format!("chunk: {e}"))?;
            let mut chunk = vec![0u8; n + 2];
            r.read_exact(&mut chunk).map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        let n = len.ok_or("no content-length")?;
        body.resize(n, 0);
        r.read_exact(&mut body).map_err(|e| format!("read: {e}"))?;
    }
    if !keep {
        *conn = None;
    }
    Ok((status, body))
}

/// One build run during the load: which input, and when it started and ended.
#[derive(Debug, Clone, Copy)]
struct Run {
    variant: usize,
    start: Instant,
    end: Instant,
}

/// The inputs a request running from `s` to `e` may see: the last build done before `s`, and
/// every build that ran at some point before `e`.
fn allowed(runs: &[Run], s: Instant, e: Instant) -> Vec<usize> {
    let mut v: Vec<usize> = runs
        .iter()
        .filter(|r| r.end <= s)
        .max_by_key(|r| r.end)
        .map(|r| r.variant)
        .into_iter()
        .collect();
    v.extend(
        runs.iter()
            .filter(|r| r.start < e && r.end > s)
            .map(|r| r.variant),
    );
    v.sort();
    v.dedup();
    v
}

fn build_into(input: &Path, out: &Path) {
    let args = build_args(&[input], out, &[]);
    let o = run_limited(&strs(&args), Duration::from_secs(60), None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn serve_during_rebuilds(variants: usize) {
    let t = tempfile::tempdir().unwrap();
    let inputs: Vec<PathBuf> = (0..variants)
        .map(|k| {
            let p = t.path().join(format!("in{k}"));
            many_packages(&p, PACKAGES, k as u32);
            p
        })
        .collect();
    let out = t.path().join("o/public");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let urls = urls(variants);

    // Each input's answers, through the server itself (it picks up every swap).
    build_into(&inputs[0], &out);
    let server = Server::start(&out);
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut answers: Vec<BTreeMap<String, Answer>> = Vec::new();
    for input in &inputs {
        build_into(input, &out);
        let mut conn = None;
        let a: BTreeMap<String, Answer> = urls
            .iter()
            .map(|u| (u.clone(), request(&mut conn, &addr, u, false).unwrap()))
            .collect();
        answers.push(a);
    }
    for u in &urls[..4] {
        assert_eq!(answers[0][u].0, 200, "{u}");
    }
    let differing = urls
        .iter()
        .filter(|u| (1..variants).any(|k| answers[k][*u] != answers[0][*u]))
        .count();
    assert!(differing >= urls.len() / 2, "inputs too alike");
    // Served now: the last input.
    let last = variants - 1;
    let t0 = Instant::now();
    let runs = Arc::new(Mutex::new(vec![Run {
        variant: last,
        start: t0,
        end: t0,
    }]));
    let done = Arc::new(AtomicBool::new(false));

    let builder = {
        let (runs, done, inputs, out) = (runs.clone(), done.clone(), inputs.clone(), out.clone());
        std::thread::spawn(move || {
            for i in 0..REBUILDS {
                let variant = (last + 1 + i) % variants;
                let start = Instant::now();
                build_into(&inputs[variant], &out);
                runs.lock().unwrap().push(Run {
                    variant,
                    start,
                    end: Instant::now(),
                });
            }
            done.store(true, Ordering::SeqCst);
        })
    };

    let urls = Arc::new(urls);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (urls, done, addr) = (urls.clone(), done.clone(), addr.clone());
            std::thread::spawn(move || {
                let keep = c % 2 == 0;
                let mut conn = None;
                let mut seen = Vec::new();
                let mut errors = Vec::new();
                let started = Instant::now();
                let mut i = c; // each client starts elsewhere in the list
                while (seen.len() < MIN_REQUESTS || !done.load(Ordering::SeqCst))
                    && started.elapsed() < MAX_LOAD
                {
                    let u = &urls[i % urls.len()];
                    i += 1;
                    let s = Instant::now();
                    match request(&mut conn, &addr, u, keep) {
                        Ok(a) => seen.push((u.clone(), s, Instant::now(), a)),
                        Err(e) => {
                            errors.push(format!("{u}: {e}"));
                            conn = None;
                        }
                    }
                }
                (seen, errors)
            })
        })
        .collect();

    builder.join().unwrap();
    let runs = runs.lock().unwrap().clone();
    let mut total = 0;
    let mut per_variant = vec![0usize; variants];
    let mut mid_build = 0;
    for c in clients {
        let (seen, errors) = c.join().unwrap();
        assert!(errors.is_empty(), "connection errors: {errors:?}");
        assert!(
            seen.len() >= MIN_REQUESTS,
            "a client only sent {}",
            seen.len()
        );
        for (u, s, e, a) in seen {
            total += 1;
            assert!(
                a.0 < 500,
                "{u}: {} {:?}",
                a.0,
                String::from_utf8_lossy(&a.1)
            );
            let ok = allowed(&runs, s, e);
            let from: Vec<usize> = ok
                .iter()
                .copied()
                .filter(|&k| answers[k][&u] == a)
                .collect();
            assert!(
                !from.is_empty(),
                "{u}: answer {} {:?} is from none of the trees current while it ran ({ok:?})",
                a.0,
                String::from_utf8_lossy(&a.1[..a.1.len().min(200)])
            );
            // Answers only one input gives show which tree was served.
            if let [k] = from[..] {
                if (0..variants).filter(|&j| answers[j][&u] == a).count() == 1 {
                    per_variant[k] += 1;
                }
            }
            if ok.len() > 1 {
                mid_build += 1;
            }
        }
    }
    println!(
        "{total} requests by {CLIENTS} clients over {:?} during {REBUILDS} rebuilds; \
         answers only one input gives, by input: {per_variant:?}; {mid_build} sent while a build ran",
        t0.elapsed()
    );
    assert!(
        per_variant.iter().all(|&n| n > 0),
        "some tree was never served during the load: {per_variant:?}"
    );
    assert!(mid_build > 0, "no request ran while a build ran");
    // The server is still fine, and serves the last build.
    let mut conn = None;
    let last_variant = runs.last().unwrap().variant;
    for u in urls.iter() {
        assert_eq!(
            request(&mut conn, &addr, u, true).unwrap(),
            answers[last_variant][u],
            "{u}"
        );
    }
}

#[test]
fn serve_during_rebuilds_of_two_inputs() {
    serve_during_rebuilds(2);
}

#[test]
fn serve_during_rebuilds_that_remove_old_trees() {
    serve_during_rebuilds(3);
}
