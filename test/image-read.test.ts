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
import { manifestFromMount, withMount } from './helpers/mount.js';
import type { Manifest } from './helpers/manifest.js';

// Issue #14: images made by mke2fs, by the kernel and by extimg, raw, in GPT and MBR disks and
// in qcow2, are build inputs; a build from each reads back through the kernel equal to what the
// kernel reads from the source image.

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const main = path.join(root, 'dist', 'cli', 'main.js');
const work = workDir('image-read');
const tmp = work.dir;
afterAll(() => work.cleanup());

const TOOLS = ['mke2fs', 'e2fsck', 'debugfs', 'sfdisk', 'qemu-img', 'truncate', 'dd'];
const missing = missingTools(TOOLS);

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', cwd: tmp, env: { ...process.env, SOURCE_DATE_EPOCH: undefined } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { cwd: tmp, encoding: 'utf8', ...(input !== undefined ? { input } : {}), stdio: ['pipe', 'pipe', 'pipe'] });
}

const MiB = 1024 * 1024;
let src: string;

/** The source tree: every node kind, owners past 16 bits, xattrs, holes, awkward names, a directory big enough for an htree. */
beforeAll(() => {
  if (missing) return;
  src = path.join(tmp, 'src');
  fs.mkdirSync(src);
  const isRoot = process.getuid?.() === 0;
  makeSourceTree(src, { devices: isRoot, socket: true, owners: isRoot ? 'big' : undefined, nanoseconds: true, sparse: true, xattrs: true, awkwardNames: true });
  const many = path.join(src, 'many');
  fs.mkdirSync(many);
  for (let k = 0; k < 400; k++) fs.writeFileSync(path.join(many, `entry-with-a-longer-name-${k}`), `${k}\n`);
  fs.writeFileSync(path.join(src, 'tiny-inline'), 'x'.repeat(40));
  // A POSIX ACL (user 1234 rw-) and a security.* xattr, set as setfacl and setcap would.
  execFileSync('python3', [
    '-c',
    `import os,sys
acl = bytes.fromhex('02000000' + '0100' + '0600' + 'ffffffff' + '0200' + '0600' + 'd2040000' + '0400' + '0400' + 'ffffffff' + '1000' + '0600' + 'ffffffff' + '2000' + '0400' + 'ffffffff')
os.setxattr(sys.argv[1] + '/etc/passwd', 'system.posix_acl_access', acl)
os.setxattr(sys.argv[1] + '/etc/empty', 'security.test', b'label')`,
    src,
  ]);
  fs.utimesSync(many, 1_650_000_000, 1_650_000_000);
  fs.utimesSync(src, 1_650_000_001, 1_650_000_001);
});

function mke2fs(name: string, args: string[], sizeMiB = 64): string {
  const img = path.join(tmp, name);
  sh('mke2fs', ['-q', '-F', '-E', 'root_owner=0:0', ...args, '-d', src, img, `${sizeMiB}M`]);
  return img;
}

/** What the kernel reads from an image, without lost+found (each mkfs makes its own). */
function kernelView(image: string): Manifest {
  const m = manifestFromMount(image);
  for (const k of [...m.keys()]) if (k === 'lost+found' || k.startsWith('lost+found/')) m.delete(k);
  for (const e of m.values()) delete e.allocatedBlocks;
  return m;
}

/** Every xattr the kernel shows in an image (ACLs included), by path, lost+found aside. */
function kernelXattrs(image: string): Record<string, Record<string, string>> {
  const script = `
import os, sys, json
root = sys.argv[1].encode()
res = {}
for d, dirs, files in os.walk(root):
    for n in [b''] + dirs + files if d == root else dirs + files:
        full = os.path.join(d, n) if n else d
        rel = os.path.relpath(full, root).decode('utf-8', 'backslashreplace')
        if rel.startswith('lost+found'):
            continue
        x = {a: os.getxattr(full, a, follow_symlinks=False).hex() for a in os.listxattr(full, follow_symlinks=False)}
        if x:
            res[rel] = x
print(json.dumps(res, sort_keys=True))
`;
  return withMount(image, (mnt) => JSON.parse(execFileSync('python3', ['-c', script, mnt]).toString()) as Record<string, Record<string, string>>);
}

