//! The destination of `eprgen publish`: parse `s3://`, `gs://`, `az://` and `file://` URLs into
//! an `object_store` store and a key prefix, with credentials and endpoints from each store's
//! standard environment variables, and turn the store's errors into eprgen errors that name
//! the object and carry the store's message.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use object_store::path::Path as Key;
use object_store::{BackoffConfig, ObjectStore, RetryConfig};

use crate::error::{Error, Result};

/// Where a tree is published: the store, the URL as given (for messages) and the key prefix.
#[derive(Debug, Clone)]
pub struct Destination {
    pub store: Arc<dyn ObjectStore>,
    /// `scheme://bucket/prefix` without a trailing `/`.
    pub url: String,
    /// The prefix every key starts with (empty: the bucket's root).
    pub prefix: String,
    /// The store keeps Content-Type, Cache-Control, Content-Encoding and user metadata
    /// (every store but `file://`).
    pub has_attributes: bool,
}

impl Destination {
    /// The store key of a path of the tree.
    pub fn key(&self, rel: &str) -> Result<Key> {
        let full = if self.prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.prefix)
        };
        Key::parse(&full).map_err(|e| {
            Error::Usage(format!(
                "{}: not a valid object key: {e}",
                self.display_key(rel)
            ))
        })
    }

    /// The path of a listed key inside the tree (None when it is not under the prefix).
    pub fn rel<'k>(&self, key: &'k str) -> Option<&'k str> {
        if self.prefix.is_empty() {
            Some(key)
        } else {
            key.strip_prefix(self.prefix.as_str())?.strip_prefix('/')
        }
    }

    /// `scheme://bucket/prefix/rel`, for messages.
    pub fn display_key(&self, rel: &str) -> String {
        format!("{}/{rel}", self.url)
    }

    /// A store error as an eprgen error naming the object (`rel`; empty: the destination).
    pub fn error(&self, rel: &str, op: &'static str, e: object_store::Error) -> Error {
        let what = if rel.is_empty() {
            self.url.clone()
        } else {
            self.display_key(rel)
        };
        let hint = match &e {
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => "permission denied: ",
            object_store::Error::NotFound { .. } if rel.is_empty() || op != "cannot read" => {
                "the bucket or container does not exist: "
            }
            _ => "",
        };
        let message = e.to_string();
        // S3 says "NoSuchBucket" in a generic error on some calls, Azure "ContainerNotFound".
        let hint = if hint.is_empty()
            && (message.contains("NoSuchBucket") || message.contains("ContainerNotFound"))
        {
            "the bucket or container does not exist: "
        } else if hint.is_empty()
            && (message.contains("AccessDenied")
                || message.contains("InvalidAccessKeyId")
                || message.contains("SignatureDoesNotMatch")
                || message.contains("AuthorizationFailure")
                || message.contains("AuthenticationFailed"))
        {
            "permission denied: "
        } else {
            hint
        };
        Error::io(
            what,
            op,
            std::io::Error::other(format!("{hint}{}", message.trim())),
        )
    }
}

/// The retry policy of the cloud stores: exponential backoff from 100 ms to 15 s, `retries`
/// attempts, at most two minutes per request. It covers connection errors, 5xx and 429.
fn retry(retries: usize) -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            base: 2.0,
        },
        max_retries: retries,
        retry_timeout: Duration::from_secs(120),
    }
}

fn usage(url: &str, reason: impl std::fmt::Display) -> Error {
    Error::Usage(format!("{url}: {reason}"))
}

