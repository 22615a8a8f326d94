//! Validation: every mistake we can catch without an image, each reported with
//! `file:line`, the node, and a fix. Building the node plans happens here too, so
//! a plan only exists for input that passed.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;
use toml::Spanned;

use super::Config;
use super::net::{Ipv4Net, hostname_problem};
use super::plan::{FirewallPlan, NodePlan, ProfilePlan, UserPlan};
use super::profile::{Action, Direction, Policy, Profile, Proto, Role, TimeDaemon};
use super::source::Location;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub at: Location,
    pub node: Option<String>,
    pub message: String,
    pub fix: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}: {sev}: ", self.at)?;
        if let Some(n) = &self.node {
            write!(f, "node {n}: ")?;
        }
        write!(f, "{}; fix: {}", self.message, self.fix)
    }
}

/// The outcome of validating an inventory: plans for valid nodes plus findings.
#[derive(Debug, Default)]
pub struct Validated {
    pub plans: Vec<NodePlan>,
    pub findings: Vec<Finding>,
}

impl Validated {
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }
}

struct Checker<'a> {
    cfg: &'a Config,
    out: Vec<Finding>,
}

impl Checker<'_> {
    fn at<T>(&self, s: &Spanned<T>) -> Location {
        self.cfg.source.at(s.span().start)
    }
    fn push(
        &mut self,
        severity: Severity,
        at: Location,
        node: Option<&str>,
        msg: String,
        fix: &str,
    ) {
        let f = Finding {
            severity,
            at,
            node: node.map(str::to_string),
            message: msg,
            fix: fix.to_string(),
        };
        if !self.out.contains(&f) {
            self.out.push(f);
        }
    }
    fn error(&mut self, at: Location, node: Option<&str>, msg: String, fix: &str) {
        self.push(Severity::Error, at, node, msg, fix);
    }
}

