# Each line: UNIT ENABLE(yes|no) ON_CHANGE(restart|reload) [CONFIG FILE...].
# The unit is enabled when asked, then restarted (or reloaded, if running)
# when its files changed since the last boot, else started if it should run.
SERVICES=@@SERVICE_LINES_Q@@
service_ready() {
	unit=$1 enable=$2 action=$3
	shift 3
	systemctl cat "$unit" >/dev/null 2>&1 || { log "$unit is not installed"; return 1; }
	if [ "$enable" = yes ]; then systemctl enable "$unit" >/dev/null 2>&1 || return 1; fi
	want=$(cat "$@" </dev/null 2>/dev/null | sha256sum | cut -c1-16)
	applied="$STATE/$unit.applied"
	if [ "$(cat "$applied" 2>/dev/null)" != "$want" ]; then
		if [ "$action" = reload ]; then
			! systemctl is-active -q "$unit" || systemctl reload "$unit" || return 1
		else
			systemctl restart "$unit" || return 1
		fi
		echo "$want" >"$applied"
	elif [ "$action" = restart ] && ! systemctl is-active -q "$unit"; then
		systemctl start "$unit" || return 1
	fi
}
configure_services() {
	held=@@HELD_Q@@
	if [ -n "$held" ]; then
		# shellcheck disable=SC2086 # one word per package
		apt-mark hold $held >/dev/null || return 1
	fi
	rc=0
	while read -r line; do
		[ -n "$line" ] || continue
		# shellcheck disable=SC2086 # the line's words are the arguments
		service_ready $line || { log "service $line: not ready"; rc=1; }
	done <<LINES
$SERVICES
LINES
	return "$rc"
}
