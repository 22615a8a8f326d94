//! Both backends carry the same node setup: the firstrun hook installs
//! every file byte for byte, cloud-init writes exactly the same files, and
//! the backend changes only what the report names.

use super::node::{CHECK_PATH, PREPARE_PATH, SETUP_PATH, node_setup};
use super::{Backend, cloudinit, firstboot, shell};

/// The files cloud-init's user-data carries, as (path, mode, owner, body).
fn write_files(user_data: &str) -> Vec<(String, String, String, String)> {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(user_data).unwrap();
    let s = |v: &serde_yaml_ng::Value, k: &str| v[k].as_str().unwrap().to_string();
    doc["write_files"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|f| {
            (
                s(f, "path"),
                s(f, "permissions"),
                s(f, "owner"),
                s(f, "content"),
            )
        })
        .collect()
}

#[test]
fn both_backends_carry_the_same_setup() {
    for plan in super::node::tests::plans() {
        let fr = node_setup(&plan, "/boot/firmware", Backend::Firstrun);
        let ci = node_setup(&plan, "/boot/firmware", Backend::CloudInit);
        // One decision: the backend changes only what the report names.
        assert_eq!(
            (&fr.packages, &fr.firewall, &fr.offline, fr.networked),
            (&ci.packages, &ci.firewall, &ci.offline, ci.networked)
        );
        assert_eq!(fr.checklist, ci.checklist);
        assert_eq!((&fr.held, &fr.services), (&ci.held, &ci.services));
        assert_eq!(fr.files.len(), ci.files.len());
        for (a, b) in fr.files.iter().zip(&ci.files) {
            assert_eq!((&a.path, &a.mode, &a.owner), (&b.path, &b.mode, &b.owner));
            if a.path == CHECK_PATH {
                let differ: Vec<_> = a
                    .content
                    .lines()
                    .zip(b.content.lines())
                    .filter(|(x, y)| x != y)
                    .collect();
                assert_eq!(differ, [("BACKEND=firstrun", "BACKEND=cloud-init")]);
            } else {
                assert_eq!(a.content, b.content, "{}", a.path);
            }
        }
        // The firstrun hook installs every file, byte for byte.
        let hook = firstboot::hook_script(&plan, &fr, "/boot/firmware");
        for f in &fr.files {
            let line = shell::put_file(&f.path, &f.mode, &f.content, "\t");
            assert!(hook.contains(&line), "hook lacks {}", f.path);
        }
        assert!(hook.contains(&format!("step \"node preparation\" {}", PREPARE_PATH)));
        // cloud-init writes exactly the same files.
        let ud = cloudinit::user_data(&plan, &ci);
        let want: Vec<_> = ci
            .files
            .iter()
            .map(|f| {
                (
                    f.path.clone(),
                    f.mode.to_string(),
                    f.owner.to_string(),
                    f.content.clone(),
                )
            })
            .collect();
        assert_eq!(write_files(&ud), want);
        // Packages and firewall commands reach the node through setup.sh,
        // which both carry.
        let setup = &fr
            .files
            .iter()
            .find(|f| f.path == SETUP_PATH)
            .unwrap()
            .content;
        assert!(setup.contains(&format!("pkgs={}", shell::quote(&fr.packages.join(" ")))));
        for c in &fr.firewall {
            let line = format!("\t{} || return 1\n", shell::command_line(c));
            assert!(setup.contains(&line), "setup.sh lacks {line}");
        }
    }
}
