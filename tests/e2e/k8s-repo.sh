#!/bin/sh
# A stand-in for the Kubernetes package repository of one minor version
# (pkgs.k8s.io's flat layout: Packages, Release, InRelease at the top), signed
# with a key made here. pkgs.k8s.io is not reachable from this machine, and the
# real packages could not run without a cluster anyway, so the packages are
# small stand-ins: they prove the apt source, the key, the version pin and the
# hold, and nothing about Kubernetes itself.
#
#   k8s-repo.sh OUT MINOR   -> OUT/key.asc (the public key), OUT/repo/
#
# The repository holds kubeadm, kubelet and kubectl at MINOR.1, and kubectl at
# the next minor as well, which apt would install without piprep's pin.
set -eu
standin=$(cd "$(dirname "$0")/standin" && pwd)
out=${1:?usage: k8s-repo.sh OUT MINOR}
minor=${2:?usage: k8s-repo.sh OUT MINOR}
next="${minor%.*}.$((${minor#*.} + 1))"
rm -rf "$out"
mkdir -p "$out/repo" "$out/build"
export GNUPGHOME="$out/gnupg"
mkdir -m 700 "$GNUPGHOME"
# SHA-256 for the key's self-signatures (its bindings) and for the repository's
# signatures: Trixie's apt verifies with sqv, which rejects SHA-1 bindings.
printf 'cert-digest-algo SHA256\ndigest-algo SHA256\npersonal-digest-preferences SHA256\n' >"$GNUPGHOME/gpg.conf"
gpg --batch --quiet --passphrase '' --quick-gen-key 'piprep e2e repository <e2e@piprep.invalid>' ed25519 sign never
gpg --batch --armor --export >"$out/key.asc"
# Checked, not assumed: every signature packet of the key uses SHA-256 (digest algo 8).
algos=$(gpg --batch --list-packets "$out/key.asc" | sed -n 's/.*digest algo \([0-9]*\).*/\1/p' | sort -u)
[ "$algos" = 8 ] || {
	echo "k8s-repo.sh: the key's signatures use digest algorithms $algos, not SHA-256 (8) only" >&2
	exit 1
}

deb() { # package version depends description
	d="$out/build/$1-$2"
	mkdir -p "$d/DEBIAN" "$d/usr/bin"
	{
		echo "Package: $1"
		echo "Version: $2"
		echo "Architecture: all"
		echo "Maintainer: piprep e2e <e2e@piprep.invalid>"
		[ -z "$3" ] || echo "Depends: $3"
		echo "Description: stand-in $1 for the piprep end-to-end test"
		echo " $4"
	} >"$d/DEBIAN/control"
	v=${2%%-*}
	if [ -f "$standin/$1" ]; then
		sed "s/@VERSION@/$v/g" "$standin/$1" >"$d/usr/bin/$1"
	else
		printf '#!/bin/sh\n# stand-in %s\necho "%s stand-in: Kubernetes v%s"\n' "$1" "$1" "$v" >"$d/usr/bin/$1"
	fi
	chmod 0755 "$d/usr/bin/$1"
	if [ "$1" = kubelet ]; then
		# The real kubelet waits in a restart loop for kubeadm init; this one
		# just waits.
		printf '#!/bin/sh\n[ "${1:-}" = --version ] && { echo "Kubernetes v%s"; exit 0; }\necho "stand-in kubelet: waiting for kubeadm init or join"\nexec sleep infinity\n' "$v" >"$d/usr/bin/kubelet"
		mkdir -p "$d/lib/systemd/system"
		printf '[Unit]\nDescription=kubelet stand-in\nWants=network-online.target\nAfter=network-online.target\n\n[Service]\nExecStart=/usr/bin/kubelet\nRestart=always\nRestartSec=10\n\n[Install]\nWantedBy=multi-user.target\n' >"$d/lib/systemd/system/kubelet.service"
	fi
	dpkg-deb --root-owner-group -Zxz --build "$d" "$out/repo/$1_$2_all.deb" >/dev/null
}
deb kubelet "$minor.1-1.1" "" "The node agent."
deb kubectl "$minor.1-1.1" "" "The command-line client."
deb kubectl "$next.0-1.1" "" "The next minor's client: the pin must keep it out."
deb kubeadm "$minor.1-1.1" "kubelet, kubectl, curl, openssl, python3" "The cluster bootstrap tool (stand-in/kubeadm: init, join with discovery, reset)."
(
	cd "$out/repo"
	apt-ftparchive packages . >Packages
	apt-ftparchive release . >Release
	gpg --batch --yes --clearsign -o InRelease Release
	gpg --batch --yes -abs -o Release.gpg Release
)
rm -rf "$out/build"
