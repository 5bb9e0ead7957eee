import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot, makeSourceTree, randomBytes } from './helpers/archives.js';
import { expectSameManifest } from './helpers/compare.js';
import { catInodes, manifestFromDebugfs, parseLsP, runDebugfs } from './helpers/debugfs.js';
import { missingTools, requireJudge } from './helpers/env.js';
import { workDir } from './helpers/image.js';
import { assignInodeGroups, type Entry, type Manifest } from './helpers/manifest.js';
import { manifestFromDir } from './helpers/mount.js';

// `extimg image ls|cat|extract|info` (issue #14), run as users run it (dist/cli/main.js), on
// images mke2fs and extimg make from one source tree; debugfs and dumpe2fs are the judges, and
// the source tree is what an extraction must give back.

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const main = path.join(root, 'dist', 'cli', 'main.js');
const work = workDir('cli-image');
const tmp = work.dir;
afterAll(() => work.cleanup());
const missing = missingTools(['mke2fs', 'debugfs', 'dumpe2fs']);

function cli(args: string[], opts: { asNobody?: boolean } = {}): SpawnSyncReturns<Buffer> {
  const argv = [main, ...args];
  if (opts.asNobody) return spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ...argv], { cwd: tmp, maxBuffer: 1 << 30 });
  return spawnSync(process.execPath, argv, { cwd: tmp, maxBuffer: 1 << 30 });
}

function ok(args: string[]): Buffer {
  const r = cli(args);
  if (r.status !== 0) throw new Error(`extimg ${args.join(' ')} exited ${r.status}: ${r.stderr.toString()}`);
  return r.stdout;
}

let src: string;
/** mke2fs -t ext4 -d src */
let mkfsImage: string;
/** extimg build src (ext3) */
let builtImage: string;
/** Entries an ordinary user cannot create: in the manifest only. */
let special: string[];

beforeAll(() => {
  if (missing) return;
  src = path.join(tmp, 'src');
  fs.mkdirSync(src);
  makeSourceTree(src, { devices: isRoot, socket: true, owners: isRoot ? 'big' : undefined, nanoseconds: true, sparse: true, xattrs: true, awkwardNames: true });
  fs.writeFileSync(path.join(src, 'inline'), 'y'.repeat(100));
  special = ['fifo', 'sock', ...(isRoot ? ['null', 'etc/disk', 'big-dev'] : [])];
  mkfsImage = path.join(tmp, 'mkfs.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-E', 'root_owner=0:0', '-d', src, mkfsImage, '64M'], { stdio: 'pipe' });
  builtImage = path.join(tmp, 'built.img');
  ok(['build', '-q', '-o', builtImage, src]);
});

function withoutLostFound(m: Manifest): Manifest {
  for (const k of [...m.keys()]) if (k === 'lost+found' || k.startsWith('lost+found/')) m.delete(k);
  for (const e of m.values()) delete e.allocatedBlocks;
  return m;
}

interface LsJson {
  path: string;
  pathHex?: string;
  type: string;
  mode: string;
  uid: number;
  gid: number;
  size: number;
  mtime: { sec: number; nsec: number };
  links: number;
  ino: number;
  target?: string;
  targetHex?: string;
  major?: number;
  minor?: number;
  xattrs?: Record<string, string>;
}

const TYPES: Record<string, Entry['type']> = { '-': 'file', d: 'dir', l: 'symlink', c: 'chr', b: 'blk', p: 'fifo', s: 'socket' };

/** `image ls -R --json` as a test manifest (keys: byte strings without the leading '/'). */
function manifestFromLs(rows: LsJson[]): Manifest {
  const m: Manifest = new Map();
  const identity = new Map<string, number>();
  for (const r of rows) {
    const bytes = r.pathHex !== undefined ? Buffer.from(r.pathHex, 'hex') : Buffer.from(r.path.replace(/\\\\/g, '\\').replace(/\\x([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))));
    const key = bytes.toString('latin1').slice(1);
    const e: Entry = { type: TYPES[r.type]!, mode: parseInt(r.mode, 8), uid: r.uid, gid: r.gid, mtime: r.mtime, nlink: r.links };
    if (e.type === 'file') e.size = r.size;
    if (e.type === 'symlink') e.target = r.targetHex ?? Buffer.from(r.target!).toString('hex');
    if (r.major !== undefined) {
      e.major = r.major;
      e.minor = r.minor!;
    }
    if (e.type !== 'dir') identity.set(key, r.ino);
    m.set(key, e);
  }
  assignInodeGroups(m, identity);
  return m;
}

