#!/bin/sh
# Build a small, rootless Raspberry-Pi-OS-like disk image, the way pi-gen lays
# it out: an MBR with a disk identifier, a FAT32 "bootfs" partition holding
# cmdline.txt, config.txt and issue.txt, and an ext4 "rootfs" partition with
# os-release, fstab, merged-/usr symlinks, a dpkg status file and the swap
# traces of the release. No mounts, loop devices or root needed.
#
# Usage: mkimage.sh [--align-mib N] [--start-sector N] [--fat-mib N] [--cluster-sectors N]
#                   [--root-mib N] [--disk-id HEX] [--fill-mib N] [--cloud-init]
#                   [--arch ARCH] VARIANT OUT.img
#   --start-sector: where the FAT partition starts (default: at --align-mib);
#                   63 gives the old DOS layout, off 4 KiB boundaries
#   --gpt: a GPT partition table (protective MBR) instead of MBR
#   --arch: the Debian architecture the dpkg database names (default arm64;
#           armhf for the 32-bit image)
#   --no-regional: no time zones, locale list or keyboard layouts (tzdata,
#                  locales and xkb-data missing)
#   --cloud-init: cloud-init installed, seeded (NoCloud) from the boot partition
#                 with pi-gen's template user-data, meta-data and network-config
#   VARIANT: bookworm | trixie
# Needs: sfdisk (fdisk), mkfs.vfat (dosfstools), mcopy (mtools), mkfs.ext4 (e2fsprogs).
set -eu

align_mib=8
start_sector=""
fat_mib=""
spc=""
root_mib=48
disk_id=""
fill_mib=0
cloud_init=no
regional=yes
label=dos
arch=arm64
while [ $# -gt 2 ]; do
	case "$1" in
	--align-mib) align_mib=$2; shift 2 ;;
	--start-sector) start_sector=$2; shift 2 ;;
	--fat-mib) fat_mib=$2; shift 2 ;;
	--cluster-sectors) spc=$2; shift 2 ;;
	--root-mib) root_mib=$2; shift 2 ;;
	--disk-id) disk_id=$2; shift 2 ;;
	--fill-mib) fill_mib=$2; shift 2 ;;
	--cloud-init) cloud_init=yes; shift ;;
	--no-regional) regional=no; shift ;;
	--gpt) label=gpt; shift ;;
	--arch) arch=$2; shift 2 ;;
	*) echo "mkimage.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
[ $# -eq 2 ] || { sed -n '2,21p' "$0" >&2; exit 2; }
variant=$1
out=$2

for tool in sfdisk mkfs.vfat mcopy mkfs.ext4; do
	command -v "$tool" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
	command -v "$tool" >/dev/null 2>&1 || {
		echo "mkimage.sh: $tool not found; install: apt-get install -y fdisk dosfstools mtools e2fsprogs" >&2
		exit 1
	}
done

case "$variant" in
bookworm)
	: "${disk_id:=8acef004}"
	: "${fat_mib:=256}"
	: "${spc:=4}"
	codename=bookworm version=12 date=2025-10-01
	cmdline="console=serial0,115200 console=tty1 root=PARTUUID=${disk_id}-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot"
	packages="dpkg raspberrypi-sys-mods userconf-pi dphys-swapfile network-manager openssh-server systemd-timesyncd"
	;;
trixie)
	: "${disk_id:=7351b90c}"
	: "${fat_mib:=64}"
	: "${spc:=1}"
	codename=trixie version=13 date=2025-10-01
	cmdline="console=serial0,115200 console=tty1 root=PARTUUID=${disk_id}-02 rootfstype=ext4 fsck.repair=yes rootwait resize"
	packages="dpkg raspberrypi-sys-mods userconf-pi rpi-swap systemd-zram-generator network-manager openssh-server systemd-timesyncd"
	;;
*)
	echo "mkimage.sh: unknown variant $variant (bookworm or trixie)" >&2
	exit 2
	;;
esac

# Room for the filler data on top of the base system.
[ "$fill_mib" -eq 0 ] || [ "$root_mib" -ge $((fill_mib + 48)) ] || root_mib=$((fill_mib + fill_mib / 20 + 48))
sector=512
align=$((align_mib * 1024 * 1024 / sector))
p1_start=${start_sector:-$align}
p1_size=$((fat_mib * 1024 * 1024 / sector))
p2_start=$(((p1_start + p1_size + align - 1) / align * align))
p2_size=$((root_mib * 1024 * 1024 / sector))
total=$(((p2_start + p2_size) * sector))

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
img="$work/disk.img"
stamp="${date}T00:00:00Z"
epoch=$(date -u -d "$stamp" +%s)