/** Put a filesystem image into a disk at `startMiB` as partition `n` of a table sfdisk makes from `script`. */
function diskWith(name: string, script: string, sizeMiB: number, parts: ReadonlyArray<{ image: string; startMiB: number }>): string {
  const disk = path.join(tmp, name);
  sh('truncate', ['-s', `${sizeMiB}M`, disk]);
  sh('sfdisk', ['-q', disk], script);
  for (const p of parts) sh('dd', [`if=${p.image}`, `of=${disk}`, 'bs=1M', `seek=${p.startMiB}`, 'conv=notrunc,sparse', 'status=none']);
  return disk;
}

function rebuildQuiet(input: string, out: string, extra: string[] = []): void {
  const r = cli(['build', '-q', '-o', out, ...extra, input]);
  expect([r.status, r.stderr]).toEqual([0, '']);
}

function rebuild(input: string, out: string, extra: string[] = []): void {
  const r = cli(['build', '-q', '-o', out, ...extra, input]);
  expect(r.stderr, `extimg build ${input}`).toBe('');
  expect(r.status).toBe(0);
  const f = e2fsck(out);
  expect(f.code, f.output).toBe(0);
}

describe('ext images as build inputs (the kernel judges)', () => {
  const cases: Array<{ name: string; make: () => string; type: string; dir?: boolean }> = [
    { name: 'ext2, 1 KiB blocks (mke2fs)', make: () => mke2fs('ext2-1k.img', ['-t', 'ext2', '-b', '1024']), type: 'ext2' },
    { name: 'ext3, 128-byte inodes (mke2fs)', make: () => mke2fs('ext3-128.img', ['-t', 'ext3', '-I', '128']), type: 'ext3' },
    { name: 'ext4, inline_data and metadata_csum (mke2fs)', make: () => mke2fs('ext4-inline.img', ['-t', 'ext4', '-O', 'inline_data,metadata_csum']), type: 'ext4' },
    {
      name: 'ext4, directories indexed by e2fsck -fD',
      make: () => {
        const img = mke2fs('ext4-indexed.img', ['-t', 'ext4', '-b', '1024']);
        spawnSync('e2fsck', ['-fyD', img]);
        const ls = sh('debugfs', ['-R', 'htree_dump /many', img]);
        expect(ls).toMatch(/Root node dump/);
        return img;
      },
      type: 'ext4',
    },
    {
      name: 'ext4 written by the kernel through a loop mount',
      make: () => {
        const img = path.join(tmp, 'kernel.img');
        sh('mke2fs', ['-q', '-F', '-t', 'ext4', img, '64M']);
        const mnt = path.join(tmp, 'mnt');
        fs.mkdirSync(mnt, { recursive: true });
        sh('mount', ['-o', 'loop', img, mnt]);
        try {
          sh('cp', ['-a', `${src}/.`, mnt]);
          sh('chown', ['0:0', mnt]);
        } finally {
          sh('umount', [mnt]);
        }
        return img;
      },
      type: 'ext4',
    },
    {
      name: 'ext4 built by extimg',
      make: () => {
        const img = path.join(tmp, 'extimg.img');
        const r = cli(['build', '-q', '-t', 'ext4', '-o', img, src]);
        // @napi-rs/xattr takes UTF-8 paths: the one name that is not keeps no xattrs (it has none).
        expect(r.stderr.replace(/^extimg: warning: .*extended attributes not read for one entry: .*\(the path is not UTF-8\)\n/m, '')).toBe('');
        return img;
      },
      type: 'ext4',
    },
  ];

  for (const c of cases) {
    it(`${c.name}: rebuilt from it raw, in a GPT disk, in an MBR disk (logical partition) and in qcow2 equals it`, (ctx) => {
      requireJudge(ctx, missing, 'image read-back');
      if (!mountAvailable('image read-back')) ctx.skip();
      const img = c.make();
      const want = kernelView(img);
      const wantXattrs = kernelXattrs(img);
      expect(wantXattrs['etc/passwd']?.['system.posix_acl_access'], `${c.name}: the source image lost the ACL`).toBeDefined();
      const base = path.basename(img);
      const gpt = diskWith(`${base}.gpt`, 'label: gpt\nstart=2048, size=131072, type=L\n', 66, [{ image: img, startMiB: 1 }]);
      const mbr = diskWith(`${base}.mbr`, 'label: dos\nstart=2048, size=2048, type=83\nstart=4096, size=137216, type=5\nstart=6144, size=131072, type=83\n', 70, [{ image: img, startMiB: 3 }]);
      const containers: Array<[string, string]> = [
        ['raw', img],
        ['GPT', gpt],
        ['MBR @5', `${mbr}@5`],
        ['qcow2 of the GPT disk', convert(gpt, `${base}.qcow2`, ['-c'])],
      ];
      for (const [label, input] of containers) {
        const out = path.join(tmp, `${base}.${label.replace(/\W+/g, '-')}.out`);
        rebuild(input, out, ['-t', c.type]);
        expectSameManifest(want, kernelView(out), `${c.name} (${label}): source image vs rebuilt`);
        expect(kernelXattrs(out), `${c.name} (${label}): xattrs`).toEqual(wantXattrs);
      }
    });
  }
});

