//! Issue 17, hardening: one test per broken promise of the adversarial review (items 1–9) and per
//! gap (package size, `--out` links). Each runs the real binary on inputs made here, with real
//! sockets against `eprgen serve`. The bad-input cases of items 5 and 7 and the size gap are in
//! `tests/bad_inputs.rs` (they share its "previous output intact" check).

mod harness;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::*;

const SECRET: &[u8] = b"TOP SECRET outside the package";

/// Build `src` into a fresh `out` again and again while a thread keeps swapping one file of the
/// package `race/1.0.0` (`docs/extra.txt`) between the plain file `scratch/good` (always the same
/// inode, so a build may succeed) and `scratch/bad`, which `make_bad` creates (a symlink, a
/// larger file, a FIFO), by hard-linking one of them in and renaming it over the file: the state
/// eprgen lists and the one it reads differ often. `check` looks at every build that succeeded.
/// Returns (builds that succeeded, builds that were refused).
fn race(
    extra_args: &[&str],
    make_bad: impl FnOnce(&Path),
    check: impl Fn(&Path),
) -> (usize, usize) {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    let pkg = good_package(&src, "race", "1.0.0");
    let target = pkg.join("docs/extra.txt");
    let scratch = t.path().join("scratch");
    fs::create_dir_all(&scratch).unwrap();
    fs::write(scratch.join("secret.txt"), SECRET).unwrap();
    fs::write(scratch.join("good"), b"plain").unwrap();
    fs::hard_link(scratch.join("good"), &target).unwrap();
    make_bad(&scratch);
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        let (target, scratch) = (target.clone(), scratch.clone());
        std::thread::spawn(move || {
            let tmp = scratch.join("tmp");
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let from = if i.is_multiple_of(2) { "bad" } else { "good" };
                // hard_link links a symlink itself, not its target.
                fs::hard_link(scratch.join(from), &tmp).unwrap();
                fs::rename(&tmp, &target).unwrap();
                i += 1;
            }
        })
    };
    // Stops the swapper before the folder goes, also when a check fails.
    struct Stop(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
            if let Some(h) = self.1.take() {
                let _ = h.join();
            }
        }
    }
    let guard = Stop(stop, Some(swapper));
    let (mut ok, mut refused) = (0, 0);
    for i in 0..40 {
        let out = t.path().join(format!("out{i}"));
        let args = build_args(&[&src], &out, extra_args);
        let o = run_limited(&strs(&args), Duration::from_secs(20), None);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            !stderr.contains("TOP SECRET"),
            "the secret reached a message:\n{stderr}"
        );
        match o.status.code() {
            Some(0) => {
                ok += 1;
                check(&out);
            }
            Some(1) => refused += 1,
            c => panic!("build exited {c:?}:\n{stderr}"),
        }
    }
    drop(guard);
    eprintln!("{ok} builds succeeded, {refused} were refused");
    (ok, refused)
}

/// The bytes of `docs/extra.txt` as published: the file and the entry of the zip.
fn published(out: &Path) -> (Vec<u8>, Vec<u8>) {
    let file = fs::read(out.join("package/race/1.0.0/docs/extra.txt")).unwrap();
    let zip = fs::read(out.join("epr/race/race-1.0.0.zip")).unwrap();
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut entry = Vec::new();
    z.by_name("race-1.0.0/docs/extra.txt")
        .unwrap()
        .read_to_end(&mut entry)
        .unwrap();
    (file, entry)
}

/// Item 1: a file swapped for a symlink out of the package after the listing was published
/// (copied, zipped and passing `verify`). Now every input is opened once without following
/// links and checked on the handle.
#[test]
fn issue_17_1_raced_symlink_swap_never_publishes_a_foreign_file() {
    let (ok, _) = race(
        &[],
        |scratch| {
            std::os::unix::fs::symlink(scratch.join("secret.txt"), scratch.join("bad")).unwrap()
        },
        |out| {
            let (file, entry) = published(out);
            assert_eq!(file, b"plain", "a foreign file was published");
            assert_eq!(entry, b"plain", "a foreign file was zipped");
            let v = run(&["verify", "--root", out.to_str().unwrap()]);
            assert!(v.status.success());
        },
    );
    assert!(ok > 0, "no build got through the race: nothing was checked");
}

