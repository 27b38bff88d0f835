//! CLI edge: parse, set up logging, run, print the error chain, map to an exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use eprgen::cli::{Cli, Command, RoutesCommand};
use eprgen::Error;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("EPRGEN_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if cli.quiet { "error" } else { "warn" })
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                eprintln!("  caused by: {s}");
                src = s.source();
            }
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn run(cli: &Cli) -> Result<(), Error> {
    match &cli.command {
        Command::Build(args) => {
            if let Some(n) = args.jobs {
                let _ = rayon::ThreadPoolBuilder::new()
                    .num_threads(n.max(1))
                    .build_global();
            }
            let opts = args.options();
            let show = !cli.quiet && std::io::stderr().is_terminal();
            let progress = move |i: usize, n: usize, what: &str| {
                if show {
                    eprintln!("[{i}/{n}] {what}...");
                }
            };
            let report = eprgen::build::build(&opts, &progress)?;
            if args.json {
                let j = serde_json::json!({
                    "build_id": report.build_id,
                    "packages": report.packages,
                    "files": report.files,
                    "bytes": report.bytes,
                    "stored_bytes": report.stored_bytes,
                    "search_answers": report.search_answers,
                    "categories_answers": report.categories_answers,
                    "search_nodes": report.search_nodes,
                    "categories_nodes": report.categories_nodes,
                    "answer_bytes": report.answer_bytes,
                    "invalid": report.invalid.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
                    "policy_notes": report.policy_notes,
                    "timings_ms": report.timings.iter().map(|(k, v)| (k.to_string(), *v as u64)).collect::<std::collections::BTreeMap<_, _>>(),
                    "added": report.changes.added,
                    "changed": report.changes.changed,
                    "removed": report.changes.removed,
                });
                println!(
                    "{}",
                    serde_json::to_string_pretty(&j).expect("report serializes")
                );
            }
            for note in &report.policy_notes {
                eprintln!("overwritten or removed since the previous build: {note}");
            }
            for bad in &report.invalid {
                eprintln!("skipped invalid package: {bad}");
            }
            if !cli.quiet {
                eprintln!(
                    "built {} packages into {} (build {}): {} files, {} bytes ({} stored, dedupe ratio {:.2}); {} /search and {} /categories answers",
                    report.packages,
                    opts.out.display(),
                    report.build_id,
                    report.files,
                    report.bytes,
                    report.stored_bytes,
                    report.bytes as f64 / report.stored_bytes.max(1) as f64,
                    report.search_answers,
                    report.categories_answers
                );
            }
            Ok(())
        }
        Command::Verify(args) => {
            let problems = eprgen::verify::verify(&args.root)?;
            for p in &problems {
                println!("{p}");
            }
            if problems.is_empty() {
                if !cli.quiet {
                    eprintln!("{}: the tree matches its manifest", args.root.display());
                }
                Ok(())
            } else {
                Err(Error::Input {
                    path: args.root.clone(),
                    reason: format!("{} problem(s) found", problems.len()),
                })
            }
        }
        Command::Diff(args) => {
            let old = eprgen::verify::load_manifest(&args.old)?;
            let new = eprgen::verify::load_manifest(&args.new)?;
            let d = eprgen::verify::diff(&old, &new);
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&d).expect("diff serializes")
                );
            } else {
                for (mark, list) in [("+", &d.added), ("~", &d.changed), ("-", &d.removed)] {
                    for p in list {
                        println!("{mark} /{p}");
                    }
                }
            }
            Ok(())
        }
        Command::Promote(args) => {
            let p = eprgen::promote::promote(&args.packages, &args.id, args.to, args.dry_run)?;
            println!(
                "{}{p}",
                if args.dry_run {
                    "would promote "
                } else {
                    "promoted "
                }
            );
            Ok(())
        }
        Command::Serve(args) => eprgen::serve::serve(&args.options().map_err(Error::Usage)?),
        Command::Routes(cmd) => routes(cmd),
        Command::Publish(args) => publish(args, cli.quiet),
    }
}

/// The progress bar of `eprgen publish` (indicatif, on stderr when it is a terminal).
struct Bar(indicatif::ProgressBar);

