import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSourceTree } from './helpers/archives.js';
import { expectSameManifest } from './helpers/compare.js';
import { e2fsck } from './helpers/e2fsck.js';
import { missingTools, mountAvailable, requireJudge } from './helpers/env.js';
import { workDir } from './helpers/image.js';
import type { Manifest } from './helpers/manifest.js';
import { manifestFromMount } from './helpers/mount.js';

// Issue #15: `extimg edit` on a bare image and on one partition of a raw or qcow2 disk: the
// filesystem changed as asked with its identity kept, everything else byte for byte, and a
// failed edit leaves the file as it was.

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const main = path.join(root, 'dist', 'cli', 'main.js');
const work = workDir('cli-edit');
const tmp = work.dir;
afterAll(() => work.cleanup());
const missing = missingTools(['mke2fs', 'e2fsck', 'debugfs', 'dumpe2fs', 'sfdisk', 'qemu-img', 'dd']);
const MiB = 1 << 20;

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', cwd: tmp, env: { ...process.env, SOURCE_DATE_EPOCH: undefined } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { cwd: tmp, encoding: 'utf8', ...(input !== undefined ? { input } : {}), stdio: ['pipe', 'pipe', 'pipe'] });
}
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

let src: string;
let other: string;
beforeAll(() => {
  if (missing) return;
  src = path.join(tmp, 'src');
  fs.mkdirSync(src);
  const isRoot = process.getuid?.() === 0;
  makeSourceTree(src, { devices: isRoot, socket: true, owners: isRoot ? 'big' : undefined, nanoseconds: true, sparse: true, xattrs: true });
  other = path.join(tmp, 'other');
  fs.mkdirSync(other);
  fs.writeFileSync(path.join(other, 'data'), 'the other partition\n');
});

function mke2fs(name: string, args: string[], dir: string, size: string): string {
  const img = path.join(tmp, name);
  sh('mke2fs', ['-q', '-F', '-E', 'root_owner=0:0', ...args, '-d', dir, img, size]);
  return img;
}

