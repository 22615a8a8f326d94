#!/bin/sh
# End-to-end test: bake a node image with piprep, boot it under QEMU (arm64,
# TCG) the way the Pi firmware would, through Raspberry Pi OS's reboots, and
# check that the node passes the guide's whole verification checklist.
#
# Scenarios (E2E_SCENARIOS, default "offline online trixie"):
#   offline  Bookworm, firstrun hook; chrony and ufw preinstalled; the VM's NIC
#            is isolated (restrict=on, no forwarding): no packet leaves the VM
#   online   Bookworm, firstrun hook, as Raspberry Pi OS Lite: no chrony or ufw;
#            they are installed on the first networked boot from a local apt
#            repository served on 127.0.0.1 and reached only through QEMU's
#            guestfwd (restrict=on)
#   trixie   Trixie with cloud-init (NoCloud seeded from /boot/firmware), the
#            cloud-init backend; chrony and ufw come from the local repository
#
# Needs root (debootstrap second stage under binfmt). See `make e2e-deps`.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
cache=${E2E_CACHE:-$top/target/e2e}
piprep=${PIPREP:-$top/target/release/piprep}
scenarios=${E2E_SCENARIOS:-offline online trixie}
PATH=$PATH:/usr/sbin:/sbin

log() { echo "e2e: $*" >&2; }
server=""
trap '[ -z "$server" ] || kill -- "-$server" 2>/dev/null || true' EXIT
die() {
	log "FAILED: $*"
	exit 1
}

started=$(date +%s)
mkdir -p "$cache"
# The two root filesystems build in parallel: each second stage is mostly one
# dpkg process, so two of them use both cores.
trixie_pid=""
case " $scenarios " in *" trixie "*)
	"$top/tests/e2e/rootfs.sh" "$cache" trixie >"$cache/trixie.key" 2>"$cache/trixie-build.log" &
	trixie_pid=$!
	;;
esac
key=$("$top/tests/e2e/rootfs.sh" "$cache" bookworm)
log "bookworm rootfs ready (key $key) after $(($(date +%s) - started)) s"

# Offsets of the two partitions, from sfdisk (not piprep).
part_start() { sfdisk --json "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['partitiontable']['partitions'][$2]['start']*512)"; }

# Boot the disk once, as the firmware would: kernel, initramfs and cmdline from
# the FAT partition. Returns when QEMU exits (reboot or power-off) or kills it
# (whole process group) after $3 seconds.
boot() {
	disk=$1 serial=$2 limit=$3 nic=$4
	fat=$(part_start "$disk" 0)
	d=$(dirname "$serial")
	mcopy -o -i "$disk@@$fat" ::kernel8.img "$d/kernel"
	mcopy -o -i "$disk@@$fat" ::initramfs8 "$d/initrd"
	append=$(mtype -i "$disk@@$fat" ::cmdline.txt | tr -d '\r\n' | sed 's/console=serial0,115200/console=ttyAMA0,115200/; s/ *console=tty1//')
	append="$append net.ifnames=0"
	echo "$append" >"$serial.cmdline"
	rc=0
	setsid timeout --foreground -k 10 "$limit" qemu-system-aarch64 -M virt -cpu cortex-a57 -smp 2 -m 2048 \
		-display none -no-reboot -monitor none -serial "file:$serial" \
		-kernel "$d/kernel" -initrd "$d/initrd" -append "$append" \
		-drive "file=$disk,format=raw,if=none,id=hd0,cache=unsafe" -device virtio-blk-pci,drive=hd0 \
		-nic "$nic" </dev/null >"$serial.qemu" 2>&1 &
	qpid=$!
	wait "$qpid" || rc=$?
	kill -9 -- "-$qpid" 2>/dev/null || true
	return "$rc"
}

show_failure() {
	work=$1
	log "last 100 serial lines:"
	tail -n 100 "$(ls -t "$work"/serial-*.log | head -n 1)" >&2 || true
	log "report:"
	"$piprep" report "$work/out/cp-1.img" >&2 || true
}