describe('image ls', () => {
  it('-R --json lists every entry as debugfs reads it: type, mode, owner, size, mtime (ns), target, device, links', (ctx) => {
    requireJudge(ctx, missing, 'image ls vs debugfs');
    for (const image of [mkfsImage, builtImage]) {
      const rows = JSON.parse(ok(['image', 'ls', '-R', '--json', image]).toString()) as LsJson[];
      const want = withoutLostFound(manifestFromDebugfs(image, { content: false }));
      want.delete('');
      expectSameManifest(want, withoutLostFound(manifestFromLs(rows)), `image ls -R --json ${path.basename(image)}`);
      // Sorted by name bytes within a directory, depth first.
      const top = rows.filter((r) => !r.path.slice(1).includes('/')).map((r) => (r.pathHex !== undefined ? Buffer.from(r.pathHex, 'hex') : Buffer.from(r.path)));
      expect(top).toEqual([...top].sort(Buffer.compare));
      const passwd = rows.find((r) => r.path === '/etc/passwd')!;
      expect(passwd.xattrs).toMatchObject({ 'user.comment': Buffer.from('hello').toString('base64'), 'user.bin': Buffer.from([0, 1, 2, 255, 10, 61]).toString('base64') });
      expect(rows.find((r) => r.pathHex !== undefined)?.pathHex).toBe(Buffer.from('/f\xff\xfe.bin', 'latin1').toString('hex'));
    }
  });

  it('the text form: one ls -l line per entry, with the facts of debugfs ls', (ctx) => {
    requireJudge(ctx, missing, 'image ls vs debugfs');
    const lines = ok(['image', 'ls', mkfsImage]).toString().split('\n').filter(Boolean);
    const fromDebugfs = parseLsP(runDebugfs(mkfsImage, ['ls -p /']).outputs[0]!, 'ls -p /').filter((e) => e.ino !== 0 && e.name !== '.' && e.name !== '..');
    expect(lines).toHaveLength(fromDebugfs.length);
    const LINE = /^([-dlcbps][-rwxsStT]{9}) +(\d+) +(\d+) +(\d+) +(\d+|\d+, \d+) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (.*)$/;
    const parsed = lines.map((l) => {
      const m = LINE.exec(l);
      expect(m, l).not.toBeNull();
      return { mode: m![1]!, uid: Number(m![3]), gid: Number(m![4]), size: m![5]!, rest: m![7]! };
    });
    for (const e of fromDebugfs) {
      if (/[^\x20-\x7e]/.test(e.name)) continue; // shown escaped; the JSON test covers them
      const row = parsed.find((p) => p.rest === e.name || p.rest.startsWith(`${e.name} -> `));
      expect(row, e.name).toBeDefined();
      expect(modeBits(row!.mode), e.name).toBe(e.mode);
      expect([row!.uid, row!.gid], e.name).toEqual([e.uid, e.gid]);
      if (e.size !== '' && !row!.size.includes(',')) expect(row!.size, e.name).toBe(e.size);
    }
    expect(lines).toContain(lines.find((l) => l.endsWith(' abs-link -> /etc/passwd')));
    expect(lines.find((l) => / suid$/.test(l))).toMatch(/^-rwsr-xr-x /);
    expect(lines.find((l) => / tmp$/.test(l))).toMatch(/^drwxrwxrwt /);
    expect(lines.find((l) => l.endsWith(' new\\x0aline'))).toBeDefined();
    if (isRoot) expect(lines.find((l) => l.endsWith(' big-dev'))).toMatch(/^crw-r--r-- +1 +0 +0 +300, 70000 /);
  });

  it('PATH: a directory lists its entries, a file or symlink itself; intermediate symlinks resolve inside the image', (ctx) => {
    requireJudge(ctx, missing, 'image ls');
    const sub = ok(['image', 'ls', mkfsImage, '/etc/sub']).toString();
    expect(sub).toMatch(new RegExp(`^-rw-r--r-- 3 ${isRoot ? '7 8' : '0 0'} 7 \\S+ hl-c\\n$`));
    expect(ok(['image', 'ls', mkfsImage, 'usr/rel-link']).toString()).toMatch(/ usr\/rel-link -> \.\.\/etc\/passwd\n$/);
    expect(ok(['image', 'ls', mkfsImage, '/abs-link']).toString()).toMatch(/^l.* \/abs-link -> \/etc\/passwd\n$/);
    // A trailing slash follows the link; an absolute target is the image's /etc, not the host's.
    const viaLink = JSON.parse(ok(['image', 'ls', '--json', mkfsImage, '/usr/rel-link/../sub/']).toString()) as LsJson[];
    expect(viaLink.map((r) => r.path)).toEqual(['/etc/sub/hl-c']);
  });
});