function facts(image: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of sh('dumpe2fs', ['-h', image]).split('\n')) {
    const m = /^([^:]+):\s+(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}
const IDENTITY = ['Filesystem UUID', 'Filesystem volume name', 'Directory Hash Seed', 'Block count', 'Block size', 'Inode size', 'Filesystem features'];
const identity = (image: string): Record<string, string | undefined> => Object.fromEntries(IDENTITY.map((k) => [k, facts(image)[k]]));

function view(image: string): Manifest {
  const m = manifestFromMount(image);
  for (const k of [...m.keys()]) if (k === 'lost+found' || k.startsWith('lost+found/')) m.delete(k);
  for (const e of m.values()) delete e.allocatedBlocks;
  return m;
}

/** The expected view after `--write-text /etc/hostname=vm2\n --rm /etc/empty`: the old view, changed. */
function edited(before: Manifest, after: Manifest): void {
  expect(after.get('etc/hostname')?.size).toBe(4);
  expect(after.has('etc/empty')).toBe(false);
  const want = new Map(before);
  want.delete('etc/empty');
  const got = new Map(after);
  got.delete('etc/hostname');
  // /etc itself changed (an entry came, one went): its mtime is the edit's.
  for (const m of [want, got]) {
    const e = m.get('etc');
    if (e) delete e.mtime;
  }
  expectSameManifest(want, got, 'edited vs before');
}

function partitionBytes(disk: string, startMiB: number, sizeMiB: number): Buffer {
  const b = fs.readFileSync(disk);
  return b.subarray(startMiB * MiB, (startMiB + sizeMiB) * MiB);
}

function extract(disk: string, startMiB: number, sizeMiB: number, name: string): string {
  const out = path.join(tmp, name);
  fs.writeFileSync(out, partitionBytes(disk, startMiB, sizeMiB));
  return out;
}

const EDITS = ['--write-text', '/etc/hostname=vm2\n', '--rm', '/etc/empty'];

describe('extimg edit', () => {
  it('a bare ext4 image: changed as asked, UUID/label/features/size kept, e2fsck clean, mode kept', (ctx) => {
    requireJudge(ctx, missing, 'edit');
    if (!mountAvailable('edit')) ctx.skip();
    const img = mke2fs('bare.img', ['-t', 'ext4', '-L', 'root'], src, '48M');
    fs.chmodSync(img, 0o640);
    const before = view(img);
    const id = identity(img);
    const r = cli(['edit', '-q', img, ...EDITS]);
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(e2fsck(img).code).toBe(0);
    expect(identity(img)).toEqual(id);
    edited(before, view(img));
    expect(fs.statSync(img).mode & 0o777).toBe(0o640);
    expect(fs.readdirSync(tmp).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  for (const format of ['raw', 'qcow2'] as const) {
    it(`a two-partition GPT disk (${format}): the table and the other partition byte for byte, the edited one changed with its UUID`, (ctx) => {
      requireJudge(ctx, missing, 'edit');
      if (!mountAvailable('edit')) ctx.skip();
      const p1 = mke2fs(`p1-${format}.img`, ['-t', 'ext4'], src, '40M');
      const p2 = mke2fs(`p2-${format}.img`, ['-t', 'ext2', '-b', '1024'], other, '8M');
      const raw = path.join(tmp, `gpt-${format}.disk`);
      sh('truncate', ['-s', '52M', raw]);
      sh('sfdisk', ['-q', raw], 'label: gpt\nstart=2048, size=81920, type=L\nstart=83968, size=16384, type=L\n');
      sh('dd', [`if=${p1}`, `of=${raw}`, 'bs=1M', 'seek=1', 'conv=notrunc', 'status=none']);
      sh('dd', [`if=${p2}`, `of=${raw}`, 'bs=1M', 'seek=41', 'conv=notrunc', 'status=none']);
      const disk = format === 'raw' ? raw : path.join(tmp, 'gpt.qcow2');
      if (format === 'qcow2') sh('qemu-img', ['convert', '-O', 'qcow2', raw, disk]);
      const before = view(p1);
      const id = identity(p1);
      const rawBefore = fs.readFileSync(raw);

      // Two ext partitions: the partition must be named.
      const ambiguous = cli(['edit', disk, ...EDITS]);
      expect(ambiguous.status).toBe(2);
      expect(ambiguous.stderr).toMatch(/2 partitions hold ext filesystems \(1: ext4 40 MiB, 2: ext2 8 MiB\); name one as .*@N/);

      const r = cli(['edit', '-q', `${disk}@1`, ...EDITS]);
      expect([r.status, r.stderr]).toEqual([0, '']);
      let after = disk;
      if (format === 'qcow2') {
        const check = spawnSync('qemu-img', ['check', disk], { encoding: 'utf8' });
        expect(check.status, check.stdout + check.stderr).toBe(0);
        after = path.join(tmp, 'gpt-after.raw');
        sh('qemu-img', ['convert', '-O', 'raw', disk, after]);
      }
      const rawAfter = fs.readFileSync(after);
      expect(rawAfter.length).toBe(rawBefore.length);
      expect(sha(rawAfter.subarray(0, MiB))).toBe(sha(rawBefore.subarray(0, MiB))); // MBR, GPT header, entries
      expect(sha(rawAfter.subarray(41 * MiB))).toBe(sha(rawBefore.subarray(41 * MiB))); // partition 2 and the backup GPT
      // sfdisk --verify exits 0 even when it finds errors: they are on stderr.
      const verified = spawnSync('sfdisk', ['--verify', after], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
      expect([verified.status, verified.stderr, /No errors detected/.test(verified.stdout)]).toEqual([0, '', true]);
      const part = extract(after, 1, 40, `p1-after-${format}.img`);
      expect(e2fsck(part).code).toBe(0);
      expect(identity(part)).toEqual(id);
      edited(before, view(part));
    });
  }

  it('a failing edit leaves the file as it was and names what failed; so does one that no longer fits', (ctx) => {
    requireJudge(ctx, missing, 'edit');
    const img = mke2fs('fail.img', ['-t', 'ext4'], src, '16M');
    const before = sha(fs.readFileSync(img));
    const r = cli(['edit', img, '--write-text', '/etc/hostname=x', '--rm', '/no/such/file']);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("extimg: --rm '/no/such/file': no such file or directory\n");
    expect(sha(fs.readFileSync(img))).toBe(before);
    const big = path.join(tmp, 'big.bin');
    fs.writeFileSync(big, Buffer.alloc(24 * MiB, 1));
    const r2 = cli(['edit', img, '--write', `/big=${big}`]);
    expect(r2.status).toBe(1);
    expect(r2.stderr).toMatch(new RegExp(`^extimg: ${img}: the edited filesystem does not fit its size of 16\\.0 MiB: it needs \\d+ bytes \\([0-9.]+ MiB\\); nothing was changed\n$`));
    expect(sha(fs.readFileSync(img))).toBe(before);
    expect(fs.readdirSync(tmp).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('through a symlink the image itself is edited; its owner and mode, and bytes after the filesystem, are kept', (ctx) => {
    requireJudge(ctx, missing, 'edit');
    const img = mke2fs('linked.img', ['-t', 'ext4'], src, '16M');
    // The file is longer than its filesystem (grown before a resize2fs, say): the tail stays.
    const fd = fs.openSync(img, 'r+');
    fs.writeSync(fd, Buffer.from('TRAILER'), 0, 7, 20 * MiB);
    fs.closeSync(fd);
    fs.chmodSync(img, 0o604);
    if (process.getuid?.() === 0) fs.chownSync(img, 1234, 5678);
    const link = path.join(tmp, 'link.img');
    fs.symlinkSync('linked.img', link);
    const r = cli(['edit', '-q', link, '--write-text', '/etc/hostname=linked\n']);
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    const st = fs.statSync(img);
    expect(st.mode & 0o777).toBe(0o604);
    if (process.getuid?.() === 0) expect([st.uid, st.gid]).toEqual([1234, 5678]);
    expect(st.size).toBe(20 * MiB + 7);
    expect(fs.readFileSync(img).subarray(20 * MiB).toString()).toBe('TRAILER');
    expect(sh('debugfs', ['-R', 'cat /etc/hostname', img])).toBe('linked\n');
    expect(e2fsck(img).code).toBe(0);
  });

  it('refuses what it would silently undo: other hard links to the image, a qcow2 with internal snapshots', (ctx) => {
    requireJudge(ctx, missing, 'edit');
    const img = mke2fs('hard.img', ['-t', 'ext4'], src, '16M');
    fs.linkSync(img, path.join(tmp, 'hard2.img'));
    expect(cli(['edit', img, '--rm-f', '/x'])).toMatchObject({ status: 1, stderr: expect.stringMatching(/has 2 hard links; edit writes a new file/) });
    const q = path.join(tmp, 'snap.qcow2');
    sh('qemu-img', ['convert', '-O', 'qcow2', mke2fs('snap.img', ['-t', 'ext4'], src, '16M'), q]);
    sh('qemu-img', ['snapshot', '-c', 'before', q]);
    const before = sha(fs.readFileSync(q));
    expect(cli(['edit', q, '--rm-f', '/x'])).toMatchObject({ status: 1, stderr: `extimg: ${q}: a qcow2 image with 1 internal snapshot; edit writes a new image and would drop them (qemu-img snapshot -l lists them; qemu-img convert to a copy first)\n` });
    expect(sha(fs.readFileSync(q))).toBe(before);
  });

  it('nothing to do and a file that is no image are usage errors', (ctx) => {
    requireJudge(ctx, missing, 'edit');
    const img = mke2fs('noop.img', ['-t', 'ext4'], src, '16M');
    expect(cli(['edit', img])).toMatchObject({ status: 2, stderr: expect.stringMatching(/nothing to do/) });
    const txt = path.join(tmp, 'notes.txt');
    fs.writeFileSync(txt, 'hello\n'.repeat(1000));
    expect(cli(['edit', txt, '--rm', '/x'])).toMatchObject({ status: 1, stderr: `extimg: ${txt}: neither an ext2/3/4 filesystem nor a disk with a partition table\n` });
  });
});
