#!/bin/sh
# End-to-end test: bake a node image with piprep, boot it under QEMU (arm64,
# TCG) the way the Pi firmware would, through Raspberry Pi OS's own first-boot
# steps (the stand-ins in rpi/, see mkdisk.sh), then log in over SSH from the
# host as the user would, and check the node with `piprep report`.
#
# Scenarios (E2E_SCENARIOS, default: all five):
#   bookworm               firstrun hook after Raspberry Pi OS's init=firstboot
#                          reboot; chrony and ufw preinstalled
#   trixie-2025-10         firstrun hook on the initramfs-edited first boot;
#                          cloud-init installed but unseeded (piprep turns it off)
#   trixie-2026            cloud-init backend (seeded templates replaced); first
#                          user with /usr/sbin/nologin, FAT with 1-sector
#                          clusters, the boot partition mounted after
#                          cloud-init's first stage (a slow card)
#   bookworm-online        as bookworm, as Raspberry Pi OS Lite ships: no
#                          chrony or ufw, systemd-timesyncd; piprep-setup
#                          installs them from the test's apt repository once a
#                          time server answers, which it does only 60 s into
#                          the first networked boot. With [kubernetes]
#                          (flannel): containerd from that repository, stand-in
#                          kube packages from a signed repository at
#                          pkgs.k8s.io's path (k8s-repo.sh), and pod traffic
#                          across a cni0 bridge through the firewall
#                          (pod-network.sh). bootstrap = true, with a second
#                          guest, worker-1, booted first on the same LAN: it
#                          waits for cp-1's API, cp-1 initialises (stand-in
#                          kubeadm, standin/), the worker joins through
#                          kubeadm's discovery; another cluster's join
#                          configuration is refused
#   trixie-online          as trixie-2026 (mounted in time), Raspberry Pi OS
#                          Lite's packages, [kubernetes] with Debian trixie's
#                          containerd, apt 3 verifying with sqv
#
# Every guest is on a LAN of its own: a network namespace this test makes,
# where a bridge carries the inventory's subnet (10.1.1.0/24) to the guest's
# tap NIC. On it: the gateway and a time server (chronyd -x, which never sets
# this machine's clock) at 10.1.1.1, the inventory's `ntp`, and the apt
# repositories at 10.1.1.100. Nothing routes out of the namespace. The guest's
# clock starts at its image's build date (-rtc base=), as a Pi's does.
#
# In every scenario the last boot is the user's test: `ssh` from inside the
# namespace to the node's own address with the baked key and strict host-key
# checking against out/known_hosts, `sudo -n true`, `systemctl
# is-system-running --wait`, the checklist run live, `piprep status`, then
# power-off and `piprep report` on the disk. Summary lines per scenario:
#   e2e: <scenario>: clock started at DATE, synced after N s
#   e2e: <scenario>: ssh login ok, report pass
# Needs root (debootstrap second stage under binfmt, network namespaces). See
# `make e2e-deps`.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
cache=${E2E_CACHE:-$top/target/e2e}
piprep=${PIPREP:-$top/target/release/piprep}
scenarios=${E2E_SCENARIOS:-bookworm-online bookworm trixie-online trixie-2026 trixie-2025-10}
PATH=$PATH:/usr/sbin:/sbin
# Units allowed to have failed in the SSH boot, with the reason (none so far:
# is-system-running must say "running").
allowed_failed=${E2E_ALLOWED_FAILED:-}

log() { echo "e2e: $*" >&2; }
pids=""
trap 'for p in $pids; do kill -- "-$p" 2>/dev/null || true; done' EXIT

started=$(date +%s)
mkdir -p "$cache"
releases=""
for s in $scenarios; do
	r=${s%%-*}
	case "$r" in bookworm | trixie) ;; *)
		log "unknown scenario $s"
		exit 2
		;;
	esac
	case " $releases " in *" $r "*) ;; *) releases="$releases $r" ;; esac
done
# One root filesystem build per release, in parallel: each second stage is
# mostly one dpkg process under qemu-user, so two of them use both cores. A
# release's scenarios start as soon as its own build is done, so they use the
# core the other build leaves idle.
for r in $releases; do
	"$top/tests/e2e/rootfs.sh" "$cache" "$r" >"$cache/$r.key" 2>"$cache/$r-build.log" &
	eval "build_$r=$!"
done
rootfs_ready() { # release: wait for its build (once)
	eval "p=\${build_$1:-}"
	[ -n "$p" ] || return 0
	eval "build_$1="
	wait "$p" || {
		tail -n 40 "$cache/$1-build.log" >&2
		log "FAILED: the $1 root filesystem build failed"
		return 1
	}
	log "$1 rootfs ready (key $(cat "$cache/$1.key")) after $(($(date +%s) - started)) s"
}
# `run.sh --rootfs-only`: build (or find) the root filesystems and stop, so CI
# can build them while the Rust tests run.
if [ "${1:-}" = --rootfs-only ]; then
	for r in $releases; do rootfs_ready "$r" || exit 1; done
	exit 0
fi

