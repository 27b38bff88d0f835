//! Error types of the library. Every variant that touches a file carries its path, so a
//! message always reads `path: what is wrong` (ripgrep style, lowercase, no trailing period).

use std::io;
use std::path::PathBuf;

/// One invalid input: the file at fault and why. Validation collects all of them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Invalid {
    pub path: PathBuf,
    pub reason: String,
}

impl Invalid {
    pub fn new(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Invalid {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {op}")]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{} invalid package(s):\n{}", .0.len(), list(.0))]
    InvalidPackages(Vec<Invalid>),
    #[error("{path}: {reason}")]
    Input { path: PathBuf, reason: String },
    #[error("{0}")]
    Usage(String),
    #[error("the {stage} stage policy refuses this build:\n{}", .offences.iter().map(|o| format!("  {o}")).collect::<Vec<_>>().join("\n"))]
    Policy {
        stage: String,
        offences: Vec<String>,
    },
    #[error("{path}: not a built eprgen tree ({reason})")]
    NotATree { path: PathBuf, reason: String },
}

fn list(items: &[Invalid]) -> String {
    items
        .iter()
        .map(|i| format!("  {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            op,
            source,
        }
    }

    /// Exit code class: 1 when the input or tree is wrong, 2 for usage, I/O or internal errors.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::InvalidPackages(_)
            | Error::Input { .. }
            | Error::NotATree { .. }
            | Error::Policy { .. } => 1,
            Error::Io { .. } | Error::Usage(_) => 2,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach a path to an io::Result.
pub trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>, op: &'static str) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: impl Into<PathBuf>, op: &'static str) -> Result<T> {
        self.map_err(|e| Error::io(path, op, e))
    }
}
