//! A file for the boot partition's root, how it may be shown, and what a
//! first-boot backend puts there.

use crate::io::atomic::Holds;

#[derive(Debug, Clone, PartialEq)]
pub struct BootFile {
    pub name: String,
    pub content: Vec<u8>,
    /// Never printed or logged; removed from the FAT partition by the first boot.
    pub secret: bool,
    /// Secrets inside an otherwise printable file (a password hash, lines of
    /// a private host key in user-data): each shown as <redacted>.
    pub redact: Vec<String>,
}

impl BootFile {
    /// Whether the file holds a secret, whole or in part: then it is 0600
    /// wherever piprep writes it.
    pub fn holds(&self) -> Holds {
        if self.secret || !self.redact.is_empty() {
            Holds::Secret
        } else {
            Holds::Public
        }
    }

    /// The content as it may be shown to a person.
    pub fn printable(&self) -> Vec<u8> {
        if self.secret {
            return b"<redacted>\n".to_vec();
        }
        if self.redact.is_empty() {
            return self.content.clone();
        }
        let mut text = String::from_utf8_lossy(&self.content).into_owned();
        for s in self.redact.iter().filter(|s| !s.is_empty()) {
            text = text.replace(s.as_str(), "<redacted>");
        }
        text.into_bytes()
    }
}

impl BootFile {
    /// A file anyone may read.
    pub fn public(name: impl Into<String>, content: impl Into<Vec<u8>>) -> BootFile {
        BootFile {
            name: name.into(),
            content: content.into(),
            secret: false,
            redact: Vec::new(),
        }
    }

    /// A file that is a secret as a whole.
    pub fn secret(name: impl Into<String>, content: impl Into<Vec<u8>>) -> BootFile {
        BootFile {
            secret: true,
            ..BootFile::public(name, content)
        }
    }
}

/// What a backend puts on the boot partition for one node.
#[derive(Debug, Clone, Default)]
pub struct BackendBoot {
    pub files: Vec<BootFile>,
    /// Arguments kept on every boot, after the profile's.
    pub permanent: Vec<String>,
    /// The one-shot hook's arguments (removed by the first boot).
    pub hook: Vec<String>,
    /// piprep's arguments the image must not keep (the other backend's).
    pub stale: Vec<String>,
}
