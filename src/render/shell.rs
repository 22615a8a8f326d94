//! Small helpers for generating POSIX shell safely.

/// Quote a value for POSIX sh: single quotes, with embedded ones escaped.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Replace every `@@KEY@@` in a template; panics in tests if one is left, so a
/// template and its renderer cannot drift apart silently.
pub fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = template.to_string();
    for (k, v) in values {
        out = out.replace(&format!("@@{k}@@"), v);
    }
    debug_assert!(
        !out.contains("@@"),
        "unfilled placeholder in template: {}",
        out.lines().find(|l| l.contains("@@")).unwrap_or("")
    );
    out
}

/// A shell fragment that writes `content` to `path` with `mode` through the
/// hook's `put_file` helper. The delimiter is quoted, so nothing expands.
pub fn put_file(path: &str, mode: &str, content: &str, indent: &str) -> String {
    let delim = "PIPREP_FILE";
    debug_assert!(!content.lines().any(|l| l == delim));
    let mut body = content.to_string();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    format!(
        "{indent}put_file {} {mode} <<'{delim}' || return 1\n{body}{delim}\n",
        quote(path)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(quote("cp-1"), "cp-1");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$HOME"), "'$HOME'");
    }
}
