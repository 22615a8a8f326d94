//! What a URL or OS-list spec resolves to (the expected sha256 and what is
//! known of it), remembered in the cache so `--offline`, and a cached image
//! whose checksum is already known, need no network.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::cache::Meta;
use super::checksum::valid_sha;
use super::{Fetcher, Spec, describe, http, oslist, parse_sidecar};
use crate::error::{Error, Result};

impl Fetcher {
    fn memo_path(&self, spec: &Spec) -> PathBuf {
        let key = hex::encode(&Sha256::digest(format!("{spec:?}").as_bytes())[..12]);
        self.cache.root.join("resolved").join(format!("{key}.json"))
    }

    /// What an earlier online fetch of `spec` learnt, if anything.
    fn remembered(&self, spec: &Spec) -> Option<Meta> {
        std::fs::read_to_string(self.memo_path(spec))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
    }

    /// A cached image whose checksum an earlier fetch of the same URL already
    /// learnt needs no network: a published file's checksum does not change.
    /// An OS list can name a newer release, so it is asked first, and the
    /// cache only answers when it cannot be reached.
    pub(super) fn resolve_or_remember(&self, spec: &Spec) -> Result<Meta> {
        let known = self
            .remembered(spec)
            .filter(|m| self.cache.lookup(&m.sha256).is_some());
        match (spec, known) {
            (
                Spec::Url {
                    url, sha256: None, ..
                },
                Some(m),
            ) if !self.offline => {
                crate::reporter::say(format!(
                    "{url}: cached, with the checksum learnt when it was first fetched; nothing to download"
                ));
                Ok(m)
            }
            (Spec::OsList { .. }, Some(m)) if !self.offline => self.resolve(spec).or_else(|e| {
                crate::reporter::say(format!(
                    "{e}\nusing the cached {} instead (pass --offline to skip the network)",
                    describe(spec)
                ));
                Ok(m)
            }),
            _ => self.resolve(spec),
        }
    }

    /// Resolve a URL/OS-list spec to the expected sha256 and what is known of it.
    /// The answer is remembered, so `--offline` can use it later.
    fn resolve(&self, spec: &Spec) -> Result<Meta> {
        let memo = self.memo_path(spec);
        if let Spec::Url {
            url,
            sha256: Some(s),
            ..
        } = spec
        {
            let sha = valid_sha(s).ok_or_else(|| {
                Error::config(format!("sha256 `{s}` for {url} is not 64 hex digits"))
            })?;
            return Ok(Meta {
                sha256: sha,
                url: Some(url.clone()),
                ..Meta::default()
            });
        }
        if self.offline {
            return self
                .remembered(spec)
                .ok_or_else(|| Error::image(format!("--offline: {} has never been fetched, so its checksum is unknown; run `piprep fetch` while online first", describe(spec))));
        }
        let client = http::client()?;
        let meta = match spec {
            Spec::Url {
                url, sha256_url, ..
            } => {
                let side = sha256_url
                    .clone()
                    .unwrap_or_else(|| format!("{url}.sha256"));
                let text = http::get_text(&client, &side, 64 << 10)?;
                let sha =
                    parse_sidecar(&text, url).map_err(|e| Error::image(format!("{side}: {e}")))?;
                Meta {
                    sha256: sha,
                    url: Some(url.clone()),
                    ..Meta::default()
                }
            }
            Spec::OsList { list, name } => {
                let text = if list.starts_with("http://") || list.starts_with("https://") {
                    http::get_text(&client, list, 64 << 20)?
                } else {
                    std::fs::read_to_string(list)
                        .map_err(|e| Error::config(format!("cannot read OS list {list}: {e}")))?
                };
                let e =
                    oslist::find(&text, name).map_err(|e| Error::config(format!("{list}: {e}")))?;
                let url = e
                    .url
                    .clone()
                    .ok_or_else(|| Error::image(format!("{list}: \"{name}\" has no url")))?;
                let sha = e.image_download_sha256.as_deref().and_then(valid_sha).ok_or_else(|| {
                    Error::image(format!("{list}: \"{name}\" has no image_download_sha256, so the download could not be verified"))
                })?;
                Meta {
                    sha256: sha,
                    url: Some(url),
                    name: Some(e.name.clone()),
                    release_date: e.release_date.clone(),
                    init_format: e.init_format.clone(),
                    extract_sha256: e.extract_sha256.clone().unwrap_or_default(),
                    extract_size: e.extract_size.unwrap_or(0),
                    download_size: e.image_download_size.unwrap_or(0),
                }
            }
            Spec::Path { .. } => unreachable!("paths are not resolved"),
        };
        if let Some(dir) = memo.parent()
            && std::fs::create_dir_all(dir).is_ok()
        {
            let _ = std::fs::write(&memo, serde_json::to_string_pretty(&meta).expect("json"));
        }
        Ok(meta)
    }
}