pub fn validate(cfg: &Config) -> Validated {
    let mut c = Checker {
        cfg,
        out: Vec::new(),
    };
    let inv = &cfg.inventory;
    let cl = &inv.cluster;

    let subnet = match cl.subnet.get_ref().parse::<Ipv4Net>() {
        Ok(n) => Some(n),
        Err(e) => {
            let at = c.at(&cl.subnet);
            c.error(
                at,
                None,
                format!("cluster subnet {e}"),
                "set `subnet` to a CIDR network such as \"10.1.1.0/24\"",
            );
            None
        }
    };
    let gateway = match cl.gateway.get_ref().parse::<Ipv4Addr>() {
        Ok(g) => {
            if let Some(net) = subnet.filter(|n| !n.contains(g)) {
                let at = c.at(&cl.gateway);
                c.error(
                    at,
                    None,
                    format!("gateway {g} is outside the cluster subnet {net}"),
                    "use the router address inside `subnet`",
                );
            }
            Some(g)
        }
        Err(_) => {
            let at = c.at(&cl.gateway);
            c.error(
                at,
                None,
                format!("gateway `{}` is not an IPv4 address", cl.gateway.get_ref()),
                "write it like \"10.1.1.1\"",
            );
            None
        }
    };
    for d in cl.dns.get_ref() {
        if d.parse::<IpAddr>().is_err() {
            let at = c.at(&cl.dns);
            c.error(
                at,
                None,
                format!("dns server `{d}` is not an IP address"),
                "list resolver addresses, such as [\"10.1.1.1\"]",
            );
        }
    }
    if cl.dns.get_ref().is_empty() {
        let at = c.at(&cl.dns);
        c.error(
            at,
            None,
            "`dns` is empty, so the node could not resolve names".into(),
            "list at least one resolver, such as [\"10.1.1.1\"]",
        );
    }
    let ntp: Vec<String> = cl
        .ntp
        .as_ref()
        .map(|n| n.get_ref().clone())
        .unwrap_or_default();
    if let Some(n) = &cl.ntp {
        for s in n.get_ref() {
            if s.is_empty()
                || s.chars()
                    .any(|ch| ch.is_whitespace() || ch.is_control() || "'\"\\$`;".contains(ch))
            {
                let at = c.at(n);
                c.error(
                    at,
                    None,
                    format!("ntp server `{s}` is not a host name or address"),
                    "list servers such as [\"pool.ntp.org\"]",
                );
            }
        }
    }
    let default_iface = cl
        .interface
        .as_ref()
        .map(|i| i.get_ref().clone())
        .unwrap_or_else(|| "eth0".into());
    if let Some(i) = &cl.interface {
        check_interface(&mut c, i, None);
    }

    if let Err((at, msg, fix)) = cfg.image_spec_checked() {
        c.error(at, None, msg, fix);
    }
    let user = check_user(&mut c);
    check_profile_exists(&mut c, &cl.profile, None);

    if inv.nodes.is_empty() {
        let at = cfg.source.at(cfg.source.text.len());
        c.error(
            at,
            None,
            "the inventory has no [[node]] entries".into(),
            "add a [[node]] table with name, ip and role",
        );
    }

    let mut names: HashMap<String, usize> = HashMap::new();
    let mut ips: HashMap<Ipv4Addr, (String, usize)> = HashMap::new();
    let mut plans = Vec::new();
    for node in &inv.nodes {
        let n = node.get_ref();
        let name = n.name.get_ref().clone();
        let node_name = Some(name.as_str());
        let mut ok = true;
        if let Some(p) = hostname_problem(&name) {
            let at = c.at(&n.name);
            c.error(
                at,
                node_name,
                format!("node name `{name}` is not a valid host name (RFC 1123): it {p}"),
                "use lowercase letters, digits and hyphens, such as \"cp-1\"",
            );
            ok = false;
        }
        let line = c.at(&n.name).line;
        if let Some(first) = names.insert(name.clone(), line) {
            let at = c.at(&n.name);
            c.error(
                at,
                node_name,
                format!("node name `{name}` is already used on line {first}"),
                "give every node its own name",
            );
            names.insert(name.clone(), first);
            ok = false;
        }
        let ip = match n.ip.get_ref().parse::<Ipv4Addr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                let at = c.at(&n.ip);
                c.error(
                    at,
                    node_name,
                    format!("ip `{}` is not an IPv4 address", n.ip.get_ref()),
                    "write it like \"10.1.1.11\"",
                );
                ok = false;
                None
            }
        };
        if let Some(ip) = ip {
            let at = c.at(&n.ip);
            if let Some(net) = subnet {
                if !net.contains(ip) {
                    c.error(
                        at.clone(),
                        node_name,
                        format!("ip {ip} is outside the cluster subnet {net}"),
                        "pick an address inside `subnet`, or widen `subnet`",
                    );
                    ok = false;
                } else if ip == net.network || (net.prefix < 31 && ip == net.broadcast()) {
                    let what = if ip == net.network {
                        "network"
                    } else {
                        "broadcast"
                    };
                    c.error(
                        at.clone(),
                        node_name,
                        format!("ip {ip} is the subnet's {what} address"),
                        "pick a host address inside `subnet`",
                    );
                    ok = false;
                }
            }
            if Some(ip) == gateway {
                c.error(
                    at.clone(),
                    node_name,
                    format!("ip {ip} is the gateway's address"),
                    "pick an address the router does not use",
                );
                ok = false;
            }
            if let Some((other, line)) = ips.get(&ip) {
                c.error(
                    at,
                    node_name,
                    format!("ip {ip} is already used by node {other} (line {line})"),
                    "give every node its own address",
                );
                ok = false;
            } else {
                ips.insert(ip, (name.clone(), c.at(&n.ip).line));
            }
        }
        let iface = match &n.interface {
            Some(i) => {
                check_interface(&mut c, i, node_name);
                i.get_ref().clone()
            }
            None => default_iface.clone(),
        };
        let profile_name = n.profile.as_ref().unwrap_or(&cl.profile);
        let profile = check_profile_exists(&mut c, profile_name, node_name);
        let profile =
            profile.map(|p| check_profile(&mut c, &p, *n.role.get_ref(), node_name).then_some(p));
        let role = *n.role.get_ref();
        if let (true, Some(ip), Some(net), Some(gw), Some(user), Some(Some(profile))) =
            (ok, ip, subnet, gateway, user.clone(), profile)
        {
            plans.push(NodePlan {
                cluster: cl.name.get_ref().clone(),
                name: name.clone(),
                role,
                address: ip,
                prefix: net.prefix,
                subnet: net.to_string(),
                gateway: gw,
                dns: cl.dns.get_ref().clone(),
                ntp: ntp.clone(),
                interface: iface,
                user,
                profile: profile_plan(&profile, role, &net.to_string()),
            });
        }
    }
    if !inv.nodes.is_empty()
        && !inv
            .nodes
            .iter()
            .any(|n| *n.get_ref().role.get_ref() == Role::ControlPlane)
    {
        let at = c.at(&inv.nodes[0].get_ref().role);
        c.push(
            Severity::Warning,
            at,
            None,
            "no node has role \"control-plane\", so `kubeadm init` has nowhere to run".into(),
            "set role = \"control-plane\" on at least one node",
        );
    }

    let findings = c.out;
    let has_errors = findings.iter().any(|f| f.severity == Severity::Error);
    Validated {
        plans: if has_errors { Vec::new() } else { plans },
        findings,
    }
}

