import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, ftruncateSync, linkSync, mkdirSync, openSync, readFileSync, symlinkSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The root filesystem the boot test builds: busybox-static's files plus an overlay with
 * /sbin/init (a busybox shell script) and probe files. Init reports what the kernel reads back
 * (`EXTIMG-CHECK name=value` lines), writes /boot-ok through the kernel's driver, remounts the
 * root read-only, prints the marker and powers off.
 */

export interface Probe {
  name: string;
  /** A busybox shell command whose output is the value ($bb is /bin/busybox). */
  cmd: string;
  expect: string;
}

export interface StagedRoot {
  /** Build inputs in order: the Debian packages as they are, then a host directory of probes. */
  inputs: string[];
  /** Edits after the inputs: /sbin/init written from a host file, device nodes made rootless. */
  edits: string[];
  /** Printed by init as its last line before powering off. */
  marker: string;
  /** Written by the guest into /boot-ok. */
  written: string;
  probes: Probe[];
}

const MiB = 1024 * 1024;
const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

/**
 * Stage the inputs under WORK. `asRoot`: the test runs as root, so probes of owners above 65535
 * and of device nodes can be made on the host (mknod, chown) and built from it.
 */
export function stageBootRoot(work: string, debs: readonly string[], opts: { asRoot: boolean }): StagedRoot {
  const id = randomBytes(6).toString('hex');
  const marker = `EXTIMG-BOOT-OK-${id}`;
  const written = `written-by-the-guest-${id}`;

  const o = join(work, 'overlay');
  const p = (rel: string): string => join(o, rel);
  for (const d of ['sbin', 'dev', 'proc', 'sys', 'run', 'tmp', 'extimg', 'extimg/many', 'extimg/utf8']) mkdirSync(p(d), { recursive: true });
  chmodSync(p('tmp'), 0o1777);

  const probes: Probe[] = [];
  const probe = (name: string, cmd: string, expect: string): void => void probes.push({ name, cmd, expect });

  // Content through the kernel's block map: busybox (~2 MB: double-indirect with 1 KiB blocks)
  // and a sparse file with data past 64.3 MiB (triple-indirect with 1 KiB blocks) and holes.
  // The expected bytes come from dpkg-deb and tar, independent of our reader.
  const busybox = execFileSync('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -xO ./bin/busybox', 'sh', debs[0]!], { maxBuffer: 64 * MiB });
  probe('busybox-md5', '$bb md5sum /bin/busybox | $bb cut -d" " -f1', md5(busybox));
  const sparseSize = 66 * MiB + 5000;
  const head = Buffer.from(`head-${id}\n`);
  const middle = randomBytes(3000);
  const fd = openSync(p('extimg/sparse'), 'w');
  ftruncateSync(fd, sparseSize);
  writeSync(fd, head, 0, head.length, 0);
  writeSync(fd, middle, 0, middle.length, 66 * MiB);
  closeSync(fd);
  const sparse = new Uint8Array(sparseSize);
  sparse.set(head, 0);
  sparse.set(middle, 66 * MiB);
  probe('sparse-md5', '$bb md5sum /extimg/sparse | $bb cut -d" " -f1', md5(sparse));
  probe('sparse-size', '$bb stat -c %s /extimg/sparse', String(sparseSize));

  // Symlinks: fast (target in i_block) and slow (target in a data block).
  symlinkSync('../bin/busybox', p('extimg/fast'));
  const slowTarget = `${'long-directory-name/'.repeat(8)}target`;
  symlinkSync(slowTarget, p('extimg/slow'));
  probe('symlink-fast', '$bb readlink /extimg/fast', '../bin/busybox');
  probe('symlink-slow', '$bb readlink /extimg/slow', slowTarget);
  probe('symlink-follow', '$bb md5sum /extimg/fast | $bb cut -d" " -f1', probes[0]!.expect);

  // A hard link pair.
  writeFileSync(p('extimg/hard-a'), `hard-${id}\n`);
  linkSync(p('extimg/hard-a'), p('extimg/hard-b'));
  probe('hardlink', '[ "$($bb stat -c %i /extimg/hard-a)" = "$($bb stat -c %i /extimg/hard-b)" ] && $bb stat -c %h /extimg/hard-b', '2');

  // A directory of many blocks (400 entries of ~60 bytes over 1 KiB blocks: past the 12 direct
  // blocks), looked up by name and listed.
  for (let i = 0; i < 400; i++) writeFileSync(p(`extimg/many/entry-with-a-longish-name-number-${String(i).padStart(4, '0')}`), `${i}\n`);
  probe('bigdir-count', '$bb ls /extimg/many | $bb wc -l', '400');
  probe('bigdir-lookup', '$bb cat /extimg/many/entry-with-a-longish-name-number-0399', '399');

  // A UTF-8 name, mode bits and an mtime.
  writeFileSync(p('extimg/utf8/café-ü.txt'), 'utf8\n');
  probe('utf8-name', '$bb cat "/extimg/utf8/café-ü.txt"', 'utf8');
  writeFileSync(p('extimg/suid'), '#!/bin/busybox sh\n');
  chmodSync(p('extimg/suid'), 0o4755);
  utimesSync(p('extimg/suid'), 1_234_567_890, 1_234_567_890);
  probe('mode', '$bb stat -c %a /extimg/suid', '4755');
  probe('mtime', '$bb stat -c %Y /extimg/suid', '1234567890');
  execFileSync('mkfifo', [p('extimg/fifo')]);
  probe('fifo', '$bb stat -c %F /extimg/fifo', 'fifo');

  if (opts.asRoot) {
    writeFileSync(p('extimg/owned'), 'owned\n');
    chownSync(p('extimg/owned'), 70000, 70001);
    probe('owner-32bit', '$bb stat -c %u:%g /extimg/owned', '70000:70001');
    execFileSync('mknod', [p('extimg/null'), 'c', '1', '3']);
    probe('chardev', '$bb stat -c %t:%T /extimg/null && echo x > /extimg/null && echo writable', '1:3|writable');
  }

  const init = [
    '#!/bin/busybox sh',
    '# /sbin/init of test/boot.test.ts (built into the image by extimg).',
    'bb=/bin/busybox',
    '# The initramfs moves its /proc, /sys and /dev here; mount them only if it did not.',
    '[ -e /proc/mounts ] || $bb mount -t proc proc /proc',
    '[ -d /sys/kernel ] || $bb mount -t sysfs sysfs /sys',
    '# Keep kernel messages from splitting the report lines below (dmesg is read at the end).',
    'echo 1 > /proc/sys/kernel/printk',
    'echo "EXTIMG-ROOT $($bb grep " / " /proc/mounts | $bb tail -n 1)"',
    '# One line per check: newlines in a value become "|".',
    'check() { echo "EXTIMG-CHECK $1=$($bb printf %s "$2" | $bb tr "\\n" "|")"; }',
    ...probes.map((pr) => `check ${pr.name} "$(${pr.cmd} 2>&1)"`),
    '# A write through the kernel driver: allocates an inode and a block in our bitmaps.',
    `echo ${written} > /boot-ok`,
    '$bb sync',
    '$bb mount -o remount,ro / || echo "EXTIMG-REMOUNT-RO-FAILED"',
    '# What the kernel said about the filesystem, reading and writing it.',
    '# GPT: lines are the kernel complaining about a partition table (e.g. a misplaced backup).',
    '$bb dmesg | $bb grep -E "EXT[234]-fs|JBD2|I/O error|\\[vda\\]|GPT:" | $bb sed "s/^/EXTIMG-DMESG /"',
    `echo ${marker}`,
    '$bb poweroff -f',
    '# Not reached unless poweroff failed: panic=-1 and -no-reboot end qemu then.',
    'echo o > /proc/sysrq-trigger',
    '',
  ].join('\n');
  // /sbin/init comes in by an edit, after the packages, as a user would add it.
  const initFile = join(work, 'init.sh');
  writeFileSync(initFile, init);
  const edits = [
    '--write',
    `/sbin/init=${initFile}`,
    '--chmod',
    '/sbin/init=0755',
    '--mknod',
    '/dev/console:c:5:1:0600',
    '--mknod',
    '/dev/null:c:1:3:0666',
  ];
  return { inputs: [...debs, o], edits, marker, written, probes };
}

/**
 * Kernel messages about the filesystem that are not routine (mount, remount, journal start):
 * an ext4 error, warning or I/O error while reading or writing the image (the disk, or its
 * partition vda1), or a complaint about a GPT.
 */
export function kernelComplaints(console: string): string[] {
  const routine = /EXT4-fs \(vda\d*\): (mounting ext[23] file system using the ext4 subsystem|mounted filesystem|re-mounted)|virtio_blk .*\[vda\]|JBD2: .*(started|stopped)/;
  return [...console.matchAll(/^EXTIMG-DMESG (.*)$/gm)].map((m) => m[1]!).filter((l) => !routine.test(l));
}

/** `EXTIMG-CHECK name=value` lines of a console capture (a value's lines joined by "|"). */
export function parseChecks(console: string): Record<string, string> {
  const got: Record<string, string> = {};
  for (const m of console.matchAll(/^EXTIMG-CHECK ([a-z0-9-]+)=(.*)$/gm)) got[m[1]!] = m[2]!;
  return got;
}
