use super::*;
use crate::config::Config;
use crate::config::profile::TimeDaemon;

pub(crate) fn plans() -> Vec<NodePlan> {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut all = Vec::new();
    for inv in ["piprep.toml", "cloud-init.toml", "kubernetes.toml"] {
        let cfg = Config::load(&data.join(inv)).unwrap();
        all.extend(cfg.plans().unwrap().0);
    }
    all
}

#[test]
fn kubernetes_adds_its_files_packages_services_and_rules_once() {
    let all = plans();
    let with: Vec<_> = all.iter().filter(|p| p.kubernetes.is_some()).collect();
    assert_eq!(with.len(), 2, "tests/data/kubernetes.toml has two nodes");
    for plan in all.iter() {
        let s = node_setup(plan, "/boot/firmware", Backend::Firstrun);
        let paths: Vec<&str> = s.files.iter().map(|f| f.path.as_str()).collect();
        let kube_files = [
            kubernetes::CONTAINERD_CONFIG,
            kubernetes::CRICTL_CONFIG,
            kubernetes::KEYRING,
            kubernetes::SOURCES,
            kubernetes::PIN,
            kubernetes::NM_CONF,
        ];
        let routed = s.firewall.iter().filter(|c| c[1] == "route").count();
        let setup = &s
            .files
            .iter()
            .find(|f| f.path == SETUP_PATH)
            .unwrap()
            .content;
        if plan.kubernetes.is_some() {
            for f in kube_files {
                assert_eq!(paths.iter().filter(|p| **p == f).count(), 1, "{f}");
            }
            assert!(
                s.packages
                    .ends_with(&["containerd", "kubeadm", "kubelet", "kubectl"].map(String::from))
            );
            assert_eq!(s.held, ["kubeadm", "kubelet", "kubectl"]);
            assert_eq!(s.services.len(), 3);
            assert_eq!(routed, 3);
            assert!(s.checklist.kubernetes.is_some());
            assert!(setup.contains("apt-mark hold $held"));
            assert!(setup.contains("containerd.service yes restart /etc/containerd/config.toml"));
        } else {
            assert!(kube_files.iter().all(|f| !paths.contains(f)));
            assert!(s.held.is_empty() && s.services.is_empty());
            assert_eq!(routed, 0);
            assert!(s.checklist.kubernetes.is_none());
            assert!(setup.contains("configure_services() { return 0; }"));
        }
    }
}

#[test]
fn the_firewall_is_the_profiles_rule_set_in_order() {
    let plan = &plans()[0];
    let fw = node_setup(plan, "/boot/firmware", Backend::Firstrun).firewall;
    let rules = &plan.profile.firewall.rules;
    assert_eq!(fw.len(), 4 + rules.len());
    assert_eq!(fw[0], ["ufw", "default", "deny", "incoming"]);
    assert_eq!(fw[3][..2], ["ufw", "logging"]);
    assert_eq!(fw[4], crate::render::firewall::words(&rules[0]));
    let mut off = plan.clone();
    off.profile.firewall.enable = false;
    let s = node_setup(&off, "/boot/firmware", Backend::Firstrun);
    assert!(s.firewall.is_empty());
    assert!(!s.packages.iter().any(|p| p == "ufw"));
}

#[test]
fn the_checklist_is_the_guides_verification_list() {
    let plan = &plans()[0];
    let c = node_setup(plan, "/boot/firmware", Backend::Firstrun).checklist;
    assert!(c.swap_off);
    assert_eq!(c.modules, ["overlay", "br_netfilter"]);
    assert_eq!(c.cmdline, ["cgroup_memory=1", "cgroup_enable=memory"]);
    assert!(
        c.sysctl
            .contains(&("net.ipv4.ip_forward".into(), "1".into()))
    );
    assert_eq!(c.time_daemon, TimeDaemon::Chrony);
    assert!(c.firewall.enabled);
    assert_eq!(c.firewall.rules.len(), plan.profile.firewall.rules.len());
    assert_eq!(
        c.address,
        format!("{}/{}", plan.address.unwrap(), plan.prefix)
    );
    // The check script is filled from it, whatever the backend.
    let script = scripts::check(plan, &c, "/boot/firmware", Backend::Firstrun);
    assert!(script.contains("MODULES='overlay br_netfilter'"));
    assert!(script.contains("SWAP_DISABLE=yes"));
}
