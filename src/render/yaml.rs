//! The one YAML emitter for everything piprep writes in YAML (cloud-init's
//! user-data, meta-data and network-config, the Ansible inventory). Every
//! string is quoted, or a literal block when it spans lines, so no value is
//! ever read as something else: YAML 1.1 readers (cloud-init's and Ansible's
//! PyYAML) take a bare `yes`, `off`, `2024-01-01` or `0o17` for a boolean,
//! a date or a number.

use serde::Serialize;
use serde_json::Value;

/// `value` as a YAML document.
pub fn to_string<T: Serialize>(value: &T) -> String {
    let v = serde_json::to_value(value).expect("piprep's documents serialise");
    let mut out = String::new();
    match &v {
        Value::Object(m) if !m.is_empty() => mapping(m, 0, &mut out),
        Value::Array(a) if !a.is_empty() => sequence(a, 0, &mut out),
        other => {
            out += &inline(other);
            out.push('\n');
        }
    }
    out
}

/// A key: bare when it is a plain identifier (a lowercase letter, then
/// letters, digits, `_` or `-`: `apiVersion`) that no reader takes for a
/// boolean or null (YAML 1.1's mixed-case ones all start uppercase); else
/// quoted.
fn key(k: &str) -> String {
    const WORDS: &[&str] = &[
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~",
    ];
    let plain = k.starts_with(|c: char| c.is_ascii_lowercase())
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && !WORDS.contains(&k);
    if plain { k.to_string() } else { quoted(k) }
}

/// A double-quoted scalar: JSON's escapes are YAML's, plus the characters
/// YAML would take for line breaks or a byte-order mark.
fn quoted(s: &str) -> String {
    let json = serde_json::to_string(s).expect("a string serialises");
    json.replace('\u{85}', "\\N")
        .replace('\u{2028}', "\\L")
        .replace('\u{2029}', "\\P")
        .replace('\u{feff}', "\\uFEFF")
}

fn inline(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quoted(s),
        Value::Array(a) if a.is_empty() => "[]".into(),
        Value::Object(m) if m.is_empty() => "{}".into(),
        _ => unreachable!("collections are written as blocks"),
    }
}

/// Whether `s` can be a literal block: several lines of printable text.
fn block_ok(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with('\n')
        && s.chars().all(|c| {
            c == '\n'
                || c == '\t'
                || (!c.is_control() && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}'))
        })
}

/// A literal block for a value at `indent` (the key's column).
fn literal(s: &str, indent: usize, out: &mut String) {
    let chomp = if !s.ends_with('\n') {
        "-"
    } else if s.ends_with("\n\n") {
        "+"
    } else {
        ""
    };
    // The indentation said, not guessed, when a line starts with a space.
    let ind = if s.split('\n').any(|l| l.starts_with(' ')) {
        "2"
    } else {
        ""
    };
    out.push_str(&format!(" |{ind}{chomp}\n"));
    let pad = " ".repeat(indent + 2);
    for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
        out.push('\n');
    }
}

/// The value after `key:` (or `- `): inline, a literal, or a nested block.
fn value(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::String(s) if block_ok(s) => literal(s, indent, out),
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            mapping(m, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            sequence(a, indent, out);
        }
        other => {
            out.push(' ');
            out.push_str(&inline(other));
            out.push('\n');
        }
    }
}

fn mapping(m: &serde_json::Map<String, Value>, indent: usize, out: &mut String) {
    for (k, v) in m {
        out.push_str(&" ".repeat(indent));
        out.push_str(&key(k));
        out.push(':');
        value(v, indent, out);
    }
}

fn sequence(a: &[Value], indent: usize, out: &mut String) {
    for item in a {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match item {
            Value::Object(m) if !m.is_empty() => {
                // The first key on the dash's line, the rest below it.
                let mut inner = String::new();
                mapping(m, indent + 2, &mut inner);
                out.push(' ');
                out.push_str(&inner[indent + 2..]);
            }
            Value::Array(a) if !a.is_empty() => {
                // `- - first`, the rest below it.
                let mut inner = String::new();
                sequence(a, indent + 2, &mut inner);
                out.push(' ');
                out.push_str(&inner[indent + 2..]);
            }
            Value::String(s) if block_ok(s) => literal(s, indent, out),
            other => {
                out.push(' ');
                out.push_str(&inline(other));
                out.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_string_stays_a_string() {
        let doc = serde_json::json!({
            "hostname": "yes",
            "users": [{"name": "off", "groups": ["2024-01-01", "0o17"]}],
            "no": {"nested": null, "n": 3, "b": true, "cp-1": [["a", "b"], []]},
            "script": "#!/bin/sh\n  indented\n\nend\n",
            "raw": "tab\tand \u{2028} line",
            "empty": [],
        });
        let text = to_string(&doc);
        assert!(text.contains("hostname: \"yes\"\n"), "{text}");
        assert!(text.contains("- name: \"off\"\n"), "{text}");
        assert!(text.contains("\"no\":\n"), "{text}");
        let back: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(back, doc, "{text}");
    }

    #[test]
    fn literal_blocks_keep_every_byte() {
        for s in [
            "a\nb",
            "a\nb\n",
            "a\nb\n\n",
            "  lead\nx\n",
            "x\n\n\ny\n",
            "x\n   \ny\n",
            "x\n\ty\n",
        ] {
            let doc = serde_json::json!({"k": s, "l": [s]});
            let text = to_string(&doc);
            let back: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
            assert_eq!(back, doc, "{s:?}\n{text}");
        }
    }
}
