set_swap() {
	swapoff -a || true
	# Bookworm: dphys-swapfile (the guide's steps).
	if command -v dphys-swapfile >/dev/null; then
		dphys-swapfile swapoff || true
		dphys-swapfile uninstall || true
	fi
	if has_unit dphys-swapfile.service; then
		systemctl disable dphys-swapfile.service >/dev/null 2>&1 || return 1
	fi
	# Trixie: rpi-swap (zram and /var/swap) reads drop-ins at the next boot.
	if has_pkg rpi-swap || [ -e /etc/rpi/swap.conf ] || [ -d /etc/rpi/swap.conf.d ]; then
		mkdir -p /etc/rpi/swap.conf.d &&
			printf '[Main]\nMechanism=none\n' | put_file /etc/rpi/swap.conf.d/90-piprep-disable-swap.conf 0644 || return 1
	fi
	# Any swap entry in fstab is commented out.
	if awk '!/^[[:space:]]*#/ && $3 == "swap" {found = 1} END {exit !found}' /etc/fstab 2>/dev/null; then
		awk '!/^[[:space:]]*#/ && $3 == "swap" {print "# disabled by piprep: " $0; next} {print}' /etc/fstab | put_file /etc/fstab 0644 || return 1
	fi
	return 0
}
