/**
 * Initrd fixtures made the way distributions make them: GNU cpio (`find . | cpio -o -H newc`)
 * for an uncompressed early (microcode) archive and a main archive, the main one compressed by
 * the codec's own CLI, zero padding between. And the reference readers: lsinitramfs -l,
 * cpio -t, cpio -idm.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { hasTool } from './helpers/e2fsck.js';

export const isRoot = process.getuid?.() === 0;

export function sh(cmd: string, args: readonly string[], opts: { cwd?: string; input?: Uint8Array | string } = {}): Buffer {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, input: opts.input, maxBuffer: 1 << 30 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.toString().trim()}`);
  return r.stdout;
}

export type FixtureCodec = 'gzip' | 'xz' | 'zstd' | 'lz4' | 'bzip2' | 'lzma';

/** The compressor command line for each codec, as initramfs-tools' mkinitramfs uses them. */
export const COMPRESSORS: Record<FixtureCodec, [string, string[]]> = {
  gzip: ['gzip', ['-9', '-n', '-c']],
  xz: ['xz', ['--check=crc32', '-c']], // the kernel's xz decoder checks only CRC32
  zstd: ['zstd', ['-q', '-c', '-19']],
  lz4: ['lz4', ['-l', '-9', '-c']], // legacy frame: the only lz4 format the kernel reads
  bzip2: ['bzip2', ['-9', '-c']],
  lzma: ['lzma', ['-9', '-c']],
};

export function missingFixtureTools(codec?: FixtureCodec): string | undefined {
  const tools = ['cpio', 'find', ...(codec ? [COMPRESSORS[codec][0]] : [])];
  const missing = tools.filter((t) => !hasTool(t));
  return missing.length ? `missing host tool(s): ${missing.join(', ')} (apt: cpio ${codec ?? ''})` : undefined;
}

export const T0 = 1_000_000_000;

/** A tree of every kind cpio carries; devices and fifos only where the host lets us make them. */
export function makeMainTree(dir: string): void {
  fs.mkdirSync(join(dir, 'usr/bin'), { recursive: true });
  fs.mkdirSync(join(dir, 'etc/modprobe.d'), { recursive: true });
  fs.mkdirSync(join(dir, 'dev'));
  fs.mkdirSync(join(dir, 'ro'), 0o555);
  fs.writeFileSync(join(dir, 'init'), '#!/bin/sh\nexec /bin/sh\n', { mode: 0o755 });
  fs.writeFileSync(join(dir, 'etc/fstab'), '');
  fs.writeFileSync(join(dir, 'etc/big'), Buffer.alloc(300_000, 'initramfs '));
  fs.writeFileSync(join(dir, 'usr/bin/busybox'), Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7919) % 251)), { mode: 0o755 });
  fs.linkSync(join(dir, 'usr/bin/busybox'), join(dir, 'usr/bin/sh'));
  fs.linkSync(join(dir, 'usr/bin/busybox'), join(dir, 'usr/bin/ls'));
  fs.writeFileSync(join(dir, 'usr/bin/suid'), 'x', { mode: 0o4755 });
  fs.chmodSync(join(dir, 'usr/bin/suid'), 0o4755);
  fs.symlinkSync('usr/bin', join(dir, 'bin'));
  fs.symlinkSync('/proc/mounts', join(dir, 'etc/mtab'));
  fs.writeFileSync(join(dir, 'etc/modprobe.d', 'caf\u00e9 \u2603.conf'), 'options x y=1\n');
  fs.writeFileSync(Buffer.from(join(dir, 'etc/latin1-\xff\xfe.txt'), 'latin1'), 'not utf-8 name\n');
  fs.writeFileSync(join(dir, 'ro/file'), 'read only dir\n', { mode: 0o444 });
  if (isRoot) {
    sh('mknod', ['-m', '0600', join(dir, 'dev/console'), 'c', '5', '1']);
    sh('mknod', ['-m', '0660', join(dir, 'dev/sda'), 'b', '8', '0']);
    sh('mkfifo', ['-m', '0644', join(dir, 'dev/initctl')]);
    fs.lchownSync(join(dir, 'etc/fstab'), 100_000, 70_000);
  }
  // Fixed mtimes (symlinks too), children before parents so directories keep theirs.
  sh('find', [dir, '-depth', '-exec', 'touch', '-h', '-d', `@${T0}`, '{}', '+']);
}

