//! `piprep status`: each node over SSH, its host key checked against the
//! fleet's known_hosts, its checklist run, one row per node. The system ssh
//! client does the connecting; a node that cannot be reached is a row.

use std::path::Path;
use std::process::{Command, Stdio};

use serde::Serialize;

use crate::config::plan::NodePlan;
use crate::report::{Outcome, Report};

/// Runs the checklist as root and prints its report (constant text: no
/// inventory value is part of it).
const REMOTE: &str = "sudo -n sh -c 'r=/run/piprep-status-report.txt; \
PIPREP_REPORT=$r /usr/local/lib/piprep/check.sh status >/dev/null 2>&1; cat $r'";

/// Where and how to reach one node.
#[derive(Debug, Clone)]
pub struct Target {
    pub node: String,
    pub role: String,
    pub address: String,
    pub user: String,
    /// Host and port to connect to (the inventory address, or a mapping).
    pub host: String,
    pub port: Option<u16>,
    /// With [kubernetes]: the readiness also covers the runtime and packages.
    pub kubernetes: bool,
    /// With `bootstrap = true`: ready means the cluster calls the node Ready.
    pub bootstrap: bool,
}

impl Target {
    pub fn of(plan: &NodePlan) -> Target {
        Target {
            node: plan.name.clone(),
            role: plan.role.as_str().into(),
            address: plan.address_text(),
            user: plan.user.name.clone(),
            host: plan.reach(),
            port: None,
            kubernetes: plan.kubernetes.is_some(),
            bootstrap: plan.bootstrap().is_some(),
        }
    }
}

/// What `status` probes: each chosen node at its inventory address, or
/// where an override (`--address NODE=HOST[:PORT]`) says it is reachable.
pub fn targets(
    chosen: &[&NodePlan],
    overrides: &[(&str, &str, Option<u16>)],
) -> crate::error::Result<Vec<Target>> {
    let mut targets: Vec<Target> = chosen.iter().map(|p| Target::of(p)).collect();
    for (node, host, port) in overrides {
        let t = targets
            .iter_mut()
            .find(|t| t.node == *node)
            .ok_or_else(|| {
                crate::error::Error::config(format!(
                    "--address names node `{node}`, which is not being checked"
                ))
            })?;
        t.host = host.to_string();
        t.port = *port;
    }
    Ok(targets)
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    pub node: String,
    pub role: String,
    pub address: String,
    /// Where it was reached, as `HOST:PORT`, when `--address` moved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probed: Option<String>,
    pub reachable: bool,
    /// Why not, when not reachable (ssh's last line).
    pub error: Option<String>,
    /// `pass`, `fail`, or `none` when there is no report.
    pub result: String,
    pub failing: Vec<String>,
    pub ready: bool,
    /// With `bootstrap = true`: `Ready`, `NotReady`, `not joined yet`, or
    /// why kubeadm has not joined it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<String>,
}

/// The node's place in the cluster, from its report's bootstrap items.
fn cluster_state(rep: &Report) -> String {
    let item = |name: &str| rep.items.iter().find(|i| i.check == name);
    let kubeadm = item("kubeadm.join").or_else(|| item("kubeadm.init"));
    match (kubeadm, item("node.ready")) {
        (Some(k), _) if k.result == Outcome::Fail => format!("failed: {}", k.observed),
        (_, Some(r)) => r.observed.clone(),
        _ => "unknown (no node.ready in its report)".into(),
    }
}

