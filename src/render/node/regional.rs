//! Time zone, locale and keyboard layout: applied by the offline preparation
//! (they need no network), checked by the checklist.

use super::model::{Check, Part};
use crate::config::plan::NodePlan;

pub fn part(plan: &NodePlan) -> Part {
    if plan.regional.is_empty() {
        return Part::default();
    }
    Part {
        checks: vec![Check::Regional(plan.regional.clone())],
        ..Part::default()
    }
}