/** An uncompressed newc archive of `dir`, names sorted as mkinitramfs does. */
export function newcOf(dir: string): Buffer {
  const list = sh('sh', ['-c', 'find . -print0 | LC_ALL=C sort -z'], { cwd: dir });
  return sh('cpio', ['-o', '-0', '-H', 'newc', '--quiet'], { cwd: dir, input: list });
}

export function compress(codec: FixtureCodec, data: Uint8Array): Buffer {
  const [cmd, args] = COMPRESSORS[codec];
  return sh(cmd, args, { input: data });
}

export interface InitrdFixture {
  dir: string;
  earlyDir: string;
  mainDir: string;
  early: Buffer;
  main: Buffer;
  /** early + zero padding + compressed main */
  file: string;
  bytes: Buffer;
}

/** early microcode archive, 4-byte aligned zero padding, then the compressed main archive. */
export function makeInitrd(work: string, name: string, codec: FixtureCodec): InitrdFixture {
  const dir = join(work, name);
  const earlyDir = join(dir, 'early');
  const mainDir = join(dir, 'main');
  fs.mkdirSync(join(earlyDir, 'kernel/x86/microcode'), { recursive: true });
  fs.writeFileSync(join(earlyDir, 'kernel/x86/microcode/GenuineIntel.bin'), Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 31) & 0xff)));
  sh('find', [earlyDir, '-depth', '-exec', 'touch', '-h', '-d', `@${T0}`, '{}', '+']);
  fs.mkdirSync(mainDir);
  makeMainTree(mainDir);
  const early = newcOf(earlyDir);
  const main = newcOf(mainDir);
  const pad = Buffer.alloc(512 + ((4 - (early.length % 4)) % 4));
  const bytes = Buffer.concat([early, pad, compress(codec, main)]);
  const file = join(dir, `initrd.img-${codec}`);
  fs.writeFileSync(file, bytes);
  return { dir, earlyDir, mainDir, early, main, file, bytes };
}

/** ls -l's permission string. */
export function permString(type: string, mode: number): string {
  const bit = (m: number, c: string): string => (mode & m ? c : '-');
  const x = (xm: number, sm: number, on: string, off: string): string => (mode & sm ? (mode & xm ? on : off) : mode & xm ? 'x' : '-');
  return (
    type +
    bit(0o400, 'r') + bit(0o200, 'w') + x(0o100, 0o4000, 's', 'S') +
    bit(0o040, 'r') + bit(0o020, 'w') + x(0o010, 0o2000, 's', 'S') +
    bit(0o004, 'r') + bit(0o002, 'w') + x(0o001, 0o1000, 't', 'T')
  );
}

export interface LongLine {
  perms: string;
  nlink: number;
  /** size, or "major,minor" */
  size: string;
  /** name bytes as latin1 */
  name: string;
  target?: string;
}

/** `cpio -tv` / `lsinitramfs -l` lines: perms nlink user group size|maj, min month day time|year name [-> target]. */
export function parseLongListing(out: Buffer): LongLine[] {
  const lines = out.toString('latin1').split('\n').filter((l) => l !== '');
  return lines.map((l) => {
    const m = /^(\S{10})\s+(\d+)\s+\S+\s+\S+\s+(\d+,\s+\d+|\d+)\s+\S+\s+\d+\s+\S+\s(.*)$/.exec(l);
    if (!m) throw new Error(`cannot parse listing line: ${l}`);
    let name = m[4]!;
    let target: string | undefined;
    if (m[1]![0] === 'l') {
      const i = name.indexOf(' -> ');
      target = name.slice(i + 4);
      name = name.slice(0, i);
    }
    return { perms: m[1]!, nlink: Number(m[2]), size: m[3]!.replace(/,\s+/, ','), name, target };
  });
}
