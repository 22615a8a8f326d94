//! The starter inventory `piprep init` writes: answers in, TOML text out.
//! Pure: finding keys, prompting and writing are the command's.

use std::net::Ipv4Addr;

use super::net::Ipv4Net;

/// Everything a starter inventory is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Starter {
    pub cluster: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    /// Node names, control planes first.
    pub nodes: Vec<String>,
    pub control_planes: usize,
    pub user: String,
    pub ssh_keys: Vec<String>,
    /// A local image; None: Raspberry Pi OS Lite (64-bit) from Imager's list.
    pub image: Option<String>,
}

/// The default names: `cp-1` … for control planes, `worker-1` … after them.
pub fn default_names(count: usize, control_planes: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            if i < control_planes {
                format!("cp-{}", i + 1)
            } else {
                format!("worker-{}", i - control_planes + 1)
            }
        })
        .collect()
}

/// Each node's address: control planes from .11, workers from .21 (as the
/// guide numbers them), or one after another in a small subnet; never the
/// gateway's. None when the subnet has too few.
pub fn addresses(s: &Starter) -> Option<Vec<Ipv4Addr>> {
    let base = u32::from(s.subnet.network);
    let hosts: u32 = if s.subnet.prefix >= 31 {
        0
    } else {
        (1u32 << (32 - s.subnet.prefix)) - 2
    };
    let workers = (s.nodes.len() - s.control_planes) as u32;
    let guide = hosts >= 30 + workers;
    let gw = u32::from(s.gateway).wrapping_sub(base);
    let mut taken = vec![gw];
    let mut out = Vec::new();
    for i in 0..s.nodes.len() {
        let mut n = match (guide, i < s.control_planes) {
            (true, true) => 11,
            (true, false) => 21,
            (false, _) => 1,
        };
        while taken.contains(&n) {
            n += 1;
        }
        if n > hosts {
            return None;
        }
        taken.push(n);
        out.push(Ipv4Addr::from(base + n));
    }
    Some(out)
}

fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The inventory text; None when the subnet has too few addresses.
pub fn render(s: &Starter) -> Option<String> {
    let mut t = String::new();
    t += "# piprep inventory, written by `piprep init`. Every key: README.md.\n";
    t += "[cluster]\n";
    t += &format!("name = {}\n", q(&s.cluster));
    t += "profile = \"k8s-node\"          # the guide's preparation (profiles/NAME.toml to change it)\n";
    t += &format!("subnet = {}\n", q(&s.subnet.to_string()));
    t += &format!("gateway = {}\n", q(&s.gateway.to_string()));
    t += &format!("dns = [{}]\n", q(&s.gateway.to_string()));
    t += "ntp = [\"pool.ntp.org\"]\n";
    t += "# timezone = \"Europe/Berlin\"\n# locale = \"en_GB.UTF-8\"\n# keyboard = \"gb\"\n\n";
    t += "[image]\n";
    match &s.image {
        Some(p) => t += &format!("path = {}\n", q(p)),
        None => {
            t += "os_list = \"https://downloads.raspberrypi.com/os_list_imagingutility_v4.json\"\n";
            t += "name = \"Raspberry Pi OS Lite (64-bit)\"\n";
        }
    }
    t += "\n[user]\n";
    t += &format!("name = {}\n", q(&s.user));
    t += "ssh_authorized_keys = [\n";
    for k in &s.ssh_keys {
        t += &format!("  {},\n", q(k));
    }
    t += "]\n\n";
    t += "# [wifi]                        # Wi-Fi instead of (or beside) a cable\n";
    t += "# country = \"GB\"\n# ssid = \"my-network\"\n# passphrase_file = \"wifi.pass\"\n";
    let addresses = addresses(s)?;
    for (i, name) in s.nodes.iter().enumerate() {
        let role = if i < s.control_planes {
            "control-plane"
        } else {
            "worker"
        };
        t += &format!(
            "\n[[node]]\nname = {}\nip = {}\nrole = \"{role}\"\n",
            q(name),
            q(&addresses[i].to_string())
        );
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starter(subnet: &str, gw: &str, n: usize) -> Starter {
        Starter {
            cluster: "lab".into(),
            subnet: subnet.parse().unwrap(),
            gateway: gw.parse().unwrap(),
            nodes: default_names(n, 1),
            control_planes: 1,
            user: "pi".into(),
            ssh_keys: vec!["ssh-ed25519 AAAA me".into()],
            image: None,
        }
    }

    #[test]
    fn addresses_follow_the_guide_and_skip_the_gateway() {
        let s = starter("10.1.1.0/24", "10.1.1.1", 3);
        let a: Vec<_> = addresses(&s)
            .unwrap()
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(a, ["10.1.1.11", "10.1.1.21", "10.1.1.22"]);
        let s = starter("192.168.7.0/29", "192.168.7.1", 3);
        let a: Vec<_> = addresses(&s)
            .unwrap()
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(a, ["192.168.7.2", "192.168.7.3", "192.168.7.4"]);
        assert!(render(&starter("192.168.7.0/30", "192.168.7.1", 3)).is_none());
    }
}
