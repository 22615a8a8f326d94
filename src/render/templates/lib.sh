PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
failed=0
log() { echo "${LOG_TAG:-piprep}: $*"; }
# step WHAT COMMAND...: run one idempotent step, log ok/FAILED, remember a failure.
step() {
	what=$1
	shift
	if "$@"; then
		log "ok: $what"
	else
		log "FAILED: $what"
		failed=1
	fi
}
# put_file PATH MODE [CONTENT]: write CONTENT (or standard input) through a
# temp file, then rename.
put_file() {
	mkdir -p "$(dirname "$1")" || return 1
	if [ $# -ge 3 ]; then
		printf '%s' "$3" >"$1.piprep-tmp"
	else
		cat >"$1.piprep-tmp"
	fi && chmod "$2" "$1.piprep-tmp" && mv -f "$1.piprep-tmp" "$1"
}
has_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
has_unit() { systemctl list-unit-files "$1" 2>/dev/null | grep -q "^$1"; }
# overwrite FILE: zeros over a file's bytes, in place, flushed. On the FAT boot
# partition a deleted or truncated file's clusters keep their bytes until reused.
overwrite() {
	size=$(wc -c <"$1") || return 1
	[ "$size" -eq 0 ] || dd if=/dev/zero of="$1" bs="$size" count=1 conv=notrunc,fsync 2>/dev/null
}
# scrub FILE: overwrite a secret, then delete it.
scrub() {
	[ -f "$1" ] || return 0
	overwrite "$1" && rm -f "$1"
}
