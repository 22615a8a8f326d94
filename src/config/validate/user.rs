//! `[user]`: the account every node gets, and how it logs in.

use super::checker::Checker;
use crate::config::grammar;
use crate::config::plan::UserPlan;

pub fn check(c: &mut Checker) -> Option<UserPlan> {
    let Some(user) = &c.cfg.inventory.user else {
        let at = c.cfg.source.at(0);
        c.error(
            at,
            None,
            "no [user] section, so nobody could log in".into(),
            "add [user] with name and ssh_authorized_keys",
        );
        return None;
    };
    let u = user.get_ref();
    let mut ok = true;
    let name = u.name.get_ref();
    let valid_name = name.len() <= 32
        && name
            .chars()
            .next()
            .is_some_and(|ch| ch.is_ascii_lowercase())
        && name
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-');
    if !valid_name || name == "root" {
        let at = c.at(&u.name);
        c.error(
            at,
            None,
            format!("user name `{}` is not allowed", name.escape_debug()),
            "use a lowercase name matching ^[a-z][a-z0-9-]*$, at most 32 characters, not root",
        );
        ok = false;
    }
    for key in &u.ssh_authorized_keys {
        if let Some(p) = ssh_key_problem(key.get_ref()) {
            let at = c.at(key);
            c.error(
                at,
                None,
                format!("ssh key {} {p}", key_comment(key.get_ref())),
                "paste one line of an OpenSSH public key (the content of ~/.ssh/id_ed25519.pub)",
            );
            ok = false;
        }
    }
    if let Some(h) = &u.password_hash
        && !is_crypt_hash(h.get_ref())
    {
        let at = c.at(h);
        // Never echo the value: it is a secret.
        c.error(
            at,
            None,
            "password_hash is not a crypt(3) hash such as $6$…".into(),
            "generate one with `openssl passwd -6` or `mkpasswd -m sha-512`",
        );
        ok = false;
    }
    if u.ssh_authorized_keys.is_empty() && u.password_hash.is_none() {
        let at = c.at(user);
        c.error(
            at,
            None,
            "the user has neither ssh_authorized_keys nor password_hash, so nobody could log in"
                .into(),
            "add your public key to ssh_authorized_keys",
        );
        ok = false;
    }
    ok.then(|| UserPlan {
        name: name.clone(),
        ssh_authorized_keys: u
            .ssh_authorized_keys
            .iter()
            .map(|k| k.get_ref().trim().to_string())
            .collect(),
        password_hash: u.password_hash.as_ref().map(|h| h.get_ref().clone()),
    })
}

/// What is wrong with an `authorized_keys` line, parsed as sshd would: a key
/// type, a base64 body that decodes to a key of that same type, and an
/// optional printable comment.
fn ssh_key_problem(key: &str) -> Option<String> {
    let key = key.trim();
    if key.contains(['\n', '\r']) {
        return Some("spans several lines".into());
    }
    let ty = key.split_whitespace().next().unwrap_or("");
    match ssh_key::PublicKey::from_openssh(key) {
        Ok(k) => {
            if k.algorithm().as_str() != ty {
                return Some(format!(
                    "says `{ty}` but holds a {} key",
                    k.algorithm().as_str()
                ));
            }
            grammar::text_problem(k.comment(), 200).map(|p| format!("comment {p}"))
        }
        Err(e) => Some(match ssh_key::Algorithm::new(ty) {
            Err(_) if looks_like_path(ty) => format!(
                "is a file name (`{}`), not a key line: paste the line the file holds, as `cat {}` prints it",
                ty.chars().take(200).collect::<String>().escape_debug(),
                ty.chars().take(200).collect::<String>().escape_debug()
            ),
            Err(_) => format!(
                "does not start with a key type such as ssh-ed25519 (found `{}`)",
                ty.chars().take(20).collect::<String>().escape_debug()
            ),
            Ok(_) => format!(
                "of type {ty} does not parse ({e}): its base64 body is corrupt or truncated"
            ),
        }),
    }
}

/// `~/.ssh/id_ed25519.pub`, `/home/u/key.pub`: a path where a key belongs.
fn looks_like_path(word: &str) -> bool {
    word.starts_with(['/', '~', '.']) || word.ends_with(".pub")
}

/// The comment of a key line, for messages.
fn key_comment(key: &str) -> String {
    let c: String = key.split_whitespace().skip(2).collect::<Vec<_>>().join(" ");
    if c.is_empty() {
        "(no comment)".into()
    } else {
        format!(
            "`{}`",
            c.chars().take(40).collect::<String>().escape_debug()
        )
    }
}

/// crypt(3) hashes as glibc/libxcrypt write them: `$id$…`, no `:` (the
/// chpasswd/userconf separator) and no whitespace.
fn is_crypt_hash(h: &str) -> bool {
    const IDS: &[&str] = &[
        "$1$", "$5$", "$6$", "$y$", "$gy$", "$7$", "$2a$", "$2b$", "$2y$",
    ];
    IDS.iter().any(|id| h.starts_with(id))
        && h.len() > 10
        && h.len() <= 512
        && h.matches('$').count() >= 3
        && grammar::crypt_chars_ok(h)
}