function modeBits(s: string): number {
  const type: Record<string, number> = { '-': 0o100000, d: 0o040000, l: 0o120000, c: 0o020000, b: 0o060000, p: 0o010000, s: 0o140000 };
  let m = type[s[0]!]!;
  const rwx = s.slice(1);
  const bits = [0o400, 0o200, 0o100, 0o040, 0o020, 0o010, 0o004, 0o002, 0o001];
  for (let k = 0; k < 9; k++) {
    const c = rwx[k]!;
    if (c === 'r' || c === 'w' || c === 'x' || c === 's' || c === 't') m |= bits[k]!;
  }
  if (/[sS]/.test(rwx[2]!)) m |= 0o4000;
  if (/[sS]/.test(rwx[5]!)) m |= 0o2000;
  if (/[tT]/.test(rwx[8]!)) m |= 0o1000;
  return m;
}

describe('image cat', () => {
  it('is byte-exact: a 1 MiB random file, a sparse file, a hole, inline data, through symlinks (chroot semantics)', (ctx) => {
    requireJudge(ctx, missing, 'image cat');
    const files = ['usr/lib/big.bin', 'sparse.img', 'all-hole', 'etc/passwd', 'etc/empty', 'inline', 'café.txt', 'usr/share/' + 'p'.repeat(90) + '/' + 'q'.repeat(60)];
    for (const image of [mkfsImage, builtImage]) {
      for (const f of files) expect(ok(['image', 'cat', image, f]).equals(fs.readFileSync(path.join(src, f))), `${path.basename(image)}: ${f}`).toBe(true);
      // /abs-link -> /etc/passwd is the image's, whatever the host has there.
      expect(ok(['image', 'cat', image, '/abs-link']).toString()).toBe(fs.readFileSync(path.join(src, 'etc/passwd'), 'utf8'));
      expect(ok(['image', 'cat', image, '/usr/rel-link']).toString()).toBe(fs.readFileSync(path.join(src, 'etc/passwd'), 'utf8'));
    }
    expect(fs.readFileSync(path.join(src, 'usr/lib/big.bin')).equals(randomBytes(1 << 20, 7))).toBe(true);
  });

  it('agrees with debugfs cat', (ctx) => {
    requireJudge(ctx, missing, 'image cat vs debugfs');
    const rows = JSON.parse(ok(['image', 'ls', '-R', '--json', mkfsImage]).toString()) as LsJson[];
    const want = rows.filter((r) => r.type === '-' && ['/usr/lib/big.bin', '/sparse.img', '/hl-a'].includes(r.path));
    expect(want).toHaveLength(3);
    const { contents } = catInodes(mkfsImage, want.map((r) => ({ ino: r.ino, size: r.size })));
    want.forEach((r, k) => expect(ok(['image', 'cat', mkfsImage, r.path]).equals(contents[k] as Buffer), r.path).toBe(true));
  });

  it('stops quietly when the reader goes away (EPIPE) and keeps up with a slow one', (ctx) => {
    requireJudge(ctx, missing, 'image cat');
    const r = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${main}" image cat "${mkfsImage}" /sparse.img | head -c 100 | wc -c`], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('100');
    expect(r.status).toBe(0);
    const slow = spawnSync('bash', ['-c', `"${process.execPath}" "${main}" image cat "${mkfsImage}" /sparse.img | (sleep 0.5; sha256sum)`], { encoding: 'utf8' });
    expect(slow.stdout.split(' ')[0]).toBe(execFileSync('sha256sum', [path.join(src, 'sparse.img')], { encoding: 'utf8' }).split(' ')[0]);
  });
});