truncate -s "$total" "$img"
if [ "$label" = gpt ]; then
	# Room for the backup GPT at the end.
	total=$((total + 1024 * 1024))
	truncate -s "$total" "$img"
	sfdisk --quiet --no-reread --no-tell-kernel "$img" <<SFDISK
label: gpt
label-id: ${disk_id}-0000-4000-8000-000000000000
unit: sectors

start=$p1_start, size=$p1_size, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name=bootfs
start=$p2_start, size=$p2_size, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=rootfs
SFDISK
else
	sfdisk --quiet --no-reread --no-tell-kernel "$img" <<SFDISK
label: dos
label-id: 0x$disk_id
unit: sectors

start=$p1_start, size=$p1_size, type=c
start=$p2_start, size=$p2_size, type=83
SFDISK
fi

# Boot partition, like pi-gen's `mkdosfs -n bootfs -F 32 -s N`.
mkfs.vfat -F 32 -n bootfs -s "$spc" -i "$disk_id" --offset="$p1_start" "$img" $((p1_size / 2)) >/dev/null 2>&1
boot="$work/boot"
mkdir -p "$boot/overlays"
printf '%s\n' "$cmdline" >"$boot/cmdline.txt"
cat >"$boot/config.txt" <<'CONFIG'
# For more options and information see
# http://rptl.io/configtxt
# Some settings may impact device functionality. See link above for details

# Uncomment some or all of these to enable the optional hardware interfaces
#dtparam=i2c_arm=on
#dtparam=i2s=on
#dtparam=spi=on

# Enable audio (loads snd_bcm2835)
dtparam=audio=on

# Automatically load overlays for detected cameras
camera_auto_detect=1

# Automatically load overlays for detected DSI displays
display_auto_detect=1

# Automatically load initramfs files, if found
auto_initramfs=1

# Enable DRM VC4 V3D driver
dtoverlay=vc4-kms-v3d
max_framebuffers=2

# Don't have the firmware create an initial video= setting in cmdline.txt.
# Use the kernel's default instead.
disable_fw_kms_setup=1

# Run in 64-bit mode
arm_64bit=1

# Disable compensation for displays with overscan
disable_overscan=1

# Run as fast as firmware / board allows
arm_boost=1

[cm4]
# Enable host mode on the 2711 built-in XHCI USB controller.
# This line should be removed if the legacy DWC2 controller is required
# (e.g. for USB device mode) or if USB support is not required.
otg_mode=1

[all]
CONFIG
printf 'Raspberry Pi reference %s\nGenerated using pi-gen, https://github.com/RPi-Distro/pi-gen, 5a1e3e7ce3a8bb3d8a6e4b5b0b3a2f8f2c7a1e90, stage2\n' "$date" >"$boot/issue.txt"
printf 'kernel placeholder for tests\n' >"$boot/kernel8.img"
printf 'dtb placeholder\n' >"$boot/bcm2712-rpi-5-b.dtb"
printf 'overlays placeholder\n' >"$boot/overlays/README"
if [ "$cloud_init" = yes ]; then
	# pi-gen's stage2/04-cloud-init templates (abridged).
	printf 'instance-id: rpi-image\n' >"$boot/meta-data"
	printf '#cloud-config\n# template\nssh_pwauth: false\n' >"$boot/user-data"
	printf 'network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n      optional: true\n' >"$boot/network-config"
	packages="$packages cloud-init rpi-cloud-init-mods"
