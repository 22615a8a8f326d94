#!/bin/sh
# Print the Debian mirror this machine's apt is configured with (the first
# `deb` source carrying `main` that is not a security archive), so that no
# package host is named in the project. E2E_MIRROR overrides it.
set -eu
if [ -n "${E2E_MIRROR:-}" ]; then
	echo "$E2E_MIRROR"
	exit 0
fi
{
	# One-line format: deb [options] URI SUITE COMPONENT...
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		sed -n 's/^[[:space:]]*deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]*\)\{0,1\}\([^[:space:]]*\)[[:space:]]\{1,\}\([^[:space:]]*\)\(.*\)$/\2 \3 \4/p'
	# deb822 format: one stanza per blank-line-separated block.
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk 'BEGIN { RS = ""; FS = "\n" }
		{
			types = ""; uris = ""; suites = ""; comps = ""; enabled = "yes"
			for (i = 1; i <= NF; i++) {
				line = $i
				if (line ~ /^[[:space:]]*#/) continue
				key = tolower(line); sub(/:.*/, "", key)
				val = line; sub(/^[^:]*:[[:space:]]*/, "", val)
				if (key == "types") types = val
				else if (key == "uris") uris = val
				else if (key == "suites") suites = val
				else if (key == "components") comps = val
				else if (key == "enabled") enabled = tolower(val)
			}
			if (enabled == "no" || (" " types " ") !~ / deb /) next
			split(uris, u, " "); split(suites, s, " ")
			print u[1], s[1], comps
		}' "$f"
	done
} | awk '$2 !~ /security/ && $1 !~ /security/ && (" " $0 " ") ~ / main / { print $1; exit }' | grep . ||
	{
		echo "mirror.sh: no Debian mirror with 'main' in this machine's apt sources; set E2E_MIRROR" >&2
		exit 1
	}
