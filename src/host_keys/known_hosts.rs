//! `known_hosts` for the fleet: one line per node key, for its name and its
//! address, and the merge into a user's own file that replaces stale lines
//! for those names and addresses (hashed or not) and keeps everything else.

use base64ct::{Base64, Encoding};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

use crate::config::plan::NodePlan;

/// How many salts `lines` uses when hashing: one per name and address of
/// every key.
pub fn salts_needed(plans: &[&NodePlan]) -> usize {
    plans
        .iter()
        .map(|p| p.host_names().len() * p.host_keys.len())
        .sum()
}

/// The lines for `plans`, in inventory order; with `salts` (see
/// `salts_needed`), the names and addresses are hashed as `ssh-keygen -H`
/// does, one line each.
pub fn lines(plans: &[&NodePlan], salts: Option<&[[u8; 20]]>) -> String {
    let mut out = String::new();
    let mut salts = salts.map(|s| s.iter());
    for p in plans {
        for k in &p.host_keys {
            match salts.as_mut() {
                None => out += &format!("{} {}\n", p.host_names().join(","), k.public_key()),
                Some(next) => {
                    for host in p.host_names() {
                        let salt = next.next().expect("one salt per name and address");
                        out += &format!("{} {}\n", hash(&host, salt), k.public_key());
                    }
                }
            }
        }
    }
    out
}

/// `|1|SALT|HASH` of `host`.
pub fn hash(host: &str, salt: &[u8; 20]) -> String {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(salt).expect("HMAC takes any key length");
    mac.update(host.as_bytes());
    let digest = mac.finalize().into_bytes();
    format!(
        "|1|{}|{}",
        Base64::encode_string(salt),
        Base64::encode_string(&digest)
    )
}

/// Whether the host field of a known_hosts line names one of `hosts`
/// (plain, `[host]:22`, or hashed).
fn names_any(field: &str, hosts: &[String]) -> bool {
    if let Some(rest) = field.strip_prefix("|1|") {
        let Some((salt, want)) = rest.split_once('|') else {
            return false;
        };
        let Ok(salt) = Base64::decode_vec(salt) else {
            return false;
        };
        let Ok(salt): Result<[u8; 20], _> = salt.try_into() else {
            return false;
        };
        return hosts
            .iter()
            .any(|h| hash(h, &salt).ends_with(&format!("|{want}")));
    }
    field.split(',').any(|f| {
        let f = f
            .strip_prefix('[')
            .and_then(|x| x.strip_suffix("]:22"))
            .unwrap_or(f);
        hosts.iter().any(|h| h == f)
    })
}

/// Whether the known_hosts `text` has a key line for any of `hosts`.
pub fn pins(text: &str, hosts: &[String]) -> bool {
    text.lines().any(|line| {
        let t = line.trim_start();
        !t.starts_with('#')
            && !t.starts_with('@')
            && t.split_whitespace()
                .next()
                .is_some_and(|f| names_any(f, hosts))
    })
}

/// `existing` with our `hosts` taken out, then `ours`. A line that names
/// only our hosts goes; one that names others too keeps them, byte for byte
/// (a CR, spacing, the key and comment). Comments, blank lines, markers
/// (`@cert-authority`, `@revoked`) and every other line stay as they are.
/// Returns the bytes and how many lines changed or went.
pub fn merge(existing: &[u8], hosts: &[String], ours: &str) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(existing.len() + ours.len());
    let mut changed = 0;
    // A line identical to one of ours is replaced by itself: not stale.
    let same: std::collections::HashSet<&[u8]> = ours.lines().map(str::as_bytes).collect();
    let mut lines = existing.split_inclusive(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        match without_hosts(line, hosts) {
            None => out.extend_from_slice(line),
            Some(kept) => {
                if !same.contains(line.trim_ascii_end()) {
                    changed += 1;
                }
                out.extend_from_slice(&kept);
            }
        }
        if lines.peek().is_none() && !out.is_empty() && !out.ends_with(b"\n") {
            out.push(b'\n');
        }
    }
    out.extend_from_slice(ours.as_bytes());
    (out, changed)
}

