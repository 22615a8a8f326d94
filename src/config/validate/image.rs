//! What the inventory asks of the base image itself, checked once the image
//! is at hand (bake, render --image, validate with a local or cached image).
//! Pure: the caller reads the image's facts and passes them in.

use super::{Finding, Severity};
use crate::config::Config;

/// Architectures Kubernetes publishes packages for (pkgs.k8s.io).
const KUBERNETES_ARCHES: &[&str] = &["arm64", "amd64", "ppc64le", "s390x"];

/// Findings about `image` (a name for messages) whose Debian architecture is
/// `arch` (None when the image does not say).
pub fn check(cfg: &Config, image: &str, arch: Option<&str>) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(section) = cfg.inventory.kubernetes.as_ref() else {
        return out;
    };
    let at = cfg.source.at(section.span().start);
    match arch {
        Some(a) if KUBERNETES_ARCHES.contains(&a) => {}
        Some(a) => out.push(Finding {
            severity: Severity::Error,
            at,
            node: None,
            message: format!(
                "[kubernetes] needs a 64-bit image, but {image} is {a}: Kubernetes has published no {a} packages since v1.27, so the nodes would install nothing"
            ),
            fix: "bake from the arm64 (64-bit) Raspberry Pi OS image, or remove [kubernetes]"
                .into(),
        }),
        None => out.push(Finding {
            severity: Severity::Warning,
            at,
            node: None,
            message: format!(
                "cannot tell the architecture of {image} (no dpkg status, no readable binary)"
            ),
            fix: "make sure it is the arm64 Raspberry Pi OS image: Kubernetes has no 32-bit ARM packages"
                .into(),
        }),
    }
    out
}