# Offsets of the two partitions, from sfdisk (not piprep).
part_start() { sfdisk --json "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['partitiontable']['partitions'][$2]['start']*512)"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The scenario's LAN: namespace $ns with bridge br0 (10.1.1.1 gateway and
# time server, 10.1.1.100 repositories) and the guest's tap0 on it. The name
# carries this run's process id, so runs side by side never share one; those
# of runs that are gone are removed first.
lan_up() { # name
	for old in $(ip netns list | sed -n 's/^\(piprep-e2e-[^ ]*-\([0-9]*\)\)\( .*\)\{0,1\}$/\1:\2/p'); do
		kill -0 "${old#*:}" 2>/dev/null || ip netns del "${old%:*}" 2>/dev/null || true
	done
	ns="piprep-e2e-$1-$$"
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip -n "$ns" link add br0 type bridge
	ip -n "$ns" addr add 10.1.1.1/24 dev br0
	ip -n "$ns" addr add 10.1.1.100/24 dev br0
	for t in tap0 tap1; do
		ip -n "$ns" tuntap add "$t" mode tap
		ip -n "$ns" link set "$t" master br0
		ip -n "$ns" link set "$t" up
	done
	ip -n "$ns" link set br0 up
}
# The inventory's time server, after DELAY seconds: chronyd serving its own
# clock (this machine's, which -x keeps it from ever setting) on 10.1.1.1 only.
ntp_up() { # work delay
	cat >"$1/chrony.conf" <<EOF
bindaddress 10.1.1.1
allow 10.1.1.0/24
local stratum 8
cmdport 0
bindcmdaddress /
pidfile $1/chronyd.pid
EOF
	setsid sh -c "sleep $2; exec ip netns exec $ns chronyd -x -d -u root -f $1/chrony.conf" >"$1/chronyd.log" 2>&1 &
	pids="$pids $!"
}

# Start QEMU on the disk as the firmware would: kernel, initramfs and cmdline
# from the FAT partition, the clock at the image's build date, the NIC on the
# scenario's LAN. Sets $qpid (its own process group).
start_vm() { # disk serial-log [extra kernel args]
	disk=$1 serial=$2 extra=${3:-}
	fat=$(part_start "$disk" 0)
	d=$(dirname "$serial")
	mcopy -o -i "$disk@@$fat" ::kernel8.img "$d/kernel"
	mcopy -o -i "$disk@@$fat" ::initramfs8 "$d/initrd"
	append=$(mtype -i "$disk@@$fat" ::cmdline.txt | tr -d '\r\n' | sed 's/console=serial0,115200/console=ttyAMA0,115200/; s/ *console=tty1//')
	append="$append net.ifnames=0${extra:+ $extra}"
	echo "$append" >"$serial.cmdline"
	setsid ip netns exec "$ns" qemu-system-aarch64 -M virt -cpu cortex-a57 -smp "${E2E_SMP:-1}" -m 2048 \
		-display none -no-reboot -monitor none -serial "file:$serial" \
		-rtc "base=$built,clock=vm" \
		-kernel "$d/kernel" -initrd "$d/initrd" -append "$append" \
		-drive "file=$disk,format=raw,if=none,id=hd0,cache=unsafe" -device virtio-blk-pci,drive=hd0 \
		-netdev tap,id=lan,ifname="${vm_tap:-tap0}",script=no,downscript=no \
		-device virtio-net-pci,netdev=lan,mac="${vm_mac:-52:54:00:0a:01:0b}" </dev/null >"$serial.qemu" 2>&1 &
	qpid=$!
	pids="$pids $qpid"
}
# Wait up to $1 seconds for the VM to exit (reboot or power-off); kill it after.
wait_vm() {
	n=0
	while kill -0 "$qpid" 2>/dev/null; do
		if [ "$n" -ge "$1" ]; then
			kill -9 -- "-$qpid" 2>/dev/null || true
			wait "$qpid" 2>/dev/null || true
			return 1
		fi
		sleep 1
		n=$((n + 1))
	done
	wait "$qpid" 2>/dev/null || true
}
# One whole boot: start, wait for the exit.
boot() { # disk serial-log limit
	start_vm "$1" "$2"
	wait_vm "$3"
}

scenario() {
	name=$1
	release=${name%%-*}
	variant=offline
	case "$name" in *-online) variant=online ;; esac
	k=$(cat "$cache/$release.key")
	repo="$cache/repo-$k"
	work="$cache/run-$name"
	rm -rf "$work"
	mkdir -p "$work"
	t0=$(date +%s)
	fail() {
		log "$name: last 60 serial lines of $(ls -t "$work"/serial-*.log 2>/dev/null | head -n 1):"
		tail -n 60 "$(ls -t "$work"/serial-*.log 2>/dev/null | head -n 1)" >&2 2>/dev/null || true
		[ ! -f "$work/out/cp-1.img" ] || "$piprep" report "$work/out/cp-1.img" >&2 || true
		echo "e2e: $name: FAILED: $*"
		return 1
	}
	lan_up "$name"
	# The time server answers from the start, or (bookworm-online) only 60 s
	# into the first boot that has the network.
	ntp_delay=0
	repo_url=""
	kubernetes=""
	# bookworm-online is a cluster that forms itself: cp-1 and worker-1.
	cluster=""
	[ "$name" != bookworm-online ] || cluster=yes
	if [ "$variant" = online ]; then
		# One web root: the Debian packages at the top, the Kubernetes
		# stand-in repository where pkgs.k8s.io keeps v1.34's.
		"$top/tests/e2e/k8s-repo.sh" "$work/k8s" 1.34 || { fail "k8s-repo.sh"; return 1; }
		mkdir -p "$work/www/core:/stable:/v1.34"
		ln -s "$repo"/* "$work/www/"
		ln -s "$work/k8s/repo" "$work/www/core:/stable:/v1.34/deb"
		cp "$work/k8s/key.asc" "$work/k8s-key.asc"
		kubernetes='
[kubernetes]
version = "1.34"
runtime = "containerd"
cni = "flannel"
pod_cidr = "10.244.0.0/16"
service_cidr = "10.96.0.0/12"
repository = "http://10.1.1.100/core:/stable:/v1.34/deb/"
repository_key = "k8s-key.asc"
'
		if [ -n "$cluster" ]; then
			cp "$top/tests/data/kube-flannel-test.yml" "$work/kube-flannel.yml"
			kubernetes="${kubernetes}bootstrap = true
cni_manifest = \"kube-flannel.yml\"
"
		fi
		setsid ip netns exec "$ns" python3 -m http.server --bind 10.1.1.100 --directory "$work/www" 80 >"$work/http.log" 2>&1 &
		pids="$pids $!"
		repo_url=http://10.1.1.100
	fi
	# bookworm: Wi-Fi. The node's radio and a WPA2 access point (the user's
	# router, with its DHCP server) are two simulated radios in the guest.
	wifi=""
	regional=""
	ap=""
	wifi_pass="piprep e2e passphrase"
	if [ "$name" = bookworm ]; then
		ap="$work/ap"
		mkdir -p "$ap"
		printf 'interface=wlan1\ndriver=nl80211\nssid=piprep e2e\nhw_mode=g\nchannel=6\ncountry_code=GB\nwpa=2\nwpa_key_mgmt=WPA-PSK\nrsn_pairwise=CCMP\nwpa_passphrase=%s\n' "$wifi_pass" >"$ap/hostapd.conf"
		printf 'start 192.168.77.10\nend 192.168.77.20\ninterface wlan1\nlease_file /run/e2e-udhcpd.leases\nauto_time 2\noption subnet 255.255.255.0\n' >"$ap/udhcpd.conf"
		printf '%s\n' "$wifi_pass" >"$work/wifi.pass"
		chmod 600 "$work/wifi.pass"
		wifi='
[wifi]
country = "GB"
ssid = "piprep e2e"
passphrase_file = "wifi.pass"
'
	fi
	# Time zone, locale and keyboard: once per backend.
	case "$name" in bookworm | trixie-2026)
		regional='timezone = "Europe/Berlin"
locale = "en_GB.UTF-8"
keyboard = "gb"'
		;;
	esac
	# A profile's own file and command (what sdm plugins and cloud-init's
	# write_files/runcmd do): once per backend. The command appends a line on
	# every run, so one line after several boots proves "once".
	profile=k8s-node
	case "$name" in bookworm | trixie-2026)
		profile=e2e
		mkdir -p "$work/profiles"
		cat >"$work/profiles/e2e.toml" <<'PROFILE'
extends = "k8s-node"
run = ["echo \"ran once on $(hostname)\" >>/var/lib/e2e-run"]

[[file]]
path = "/etc/motd"
content = "piprep e2e: a profile's own file\n$(not code)\n"
PROFILE
		;;
	esac
	E2E_ACCESS_POINT=$ap "$top/tests/e2e/mkdisk.sh" "$cache/rootfs-$variant-$k.tar" "$work/base.img" "$name" $repo_url || {
		fail "mkdisk"
		return 1
	}
	built=$(date -u -d "@$(cat "$work/base.img.build-date")" +%Y-%m-%dT%H:%M:%S)
	[ "$name" = bookworm-online ] || ntp_up "$work" 0
	ssh-keygen -q -t ed25519 -N '' -C "e2e@$name" -f "$work/id_ed25519"
	# trixie-2026 is keys only; the others also get a password, whose hash
	# must not be left anywhere in the boot partition's bytes.
	hash='$6$e2eSaltPiprep123$Q/Rpz1pFO.TOHNBw3GwVpAzPK7msGlbh6Q/OzCNywIqiA0E5DgD4jGzt6cBFsujqbvhEKgE.zYmH52izb1U290'
	password="password_hash = \"$hash\""
	[ "$name" != trixie-2026 ] || { password="" hash=""; }
	cat >"$work/piprep.toml" <<TOML
[cluster]
name = "e2e"
profile = "$profile"
subnet = "10.1.1.0/24"
gateway = "10.1.1.1"
dns = ["10.1.1.1"]
ntp = ["10.1.1.1"]
$regional
$wifi
[user]
name = "k8s"
ssh_authorized_keys = ["$(cat "$work/id_ed25519.pub")"]
$password
$kubernetes

[[node]]
name = "cp-1"
ip = "10.1.1.11"
role = "control-plane"
TOML
	[ -z "$cluster" ] || printf '\n[[node]]\nname = "worker-1"\nip = "10.1.1.21"\nrole = "worker"\n' >>"$work/piprep.toml"
	(cd "$work" && "$piprep" bake --all --image base.img --out out -q) || {
		fail "bake failed"
		return 1
	}
	disk="$work/out/cp-1.img"
	wdisk="$work/out/worker-1.img"
	fat=$(part_start "$disk" 0)
	root=$(part_start "$disk" 1)
	backend=$("$piprep" inspect --json "$disk" | python3 -c 'import json,sys; print(json.load(sys.stdin)["init"]["mechanism"])')
	want_backend=firstrun
	case "$name" in trixie-2026 | trixie-online) want_backend=cloud-init ;; esac
	[ "$backend" = "$want_backend" ] || {
		fail "piprep chose the $backend backend, expected $want_backend"
		return 1
	}
	serial() { echo "$work/serial-$1.log"; }
	has() { grep -qa -- "$2" "$(serial "$1")"; }
	wserial() { echo "$work/worker-serial-$1.log"; }
	whas() { grep -qa -- "$2" "$(wserial "$1")"; }
	start_worker() { # boot [extra kernel args]: worker-1 on tap1, its pid in $wq
		vm_tap=tap1
		vm_mac=52:54:00:0a:01:0c
		cp_disk=$disk # start_vm sets $disk
		start_vm "$wdisk" "$(wserial "$1")" "${2:-}"
		disk=$cp_disk
		vm_tap=""
		vm_mac=""
		wq=$qpid
	}
	# One boot of cp-1 and, in the cluster, of worker-1 beside it.
	boot_both() { # boot limit
		[ -z "$cluster" ] || start_worker "$1"
		start_vm "$disk" "$(serial "$1")"
		rc=0
		wait_vm "$2" || rc=1
		if [ -n "$cluster" ]; then
			qpid=$wq
			wait_vm "$2" || rc=1
		fi
		return "$rc"
	}

	# Boots before the login.
	case "$name" in
	bookworm*)
		# Two guests share the cores in the cluster: longer limits.
		lim=1
		[ -z "$cluster" ] || lim=2
		boot_both 1 $((300 * lim)) || { fail "boot 1 timed out (or worker-1's did not reboot)"; return 1; }
		has 1 "firstboot stand-in: disk id" || { fail "boot 1: Raspberry Pi OS's firstboot did not run"; return 1; }
		has 1 "firstboot stand-in: SSH host keys generated" || { fail "boot 1: no host keys"; return 1; }
		[ -z "$cluster" ] || whas 1 "firstboot stand-in: SSH host keys generated" || { fail "worker-1's boot 1: Raspberry Pi OS's firstboot did not run"; return 1; }
		boot_both 2 $((600 * lim)) || { fail "boot 2 timed out (or worker-1's hook did not reboot)"; return 1; }
		has 2 "piprep: first-boot hook done; rebooting" || { fail "boot 2: the hook did not finish"; return 1; }
		[ -z "$cluster" ] || whas 2 "piprep: first-boot hook done; rebooting" || { fail "worker-1's boot 2: the hook did not finish"; return 1; }
		has 2 "reboot: Restarting system" || { fail "boot 2 did not reboot (hook failed?)"; return 1; }
		last=3
		;;
	trixie-2025-10*)
		boot "$disk" "$(serial 1)" 600 || { fail "boot 1 timed out"; return 1; }
		has 1 "set_partuuid stand-in: disk id" || { fail "boot 1: the initramfs did not change the disk id"; return 1; }
		has 1 "rpi-swap stand-in: Mechanism=auto: zram0 swap on" || { fail "boot 1: rpi-swap did not turn swap on"; return 1; }
		has 1 "piprep: first-boot hook done; rebooting" || { fail "boot 1: the hook did not finish"; return 1; }
		has 1 "reboot: Restarting system" || { fail "boot 1 did not reboot (hook failed?)"; return 1; }
		last=2
		;;
	trixie-2026 | trixie-online)
		# cloud-init configures everything on boot 1; the harness powers off after cloud-final.
		boot "$disk" "$(serial 1)" 1500 || { fail "boot 1 timed out"; return 1; }
		has 1 "set_partuuid stand-in: disk id" || { fail "boot 1: the initramfs did not change the disk id"; return 1; }
		has 1 "e2e-settle: powering off" || { fail "boot 1 did not settle"; return 1; }
		! grep -q "systemd.run" "$(serial 1).cmdline" || { fail "a firstrun hook on a cloud-init image"; return 1; }
		last=2
		;;
	esac
	if [ "$release" = bookworm ]; then
		# Raspberry Pi OS's initramfs resizes whenever the command line says
		# `firstboot`: only on boot 1, or piprep's arguments carried the word.
		resizes=$(cat "$work"/serial-*.log | grep -ac "firstboot stand-in (initramfs): resizing" || true)
		[ "$resizes" -eq 1 ] || { fail "the initramfs resize ran $resizes times"; return 1; }
	fi
	hooks=$(cat "$work"/serial-*.log | grep -ac "piprep: preparing node" || true)
	if [ "$want_backend" = firstrun ] && [ "$hooks" -ne 1 ]; then
		fail "the hook ran $hooks times"
		return 1
	fi

	# The login boot. ssh checks the host key strictly against the one piprep
	# made at bake time (out/known_hosts, under the node's name); the key on
	# the guest's disk (cleanly shut down) must be that one.
	debugfs -R "cat /etc/ssh/ssh_host_ed25519_key.pub" "$disk?offset=$root" 2>/dev/null >"$work/hostkey.pub"
	grep -q '^ssh-ed25519 ' "$work/hostkey.pub" || { fail "the node has no SSH host key after boot $((last - 1))"; return 1; }
	pinned=$(awk '$1 == "cp-1,10.1.1.11" {print $2 " " $3}' "$work/out/known_hosts")
	[ "$(cut -d' ' -f1-2 "$work/hostkey.pub")" = "$pinned" ] || { fail "the node's host key is not the pinned one: $(cat "$work/hostkey.pub") vs $pinned"; return 1; }
	known="$work/out/known_hosts"
	# From inside the scenario's namespace, to the node's own address.
	node() {
		ip netns exec "$ns" ssh -i "$work/id_ed25519" -o BatchMode=yes -o IdentitiesOnly=yes \
			-o StrictHostKeyChecking=yes -o UserKnownHostsFile="$known" -o GlobalKnownHostsFile=/dev/null \
			-o HostKeyAlias=cp-1 -o ConnectTimeout=20 -o ServerAliveInterval=15 -o LogLevel=ERROR k8s@10.1.1.11 "$@"
	}
	worker() {
		ip netns exec "$ns" ssh -i "$work/id_ed25519" -o BatchMode=yes -o IdentitiesOnly=yes \
			-o StrictHostKeyChecking=yes -o UserKnownHostsFile="$work/out/known_hosts" -o GlobalKnownHostsFile=/dev/null \
			-o HostKeyAlias=worker-1 -o ConnectTimeout=20 -o ServerAliveInterval=15 -o LogLevel=ERROR k8s@10.1.1.21 "$@"
	}
	# The cluster formed itself: cp-1 initialised it and applied the fitted
	# CNI manifest; worker-1, which waited, joined through kubeadm's discovery;
	# and the join configuration of a worker baked for another cluster (or
	# with another CA's hash) is refused by that discovery.
	cluster_checks() {
		st=$(node 'sudo -n cat /var/lib/piprep/kubernetes/state')
		case "$st" in "done initialised the cluster"*) ;; *) cluster_why="cp-1's state: $st" && return 1 ;; esac
		node 'sudo -n cat /var/lib/standin/applied.yaml' >"$work/applied.yaml" || { cluster_why="cp-1 applied no CNI manifest" && return 1; }
		grep -q '"Network": "10.244.0.0/16"' "$work/applied.yaml" || { cluster_why="the applied manifest lacks the pod range" && return 1; }
		deadline=$(($(date +%s) + 900))
		until whas $last "piprep-kubeadm: joined the cluster at 10.1.1.11:6443 as a worker"; do
			[ "$(date +%s)" -lt "$deadline" ] || { tail -n 40 "$(wserial $last)" >&2; cluster_why="worker-1 did not join within 900 s" && return 1; }
			sleep 5
		done
		log "$name: worker-1 joined after $(($(date +%s) - t0)) s: $(worker 'sudo -n cat /var/lib/piprep/kubernetes/state')"
		worker 'sudo -n test -f /etc/kubernetes/kubelet.conf' || { cluster_why="worker-1 has no kubelet.conf" && return 1; }
		! worker 'sudo -n test -e /var/lib/piprep/kubernetes/pki' || { cluster_why="worker-1 holds the cluster's keys" && return 1; }
		mkdir -p "$work/other"
		cp "$work/piprep.toml" "$work/k8s-key.asc" "$work/kube-flannel.yml" "$work/other/"
		(cd "$work/other" && "$piprep" render --node worker-1 --out r -q) || { cluster_why="rendering another cluster's worker failed" && return 1; }
		worker 'cat >/tmp/other.yaml' <"$work/other/r/piprep-k8s-join.yaml"
		if worker 'sudo -n kubeadm join --config /tmp/other.yaml' >"$work/other.err" 2>&1; then
			cluster_why="a worker baked for another cluster joined this one" && return 1
		fi
		grep -q 'is invalid for this cluster' "$work/other.err" || { cluster_why="another cluster's token: $(cat "$work/other.err")" && return 1; }
		other_hash=$(grep -o 'sha256:[0-9a-f]*' "$work/other/r/piprep-k8s-join.yaml")
		worker "sudo -n sed 's/sha256:[0-9a-f]*/$other_hash/' /var/lib/piprep/kubernetes/join.yaml >/tmp/other-ca.yaml"
		if worker 'sudo -n kubeadm join --config /tmp/other-ca.yaml' >"$work/other-ca.err" 2>&1; then
			cluster_why="a join pinned to another CA succeeded" && return 1
		fi
		grep -q 'none of the public keys .* are pinned' "$work/other-ca.err" || { cluster_why="another CA's hash: $(cat "$work/other-ca.err")" && return 1; }
		log "$name: joins with another cluster's token or CA hash: refused by discovery"
		# The report on the card, written last, has the cluster's items.
		node 'sudo -n /usr/local/lib/piprep/check.sh e2e-ssh' >&2 || { cluster_why="the checklist failed after the cluster formed" && return 1; }
	}
	# bookworm-online's first networked boot is this one.
	[ "$name" != bookworm-online ] || ntp_up "$work" 60
	if [ -n "$cluster" ]; then
		# The worker first: it must wait for the control plane's API.
		start_worker $last e2e.stay
		deadline=$(($(date +%s) + 1200))
		until whas $last "piprep-kubeadm: waiting for the API at 10.1.1.11:6443"; do
			kill -0 "$wq" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ] || {
				kill -9 -- "-$wq" 2>/dev/null || true
				tail -n 60 "$(wserial $last)" >&2
				fail "worker-1 never waited for the API (boot $last)"
				return 1
			}
			sleep 5
		done
		log "$name: worker-1 waits for the API at 10.1.1.11:6443 after $(($(date +%s) - t0)) s; starting cp-1"
	fi
	start_vm "$disk" "$(serial $last)" e2e.stay
	deadline=$(($(date +%s) + 1200))
	while :; do
		rc=0
		node true >"$work/ssh.err" 2>&1 || rc=$?
		[ "$rc" -ne 0 ] || break
		# 255: no connection or no authentication yet. Anything else: sshd let
		# us in and the account could not run a command (a nologin shell).
		if [ "$rc" -ne 255 ]; then
			kill -9 -- "-$qpid" 2>/dev/null || true
			fail "ssh login refused a command (exit $rc): $(tail -n 1 "$work/ssh.err")"
			return 1
		fi
		kill -0 "$qpid" 2>/dev/null || { fail "the VM stopped before an SSH login: $(tail -n 1 "$work/ssh.err")"; return 1; }
		[ "$(date +%s)" -lt "$deadline" ] || {
			kill -9 -- "-$qpid" 2>/dev/null || true
			fail "no SSH login within 1200 s: $(tail -n 1 "$work/ssh.err")"
			return 1
		}
		sleep 5
	done
	log "$name: ssh login after $(($(date +%s) - t0)) s"
	if [ -n "$cluster" ]; then
		# cp-1 initialises the cluster on this boot, once its packages are in.
		deadline=$(($(date +%s) + 900))
		until node 'sudo -n cat /var/lib/piprep/kubernetes/state' 2>/dev/null | grep -q '^done '; do
			[ "$(date +%s)" -lt "$deadline" ] || {
				kill -9 -- "-$qpid" "-$wq" 2>/dev/null || true
				fail "cp-1 did not initialise the cluster within 900 s: $(node 'sudo -n cat /var/lib/piprep/kubernetes/state' 2>&1)"
				return 1
			}
			sleep 5
		done
		log "$name: cp-1: $(node 'sudo -n cat /var/lib/piprep/kubernetes/state')"
	fi
	ok=yes
	node 'sudo -n true' || { ok="sudo -n true failed"; }
	# Bounded: a boot that never completes (a console wizard waiting for
	# input holds multi-user.target) must fail the scenario, not hang it.
	state=$(node 'timeout 900 systemctl is-system-running --wait >/dev/null; systemctl is-system-running' 2>&1 || true)
	failed_units=$(node 'systemctl --failed --plain --no-legend --no-pager' 2>&1 | awk '{print $1}' | tr '\n' ' ')
	log "$name: system $state${failed_units:+ (failed: $failed_units)}"
	case "$state" in
	running) ;;
	degraded)
		for u in $failed_units; do
			case " $allowed_failed " in *" $u "*) continue ;; esac
			# A login session whose scope could not start: on a loaded host an
			# early attempt of the loop above can time out on the client side
			# while logind sets its session up. The node is not at fault; the
			# login that follows worked.
			case "$u" in session-*.scope) log "$name: ignoring failed $u (an aborted SSH login attempt)"; continue ;; esac
			ok="degraded by $u"
		done
		;;
	*) ok="is-system-running: $state" ;;
	esac
	# Something replaces the host keys after all (Raspberry Pi OS's
	# regeneration, run by hand): piprep-setup, on its next run, puts the
	# pinned key back and sshd serves it again. Once per backend.
	case "$name" in bookworm | trixie-2026) ;; *) restore_test=no ;; esac
	[ "${restore_test:-yes}" = no ] || node 'sudo -n /usr/lib/raspberrypi-sys-mods/regenerate_ssh_host_keys && sudo -n systemctl restart piprep-setup.service' >&2 ||
		ok="regenerating the host keys and re-running piprep-setup failed"
	[ "${restore_test:-yes}" = no ] || node 'sudo -n journalctl -b -u piprep-setup.service --no-pager' | grep -q 'restored the pinned SSH host key(s) ed25519' ||
		ok="piprep-setup did not restore the pinned host key"
	[ "${restore_test:-yes}" = no ] || {
		node true || ok="ssh with the pinned key after the restore: refused"
		log "$name: host keys regenerated on the node: the pinned key restored, ssh with it: ok"
	}
	if [ -n "$wifi" ]; then
		# The node joined the access point with the keyfile piprep baked.
		deadline=$(($(date +%s) + 240))
		until [ "$(node 'nmcli -g GENERAL.STATE connection show piprep-wifi' 2>/dev/null)" = activated ]; do
			[ "$(date +%s)" -lt "$deadline" ] || {
				ok="the Wi-Fi connection never came up"
				node 'nmcli radio wifi; nmcli device; sudo -n rfkill; sudo -n journalctl -b --no-pager -u NetworkManager -u e2e-access-point -u e2e-rfkill-restore | tail -n 40' >&2 || true
				break
			}
			sleep 5
		done
		waddr=$(node 'ip -4 -o addr show dev wlan0' | awk '{print $4}')
		case "$waddr" in 192.168.77.*) ;; *) ok="wlan0 has no address from the access point: ${waddr:-none}" ;; esac
		# The lease came over the air: the access point's DHCP server lists
		# wlan0's address (both radios are in this kernel, so a ping between
		# them would take the loopback, not the radio).
		mac=$(node 'cat /sys/class/net/wlan0/address')
		lease=$(node 'sudo -n busybox dumpleases -f /run/e2e-udhcpd.leases' | grep -i "$mac" | tr -s ' ')
		if [ -n "$waddr" ] && printf '%s\n' "$lease" | grep -qF " ${waddr%/*} "; then
			log "$name: Wi-Fi: joined the access point on a simulated radio; its DHCP server leased ${waddr%/*} to wlan0 ($mac)"
		else
			ok="the access point leased nothing to wlan0 ($mac): ${lease:-no lease}"
		fi
	fi
	if [ -n "$regional" ]; then
		got=$(node 'readlink /etc/localtime; date +%Z; . /etc/default/locale; echo "$LANG"; locale -a | grep -x en_GB.utf8; . /etc/default/keyboard; echo "$XKBLAYOUT"' | tr '\n' ' ')
		case "$got" in "/usr/share/zoneinfo/Europe/Berlin CE"*"T en_GB.UTF-8 en_GB.utf8 gb ") ;; *) ok="time zone, locale, keyboard: $got" ;; esac
		log "$name: time zone, locale, keyboard: $got"
	fi
	if [ "$profile" = e2e ]; then
		got=$(node 'cat /etc/motd /var/lib/e2e-run' | tr '\n' '|')
		case "$got" in 'piprep e2e: a profile'"'"'s own file|$(not code)|ran once on cp-1|') ;; *) ok="the profile's file and command: $got" ;; esac
		log "$name: the profile's file and command: $got"
	fi
	node 'sudo -n /usr/local/lib/piprep/check.sh e2e-ssh' >&2 || ok="the checklist failed over SSH"
	# The fleet view: piprep status through the forwarded port, with the
	# pinned key; then ssh against a known_hosts with another key must fail.
	src=0
	(cd "$work" && ip netns exec "$ns" "$piprep" status --node cp-1 \
		--ssh-option "IdentityFile=$work/id_ed25519" --ssh-option IdentitiesOnly=yes) >"$work/status.txt" 2>&1 || src=$?
	cat "$work/status.txt" >&2
	if [ -z "$cluster" ]; then
		[ "$src" = 0 ] || ok="piprep status: $(tail -n 3 "$work/status.txt" | tr '\n' ' ')"
		grep -Eq '^cp-1 +control-plane +10\.1\.1\.11 +yes +pass +yes' "$work/status.txt" || ok="piprep status did not report cp-1 ready"
	else
		# Its checklist passes; Ready is the real kubelet's to say (exit 5).
		[ "$src" = 5 ] || ok="piprep status exited $src, not 5 (not Ready yet)"
		grep -Eq '^cp-1 +control-plane +10\.1\.1\.11 +yes +pass +no +no answer from the API' "$work/status.txt" ||
			ok="piprep status did not show cp-1's Kubernetes state"
	fi
	ssh-keygen -q -t ed25519 -N '' -f "$work/impostor"
	printf 'cp-1 %s\n' "$(cut -d' ' -f1-2 "$work/impostor.pub")" >"$work/wrong_known_hosts"
	known="$work/wrong_known_hosts"
	if node true 2>"$work/wrong.err"; then
		ok="ssh accepted a host key that out/known_hosts does not pin"
	fi
	known="$work/out/known_hosts"
	grep -q "Host key verification failed\|REMOTE HOST IDENTIFICATION HAS CHANGED" "$work/wrong.err" || ok="ssh against a wrong key: $(cat "$work/wrong.err")"
	log "$name: piprep status: ready; ssh with a wrong pinned key: refused"
	# Before the pod-network test, which takes a firewall rule away for a while.
	[ -z "$cluster" ] || cluster_checks || ok="the cluster: $cluster_why"
	if [ -n "$kubernetes" ]; then
		# containerd answers on its socket (ctr is containerd's own client;
		# crictl comes with cri-tools from pkgs.k8s.io, not reachable here).
		node 'sudo -n ctr version' >&2 || ok="ctr version: no answer from containerd"
		cri=$(node 'sudo -n ctr plugins ls' | awk '$1 == "io.containerd.grpc.v1" && $2 == "cri" {print $NF}')
		[ "$cri" = ok ] || ok="containerd's CRI plugin is ${cri:-missing}"
		node 'sudo -n sh -s 10.244.0' <"$top/tests/e2e/pod-network.sh" >&2 || ok="pod traffic through the firewall: see pod-network above"
	fi
	if [ "$want_backend" = cloud-init ]; then
		# cloud-init finished, and did not start over on this second boot.
		node 'cloud-init status || true' | grep -q 'status: done' || ok="cloud-init is not done"
		instances=$(node 'ls /var/lib/cloud/instances' | tr '\n' ' ')
		[ "$instances" = "$(mtype -i "$disk@@$fat" ::meta-data | sed -n 's/^instance-id: //p' | tr -d '"') " ] ||
			ok="cloud-init instances: $instances (expected only the baked one)"
	fi
	node 'sudo -n systemctl poweroff' 2>/dev/null || true
	wait_vm 180 || ok="the VM did not power off"
	if [ -n "$cluster" ]; then
		worker 'sudo -n systemctl poweroff' 2>/dev/null || true
		qpid=$wq
		wait_vm 180 || ok="worker-1 did not power off"
	fi
	[ "$ok" = yes ] || { fail "$ok"; return 1; }

	# The disk after the login boot, read with independent tools.
	"$piprep" report "$disk" >"$work/report.txt" 2>&1 || { cat "$work/report.txt" >&2; fail "piprep report failed"; return 1; }
	grep -q 'phase e2e-ssh' "$work/report.txt" || { fail "the report is not the one written over SSH"; return 1; }
	if [ -n "$cluster" ]; then
		grep -Eq '^PASS +kubeadm\.init ' "$work/report.txt" || { cat "$work/report.txt" >&2; fail "cp-1's report has no passing kubeadm.init"; return 1; }
		"$piprep" report "$wdisk" >"$work/worker-report.txt" 2>&1 || { cat "$work/worker-report.txt" >&2; fail "worker-1's report failed"; return 1; }
		grep -Eq '^PASS +kubeadm\.join ' "$work/worker-report.txt" || { cat "$work/worker-report.txt" >&2; fail "worker-1's report has no passing kubeadm.join"; return 1; }
	fi
	if [ "$profile" = e2e ]; then
		grep -Eq '^PASS +file\./etc/motd ' "$work/report.txt" && grep -Eq '^PASS +run\.1-' "$work/report.txt" ||
			{ cat "$work/report.txt" >&2; fail "the report has no passing file./etc/motd or run.1"; return 1; }
	fi
	for item in ${regional:+timezone locale locale.generated keyboard} ${wifi:+wifi.radio wifi.connection cmdline.cfg80211.ieee80211_regdom=GB}; do
		grep -Eq "^PASS +$item " "$work/report.txt" || { cat "$work/report.txt" >&2; fail "the report has no passing $item"; return 1; }
	done
	cmdline=$(mtype -i "$disk@@$fat" ::cmdline.txt)
	case "$cmdline" in *"cgroup_memory=1 cgroup_enable=memory"*) ;; *) fail "cgroup args gone: $cmdline"; return 1 ;; esac
	case "$cmdline" in *systemd.run* | *piprep-run* | *firstboot* | *" resize"* | *" quiet"*) fail "first-boot args left: $cmdline"; return 1 ;; esac
	case "$cmdline" in *"root=PARTUUID=8acef004-02"*) fail "the disk id never changed"; return 1 ;; esac
	if [ "$want_backend" = cloud-init ]; then
		id=$(mtype -i "$disk@@$fat" ::meta-data | sed -n 's/^instance-id: //p' | tr -d '"')
		case "$cmdline" in *" ds=nocloud;i=$id"*) ;; *) fail "the cmdline lost ds=nocloud;i=$id: $cmdline"; return 1 ;; esac
		ud=$(mtype -i "$disk@@$fat" ::user-data)
		case "$ud" in *"# piprep"*) ;; *) fail "user-data is not piprep's"; return 1 ;; esac
	fi
	files=$(mdir -b -i "$disk@@$fat" ::/)
	case "$files" in *piprep-run.sh* | *piprep-secrets.txt*) fail "first-boot files left on the boot partition: $files"; return 1 ;; esac
	# Raw bytes, free clusters included: a deleted FAT file keeps its data.
	fatsize=$(sfdisk --json "$disk" | python3 -c "import json,sys; print(json.load(sys.stdin)['partitiontable']['partitions'][0]['size'])")
	dd if="$disk" bs=512 skip=$((fat / 512)) count="$fatsize" 2>/dev/null >"$work/fat.raw"
	if [ -n "$hash" ] && grep -qaF "${hash#\$6\$}" "$work/fat.raw"; then
		fail "the password hash is still in the boot partition's bytes"
		return 1
	fi
	# Every line of the private host key's body (64 base64 characters each).
	sed -n '2,$p' "$work/.piprep/secrets/cp-1/ssh_host_ed25519_key" | grep -v '^-----' >"$work/private.lines"
	if [ -n "$cluster" ]; then
		# The cluster's private keys and its token too.
		cat "$work"/.piprep/secrets/cluster/pki/*.key "$work/.piprep/secrets/cluster/pki/etcd/ca.key" | grep -v '^-----' >>"$work/private.lines"
		cat "$work/.piprep/secrets/cluster/token" >>"$work/private.lines"
		wfat=$(part_start "$wdisk" 0)
		dd if="$wdisk" bs=512 skip=$((wfat / 512)) count="$(sfdisk --json "$wdisk" | python3 -c "import json,sys; print(json.load(sys.stdin)['partitiontable']['partitions'][0]['size'])")" 2>/dev/null >"$work/worker-fat.raw"
		if grep -qaFf "$work/private.lines" "$work/worker-fat.raw"; then
			fail "a cluster secret is still in worker-1's boot partition's bytes"
			return 1
		fi
		rm -f "$work/worker-fat.raw"
	fi
	if [ -n "$wifi" ]; then
		# The Wi-Fi PSK (as wpa_passphrase derives it) and the passphrase.
		python3 -c 'import hashlib,sys; print(hashlib.pbkdf2_hmac("sha1", sys.argv[1].encode(), b"piprep e2e", 4096, 32).hex())' "$wifi_pass" >>"$work/private.lines"
		echo "$wifi_pass" >>"$work/private.lines"
		mode=$(debugfs -R "stat /etc/NetworkManager/system-connections/piprep-wifi.nmconnection" "$disk?offset=$root" 2>/dev/null | sed -n 's/.*Mode: *\([0-7]*\).*/\1/p')
		[ "$mode" = 0600 ] || { fail "the Wi-Fi keyfile's mode is ${mode:-missing}, not 0600"; return 1; }
	fi
	[ -s "$work/private.lines" ] || { fail "no private host key in the secrets directory"; return 1; }
	if grep -qaFf "$work/private.lines" "$work/fat.raw"; then
		fail "the private host key is still in the boot partition's bytes"
		return 1
	fi
	rm -f "$work/fat.raw"
	# No copy of a secret anywhere in the root filesystem's files (cloud-init
	# keeps user-data under /var/lib/cloud) but where it belongs: the hash in
	# /etc/shadow (and its backup), the private key in sshd's file and in
	# piprep's root-only copy (and the stand-in router's own configuration,
	# which holds the Wi-Fi passphrase as a router does).
	rm -rf "$work/rootfs-tree"
	mkdir -p "$work/rootfs-tree"
	for d in /etc /var /root /home /tmp /usr/local /boot; do
		debugfs -R "rdump $d $work/rootfs-tree" "$disk?offset=$root" 2>/dev/null
	done
	{
		cat "$work/private.lines"
		[ -z "$hash" ] || echo "${hash#\$6\$}"
	} >"$work/secret.patterns"
	leaks=$(grep -rlaF -f "$work/secret.patterns" "$work/rootfs-tree" | sed "s|^$work/rootfs-tree||" |
		grep -vxE '/etc/shadow-?|/etc/NetworkManager/system-connections/piprep-wifi.nmconnection|/etc/e2e-access-point/hostapd.conf|/etc/ssh/ssh_host_ed25519_key|/var/lib/piprep/host-keys/ssh_host_ed25519_key|/etc/kubernetes/pki/.*|/var/lib/piprep/kubernetes/(pki/.*|init.yaml|join.yaml)' || true)
	[ -z "$leaks" ] || { fail "a secret is left in the root filesystem: $(echo $leaks)"; return 1; }
	[ "$want_backend" != cloud-init ] || [ -d "$work/rootfs-tree/var/lib/cloud/instances" ] ||
		{ fail "no cloud-init state was scanned"; return 1; }
	rm -rf "$work/rootfs-tree"
	debugfs -R "cat /etc/sysctl.d/k8s.conf" "$disk?offset=$root" 2>/dev/null >"$work/rootfs-sysctl.conf"
	debugfs -R "cat /etc/modules-load.d/k8s.conf" "$disk?offset=$root" 2>/dev/null >"$work/rootfs-modules.conf"
	printf 'net.bridge.bridge-nf-call-iptables  = 1\nnet.ipv4.ip_forward                 = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\n' | cmp -s - "$work/rootfs-sysctl.conf" || { fail "/etc/sysctl.d/k8s.conf differs"; return 1; }
	printf 'overlay\nbr_netfilter\n' | cmp -s - "$work/rootfs-modules.conf" || { fail "/etc/modules-load.d/k8s.conf differs"; return 1; }
	if [ "$release" = trixie ]; then
		has $last "rpi-swap stand-in: Mechanism=none: no swap" || { fail "rpi-swap still sets up swap"; return 1; }
	fi
	! has $last "userconfig stand-in: no user configured" || { fail "the console wizard still runs"; return 1; }
	sed -n '/^check/,$p' "$work/report.txt" >&2
	# The clock: the guest's first boot started at the image's build date
	# (not this machine's time), and a boot synchronised it from the LAN's
	# time server.
	started=$(cat "$work"/serial-*.log | sed -n 's/^.*e2e-clock: boot started at \([^ ]*\).*$/\1/p' | head -n 1 | tr -d '\r')
	synced=$(cat "$work"/serial-*.log | sed -n 's/^.*e2e-clock: synced after \([0-9]*\) s.*$/\1/p' | head -n 1)
	[ -n "$started" ] && [ -n "$synced" ] || { fail "the clock: started ${started:-?}, synced ${synced:-never}"; return 1; }
	drift=$(($(date -u -d "$started" +%s) - $(date -u -d "$built" +%s)))
	[ "${drift#-}" -lt 600 ] || { fail "the clock started at $started, not at the build date $built"; return 1; }
	log "$name: done in $(($(date +%s) - t0)) s"
	echo "e2e: $name: clock started at $started, synced after $synced s"
	echo "e2e: $name: ssh login ok, report pass"
}