/// Item 1: a file grown past `--max-file-size` after the listing was published.
#[test]
fn issue_17_1_raced_growth_never_publishes_an_oversized_file() {
    let (ok, _) = race(
        &["--max-file-size", "1000"],
        |scratch| fs::write(scratch.join("bad"), vec![b'x'; 5000]).unwrap(),
        |out| {
            let (file, entry) = published(out);
            assert!(
                file.len() <= 1000,
                "a {} byte file was published",
                file.len()
            );
            assert!(
                entry.len() <= 1000,
                "a {} byte file was zipped",
                entry.len()
            );
        },
    );
    assert!(ok > 0, "no build got through the race: nothing was checked");
}

/// Item 1: a file swapped for a FIFO after the listing blocked the build forever (each build
/// here must finish within 20 s).
#[test]
fn issue_17_1_raced_fifo_never_blocks_the_build() {
    let (ok, _) = race(
        &[],
        |scratch| {
            let made = Command::new("mkfifo")
                .arg(scratch.join("bad"))
                .status()
                .unwrap();
            assert!(made.success());
        },
        |out| assert_eq!(published(out).0, b"plain"),
    );
    assert!(ok > 0, "no build got through the race: nothing was checked");
}

/// Item 2: a previous production tree whose manifest cannot be read made the policy pass
/// (`Manifest::load(..).ok()`), and a published version was overwritten. Now the build is
/// refused, naming the manifest and the two ways on, and the tree stays as it was.
#[test]
fn issue_17_2_unreadable_previous_tree_fails_closed() {
    let t = tempfile::tempdir().unwrap();
    let packages = t.path().join("packages");
    let pkg = good_package(&packages.join("production"), "tiny", "1.0.0");
    let home = t.path().join("o");
    fs::create_dir_all(&home).unwrap();
    let out = home.join("public");
    let p = packages.to_str().unwrap();
    let o = out.to_str().unwrap();
    let build = |extra: &[&str]| {
        let mut a = vec!["build", "--quiet", "--packages", p, "--out", o];
        a.extend_from_slice(extra);
        run(&a)
    };
    assert!(build(&[]).status.success());
    // Truncate the manifest of the published tree, then change the published version.
    fs::write(out.join("_eprgen/manifest.json"), b"").unwrap();
    fs::write(pkg.join("docs/README.md"), b"# changed\n").unwrap();
    let before = snapshot(&home);
    let r = build(&[]);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}: the previous build cannot be read",
            out.join("_eprgen/manifest.json").display()
        )) && stderr.contains("--previous")
            && stderr.contains("--no-previous"),
        "{stderr}"
    );
    assert_same_tree(&before, &snapshot(&home));
    // On purpose: --no-previous builds.
    let r = build(&["--no-previous"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(
        fs::read(out.join("package/tiny/1.0.0/docs/README.md")).unwrap(),
        b"# changed\n"
    );
}

/// Item 3: more identical files than ext4's 65,000 links to one inode failed the build with
/// `Too many links` (os error 31). Now a new inode is started at the limit.
#[test]
fn issue_17_3_identical_files_past_the_link_limit() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    let pkg = good_package(&src, "many", "1.0.0");
    const N: usize = 65_100;
    for d in 0..(N / 1000 + 1) {
        let dir = pkg.join(format!("data/d{d:03}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..1000.min(N - d * 1000) {
            fs::write(dir.join(format!("f{f:03}.txt")), b"same").unwrap();
        }
    }
    let out = t.path().join("public");
    let args = build_args(&[&src], &out, &[]);
    let o = run_limited(&strs(&args), Duration::from_secs(300), None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a = out.join("package/many/1.0.0/data/d000/f000.txt");
    let b = out.join(format!(
        "package/many/1.0.0/data/d065/f{:03}.txt",
        N - 65_001
    ));
    assert_eq!(fs::read(&a).unwrap(), b"same");
    assert_eq!(fs::read(&b).unwrap(), b"same");
    let v = run_limited(
        &["verify", "--root", out.to_str().unwrap()],
        Duration::from_secs(120),
        None,
    );
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
}

/// Item 4: a zip package with 20,000 entries took 138 s (the central directory was parsed again
/// for every file read). It must build within 40 s here (it takes a few seconds).
#[test]
fn issue_17_4_zip_with_20k_entries_builds_in_linear_time() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(&src).unwrap();
    let mut entries = good_zip_entries("big", "1.0.0");
    for i in 0..20_000 {
        entries.push(ZipEntry::file(
            &format!("big-1.0.0/data/f{i:05}.txt"),
            format!("file {i}\n").as_bytes(),
        ));
    }
    fs::write(src.join("big-1.0.0.zip"), zip_bytes(&entries)).unwrap();
    let out = t.path().join("public");
    let args = build_args(&[&src], &out, &[]);
    let started = Instant::now();
    let o = run_limited(&strs(&args), Duration::from_secs(40), None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        fs::read(out.join("package/big/1.0.0/data/f19999.txt")).unwrap(),
        b"file 19999\n"
    );
    eprintln!("20,000-entry zip built in {:?}", started.elapsed());
}

/// Item 6: a UTF-8 byte order mark before manifest.yml's text made every field "missing"; Go's
/// YAML parser skips it, and so does eprgen now (in data stream manifests too).
#[test]
fn issue_17_6_manifest_with_a_byte_order_mark_builds() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    let pkg = good_package(&src, "bom", "1.0.0");
    let m = format!(
        "\u{feff}{}",
        manifest(
            "bom",
            "1.0.0",
            "icons:\n  - src: /img/icon.svg\n    type: image/svg+xml\n"
        )
    );
    fs::write(pkg.join("manifest.yml"), m).unwrap();
    let out = t.path().join("public");
    let args = build_args(&[&src], &out, &[]);
    let o = run(&strs(&args));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let info = fs::read_to_string(out.join("package/bom/1.0.0/index.json")).unwrap();
    assert!(info.contains("\"name\": \"bom\""), "{info}");
    assert!(info.contains("\"title\": \"bom title\""), "{info}");
}