/// Parse a destination URL and build its store from the environment.
pub fn open(url: &str, retries: usize) -> Result<Destination> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        usage(
            url,
            "not a destination URL (s3://bucket/prefix, gs://bucket/prefix, az://container/prefix or file:///path)",
        )
    })?;
    if scheme == "file" {
        return open_file(url, rest);
    }
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = prefix.trim_matches('/').to_string();
    if bucket.is_empty() {
        return Err(usage(url, "the URL names no bucket or container"));
    }
    if prefix.split('/').any(|c| c == "." || c == "..")
        || prefix.contains("//")
        || url.contains(['?', '#'])
    {
        return Err(usage(
            url,
            "the prefix must be a plain path (no `.`, `..`, `//`, `?` or `#`)",
        ));
    }
    let base = format!("{scheme}://{bucket}");
    let built: std::result::Result<Arc<dyn ObjectStore>, object_store::Error> = match scheme {
        "s3" => {
            check_aws_credentials(url)?;
            object_store::aws::AmazonS3Builder::from_env()
                .with_url(&base)
                .with_retry(retry(retries))
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
        }
        "gs" => object_store::gcp::GoogleCloudStorageBuilder::from_env()
            .with_url(&base)
            .with_retry(retry(retries))
            .build()
            .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
        "az" => object_store::azure::MicrosoftAzureBuilder::from_env()
            .with_url(&base)
            .with_retry(retry(retries))
            .build()
            .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
        _ => {
            return Err(usage(
                url,
                format!("unknown scheme {scheme:?} (s3, gs, az or file)"),
            ))
        }
    };
    let store = built.map_err(|e| usage(url, format!("cannot open the store: {e}")))?;
    let url = if prefix.is_empty() {
        base
    } else {
        format!("{base}/{prefix}")
    };
    Ok(Destination {
        store,
        url,
        prefix,
        has_attributes: true,
    })
}

/// Without keys, object_store would ask the EC2 instance metadata service and hang on anything
/// that is not EC2: name the variables instead. Web identity and container credentials count.
fn check_aws_credentials(url: &str) -> Result<()> {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if set("AWS_ACCESS_KEY_ID")
        || set("AWS_WEB_IDENTITY_TOKEN_FILE")
        || set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        || set("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        || std::env::var("AWS_SKIP_SIGNATURE").is_ok_and(|v| v == "true")
        || std::env::var("EPRGEN_AWS_INSTANCE_METADATA").is_ok_and(|v| v == "1")
    {
        return Ok(());
    }
    Err(usage(
        url,
        "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_WEB_IDENTITY_TOKEN_FILE; \
EPRGEN_AWS_INSTANCE_METADATA=1 uses the EC2 instance role)",
    ))
}

fn open_file(url: &str, rest: &str) -> Result<Destination> {
    // file:///abs/path (an empty host) or file://localhost/abs/path.
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    if !path.starts_with('/') {
        return Err(usage(
            url,
            "a file URL needs an absolute path (file:///path)",
        ));
    }
    let dir = PathBuf::from(path);
    if !dir.is_dir() {
        return Err(usage(url, "the folder does not exist"));
    }
    let store = object_store::local::LocalFileSystem::new_with_prefix(&dir)
        .map_err(|e| usage(url, format!("cannot open the folder: {e}")))?;
    Ok(Destination {
        store: Arc::new(store),
        url: url.trim_end_matches('/').to_string(),
        prefix: String::new(),
        has_attributes: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_urls_are_usage_errors_naming_the_url() {
        for (url, needle) in [
            ("bucket/prefix", "not a destination URL"),
            ("ftp://host/x", "unknown scheme"),
            ("s3:///x", "names no bucket"),
            ("s3://b/a/../c", "plain path"),
            ("file://relative/x", "absolute path"),
            ("file:///does/not/exist/eprgen", "does not exist"),
        ] {
            let e = open(url, 0).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{url}");
            let m = e.to_string();
            assert!(m.starts_with(url) && m.contains(needle), "{url}: {m}");
        }
    }

    #[test]
    fn keys_carry_the_prefix() {
        let t = tempfile::tempdir().unwrap();
        let url = format!("file://{}", t.path().display());
        let d = open(&url, 0).unwrap();
        assert_eq!(d.key("a/b.json").unwrap().as_ref(), "a/b.json");
        assert_eq!(d.rel("a/b.json"), Some("a/b.json"));
        let d = Destination {
            prefix: "epr/v1".into(),
            ..d
        };
        assert_eq!(d.key("a/b.json").unwrap().as_ref(), "epr/v1/a/b.json");
        assert_eq!(d.rel("epr/v1/a/b.json"), Some("a/b.json"));
        assert_eq!(d.rel("epr/v10/a"), None);
    }
}