describe('image: errors are one line naming the image and the path', () => {
  const cases: Array<[string, string[], number, (img: string) => string]> = [
    ['a missing path', ['ls', '@', '/etc/nope'], 1, (img) => `extimg: ${img}: /etc/nope: no such file or directory`],
    ['a missing path for cat', ['cat', '@', 'nope/x'], 1, (img) => `extimg: ${img}: nope/x: no such file or directory`],
    ['cat of a directory', ['cat', '@', '/etc'], 1, (img) => `extimg: ${img}: /etc: is a directory`],
    ['cat of a fifo', ['cat', '@', '/fifo'], 1, (img) => `extimg: ${img}: /fifo: is a fifo, not a regular file`],
    ['a file as a directory', ['ls', '@', '/etc/passwd/x'], 1, (img) => `extimg: ${img}: /etc/passwd/x: not a directory`],
    ['@N on a filesystem image', ['ls', '@@2'], 2, (img) => `extimg: ${img}: @2 names a partition, but this is a filesystem image with no partition table`],
    ['a bad @N', ['ls', '@@x'], 2, (img) => `extimg: ${img}: @x does not name a partition (a disk's partitions are @1, @2, ... as the kernel numbers them)`],
    ['a missing image', ['ls', 'no-such.img'], 1, () => 'extimg: no-such.img: no such file'],
    ['no subcommand', [], 2, () => "extimg: image needs a subcommand: ls, cat, extract or info (see 'extimg image --help')"],
    ['--json for cat', ['cat', '--json', '@', '/x'], 2, () => "extimg: option '--json' is for 'image ls' and 'image info' (see 'extimg image --help')"],
  ];
  for (const [what, args, status, message] of cases) {
    it(what, (ctx) => {
      requireJudge(ctx, missing, 'image errors');
      const r = cli(['image', ...args.map((a) => a.replace(/^@/, mkfsImage))]);
      expect(r.stderr.toString()).toBe(`${message(mkfsImage)}\n`);
      expect(r.stdout.toString()).toBe('');
      expect(r.status).toBe(status);
    });
  }

  it('a symlink loop is ELOOP after 40 links; --debug adds the stack', (ctx) => {
    requireJudge(ctx, missing, 'image errors');
    const dir = path.join(tmp, 'loop-src');
    fs.mkdirSync(dir);
    fs.symlinkSync('b', path.join(dir, 'a'));
    fs.symlinkSync('/a', path.join(dir, 'b'));
    const image = path.join(tmp, 'loop.img');
    ok(['build', '-q', '-o', image, dir]);
    const r = cli(['image', 'cat', image, '/a']);
    expect(r.stderr.toString()).toBe(`extimg: ${image}: /a: too many levels of symbolic links (more than 40)\n`);
    expect(r.status).toBe(1);
    const d = cli(['image', 'cat', '--debug', image, '/a']);
    expect(d.stderr.toString()).toMatch(/\n {4}at /);
  });
});

/**
 * The extracted tree against the image as debugfs reads it (mke2fs -d keeps no time past 2038:
 * the image, not the source, is the truth) and against the source's contents: everything but
 * what cannot be created (and owners, unless root).
 */
function expectExtracted(image: string, out: string, label: string, owners: boolean): void {
  const want = manifestFromDebugfs(image);
  const got = manifestFromDir(out, { blocks: false });
  const fromSource = manifestFromDir(src, { blocks: false });
  for (const m of [want, got, fromSource]) {
    m.delete('');
    for (const k of special) m.delete(k);
    for (const e of m.values()) delete e.allocatedBlocks;
  }
  expectSameManifest(want, got, label, { ignore: owners ? [] : ['uid', 'gid'], ignoreNsec: true });
  expectSameManifest(fromSource, withoutLostFound(got), `${label} (vs the source)`, { ignore: ['mtime', ...(owners ? [] : (['uid', 'gid'] as const))] });
}