/// A built tree of one package, `good`.
fn built_tree(t: &Path) -> PathBuf {
    let src = t.join("src");
    good_package(&src, "good", "1.0.0");
    let out = t.join("public");
    build_ok(&[&src], &out, &[]);
    out
}

/// Item 8: a tampered manifest or route table naming a path out of the tree was served. Now
/// `serve` and `verify` refuse the tree when they load it (exit 1, naming the file).
#[test]
fn issue_17_8_tampered_tree_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let out = built_tree(t.path());
    let dir = fs::canonicalize(&out).unwrap();
    let secret = t.path().join("secret.txt");
    fs::write(&secret, SECRET).unwrap();
    let escape = format!(
        "{}{}",
        "../".repeat(dir.components().count()),
        secret.strip_prefix("/").unwrap().display()
    );
    let mp = dir.join("_eprgen/manifest.json");
    let rp = dir.join("_eprgen/routes.json");
    let (manifest0, routes0) = (fs::read(&mp).unwrap(), fs::read(&rp).unwrap());

    // A manifest entry out of the tree, and the route of /index.json pointing at it.
    let mut m: serde_json::Value = serde_json::from_slice(&manifest0).unwrap();
    let mut meta = m["files"]["index.json"].clone();
    meta["size"] = SECRET.len().into();
    m["files"][&escape] = meta;
    fs::write(&mp, serde_json::to_vec(&m).unwrap()).unwrap();
    let mut r: serde_json::Value = serde_json::from_slice(&routes0).unwrap();
    r["paths"]["/index.json"] = escape.clone().into();
    fs::write(&rp, serde_json::to_vec(&r).unwrap()).unwrap();
    let root = out.to_str().unwrap();
    for cmd in [
        vec!["serve", "--root", root, "--addr", "127.0.0.1:0"],
        vec!["verify", "--root", root],
    ] {
        let o = run_limited(&cmd, Duration::from_secs(10), None);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{cmd:?}: {stderr}");
        assert!(
            stderr.contains(&mp.display().to_string()) && stderr.contains("leaves the tree"),
            "{cmd:?}: {stderr}"
        );
        assert!(!String::from_utf8_lossy(&o.stdout).contains("TOP SECRET"));
    }
    // The route table alone.
    fs::write(&mp, &manifest0).unwrap();
    let o = run_limited(
        &["serve", "--root", root, "--addr", "127.0.0.1:0"],
        Duration::from_secs(10),
        None,
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&rp.display().to_string()) && stderr.contains("not a plain path"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// Item 9: eprgen serve with timeouts, a connection cap and 405.

/// A running `eprgen serve` with extra flags; its stderr is collected.
struct Serve {
    child: Child,
    addr: String,
    stderr: Arc<Mutex<String>>,
}

impl Serve {
    fn start(root: &Path, flags: &[&str], ulimit_n: Option<u32>) -> Serve {
        let mut cmd = match ulimit_n {
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        let mut child = cmd
            .args(["serve", "--root"])
            .arg(root)
            .args(["--addr", "127.0.0.1:0"])
            .args(flags)
            .env("EPRGEN_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .unwrap_or_default()
            .to_string();
        assert!(addr.starts_with("127.0.0.1:"), "serve said {line:?}");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut se = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = se.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Serve {
            child,
            addr,
            stderr,
        }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Read one response with a Content-Length body off a keep-alive connection; its status line.
fn read_response(s: &mut TcpStream) -> std::io::Result<String> {
    let mut r = BufReader::new(s);
    let mut status = String::new();
    if r.read_line(&mut status)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let mut len = 0usize;
    loop {
        let mut l = String::new();
        r.read_line(&mut l)?;
        if l == "\r\n" || l.is_empty() {
            break;
        }
        if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok(status.trim().to_string())
}

/// How long until the server closes `s` (a read returns 0 or fails with a reset).
fn closed_after(s: &mut TcpStream, started: Instant) -> Duration {
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return started.elapsed(),
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                panic!("still open after {:?}", started.elapsed())
            }
            Err(_) => return started.elapsed(),
        }
    }
}

#[test]
fn issue_17_9_half_open_header_is_closed_after_the_header_timeout() {
    let t = tempfile::tempdir().unwrap();
    let out = built_tree(t.path());
    let s = Serve::start(&out, &["--header-timeout", "1"], None);
    let mut c = s.connect();
    let started = Instant::now();
    c.write_all(b"GET /index.json HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let took = closed_after(&mut c, started);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[test]
fn issue_17_9_idle_keep_alive_connection_is_closed() {
    let t = tempfile::tempdir().unwrap();
    let out = built_tree(t.path());
    let s = Serve::start(
        &out,
        &["--keepalive-timeout", "1", "--header-timeout", "30"],
        None,
    );
    let mut c = s.connect();
    c.write_all(b"GET /index.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(read_response(&mut c).unwrap().contains(" 200 "));
    let started = Instant::now();
    let took = closed_after(&mut c, started);
    assert!(took < Duration::from_secs(5), "{took:?}");
}

/// A client that stops reading a large body is dropped after the send timeout instead of
/// holding the connection (and the open file) forever.
#[test]
fn issue_17_9_stalled_reader_is_dropped_after_the_send_timeout() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    let pkg = good_package(&src, "large", "1.0.0");
    // 32 MiB that does not compress (so no smaller sibling is chosen), far over socket buffers.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let big: Vec<u8> = (0..32 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    fs::write(pkg.join("docs/big.bin"), &big).unwrap();
    let out = t.path().join("public");
    build_ok(&[&src], &out, &[]);
    let s = Serve::start(&out, &["--send-timeout", "1"], None);
    let mut c = s.connect();
    c.write_all(b"GET /package/large/1.0.0/docs/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got);
    assert!(
        got.len() < big.len(),
        "the whole body arrived ({} bytes): the stalled connection was kept",
        got.len()
    );
}

#[test]
fn issue_17_9_other_methods_get_405_with_allow() {
    let t = tempfile::tempdir().unwrap();
    let out = built_tree(t.path());
    let s = Serve::start(&out, &[], None);
    for method in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"] {
        let mut c = s.connect();
        write!(
            c,
            "{method} /search HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut resp = String::new();
        c.read_to_string(&mut resp).unwrap();
        assert!(resp.starts_with("HTTP/1.1 405 "), "{method}: {resp}");
        assert!(
            resp.to_ascii_lowercase()
                .contains("\r\nallow: get, head\r\n"),
            "{method}: {resp}"
        );
    }
    let mut c = s.connect();
    c.write_all(b"GET /index.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(read_response(&mut c).unwrap().contains(" 200 "));
}

/// At `--max-connections`, a new client waits (it is not accepted) and is served as soon as a
/// slot frees.
#[test]
fn issue_17_9_connection_cap_makes_new_clients_wait() {
    let t = tempfile::tempdir().unwrap();
    let out = built_tree(t.path());
    let s = Serve::start(&out, &["--max-connections", "2"], None);
    let mut held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut c = s.connect();
            c.write_all(b"GET /index.json HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            assert!(read_response(&mut c).unwrap().contains(" 200 "));
            c
        })
        .collect();
    let mut third = s.connect();
    third
        .write_all(b"GET /index.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let mut b = [0u8; 1];
    let e = third.read(&mut b).expect_err("served past the cap");
    assert!(matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ));
    held.remove(0);
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(read_response(&mut third).unwrap().contains(" 200 "));
}

/// At the open-file limit, accept errors no longer fill the log (one line per 10 ms before),
/// and clients are served again once connections end.
#[test]
fn issue_17_9_file_descriptor_limit_no_log_spam() {
    let t = tempfile::tempdir().unwrap();
    let out = built_tree(t.path());
    // Default cap under `ulimit -n 32`: (32 - 16) / 2 = 8 connections.
    let s = Serve::start(&out, &["--keepalive-timeout", "2"], Some(32));
    let conns: Vec<TcpStream> = (0..60).map(|_| s.connect()).collect();
    std::thread::sleep(Duration::from_secs(1));
    drop(conns);
    std::thread::sleep(Duration::from_secs(3));
    let mut c = s.connect();
    c.write_all(b"GET /index.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(read_response(&mut c).unwrap().contains(" 200 "));
    let log = s.stderr.lock().unwrap().clone();
    let accept_lines = log.lines().filter(|l| l.contains("accept")).count();
    assert!(accept_lines <= 2, "{accept_lines} accept lines:\n{log}");
}

// ---------------------------------------------------------------------------------------------
// Gap: `--out` as a symlink eprgen did not make.

#[test]
fn out_symlink_not_made_by_eprgen_is_refused_before_the_build() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    good_package(&src, "good", "1.0.0");
    let other = t.path().join("other");
    fs::create_dir_all(&other).unwrap();
    fs::write(other.join("keep.txt"), b"mine").unwrap();
    for (name, target) in [
        ("dangling", t.path().join("nowhere")),
        ("foreign", other.clone()),
    ] {
        let out = t.path().join(name);
        std::os::unix::fs::symlink(&target, &out).unwrap();
        let args = build_args(&[&src], &out, &[]);
        let o = run(&strs(&args));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("{}: is a symlink to", out.display())),
            "{name}: {stderr}"
        );
        assert_eq!(
            fs::read_link(&out).unwrap(),
            target,
            "{name} was re-pointed"
        );
        // Refused before the build: no build folder was made beside it.
        assert!(!t.path().join(format!(".{name}.eprgen")).exists(), "{name}");
    }
    assert_eq!(fs::read(other.join("keep.txt")).unwrap(), b"mine");
    // The link eprgen makes is still replaced.
    let out = t.path().join("public");
    build_ok(&[&src], &out, &[]);
    build_ok(&[&src], &out, &[]);
}
