#!/bin/sh
# Build (or reuse) the arm64 Debian root filesystems that stand in for
# Raspberry Pi OS Lite in the end-to-end test, and a local apt repository.
#
#   rootfs.sh CACHE_DIR [bookworm|trixie]   -> prints the cache key; creates,
#   unless present:
#     CACHE_DIR/rootfs-offline-KEY.tar  chrony and ufw preinstalled
#     CACHE_DIR/rootfs-online-KEY.tar   without chrony and ufw, with
#                                       systemd-timesyncd (as RPi OS Lite)
#     CACHE_DIR/repo-KEY/               every .deb fetched, with a Packages index
#                                       (also containerd, runc and
#                                       systemd-timesyncd, which the offline
#                                       root filesystem does not keep)
#
# debootstrap --foreign, then the second stage in a chroot under qemu-user
# (binfmt_misc). initramfs-tools is set to MODULES=list with only the virtio,
# ext4 and vfat modules, which cuts the second stage from ~27 to ~5 minutes.
# Needs root, debootstrap, qemu-user-static, apt-utils.
set -eu

cache=${1:?usage: rootfs.sh CACHE_DIR [bookworm|trixie]}
suite=${2:-bookworm}
# The Debian mirror this machine's apt uses (no host is named in the project).
mirror=$("$(dirname "$0")/mirror.sh")
# libpam-systemd provides logind, which polkitd (for network-manager) needs;
# debootstrap does not resolve that virtual dependency itself.
# tzdata, locales, keyboard-configuration: what the regional settings need
# (Raspberry Pi OS has them).
common="systemd,systemd-sysv,udev,kmod,dbus,libpam-systemd,network-manager,openssh-server,sudo,iproute2,linux-image-arm64,initramfs-tools,procps,e2fsprogs,dosfstools,python3,chrony,ufw,tzdata,locales,keyboard-configuration"
# Only where a scenario uses Wi-Fi (bookworm): wpasupplicant and rfkill for
# NetworkManager's Wi-Fi, hostapd for the stand-in access point on a simulated
# radio (mac80211_hwsim). Left out of trixie's, whose build is the longest.
wifi="wpasupplicant,rfkill,hostapd"
# Only in the repository: the Kubernetes runtime ([kubernetes] installs it),
# and the time daemon Raspberry Pi OS Lite ships (chrony conflicts with it).
# curl and openssl: what bootstrap = true and the stand-in kubeadm need.
repo_only="containerd runc systemd-timesyncd curl openssl"
modules="virtio_pci virtio_mmio virtio_blk virtio_net ext4 vfat nls_ascii nls_cp437"
# Bump when the build steps change in a way that changes the result.
recipe=5
# Raspberry Pi OS stand-ins that must be inside the initramfs (Bookworm's
# local-premount/firstboot, Trixie's local-bottom/set_partuuid), so they are
# part of the root filesystem build; busybox gives them grep, sed, od and dd.
rpi="$(dirname "$0")/rpi"
case "$suite" in
bookworm)
	# As Raspberry Pi OS Bookworm: dphys-swapfile, firstrun-style customisation.
	packages=$(echo "$common,$wifi" | sed 's/,iproute2,/,iproute2,dphys-swapfile,busybox,/')
	standin="$rpi/firstboot-initramfs"
	standin_at=local-premount/firstboot
	key=$( (printf '%s\n%s\n%s\n' "$packages" "$modules" "$recipe" && cat "$standin") | sha256sum | cut -c1-12)
	;;
trixie)
	# As current Raspberry Pi OS Trixie: configured by cloud-init (NoCloud),
	# which renders network-config through netplan.
	# python3-cffi-backend provides the python3-cffi-backend-api-* virtual
	# packages python3-cryptography needs (cloud-init -> oauthlib).
	packages="$common,cloud-init,netplan.io,python3-cffi-backend,busybox"
	standin="$rpi/set_partuuid"
	standin_at=local-bottom/set_partuuid
	key=$( (printf 'trixie\n%s\n%s\n%s\n' "$packages" "$modules" "$recipe" && cat "$standin") | sha256sum | cut -c1-12)
	;;
*)
	echo "rootfs.sh: unknown suite $suite" >&2
	exit 2
	;;
esac
mkdir -p "$cache"
cache=$(cd "$cache" && pwd) # apt below is given absolute paths
offline="$cache/rootfs-offline-$key.tar"
online="$cache/rootfs-online-$key.tar"
repo="$cache/repo-$key"
# One build per release at a time: a second caller (make e2e while CI's
# background make e2e-rootfs is still at it) waits for it and reuses its result.
exec 9>"$cache/rootfs-$suite.lock"
flock 9
if [ -f "$offline" ] && [ -f "$online" ] && [ -f "$repo/Packages" ]; then
	echo "$key"
	exit 0
fi

