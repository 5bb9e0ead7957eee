import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { ExtimgError } from '../../src/errors.js';
import type { Tree } from '../../src/tree/tree.js';
import { expectSameManifest, type CompareOptions } from './compare.js';
import { manifestFromDebugfs } from './debugfs.js';
import { e2fsck } from './e2fsck.js';
import { buildImageFile } from './image.js';
import { manifestFromTree, type Manifest } from './manifest.js';
import { manifestFromDir } from './mount.js';
import { xattrsFromDebugfs } from './xattr.js';

/**
 * Archive fixtures are made at test time by the real tools (GNU tar, GNU cpio, dpkg-deb,
 * rpmbuild) from a host directory this file builds, and the same archive extracted by the same
 * tool is the reference the image is compared with. Nothing binary is committed.
 */

export const isRoot = process.getuid?.() === 0;

/** Run a tool; throw with its stderr on failure. */
export function run(cmd: string, args: readonly string[], opts: { cwd?: string; input?: Uint8Array | string; env?: NodeJS.ProcessEnv } = {}): Buffer {
  try {
    return execFileSync(cmd, args, { cwd: opts.cwd, input: opts.input, env: opts.env ?? process.env, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr?.toString() || err.message}`);
  }
}

export interface SourceOptions {
  /** chr/blk device nodes (needs root); 'small' leaves out 300:70000 (odc and binary cpio hold 8-bit numbers). */
  devices?: boolean | 'small';
  /** A socket (tar skips them; cpio keeps them). */
  socket?: boolean;
  /** Owners other than root (needs root): 'big' ids need 32 bits, 'small' 18, 'tiny' 16. */
  owners?: 'tiny' | 'small' | 'big';
  /** Times before 1970 (ustar cannot hold them). */
  negativeTimes?: boolean;
  /** Nanosecond mtimes (only pax keeps them). */
  nanoseconds?: boolean;
  /** A sparse file with holes. */
  sparse?: boolean;
  /** user.* extended attributes. */
  xattrs?: boolean;
  /** Names that are not UTF-8, with a newline, 200-byte components, paths over 255 bytes. */
  awkwardNames?: boolean;
  /** A file over 8 GiB would need base-256 sizes; too big here. Large is 1 MiB of random bytes. */
}

export const BAD_UTF8 = Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x62, 0x69, 0x6e]);

/** A host directory with the kinds of entries archives carry. */
export function makeSourceTree(dir: string, o: SourceOptions = {}): void {
  const p = (...parts: string[]): string => join(dir, ...parts);
  fs.mkdirSync(p('etc', 'sub'), { recursive: true });
  fs.mkdirSync(p('usr', 'lib', 'deep', 'er'), { recursive: true });
  fs.mkdirSync(p('tmp'));
  fs.mkdirSync(p('empty-dir'));
  fs.writeFileSync(p('etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nfoo:x:1234:5678::/home/foo:/bin/sh\n');
  fs.writeFileSync(p('etc', 'empty'), '');
  fs.writeFileSync(p('etc', 'block512'), Buffer.alloc(512, 0x61));
  fs.writeFileSync(p('usr', 'lib', 'big.bin'), randomBytes(1 << 20, 7));
  fs.writeFileSync(p('usr', 'lib', 'deep', 'er', 'file'), 'deep\n');
  // Over 100 bytes in all, each part short: ustar's prefix field, GNU's long-name header.
  fs.mkdirSync(p('usr', 'share', 'p'.repeat(90)), { recursive: true });
  fs.writeFileSync(p('usr', 'share', 'p'.repeat(90), 'q'.repeat(60)), 'prefix\n');
  fs.writeFileSync(p('suid'), '#!/bin/sh\n');
  fs.writeFileSync(p('café.txt'), 'utf-8 name\n');
  fs.chmodSync(p('suid'), 0o4755);
  fs.chmodSync(p('tmp'), 0o1777);
  fs.chmodSync(p('etc', 'sub'), 0o2750);
  fs.chmodSync(p('etc', 'empty'), 0o600);
  fs.symlinkSync('../etc/passwd', p('usr', 'rel-link'));
  fs.symlinkSync('/etc/passwd', p('abs-link'));
  fs.symlinkSync('/nowhere/at/all', p('dangling'));
  fs.symlinkSync(`/${'t'.repeat(150)}/target`, p('long-target'));
  fs.writeFileSync(p('hl-a'), 'shared\n');
  fs.linkSync(p('hl-a'), p('hl-b'));
  fs.linkSync(p('hl-a'), p('etc', 'sub', 'hl-c'));
  fs.linkSync(p('usr', 'lib', 'big.bin'), p('usr', 'big-link.bin'));
  execFileSync('mkfifo', [p('fifo')]);
  if (o.awkwardNames) {
    fs.writeFileSync(Buffer.concat([Buffer.from(dir + '/'), BAD_UTF8]), 'not utf-8\n');
    fs.writeFileSync(p('new\nline'), 'nl\n');
    fs.writeFileSync(p('sp ace'), 'sp\n');
    const long = 'n'.repeat(200);
    fs.mkdirSync(p('usr', long, long), { recursive: true });
    fs.writeFileSync(p('usr', long, long, 'f'.repeat(120)), 'long path\n');
  }
  if (o.devices) {
    execFileSync('mknod', [p('null'), 'c', '1', '3']);
    execFileSync('mknod', [p('etc', 'disk'), 'b', '8', '1']);
    if (o.devices !== 'small') execFileSync('mknod', [p('big-dev'), 'c', '300', '70000']);
  }
  if (o.socket) {
    execFileSync('python3', ['-c', 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])', p('sock')]);
  }
  if (o.sparse) {
    const fd = fs.openSync(p('sparse.img'), 'w');
    fs.ftruncateSync(fd, 5 * 1024 * 1024 + 100);
    fs.writeSync(fd, randomBytes(8192, 1), 0, 8192, 0);
    fs.writeSync(fd, randomBytes(4096, 2), 0, 4096, 2 * 1024 * 1024);
    fs.writeSync(fd, Buffer.from('end'), 0, 3, 5 * 1024 * 1024 + 97);
    fs.closeSync(fd);
    const fd2 = fs.openSync(p('all-hole'), 'w');
    fs.ftruncateSync(fd2, 3 * 1024 * 1024);
    fs.closeSync(fd2);
  }
  if (o.xattrs) {
    execFileSync('python3', [
      '-c',
      `import os,sys
d=sys.argv[1]
os.setxattr(d+'/etc/passwd','user.comment',b'hello')
os.setxattr(d+'/etc/passwd','user.bin',bytes([0,1,2,255,10,61]))
os.setxattr(d+'/etc/sub','user.dir',b'dir value')
os.setxattr(d+'/usr/lib/big.bin','user.big',bytes(range(256))*2)`,
      dir,
    ]);
  }
  if (o.owners) {
    const big = o.owners === 'big';
    fs.lchownSync(p('etc', 'passwd'), 1234, 5678);
    if (o.owners !== 'tiny') fs.lchownSync(p('usr', 'lib'), big ? 3_000_000 : 100_000, big ? 4_000_000 : 100_001);
    fs.lchownSync(p('usr', 'rel-link'), 42, 43);
    fs.lchownSync(p('hl-a'), 7, 8);
  }
  // Times last, children before parents.
  const setTimes = (path: string, sec: number, nsec = 0): void => {
    const stamp = `@${sec}${nsec ? `.${String(nsec).padStart(9, '0')}` : ''}`;
    execFileSync('touch', ['-h', '-m', '-d', stamp, path]);
  };
  const ns = (n: number): number => (o.nanoseconds ? n : 0);
  setTimes(p('etc', 'passwd'), 1_600_000_000, ns(123_456_789));
  setTimes(p('usr', 'lib', 'big.bin'), 1_500_000_000, ns(1));
  setTimes(p('suid'), 4_102_444_800); // 2100-01-01: past 2038
  setTimes(p('café.txt'), o.negativeTimes ? -300_000_000 : 300_000_000, ns(500_000_000));
  setTimes(p('usr', 'rel-link'), 1_400_000_000);
  const dirs = execFileSync('find', [dir, '-depth', '-type', 'd', '-print0']).toString('latin1').split('\0').filter(Boolean);
  let t = 1_700_000_000;
  for (const d of dirs) setTimes(Buffer.from(d, 'latin1').toString(), t++, ns(999_999_999));
}

export function randomBytes(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff || 1;
  }
  return out;
}

export interface ImageCheck {
  /** What debugfs reads from the image built from `tree`. */
  image: Manifest;
  imagePath: string;
}

/**
 * Build `tree` into an image, require `e2fsck -fn` to pass, and require that debugfs reads back
 * exactly what the tree says (holes included, via allocatedBlocks).
 */
export function buildAndRead(tree: Tree, dir: string, name: string): ImageCheck {
  const imagePath = join(dir, `${name}.img`);
  buildImageFile(tree, imagePath, { type: 'ext3', blockSize: 1024, inodeSize: 256 }, true);
  const fsck = e2fsck(imagePath);
  expect(fsck.code, fsck.output).toBe(0);
  const image = manifestFromDebugfs(imagePath);
  expectSameManifest(manifestFromTree(tree, { blockSize: 1024 }), image, `${name}: tree vs debugfs`);
  return { image, imagePath };
}

export interface RefCompareOptions extends CompareOptions {
  /** The reference tool does not restore symlink times. */
  symlinkTimes?: boolean;
  /** The reference tool sets no directory times that survive (or leaves the top alone). */
  dirTimes?: boolean;
}

/** The image must hold what the real tool extracted into `refDir` (top directory and lost+found aside). */
export function expectImageMatchesDir(image: Manifest, refDir: string, label: string, opts: RefCompareOptions = {}): void {
  const ref = manifestFromDir(refDir, { blocks: false });
  const img = new Map(image);
  for (const m of [ref, img]) {
    for (const e of m.values()) {
      if (e.type === 'symlink' && opts.symlinkTimes === false) delete e.mtime;
      if (e.type === 'dir' && opts.dirTimes === false) delete e.mtime;
      delete e.allocatedBlocks;
    }
  }
  expectSameManifest(ref, img, `${label}: ${refDir} vs image`, { ...opts, skipPaths: ['', 'lost+found', ...(opts.skipPaths ?? [])] });
}

/** Extended attributes the kernel shows under `refDir` must be in the image, by path. */
export function expectXattrsMatch(imagePath: string, refDir: string, paths: readonly string[], label: string): void {
  const script = `
import os, sys, json
res = {}
for p in json.load(sys.stdin):
    full = os.path.join(sys.argv[1], p)
    res[p] = {n: os.getxattr(full, n, follow_symlinks=False).hex() for n in os.listxattr(full, follow_symlinks=False)}
print(json.dumps(res))
`;
  const host = JSON.parse(run('python3', ['-c', script, refDir], { input: JSON.stringify(paths) }).toString()) as Record<string, Record<string, string>>;
  const img = xattrsFromDebugfs(imagePath, paths.map((p) => `/${p}`));
  for (const p of paths) {
    const want = normalizeAcls(host[p] ?? {});
    expect(Object.keys(want).length, `${label}: ${p} has no xattrs on the host: the fixture is broken`).toBeGreaterThan(0);
    const have = normalizeAcls(Object.fromEntries(img.get(`/${p}`) ?? new Map()));
    expect(have, `${label}: xattrs of /${p}`).toEqual(want);
  }
}

/**
 * POSIX ACL values with the ids of entries that have none (USER_OBJ, GROUP_OBJ, MASK, OTHER)
 * zeroed: the kernel says 0xffffffff there, debugfs (and the ext on-disk format, which stores
 * no id for them) 0. Same ACL either way.
 */
function normalizeAcls(x: Record<string, string>): Record<string, string> {
  const out = { ...x };
  for (const name of ['system.posix_acl_access', 'system.posix_acl_default']) {
    const v = out[name];
    if (v === undefined) continue;
    const b = Buffer.from(v, 'hex');
    for (let at = 4; at + 8 <= b.length; at += 8) {
      const tag = b.readUInt16LE(at);
      if (tag !== 2 && tag !== 8) b.writeUInt32LE(0, at + 4);
    }
    out[name] = b.toString('hex');
  }
  return out;
}

/** Run `f` and return the single ExtimgError it throws (fails the test otherwise). */
export function extimgError(f: () => unknown): ExtimgError {
  try {
    f();
  } catch (e) {
    if (e instanceof ExtimgError) return e;
    throw new Error(`expected an ExtimgError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  }
  throw new Error('expected an ExtimgError, nothing was thrown');
}

export async function extimgErrorAsync(f: () => Promise<unknown>): Promise<ExtimgError> {
  try {
    await f();
  } catch (e) {
    if (e instanceof ExtimgError) return e;
    throw new Error(`expected an ExtimgError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  }
  throw new Error('expected an ExtimgError, nothing was thrown');
}

export function readBytes(path: string): Uint8Array {
  const b = fs.readFileSync(path);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
