//! A build killed at any moment leaves the previous output as it was, and the next build needs
//! no clean-up (issue 7).
//!
//! Two inputs A and B of many packages (every package differs between them, and there are
//! enough to catch a build mid-way) are built in turn into the same `--out`; each build is
//! killed with SIGKILL at one of several moments, then run again to completion. The moments:
//! three fixed fractions of the time a full build takes, and three points of its progress seen
//! on disk (its staging folder appears, half the packages are in it, the route table is
//! written). After each kill:
//! - `public` still resolves to a complete tree, byte for byte the old one; a kill that lands
//!   after the swap (possible only for the last moments) must show the complete new tree
//!   instead, and most kills must land before it;
//! - the old build folder is intact;
//! - the next build succeeds with nothing cleaned by hand, gives exactly the tree a clean build
//!   of the same input gives, and leaves no staging folder behind.

mod harness;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::*;

const PACKAGES: usize = 200;

/// The tree a folder (or a link to one) holds: `path -> kind+hash`.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    snapshot(dir)
}

/// What the output home holds besides build folders' contents: each entry of the home and of
/// `builds/` by name.
fn home_entries(home: &Path) -> Vec<String> {
    let mut v = Vec::new();
    for sub in [".public.eprgen", ".public.eprgen/builds"] {
        for e in fs::read_dir(home.join(sub)).unwrap() {
            v.push(format!(
                "{sub}/{}",
                e.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    v.sort();
    v
}

fn staging_dirs(home: &Path) -> Vec<std::path::PathBuf> {
    fs::read_dir(home.join(".public.eprgen"))
        .map(|d| {
            d.map(|e| e.unwrap().path())
                .filter(|p| {
                    p.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .starts_with("staging-")
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Package folders written so far into the staging folder.
fn staged_packages(home: &Path) -> usize {
    staging_dirs(home)
        .iter()
        .map(|s| {
            fs::read_dir(s.join("package"))
                .map(|d| d.count())
                .unwrap_or(0)
        })
        .sum()
}

/// When to kill the build.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// This fraction of a full build's time after the start.
    Fraction(f64),
    /// As soon as a staging folder exists.
    StagingExists,
    /// When this many package folders are in the staging folder.
    Packages(usize),
    /// As soon as the route table is in the staging folder (right before the manifest).
    RoutesWritten,
}

fn reached(m: Moment, home: &Path, started: Instant, full: Duration) -> bool {
    match m {
        Moment::Fraction(f) => started.elapsed() >= full.mul_f64(f),
        Moment::StagingExists => !staging_dirs(home).is_empty(),
        Moment::Packages(n) => staged_packages(home) >= n,
        Moment::RoutesWritten => staging_dirs(home)
            .iter()
            .any(|s| s.join("_eprgen/routes.json").exists()),
    }
}

/// Build (a minute at most: the machine may be busy).
fn build(input: &Path, out: &Path) {
    let args = build_args(&[input], out, &[]);
    let o = run_limited(&strs(&args), Duration::from_secs(60), None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn killed_builds_leave_the_old_tree_and_the_next_build_recovers() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    many_packages(&a, PACKAGES, 1);
    many_packages(&b, PACKAGES, 2);

    // The reference trees of A and B, and how long a full build takes here (the faster of
    // the two).
    let reference = t.path().join("ref/public");
    fs::create_dir_all(reference.parent().unwrap()).unwrap();
    let mut full = Duration::MAX;
    let mut trees = Vec::new();
    for input in [&a, &b] {
        let started = Instant::now();
        build(input, &reference);
        full = full.min(started.elapsed());
        trees.push(tree(&reference));
    }
    let (tree_a, tree_b) = (trees[0].clone(), trees[1].clone());
    assert_ne!(tree_a, tree_b);
    println!("a full build of {PACKAGES} packages takes {full:?}");

    let home = t.path().join("o");
    fs::create_dir_all(&home).unwrap();
    let out = home.join("public");
    build(&a, &out);
    let moments = [
        Moment::Fraction(0.05),
        Moment::Fraction(0.3),
        Moment::Fraction(0.6),
        Moment::StagingExists,
        Moment::Packages(PACKAGES / 2),
        Moment::RoutesWritten,
    ];
    let mut interrupted = 0;
    for (k, m) in moments.into_iter().enumerate() {
        // The old tree is the one the previous round ended with; the new one is the other input.
        let (old_tree, new_input, new_tree) = if k % 2 == 0 {
            (&tree_a, &b, &tree_b)
        } else {
            (&tree_b, &a, &tree_a)
        };
        assert!(&tree(&out) == old_tree);
        let old_id = fs::read_link(&out).unwrap();
        let old_dir = home.join(&old_id);
        let entries_before = home_entries(&home);

        let args = build_args(&[new_input], &out, &[]);
        let mut child = Command::new(bin())
            .args(&args)
            .env("EPRGEN_LOG", "error")
            .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let mut finished_first = false;
        loop {
            if child.try_wait().unwrap().is_some() {
                finished_first = true;
                break;
            }
            if reached(m, &home, started, full) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{m:?}: never reached"
            );
            std::thread::sleep(Duration::from_micros(500));
        }
        let _ = child.kill(); // SIGKILL
        let killed_at = started.elapsed();
        child.wait().unwrap();

        let swapped = fs::read_link(&out).unwrap() != old_id;
        let now_served = tree(&out);
        if swapped {
            // Killed after the swap: the new tree is complete, the old one still intact.
            assert!(
                &now_served == new_tree,
                "{m:?}: public changed but is not the new tree"
            );
            assert!(&tree(&old_dir) == old_tree, "{m:?}: the old build changed");
        } else {
            // `public` is the old build folder, so this also says it is intact.
            assert!(
                &now_served == old_tree,
                "{m:?}: public does not show the old tree"
            );
            if !finished_first {
                interrupted += 1;
            }
        }
        // Nothing went away, and nothing appeared but the killed build's own leftovers (its
        // staging folder, the link it was making, or its complete build folder).
        let entries_after = home_entries(&home);
        for e in &entries_before {
            assert!(entries_after.contains(e), "{m:?}: {e} went away");
        }
        for e in entries_after.iter().filter(|e| !entries_before.contains(e)) {
            assert!(
                e.starts_with(".public.eprgen/staging-")
                    || e == ".public.eprgen/link.tmp"
                    || e.starts_with(".public.eprgen/builds/"),
                "{m:?}: unexpected {e}"
            );
        }
        println!(
            "{m:?}: killed after {killed_at:?}, {}",
            if swapped {
                "after the swap"
            } else {
                "before the swap"
            }
        );

        // The next build recovers on its own and gives the new tree.
        build(new_input, &out);
        assert!(
            &tree(&out) == new_tree,
            "{m:?}: the build after the kill differs from a clean build"
        );
        assert!(staging_dirs(&home).is_empty(), "{m:?}: staging left over");
        assert!(!home.join(".public.eprgen/link.tmp").exists());
    }
    assert!(
        interrupted >= 4,
        "only {interrupted} kills landed mid-build: the input is too small to test this"
    );
}
