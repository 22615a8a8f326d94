#!/bin/sh
# Build a disk image with the real Raspberry Pi OS layout from a root filesystem
# tarball, without mounts, and give it one scenario's Raspberry Pi OS
# behaviours (the stand-ins in rpi/, written for this test):
#
#   mkdisk.sh ROOTFS.tar OUT.img SCENARIO [REPO_URL]
#
# SCENARIO is bookworm, trixie-2025-10, trixie-2026 or trixie-online (a
# bookworm -online suffix is ignored here; REPO_URL makes apt use the test's
# repository instead). The image's build date goes to OUT.img.build-date (the
# newest file of the root filesystem's packages): the guest's clock starts there.
#
#   all          MBR with a disk id; FAT32 "bootfs" with kernel8.img, initramfs8,
#                config.txt, issue.txt and the release's own cmdline.txt; ext4
#                "rootfs"; sshd disabled and its host keys deleted (pi-gen); uid 1000 `pi` with
#                the userconf-pi helper and its console wizard enabled (pi-gen
#                runs rename-user), which blocks multi-user.target until a user
#                is configured; systemd's first boot pending (/etc/machine-id);
#                raspberrypi-sys-mods' regenerate_ssh_host_keys.service enabled
#                (before ssh.service, after sysinit.target: deletes and remakes
#                every host key once); no file newer than the build date
#   bookworm     p1 at 4 MiB, FAT -s 4; `quiet init=…/firstboot` (new disk id,
#                host keys, token clean-up, reboot) and the initramfs resize
#                whenever the command line contains `firstboot` (built into
#                the root filesystem by rootfs.sh); dphys-swapfile enabled
#   trixie-*     p1 at 8 MiB; ` resize` handled in the initramfs (new disk id,
#                every ` resize` removed, no reboot: built into the root
#                filesystem by rootfs.sh); rpi-swap (zram + /var/swap) until
#                Mechanism=none; host keys made only on systemd's first boot
#                (Debian's sshd-keygen.service, wanted by ssh.service);
#                cloud-init installed and enabled with NoCloud from the boot
#                partition (`seedfrom: file:///boot/firmware`, nothing that
#                orders it after that mount), falling back to its None
#                datasource and its default user `pi`; Raspberry Pi OS's
#                cloud-init distro (a user it creates goes through
#                rename-user, which re-enables the console wizard; no
#                fallback network); network-config rendered through netplan,
#                with no netplan file that selects NetworkManager;
#                systemd-timesyncd's clock file at the build date
#   trixie-2025-10  FAT -s 4; no seed files on the boot partition (unseeded)
#   trixie-2026  FAT -s 1; pi-gen's template seed files; uid 1000 has
#                /usr/sbin/nologin (pi-gen since 2026-04); the boot partition
#                is mounted late (a slow card): after cloud-init's first stage,
#                unless the image orders that stage after the mount
#   trixie-online  as trixie-2026 without the late mount
#
#   E2E_ACCESS_POINT=DIR  (any scenario) a Wi-Fi radio and an access point,
#                with NetworkManager's Wi-Fi off as pi-gen leaves it (all)
#
# A test harness unit powers the VM off once the first-boot work is done,
# unless the kernel command line holds `e2e.stay` (the SSH login boot).
set -eu
tar=$1
out=$2
scenario=$3
[ "$scenario" != bookworm-online ] || scenario=bookworm
repo_url=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
rpi=$here/rpi
disk_id=8acef004
sector=512
case "$scenario" in
bookworm)
	p1_start=8192 # 4 MiB, as pi-gen until 2024-11
	fat_cluster=4
	first_shell=/bin/bash
	machine_id="" # pi-gen's Bookworm export empties it
	;;
trixie-2025-10)
	p1_start=16384 # 8 MiB, as pi-gen since 2025
	fat_cluster=4
	first_shell=/bin/bash
	machine_id=uninitialized
	;;
trixie-2026 | trixie-online)
	p1_start=16384
	fat_cluster=1
	first_shell=/usr/sbin/nologin
	machine_id=uninitialized
	;;
*)
	echo "mkdisk.sh: unknown scenario $scenario" >&2
	exit 2
	;;
