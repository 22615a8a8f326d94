//! `status --watch` on a terminal: each round's table drawn over the last,
//! so the screen shows one table that changes, not a scrolling log.

/// The text that replaces the previous frame of `previous` lines with
/// `header` and `table`; returns it with the new frame's line count.
pub fn frame(previous: usize, header: &str, table: &str) -> (String, usize) {
    let mut out = String::new();
    if previous > 0 {
        // Up to the first line of the last frame, then clear to the end.
        out += &format!("\x1b[{previous}A\r\x1b[J");
    }
    out += header;
    out += "\n";
    out += table;
    if !table.ends_with('\n') {
        out += "\n";
    }
    let lines = out.matches('\n').count();
    (out, lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_replaces_exactly_the_last_one() {
        let (first, n) = frame(0, "status: 0 of 2 ready", "a\nb\n");
        assert_eq!(first, "status: 0 of 2 ready\na\nb\n");
        assert_eq!(n, 3);
        let (second, m) = frame(n, "status: 1 of 2 ready", "a\nb\n");
        assert!(second.starts_with("\x1b[3A\r\x1b[J"));
        assert_eq!(m, 3);
    }
}
