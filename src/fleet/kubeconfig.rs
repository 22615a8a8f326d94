//! The laptop's kubeconfig for a cluster that forms itself: a client
//! certificate signed with the cluster's CA before any node has booted, and
//! its merge into an existing kubeconfig that keeps every other cluster,
//! user and context. Pure: the command signs, reads and writes.

use base64ct::{Base64, Encoding};
use serde_json::{Value, json};

/// The client certificate's common name.
pub const ADMIN_USER: &str = "piprep-admin";

/// The names the kubeconfig's entries take for `cluster`.
pub struct Names {
    pub cluster: String,
    pub user: String,
    pub context: String,
}

pub fn names(cluster: &str) -> Names {
    Names {
        cluster: cluster.to_string(),
        user: format!("{ADMIN_USER}@{cluster}"),
        context: format!("{ADMIN_USER}@{cluster}"),
    }
}

/// A kubeconfig with one cluster, user and context (the current one).
pub fn document(cluster: &str, server: &str, ca_pem: &str, cert_pem: &str, key_pem: &str) -> Value {
    let n = names(cluster);
    let b64 = |s: &str| Base64::encode_string(s.as_bytes());
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n.cluster, "cluster": {
            "server": format!("https://{server}"),
            "certificate-authority-data": b64(ca_pem),
        }}],
        "users": [{"name": n.user, "user": {
            "client-certificate-data": b64(cert_pem),
            "client-key-data": b64(key_pem),
        }}],
        "contexts": [{"name": n.context, "context": {"cluster": n.cluster, "user": n.user}}],
        "current-context": n.context,
        "preferences": {},
    })
}

/// `ours` merged into `existing` (a kubeconfig as parsed): each of its
/// entries replaces the one of the same name or is added, everything else is
/// kept, and its context becomes the current one. Returns the merged
/// document and the context that was current before, if another.
pub fn merge(existing: Value, ours: &Value) -> Result<(Value, Option<String>), String> {
    let mut doc = match existing {
        Value::Null => json!({"apiVersion": "v1", "kind": "Config"}),
        Value::Object(m) => Value::Object(m),
        _ => return Err("is not a kubeconfig (its top level is not a mapping)".into()),
    };
    for list in ["clusters", "users", "contexts"] {
        let entries = doc
            .as_object_mut()
            .expect("a mapping")
            .entry(list)
            .or_insert_with(|| json!([]));
        if entries.is_null() {
            *entries = json!([]);
        }
        let Some(entries) = entries.as_array_mut() else {
            return Err(format!("has a `{list}` that is not a list"));
        };
        for new in ours[list].as_array().into_iter().flatten() {
            match entries.iter_mut().find(|e| e["name"] == new["name"]) {
                Some(old) => *old = new.clone(),
                None => entries.push(new.clone()),
            }
        }
    }
    let before = doc["current-context"].as_str().map(str::to_string);
    doc["current-context"] = ours["current-context"].clone();
    let previous = before.filter(|b| Some(b.as_str()) != ours["current-context"].as_str());
    Ok((doc, previous))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_others_and_replaces_ours() {
        let ours = document("homelab", "10.1.1.11:6443", "CA", "CERT", "KEY");
        let existing = json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "work", "cluster": {"server": "https://work:6443"}},
                         {"name": "homelab", "cluster": {"server": "https://old:6443"}}],
            "users": [{"name": "me@work", "user": {"token": "t"}}],
            "contexts": [{"name": "me@work", "context": {"cluster": "work", "user": "me@work"}}],
            "current-context": "me@work",
            "preferences": {"colors": true},
        });
        let (m, prev) = merge(existing, &ours).unwrap();
        assert_eq!(prev.as_deref(), Some("me@work"));
        assert_eq!(m["clusters"].as_array().unwrap().len(), 2);
        assert_eq!(
            m["clusters"][1]["cluster"]["server"],
            "https://10.1.1.11:6443"
        );
        assert_eq!(m["users"].as_array().unwrap().len(), 2);
        assert_eq!(m["contexts"].as_array().unwrap().len(), 2);
        assert_eq!(m["current-context"], "piprep-admin@homelab");
        assert_eq!(m["preferences"]["colors"], true);
        let (again, prev) = merge(m.clone(), &ours).unwrap();
        assert_eq!(again, m);
        assert_eq!(prev, None);
        assert!(merge(json!([1]), &ours).is_err());
        assert!(merge(json!({"users": "x"}), &ours).is_err());
        assert!(merge(Value::Null, &ours).is_ok());
    }
}
