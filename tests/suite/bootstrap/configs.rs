//! kubeadm's configuration as a YAML parser reads it, and goldens per role
//! that both backends must match.

use super::*;

/// What bootstrap puts on a node's card and root filesystem, with the
/// cluster's token and CA hash replaced by placeholders (they differ per
/// run): the carried secrets' names, kubeadm's files, the unit's values.
fn view(out: &Path, dir: &Path) -> String {
    let token = std::fs::read_to_string(cluster_dir(dir).join("token")).unwrap();
    let token = token.trim();
    let mut names: Vec<String> = dir_names(out)
        .into_iter()
        .filter(|n| n.starts_with("piprep-k8s-"))
        .collect();
    names.sort();
    let mut s = format!(
        "==> carried on the boot partition <==\n{}\n",
        names.join("\n")
    );
    for f in ["piprep-k8s-init.yaml", "piprep-k8s-join.yaml"] {
        if let Ok(t) = std::fs::read_to_string(out.join(f)) {
            let t = t.replace(token, "<token>");
            let t = t
                .lines()
                .map(|l| match l.split_once("sha256:") {
                    Some((a, _)) => format!("{a}sha256:<ca hash>\""),
                    None => l.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\n");
            s += &format!("==> {f} <==\n{t}\n");
        }
    }
    let script =
        std::fs::read_to_string(out.join("rootfs/usr/local/lib/piprep/kubeadm.sh")).unwrap();
    let values: Vec<&str> = script
        .lines()
        .filter(|l| {
            ["ROLE=", "ENDPOINT=", "PEERS=", "CNI="]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect();
    s += &format!("==> kubeadm.sh <==\n{}\n", values.join("\n"));
    s
}

#[test]
fn init_control_plane_and_worker_match_goldens_in_both_backends() {
    for backend in ["firstrun", "cloud-init"] {
        let dir = inventory(&format!("golden-{backend}"), |t| {
            t.replace(
                "path = \"unused.img\"",
                &format!("path = \"unused.img\"\ninit = \"{backend}\""),
            )
        });
        for node in ["cp-1", "cp-2", "worker-1"] {
            let out = render(&dir, node, &[]);
            let stamp = std::fs::read_to_string(out.join("piprep-stamp.json")).unwrap();
            assert!(
                stamp.contains(&format!("\"backend\": \"{backend}\"")),
                "{stamp}"
            );
            golden_in("bootstrap", &format!("{node}.txt"), &view(&out, &dir));
        }
    }
}

#[test]
fn kubeadm_yaml_reads_back_with_every_value_in_place() {
    let dir = inventory("yaml", |t| t);
    let token = std::fs::read_to_string({
        render(&dir, "worker-1", &[]);
        cluster_dir(&dir).join("token")
    })
    .unwrap();
    let token = token.trim();
    let init = render(&dir, "cp-1", &[]);
    let docs = yaml_docs(&init.join("piprep-k8s-init.yaml"));
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "InitConfiguration",
            "KubeletConfiguration",
            "ClusterConfiguration"
        ]
    );
    for d in [&docs[0], &docs[2]] {
        assert_eq!(d["apiVersion"], "kubeadm.k8s.io/v1beta4");
    }
    let (i, k, c) = (&docs[0], &docs[1], &docs[2]);
    assert_eq!(i["bootstrapTokens"][0]["token"], token);
    assert_eq!(i["nodeRegistration"]["name"], "cp-1");
    assert_eq!(i["localAPIEndpoint"]["advertiseAddress"], "10.1.1.11");
    assert_eq!(i["localAPIEndpoint"]["bindPort"], 6443);
    assert_eq!(k["cgroupDriver"], "systemd");
    assert_eq!(c["controlPlaneEndpoint"], "k8s-api.lan:6443");
    assert_eq!(c["encryptionAlgorithm"], "ECDSA-P256");
    assert_eq!(c["networking"]["podSubnet"], "10.244.0.0/16");
    assert_eq!(c["networking"]["serviceSubnet"], "10.96.0.0/12");
    assert_eq!(
        c["apiServer"]["certSANs"],
        serde_json::json!(["cp-1", "10.1.1.11", "cp-2", "10.1.1.12", "k8s-api.lan"])
    );
    // The first boot appends kubeadm's own version to the last document.
    assert!(c.get("kubernetesVersion").is_none());
    for (node, control_plane) in [("cp-1", true), ("cp-2", true), ("worker-1", false)] {
        let out = render(&dir, node, &[]);
        let j = &yaml_docs(&out.join("piprep-k8s-join.yaml"))[0];
        assert_eq!(j["apiVersion"], "kubeadm.k8s.io/v1beta4");
        assert_eq!(j["kind"], "JoinConfiguration");
        let d = &j["discovery"]["bootstrapToken"];
        assert_eq!(d["token"], token);
        assert_eq!(d["apiServerEndpoint"], "k8s-api.lan:6443");
        assert_eq!(j["nodeRegistration"]["name"], node);
        assert_eq!(j.get("controlPlane").is_some(), control_plane, "{node}");
        // Only the init node can init.
        assert_eq!(out.join("piprep-k8s-init.yaml").exists(), node == "cp-1");
    }
    // `render` to the terminal never shows the token.
    let o = piprep(&dir, &["render", "--node", "worker-1"]);
    assert!(o.status.success());
    assert!(!stdout(&o).contains(token));
    assert!(
        stdout(&o).contains("==> piprep-k8s-join.yaml <==\n<redacted>\n"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_workers_card_holds_no_private_key_of_the_cluster() {
    let dir = inventory("worker-image", |t| t);
    let image = fixture("bookworm", &[]);
    for node in ["worker-1", "cp-2"] {
        let o = piprep(
            &dir,
            &[
                "bake",
                "-n",
                node,
                "--image",
                image.to_str().unwrap(),
                "--out",
                "out",
                "-q",
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let pki = cluster_dir(&dir).join("pki");
    // The base64 body of each private key: any line of it in the raw bytes.
    let secret_lines: Vec<String> = ["ca.key", "front-proxy-ca.key", "etcd/ca.key", "sa.key"]
        .iter()
        .flat_map(|k| {
            std::fs::read_to_string(pki.join(k))
                .unwrap()
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    let pats = dir.join("secret-lines");
    std::fs::write(&pats, secret_lines.join("\n") + "\n").unwrap();
    // grep over the raw image: every distinct line of a private key found.
    let holds = |img: &Path| {
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "grep -a -o -F -f {} {} | sort -u | wc -l",
                pats.display(),
                img.display()
            ))
            .output()
            .unwrap();
        stdout(&o).trim().parse::<usize>().unwrap()
    };
    let distinct = {
        let mut v = secret_lines.clone();
        v.sort();
        v.dedup();
        v.len()
    };
    assert_eq!(holds(&dir.join("out/worker-1.img")), 0);
    // The same search finds them on a control plane's card: it can fail.
    assert_eq!(holds(&dir.join("out/cp-2.img")), distinct);
    let parts = partitions(&dir.join("out/worker-1.img"));
    let listing = mdir(&dir.join("out/worker-1.img"), parts[0]);
    assert!(listing.contains("piprep-k8s-join.yaml"), "{listing}");
    assert!(!listing.contains(".key"), "{listing}");
}
