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
            for bad in &report.invalid {
                eprintln!("skipped invalid package: {bad}");
            }
            if !cli.quiet {
                eprintln!(
                    "built {} packages into {} (build {}): {} files, {} bytes; {} /search and {} /categories answers",
                    report.packages,
                    opts.out.display(),
                    report.build_id,
                    report.files,
                    report.bytes,
                    report.search_answers,
                    report.categories_answers
                );
            }
            Ok(())
        }
        Command::Serve(args) => eprgen::serve::serve(&eprgen::serve::ServeOptions {
            root: args.root.clone(),
            addr: args.addr,
        }),
        Command::Routes(cmd) => routes(cmd),
    }
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
            let objects = eprgen::edge::s3::objects(&a.root)?;
            if a.format == "shell" {
                eprgen::edge::s3::shell(&objects, &a.dest)
            } else {
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