scenario() {
	name=$1
	k=$key
	if [ "$name" = trixie ]; then
		if [ -n "$trixie_pid" ]; then
			wait "$trixie_pid" || { tail -n 40 "$cache/trixie-build.log" >&2; die "trixie rootfs build failed"; }
			trixie_pid=""
		fi
		k=$(cat "$cache/trixie.key")
		log "trixie rootfs ready (key $k) after $(($(date +%s) - started)) s"
	fi
	repo="$cache/repo-$k"
	work="$cache/run-$name"
	rm -rf "$work"
	mkdir -p "$work"
	t0=$(date +%s)
	nic="user,model=virtio-net-pci,restrict=on,net=10.1.1.0/24,host=10.1.1.1"
	if [ "$name" = offline ]; then
		"$top/tests/e2e/mkdisk.sh" "$cache/rootfs-offline-$k.tar" "$work/base.img"
	else
		port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
		setsid python3 -m http.server --bind 127.0.0.1 --directory "$repo" "$port" >"$work/http.log" 2>&1 &
		server=$!
		nic="$nic,guestfwd=tcp:10.1.1.100:80-cmd:nc 127.0.0.1 $port"
		"$top/tests/e2e/mkdisk.sh" "$cache/rootfs-online-$k.tar" "$work/base.img" http://10.1.1.100
	fi
	cat >"$work/piprep.toml" <<'TOML'
[cluster]
name = "e2e"
profile = "k8s-node"
subnet = "10.1.1.0/24"
gateway = "10.1.1.1"
dns = ["10.1.1.1"]

[user]
name = "k8s"
ssh_authorized_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2eTestKeyPiprepEndToEndOnly0000000000 e2e@ci"]
password_hash = "$6$e2eSaltPiprep123$Q/Rpz1pFO.TOHNBw3GwVpAzPK7msGlbh6Q/OzCNywIqiA0E5DgD4jGzt6cBFsujqbvhEKgE.zYmH52izb1U290"

[[node]]
name = "cp-1"
ip = "10.1.1.11"
role = "control-plane"
TOML
	(cd "$work" && "$piprep" bake --node cp-1 --image base.img --out out -q) || die "$name: bake failed"
	disk="$work/out/cp-1.img"
	fat=$(part_start "$disk" 0)
	root=$(part_start "$disk" 1)

	if [ "$name" = trixie ]; then
		# Boot 1: cloud-init configures everything, installs chrony and ufw,
		# writes the report; the harness powers off after cloud-final.
		boot "$disk" "$work/serial-1.log" 1500 "$nic" || { show_failure "$work"; die "$name: boot 1 timed out"; }
		grep -q "e2e-settle: powering off" "$work/serial-1.log" || { show_failure "$work"; die "$name: boot 1 did not settle"; }
		grep -qa "piprep-check: cloud-init:" "$work/serial-1.log" || grep -qa "Cloud-init .* finished" "$work/serial-1.log" || { show_failure "$work"; die "$name: cloud-init did not run piprep's checks"; }
		! grep -q "systemd.run" "$work/serial-1.log.cmdline" || die "$name: a firstrun hook on a cloud-init image"
		last=1
	else
		# Boot 1: Raspberry Pi OS's firstboot changes the disk id and reboots.
		boot "$disk" "$work/serial-1.log" 300 "$nic" || { show_failure "$work"; die "$name: boot 1 timed out"; }
		grep -q "firstboot stand-in: disk id" "$work/serial-1.log" || { show_failure "$work"; die "$name: firstboot did not run"; }
		# Boot 2: piprep's hook runs, once, and the system reboots (not powers off).
		boot "$disk" "$work/serial-2.log" 600 "$nic" || { show_failure "$work"; die "$name: boot 2 timed out"; }
		grep -q "piprep: first-boot hook done; rebooting" "$work/serial-2.log" || { show_failure "$work"; die "$name: the hook did not finish"; }
		grep -q "reboot: Restarting system" "$work/serial-2.log" || { show_failure "$work"; die "$name: boot 2 did not reboot"; }
		! grep -q "reboot: Power down" "$work/serial-2.log" || { show_failure "$work"; die "$name: boot 2 powered off (hook failed)"; }
		# Boot 3: networked setup (installs chrony/ufw when online), report, power-off.
		boot "$disk" "$work/serial-3.log" 1200 "$nic" || { show_failure "$work"; die "$name: boot 3 timed out"; }
		grep -q "e2e-settle: powering off" "$work/serial-3.log" || { show_failure "$work"; die "$name: boot 3 did not settle"; }
		hooks=$(cat "$work"/serial-*.log | grep -c "piprep: preparing node" || true)
		[ "$hooks" -eq 1 ] || die "$name: the hook ran $hooks times"
		last=3
	fi

	log "$name: verifying after $(($(date +%s) - t0)) s"
	"$piprep" report "$disk" >"$work/report-$last.txt" 2>&1 || { cat "$work/report-$last.txt" >&2; show_failure "$work"; die "$name: piprep report failed after boot $last"; }
	cat "$work/report-$last.txt" >&2
	cmdline=$(mtype -i "$disk@@$fat" ::cmdline.txt)
	case "$cmdline" in *"cgroup_memory=1 cgroup_enable=memory"*) ;; *) die "$name: cgroup args gone: $cmdline" ;; esac
	case "$cmdline" in *systemd.run* | *piprep* | *firstboot*) die "$name: first-boot args left: $cmdline" ;; esac
	if [ "$name" != trixie ]; then
		case "$cmdline" in *"root=PARTUUID=8acef004-02"*) die "$name: disk id never changed" ;; esac
	fi
	files=$(mdir -b -i "$disk@@$fat" ::/)
	case "$files" in *piprep-run.sh* | *piprep-secrets.txt*) die "$name: first-boot files left on the boot partition: $files" ;; esac
	if [ "$name" = trixie ]; then
		# The seed was ours (not the template), and its password hash is gone.
		ud=$(mtype -i "$disk@@$fat" ::user-data)
		case "$ud" in *"# piprep"*) ;; *) die "$name: user-data is not piprep's" ;; esac
		case "$ud" in *'$6$'*) die "$name: the password hash is still on the boot partition" ;; esac
	fi
	mtype -i "$disk@@$fat" ::piprep-report.txt >/dev/null || die "$name: no report on the boot partition"
	debugfs -R "cat /etc/sysctl.d/k8s.conf" "$disk?offset=$root" 2>/dev/null >"$work/rootfs-sysctl.conf"
	debugfs -R "cat /etc/modules-load.d/k8s.conf" "$disk?offset=$root" 2>/dev/null >"$work/rootfs-modules.conf"
	printf 'net.bridge.bridge-nf-call-iptables  = 1\nnet.ipv4.ip_forward                 = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\n' | cmp - "$work/rootfs-sysctl.conf" || die "$name: /etc/sysctl.d/k8s.conf differs"
	printf 'overlay\nbr_netfilter\n' | cmp - "$work/rootfs-modules.conf" || die "$name: /etc/modules-load.d/k8s.conf differs"
	first=$(mtype -i "$disk@@$fat" ::piprep-report.txt | sed -n 's/^# boot-id: //p')

	# A further boot still passes, with a refreshed report (the online scenario
	# skips it: same mechanism as offline, and it keeps CI under 30 minutes).
	if [ "$name" = online ]; then
		[ -z "$server" ] || kill -- "-$server" 2>/dev/null || true
		server=""
		log "$name: PASS in $(($(date +%s) - t0)) s"
		return 0
	fi
	next=$((last + 1))
	boot "$disk" "$work/serial-$next.log" 600 "$nic" || { show_failure "$work"; die "$name: boot $next timed out"; }
	"$piprep" report "$disk" >"$work/report-$next.txt" 2>&1 || { cat "$work/report-$next.txt" >&2; show_failure "$work"; die "$name: report failed on a further boot"; }
	second=$(mtype -i "$disk@@$fat" ::piprep-report.txt | sed -n 's/^# boot-id: //p')
	[ -n "$second" ] && [ "$first" != "$second" ] || die "$name: the report was not refreshed on boot 4"
	[ -z "$server" ] || kill -- "-$server" 2>/dev/null || true
	server=""
	log "$name: PASS in $(($(date +%s) - t0)) s"
}

for s in $scenarios; do
	scenario "$s"
done
log "all scenarios passed in $(($(date +%s) - started)) s"
