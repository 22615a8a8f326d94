configure_firewall() {
	want=@@RULESET@@
	if [ "$(cat "$STATE/ufw.applied" 2>/dev/null)" = "$want" ] && ufw status | grep -q '^Status: active'; then
		return 0
	fi
	command -v ufw >/dev/null || { log "ufw is not installed"; return 1; }
	log "applying firewall rule set $want"
	ufw --force reset >/dev/null || return 1
@@FIREWALL_COMMANDS@@	ufw --force enable || return 1
	echo "$want" >"$STATE/ufw.applied"
}
