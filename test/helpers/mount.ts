import { execFileSync, spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, readlinkSync, rmSync, rmdirSync, type BigIntStats } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeSync, openSync, readSync } from 'node:fs';
import { CHUNK, digestFile, digestSparse } from './digest.js';
import { assignInodeGroups, bytesToHex, joinKey, modeType, type Entry, type Manifest } from './manifest.js';

/**
 * The image as the Linux kernel reads it: a read-only loop mount walked with lstat (bigint, for
 * nanoseconds), readdir with Buffer names and readlink as Buffer, so names and targets stay bytes.
 */

export interface Availability {
  ok: boolean;
  reason?: string;
}

let probed: Availability | undefined;

/** Probe once whether this process can loop-mount an ext image read-only. */
export function canLoopMount(): Availability {
  if (probed) return probed;
  probed = probe();
  return probed;
}

function probe(): Availability {
  if (process.platform !== 'linux') return { ok: false, reason: `loop mounts need Linux (this is ${process.platform})` };
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return { ok: false, reason: 'loop mounts need root (run the tests as root, as CI does)' };
  }
  for (const tool of ['mount', 'umount', 'mke2fs']) {
    const r = spawnSync('sh', ['-c', `command -v ${tool}`]);
    if (r.status !== 0) return { ok: false, reason: `${tool} is not installed` };
  }
  const dir = mkdtempSync(join(tmpdir(), 'extimg-mountprobe-'));
  const image = join(dir, 'probe.img');
  const mnt = join(dir, 'mnt');
  try {
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext2', image, '256'], { stdio: 'pipe' });
    execFileSync('mkdir', [mnt]);
    const r = spawnSync('mount', ['-o', 'loop,ro', image, mnt], { encoding: 'utf8' });
    if (r.status !== 0) return { ok: false, reason: `mount -o loop,ro failed: ${(r.stderr || r.stdout).trim()}` };
    spawnSync('umount', [mnt]);
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `loop mount probe failed: ${(err as Error).message}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Mount `image` read-only, run `fn` on the mount point, always unmount. */
export function withMount<T>(image: string, fn: (mountPoint: string) => T, fsType?: string): T {
  const mnt = mkdtempSync(join(tmpdir(), 'extimg-mnt-'));
  const args = ['-o', 'loop,ro', ...(fsType ? ['-t', fsType] : []), image, mnt];
  const r = spawnSync('mount', args, { encoding: 'utf8' });
  if (r.status !== 0) {
    rmdirSync(mnt);
    throw new Error(`mount ${args.join(' ')} failed (${r.status}): ${(r.stderr || r.stdout).trim()}${kernelLog()}`);
  }
  try {
    return fn(mnt);
  } finally {
    let u = spawnSync('umount', [mnt], { encoding: 'utf8' });
    if (u.status !== 0) {
      // A reader may still hold a file open for a moment; a lazy unmount never leaves it behind.
      u = spawnSync('umount', ['-l', mnt], { encoding: 'utf8' });
    }
    try {
      rmdirSync(mnt);
    } catch {
      // left behind only if even the lazy unmount failed
    }
  }
}

function kernelLog(): string {
  const r = spawnSync('dmesg', [], { encoding: 'utf8' });
  if (r.status !== 0) return '';
  const lines = r.stdout.trim().split('\n').slice(-8);
  return `\nlast kernel messages:\n  ${lines.join('\n  ')}`;
}

/** What the kernel shows for `image`; `lost+found` included like any directory. */
export function manifestFromMount(image: string, opts: DirManifestOptions = {}, fsType?: string): Manifest {
  return withMount(image, (mnt) => manifestFromDir(mnt, opts), fsType);
}

export interface DirManifestOptions {
  /** Hash file content (default true). */
  content?: boolean;
  /** Record st_blocks as allocatedBlocks (default true; off for host directories). */
  blocks?: boolean;
}

function sec(ns: bigint): { sec: number; nsec: number } {
  let s = ns / 1_000_000_000n;
  let n = ns % 1_000_000_000n;
  if (n < 0n) {
    n += 1_000_000_000n;
    s -= 1n;
  }
  return { sec: Number(s), nsec: Number(n) };
}

/**
 * Walk a directory (a mount point, or a host directory for cross-checks) with lstat. Paths go to
 * the kernel as Buffers so names that are not UTF-8 are reached exactly.
 */
export function manifestFromDir(root: string, opts: DirManifestOptions = {}): Manifest {
  const withContent = opts.content ?? true;
  const withBlocks = opts.blocks ?? true;
  const m: Manifest = new Map();
  const identity = new Map<string, bigint>();
  const rootBuf = Buffer.from(root);
  const visit = (key: string, full: Buffer): void => {
    let st: BigIntStats;
    try {
      st = lstatSync(full, { bigint: true });
    } catch (err) {
      m.set(key, { type: 'file', mode: 0, uid: 0, gid: 0, error: `lstat: ${errnoText(err)}` });
      return;
    }
    const mode = Number(st.mode);
    const type = modeType(mode);
    const e: Entry = {
      type,
      mode: mode & 0o7777,
      uid: Number(st.uid),
      gid: Number(st.gid),
      mtime: sec(st.mtimeNs),
      nlink: Number(st.nlink),
    };
    if (type !== 'dir') identity.set(key, st.ino);
    m.set(key, e);
    try {
      if (type === 'file') {
        e.size = Number(st.size);
        if (withBlocks) e.allocatedBlocks = Number(st.blocks);
        if (withContent) e.digest = digestKernelFile(full, e.size, Number(st.blocks));
      } else if (type === 'symlink') {
        e.target = bytesToHex(readlinkSync(full, { encoding: 'buffer' }));
      } else if (type === 'chr' || type === 'blk') {
        const rdev = st.rdev;
        e.major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
        e.minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
      } else if (type === 'dir') {
        const names = readdirSync(full, { encoding: 'buffer' });
        for (const name of names) {
          visit(joinKey(key, name.toString('latin1')), Buffer.concat([full, Buffer.from('/'), name]));
        }
      }
    } catch (err) {
      e.error = `${type === 'dir' ? 'readdir' : type === 'symlink' ? 'readlink' : 'read'}: ${errnoText(err)}`;
    }
  };
  visit('', rootBuf);
  assignInodeGroups(m, identity);
  return m;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/**
 * Digest a file read through the kernel. A huge, mostly-hole file is read only where the kernel's
 * FIEMAP (via e2fsprogs' filefrag) says it has blocks; the holes between read as zeros by
 * definition. Everything else is read end to end.
 */
function digestKernelFile(full: Buffer, size: number, blocks512: number): string {
  if (size > 64 * 1024 * 1024 && blocks512 * 512 < size / 4) {
    const extents = fiemap(full);
    if (extents) {
      const candidates = new Set<number>();
      for (const [start, end] of extents) {
        for (let c = Math.floor(start / CHUNK); c <= Math.floor((Math.min(end, size) - 1) / CHUNK); c++) candidates.add(c);
      }
      const fd = openSync(full, 'r');
      try {
        return digestSparse(
          size,
          [...candidates].sort((a, b) => a - b),
          (i) => {
            const out = Buffer.alloc(Math.min(CHUNK, size - i * CHUNK));
            let got = 0;
            while (got < out.length) {
              const n = readSync(fd, out, got, out.length - got, i * CHUNK + got);
              if (n === 0) throw new Error(`short read in ${full.toString('latin1')} at ${i * CHUNK + got}`);
              got += n;
            }
            return out;
          },
        );
      } finally {
        closeSync(fd);
      }
    }
  }
  return digestFile(full, size);
}

/** Byte ranges [start, end) that hold blocks, from `filefrag -v`; undefined when unavailable. */
function fiemap(full: Buffer): Array<[number, number]> | undefined {
  let path: string;
  try {
    path = utf8Strict.decode(full);
  } catch {
    return undefined;
  }
  const r = spawnSync('filefrag', ['-v', path], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const unit = /\(\d+ blocks? of (\d+) bytes\)/.exec(r.stdout);
  if (!unit) return undefined;
  const bs = Number(unit[1]);
  const out: Array<[number, number]> = [];
  for (const m of r.stdout.matchAll(/^\s*\d+:\s+(\d+)\.\.\s*(\d+):/gm)) {
    out.push([Number(m[1]) * bs, (Number(m[2]) + 1) * bs]);
  }
  return out;
}

const ERRNO_TEXT: Record<number, string> = {
  5: 'EIO',
  117: 'EUCLEAN (the kernel found this inode or its blocks corrupt; see dmesg)',
};

function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (typeof e.errno === 'number' && ERRNO_TEXT[-e.errno]) return ERRNO_TEXT[-e.errno]!;
  return e.code ?? e.message;
}
