//! `piprep kubeconfig`: a kubeconfig for the cluster `bootstrap = true`
//! forms, signed now with the cluster's CA, written to a file (0600) or
//! merged into ~/.kube/config.

use std::path::PathBuf;

use super::context::{Ctx, in_home};
use crate::cli::KubeconfigArgs;
use crate::cluster_pki::{self, store};
use crate::error::{Error, Result};
use crate::fleet::kubeconfig as kc;
use crate::io::atomic::{Holds, replace_keeping_mode, resolve_links, write_atomic};

pub fn kubeconfig(ctx: &Ctx, args: &KubeconfigArgs) -> Result<()> {
    // Only the inventory: signing needs no repository key or CNI manifest.
    let cfg = crate::config::Config::load(&ctx.config)?;
    let (plans, _) = cfg.plans()?;
    let b = plans
        .iter()
        .find_map(|p| p.bootstrap())
        .ok_or_else(|| {
            Error::config(format!(
                "{} has no `bootstrap = true` in [kubernetes], so piprep holds no CA to sign a kubeconfig with; fix: set it (the cluster then forms itself), or copy /etc/kubernetes/admin.conf from the control plane",
                cfg.path.display()
            ))
        })?;
    let secrets = store::require(&cfg)?;
    let (cert, key) =
        cluster_pki::sign_client(&secrets.ca, kc::ADMIN_USER, cluster_pki::ADMIN_GROUP)?;
    let cluster = cfg.inventory.cluster.name.get_ref();
    let server = b.api_endpoint();
    let ours = kc::document(cluster, &server, &secrets.ca.cert, &cert, &key);
    let n = kc::names(cluster);
    if !args.merge {
        let out = args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{cluster}.kubeconfig")));
        let text = crate::render::yaml::to_string(&ours);
        write_atomic(&out, text.as_bytes(), Holds::Secret)
            .map_err(|e| Error::output_io(&out, "cannot write", &e))?;
        crate::reporter::say(format!(
            "{}: kubeconfig for cluster {cluster} (https://{server}, user {} in group {}); try: KUBECONFIG={} kubectl get nodes",
            out.display(),
            kc::ADMIN_USER,
            cluster_pki::ADMIN_GROUP,
            out.display()
        ));
        return Ok(());
    }
    let file = match &args.out {
        Some(f) => f.clone(),
        None => in_home(".kube", "config", "--out FILE")?,
    };
    let file =
        resolve_links(&file).map_err(|e| Error::output_io(&file, "cannot follow the link", &e))?;
    let existing = match crate::io::input::read_text(&file, crate::io::input::TEXT_CAP) {
        Ok(t) => serde_yaml_ng::from_str::<serde_json::Value>(&t).map_err(|e| {
            Error::config(format!(
                "{} is not a kubeconfig piprep can read ({e}); fix: repair it, or write a separate file with --out FILE without --merge",
                file.display()
            ))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::Value::Null,
        Err(e) => return Err(Error::output_io(&file, "cannot read", &e)),
    };
    let (merged, previous) = kc::merge(existing, &ours).map_err(|why| {
        Error::config(format!(
            "{} {why}; fix: repair it, or write a separate file with --out FILE without --merge",
            file.display()
        ))
    })?;
    let text = crate::render::yaml::to_string(&merged);
    // The file holds client keys: private whatever its mode was.
    replace_keeping_mode(&file, text.as_bytes(), 0o600)
        .map_err(|e| Error::output_io(&file, "cannot write", &e))?;
    let back = previous
        .map(|p| format!("; `kubectl config use-context {p}` goes back"))
        .unwrap_or_default();
    crate::reporter::say(format!(
        "{}: cluster {cluster} (https://{server}) merged as context {}, now the current one{back}",
        file.display(),
        n.context
    ));
    Ok(())
}
