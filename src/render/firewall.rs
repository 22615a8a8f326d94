//! ufw: the commands that build the rule set, and the lines `ufw status verbose`
//! prints for it (whitespace collapsed), which the checklist compares against.

use crate::config::plan::FirewallPlan;
use crate::config::profile::{Action, Direction, Policy, Proto, RuleSpec};

fn policy(p: Policy) -> &'static str {
    match p {
        Policy::Allow => "allow",
        Policy::Deny => "deny",
        Policy::Reject => "reject",
    }
}

fn action(a: Action) -> &'static str {
    match a {
        Action::Allow => "allow",
        Action::Deny => "deny",
        Action::Reject => "reject",
        Action::Limit => "limit",
    }
}

fn proto(p: Proto) -> &'static str {
    match p {
        Proto::Tcp => "tcp",
        Proto::Udp => "udp",
    }
}

/// The `ufw` argument words for a rule:
/// `ufw allow in proto tcp from 10.1.1.0/24 to any port 6443 comment …`, or
/// `ufw route allow from 10.244.0.0/16 to any comment …` for routed traffic.
pub fn words(r: &RuleSpec) -> Vec<String> {
    let mut w = vec!["ufw".to_string()];
    match r.direction {
        Direction::In => w.extend([action(r.action).into(), "in".into()]),
        Direction::Out => w.extend([action(r.action).into(), "out".into()]),
        Direction::Routed => w.extend(["route".into(), action(r.action).into()]),
    }
    if let Some(p) = r.proto {
        w.extend(["proto".into(), proto(p).into()]);
    }
    w.extend(["from".into(), r.from.clone(), "to".into(), r.to.clone()]);
    if let Some(port) = &r.port {
        w.extend(["port".into(), port.clone()]);
    }
    if let Some(cm) = &r.comment {
        w.extend(["comment".into(), cm.clone()]);
    }
    w
}

/// The IPv4 line of `ufw status verbose` for this rule, spaces collapsed.
pub fn status_line(r: &RuleSpec) -> String {
    let port = r.port.as_ref().map(|p| match r.proto {
        Some(pr) => format!("{p}/{}", proto(pr)),
        None => p.clone(),
    });
    let to = match (r.to.as_str(), port) {
        ("any", Some(p)) => p,
        ("any", None) => "Anywhere".to_string(),
        (addr, Some(p)) => format!("{addr} {p}"),
        (addr, None) => addr.to_string(),
    };
    let from = if r.from == "any" {
        "Anywhere"
    } else {
        r.from.as_str()
    };
    let act = format!(
        "{} {}",
        action(r.action).to_uppercase(),
        match r.direction {
            Direction::In => "IN",
            Direction::Out => "OUT",
            Direction::Routed => "FWD",
        }
    );
    let mut line = format!("{to} {act} {from}");
    if let Some(cm) = &r.comment {
        line += &format!(" # {cm}");
    }
    line
}

/// `Default: deny (incoming), deny (outgoing), deny (routed)` without the prefix.
pub fn defaults_line(fw: &FirewallPlan) -> String {
    format!(
        "{} (incoming), {} (outgoing), {} (routed)",
        policy(fw.default_incoming),
        policy(fw.default_outgoing),
        policy(fw.default_routed)
    )
}

/// `ufw default POLICY DIRECTION` arguments, in the order the rules apply them.
pub fn defaults_words(fw: &FirewallPlan) -> [(&'static str, &'static str); 3] {
    [
        (policy(fw.default_incoming), "incoming"),
        (policy(fw.default_outgoing), "outgoing"),
        (policy(fw.default_routed), "routed"),
    ]
}

/// `Logging: on (low)` without the prefix.
pub fn logging_line(fw: &FirewallPlan) -> String {
    match fw.logging.as_str() {
        "off" => "off".to_string(),
        "on" => "on (low)".to_string(),
        level => format!("on ({level})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(
        dir: Direction,
        from: &str,
        to: &str,
        port: Option<&str>,
        pr: Option<Proto>,
        cm: &str,
    ) -> RuleSpec {
        RuleSpec {
            direction: dir,
            action: Action::Allow,
            port: port.map(str::to_string),
            proto: pr,
            from: from.into(),
            to: to.into(),
            comment: Some(cm.into()),
            roles: None,
        }
    }

    #[test]
    fn status_lines_match_the_guide() {
        // Lines from the guide's `ufw status verbose`, with spaces collapsed.
        let cases = [
            (
                r(
                    Direction::In,
                    "any",
                    "any",
                    Some("22"),
                    Some(Proto::Tcp),
                    "Allow SSH access",
                ),
                "22/tcp ALLOW IN Anywhere # Allow SSH access",
            ),
            (
                r(
                    Direction::In,
                    "10.1.1.0/24",
                    "any",
                    Some("2379:2380"),
                    Some(Proto::Tcp),
                    "etcd",
                ),
                "2379:2380/tcp ALLOW IN 10.1.1.0/24 # etcd",
            ),
            (
                r(
                    Direction::Out,
                    "any",
                    "any",
                    Some("53"),
                    None,
                    "Allow outgoing DNS traffic",
                ),
                "53 ALLOW OUT Anywhere # Allow outgoing DNS traffic",
            ),
            (
                r(
                    Direction::Out,
                    "any",
                    "10.1.1.0/24",
                    Some("6443"),
                    Some(Proto::Tcp),
                    "api",
                ),
                "10.1.1.0/24 6443/tcp ALLOW OUT Anywhere # api",
            ),
            (
                r(
                    Direction::Out,
                    "any",
                    "127.0.0.1",
                    Some("10251"),
                    Some(Proto::Tcp),
                    "s",
                ),
                "127.0.0.1 10251/tcp ALLOW OUT Anywhere # s",
            ),
        ];
        for (rule, want) in cases {
            assert_eq!(status_line(&rule), want);
        }
    }

    #[test]
    fn commands_quote_comments() {
        let rule = r(
            Direction::In,
            "10.1.1.0/24",
            "any",
            Some("6443"),
            Some(Proto::Tcp),
            "it's the API",
        );
        assert_eq!(
            crate::render::shell::command_line(&words(&rule)),
            r"ufw allow in proto tcp from 10.1.1.0/24 to any port 6443 comment 'it'\''s the API'"
        );
    }
}