fi
find "$boot" -exec touch -d "$stamp" {} +
mcopy -s -m -o -i "$img@@$((p1_start * sector))" "$boot"/* ::/

# Root filesystem.
root="$work/root"
mkdir -p "$root/usr/bin" "$root/usr/sbin" "$root/usr/lib" "$root/etc" "$root/var/lib/dpkg" "$root/boot/firmware" "$root/home/pi"
ln -s usr/bin "$root/bin"
ln -s usr/sbin "$root/sbin"
ln -s usr/lib "$root/lib"
cat >"$root/usr/lib/os-release" <<OS
PRETTY_NAME="Debian GNU/Linux $version ($codename)"
NAME="Debian GNU/Linux"
VERSION_ID="$version"
VERSION="$version ($codename)"
VERSION_CODENAME=$codename
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
OS
ln -s ../usr/lib/os-release "$root/etc/os-release"
cat >"$root/etc/fstab" <<FSTAB
proc            /proc           proc    defaults          0       0
PARTUUID=$disk_id-01  /boot/firmware  vfat    defaults          0       2
PARTUUID=$disk_id-02  /               ext4    defaults,noatime  0       1
# a swapfile is not a swap partition, no line here
#   use  dphys-swapfile swap[on|off]  for that
FSTAB
printf 'raspberrypi\n' >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n\n127.0.1.1\traspberrypi\n' >"$root/etc/hosts"
printf 'root:x:0:0:root:/root:/bin/bash\npi:x:1000:1000:,,,:/home/pi:/bin/bash\n' >"$root/etc/passwd"
: >"$root/var/lib/dpkg/status"
for p in $packages; do
	printf 'Package: %s\nStatus: install ok installed\nArchitecture: %s\nVersion: 1.0\n\n' "$p" "$arch" >>"$root/var/lib/dpkg/status"
done
mkdir -p "$root/usr/lib/userconf-pi" "$root/usr/lib/raspberrypi-sys-mods"
printf '#!/bin/sh\n# stand-in for userconf-pi\n' >"$root/usr/lib/userconf-pi/userconf"
printf '#!/bin/sh\n# stand-in for raspberrypi-sys-mods firstboot\n' >"$root/usr/lib/raspberrypi-sys-mods/firstboot"
chmod 755 "$root/usr/lib/userconf-pi/userconf" "$root/usr/lib/raspberrypi-sys-mods/firstboot"
case "$variant" in
bookworm)
	printf 'CONF_SWAPSIZE=512\n' >"$root/etc/dphys-swapfile"
	printf '#!/bin/sh\n# stand-in for dphys-swapfile\n' >"$root/usr/sbin/dphys-swapfile"
	chmod 755 "$root/usr/sbin/dphys-swapfile"
	;;
trixie)
	mkdir -p "$root/etc/rpi/swap.conf.d" "$root/usr/lib/systemd/zram-generator.conf.d"
	printf '[Main]\nMechanism=swapfile+zram\n' >"$root/etc/rpi/swap.conf"
	printf '[zram0]\nzram-size = ram / 2\n' >"$root/usr/lib/systemd/zram-generator.conf.d/20-rpi-swap.conf"
	;;
esac
if [ "$cloud_init" = yes ]; then
	mkdir -p "$root/etc/cloud/cloud.cfg.d"
	printf 'datasource_list: [ NoCloud, None ]\ndatasource:\n  NoCloud:\n    seedfrom: file:///boot/firmware\n' >"$root/etc/cloud/cloud.cfg.d/99_raspberry-pi.cfg"
fi
if [ "$regional" = yes ]; then
	# A few entries of each list, laid out as tzdata, locales and xkb-data do.
	zi="$root/usr/share/zoneinfo"
	mkdir -p "$zi/Etc" "$zi/Europe" "$zi/America" "$zi/posix/Europe" "$root/usr/share/i18n" "$root/usr/share/X11/xkb/rules"
	for z in Etc/UTC Europe/Berlin Europe/London America/New_York posix/Europe/Berlin; do
		printf 'TZif2\n' >"$zi/$z"
	done
	ln -s Etc/UTC "$zi/UTC"
	printf '# tzdata zone table\n' >"$zi/zone.tab"
	printf '# locales supported by glibc\nen_GB.UTF-8 UTF-8\nen_US.UTF-8 UTF-8\nde_DE.UTF-8 UTF-8\nde_DE ISO-8859-1\n' >"$root/usr/share/i18n/SUPPORTED"
	printf '! model\n  pc105           Generic 105-key PC\n\n! layout\n  us              English (US)\n  gb              English (UK)\n  de              German\n  fr              French\n\n! variant\n  extd            gb: English (UK, extended, with Win keys)\n' >"$root/usr/share/X11/xkb/rules/evdev.lst"
fi
if [ "$fill_mib" -gt 0 ]; then
	# Incompressible data, for benchmarks.
	head -c $((fill_mib * 1024 * 1024)) /dev/urandom >"$root/var/filler"
fi
find "$root" -exec touch -h -d "$stamp" {} +
E2FSPROGS_FAKE_TIME=$epoch mkfs.ext4 -q -F -L rootfs -O ^64bit,^huge_file -U 8a5c1b7e-3f0d-4b8e-9c2a-6d1e0f4a2b3c \
	-E offset=$((p2_start * sector)),hash_seed=3c1d2e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f -d "$root" "$img" "$((p2_size / 2))k"

mkdir -p "$(dirname "$out")"
mv "$img" "$out.tmp.$$"
mv "$out.tmp.$$" "$out"
