#!/usr/bin/env bash
# berth test lab: a bootable Debian 12 cloud-style VM image, built here from Debian's packages
# (no cloud image can be downloaded in the lab), for the qemu driver's e2e tests.
#
#   vm-image.sh build [VARIANT...]   build the images missing from the cache (default: docker)
#   vm-image.sh path VARIANT         print the qcow2 path of a variant
#
# Variants: base (linux-image-cloud-amd64, cloud-init, openssh-server, sudo) and docker (base plus
# docker.io, as cloud images that ship Docker). The image boots by firmware the normal way: an MBR
# disk with one ext4 partition and GRUB (i386-pc) in the MBR gap, console on ttyS0. Each image is a
# compressed qcow2 listed in SHA256SUMS, both under /var/cache/berth-lab/vm (BERTH_LAB_VM_CACHE).
# Idempotent, needs root (debootstrap, a loop device).
set -euo pipefail

CACHE=${BERTH_LAB_VM_CACHE:-/var/cache/berth-lab/vm}
MIRROR=${BERTH_LAB_MIRROR:-http://deb.debian.org/debian}
DISK_MB=2048
PART_START=2048 # sectors: the partition starts at 1 MiB, GRUB's core.img lives before it
# Installed by apt in the chroot after a minbase debootstrap: apt orders the configuration of this
# many packages where debootstrap's --include fails (python3-cryptography before python3).
BASE_PACKAGES=(linux-image-cloud-amd64 cloud-init cloud-guest-utils fdisk openssh-server sudo systemd-sysv dbus
  ifupdown isc-dhcp-client iproute2 netbase ca-certificates procps e2fsprogs initramfs-tools grub-pc-bin grub2-common)
# Downloaded packages are kept between builds (the mirror is the slow part).
DEBS=$CACHE/.debs

log() { printf 'vm-image: %s\n' "$*" >&2; }
die() { printf 'vm-image: error: %s\n' "$*" >&2; exit 1; }

image_name() { printf 'berth-lab-bookworm-%s-amd64.qcow2' "$1"; }

# Mounts and the loop device of a build are undone whatever step failed.
MOUNTED=()
LOOP=
WORK=
release() {
  local i
  for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do umount "${MOUNTED[i]}" 2>/dev/null || umount -l "${MOUNTED[i]}" 2>/dev/null || true; done
  MOUNTED=()
  if [[ -n $LOOP ]]; then losetup -d "$LOOP" 2>/dev/null || true; LOOP=; fi
}
cleanup() {
  release
  if [[ -n $WORK ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

mount_to() { mount "$@"; MOUNTED+=("${@: -1}"); }

# configure_root DIR: what a cloud image sets up beyond its packages.
configure_root() {
  local root=$1
  printf 'berth-lab\n' >"$root/etc/hostname"
  printf '127.0.0.1 localhost\n' >"$root/etc/hosts"
  printf 'LABEL=berth-root / ext4 defaults,errors=remount-ro 0 1\n' >"$root/etc/fstab"
  # Only the NoCloud datasource: nothing probes for a metadata service that is not there.
  printf 'datasource_list: [ NoCloud, None ]\n' >"$root/etc/cloud/cloud.cfg.d/90-berth-lab.cfg"
  # The seed's network-config brings up the NICs; the image itself knows only the loopback.
  printf 'auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n' >"$root/etc/network/interfaces"
  # Host keys and the machine id are made on first boot, one per machine, never baked in.
  rm -f "$root"/etc/ssh/ssh_host_* "$root/var/lib/dbus/machine-id"
  : >"$root/etc/machine-id"
  rm -rf "$root"/var/lib/apt/lists/*
}

# install_grub DIR RAW: GRUB (i386-pc) laid out on the MBR disk as grub-install does, without
# grub-install, which needs partition device nodes the lab does not have (no udev, no partition
# scan on loop devices): boot.img in the MBR's code area, core.img from sector 1 (its first
# sector's block list points at sector 2 onward), modules and a fixed grub.cfg in /boot/grub.
install_grub() {
  local root=$1 raw=$2 kernel initrd core
  kernel=$(cd "$root/boot" && ls vmlinuz-* | sort -V | tail -1)
  initrd=initrd.img-${kernel#vmlinuz-}
  [[ -f $root/boot/$initrd ]] || die "no initramfs for $kernel"
  mkdir -p "$root/boot/grub/i386-pc"
  cp "$root"/usr/lib/grub/i386-pc/*.mod "$root"/usr/lib/grub/i386-pc/*.lst "$root/boot/grub/i386-pc/"
  {
    printf 'set timeout=0\n'
    printf 'search --no-floppy --label --set=root berth-root\n'
    printf 'linux /boot/%s root=LABEL=berth-root ro console=tty0 console=ttyS0,115200n8\n' "$kernel"
    printf 'initrd /boot/%s\n' "$initrd"
    printf 'boot\n'
  } >"$root/boot/grub/grub.cfg"
  chroot "$root" grub-mkimage -O i386-pc -o /tmp/core.img -p '(hd0,msdos1)/boot/grub' \
    biosdisk part_msdos ext2 search search_label normal configfile linux
  core=$root/tmp/core.img
  (($(stat -c %s "$core") < (PART_START - 1) * 512)) || die "core.img does not fit before the partition"
  dd if="$root/usr/lib/grub/i386-pc/boot.img" of="$raw" bs=440 count=1 conv=notrunc status=none
  dd if="$core" of="$raw" bs=512 seek=1 conv=notrunc status=none
  rm -f "$core"
}

build_variant() {
  local variant=$1 name start raw root packages=("${BASE_PACKAGES[@]}")
  name=$(image_name "$variant")
  if [[ -s $CACHE/$name ]] && grep -q " $name\$" "$CACHE/SHA256SUMS" 2>/dev/null; then
    log "$name is cached"
    return 0
  fi
  start=$SECONDS
  if [[ $variant == docker ]]; then packages+=(docker.io); fi
  mkdir -p "$CACHE" "$DEBS"
  WORK=$(mktemp -d "$CACHE/.build-$variant.XXXXXX")
  raw=$WORK/disk.raw
  root=$WORK/root
  truncate -s "${DISK_MB}M" "$raw"
  printf 'label: dos\nstart=%d, type=83, bootable\n' "$PART_START" | sfdisk -q "$raw"
  # The partition through a loop device at its offset (no partition scan here).
  LOOP=$(losetup -f --show -o $((PART_START * 512)) "$raw")
  mkfs.ext4 -q -L berth-root "$LOOP"
  mkdir -p "$root"
  mount_to "$LOOP" "$root"
  log "debootstrap bookworm ($variant) from $MIRROR"
  if ! debootstrap --variant=minbase --cache-dir="$DEBS" bookworm "$root" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
    tail -n 20 "$WORK/debootstrap.log" >&2
    die "debootstrap failed"
  fi
  mount_to --bind /dev "$root/dev"
  mount_to -t proc proc "$root/proc"
  mount_to -t sysfs sys "$root/sys"
  mount_to --bind "$DEBS" "$root/var/cache/apt/archives"
  log "installing ${packages[*]}"
  # No service starts inside the chroot.
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  if ! { chroot "$root" apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -qq --no-install-recommends "${packages[@]}"; } >"$WORK/apt.log" 2>&1; then
    tail -n 20 "$WORK/apt.log" >&2
    die "installing the packages failed"
  fi
  rm -f "$root/usr/sbin/policy-rc.d"
  configure_root "$root"
  install_grub "$root" "$raw"
  sync
  release
  log "converting to compressed qcow2"
  qemu-img convert -c -O qcow2 "$raw" "$WORK/$name"
  mv "$WORK/$name" "$CACHE/$name"
  (cd "$CACHE" && { grep -v " $name\$" SHA256SUMS 2>/dev/null || true; sha256sum "$name"; } >SHA256SUMS.new && mv SHA256SUMS.new SHA256SUMS)
  rm -rf "$WORK"
  WORK=
  log "built $CACHE/$name ($(du -m "$CACHE/$name" | cut -f1) MB) in $((SECONDS - start)) s"
}

[[ $(id -u) -eq 0 ]] || die "must run as root"
case "${1:-}" in
  build)
    shift
    (($# > 0)) || set -- docker
    # One build at a time: CI starts one early in the background, the e2e setup then waits for it.
    mkdir -p "$CACHE"
    exec 9>"$CACHE/.lock"
    flock 9
    for v in "$@"; do
      [[ $v == base || $v == docker ]] || die "unknown variant $v (base or docker)"
      build_variant "$v"
    done
    ;;
  path)
    [[ ${2:-} == base || ${2:-} == docker ]] || die "usage: $0 path base|docker"
    printf '%s\n' "$CACHE/$(image_name "$2")"
    ;;
  *)
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