impl eprgen::publish::Progress for Bar {
    fn start(&self, objects: u64, bytes: u64) {
        self.0.set_length(bytes.max(1));
        self.0.set_message(format!("0/{objects} objects"));
        self.0.set_position(0);
        self.0.reset_eta();
        self.0.set_prefix(objects.to_string());
    }
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
        // The object count rides in the message; the bar itself measures bytes (for the ETA).
        let done = self
            .0
            .message()
            .split('/')
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        self.0
            .set_message(format!("{done}/{} objects", self.0.prefix()));
    }
}

/// `eprgen publish`: upload, then print the summary and write the invalidation list.
fn publish(args: &eprgen::cli::PublishArgs, quiet: bool) -> Result<(), Error> {
    let opts = eprgen::publish::PublishOptions {
        root: args.root.clone(),
        to: args.to.clone(),
        jobs: args.jobs.max(1),
        retries: args.retries,
        prune: args.prune,
        dry_run: args.dry_run,
    };
    let show = !quiet && !args.json && std::io::stderr().is_terminal();
    let progress: std::sync::Arc<dyn eprgen::publish::Progress> = if show {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "[{elapsed_precise}] {bar:30} {msg}, {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, ETA {eta})",
            )
            .expect("valid template"),
        );
        std::sync::Arc::new(Bar(bar))
    } else {
        std::sync::Arc::new(eprgen::publish::Silent)
    };
    let report = eprgen::publish::publish(&opts, progress)?;
    if let Some(p) = &args.invalidation_list {
        let mut text = report.invalidation.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        write_atomic(p, text.as_bytes())?;
    }
    if args.json {
        let mut j = serde_json::to_value(&report).expect("report serializes");
        if args.dry_run {
            j["actions"] = serde_json::to_value(&report.actions).expect("actions serialize");
        }
        println!("{}", serde_json::to_string_pretty(&j).expect("serializes"));
    } else if args.dry_run {
        for a in &report.actions {
            println!("{a}");
        }
    }
    if !quiet {
        eprintln!(
            "{} {} (build {}{}): {} objects, {} unchanged, {} already there; {} uploaded ({} bytes), {} copied, {} deleted in {:.1} s",
            if args.dry_run { "would publish to" } else { "published to" },
            report.url,
            report.build_id,
            match &report.previous_build_id {
                Some(p) if *p != report.build_id => format!(", replacing {p}"),
                _ => String::new(),
            },
            report.objects,
            report.unchanged,
            report.present,
            report.uploaded,
            report.uploaded_bytes,
            report.copied,
            report.deleted,
            report.ms as f64 / 1000.0
        );
    }
    Ok(())
}

/// `eprgen routes …`: configuration and code on stdout, side files where asked.
fn routes(cmd: &RoutesCommand) -> Result<(), Error> {
    use std::io::Write;
    let out = match cmd {
        RoutesCommand::Nginx(a) => {
            let js =
                std::path::absolute(&a.js).map_err(|e| Error::io(&a.js, "cannot resolve", e))?;
            let n = eprgen::edge::nginx::render(&a.root, &a.listen, &js)?;
            write_atomic(&js, n.module.as_bytes())?;
            n.conf
        }
        RoutesCommand::Cloudfront(a) => {
            let c = eprgen::edge::cloudfront::render(&a.root)?;
            if let Some(p) = &a.kvs_out {
                write_atomic(p, c.kvs_json().as_bytes())?;
            }
            c.function
        }
        RoutesCommand::S3Metadata(a) => {
            if a.format == "shell" {
                eprintln!(
                    "note: `--format shell` is retired; it prints a script that runs `eprgen publish --to {}`",
                    a.dest
                );
                eprgen::edge::s3::shell(&a.root, &a.dest)
            } else {
                let objects = eprgen::edge::s3::objects(&a.root)?;
                serde_json::to_string_pretty(&objects).expect("serializes") + "\n"
            }
        }
    };
    std::io::stdout()
        .write_all(out.as_bytes())
        .map_err(|e| Error::io("stdout", "cannot write", e))
}

/// Write a file next to its final name and rename it in, so nginx never reads half of it.
fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<(), Error> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, "cannot write", e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, "cannot write", e))
}
