import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { CliContext } from '../src/cli/context.js';
import { run } from '../src/cli/run.js';
import { type NewcInput, writeNewc } from '../src/ingest/cpio.js';
import { extractSegments, manifestPathFor, type ManifestRecord } from '../src/io/initrd-extract.js';
import { scanSegments } from '../src/initrd/segments.js';
import { requireJudge } from './helpers/env.js';
import { workDir } from './helpers/image.js';
import { isRoot, makeInitrd, missingFixtureTools, sh, T0, type FixtureCodec } from './initrd-fixtures.js';

const work = workDir('initrd-extract');
afterAll(() => work.cleanup());
let n = 0;

interface Node {
  type: string;
  mode: number;
  size: number;
  mtime?: number;
  uid: number;
  gid: number;
  target?: string;
  hash?: string;
  /** the first path (sorted) sharing this inode */
  linkGroup?: string;
  rdev?: number;
}

/** Every path under `root` (raw bytes as latin1), lstat'ed, never following symlinks. */
function walk(root: string): Map<string, Node> {
  const out = new Map<string, Node>();
  const inodes = new Map<number, string>();
  const rootBuf = Buffer.from(root);
  const visit = (rel: Buffer): void => {
    const p = rel.length ? Buffer.concat([rootBuf, Buffer.from('/'), rel]) : rootBuf;
    const st = fs.lstatSync(p);
    const type = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFile() ? '-' : st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : st.isFIFO() ? 'p' : 's';
    const node: Node = { type, mode: st.mode & 0o7777, size: type === '-' ? st.size : 0, uid: st.uid, gid: st.gid };
    if (type === '-' || type === 'd') node.mtime = Math.floor(st.mtimeMs / 1000);
    if (type === 'l') node.target = (fs.readlinkSync(p, { encoding: 'buffer' }) as Buffer).toString('latin1');
    if (type === '-') {
      node.hash = fs.readFileSync(p).toString('base64').slice(0, 64) + fs.readFileSync(p).length;
      if (st.nlink > 1) {
        const first = inodes.get(st.ino) ?? rel.toString('latin1');
        inodes.set(st.ino, first);
        node.linkGroup = first;
      }
    }
    if (type === 'c' || type === 'b') node.rdev = st.rdev;
    out.set(rel.length ? rel.toString('latin1') : '.', node);
    if (type === 'd') {
      const names = (fs.readdirSync(p, { encoding: 'buffer' }) as Buffer[]).sort(Buffer.compare);
      for (const name of names) visit(rel.length ? Buffer.concat([rel, Buffer.from('/'), name]) : name);
    }
  };
  visit(Buffer.alloc(0));
  return out;
}

async function cli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const ctx = new CliContext({ write: (s) => (out.push(s), true) }, { write: (s) => (err.push(s), true) }, {});
  const status = await run(args, ctx);
  return { status, stdout: out.join(''), stderr: err.join('') };
}

