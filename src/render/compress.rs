//! Precompressed siblings: every answer and package JSON also gets `<file>.gz` and `<file>.br`,
//! so `eprgen serve`, nginx (`gzip_static`/`brotli_static`) and a CDN can send compressed bytes
//! without compressing per request.
//!
//! Both encoders are deterministic (no time or name in the gzip header, fixed levels), so the
//! same identity bytes always give the same siblings, whatever the thread count. The levels
//! were chosen by measurement on the conformance kit's tree (1,643 answers, 16.9 MB):
//!
//! | encoder | bytes | time (1 core) |
//! |---|---|---|
//! | gzip 6 / 9 | 14.9 % / 14.8 % | 0.32 s / 0.42 s |
//! | brotli 5 / 9 / 10 / 11 | 14.2 % / 13.8 % / 12.9 % / 12.6 % | 1.1 s / 7.1 s / 19 s / 40 s |
//!
//! gzip takes its best level (cheap). brotli takes quality 5: quality 11 is 11 % smaller but 36
//! times slower (about 0.4 MB/s per core), which would make a build of every answer of the real
//! package-storage tree (580 MB) take over ten minutes longer. A build reuses the siblings of the
//! previous build for unchanged files when they were made with the same [`SETTINGS`].

use std::io::Write;
use std::path::Path;

use rayon::prelude::*;

use crate::error::{IoContext, Result};
use crate::write::manifest::{FileMeta, Manifest};
use crate::write::{RelPath, Staging, Written};

pub const GZIP_LEVEL: u32 = 9;
pub const BROTLI_QUALITY: i32 = 5;
pub const BROTLI_WINDOW: i32 = 22;
/// The encoders and their settings, recorded in the manifest (`compression`): siblings of a
/// previous build are reused only when it made them the same way.
pub const SETTINGS: &str = "gzip-9 br-5-22";

/// A content coding eprgen stores siblings for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Encoding {
    Gzip,
    Br,
}

impl Encoding {
    pub const ALL: [Encoding; 2] = [Encoding::Gzip, Encoding::Br];

    /// The token of `Content-Encoding` / `Accept-Encoding` (and the manifest's `content_encoding`).
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Br => "br",
        }
    }

    pub fn from_token(s: &str) -> Option<Encoding> {
        Encoding::ALL.into_iter().find(|e| e.token() == s)
    }

    /// What the sibling's name adds to the identity file's.
    pub fn suffix(self) -> &'static str {
        match self {
            Encoding::Gzip => ".gz",
            Encoding::Br => ".br",
        }
    }

    /// The sibling of `rel` in this encoding.
    pub fn sibling(self, rel: &RelPath) -> RelPath {
        RelPath::new(format!("{rel}{}", self.suffix())).expect("a suffix keeps a path safe")
    }

    pub fn encode(self, body: &[u8]) -> Vec<u8> {
        match self {
            Encoding::Gzip => {
                // GzBuilder writes mtime 0, no name and no comment: bytes depend on the body only.
                let mut e = flate2::GzBuilder::new().write(
                    Vec::with_capacity(body.len() / 4 + 64),
                    flate2::Compression::new(GZIP_LEVEL),
                );
                e.write_all(body).expect("writing to memory");
                e.finish().expect("writing to memory")
            }
            Encoding::Br => {
                let params = brotli::enc::BrotliEncoderParams {
                    quality: BROTLI_QUALITY,
                    lgwin: BROTLI_WINDOW,
                    size_hint: body.len(),
                    ..Default::default()
                };
                let mut out = Vec::with_capacity(body.len() / 4 + 64);
                brotli::BrotliCompress(&mut &body[..], &mut out, &params)
                    .expect("writing to memory");
                out
            }
        }
    }
}

/// A sibling written into the staging tree, for the file `of`.
#[derive(Debug, Clone)]
pub struct Sibling {
    pub of: RelPath,
    pub path: RelPath,
    pub encoding: Encoding,
    pub written: Written,
}

/// The previous build, whose siblings of unchanged files are linked instead of compressed again.
#[derive(Debug, Clone, Copy)]
pub struct Earlier<'a> {
    pub dir: &'a Path,
    pub manifest: &'a Manifest,
}

impl Earlier<'_> {
    /// The previous build's sibling of `rel` in `enc`, if it was made from the same bytes with
    /// the same settings.
    fn sibling(
        &self,
        rel: &RelPath,
        identity: &Written,
        enc: Encoding,
    ) -> Option<(RelPath, Written)> {
        if self.manifest.compression.as_deref() != Some(SETTINGS) {
            return None;
        }
        let files = &self.manifest.files;
        let p = enc.sibling(rel);
        let (id, m) = (files.get(rel)?, files.get(&p)?);
        if id.blake3 != identity.blake3 || m.content_encoding.as_deref() != Some(enc.token()) {
            return None;
        }
        p.to_path(self.dir).is_file().then(|| {
            let w = Written {
                size: m.size,
                blake3: m.blake3.clone(),
            };
            (p, w)
        })
    }
}

