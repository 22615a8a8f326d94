//! Where the base image comes from, as `[image]` or `--image` names it;
//! `crate::source` fetches it.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    /// A local .img or .img.xz, with the sha256 it must have (of the file as
    /// it is) when one is given.
    Path {
        path: PathBuf,
        sha256: Option<String>,
    },
    Url {
        url: String,
        sha256: Option<String>,
        sha256_url: Option<String>,
    },
    OsList {
        list: String,
        name: String,
    },
}

impl Spec {
    /// `--image` accepts a URL (checked against its `<url>.sha256` sidecar) or a path.
    pub fn from_flag(s: &Path) -> Spec {
        let t = s.to_string_lossy();
        if t.starts_with("http://") || t.starts_with("https://") {
            Spec::Url {
                url: t.into_owned(),
                sha256: None,
                sha256_url: None,
            }
        } else {
            Spec::Path {
                path: s.to_path_buf(),
                sha256: None,
            }
        }
    }
}