esac
p1_size=$((256 * 2048))  # 256 MiB FAT32
p2_start=$((p1_start + p1_size))
p2_size=$((2560 * 2048)) # 2.5 GiB ext4: room for apt
total=$(((p2_start + p2_size) * sector))

work=$(mktemp -d "${TMPDIR:-/tmp}/e2e-disk.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/root"
boot="$work/boot"
mkdir -p "$root" "$boot"
tar -C "$root" -xf "$tar"
# The build date: the newest program the packages brought (their files keep
# the package's build time; files made while installing do not). A real image
# is built after its newest package; the Pi's first boot starts at its build
# date (fake-hwclock on Bookworm, timesyncd's clock file on Trixie).
built=$(find "$root/usr/bin" "$root/usr/sbin" -type f -printf '%T@\n' | sort -n | tail -n 1 | cut -d. -f1)

# Install a stand-in package's files and register it in the image's dpkg
# database (status and file list), so that the image says it is installed, as
# the real package would. Usage: standin_pkg NAME < "SRC DEST MODE" lines
standin_pkg() {
	name=$1
	: >"$root/var/lib/dpkg/info/$name.list"
	while read -r src dest mode; do
		install -D -m "$mode" "$src" "$root$dest"
		echo "$dest" >>"$root/var/lib/dpkg/info/$name.list"
	done
	printf '\nPackage: %s\nStatus: install ok installed\nPriority: optional\nSection: admin\nMaintainer: piprep e2e <e2e@localhost>\nArchitecture: all\nVersion: 0.0-piprep-e2e\nDescription: piprep e2e stand-in for %s\n' "$name" "$name" >>"$root/var/lib/dpkg/status"
}
wants() { # UNIT TARGET LINK: what `systemctl enable` would create
	mkdir -p "$root/etc/systemd/system/$2.wants"
	ln -sf "$3" "$root/etc/systemd/system/$2.wants/$1"
}

kernel=$(ls "$root"/boot/vmlinuz-* | sort | tail -n 1)
initrd=$(ls "$root"/boot/initrd.img-* | sort | tail -n 1)
cp "$kernel" "$boot/kernel8.img"
cp "$initrd" "$boot/initramfs8"
printf '[all]\narm_64bit=1\nauto_initramfs=1\n' >"$boot/config.txt"
printf 'Raspberry Pi reference (piprep e2e stand-in)\nGenerated using pi-gen\n' >"$boot/issue.txt"
mkdir -p "$root/boot/firmware"
cat >"$root/etc/fstab" <<FSTAB
proc            /proc           proc    defaults          0       0
PARTUUID=$disk_id-01  /boot/firmware  vfat    defaults          0       2
PARTUUID=$disk_id-02  /               ext4    defaults,noatime  0       1
# a swapfile is not a swap partition, no line here
#   use  dphys-swapfile swap[on|off]  for that
FSTAB

# --- Every release: pi-gen's first user, SSH host keys, machine id -----------
groupadd -R "$root" -g 1000 pi
useradd -R "$root" -u 1000 -g 1000 -m -s "$first_shell" -c "" pi
usermod -R "$root" -p '*' pi
for g in adm dialout cdrom audio users sudo video plugdev input netdev; do
	! grep -q "^$g:" "$root/etc/group" || usermod -R "$root" -a -G "$g" pi
done
printf 'pi ALL=(ALL) NOPASSWD: ALL\n' >"$root/etc/sudoers.d/010_pi-nopasswd"
chmod 0440 "$root/etc/sudoers.d/010_pi-nopasswd"
rm -f "$root"/etc/ssh/ssh_host_*
printf '%s' "${machine_id:+$machine_id
}" >"$root/etc/machine-id"
standin_pkg userconf-pi <<EOF
$rpi/userconf-pi/userconf /usr/lib/userconf-pi/userconf 0755
$rpi/userconf-pi/userconf-service /usr/lib/userconf-pi/userconf-service 0755
$rpi/userconf-pi/userconfig.service /lib/systemd/system/userconfig.service 0644
$rpi/userconf-pi/rename-user /usr/bin/rename-user 0755
EOF
# raspberrypi-sys-mods: the SSH host keys made anew on the first
# multi-user boot (pi-gen enabled this until 2025-08; the package may still).
{
	echo "$rpi/sys-mods/regenerate_ssh_host_keys /usr/lib/raspberrypi-sys-mods/regenerate_ssh_host_keys 0755"
	echo "$rpi/sys-mods/regenerate_ssh_host_keys.service /lib/systemd/system/regenerate_ssh_host_keys.service 0644"
	[ "$scenario" != bookworm ] || echo "$rpi/firstboot /usr/lib/raspberrypi-sys-mods/firstboot 0755"
} | standin_pkg raspberrypi-sys-mods
wants regenerate_ssh_host_keys.service multi-user.target /lib/systemd/system/regenerate_ssh_host_keys.service
# sshd off, as pi-gen builds it (ENABLE_SSH=0): whoever configures the node
# must enable it.
rm -f "$root/etc/systemd/system/multi-user.target.wants/ssh.service" "$root/etc/systemd/system/sshd.service"
# As pi-gen's `rename-user -f -s`: the wizard on, getty@tty1 off.
wants userconfig.service multi-user.target /lib/systemd/system/userconfig.service
rm -f "$root/etc/systemd/system/getty.target.wants/getty@tty1.service"