/// Write the `.gz` and `.br` siblings of the file `rel` (already written, `identity`), from
/// `body` (its bytes; read back from the staging tree when `None` and needed). A sibling whose
/// path the tree already holds (a package's own `index.json.gz`) is not made.
pub fn write_siblings(
    staging: &Staging,
    earlier: Option<Earlier<'_>>,
    rel: &RelPath,
    identity: &Written,
    body: Option<&[u8]>,
) -> Result<Vec<Sibling>> {
    let mut read: Option<Vec<u8>> = None;
    let mut out = Vec::with_capacity(2);
    for enc in Encoding::ALL {
        let path = enc.sibling(rel);
        if staging.exists(&path) {
            continue;
        }
        let written = match earlier.and_then(|e| e.sibling(rel, identity, enc)) {
            Some((p, w)) => {
                staging.link_from(&path, &p.to_path(earlier.expect("some").dir))?;
                w
            }
            None => {
                let bytes = match body {
                    Some(b) => b,
                    None => {
                        if read.is_none() {
                            let p = rel.to_path(staging.dir());
                            read = Some(std::fs::read(&p).at(&p, "cannot read")?);
                        }
                        read.as_deref().expect("read above")
                    }
                };
                staging.write(&path, &enc.encode(bytes))?
            }
        };
        out.push(Sibling {
            of: rel.clone(),
            path,
            encoding: enc,
            written,
        });
    }
    Ok(out)
}

/// Siblings of files already in the staging tree, in parallel.
pub fn write_siblings_of(
    staging: &Staging,
    earlier: Option<Earlier<'_>>,
    files: &[(RelPath, Written)],
) -> Result<Vec<Sibling>> {
    let done: Vec<Result<Vec<Sibling>>> = files
        .par_iter()
        .map(|(rel, w)| write_siblings(staging, earlier, rel, w, None))
        .collect();
    let mut out = Vec::new();
    for d in done {
        out.extend(d?);
    }
    Ok(out)
}

/// Files handed over one at a time (the planner's answers), compressed in parallel batches of
/// about `BATCH` bytes, so memory stays bounded and every core works.
pub struct Batch<'a> {
    staging: &'a Staging,
    earlier: Option<Earlier<'a>>,
    pending: Vec<(RelPath, Written, Vec<u8>)>,
    bytes: usize,
    done: Vec<Sibling>,
    /// Time spent compressing (so the caller can tell it from its own work).
    spent: std::time::Duration,
}

const BATCH: usize = 16 * 1024 * 1024;

impl<'a> Batch<'a> {
    pub fn new(staging: &'a Staging, earlier: Option<Earlier<'a>>) -> Batch<'a> {
        Batch {
            staging,
            earlier,
            pending: Vec::new(),
            bytes: 0,
            done: Vec::new(),
            spent: std::time::Duration::ZERO,
        }
    }

    /// A file just written as `rel` with these bytes.
    pub fn add(&mut self, rel: &RelPath, identity: &Written, body: &[u8]) -> Result<()> {
        self.bytes += body.len();
        self.pending
            .push((rel.clone(), identity.clone(), body.to_vec()));
        if self.bytes >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        let t = std::time::Instant::now();
        let r = self.flush_pending();
        self.spent += t.elapsed();
        r
    }

    fn flush_pending(&mut self) -> Result<()> {
        let (staging, earlier) = (self.staging, self.earlier);
        let done: Vec<Result<Vec<Sibling>>> = std::mem::take(&mut self.pending)
            .par_iter()
            .map(|(rel, w, body)| write_siblings(staging, earlier, rel, w, Some(body)))
            .collect();
        self.bytes = 0;
        for d in done {
            self.done.extend(d?);
        }
        Ok(())
    }

    /// Compress what is left; every sibling written.
    /// The siblings written, and the time spent compressing them.
    pub fn finish(mut self) -> Result<(Vec<Sibling>, std::time::Duration)> {
        self.flush()?;
        Ok((self.done, self.spent))
    }
}

/// The manifest entry of a sibling: the identity file's headers and time, its own size and
/// hash, and its `content_encoding`.
pub fn sibling_meta(identity: &FileMeta, s: &Sibling) -> FileMeta {
    FileMeta {
        size: s.written.size,
        blake3: s.written.blake3.clone(),
        content_encoding: Some(s.encoding.token().to_string()),
        ..identity.clone()
    }
}

/// Decode a sibling (tests and `eprgen verify`-style checks).
pub fn decode(enc: Encoding, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    match enc {
        Encoding::Gzip => {
            flate2::read::GzDecoder::new(bytes).read_to_end(&mut out)?;
        }
        Encoding::Br => {
            brotli::Decompressor::new(bytes, 64 * 1024).read_to_end(&mut out)?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_round_trip_and_are_deterministic() {
        let body = br#"[{"name":"a","version":"1.0.0"},{"name":"b","version":"2.0.0"}]"#.repeat(50);
        for enc in Encoding::ALL {
            let a = enc.encode(&body);
            assert_eq!(a, enc.encode(&body), "{enc:?} is deterministic");
            assert!(a.len() < body.len() / 4, "{enc:?}: {} bytes", a.len());
            assert_eq!(decode(enc, &a).unwrap(), body);
            assert_eq!(Encoding::from_token(enc.token()), Some(enc));
        }
        // gzip header: no mtime (bytes 4..8 are zero), no name flag.
        let gz = Encoding::Gzip.encode(&body);
        assert_eq!(&gz[..4], &[0x1f, 0x8b, 8, 0]);
        assert_eq!(&gz[4..8], &[0, 0, 0, 0]);
        assert_eq!(
            decode(Encoding::Gzip, &Encoding::Gzip.encode(b"")).unwrap(),
            b""
        );
        assert_eq!(
            decode(Encoding::Br, &Encoding::Br.encode(b"")).unwrap(),
            b""
        );
    }
}
