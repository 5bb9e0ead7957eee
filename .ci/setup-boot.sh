#!/usr/bin/env bash
# Boot judge setup (DESIGN.md, judge 3): qemu-system-x86_64, Debian's cloud kernel and a stock
# initramfs-tools initrd for it, plus the busybox-static .deb the boot test builds its root from.
# Writes fixtures/out/boot/env (VMLINUZ=, INITRD=, KVER=, QEMU=) for test/boot.test.ts.
#
# Idempotent: a second run checks the env file and returns in well under a second. Quiet: apt's
# output goes to fixtures/out/boot/setup.log and is printed only on failure. Needs root and the
# Debian registry (apt). Run by .ci/run before `npm test`; run it by hand to boot-test locally.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$PWD/fixtures/out/boot
ENV_FILE=$OUT/env
LOG=$OUT/setup.log
mkdir -p "$OUT"
start=$(date +%s)

# Modules the root disk needs before the root is mounted: built in (=y) or in the initrd.
NEEDED_MODULES=(virtio_pci virtio_blk ext4)
NEEDED_CONFIG=(CONFIG_VIRTIO_PCI CONFIG_VIRTIO_BLK CONFIG_EXT4_FS)

fail() {
  echo "setup-boot: $*" >&2
  [ -s "$LOG" ] && { echo "---- last lines of $LOG" >&2; tail -n 40 "$LOG" >&2; }
  exit 1
}

# The fast path: everything recorded is still there.
already_done() {
  [ -s "$ENV_FILE" ] || return 1
  # shellcheck disable=SC1090
  (. "$ENV_FILE" && [ -f "$VMLINUZ" ] && [ -f "$INITRD" ] && [ -x "$QEMU" ] && [ -n "$KVER" ]) || return 1
  fixtures/fetch-debs.sh --check boot >/dev/null 2>&1 || return 1
}
if already_done; then
  echo "== boot judge: ready ($(sed -n 's/^KVER=//p' "$ENV_FILE"), ${ENV_FILE#"$PWD"/})"
  exit 0
fi

[ "$(id -u)" = 0 ] || fail "needs root (apt-get install); run as root or set it up by hand"
: >"$LOG"

apt_updated=
apt_update() {
  [ -n "$apt_updated" ] && return 0
  apt-get update -qq >>"$LOG" 2>&1 || fail "apt-get update failed"
  apt_updated=1
}
apt_install() {
  apt_update
  echo "== boot judge: installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >>"$LOG" 2>&1 ||
    fail "apt-get install $* failed"
}

# The newest cloud kernel present: /boot/vmlinuz-<KVER> with KVER ending in -cloud-amd64.
cloud_kver() {
  local f
  for f in /boot/vmlinuz-*-cloud-amd64; do
    if [ -e "$f" ]; then echo "${f#/boot/vmlinuz-}"; fi
  done | sort -V | tail -n 1
}

pkgs=()
command -v qemu-system-x86_64 >/dev/null || pkgs+=(qemu-system-x86)
# initramfs-tools first in the same transaction: its kernel postinst hook then makes the initrd.
command -v mkinitramfs >/dev/null || pkgs+=(initramfs-tools)
[ -n "$(cloud_kver)" ] || pkgs+=(linux-image-cloud-amd64)
command -v lsinitramfs >/dev/null || pkgs+=(initramfs-tools-core)
[ ${#pkgs[@]} -eq 0 ] || apt_install "${pkgs[@]}"

QEMU=$(command -v qemu-system-x86_64) || fail "qemu-system-x86_64 not found after installing qemu-system-x86"
KVER=$(cloud_kver)
[ -n "$KVER" ] || fail "no /boot/vmlinuz-*-cloud-amd64 after installing linux-image-cloud-amd64"
VMLINUZ=/boot/vmlinuz-$KVER
INITRD=/boot/initrd.img-$KVER
CONFIG=/boot/config-$KVER

# The kernel package's postinst runs update-initramfs through /etc/kernel/postinst.d; if that
# hook did not run (initramfs-tools came later, or a policy-rc.d/diversion stopped it), make it.
if [ ! -s "$INITRD" ]; then
  echo "== boot judge: no $INITRD from the kernel's postinst; running mkinitramfs"
  mkinitramfs -o "$INITRD" "$KVER" >>"$LOG" 2>&1 || fail "mkinitramfs -o $INITRD $KVER failed"
fi

# Each needed driver: built in, or a module inside the initrd (MODULES=most puts them there).
listing=$(lsinitramfs "$INITRD" 2>>"$LOG") || fail "lsinitramfs $INITRD failed"
missing=()
for i in "${!NEEDED_MODULES[@]}"; do
  m=${NEEDED_MODULES[$i]} c=${NEEDED_CONFIG[$i]}
  grep -q "^$c=y" "$CONFIG" 2>/dev/null && continue
  grep -q "/$m\.ko\(\.[a-z]*\)\?$" <<<"$listing" && continue
  missing+=("$m")
done
if [ ${#missing[@]} -gt 0 ]; then
  # A stock initrd plus the missing modules, from a copy of the config (the host's stays as is).
  echo "== boot judge: $INITRD lacks ${missing[*]}; building $OUT/initrd.img-$KVER with them"
  conf=$OUT/initramfs-conf
  rm -rf "$conf" && cp -a /etc/initramfs-tools "$conf"
  printf '%s\n' "${missing[@]}" >>"$conf/modules"
  INITRD=$OUT/initrd.img-$KVER
  mkinitramfs -d "$conf" -o "$INITRD" "$KVER" >>"$LOG" 2>&1 || fail "mkinitramfs -d $conf failed"
  listing=$(lsinitramfs "$INITRD")
  for m in "${missing[@]}"; do
    grep -q "/$m\.ko\(\.[a-z]*\)\?$" <<<"$listing" || fail "$m is still not in $INITRD"
  done
fi

# The boot test's root filesystem comes from busybox-static's .deb. apt-get download needs
# current lists: on a failure (none yet, or the mirror moved on), update them and try again.
if ! fixtures/fetch-debs.sh boot >>"$LOG" 2>&1; then
  apt_update
  fixtures/fetch-debs.sh boot >>"$LOG" 2>&1 || fail "fixtures/fetch-debs.sh boot failed"
fi

# Written last (temp + rename): its presence says every check above passed.
{
  echo "# written by .ci/setup-boot.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ); read by test/boot.test.ts"
  echo "KVER=$KVER"
  echo "VMLINUZ=$VMLINUZ"
  echo "INITRD=$INITRD"
  echo "QEMU=$QEMU"
} >"$ENV_FILE.tmp"
mv "$ENV_FILE.tmp" "$ENV_FILE"
echo "== boot judge: ready ($KVER, $("$QEMU" --version | head -n 1)) in $(( $(date +%s) - start ))s"