# pi-gen without a Wi-Fi country (stage2/02-net-tweaks): NetworkManager
# starts with Wi-Fi off.
mkdir -p "$root/var/lib/NetworkManager"
printf '[main]\nWirelessEnabled=false\n' >"$root/var/lib/NetworkManager/NetworkManager.state"

# --- A Wi-Fi radio and a router, when the scenario asks (E2E_ACCESS_POINT=DIR
# with hostapd.conf and udhcpd.conf): two simulated radios (mac80211_hwsim);
# phy0 is the Pi's, which the kernel starts blocked (raspberrypi-sys-mods'
# rfkill.default_state=0) and systemd-rfkill restores from the saved state
# (the stand-in in wifi/); phy0's wlan1 twin is the access point's.
if [ -n "${E2E_ACCESS_POINT:-}" ]; then
	wifi=$here/wifi
	install -D -m 0755 "$wifi/rfkill-restore" "$root/usr/local/lib/e2e-rfkill-restore"
	install -D -m 0644 "$wifi/rfkill-restore.service" "$root/etc/systemd/system/e2e-rfkill-restore.service"
	wants e2e-rfkill-restore.service sysinit.target /etc/systemd/system/e2e-rfkill-restore.service
	install -D -m 0755 "$wifi/access-point" "$root/usr/local/lib/e2e-access-point"
	install -D -m 0644 "$wifi/access-point.service" "$root/etc/systemd/system/e2e-access-point.service"
	wants e2e-access-point.service multi-user.target /etc/systemd/system/e2e-access-point.service
	install -D -m 0644 "$E2E_ACCESS_POINT/hostapd.conf" "$root/etc/e2e-access-point/hostapd.conf"
	install -D -m 0644 "$E2E_ACCESS_POINT/udhcpd.conf" "$root/etc/e2e-access-point/udhcpd.conf"
	mkdir -p "$root/etc/modules-load.d" "$root/etc/modprobe.d" "$root/etc/NetworkManager/conf.d"
	echo mac80211_hwsim >"$root/etc/modules-load.d/e2e-hwsim.conf"
	echo 'options mac80211_hwsim radios=2' >"$root/etc/modprobe.d/e2e-hwsim.conf"
	printf '[keyfile]\nunmanaged-devices=interface-name:wlan1\n' >"$root/etc/NetworkManager/conf.d/e2e-access-point.conf"
fi

# --- Per release ---------------------------------------------------------------
case "$scenario" in
bookworm)
	printf 'console=serial0,115200 console=tty1 root=PARTUUID=%s-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n' "$disk_id" >"$boot/cmdline.txt"
	# dphys-swapfile (Debian's own) is enabled by rootfs.sh; keep its file small.
	sed -i 's/^#\{0,1\}CONF_SWAPSIZE=.*/CONF_SWAPSIZE=64/' "$root/etc/dphys-swapfile"
	;;
trixie-*)
	printf 'console=serial0,115200 console=tty1 root=PARTUUID=%s-02 rootfstype=ext4 fsck.repair=yes rootwait resize\n' "$disk_id" >"$boot/cmdline.txt"
	standin_pkg rpi-swap <<EOF