# Scenarios run E2E_JOBS at a time (default 2), each guest with E2E_SMP
# virtual CPUs (default 1): measured here, two one-CPU guests side by side
# finish two scenarios in 461 s, two two-CPU guests in 522 s, one two-CPU
# guest after the other in 680 s (TCG's multi-threading costs more CPU than
# a second guest does). A scenario starts as soon as a slot is free (the
# longest first, by the default order); each one's log is printed when it
# ends, and a failing one prints its line while the others still run.
jobs=${E2E_JOBS:-2}
failures=0
running=""
# Wait until one running scenario has ended; print its log and result.
# (Its own variable: shell variables are global, and the loop below that
# calls it is over `s`.)
reap() {
	while :; do
		for ended in $running; do
			[ -f "$cache/run-$ended.rc" ] || continue
			wait "$(cat "$cache/run-$ended.pid")" || true
			[ "$(cat "$cache/run-$ended.rc")" = 0 ] || failures=$((failures + 1))
			cat "$cache/run-$ended.log" >&2
			cat "$cache/run-$ended.result"
			running=$(for r in $running; do [ "$r" = "$ended" ] || printf '%s ' "$r"; done)
			return
		done
		sleep 2
	done
}
for s in $scenarios; do rm -f "$cache/run-$s.rc"; done
for s in $scenarios; do
	while [ "$(echo $running | wc -w)" -ge "$jobs" ]; do reap; done
	rootfs_ready "${s%%-*}" || {
		echo "e2e: $s: FAILED: no ${s%%-*} root filesystem"
		failures=$((failures + 1))
		echo 1 >"$cache/run-$s.rc"
		continue
	}
	(
		pids=""
		ns=""
		trap 'for p in $pids; do kill -- "-$p" 2>/dev/null || true; done; [ -z "$ns" ] || ip netns del "$ns" 2>/dev/null' EXIT
		rc=0
		scenario "$s" || rc=$?
		echo "$rc" >"$cache/run-$s.rc"
		exit "$rc"
	) >"$cache/run-$s.result" 2>"$cache/run-$s.log" &
	echo $! >"$cache/run-$s.pid"
	running="$running $s"
done
while [ -n "$(echo $running)" ]; do reap; done
# Every scenario asked for ran once: its result file says so.
for s in $scenarios; do
	[ -f "$cache/run-$s.rc" ] || {
		echo "e2e: $s: FAILED: it never ran"
		failures=$((failures + 1))
	}
done
log "$failures of $(echo $scenarios | wc -w) scenarios failed; $(($(date +%s) - started)) s in all"
[ "$failures" -eq 0 ]
