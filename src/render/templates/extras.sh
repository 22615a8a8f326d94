# The profile's commands, each once: its output goes to the journal, its exit
# status to $STATE/run/KEY, which the report reads. A command that failed is
# not run again (it may not be safe to repeat): fix it in the profile, and the
# re-flashed node runs the edited command.
run_once() {
	[ -e "$STATE/run/$1" ] && return 0
	mkdir -p "$STATE/run" || return 1
	log "running the profile's command $1"
	sh -c "$2" </dev/null >"$STATE/run/$1.out" 2>&1
	rc=$?
	while IFS= read -r line; do log "  $line"; done <"$STATE/run/$1.out"
	rm -f "$STATE/run/$1.out"
	echo "$rc" >"$STATE/run/$1"
	[ "$rc" -eq 0 ] || log "the profile's command $1 exited $rc"
}

# The profile's files' owners (OWNER PATH lines), once the packages that
# bring their accounts are in.
set_owners() {
	while read -r owner path; do
		[ -n "$owner" ] || continue
		chown "$owner" "$path" || return 1
	done <<'OWNERS'
@@OWNERS_Q@@
OWNERS
}

profile_extras() {
	set_owners || log "FAILED: the owner of a profile file could not be set"
@@RUN_LINES@@}
