//! Quoting for the command lines piprep hands to ssh and Ansible, so a
//! path with a space, `%`, a quote or a backslash stays one path.

/// `path` as an ssh option value (`-o UserKnownHostsFile=VALUE`): `%` is
/// ssh's token character, and whitespace or quotes split or end the value
/// unless it is in double quotes (inside which `\` escapes `"` and `\`).
pub fn ssh_value(path: &str) -> String {
    let v = path.replace('%', "%%");
    if v.chars()
        .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\'))
    {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        v
    }
}

/// A Python string literal (Ansible reads INI values with `literal_eval`).
pub fn python_str(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32 & 0xff)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_stay_whole() {
        assert_eq!(ssh_value("out/known_hosts"), "out/known_hosts");
        assert_eq!(ssh_value("/a b/100%/k"), "\"/a b/100%%/k\"");
        assert_eq!(ssh_value("/x\"y"), "\"/x\\\"y\"");
        assert_eq!(python_str("it's \\"), "'it\\'s \\\\'");
    }
}
