//! The fleet commands: `status`, `known-hosts`, `rekey` and `export`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use super::context::{Ctx, in_home, load_plans, print};
use crate::cli::{
    ExportArgs, ExportFormat, ExportKind, ExportLayout, KnownHostsArgs, RekeyArgs, StatusArgs,
};
use crate::config::Config;
use crate::config::plan::NodePlan;
use crate::error::{Error, Kind, Result};
use crate::fleet::{export as fx, status as st};
use crate::host_keys::known_hosts;
use crate::host_keys::store::{self, Missing};

use crate::bake::outputs::KNOWN_HOSTS;

pub fn known_hosts_cmd(ctx: &Ctx, args: &KnownHostsArgs) -> Result<()> {
    let (_, plans) = load_plans(ctx, Missing::Refuse)?;
    let all: Vec<&NodePlan> = plans.iter().collect();
    let ours = if args.hashed {
        let salts = (0..known_hosts::salts_needed(&all))
            .map(|_| crate::host_keys::random::<20>())
            .collect::<Result<Vec<_>>>()?;
        known_hosts::lines(&all, Some(&salts))
    } else {
        known_hosts::lines(&all, None)
    };
    if !args.install {
        return print(&ours);
    }
    let file = match &args.file {
        Some(f) => f.clone(),
        None => in_home(".ssh", "known_hosts", "--file PATH")?,
    };
    // A link stays a link: the file it points to is the one replaced, with
    // its mode as it was.
    let file = crate::io::atomic::resolve_links(&file)
        .map_err(|e| Error::output_io(&file, "cannot follow the link", &e))?;
    let (existing, mode) = match crate::io::input::read(&file, crate::io::input::TEXT_CAP) {
        Ok(b) => {
            use std::os::unix::fs::MetadataExt;
            let mode = std::fs::metadata(&file).map_or(0o600, |m| m.mode() & 0o7777);
            (b, mode)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Vec::new(), 0o600),
        Err(e) => return Err(Error::output_io(&file, "cannot read", &e)),
    };
    let hosts: Vec<String> = plans.iter().flat_map(|p| p.host_names()).collect();
    let (text, replaced) = known_hosts::merge(&existing, &hosts, &ours);
    crate::io::atomic::replace_keeping_mode(&file, &text, mode)
        .map_err(|e| Error::output_io(&file, "cannot write", &e))?;
    crate::reporter::say(format!(
        "{}: {} lines for {} nodes written, {replaced} stale lines replaced",
        file.display(),
        ours.lines().count(),
        plans.len()
    ));
    Ok(())
}

pub fn rekey(ctx: &Ctx, args: &RekeyArgs) -> Result<()> {
    let cfg = Config::load(&ctx.config)?;
    // Not the full validation: a broken key store is what rekey repairs.
    let names: Vec<&str> = cfg
        .inventory
        .nodes
        .iter()
        .map(|n| n.get_ref().name.get_ref().as_str())
        .collect();
    if let Some(bad) = args.nodes.iter().find(|n| !names.contains(&n.as_str())) {
        return Err(Error::config(format!(
            "unknown node `{}` in {}; known nodes: {}",
            bad.escape_debug(),
            ctx.config.display(),
            names.join(", ")
        )));
    }
    if args.cluster {
        let bootstrap = cfg
            .inventory
            .kubernetes
            .as_ref()
            .and_then(|k| k.get_ref().bootstrap.as_ref())
            .is_some_and(|b| *b.get_ref());
        if !bootstrap {
            return Err(Error::config(format!(
                "{} has no `bootstrap = true` in [kubernetes], so the cluster has no CAs or token of piprep's to replace; fix: set it, or drop --cluster",
                ctx.config.display()
            )));
        }
        let s = crate::cluster_pki::store::rekey(&cfg)?;
        crate::reporter::say(format!(
            "cluster {}: new CAs, service-account key and bootstrap token (CA {}); every node must be baked and flashed again, and kubeconfigs made again with `piprep kubeconfig`",
            cfg.inventory.cluster.name.get_ref(),
            s.ca_cert_hash
        ));
    }
    for node in &args.nodes {
        for k in store::rekey(&cfg, node)? {
            crate::reporter::say(format!(
                "node {node}: new SSH host key {} ({}); bake and flash it again, then `piprep known-hosts --install`",
                store::fingerprint(&k),
                k.kind
            ));
        }
    }
    Ok(())
}

