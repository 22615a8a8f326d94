//! Time zone, locale and keyboard layout: their shape here (they go into
//! file names and the first-boot script), their existence in the base image
//! once it is at hand (`validate::image`).

use toml::Spanned;

use super::checker::Checker;
use crate::config::inventory::{Cluster, NodeEntry, Regional};
use crate::config::plan::RegionalPlan;

/// Why `v` cannot be a value of `r`, if it cannot.
fn shape_problem(r: Regional, v: &str) -> Option<&'static str> {
    let ok_chars = |extra: &str| {
        v.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || extra.contains(ch))
    };
    let fine = !v.is_empty()
        && v.len() <= 64
        && match r {
            // Europe/Berlin, Etc/GMT+1, America/Argentina/Buenos_Aires, UTC
            Regional::Timezone => {
                ok_chars("/_+-")
                    && v.split('/')
                        .all(|c| c.starts_with(|ch: char| ch.is_ascii_uppercase()))
            }
            // en_GB.UTF-8, sr_RS@latin, C.UTF-8
            Regional::Locale => {
                ok_chars("_.@-") && v.starts_with(|ch: char| ch.is_ascii_alphabetic())
            }
            // gb, us, de, latam
            Regional::Keyboard => {
                ok_chars("_-") && v.starts_with(|ch: char| ch.is_ascii_lowercase())
            }
        };
    (!fine).then_some(match r {
        Regional::Timezone => "is not a time zone name such as \"Europe/Berlin\"",
        Regional::Locale => "is not a locale name such as \"en_GB.UTF-8\"",
        Regional::Keyboard => "is not a keyboard layout such as \"gb\" or \"de\"",
    })
}

fn example(r: Regional) -> &'static str {
    match r {
        Regional::Timezone => "timezone = \"Europe/Berlin\" (see `timedatectl list-timezones`)",
        Regional::Locale => "locale = \"en_GB.UTF-8\" (see /usr/share/i18n/SUPPORTED)",
        Regional::Keyboard => "keyboard = \"gb\" (an XKB layout, as in /etc/default/keyboard)",
    }
}

fn checked(
    c: &mut Checker,
    r: Regional,
    v: &Spanned<String>,
    node: Option<&str>,
) -> Option<String> {
    if let Some(why) = shape_problem(r, v.get_ref()) {
        let at = c.at(v);
        c.error(
            at,
            node,
            format!("{} `{}` {why}", r.key(), v.get_ref().escape_debug()),
            &format!("write it like {}", example(r)),
        );
        return None;
    }
    Some(v.get_ref().clone())
}

/// `[cluster]`'s settings, checked once.
pub fn cluster(c: &mut Checker, cl: &Cluster) -> RegionalPlan {
    let mut plan = RegionalPlan::default();
    for r in Regional::ALL {
        if let Some(v) = cl.regional(r) {
            *plan.get_mut(r) = checked(c, r, v, None);
        }
    }
    plan
}

/// A node's settings: its own where it has them, else the cluster's.
pub fn node(c: &mut Checker, n: &NodeEntry, cluster: &RegionalPlan) -> RegionalPlan {
    let mut plan = cluster.clone();
    let name = n.name.get_ref().as_str();
    for r in Regional::ALL {
        if let Some(v) = n.regional(r) {
            *plan.get_mut(r) = checked(c, r, v, Some(name));
        }
    }
    plan
}