/// The ssh command line for `t`.
pub fn ssh_command(t: &Target, known_hosts: &Path, options: &[String]) -> Command {
    let mut c = Command::new("ssh");
    for o in [
        "BatchMode=yes".to_string(),
        "StrictHostKeyChecking=yes".into(),
        format!(
            "UserKnownHostsFile={}",
            super::quote::ssh_value(&known_hosts.display().to_string())
        ),
        "GlobalKnownHostsFile=/dev/null".into(),
        // The key is looked up under the node's name, wherever it is reached.
        format!("HostKeyAlias={}", t.node),
        "ConnectTimeout=10".into(),
        "LogLevel=ERROR".into(),
    ]
    .iter()
    .chain(options)
    {
        c.arg("-o").arg(o);
    }
    if let Some(p) = t.port {
        c.arg("-p").arg(p.to_string());
    }
    c.arg(format!("{}@{}", t.user, t.host)).arg(REMOTE);
    c.stdin(Stdio::null());
    c
}

/// The row for a node from ssh's outcome.
pub fn row(t: &Target, ssh_ok: bool, stdout: &str, stderr: &str) -> Row {
    let mut r = Row {
        node: t.node.clone(),
        role: t.role.clone(),
        address: t.address.clone(),
        probed: (t.host != t.address || t.port.is_some())
            .then(|| format!("{}:{}", t.host, t.port.unwrap_or(22))),
        reachable: false,
        error: None,
        result: "none".into(),
        failing: Vec::new(),
        ready: false,
        kubernetes: None,
    };
    let report: Option<Report> = crate::report::parse(stdout)
        .ok()
        .filter(|r| !r.items.is_empty());
    match report {
        Some(rep) => {
            r.reachable = true;
            r.failing = rep
                .items
                .iter()
                .filter(|i| i.result == Outcome::Fail)
                .map(|i| i.check.clone())
                .collect();
            r.result = if r.failing.is_empty() { "pass" } else { "fail" }.into();
            r.ready = r.failing.is_empty();
            if t.bootstrap {
                let state = cluster_state(&rep);
                r.ready &= state == "Ready";
                r.kubernetes = Some(state);
            }
        }
        None => {
            let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
            r.reachable = ssh_ok;
            r.error = Some(match (ssh_ok, last) {
                (true, _) => {
                    "connected, but the node returned no report (is it baked by piprep?)".into()
                }
                (false, Some(l)) => l.trim().to_string(),
                (false, None) => "ssh failed".into(),
            });
        }
    }
    r
}

/// At most this many ssh processes at once: a 1,000-node fleet must not
/// start 1,000 (file descriptors, process limits, a flood of connections).
pub const MAX_PROBES: usize = 32;

