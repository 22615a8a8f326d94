#!/bin/bash
# Byte-identity check for refactors: bake (raw and --compress xz) and render
# (printed and --out trees) every test inventory against Bookworm and Trixie
# fixtures, with and without cloud-init, once with each of two piprep
# binaries, and compare the sha256 of every output file.
#
# Usage: bench/same-bytes.sh OLD_PIPREP NEW_PIPREP
# Needs what `make test` installs (mkimage.sh's tools). Exit 0 when identical.
set -eu
[ $# = 2 ] || { echo "usage: $0 OLD_PIPREP NEW_PIPREP" >&2; exit 2; }
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PATH=$PATH:/usr/sbin:/sbin
for v in bookworm trixie; do
	for ci in "" --cloud-init; do
		"$top/tests/support/mkimage.sh" $ci "$v" "$work/img-$v$ci.img" >/dev/null
	done
done

outputs() { # PIPREP DIR
	local p=$1 o=$2 v ci inv img d n
	for v in bookworm trixie; do
		for ci in "" --cloud-init; do
			img=$work/img-$v$ci.img
			for inv in piprep cloud-init kubernetes; do
				d=$o/$v$ci-$inv
				mkdir -p "$d/.piprep/secrets"
				chmod 700 "$d/.piprep" "$d/.piprep/secrets"
				cp "$top"/tests/data/*.asc "$d/"
				for n in "$top"/tests/data/host-keys/*/; do
					n=$(basename "$n")
					mkdir -p "$d/.piprep/secrets/$n"
					cp "$top/tests/data/host-keys/$n"/* "$d/.piprep/secrets/$n/"
					chmod 700 "$d/.piprep/secrets/$n"
					chmod 600 "$d/.piprep/secrets/$n"/*
				done
				sed "/^\[image\]/,/^\[/{/^path *=/d}; s|^\[image\]|[image]\npath = \"$img\"|" \
					"$top/tests/data/$inv.toml" >"$d/piprep.toml"
				(
					cd "$d"
					for n in $(awk '/^\[\[node\]\]/{n=1} n&&/^name *=/{gsub(/"/,"",$3); print $3; n=0}' piprep.toml); do
						"$p" -q render --node "$n" >"render-$n.txt"
						"$p" -q render --node "$n" --image "$img" --out "r-$n" >/dev/null
					done
					"$p" -q bake --all --out out >/dev/null
					"$p" -q bake --all --out outx --compress xz >/dev/null
				)
			done
		done
	done
	(cd "$o" && find . -type f ! -path '*/.piprep/*' | LC_ALL=C sort | xargs sha256sum)
}

outputs "$(realpath "$1")" "$work/old" >"$work/old.sums"
outputs "$(realpath "$2")" "$work/new" >"$work/new.sums"
files=$(wc -l <"$work/old.sums")
if diff "$work/old.sums" "$work/new.sums"; then
	echo "same bytes: $files files ($(grep -c '\.img$' "$work/old.sums") images, $(grep -c '\.img\.xz$' "$work/old.sums") .img.xz)"
else
	echo "different bytes (above)" >&2
	exit 1
fi