pub fn export(ctx: &Ctx, args: &ExportArgs) -> Result<()> {
    let (_, plans) = load_plans(ctx, Missing::Skip)?;
    let all: Vec<&NodePlan> = plans.iter().collect();
    let known = ctx.out_dir(args.out.as_deref()).join(KNOWN_HOSTS);
    if !known.is_file() {
        crate::reporter::say(format!(
            "warning: {} does not exist yet, and the inventory points ssh at it; run `piprep bake` first, or pass --out DIR where it is",
            known.display()
        ));
    }
    let kh = std::path::absolute(&known).unwrap_or(known);
    let text = match (args.what, args.format, args.layout) {
        (ExportKind::Hosts, _, _) => fx::hosts_block(&all),
        (ExportKind::Ansible, ExportFormat::Ini, ExportLayout::Kubespray) => {
            fx::kubespray_ini(&all, &kh)
        }
        (ExportKind::Ansible, ExportFormat::Yaml, ExportLayout::Kubespray) => {
            return Err(Error::config(
                "--layout kubespray writes Kubespray's inventory.ini: drop --format yaml",
            ));
        }
        (ExportKind::Ansible, ExportFormat::Ini, _) => fx::ansible_ini(&all, &kh),
        (ExportKind::Ansible, ExportFormat::Yaml, _) => fx::ansible_yaml(&all, &kh),
    };
    print(&text)
}

pub fn status(ctx: &Ctx, args: &StatusArgs) -> Result<()> {
    let (cfg, plans) = load_plans(ctx, Missing::Skip)?;
    let chosen = if args.node.is_empty() && !args.all {
        plans.iter().collect()
    } else {
        cfg.select(&plans, &args.node, args.all)?
    };
    let known = ctx.out_dir(args.out.as_deref()).join(KNOWN_HOSTS);
    if !known.is_file() {
        return Err(Error::config(format!(
            "{} does not exist; fix: run `piprep bake` (it writes it), or pass --out DIR where it is",
            known.display()
        )));
    }
    let overrides: Vec<(&str, &str, Option<u16>)> = args
        .address
        .iter()
        .map(|a| (a.node.as_str(), a.host.as_str(), a.port))
        .collect();
    let targets = st::targets(&chosen, &overrides)?;
    let kubernetes = targets.iter().any(|t| t.kubernetes);
    let started = Instant::now();
    // On a terminal, --watch redraws one table in place.
    let live = args.watch && !args.json && std::io::stdout().is_terminal();
    let mut drawn = 0;
    let rows = loop {
        let rows = st::probe_all(&targets, &known, &args.ssh_option);
        let done = rows.iter().all(|r| r.ready);
        let timed_out = started.elapsed() >= Duration::from_secs(args.timeout);
        let finished = !args.watch || done || timed_out;
        let ready = rows.iter().filter(|r| r.ready).count();
        let progress = format!(
            "status: {ready} of {} nodes ready after {} s",
            rows.len(),
            started.elapsed().as_secs()
        );
        if live {
            let header = if finished {
                progress.clone()
            } else {
                format!(
                    "{progress}; checking again in {} s (Ctrl-C stops)",
                    args.interval
                )
            };
            let table = crate::fleet::status_table::table(&rows, kubernetes);
            let (text, lines) = crate::fleet::watch::frame(drawn, &header, &table);
            print(&text)?;
            drawn = lines;
        }
        if finished {
            break rows;
        }
        if !live {
            crate::reporter::say(format!("{progress}; checking again in {} s", args.interval));
        }
        std::thread::sleep(Duration::from_secs(args.interval));
    };
    if args.json {
        let doc = serde_json::json!({
            "nodes": rows,
            "ready": rows.iter().all(|r| r.ready),
        });
        print(&(serde_json::to_string_pretty(&doc).expect("json") + "\n"))?;
    } else if !live {
        print(&crate::fleet::status_table::table(&rows, kubernetes))?;
    }
    if rows.iter().any(|r| r.result == "none") {
        let n = rows.iter().filter(|r| r.result == "none").count();
        return Err(Error::new(
            Kind::NoReport,
            format!(
                "{n} of {} nodes could not be reached or gave no report",
                rows.len()
            ),
        ));
    }
    if rows.iter().any(|r| !r.ready) {
        let failing = rows.iter().filter(|r| !r.failing.is_empty()).count();
        let not_in = rows
            .iter()
            .filter(|r| r.failing.is_empty() && !r.ready)
            .count();
        let mut why = Vec::new();
        if failing > 0 {
            why.push(format!(
                "{failing} of {} nodes have failing checks",
                rows.len()
            ));
        }
        if not_in > 0 {
            why.push(format!(
                "{not_in} of {} nodes are not Ready in the cluster yet",
                rows.len()
            ));
        }
        return Err(Error::new(Kind::ChecksFailed, why.join("; ")));
    }
    Ok(())
}
