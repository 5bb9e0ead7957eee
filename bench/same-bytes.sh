#!/usr/bin/env bash
# Same inputs, same bytes: builds the benchmark trees with two dist/ copies (reproducibly: fixed
# UUID and --timestamp) and compares the images' sha256. Usage: bench/same-bytes.sh DIST_A DIST_B
set -euo pipefail
A=$1 B=$2
cd "$(dirname "$0")/.."
out=bench/out/same-bytes
mkdir -p "$out"
fail=0
for tree in fixtures/out/tree-base fixtures/out/tree-bigdir-30000 bench/out/tree-small fixtures/sample-root fixtures/out/tree-large-64M; do
  [ -d "$tree" ] || continue
  for t in ext2 ext3 ext4; do
    for bs in 1024 4096; do
      args=(-t "$t" -b "$bs" -U 8a3a1c5e-0e8f-4d2b-9a57-3c1f9e2b7d10 --timestamp 1700000000)
      for d in "$A" "$B"; do
        rm -f "$out/$(basename "$d").img"
        node "$d/cli/main.js" build -q -o "$out/$(basename "$d").img" "${args[@]}" "$tree"
      done
      a=$(sha256sum <"$out/$(basename "$A").img" | cut -c1-16)
      b=$(sha256sum <"$out/$(basename "$B").img" | cut -c1-16)
      if [ "$a" = "$b" ]; then echo "same  $a  $tree $t $bs"; else echo "DIFF  $a $b  $tree $t $bs"; fail=1; fi
    done
  done
done
# Not reproducible (host atime/ctime, fs time from the clock): through the library, clock pinned.
for tree in fixtures/out/tree-base fixtures/sample-root; do
  [ -d "$tree" ] || continue
  for t in ext3 ext4; do
    a=$(node bench/same-bytes-lib.mjs "$A" "$tree" $t 1024)
    b=$(node bench/same-bytes-lib.mjs "$B" "$tree" $t 1024)
    if [ "$a" = "$b" ]; then echo "same  $a  $tree $t 1024 (library, host times)"; else echo "DIFF  $a $b  $tree $t 1024 (library, host times)"; fail=1; fi
  done
done
rm -rf "$out"
exit $fail