describe('initrd extract: like cpio -idm on the same data', () => {
  for (const codec of ['gzip', 'zstd', 'xz'] as FixtureCodec[]) {
    it(`${codec}: files, dirs, symlinks, hard links, modes, mtimes; devices in the manifest`, async (ctx) => {
      requireJudge(ctx, missingFixtureTools(codec), `initrd ${codec} fixture`);
      const f = makeInitrd(work.dir, `x-${codec}`, codec);
      const ref = join(f.dir, 'ref');
      fs.mkdirSync(ref);
      for (const archive of [f.early, f.main]) sh('cpio', ['-idmu', '--quiet', '--no-absolute-filenames'], { cwd: ref, input: archive });
      const out = join(f.dir, 'out');
      const warnings: string[] = [];
      const r = extractSegments(await scanSegments(f.bytes, f.file), out, { origin: f.file, onWarning: (m) => warnings.push(m) });
      expect(warnings).toEqual([]);

      const ours = walk(out);
      const theirs = walk(ref);
      // Devices, fifos and sockets are not created (Node has no mknod): they are in the manifest.
      const special = [...theirs].filter(([, v]) => 'cbps'.includes(v.type));
      for (const [p] of special) theirs.delete(p);
      ours.delete('.');
      theirs.delete('.');
      // GNU cpio -idm leaves a directory's mtime at the time its last child was made; we set
      // every directory's after its contents, as the kernel's dir_utime() does. All are T0 here.
      for (const [p, v] of ours) {
        if (v.type !== 'd') continue;
        expect([p, v.mtime]).toEqual([p, T0]);
        delete v.mtime;
        delete theirs.get(p)!.mtime;
      }
      expect(Object.fromEntries(ours)).toEqual(Object.fromEntries(theirs));
      expect(ours.get('usr/bin/sh')!.linkGroup).toBe('usr/bin/busybox');
      expect(ours.get('usr/bin/suid')!.mode).toBe(0o4755);
      expect(ours.get('ro')!.mode).toBe(0o555);
      expect(ours.get('etc/fstab')!.mtime).toBe(T0);

      expect(r.manifestPath).toBe(`${out}.extimg-manifest.json`);
      const manifest = JSON.parse(fs.readFileSync(r.manifestPath, 'utf8')) as { entries: ManifestRecord[] };
      expect(manifest.entries).toEqual(r.records);
      const byPath = new Map(manifest.entries.map((e) => [e.path, e]));
      for (const [p, v] of special) {
        const rec = byPath.get(p)!;
        expect(rec).toMatchObject({ type: v.type, mode: v.mode.toString(8).padStart(4, '0'), uid: v.uid, gid: v.gid, created: false });
        if (v.type === 'c' || v.type === 'b') expect([rec.major, rec.minor]).toEqual([Number(BigInt(v.rdev!) >> 8n) & 0xfff, v.rdev! & 0xff]);
      }
      if (isRoot) {
        expect(special.map(([p]) => p).sort()).toEqual(['dev/console', 'dev/initctl', 'dev/sda']);
        expect(byPath.get('etc/fstab')).toMatchObject({ uid: 100_000, gid: 70_000, created: true, owned: true });
      }
      expect(byPath.get('kernel/x86/microcode/GenuineIntel.bin')).toMatchObject({ type: '-', created: true });
    });
  }

  it('extimg initrd extract through the CLI; later entries replace earlier ones', async () => {
    const dir = join(work.dir, `cli-${n++}`);
    fs.mkdirSync(dir);
    const a = writeNewc([
      { name: 'etc', mode: 0o40755, mtime: T0 },
      { name: 'etc/conf', mode: 0o100644, data: Buffer.from('first'), mtime: T0 },
      { name: 'etc/link', mode: 0o120777, data: Buffer.from('conf') },
      { name: 'x', mode: 0o40700 },
      { name: 'x/inner', mode: 0o100600, data: Buffer.from('in x') },
    ]);
    const b = writeNewc([
      { name: 'etc/conf', mode: 0o100600, data: Buffer.from('second'), mtime: T0 + 5 },
      { name: 'etc/link', mode: 0o100644, data: Buffer.from('now a file') },
      { name: 'x', mode: 0o100644, data: Buffer.from('x is a file now') },
    ]);
    const file = join(dir, 'initrd.img');
    fs.writeFileSync(file, Buffer.concat([a, Buffer.alloc(8), gzipSync(b)]));
    const r = await cli(['initrd', 'extract', file, join(dir, 'root')]);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^extimg: 8 entries extracted to .*root, 0 not created; manifest .*root\.extimg-manifest\.json\n$/);
    expect(fs.readFileSync(join(dir, 'root/etc/conf'), 'utf8')).toBe('second');
    expect(fs.statSync(join(dir, 'root/etc/conf')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(join(dir, 'root/etc/conf')).mtimeMs).toBe((T0 + 5) * 1000);
    expect(fs.lstatSync(join(dir, 'root/etc/link')).isFile()).toBe(true);
    expect(fs.readFileSync(join(dir, 'root/x'), 'utf8')).toBe('x is a file now');
    expect(fs.existsSync(manifestPathFor(join(dir, 'root/')))).toBe(true);
  });
});

