//! config.txt: the Raspberry Pi firmware's settings. For Kubernetes nodes the
//! Pi 5 boots the 4K-page kernel: its default, `kernel_2712.img`, uses 16K
//! pages, on which some container images (jemalloc and others built for 4K
//! pages) crash (raspberrypi/bookworm-feedback#107). Other boards boot
//! `kernel8.img` already, so the `[pi5]` filter changes only the Pi 5.

/// The first and last lines of piprep's block; everything between is piprep's.
pub const BEGIN: &str = "# piprep: the Pi 5 boots the 4K-page kernel (Kubernetes)";
pub const END: &str = "# piprep: end";
/// The kernel the block selects, which must be on the boot partition.
pub const KERNEL: &str = "kernel8.img";

/// piprep's block, ending with `[all]` so that any line appended after it
/// applies to every board again.
pub fn block() -> String {
    format!("{BEGIN}\n[pi5]\nkernel={KERNEL}\n[all]\n{END}\n")
}

/// `original` without an earlier piprep block, then the block when `want`.
/// Idempotent; every other line is kept as it was.
pub fn edit(original: &str, want: bool) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in original.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare == BEGIN {
            inside = true;
        } else if inside && bare == END {
            inside = false;
        } else if !inside {
            out.push_str(line);
        }
    }
    if want {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out += &block();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const STOCK: &str = "# For more options see http://rpf.io/configtxt\ndtparam=audio=on\nauto_initramfs=1\narm_64bit=1\n\n[cm5]\ndtoverlay=dwc2,dr_mode=host\n\n[all]\n";

    #[test]
    fn appends_once_and_keeps_every_other_line() {
        let once = edit(STOCK, true);
        assert!(once.starts_with(STOCK));
        assert_eq!(&once[STOCK.len()..], block());
        assert_eq!(edit(&once, true), once, "idempotent");
        assert_eq!(edit(&once, false), STOCK, "removed again");
        assert_eq!(edit(STOCK, false), STOCK);
        // No final newline, CRLF lines: kept, the block on its own lines.
        let crlf = "arm_64bit=1\r\n[all]";
        let e = edit(crlf, true);
        assert!(e.starts_with("arm_64bit=1\r\n[all]\n# piprep"), "{e:?}");
        assert_eq!(edit(&e, false), "arm_64bit=1\r\n[all]\n");
    }

    #[test]
    fn the_block_selects_the_4k_kernel_for_the_pi5_only() {
        let b = block();
        let lines: Vec<&str> = b.lines().collect();
        assert_eq!(lines[1..4], ["[pi5]", "kernel=kernel8.img", "[all]"]);
    }
}
