//! `piprep status`'s table: one row per node, a `kubernetes` column when a
//! node forms its cluster.

use super::status::Row;

/// The fleet table; a `kubernetes` column when a node forms its cluster.
pub fn table(rows: &[Row], kubernetes: bool) -> String {
    let cluster = rows.iter().any(|r| r.kubernetes.is_some());
    let ready_head = if kubernetes && !cluster {
        "ready for kubeadm"
    } else {
        "ready"
    };
    let mut head = vec!["node", "role", "address", "reachable", "report", ready_head];
    if cluster {
        head.push("kubernetes");
    }
    head.push("failing");
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut c = vec![
                r.node.clone(),
                r.role.clone(),
                match &r.probed {
                    Some(p) => format!("{} (via {p})", r.address),
                    None => r.address.clone(),
                },
                yes_no(r.reachable),
                r.result.clone(),
                yes_no(r.ready),
            ];
            if cluster {
                c.push(r.kubernetes.clone().unwrap_or_else(|| "-".into()));
            }
            c.push(match (&r.error, r.failing.is_empty()) {
                (Some(e), _) => e.clone(),
                (None, true) => "-".into(),
                (None, false) => r.failing.join(", "),
            });
            c
        })
        .collect();
    let mut w: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for c in &cells {
        for (i, v) in c.iter().enumerate() {
            w[i] = w[i].max(v.chars().count());
        }
    }
    let line = |c: &[String]| {
        let mut s = String::new();
        for (i, v) in c.iter().enumerate() {
            if i + 1 == c.len() {
                s += v;
            } else {
                s += &format!("{v:<width$}  ", width = w[i]);
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut s = line(&head.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for c in &cells {
        s += &line(c);
    }
    s
}