describe('initrd extract: hostile archives write nothing outside DIR', () => {
  /** A fresh parent with DIR (the target) and OUTSIDE (must stay empty) beside it. */
  function arena(): { parent: string; target: string; outside: string } {
    const parent = join(work.dir, `hostile-${n++}`);
    const outside = join(parent, 'outside');
    fs.mkdirSync(outside, { recursive: true });
    return { parent, target: join(parent, 'target'), outside };
  }

  async function extract(entries: NewcInput[], target: string, compress = true): Promise<string[]> {
    const raw = writeNewc(entries);
    const data = compress ? gzipSync(raw) : raw;
    const warnings: string[] = [];
    extractSegments(await scanSegments(data, 'evil.img'), target, { origin: 'evil.img', onWarning: (m) => warnings.push(m) });
    return warnings;
  }

  function expectOnlyTarget(a: { parent: string; outside: string }): void {
    expect(fs.readdirSync(a.parent).sort()).toEqual(['outside', 'target', 'target.extimg-manifest.json']);
    expect(fs.readdirSync(a.outside)).toEqual([]);
  }

  it('traversal names are refused; absolute names land inside', async () => {
    const a = arena();
    const warnings = await extract(
      [
        { name: '../outside/x', mode: 0o100644, data: Buffer.from('escape') },
        { name: 'a/../../outside/y', mode: 0o100644, data: Buffer.from('escape') },
        { name: '..', mode: 0o40755 },
        { name: '/etc/passwd-evil', mode: 0o100644, data: Buffer.from('inside') },
        { name: '//abs2', mode: 0o100644, data: Buffer.from('inside') },
      ],
      a.target,
    );
    expect(warnings).toHaveLength(3);
    for (const w of warnings) expect(w).toMatch(/^evil\.img: skipped '.*' \(segment 0, offset \d+\): a '\.\.' component would leave the target directory$/);
    expectOnlyTarget(a);
    expect(fs.readFileSync(join(a.target, 'etc/passwd-evil'), 'utf8')).toBe('inside');
    expect(fs.readFileSync(join(a.target, 'abs2'), 'utf8')).toBe('inside');
    expect(fs.existsSync('/etc/passwd-evil')).toBe(false);
  });

  it("a symlink 'evil -> /tmp' (or to a sibling) followed by 'evil/pwned' is never followed", async () => {
    const a = arena();
    const tag = `extimg-pwned-${process.pid}-${n++}`;
    const warnings = await extract(
      [
        { name: 'evil', mode: 0o120777, data: Buffer.from('/tmp') },
        { name: `evil/${tag}`, mode: 0o100644, data: Buffer.from('pwned') },
        { name: 'sib', mode: 0o120777, data: Buffer.from(a.outside) },
        { name: 'sib/pwned', mode: 0o100644, data: Buffer.from('pwned') },
        { name: 'sib/dir', mode: 0o40755 },
        { name: 'sib/link', mode: 0o120777, data: Buffer.from('/etc/passwd') },
        { name: 'rel', mode: 0o120777, data: Buffer.from('../outside') },
        { name: 'rel/deep/er/file', mode: 0o100644, data: Buffer.from('pwned') },
      ],
      a.target,
    );
    expect(warnings).toHaveLength(5);
    for (const w of warnings) expect(w).toMatch(/is a symlink \(never followed\)$/);
    expect(fs.existsSync(join('/tmp', tag))).toBe(false);
    expectOnlyTarget(a);
    expect(fs.readlinkSync(join(a.target, 'evil'))).toBe('/tmp');
  });

  it('a file over a symlink replaces the symlink instead of writing through it', async () => {
    const a = arena();
    fs.writeFileSync(join(a.outside, 'victim'), 'original');
    const warnings = await extract(
      [
        { name: 'f', mode: 0o120777, data: Buffer.from(join(a.outside, 'victim')) },
        { name: 'f', mode: 0o100644, data: Buffer.from('replaced') },
        { name: 'h', mode: 0o120777, data: Buffer.from(join(a.outside, 'victim')) },
        { name: 'h', mode: 0o100644, nlink: 2, ino: 77, data: new Uint8Array(0) },
        { name: 'h2', mode: 0o100644, nlink: 2, ino: 77, data: Buffer.from('linked data') },
        { name: 'd', mode: 0o120777, data: Buffer.from(a.outside) },
        { name: 'd', mode: 0o40700 },
        { name: 'd/in', mode: 0o100644, data: Buffer.from('in d') },
      ],
      a.target,
    );
    expect(warnings).toEqual([]);
    expect(fs.readFileSync(join(a.outside, 'victim'), 'utf8')).toBe('original');
    expect(fs.readdirSync(a.outside)).toEqual(['victim']);
    expect(fs.lstatSync(join(a.target, 'f')).isFile()).toBe(true);
    expect(fs.readFileSync(join(a.target, 'h'), 'utf8')).toBe('linked data');
    expect(fs.statSync(join(a.target, 'h')).ino).toBe(fs.statSync(join(a.target, 'h2')).ino);
    expect(fs.lstatSync(join(a.target, 'd')).isDirectory()).toBe(true);
    expect(fs.readFileSync(join(a.target, 'd/in'), 'utf8')).toBe('in d');
  });

  it('a hard link whose first name was replaced by a symlink is refused', async () => {
    const a = arena();
    fs.writeFileSync(join(a.outside, 'victim'), 'original');
    const warnings = await extract(
      [
        { name: 'first', mode: 0o100644, nlink: 2, ino: 9, data: new Uint8Array(0) },
        { name: 'first', mode: 0o120777, data: Buffer.from(join(a.outside, 'victim')) },
        { name: 'second', mode: 0o100644, nlink: 2, ino: 9, data: Buffer.from('overwrite') },
      ],
      a.target,
      false,
    );
    expect(warnings).toEqual([expect.stringMatching(/'second' .*hard link target was replaced/)]);
    expect(fs.readFileSync(join(a.outside, 'victim'), 'utf8')).toBe('original');
  });
});

