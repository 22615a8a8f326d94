//! Generating POSIX shell safely. Every value from the inventory or a profile
//! reaches a script only through `quote`, as one single-quoted word, and never
//! inside a here-document (whose delimiter a value could contain). Templates
//! are filled in one pass, so a value is never scanned for placeholders.

/// Quote a value for POSIX sh: single quotes, with embedded ones escaped.
/// Inside single quotes nothing is special to the shell, newlines included;
/// NUL cannot be in a script at all, so validation refuses it in every field.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Replace every `@@KEY@@` of `template` with its value, in one pass over the
/// template only: a value that itself contains `@@OTHER@@` stays as written.
/// A placeholder without a value is a bug in piprep (every template is
/// rendered by the tests), so it panics in every build; so does, in tests
/// and debug builds, a value no placeholder asked for (a renamed or removed
/// placeholder whose key was left behind).
pub fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut used = vec![false; values.len()];
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(start) = rest.find("@@") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("@@")
            .unwrap_or_else(|| panic!("unterminated placeholder in template: {after:.40}"));
        let key = &after[..end];
        let i = values
            .iter()
            .position(|(k, _)| *k == key)
            .unwrap_or_else(|| panic!("no value for template placeholder @@{key}@@"));
        used[i] = true;
        out.push_str(&values[i].1);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    if cfg!(debug_assertions) {
        let unused: Vec<&str> = values
            .iter()
            .zip(&used)
            .filter(|(_, u)| !**u)
            .map(|((k, _), _)| *k)
            .collect();
        assert!(unused.is_empty(), "template values never used: {unused:?}");
    }
    out
}

/// A shell command that writes `content` to `path` with `mode` through the
/// scripts' `put_file` helper, the content as one quoted argument.
pub fn put_file(path: &str, mode: &str, content: &str, indent: &str) -> String {
    format!(
        "{indent}put_file {} {} {} || return 1\n",
        quote(path),
        quote(mode),
        quote(content)
    )
}

/// One command as a quoted shell line.
pub fn command_line(words: &[String]) -> String {
    words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
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
        assert_eq!(quote("a\nb"), "'a\nb'");
    }

    #[test]
    fn fills_in_one_pass() {
        let t = "A=@@A@@ B=@@B@@";
        let v = [("A", "@@B@@".to_string()), ("B", "x".to_string())];
        assert_eq!(fill(t, &v), "A=@@B@@ B=x");
        assert_eq!(fill("no placeholders", &[]), "no placeholders");
    }

    #[test]
    #[should_panic(expected = "no value for template placeholder @@MISSING@@")]
    fn a_missing_value_is_a_bug() {
        fill("x @@MISSING@@", &[]);
    }

    #[test]
    #[should_panic(expected = "template values never used: [\"STALE\"]")]
    fn a_value_no_placeholder_asks_for_is_a_bug() {
        fill("x @@A@@", &[("A", "a".into()), ("STALE", "s".into())]);
    }

    #[test]
    fn put_file_passes_content_as_one_word() {
        let s = put_file("/etc/x y", "0644", "line\nPIPREP_FILE\n'$(boom)'\n", "");
        assert_eq!(
            s,
            "put_file '/etc/x y' 0644 'line\nPIPREP_FILE\n'\\''$(boom)'\\''\n' || return 1\n"
        );
    }
}