$rpi/rpi-swap/rpi-swap /usr/lib/rpi-swap/rpi-swap 0755
$rpi/rpi-swap/rpi-swap.service /lib/systemd/system/rpi-swap.service 0644
$rpi/rpi-swap/swap.conf /etc/rpi/swap.conf 0644
EOF
	wants rpi-swap.service swap.target /lib/systemd/system/rpi-swap.service
	# Host keys: Debian's own sshd-keygen.service (ConditionFirstBoot=yes,
	# wanted by ssh.service) is what makes them on Trixie; nothing to add.
	grep -qs ConditionFirstBoot "$root/usr/lib/systemd/system/sshd-keygen.service" || {
		echo "mkdisk.sh: this Trixie root filesystem has no first-boot sshd-keygen.service" >&2
		exit 1
	}
	# cloud-init: NoCloud from the boot partition, else the None datasource,
	# whose default user is Raspberry Pi OS's `pi`.
	install -D -m 0644 "$rpi/99_raspberry-pi.cfg" "$root/etc/cloud/cloud.cfg.d/99_raspberry-pi.cfg"
	sed -i 's/^\([[:space:]]*name:[[:space:]]*\)debian[[:space:]]*$/\1pi/' "$root/etc/cloud/cloud.cfg"
	grep -q '^[[:space:]]*name:[[:space:]]*pi$' "$root/etc/cloud/cloud.cfg" || {
		echo "mkdisk.sh: cloud.cfg has no default user to rename to pi" >&2
		exit 1
	}
	# Raspberry Pi OS's cloud-init distro, for Debian's cloud-init.
	py=$(ls -d "$root"/usr/lib/python3/dist-packages/cloudinit/distros)
	install -m 0644 "$rpi/cloud-init/raspberry_pi_os.py" "$py/raspberry_pi_os.py"
	install -m 0644 "$rpi/cloud-init/05_raspberry-pi-os.cfg" "$root/etc/cloud/cloud.cfg.d/05_raspberry-pi-os.cfg"
	# netplan renders network-config; nothing selects NetworkManager for it.
	[ -x "$root/usr/sbin/netplan" ] || { echo "mkdisk.sh: this Trixie root filesystem has no netplan" >&2; exit 1; }
	if grep -rlsq 'renderer: *NetworkManager' "$root/etc/netplan" "$root/lib/netplan" "$root/usr/lib/netplan"; then
		echo "mkdisk.sh: a netplan file in this root filesystem already selects NetworkManager" >&2
		exit 1
	fi
	# Nothing orders cloud-init after the boot partition's mount (no
	# RequiresMountsFor drop-in, as on images without rpi-cloud-init-mods').
	if [ "$scenario" != trixie-2025-10 ]; then
		cp "$rpi/seed/meta-data" "$rpi/seed/user-data" "$rpi/seed/network-config" "$boot/"
	fi
	if [ "$scenario" = trixie-2026 ]; then
		# A slow card: the boot partition is mounted after cloud-init's first
		# stage has run, the worst case of the race (under TCG cloud-init
		# starts so late that a fixed delay would lose it) -- unless the image
		# orders that stage after the mount (Raspberry Pi's drop-in, or
		# piprep's), when waiting for it would deadlock: then 20 s late.
		cat >"$root/usr/local/lib/e2e-slow-bootfs" <<'SCRIPT'
#!/bin/sh
if systemctl show -P After cloud-init-local.service | tr ' ' '\n' | grep -qx boot-firmware.mount; then
	echo "e2e-slow-bootfs: cloud-init waits for the boot partition, which is mounted 20 s late"
	sleep 20
	exit 0
fi
echo "e2e-slow-bootfs: nothing orders cloud-init after the boot partition: it is mounted after cloud-init's first stage"
n=0
while [ "$n" -lt 600 ]; do
	case "$(systemctl show -P ActiveState cloud-init-local.service)" in active | failed) break ;; esac
	# No start job left (its conditions failed): it will not run this boot.
	systemctl list-jobs --no-legend 2>/dev/null | grep -q 'cloud-init-local\.service' || break
	sleep 1
	n=$((n + 1))