describe('disks and qcow2 around the filesystem', () => {
  let fsImage: string;
  let other: string;
  beforeAll(() => {
    if (missing) return;
    fsImage = mke2fs('part.img', ['-t', 'ext4'], 40);
    other = mke2fs('other.img', ['-t', 'ext2', '-b', '1024'], 8);
  });

  it('GPT: the one ext partition is read without words; qcow2 made by qemu-img convert (plain and compressed) too', (ctx) => {
    requireJudge(ctx, missing, 'disk read-back');
    if (!mountAvailable('disk read-back')) ctx.skip();
    const want = kernelView(fsImage);
    const disk = diskWith('gpt.disk', 'label: gpt\nstart=2048, size=81920, type=L\nstart=83968, size=4096, type=U\n', 48, [{ image: fsImage, startMiB: 1 }]);
    for (const input of [disk, convert(disk, 'gpt.qcow2', []), convert(disk, 'gpt-c.qcow2', ['-c']), convert(disk, 'gpt-v2.qcow2', ['-o', 'compat=0.10'])]) {
      const out = `${input}.out`;
      rebuild(input, out, ['-t', 'ext4']);
      expectSameManifest(want, kernelView(out), `${path.basename(input)} vs its filesystem`);
    }
  });

  it('MBR with a logical partition: two ext partitions need DISK@N, and the error lists them', (ctx) => {
    requireJudge(ctx, missing, 'disk read-back');
    if (!mountAvailable('disk read-back')) ctx.skip();
    const disk = diskWith('mbr.disk', 'label: dos\nstart=2048, size=16384, type=83\nstart=20480, size=90112, type=5\nstart=22528, size=81920, type=83\n', 56, [
      { image: other, startMiB: 1 },
      { image: fsImage, startMiB: 11 },
    ]);
    const r = cli(['build', '-q', '-o', path.join(tmp, 'mbr.out'), disk]);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/@1.*ext2|1: ext2/);
    expect(r.stderr).toMatch(/5: ext4|@5/);
    expect(fs.existsSync(path.join(tmp, 'mbr.out'))).toBe(false);
    const out = path.join(tmp, 'mbr5.out');
    rebuild(`${disk}@5`, out, ['-t', 'ext4']);
    expectSameManifest(kernelView(fsImage), kernelView(out), 'mbr.disk@5 vs its filesystem');
    const out1 = path.join(tmp, 'mbr1.out');
    rebuild(`${disk}@1`, out1, ['-t', 'ext2']);
    expectSameManifest(kernelView(other), kernelView(out1), 'mbr.disk@1 vs its filesystem');
    const bad = cli(['build', '-q', '-o', path.join(tmp, 'mbr9.out'), `${disk}@9`]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/has no partition 9 \(its partitions: 1: ext2 8 MiB, 2: Extended 44 MiB, 5: ext4 40 MiB\)/);
  });
});