fn check_interface(c: &mut Checker, i: &Spanned<String>, node: Option<&str>) {
    let s = i.get_ref();
    let valid = !s.is_empty()
        && s.len() <= 15
        && s.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch));
    if !valid {
        let at = c.at(i);
        c.error(
            at,
            node,
            format!("interface `{s}` is not a Linux interface name"),
            "use a name such as \"eth0\" (at most 15 characters)",
        );
    }
}

fn check_profile_exists(
    c: &mut Checker,
    name: &Spanned<String>,
    node: Option<&str>,
) -> Option<Profile> {
    match c.cfg.profiles.resolve(name.get_ref()) {
        Ok(p) => Some(p),
        Err(e) => {
            let at = c.at(name);
            c.error(
                at,
                node,
                e.message,
                "use one of the known profiles, or add profiles/NAME.toml next to piprep.toml",
            );
            None
        }
    }
}

fn check_user(c: &mut Checker) -> Option<UserPlan> {
    let Some(user) = &c.cfg.inventory.user else {
        let at = c.cfg.source.at(0);
        c.error(
            at,
            None,
            "no [user] section, so nobody could log in".into(),
            "add [user] with name and ssh_authorized_keys",
        );
        return None;
    };
    let u = user.get_ref();
    let mut ok = true;
    let name = u.name.get_ref();
    let valid_name = name.len() <= 32
        && name
            .chars()
            .next()
            .is_some_and(|ch| ch.is_ascii_lowercase())
        && name
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-');
    if !valid_name || name == "root" {
        let at = c.at(&u.name);
        c.error(
            at,
            None,
            format!("user name `{name}` is not allowed"),
            "use a lowercase name matching ^[a-z][a-z0-9-]*$, at most 32 characters, not root",
        );
        ok = false;
    }
    for key in &u.ssh_authorized_keys {
        if let Some(p) = ssh_key_problem(key.get_ref()) {
            let at = c.at(key);
            c.error(
                at,
                None,
                format!("ssh key {p}"),
                "paste one line of an OpenSSH public key (the content of ~/.ssh/id_ed25519.pub)",
            );
            ok = false;
        }
    }
    if let Some(h) = &u.password_hash
        && !is_crypt_hash(h.get_ref())
    {
        let at = c.at(h);
        // Never echo the value: it is a secret.
        c.error(
            at,
            None,
            "password_hash is not a crypt(3) hash such as $6$…".into(),
            "generate one with `openssl passwd -6` or `mkpasswd -m sha-512`",
        );
        ok = false;
    }
    if u.ssh_authorized_keys.is_empty() && u.password_hash.is_none() {
        let at = c.at(user);
        c.error(
            at,
            None,
            "the user has neither ssh_authorized_keys nor password_hash, so nobody could log in"
                .into(),
            "add your public key to ssh_authorized_keys",
        );
        ok = false;
    }
    ok.then(|| UserPlan {
        name: name.clone(),
        ssh_authorized_keys: u
            .ssh_authorized_keys
            .iter()
            .map(|k| k.get_ref().trim().to_string())
            .collect(),
        password_hash: u.password_hash.as_ref().map(|h| h.get_ref().clone()),
    })
}