# binfmt_misc for arm64 binaries in the chroot ('F' flag: works inside chroots).
# The two releases build at once: whichever mounts or registers second finds
# it done, which is success.
binfmt=/proc/sys/fs/binfmt_misc
[ -e $binfmt/register ] || mount -t binfmt_misc binfmt_misc $binfmt 2>/dev/null || [ -e $binfmt/register ]
if [ ! -e $binfmt/qemu-aarch64 ]; then
	if [ -f /usr/lib/binfmt.d/qemu-aarch64.conf ]; then
		cat /usr/lib/binfmt.d/qemu-aarch64.conf >$binfmt/register 2>/dev/null || [ -e $binfmt/qemu-aarch64 ]
	else
		update-binfmts --enable qemu-aarch64 || [ -e $binfmt/qemu-aarch64 ]
	fi
fi

work=$(mktemp -d "$cache/build.XXXXXX")
root="$work/root"
unmount_all() {
	for m in proc sys dev/pts dev; do
		! mountpoint -q "$root/$m" || umount "$root/$m"
	done
}
cleanup() {
	unmount_all 2>/dev/null || true
	# Keep debootstrap's log of a failed build where the user can read it.
	[ ! -f "$root/debootstrap/debootstrap.log" ] || cp "$root/debootstrap/debootstrap.log" "$cache/debootstrap-failed.log"
	rm -rf "$work"
}
trap cleanup EXIT

echo "rootfs: debootstrap first stage ($mirror)" >&2
debootstrap --foreign --arch=arm64 --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >&2

# Only the modules a virtio VM needs in the initramfs.
mkdir -p "$root/etc/initramfs-tools/conf.d" "$root/usr/share/initramfs-tools/modules.d"
echo "MODULES=list" >"$root/etc/initramfs-tools/conf.d/e2e-modules"
printf '%s\n' $modules >"$root/usr/share/initramfs-tools/modules.d/e2e-virtio"
echo "BUSYBOX=y" >"$root/etc/initramfs-tools/conf.d/e2e-busybox"
install -D -m 0755 "$standin" "$root/etc/initramfs-tools/scripts/$standin_at"
# No manuals, documentation or translations: nothing here reads them, and
# unpacking them (and man-db's trigger) is a good part of the second stage.
mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
printf '%s\n' 'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/doc/*' \
	'path-include=/usr/share/doc/*/copyright' 'path-exclude=/usr/share/info/*' \
	'path-exclude=/usr/share/locale/*' 'path-include=/usr/share/locale/locale.alias' \
	>"$root/etc/dpkg/dpkg.cfg.d/e2e-nodoc"
# No fsync per unpacked file: a failed build is thrown away anyway.
echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/e2e-unsafe-io"

rm -rf "$repo.tmp"
mkdir -p "$repo.tmp"
cp "$root"/var/cache/apt/archives/*.deb "$repo.tmp/"

echo "rootfs: second stage under qemu-user (about 5 minutes)" >&2
# The second stage mounts (and unmounts) /proc and /sys itself.
mount --bind /dev "$root/dev"
chroot "$root" /debootstrap/debootstrap --second-stage >&2

# Raspberry Pi OS-like basics.
echo raspberrypi >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n\n127.0.1.1\traspberrypi\n' >"$root/etc/hosts"
chroot "$root" systemctl enable NetworkManager ssh >&2 || true
[ "$suite" != bookworm ] || chroot "$root" systemctl enable dphys-swapfile >&2 || true
rm -f "$root"/var/cache/apt/archives/*.deb
unmount_all

# The repository-only packages and what they need beyond this root filesystem,
# resolved and downloaded by this machine's own apt against the chroot's
# sources and dpkg database (native speed; nothing is installed).
echo "rootfs: downloading $repo_only for the repository" >&2
apt_state="$work/apt"
mkdir -p "$apt_state/lists/partial" "$apt_state/archives/partial"
chroot_apt() {
	apt-get -q -o Dir="$root" -o Dir::State::status="$root/var/lib/dpkg/status" -o Dir::State::Lists="$apt_state/lists" \
		-o Dir::Cache::archives="$apt_state/archives" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= \
		-o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o Debug::NoLocking=1 \
		-o Acquire::Languages=none "$@"
}
chroot_apt update >&2
# shellcheck disable=SC2086 # one word per package
chroot_apt install --download-only -y --no-install-recommends $repo_only >&2
cp "$apt_state"/archives/*.deb "$repo.tmp/"

tar -C "$root" -cf "$offline.tmp" .

echo "rootfs: online variant without chrony and ufw, with systemd-timesyncd" >&2
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
chroot "$root" dpkg --purge chrony ufw >&2
cp "$apt_state"/archives/systemd-timesyncd_*.deb "$root/tmp/"
chroot "$root" sh -c 'dpkg -i /tmp/systemd-timesyncd_*.deb && rm /tmp/systemd-timesyncd_*.deb' >&2
unmount_all
tar -C "$root" -cf "$online.tmp" .

(cd "$repo.tmp" && apt-ftparchive packages . >Packages && gzip -kf Packages && apt-ftparchive release . >Release)
rm -rf "$repo"
mv "$repo.tmp" "$repo"
mv "$offline.tmp" "$offline"
mv "$online.tmp" "$online"
echo "$key"
