//! The cluster's /etc/hosts block: every node by name, between markers so
//! that the node's setup can replace it in place on every boot (cloud-init
//! rewrites /etc/hosts from its template), and `piprep export hosts` prints it.

use std::net::Ipv4Addr;

pub const BEGIN: &str = "# BEGIN piprep cluster hosts";
pub const END: &str = "# END piprep cluster hosts";

/// `ADDRESS<TAB>NAME` per node, between the markers.
pub fn block<'a>(hosts: impl IntoIterator<Item = (&'a str, Ipv4Addr)>) -> String {
    let mut s = format!("{BEGIN}\n");
    for (name, address) in hosts {
        s += &format!("{address}\t{name}\n");
    }
    s + END + "\n"
}