fn ssh_key_problem(key: &str) -> Option<String> {
    const TYPES: &[&str] = &[
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
        "ssh-dss",
    ];
    let key = key.trim();
    if key.contains('\n') || key.contains('\r') {
        return Some("spans several lines".into());
    }
    let mut parts = key.split_whitespace();
    let ty = parts.next().unwrap_or("");
    if !TYPES.contains(&ty) {
        return Some(format!(
            "does not start with a key type such as ssh-ed25519 (found `{}`)",
            ty.chars().take(20).collect::<String>()
        ));
    }
    let body = parts.next().unwrap_or("");
    if body.len() < 16
        || !body
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "+/=".contains(ch))
    {
        return Some(format!("of type {ty} has no base64 key data"));
    }
    None
}

/// crypt(3) hashes as glibc/libxcrypt write them: `$id$…`, no `:` (the
/// chpasswd/userconf separator) and no whitespace.
pub fn is_crypt_hash(h: &str) -> bool {
    const IDS: &[&str] = &[
        "$1$", "$5$", "$6$", "$y$", "$gy$", "$7$", "$2a$", "$2b$", "$2y$",
    ];
    IDS.iter().any(|id| h.starts_with(id))
        && h.len() > 10
        && h.matches('$').count() >= 3
        && !h
            .chars()
            .any(|ch| ch == ':' || ch.is_whitespace() || ch.is_control())
}