/// `line` with our hosts removed from its host field: None when it names
/// none of them (keep it as it is), an empty line's worth when it names
/// only ours (drop it).
fn without_hosts(line: &[u8], hosts: &[String]) -> Option<Vec<u8>> {
    let start = line.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = &line[start..];
    if rest.starts_with(b"#") || rest.starts_with(b"@") {
        return None;
    }
    let end = rest
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(rest.len());
    let field = std::str::from_utf8(&rest[..end]).ok()?;
    if field.starts_with("|1|") {
        return names_any(field, hosts).then(Vec::new);
    }
    let (mine, others): (Vec<&str>, Vec<&str>) =
        field.split(',').partition(|f| names_any(f, hosts));
    if mine.is_empty() {
        return None;
    }
    if others.is_empty() {
        return Some(Vec::new());
    }
    let mut kept = line[..start].to_vec();
    kept.extend_from_slice(others.join(",").as_bytes());
    kept.extend_from_slice(&rest[end..]);
    Some(kept)
}

/// out/known_hosts: the fleet's lines (plain names and addresses) under
/// the header that marks the file as piprep's.
pub fn file_text(plans: &[NodePlan]) -> String {
    let all: Vec<&NodePlan> = plans.iter().collect();
    format!(
        "# SSH host keys of cluster {} (piprep); `piprep known-hosts --install` merges them into ~/.ssh/known_hosts\n{}",
        plans.first().map_or("", |p| p.cluster.as_str()),
        lines(&all, None)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_openssh() {
        // `ssh-keygen -H` on a line for "cp-1" with this salt gives this hash
        // (computed independently with Python's hmac module).
        let salt = [7u8; 20];
        assert_eq!(
            hash("cp-1", &salt),
            "|1|BwcHBwcHBwcHBwcHBwcHBwcHBwc=|g2VRvhfSfAD3JT/dsT7p1hvEYx4="
        );
    }

    #[test]
    fn merge_replaces_only_our_hosts() {
        let salt = [9u8; 20];
        let existing = format!(
            "# mine\nother.example ssh-ed25519 AAAAkeep\ncp-1,10.1.1.11 ssh-ed25519 AAAAstale\n[10.1.1.21]:22 ssh-rsa AAAAstale2\n{} ssh-ed25519 AAAAstale3\n[10.1.1.11]:2222 ssh-ed25519 AAAAotherport\n@revoked cp-1 ssh-rsa AAAArevoked\n\n",
            hash("10.1.1.11", &salt)
        );
        let hosts: Vec<String> = ["cp-1", "10.1.1.11", "worker-1", "10.1.1.21"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let ours = "cp-1,10.1.1.11 ssh-ed25519 AAAAnew\n";
        let (text, n) = merge(existing.as_bytes(), &hosts, ours);
        let text = String::from_utf8(text).unwrap();
        assert_eq!(n, 3);
        assert!(text.starts_with("# mine\nother.example ssh-ed25519 AAAAkeep\n"));
        assert!(!text.contains("stale"));
        assert!(text.contains("[10.1.1.11]:2222 ssh-ed25519 AAAAotherport\n"));
        assert!(text.contains("@revoked cp-1 ssh-rsa AAAArevoked\n"));
        assert!(text.ends_with(ours));
        // Merging again changes nothing, and our own identical line is not stale.
        let (again, n2) = merge(text.as_bytes(), &hosts, ours);
        assert_eq!((again, n2), (text.clone().into_bytes(), 0));
    }

    #[test]
    fn merge_keeps_other_hosts_and_bytes() {
        let hosts = vec!["cp-1".to_string(), "10.1.1.11".to_string()];
        let existing = b"gw,10.1.1.11,router ssh-ed25519 AAAAgw  note\r\nother ssh-rsa AAAAx\r\nlast ssh-rsa AAAAy";
        let (text, n) = merge(existing, &hosts, "cp-1 ssh-ed25519 AAAAnew\n");
        assert_eq!(n, 1);
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "gw,router ssh-ed25519 AAAAgw  note\r\nother ssh-rsa AAAAx\r\nlast ssh-rsa AAAAy\ncp-1 ssh-ed25519 AAAAnew\n"
        );
    }
}
