#!/bin/sh
# Build a disk image with the real Raspberry Pi OS layout from a rootfs tarball,
# without mounts: MBR with a disk id, FAT32 "bootfs" (kernel8.img, initramfs8,
# Raspberry Pi OS's own cmdline.txt with init=…/firstboot) and ext4 "rootfs".
#
#   mkdisk.sh ROOTFS.tar OUT.img [REPO_URL]
#
# A Bookworm-style rootfs gets a stand-in for raspberrypi-sys-mods' firstboot
# (new disk id in the MBR, fstab and cmdline.txt, its own init= removed,
# reboot). A rootfs with cloud-init is set up as Trixie images are: NoCloud
# seeded from /boot/firmware, with pi-gen's template seed files. Both get a test
# harness unit that powers the VM off once the first-boot work has finished.
set -eu
tar=$1
out=$2
repo_url=${3:-}
disk_id=8acef004
sector=512
p1_start=16384                  # 8 MiB, as pi-gen since 2025
p1_size=$((256 * 2048))         # 256 MiB FAT32
p2_start=$((p1_start + p1_size))
p2_size=$((2560 * 2048))        # 2.5 GiB ext4: room for apt
total=$(((p2_start + p2_size) * sector))

work=$(mktemp -d "${TMPDIR:-/tmp}/e2e-disk.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/root"
boot="$work/boot"
mkdir -p "$root" "$boot"
tar -C "$root" -xf "$tar"

kernel=$(ls "$root"/boot/vmlinuz-* | sort | tail -n 1)
initrd=$(ls "$root"/boot/initrd.img-* | sort | tail -n 1)
cp "$kernel" "$boot/kernel8.img"
cp "$initrd" "$boot/initramfs8"
cloud_init=no
[ ! -x "$root/usr/bin/cloud-init" ] || cloud_init=yes
if [ "$cloud_init" = yes ]; then
	# Trixie's cmdline without ` resize` (nothing here would remove it).
	printf 'console=serial0,115200 console=tty1 root=PARTUUID=%s-02 rootfstype=ext4 fsck.repair=yes rootwait\n' "$disk_id" >"$boot/cmdline.txt"
	# As pi-gen's stage2/04-cloud-init: templates on the boot partition and
	# NoCloud seeded from it.
	printf 'instance-id: rpi-image\n' >"$boot/meta-data"
	printf '#cloud-config\n# template from the image\nssh_pwauth: false\n' >"$boot/user-data"
	printf 'network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n      optional: true\n' >"$boot/network-config"
	mkdir -p "$root/etc/cloud/cloud.cfg.d"
	printf 'datasource_list: [ NoCloud, None ]\ndatasource:\n  NoCloud:\n    seedfrom: file:///boot/firmware\n' >"$root/etc/cloud/cloud.cfg.d/99_raspberry-pi.cfg"
	# The seed lives on the boot partition: mount it before cloud-init looks.
	for unit in cloud-init-local.service cloud-init-main.service; do
		mkdir -p "$root/etc/systemd/system/$unit.d"
		printf '[Unit]\nRequiresMountsFor=/boot/firmware\n' >"$root/etc/systemd/system/$unit.d/e2e-bootfs.conf"
	done
else
	printf 'console=serial0,115200 console=tty1 root=PARTUUID=%s-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n' "$disk_id" >"$boot/cmdline.txt"
fi
printf '[all]\narm_64bit=1\nauto_initramfs=1\n' >"$boot/config.txt"
printf 'Raspberry Pi reference (piprep e2e stand-in)\nGenerated using pi-gen\n' >"$boot/issue.txt"

cat >"$root/etc/fstab" <<FSTAB
proc            /proc           proc    defaults          0       0
PARTUUID=$disk_id-01  /boot/firmware  vfat    defaults          0       2
PARTUUID=$disk_id-02  /               ext4    defaults,noatime  0       1
# a swapfile is not a swap partition, no line here
#   use  dphys-swapfile swap[on|off]  for that
FSTAB
mkdir -p "$root/boot/firmware"

# Stand-in for /usr/lib/raspberrypi-sys-mods/firstboot (runs as PID 1 once).
mkdir -p "$root/usr/lib/raspberrypi-sys-mods"
cat >"$root/usr/lib/raspberrypi-sys-mods/firstboot" <<'FIRSTBOOT'
#!/bin/sh
# e2e stand-in for Raspberry Pi OS's firstboot: what it does to the disk id and
# cmdline.txt, without the resize.
echo "firstboot stand-in: starting"
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -o remount,rw /
mkdir -p /boot/firmware
mount -t vfat /dev/vda1 /boot/firmware
old=$(sed -n 's/.*root=PARTUUID=\([0-9a-f]\{8\}\)-02.*/\1/p' /boot/firmware/cmdline.txt)
new=$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
# The MBR disk signature is little-endian at byte 440 (octal escapes: dash's
# printf has no \x).
le=""
for i in 7 5 3 1; do
	byte=$(printf '%s' "$new" | cut -c"$i-$((i + 1))")
	le="$le\\$(printf '%03o' "$((0x$byte))")"
done
printf "$le" | dd of=/dev/vda bs=1 seek=440 count=4 conv=notrunc 2>/dev/null
sed -i "s/$old/$new/g" /etc/fstab /boot/firmware/cmdline.txt
sed -i 's| init=/usr/lib/raspberrypi-sys-mods/firstboot||; s| quiet||' /boot/firmware/cmdline.txt
echo "firstboot stand-in: disk id $old -> $new; rebooting"
sync
umount /boot/firmware
# fstab already names the new id, so remount through sysrq: u (read-only), b (reboot).
echo u >/proc/sysrq-trigger
sleep 1
echo b >/proc/sysrq-trigger
FIRSTBOOT
chmod 755 "$root/usr/lib/raspberrypi-sys-mods/firstboot"

# Harness: power off once piprep-setup has run, so the test can read the disk.
cat >"$root/etc/systemd/system/e2e-settle.service" <<'UNIT'
[Unit]
Description=e2e harness: power off after the first-boot work
After=piprep-setup.service network-online.target cloud-final.service

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "e2e-settle: powering off"; systemctl --no-block poweroff'
StandardOutput=journal+console
UNIT
# cloud-final runs after multi-user.target, so with cloud-init the harness hangs
# off cloud-final (ordering it after multi-user would be a cycle).
wants=multi-user.target.wants
[ "$cloud_init" = no ] || wants=cloud-final.service.wants
mkdir -p "$root/etc/systemd/system/$wants"
ln -sf /etc/systemd/system/e2e-settle.service "$root/etc/systemd/system/$wants/e2e-settle.service"

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
mkfs.vfat -F 32 -n bootfs -s 4 --offset="$p1_start" "$work/disk.img" $((p1_size / 2)) >/dev/null 2>&1
mcopy -s -o -i "$work/disk.img@@$((p1_start * sector))" "$boot"/* ::/
mkfs.ext4 -q -F -L rootfs -O ^64bit,^huge_file -E offset=$((p2_start * sector)) -d "$root" "$work/disk.img" "$((p2_size / 2))k"
mv "$work/disk.img" "$out"