interface Manifested {
  origin: string;
  path: string;
  entries: Array<{ path: string; pathHex?: string; type: string; mode: string; uid: number; gid: number; major?: number; minor?: number; created: boolean; owned: boolean; xattrs?: Record<string, string> }>;
}

describe('image extract', () => {
  it('as root: the tree with owners; devices, fifos and sockets in the manifest only', (ctx) => {
    requireJudge(ctx, missing ?? (isRoot ? undefined : 'not root'), 'image extract as root');
    for (const image of [mkfsImage, builtImage]) {
      const out = path.join(tmp, `extract-root-${path.basename(image)}`);
      const r = cli(['image', 'extract', image, out]);
      expect(r.stderr.toString()).toMatch(new RegExp(`^extimg: \\d+ entries extracted to ${out}, ${special.length} not created; manifest ${out}\\.extimg-manifest\\.json\\n$`));
      expect(r.status).toBe(0);
      expectExtracted(image, out, `extract ${path.basename(image)} as root`, true);
      const m = JSON.parse(fs.readFileSync(`${out}.extimg-manifest.json`, 'utf8')) as Manifested;
      expect(m.origin).toBe(image);
      expect(m.entries.find((e) => e.path === 'big-dev')).toMatchObject({ type: 'c', major: 300, minor: 70000, created: false });
      expect(m.entries.find((e) => e.path === 'usr/lib')).toMatchObject({ uid: 3_000_000, gid: 4_000_000, created: true, owned: true });
      // Holes stay holes: the 5 MiB sparse file takes its 12 KiB of data, the all-hole file nothing.
      const sparse = fs.statSync(path.join(out, 'sparse.img'));
      expect([sparse.size, sparse.blocks * 512 <= 64 * 1024]).toEqual([5 * 1024 * 1024 + 100, true]);
      const hole = fs.statSync(path.join(out, 'all-hole'));
      expect([hole.size, hole.blocks]).toEqual([3 * 1024 * 1024, 0]);
    }
  });

  it('as an unprivileged user: files, links, modes and mtimes; owners, devices, fifos, sockets and xattrs in the manifest', (ctx) => {
    requireJudge(ctx, missing ?? (isRoot ? undefined : 'not root: cannot switch to an unprivileged uid'), 'image extract as nobody');
    const base = fs.mkdtempSync('/tmp/extimg-image-nobody-');
    try {
      fs.chmodSync(base, 0o777);
      const image = path.join(base, 'fs.img');
      fs.copyFileSync(mkfsImage, image);
      fs.chmodSync(image, 0o644);
      const out = path.join(base, 'out');
      const r = cli(['image', 'extract', image, out], { asNobody: true });
      expect(r.error, 'setpriv (util-linux) is needed to drop root').toBeUndefined();
      expect(r.stderr.toString()).toMatch(/^extimg: \d+ entries extracted to .*, 5 not created; manifest .*\n$/);
      expect(r.status).toBe(0);
      expect(fs.statSync(path.join(out, 'etc/passwd')).uid).toBe(65534);
      expectExtracted(image, out, 'extract as nobody', false);
      const m = JSON.parse(fs.readFileSync(`${out}.extimg-manifest.json`, 'utf8')) as Manifested;
      const rec = (p: string) => m.entries.find((e) => e.path === p);
      expect(rec('.')).toMatchObject({ type: 'd', created: true, owned: false });
      expect(rec('etc/passwd')).toMatchObject({ type: '-', mode: '0644', uid: 1234, gid: 5678, created: true, owned: false });
      expect(rec('etc/passwd')!.xattrs).toMatchObject({ 'user.comment': Buffer.from('hello').toString('base64') });
      expect(rec('usr/lib')).toMatchObject({ uid: 3_000_000, gid: 4_000_000 });
      expect(rec('null')).toMatchObject({ type: 'c', major: 1, minor: 3, mode: '0644', created: false });
      expect(rec('etc/disk')).toMatchObject({ type: 'b', major: 8, minor: 1, created: false });
      expect(rec('fifo')).toMatchObject({ type: 'p', created: false });
      expect(rec('sock')).toMatchObject({ type: 's', created: false });
      expect(rec('new\\x0aline')).toMatchObject({ type: '-', created: true });
      expect(m.entries.find((e) => e.pathHex === Buffer.from('f\xff\xfe.bin', 'latin1').toString('hex'))).toMatchObject({ created: true });
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });

  it('PATH: the subtree at PATH, or one file under its name', (ctx) => {
    requireJudge(ctx, missing, 'image extract PATH');
    const out = path.join(tmp, 'extract-sub');
    ok(['image', 'extract', '-q', mkfsImage, out, '/usr/lib']);
    expect(fs.readdirSync(out).sort()).toEqual(['big.bin', 'deep']);
    expect(fs.readFileSync(path.join(out, 'big.bin')).equals(fs.readFileSync(path.join(src, 'usr/lib/big.bin')))).toBe(true);
    const one = path.join(tmp, 'extract-one');
    ok(['image', 'extract', '-q', mkfsImage, one, '/abs-link']);
    expect(fs.readdirSync(one)).toEqual(['abs-link']);
    expect(fs.readFileSync(path.join(one, 'abs-link'), 'utf8')).toBe(fs.readFileSync(path.join(src, 'etc/passwd'), 'utf8'));
  });

  it('writes nothing outside DIR: not through a symlink in the image, nor through one already in DIR', (ctx) => {
    requireJudge(ctx, missing, 'image extract containment');
    const outside = fs.mkdtempSync(path.join(tmp, 'outside-'));
    // (1) extimg build: a symlink to a host path, and a later input bringing a directory of that name.
    const a = path.join(tmp, 'evil-a');
    const b = path.join(tmp, 'evil-b');
    fs.mkdirSync(a);
    fs.mkdirSync(path.join(b, 'evil'), { recursive: true });
    fs.symlinkSync(outside, path.join(a, 'evil'));
    fs.writeFileSync(path.join(b, 'evil', 'pwned'), 'x');
    const built = path.join(tmp, 'evil-built.img');
    ok(['build', '-q', '-o', built, a, b]);
    const out1 = path.join(tmp, 'evil-out1');
    ok(['image', 'extract', '-q', built, out1]);
    expect(fs.readlinkSync(path.join(out1, 'evil'))).toBe(outside);
    // (2) a damaged image: two entries named 'zzevil' in one directory, a symlink out, then a
    // directory with a file (the second name patched in place; ext2 has no checksums to fix).
    const c = path.join(tmp, 'evil-c');
    fs.mkdirSync(path.join(c, 'zzevim'), { recursive: true });
    fs.writeFileSync(path.join(c, 'zzevim', 'pwned'), 'x');
    fs.symlinkSync(outside, path.join(c, 'zzevil'));
    const crafted = path.join(tmp, 'evil-dup.img');
    ok(['build', '-q', '-t', 'ext2', '-o', crafted, c]);
    const bytes = fs.readFileSync(crafted);
    const at = bytes.indexOf('zzevim');
    expect(at).toBeGreaterThan(0);
    expect(bytes.indexOf('zzevim', at + 1)).toBe(-1);
    bytes[at + 5] = 'l'.charCodeAt(0);
    fs.writeFileSync(crafted, bytes);
    const names = JSON.parse(ok(['image', 'ls', '--json', crafted]).toString()) as LsJson[];
    expect(names.filter((n) => n.path === '/zzevil').map((n) => n.type).sort()).toEqual(['d', 'l']);
    const out2 = path.join(tmp, 'evil-out2');
    ok(['image', 'extract', '-q', crafted, out2]);
    expect(fs.lstatSync(path.join(out2, 'zzevil')).isDirectory()).toBe(true);
    // (3) DIR already holds a symlink where the image has a directory.
    const out3 = path.join(tmp, 'evil-out3');
    fs.mkdirSync(out3);
    fs.symlinkSync(outside, path.join(out3, 'etc'));
    ok(['image', 'extract', '-q', mkfsImage, out3]);
    expect(fs.lstatSync(path.join(out3, 'etc')).isDirectory()).toBe(true);
    expect(fs.readdirSync(outside)).toEqual([]);
  });
});

describe('image info', () => {
  let disk: string;
  let fsImage: string;
  beforeAll(() => {
    if (missing || missingTools(['sfdisk'])) return;
    fsImage = path.join(tmp, 'part.img');
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'rootfs', '-d', path.join(src, 'etc'), fsImage, '16M'], { stdio: 'pipe' });
    disk = path.join(tmp, 'disk.img');
    fs.writeFileSync(disk, '');
    fs.truncateSync(disk, 20 << 20);
    execFileSync('sfdisk', ['-q', disk], { input: 'label: gpt\nstart=2048, size=32768, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"\n' });
    execFileSync('dd', [`if=${fsImage}`, `of=${disk}`, 'bs=1M', 'seek=1', 'conv=notrunc', 'status=none']);
  });

  it('a raw filesystem: the dumpe2fs -h summary', (ctx) => {
    requireJudge(ctx, missing, 'image info');
    const text = ok(['image', 'info', mkfsImage]).toString();
    const header = execFileSync('dumpe2fs', ['-h', mkfsImage], { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
    for (const key of ['Filesystem UUID', 'Filesystem features', 'Inode count', 'Block count', 'Free blocks', 'Free inodes', 'Block size', 'Inode size', 'Reserved block count', 'Blocks per group', 'Inodes per group', 'Directory Hash Seed', 'Filesystem magic number', 'Filesystem state', 'Journal inode']) {
      const want = new RegExp(`^${key}:[ \\t]+(.*)$`, 'm').exec(header)?.[1]?.trim();
      const got = new RegExp(`^${key}: +(.*)$`, 'm').exec(text)?.[1]?.trim();
      expect(got, key).toBe(want);
    }
  });

  it('a GPT disk: the partition table, then each ext partition\'s summary (UUID as dumpe2fs says)', (ctx) => {
    requireJudge(ctx, missing ?? missingTools(['sfdisk']), 'image info on a GPT disk');
    const uuid = /^Filesystem UUID: +(\S+)$/m.exec(execFileSync('dumpe2fs', ['-h', fsImage], { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] }))![1]!;
    const text = ok(['image', 'info', disk]).toString();
    expect(text).toMatch(/^Disk .*disk\.img: 20 MiB \(20971520 bytes\), GPT, disk GUID [0-9A-F-]{36}\n/);
    expect(text).toMatch(/^ *1 +1048576 +16 MiB +Linux filesystem \(0FC63DAF-8483-4772-8E79-3D69D8477DE4\) +root +ext4$/m);
    expect(text).toMatch(new RegExp(`^Filesystem UUID: +${uuid}$`, 'm'));
    expect(text).toMatch(/^Filesystem volume name: +rootfs$/m);
    const json = JSON.parse(ok(['image', 'info', '--json', disk]).toString()) as { table: string; partitions: Array<{ number: number; start: number; fsKind: string; name: string }>; filesystems: Array<{ partition: number; summary: Record<string, string> }> };
    expect(json.table).toBe('gpt');
    expect(json.partitions).toMatchObject([{ number: 1, start: 1 << 20, fsKind: 'ext4', name: 'root' }]);
    expect(json.filesystems).toMatchObject([{ partition: 1, summary: { 'Filesystem UUID': uuid } }]);
    // The one ext partition is read without @1; @1 names it; @2 does not exist.
    expect(ok(['image', 'cat', disk, '/passwd']).equals(fs.readFileSync(path.join(src, 'etc/passwd')))).toBe(true);
    expect(ok(['image', 'cat', `${disk}@1`, '/passwd']).equals(fs.readFileSync(path.join(src, 'etc/passwd')))).toBe(true);
    const r = cli(['image', 'ls', `${disk}@2`]);
    expect(r.stderr.toString()).toBe(`extimg: ${disk}: has no partition 2 (its partitions: 1: ext4 16 MiB)\n`);
    expect(r.status).toBe(2);
  });

  it('a qcow2 disk: read through qemu-img convert\'s output', (ctx) => {
    requireJudge(ctx, missing ?? missingTools(['sfdisk', 'qemu-img']), 'image on qcow2');
    const q = path.join(tmp, 'disk.qcow2');
    execFileSync('qemu-img', ['convert', '-O', 'qcow2', disk, q]);
    expect(ok(['image', 'cat', `${q}@1`, '/passwd']).equals(fs.readFileSync(path.join(src, 'etc/passwd')))).toBe(true);
    expect(ok(['image', 'info', q]).toString()).toMatch(/^Disk .*disk\.qcow2: qcow2, 20 MiB/);
  });
});
