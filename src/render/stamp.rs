//! The stamp: what piprep wrote on a node's boot partition and from what,
//! built in this one place (the manifest reuses its Kubernetes record).

use super::target::Target;
use crate::config::kubernetes::KubernetesPlan;
use crate::config::plan::NodePlan;
use crate::contract::{STAMP_FORMAT, Stamp, StampBase, StampKubernetes};

pub fn stamp(
    plan: &NodePlan,
    target: &Target,
    cmdline_added: &[String],
    boot_files: Vec<String>,
) -> Stamp {
    let b = target.base.as_ref();
    Stamp {
        format: STAMP_FORMAT.into(),
        piprep_version: env!("CARGO_PKG_VERSION").into(),
        cluster: plan.cluster.clone(),
        node: plan.name.clone(),
        role: plan.role.as_str().into(),
        ip: plan.cidr_text(),
        profile: plan.profile.name.clone(),
        backend: target.backend.backend.name().into(),
        backend_reason: target.backend.reason.clone(),
        config_hash: plan.config_hash(),
        cmdline_added: cmdline_added.to_vec(),
        boot_files,
        base_image: StampBase {
            sha256: b.and_then(|b| b.raw_sha256.clone()),
            download_sha256: b.and_then(|b| b.sha256.clone()),
            url: b.and_then(|b| b.url.clone()),
            release_date: b.and_then(|b| b.release_date.clone()),
            init_format: b.and_then(|b| b.init_format.clone()),
        },
        kubernetes: plan.kubernetes.as_ref().map(|k| StampKubernetes {
            bootstrap: plan
                .bootstrap_role()
                .map(|r| r.as_str().to_string())
                .unwrap_or_default(),
            ..kubernetes(k)
        }),
    }
}

/// The stamp's and manifest's record of `k`.
pub fn kubernetes(k: &KubernetesPlan) -> StampKubernetes {
    let cni = k.bootstrap.as_ref().and_then(|b| b.cni.as_ref());
    StampKubernetes {
        version: k.version.clone(),
        runtime: k.runtime.clone(),
        cni: k.cni.as_str().into(),
        pod_cidr: k.pod_cidr.clone(),
        service_cidr: k.service_cidr.clone(),
        repository: k.repository.clone(),
        key_sha256: k.key.sha256.clone().unwrap_or_default(),
        key_origin: k.key.origin.clone(),
        bootstrap: String::new(),
        cni_manifest: cni.map(|c| c.origin.clone()).unwrap_or_default(),
        cni_manifest_sha256: cni.map(|c| c.sha256.clone()).unwrap_or_default(),
    }
}