function convert(disk: string, name: string, args: string[]): string {
  const out = path.join(tmp, name);
  sh('qemu-img', ['convert', '-O', 'qcow2', ...args, disk, out]);
  return out;
}

describe('refusals', () => {
  it('a truncated image is refused in one line naming it', (ctx) => {
    requireJudge(ctx, missing, 'image refusals');
    const img = mke2fs('trunc.img', ['-t', 'ext4'], 16);
    const cut = path.join(tmp, 'cut.img');
    fs.writeFileSync(cut, fs.readFileSync(img).subarray(0, 4 * MiB));
    const r = cli(['build', '-o', path.join(tmp, 'cut.out'), cut]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^extimg: ${cut}: truncated`))]);
    expect(fs.existsSync(path.join(tmp, 'cut.out'))).toBe(false);
  });
});

describe('a plain rebuild keeps the source identity', () => {
  function facts(image: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const line of sh('dumpe2fs', ['-h', image]).split('\n')) {
      const m = /^([^:]+):\s+(.*)$/.exec(line);
      if (m) out[m[1]!] = m[2]!;
    }
    return out;
  }
  const KEPT = ['Filesystem UUID', 'Filesystem volume name', 'Directory Hash Seed', 'Block count', 'Block size', 'Inode size', 'Filesystem features', 'Inode count', 'Reserved block count'];
  const pick = (f: Record<string, string>): Record<string, string | undefined> => Object.fromEntries(KEPT.map((k) => [k, f[k]]));

  for (const [name, args] of [
    ['ext4', ['-t', 'ext4', '-L', 'rootfs', '-U', '2b6c3a55-0d3e-4c1e-9a8f-0123456789ab', '-E', 'hash_seed=7d9c5f1e-1111-4222-8333-944455566677']],
    ['ext2 1 KiB', ['-t', 'ext2', '-b', '1024', '-L', 'old-root']],
    ['ext3 128-byte inodes', ['-t', 'ext3', '-I', '128']],
    ['ext4 for many small files, 1% reserved', ['-t', 'ext4', '-N', '30000', '-m', '1']],
  ] as const) {
    it(`${name}: UUID, label, hash seed, type, features, block and inode size and size`, (ctx) => {
      requireJudge(ctx, missing, 'rebuild identity');
      const img = mke2fs(`id-${name.replace(/ /g, '-')}.img`, [...args], 48);
      const out = `${img}.out`;
      rebuild(img, out);
      expect(pick(facts(out))).toEqual(pick(facts(img)));
    });
  }

  it('with --partition-table the kept filesystem goes into a disk fitted around it', (ctx) => {
    requireJudge(ctx, missing, 'rebuild identity');
    const img = mke2fs('id-disk.img', ['-t', 'ext4', '-L', 'inside'], 24);
    const disk = `${img}.gpt`;
    rebuildQuiet(img, disk, ['--partition-table', 'gpt']);
    const pt = JSON.parse(sh('sfdisk', ['-J', disk])) as { partitiontable: { partitions: Array<{ start: number; size: number }> } };
    const p = pt.partitiontable.partitions[0]!;
    const part = path.join(tmp, 'id-disk.p1');
    fs.writeFileSync(part, fs.readFileSync(disk).subarray(p.start * 512, (p.start + p.size) * 512));
    expect(pick(facts(part))).toEqual(pick(facts(img)));
  });

  it('a format option (-t) makes a new identity; content past the old size gets a bigger image, said in a warning', (ctx) => {
    requireJudge(ctx, missing, 'rebuild identity');
    const img = mke2fs('id-small.img', ['-t', 'ext4', '-L', 'small'], 16);
    const out = `${img}.t`;
    rebuild(img, out, ['-t', 'ext4']);
    expect(facts(out)['Filesystem UUID']).not.toBe(facts(img)['Filesystem UUID']);
    const big = path.join(tmp, 'big-extra');
    fs.mkdirSync(big, { recursive: true });
    fs.writeFileSync(path.join(big, 'blob'), Buffer.alloc(24 * MiB, 1));
    const grown = `${img}.grown`;
    const r = cli(['build', '-q', '-o', grown, img, big]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(`extimg: warning: ${img}: the content does not fit the source's size (16777216 bytes) and inode count; the image is sized to fit\n`);
    const f = facts(grown);
    expect([f['Filesystem UUID'], f['Filesystem volume name']]).toEqual([facts(img)['Filesystem UUID'], 'small']);
    expect(e2fsck(grown).code).toBe(0);
  });
});

describe('what a rebuild cannot keep is said', () => {
  it('inode attributes (chattr) and project ids: one warning with the count and the first path', (ctx) => {
    requireJudge(ctx, missing, 'attributes');
    const img = mke2fs('attrs.img', ['-t', 'ext4', '-O', 'project,quota'], 16);
    sh('debugfs', ['-w', '-R', 'set_inode_field /etc/passwd flags 0x80010', img]);
    sh('debugfs', ['-w', '-R', 'set_inode_field /etc/empty projid 42', img]);
    const r = cli(['build', '-q', '-o', `${img}.out`, '-t', 'ext4', img]);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^extimg: warning: .*attrs\.img: 2 entries have inode attributes extimg does not write \((immutable \(i\), project id|project id, immutable \(i\)); first: '[^']+'\); they are not kept\n/m);
  });
});

describe('a journal that needs recovery', () => {
  it('is replayed in memory as the kernel would at mount; the image file is not changed', (ctx) => {
    requireJudge(ctx, missing, 'journal recovery');
    if (!mountAvailable('journal recovery')) ctx.skip();
    const img = mke2fs('dirty.img', ['-t', 'ext4', '-b', '1024'], 32);
    const [blk] = sh('debugfs', ['-R', 'blocks /etc/passwd', img]).trim().split(/\s+/).map(Number);
    const block = Buffer.alloc(1024, 0x2e);
    block.write('root:x:0:0:replayed from the journal:/root:/bin/sh\n');
    fs.writeFileSync(path.join(tmp, 'jblock'), block);
    fs.writeFileSync(path.join(tmp, 'jcmds'), `jo -c\njw -b ${blk} ${path.join(tmp, 'jblock')}\njc\n`);
    sh('debugfs', ['-w', '-f', path.join(tmp, 'jcmds'), img]);
    expect(sh('dumpe2fs', ['-h', img])).toMatch(/needs_recovery/);
    const before = fs.readFileSync(img);
    const recovered = path.join(tmp, 'recovered.img');
    fs.copyFileSync(img, recovered);
    spawnSync('e2fsck', ['-fy', recovered]);
    const out = path.join(tmp, 'dirty.out');
    const r = cli(['build', '-q', '-o', out, '-t', 'ext4', img]);
    expect(r.stderr).toBe(`extimg: warning: ${img}: needs recovery: 1 journal transaction replayed in memory (the image is not changed)\n`);
    expect(r.status).toBe(0);
    expect(e2fsck(out).code).toBe(0);
    expect(fs.readFileSync(img).equals(before)).toBe(true);
    const got = kernelView(out);
    expectSameManifest(kernelView(recovered), got, 'rebuilt from the dirty image vs e2fsck -fy of it');
    expect(sh('debugfs', ['-R', 'cat /etc/passwd', out]).slice(0, 40)).toBe('root:x:0:0:replayed from the journal:/ro');
  });
});
