set_time() {
	# Installing chrony needs the network: piprep-setup.service does it when absent.
	if has_pkg chrony; then
		systemctl enable chrony.service >/dev/null 2>&1 || return 1
		systemctl disable systemd-timesyncd.service >/dev/null 2>&1 || true
	fi
	return 0
}
