//! The CNI manifest the init node applies: the pinned default per plugin,
//! and the manifest fitted to the cluster's pod range (flannel's
//! `net-conf.json`, Calico's IPv4 pool), as text edits that keep the rest
//! byte for byte. Pure.

use super::kubernetes::Cni;

/// The manifest of a pinned release for the plugins piprep fits.
pub fn default_url(cni: Cni) -> Option<&'static str> {
    match cni {
        Cni::Flannel => {
            Some("https://github.com/flannel-io/flannel/releases/download/v0.26.7/kube-flannel.yml")
        }
        Cni::Calico => Some(
            "https://raw.githubusercontent.com/projectcalico/calico/v3.29.3/manifests/calico.yaml",
        ),
        Cni::Cilium | Cni::None => None,
    }
}

/// `text` with the plugin's pod range set to `pod_cidr`, or why it cannot
/// be (the manifest is not the plugin's, or changed its layout).
pub fn fit(cni: Cni, text: &str, pod_cidr: &str) -> Result<String, String> {
    match cni {
        Cni::Flannel => flannel(text, pod_cidr),
        Cni::Calico => calico(text, pod_cidr),
        Cni::Cilium | Cni::None => Ok(text.to_string()),
    }
}

fn indent(l: &str) -> &str {
    &l[..l.len() - l.trim_start().len()]
}

fn join(lines: Vec<String>, text: &str) -> String {
    let mut out = lines.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// `"Network": "…"` inside the ConfigMap's `net-conf.json`.
fn flannel(text: &str, cidr: &str) -> Result<String, String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let start = lines
        .iter()
        .position(|l| l.trim_start().starts_with("net-conf.json:"))
        .ok_or("has no net-conf.json (is it flannel's kube-flannel.yml?)")?;
    let at = lines[start..]
        .iter()
        .position(|l| l.trim_start().starts_with("\"Network\":"))
        .map(|i| start + i)
        .ok_or("has no \"Network\" in its net-conf.json")?;
    let comma = if lines[at].trim_end().ends_with(',') {
        ","
    } else {
        ""
    };
    lines[at] = format!("{}\"Network\": \"{cidr}\"{comma}", indent(&lines[at]));
    Ok(join(lines, text))
}

/// The calico-node container's `CALICO_IPV4POOL_CIDR`, uncommented if the
/// manifest ships it commented out (as calico.yaml does).
fn calico(text: &str, cidr: &str) -> Result<String, String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let at = lines
        .iter()
        .position(|l| {
            let t = l.trim_start().trim_start_matches('#').trim_start();
            t == "- name: CALICO_IPV4POOL_CIDR"
        })
        .ok_or("has no CALICO_IPV4POOL_CIDR (is it Calico's calico.yaml?)")?;
    lines
        .get(at + 1)
        .filter(|l| {
            l.trim_start()
                .trim_start_matches('#')
                .trim_start()
                .starts_with("value:")
        })
        .ok_or("has no value line after CALICO_IPV4POOL_CIDR")?;
    let name_pad = indent(&lines[at]).to_string();
    lines[at] = format!("{name_pad}- name: CALICO_IPV4POOL_CIDR");
    lines[at + 1] = format!("{name_pad}  value: \"{cidr}\"");
    Ok(join(lines, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLANNEL: &str = "kind: ConfigMap\ndata:\n  cni-conf.json: |\n    {}\n  net-conf.json: |\n    {\n      \"Network\": \"10.244.0.0/16\",\n      \"Backend\": {\n        \"Type\": \"vxlan\"\n      }\n    }\n";
    const CALICO: &str = "          env:\n            # no effect. This should fall within `--cluster-cidr`.\n            # - name: CALICO_IPV4POOL_CIDR\n            #   value: \"192.168.0.0/16\"\n            - name: CALICO_DISABLE_FILE_LOGGING\n";

    #[test]
    fn flannel_gets_the_pod_range_and_nothing_else_changes() {
        let f = fit(Cni::Flannel, FLANNEL, "10.42.0.0/16").unwrap();
        assert_eq!(f, FLANNEL.replace("10.244.0.0/16", "10.42.0.0/16"));
        assert!(fit(Cni::Flannel, "kind: x\n", "10.42.0.0/16").is_err());
    }

    #[test]
    fn calico_pool_is_uncommented_and_set() {
        let f = fit(Cni::Calico, CALICO, "10.42.0.0/16").unwrap();
        assert!(f.contains("\n            - name: CALICO_IPV4POOL_CIDR\n              value: \"10.42.0.0/16\"\n"), "{f}");
        let again = fit(Cni::Calico, &f, "10.43.0.0/16").unwrap();
        assert!(again.contains("value: \"10.43.0.0/16\""));
        assert!(fit(Cni::Calico, FLANNEL, "10.42.0.0/16").is_err());
        assert_eq!(
            fit(Cni::Cilium, "x: 1\n", "10.42.0.0/16").unwrap(),
            "x: 1\n"
        );
    }
}
