//! What the inventory asks of the base image itself, checked once the image
//! is at hand (bake, render --image, validate with a local or cached image).
//! Pure: the caller reads the image's facts and passes them in.

use std::collections::BTreeSet;

use toml::Spanned;

use super::{Finding, Severity};
use crate::config::Config;
use crate::config::closest::closest;
use crate::config::inventory::Regional;

/// The time zones, locales and keyboard layouts the image has (None: it has
/// no list of them at all).
#[derive(Default)]
pub struct Offered<'a> {
    pub zones: Option<&'a BTreeSet<String>>,
    pub locales: Option<&'a BTreeSet<String>>,
    pub keyboards: Option<&'a BTreeSet<String>>,
}

impl Offered<'_> {
    fn of(&self, r: Regional) -> Option<&BTreeSet<String>> {
        match r {
            Regional::Timezone => self.zones,
            Regional::Locale => self.locales,
            Regional::Keyboard => self.keyboards,
        }
    }
}

/// Where the image keeps the list, and the package that brings it.
fn source(r: Regional) -> (&'static str, &'static str) {
    match r {
        Regional::Timezone => ("/usr/share/zoneinfo", "tzdata"),
        Regional::Locale => ("/usr/share/i18n/SUPPORTED", "locales"),
        Regional::Keyboard => ("/usr/share/X11/xkb/rules/evdev.lst", "xkb-data"),
    }
}

/// Every timezone, locale and keyboard value of the inventory (the
/// cluster's and each node's own) against what the image has.
fn regional(cfg: &Config, image: &str, offered: &Offered, out: &mut Vec<Finding>) {
    let inv = &cfg.inventory;
    for r in Regional::ALL {
        let values =
            std::iter::once((None, inv.cluster.regional(r))).chain(inv.nodes.iter().map(|n| {
                (
                    Some(n.get_ref().name.get_ref().clone()),
                    n.get_ref().regional(r),
                )
            }));
        for (node, v) in values {
            let Some(v): Option<&Spanned<String>> = v else {
                continue;
            };
            let (list, package) = source(r);
            let at = cfg.source.at(v.span().start);
            let (message, fix) = match offered.of(r) {
                None => (
                    format!(
                        "{} `{}` cannot be set: {image} has no {list} (package {package})",
                        r.key(),
                        v.get_ref()
                    ),
                    format!(
                        "remove `{}`, or bake from an image that has {package}",
                        r.key()
                    ),
                ),
                Some(set) if set.contains(v.get_ref()) => continue,
                Some(set) => (
                    format!("{} `{}` is not in {image}'s {list}", r.key(), v.get_ref()),
                    match closest(v.get_ref(), set) {
                        Some(c) => format!("use {} = \"{c}\", the closest the image has", r.key()),
                        None => format!("the image lists no {}; remove it", r.key()),
                    },
                ),
            };
            out.push(Finding {
                severity: Severity::Error,
                at,
                node,
                message,
                fix,
            });
        }
    }
}

/// Architectures Kubernetes publishes packages for (pkgs.k8s.io).
const KUBERNETES_ARCHES: &[&str] = &["arm64", "amd64", "ppc64le", "s390x"];

/// Findings about `image` (a name for messages) whose Debian architecture is
/// `arch` (None when the image does not say) and which offers `offered`.
pub fn check(cfg: &Config, image: &str, arch: Option<&str>, offered: &Offered) -> Vec<Finding> {
    let mut out = Vec::new();
    regional(cfg, image, offered, &mut out);
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