/// Probe every target, MAX_PROBES at a time, rows in target order.
pub fn probe_all(targets: &[Target], known_hosts: &Path, options: &[String]) -> Vec<Row> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let rows: Vec<std::sync::Mutex<Option<Row>>> = targets
        .iter()
        .map(|_| std::sync::Mutex::new(None))
        .collect();
    std::thread::scope(|s| {
        for _ in 0..MAX_PROBES.min(targets.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(t) = targets.get(i) else { break };
                    let r = match ssh_command(t, known_hosts, options).output() {
                        Ok(o) => row(
                            t,
                            o.status.success(),
                            &String::from_utf8_lossy(&o.stdout),
                            &String::from_utf8_lossy(&o.stderr),
                        ),
                        Err(e) => row(t, false, "", &format!("cannot run ssh: {e}")),
                    };
                    *rows[i].lock().expect("no probe panics") = Some(r);
                }
            });
        }
    });
    rows.into_iter()
        .map(|r| {
            r.into_inner()
                .expect("no probe panics")
                .expect("every target probed")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::status_table::table;

    fn t() -> Target {
        Target {
            node: "cp-1".into(),
            role: "control-plane".into(),
            address: "10.1.1.11".into(),
            user: "k8s".into(),
            host: "127.0.0.1".into(),
            port: Some(2222),
            kubernetes: false,
            bootstrap: false,
        }
    }

    #[test]
    fn a_bootstrapping_node_is_ready_when_the_cluster_says_so() {
        let bt = Target {
            bootstrap: true,
            ..t()
        };
        let rep = |ready: &str, join: &str| {
            format!(
                "# format: piprep-report/1\ncheck\texpected\tobserved\tresult\nkubeadm.join\tdone\t{join}\nnode.ready\tReady\t{ready}\n"
            )
        };
        let waiting = row(
            &bt,
            true,
            &rep("not joined yet\twarn", "waiting for the API\twarn"),
            "",
        );
        assert!(!waiting.ready && waiting.result == "pass");
        assert_eq!(waiting.kubernetes.as_deref(), Some("not joined yet"));
        let ready = row(&bt, true, &rep("Ready\tpass", "joined\tpass"), "");
        assert!(ready.ready && ready.kubernetes.as_deref() == Some("Ready"));
        let other = row(
            &bt,
            true,
            &rep("not joined yet\twarn", "not this cluster\tfail"),
            "",
        );
        assert_eq!(
            other.kubernetes.as_deref(),
            Some("failed: not this cluster")
        );
        let table = table(&[waiting, ready], true);
        assert!(
            table.contains(" kubernetes ") && table.contains("not joined yet"),
            "{table}"
        );
    }

    #[test]
    fn targets_are_the_chosen_nodes_with_their_overrides() {
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/piprep.toml");
        let plans = crate::config::Config::load(&data)
            .unwrap()
            .plans()
            .unwrap()
            .0;
        let chosen: Vec<&NodePlan> = plans.iter().take(2).collect();
        let t = targets(&chosen, &[("worker-1", "127.0.0.1", Some(2222))]).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(
            (t[0].node.as_str(), t[0].host.as_str(), t[0].port),
            ("cp-1", "10.1.1.11", None)
        );
        assert_eq!(
            (t[1].node.as_str(), t[1].host.as_str(), t[1].port),
            ("worker-1", "127.0.0.1", Some(2222))
        );
        // The inventory address stays what the table shows.
        assert_eq!(t[1].address, "10.1.1.21");
        let e = targets(&chosen, &[("worker-2", "127.0.0.1", None)]).unwrap_err();
        assert!(
            e.message
                .contains("--address names node `worker-2`, which is not being checked"),
            "{}",
            e.message
        );
    }

    #[test]
    fn rows_from_reports_and_failures() {
        let report = "# piprep first-boot report\n# format: piprep-report/1\n# node: cp-1\n# phase: status\ncheck\texpected\tobserved\tresult\nswap.total\t0 kB\t0 kB\tpass\ntime.sync\tsynchronised\tnot yet\twarn\nssh.active\tactive\tinactive\tfail\n# result: fail (1)\n";
        let r = row(&t(), true, report, "");
        assert!(r.reachable && !r.ready);
        assert_eq!(
            (r.result.as_str(), r.failing.clone()),
            ("fail", vec!["ssh.active".to_string()])
        );
        let ok = report.replace("inactive\tfail", "active\tpass");
        assert!(row(&t(), true, &ok, "").ready);
        let down = row(
            &t(),
            false,
            "",
            "ssh: connect to host 127.0.0.1 port 2222: Connection refused\n",
        );
        assert!(!down.reachable && !down.ready);
        assert_eq!(
            down.error.as_deref(),
            Some("ssh: connect to host 127.0.0.1 port 2222: Connection refused")
        );
        let table = table(&[r, down], true);
        assert!(table.starts_with("node  role"));
        assert!(table.contains("ready for kubeadm"));
        assert!(table.contains("Connection refused"));
    }

    #[test]
    fn ssh_checks_the_pinned_key_under_the_node_name() {
        let c = ssh_command(
            &t(),
            Path::new("out/known_hosts"),
            &["IdentityFile=/k".into()],
        );
        let args: Vec<String> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        for want in [
            "-o StrictHostKeyChecking=yes",
            "-o UserKnownHostsFile=out/known_hosts",
            "-o HostKeyAlias=cp-1",
            "-o BatchMode=yes",
            "-o IdentityFile=/k",
            "-p 2222",
            "k8s@127.0.0.1",
        ] {
            assert!(joined.contains(want), "{want} not in {joined}");
        }
    }
}
