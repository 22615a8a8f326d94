configure_time() {
	has_pkg chrony || return 1
@@ONLY_OUR_SOURCES@@	systemctl disable --now systemd-timesyncd.service >/dev/null 2>&1 || true
	systemctl enable --now chrony.service
}