done
echo "e2e-slow-bootfs: cloud-init's first stage ended after $n s; mounting the boot partition"
SCRIPT
		chmod 0755 "$root/usr/local/lib/e2e-slow-bootfs"
		cat >"$root/etc/systemd/system/e2e-slow-bootfs.service" <<'UNIT'
[Unit]
Description=e2e harness: the boot partition is mounted late (a slow card)
DefaultDependencies=no

[Service]
Type=oneshot
ExecStart=/usr/local/lib/e2e-slow-bootfs
StandardOutput=journal+console
UNIT
		mkdir -p "$root/etc/systemd/system/boot-firmware.mount.d"
		printf '[Unit]\nWants=e2e-slow-bootfs.service\nAfter=e2e-slow-bootfs.service\n' \
			>"$root/etc/systemd/system/boot-firmware.mount.d/e2e-slow.conf"
	fi
	# Trixie keeps the clock of the image's build in timesyncd's clock file.
	mkdir -p "$root/var/lib/systemd/timesync"
	: >"$root/var/lib/systemd/timesync/clock"
	;;
esac

# --- Test harness --------------------------------------------------------------
# Power off once the first-boot work has finished, so the test can read the disk.
cat >"$root/etc/systemd/system/e2e-settle.service" <<'UNIT'
[Unit]
Description=e2e harness: power off after the first-boot work
After=piprep-setup.service network-online.target cloud-final.service
ConditionKernelCommandLine=!e2e.stay

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "e2e-settle: powering off"; systemctl --no-block poweroff'
StandardOutput=journal+console
UNIT
# cloud-final runs after multi-user.target, so with cloud-init the harness hangs
# off cloud-final (ordering it after multi-user would be a cycle).
target=multi-user.target
[ ! -x "$root/usr/bin/cloud-init" ] || target=cloud-final.service
wants e2e-settle.service "$target" /etc/systemd/system/e2e-settle.service
# The clock: where it started on each boot, and when a time daemon synchronised it.
cat >"$root/usr/local/lib/e2e-clock" <<'SCRIPT'
#!/bin/sh
up=$(cut -d. -f1 /proc/uptime)
echo "e2e-clock: boot started at $(date -u -d "@$(($(date +%s) - up))" +%Y-%m-%dT%H:%M:%SZ)"
while :; do
	if [ -e /run/systemd/timesync/synchronized ] || chronyc -n tracking 2>/dev/null | grep -q '^Leap status *: Normal'; then
		echo "e2e-clock: synced after $(cut -d. -f1 /proc/uptime) s: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		exit 0
	fi
	sleep 1
done
SCRIPT
chmod 0755 "$root/usr/local/lib/e2e-clock"
cat >"$root/etc/systemd/system/e2e-clock.service" <<'UNIT'
[Unit]
Description=e2e harness: the clock at boot, and when it is synchronised
DefaultDependencies=no

[Service]
ExecStart=/usr/local/lib/e2e-clock
StandardOutput=journal+console
UNIT
wants e2e-clock.service sysinit.target /etc/systemd/system/e2e-clock.service

# Nothing in the image is newer than its build.
find "$root" -xdev -newermt "@$built" -exec touch -h -d "@$built" {} +
echo "$built" >"$out.build-date"

if [ -n "$repo_url" ]; then
	rm -f "$root"/etc/apt/sources.list.d/*.sources
	printf 'deb [trusted=yes] %s ./\n' "$repo_url" >"$root/etc/apt/sources.list"
fi

truncate -s "$total" "$work/disk.img"
sfdisk --quiet --no-reread --no-tell-kernel "$work/disk.img" <<SFDISK
label: dos
label-id: 0x$disk_id
unit: sectors

start=$p1_start, size=$p1_size, type=c
start=$p2_start, size=$p2_size, type=83
SFDISK
mkfs.vfat -F 32 -n bootfs -s "$fat_cluster" --offset="$p1_start" "$work/disk.img" $((p1_size / 2)) >/dev/null 2>&1
mcopy -s -o -i "$work/disk.img@@$((p1_start * sector))" "$boot"/* ::/
E2FSPROGS_FAKE_TIME=$built mkfs.ext4 -q -F -L rootfs -O ^64bit,^huge_file -E offset=$((p2_start * sector)) -d "$root" "$work/disk.img" "$((p2_size / 2))k"
mv "$work/disk.img" "$out"
