//! `[kubernetes]`'s packages: the repository they come from, its signing
//! key, and the sandbox image containerd is told to use.

use super::checker::Checker;
use crate::config::Severity;
use crate::config::inventory::KubernetesSection;
use crate::config::kubernetes::{self as k8s, NEWEST_PAUSE, RepoKey};

/// The largest key file read (real repository keys are a few KiB).
const KEY_CAP: u64 = 64 << 10;

/// Characters a repository URL may have: it goes into an apt sources line.
fn url_problem(s: &str) -> Option<String> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    let Some(rest) = rest.filter(|r| !r.is_empty() && !r.starts_with('/')) else {
        return Some("is not an http:// or https:// URL".into());
    };
    if s.len() > 512 {
        return Some("is longer than 512 characters".into());
    }
    rest.chars()
        .find(|ch| !(ch.is_ascii_alphanumeric() || "-._~:/%+,=@".contains(*ch)))
        .map(|ch| {
            format!(
                "contains `{}`, which an apt source line cannot carry",
                ch.escape_debug()
            )
        })
}

pub fn repository(c: &mut Checker, k: &KubernetesSection, minor: Option<u32>) -> Option<String> {
    let Some(r) = &k.repository else {
        return minor.map(|m| k8s::default_repository(&format!("1.{m}")));
    };
    if let Some(why) = url_problem(r.get_ref()) {
        let at = c.at(r);
        c.error(
            at,
            None,
            format!("[kubernetes] repository `{}` {why}", r.get_ref().escape_debug()),
            "give the URL of a mirror laid out as pkgs.k8s.io, such as \"https://mirror.example/core:/stable:/v1.34/deb/\"",
        );
        return None;
    }
    let mut url = r.get_ref().clone();
    if !url.ends_with('/') {
        url.push('/');
    }
    Some(url)
}

/// The key: a local file read now, or the repository's Release.key, which
/// the bake fetches. A key fetched over plain http could be anyone's.
pub fn key(c: &mut Checker, k: &KubernetesSection, repository: &str) -> Option<RepoKey> {
    let Some(file) = &k.repository_key else {
        let url = format!("{repository}Release.key");
        let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|p| url.starts_with(&format!("{p}/")) || url.starts_with(&format!("{p}:")));
        if url.starts_with("http://") && !loopback {
            let at = c.at(k
                .repository
                .as_ref()
                .expect("the default repository is https"));
            c.error(
                at,
                None,
                "[kubernetes] the repository is plain http, so its Release.key would arrive unauthenticated".into(),
                "use an https:// repository, or set repository_key = \"FILE\" to a key you checked",
            );
            return None;
        }
        return Some(RepoKey {
            origin: url,
            from_url: true,
            sha256: None,
            armored: None,
        });
    };
    let path = c.cfg.dir.join(file.get_ref());
    let at = c.at(file);
    let problem = match crate::io::input::read(&path, KEY_CAP) {
        Err(e) => format!("cannot read repository_key {}: {e}", path.display()),
        Ok(b) => {
            let mut key = RepoKey {
                origin: file.get_ref().clone(),
                from_url: false,
                sha256: None,
                armored: None,
            };
            match key.set(&b) {
                Ok(()) => return Some(key),
                Err(why) => format!("repository_key {} {why}", path.display()),
            }
        }
    };
    c.error(
        at,
        None,
        problem,
        "point repository_key at the repository's OpenPGP key (its Release.key), relative to piprep.toml",
    );
    None
}

pub fn sandbox_image(c: &mut Checker, k: &KubernetesSection, minor: Option<u32>) -> Option<String> {
    if let Some(img) = &k.sandbox_image {
        let s = img.get_ref();
        let ok = !s.is_empty()
            && s.len() <= 255
            && s.starts_with(|ch: char| ch.is_ascii_alphanumeric())
            && s.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "./:_-@".contains(ch));
        if !ok {
            let at = c.at(img);
            c.error(
                at,
                None,
                format!("[kubernetes] sandbox_image `{}` is not an image reference", s.escape_debug()),
                "write it as `kubeadm config images list` prints the pause image, such as \"registry.k8s.io/pause:3.10.1\"",
            );
            return None;
        }
        return Some(s.clone());
    }
    let m = minor?;
    let pause = k8s::pause_version(m).unwrap_or_else(|| {
        let at = c.at(&k.version);
        c.push(
            Severity::Warning,
            at,
            None,
            format!("piprep does not know which pause image kubeadm 1.{m} expects; it assumes {NEWEST_PAUSE}"),
            "set sandbox_image in [kubernetes] to the pause image `kubeadm config images list` prints",
        );
        NEWEST_PAUSE
    });
    Some(format!("registry.k8s.io/pause:{pause}"))
}