describe('initrd extract: as an unprivileged user', () => {
  it('extracts without chown or mknod; owners and devices only in the manifest', async (ctx) => {
    requireJudge(ctx, isRoot ? missingFixtureTools('gzip') : 'not root: cannot switch to an unprivileged uid', 'unprivileged extract');
    const cliMain = join(fileURLToPath(new URL('..', import.meta.url)), 'dist', 'cli', 'main.js');
    const f = makeInitrd(work.dir, `nobody-${n++}`, 'gzip');
    const base = fs.mkdtempSync('/tmp/extimg-nobody-');
    try {
      fs.chmodSync(base, 0o777);
      fs.copyFileSync(f.file, join(base, 'initrd.img'));
      fs.chmodSync(join(base, 'initrd.img'), 0o644);
      const r = spawnSync(process.execPath, [cliMain, 'initrd', 'extract', join(base, 'initrd.img'), join(base, 'out')], { uid: 65534, gid: 65534, encoding: 'utf8' });
      expect(r.stderr).toMatch(/^extimg: \d+ entries extracted to .*, 3 not created; manifest .*\n$/);
      expect(r.status).toBe(0);
      const out = join(base, 'out');
      expect(fs.statSync(join(out, 'usr/bin/suid')).mode & 0o7777).toBe(0o4755);
      expect(fs.statSync(join(out, 'ro')).mode & 0o7777).toBe(0o555);
      expect(fs.statSync(join(out, 'etc/fstab')).uid).toBe(65534);
      const manifest = JSON.parse(fs.readFileSync(`${out}.extimg-manifest.json`, 'utf8')) as { entries: ManifestRecord[] };
      expect(manifest.entries.find((e) => e.path === 'etc/fstab')).toMatchObject({ uid: 100_000, gid: 70_000, created: true, owned: false });
      expect(manifest.entries.find((e) => e.path === 'dev/console')).toMatchObject({ type: 'c', major: 5, minor: 1, mode: '0600', created: false });
    } finally {
      fs.chmodSync(join(base, 'out', 'ro'), 0o755);
      fs.rmSync(base, { recursive: true, force: true });
    }
  });
});