/// Checks that depend on a profile, done per node because rules filter by role.
/// Returns false if the profile has errors.
fn check_profile(c: &mut Checker, p: &Profile, role: Role, node: Option<&str>) -> bool {
    let before = c
        .out
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let safe_word = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "_-".contains(ch))
    };
    if !safe_word(&p.conf_name) {
        let at = p.locate("conf_name");
        c.error(
            at,
            None,
            format!(
                "profile {}: conf_name `{}` is not a plain file stem",
                p.name, p.conf_name
            ),
            "use letters, digits, '-' and '_' only",
        );
    }
    for m in &p.modules {
        if !safe_word(m) {
            let at = p.locate(m);
            c.error(
                at,
                None,
                format!(
                    "profile {}: kernel module `{m}` is not a module name",
                    p.name
                ),
                "use names as modprobe takes them, such as \"br_netfilter\"",
            );
        }
    }
    for a in &p.cmdline {
        if let Some(why) = super::cmdline::unsafe_token(a) {
            let at = p.locate(a);
            c.error(
                at,
                None,
                format!(
                    "profile {}: cmdline argument `{}` cannot be added safely: {why}",
                    p.name,
                    a.escape_debug()
                ),
                "remove it from `cmdline`, or rename it so it neither starts with `quiet` or `resize` nor contains `splash`, `firstboot`, `init=`, `ds=` or `systemd.`",
            );
        }
    }
    for (k, v) in &p.sysctl {
        let key_ok = k.contains('.')
            && !k.starts_with('.')
            && !k.ends_with('.')
            && !k.contains("..")
            && k.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "._-/".contains(ch));
        if !key_ok {
            let at = p.locate(k);
            c.error(
                at,
                None,
                format!("profile {}: `{k}` is not a sysctl key", p.name),
                "write keys as in `sysctl -a`, such as \"net.ipv4.ip_forward\"",
            );
        }
        if v.is_empty() || v.chars().any(|ch| ch == '\n' || ch == '\'' || ch == '\\') {
            let at = p.locate(k);
            c.error(
                at,
                None,
                format!("profile {}: sysctl `{k}` has an unusable value", p.name),
                "use a single-line value such as \"1\"",
            );
        }
    }
    let fw = &p.firewall;
    let rules: Vec<_> = fw
        .rules
        .iter()
        .filter(|r| r.spec.applies_to(role))
        .collect();
    for r in &fw.rules {
        let s = &r.spec;
        if let Some(port) = &s.port {
            let ok = !port.is_empty()
                && port.split(',').all(|part| {
                    let mut nums = part.split(':');
                    let valid =
                        |x: Option<&str>| x.is_some_and(|x| x.parse::<u16>().is_ok_and(|n| n > 0));
                    match part.matches(':').count() {
                        0 => valid(nums.next()),
                        1 => valid(nums.next()) && valid(nums.next()),
                        _ => false,
                    }
                });
            if !ok {
                c.error(
                    r.at.clone(),
                    None,
                    format!(
                        "profile {}: firewall port `{port}` is not a port, range or list",
                        p.name
                    ),
                    "write \"22\", \"2379:2380\" or \"80,443\"",
                );
            }
            if (port.contains(':') || port.contains(',')) && s.proto.is_none() {
                c.error(
                    r.at.clone(),
                    None,
                    format!("profile {}: port range `{port}` needs a proto", p.name),
                    "add proto = \"tcp\" or \"udp\" (ufw requires it for ranges and lists)",
                );
            }
        }
        for addr in [&s.from, &s.to] {
            let a = addr.replace("{subnet}", "10.0.0.0/8");
            let ok = a == "any"
                || a.parse::<IpAddr>().is_ok()
                || a.split_once('/').is_some_and(|(ip, len)| {
                    ip.parse::<IpAddr>().is_ok() && len.parse::<u8>().is_ok_and(|l| l <= 128)
                });
            if !ok {
                c.error(
                    r.at.clone(),
                    None,
                    format!(
                        "profile {}: firewall address `{addr}` is not any, an address or a CIDR",
                        p.name
                    ),
                    "use \"any\", \"{subnet}\", \"127.0.0.1\" or \"10.1.1.0/24\"",
                );
            }
        }
        if s.comment
            .as_deref()
            .is_some_and(|cm| cm.chars().any(|ch| ch.is_control()))
        {
            c.error(
                r.at.clone(),
                None,
                format!("profile {}: firewall comment has a line break", p.name),
                "keep comments on one line",
            );
        }
    }
    if fw.enable {
        let first_match = |dir: Direction, port: u16, proto: Proto| {
            rules.iter().find(|r| {
                r.spec.direction == dir
                    && r.spec.covers_port(port, proto)
                    && (if dir == Direction::In {
                        &r.spec.from
                    } else {
                        &r.spec.to
                    }) == "any"
            })
        };
        let allowed = |dir: Direction, port: u16, proto: Proto, default: Policy| match first_match(
            dir, port, proto,
        ) {
            Some(r) => matches!(r.spec.action, Action::Allow | Action::Limit),
            None => default == Policy::Allow,
        };
        // A deny/reject covering SSH from any source also locks you out.
        let ssh_blocked_by = rules.iter().find(|r| {
            r.spec.direction == Direction::In
                && r.spec.covers_port(22, Proto::Tcp)
                && matches!(r.spec.action, Action::Deny | Action::Reject)
        });
        if !allowed(Direction::In, 22, Proto::Tcp, fw.default_incoming) || ssh_blocked_by.is_some()
        {
            let at = ssh_blocked_by
                .map(|r| r.at.clone())
                .unwrap_or_else(|| p.locate("default_incoming"));
            c.error(at, node, format!("profile {}: the firewall would block SSH (22/tcp) for a {} node, and the node would be unreachable", p.name, role.as_str()), "add a [[firewall.rule]] with direction = \"in\", port = \"22\", proto = \"tcp\" before any rule that denies it");
        }
        if !allowed(Direction::Out, 53, Proto::Udp, fw.default_outgoing) {
            c.error(p.locate("default_outgoing"), node, format!("profile {}: the firewall blocks outgoing DNS (53/udp), so chrony and apt cannot resolve servers", p.name), "add an outgoing rule for port 53");
        }
        if p.time_daemon == TimeDaemon::Chrony
            && !allowed(Direction::Out, 123, Proto::Udp, fw.default_outgoing)
        {
            c.error(p.locate("default_outgoing"), node, format!("profile {}: the firewall blocks outgoing NTP (123/udp), so chrony can never synchronise", p.name), "add an outgoing rule for port 123 proto udp");
        }
    }
    c.out
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count()
        == before
}

fn profile_plan(p: &Profile, role: Role, subnet: &str) -> ProfilePlan {
    let fw = &p.firewall;
    ProfilePlan {
        name: p.name.clone(),
        conf_name: p.conf_name.clone(),
        modules: p.modules.clone(),
        cmdline: p.cmdline.clone(),
        sysctl: p.sysctl.clone(),
        swap_disable: p.swap_disable,
        time_daemon: p.time_daemon,
        firewall: FirewallPlan {
            enable: fw.enable,
            default_incoming: fw.default_incoming,
            default_outgoing: fw.default_outgoing,
            default_routed: fw.default_routed,
            logging: fw.logging.clone(),
            rules: fw
                .rules
                .iter()
                .filter(|r| r.spec.applies_to(role))
                .map(|r| r.spec.for_node(subnet))
                .collect(),
        },
    }
}
