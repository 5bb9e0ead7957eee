import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExtimgError } from '../src/errors.js';
import { ExtImage } from '../src/ext/read/image.js';
import { addFilesystem } from '../src/ingest/fsimage.js';
import { MemorySource } from '../src/ingest/source.js';
import { Tree } from '../src/tree/tree.js';
import { makeSourceTree } from './helpers/archives.js';
import { expectSameManifest } from './helpers/compare.js';
import { manifestFromDebugfs } from './helpers/debugfs.js';
import { missingTools, requireJudge } from './helpers/env.js';
import { workDir } from './helpers/image.js';
import { manifestFromTree, type Manifest } from './helpers/manifest.js';

// The ext reader against debugfs: each image mke2fs makes (feature sets of every kind) is read
// by src/ext/read into a tree, and that tree must be what debugfs reads from the same image.

const work = workDir('ext-read');
const tmp = work.dir;
afterAll(() => work.cleanup());
const missing = missingTools(['mke2fs', 'debugfs', 'e2fsck']);
let src: string;

beforeAll(() => {
  if (missing) return;
  src = path.join(tmp, 'src');
  fs.mkdirSync(src);
  const isRoot = process.getuid?.() === 0;
  makeSourceTree(src, { devices: isRoot, socket: true, owners: isRoot ? 'big' : undefined, nanoseconds: true, sparse: true, xattrs: true, awkwardNames: true });
  const many = path.join(src, 'many');
  fs.mkdirSync(many);
  for (let k = 0; k < 300; k++) fs.writeFileSync(path.join(many, `a-longer-file-name-${k}`), `${k}\n`);
  fs.writeFileSync(path.join(src, 'inline'), 'y'.repeat(100));
  // A file big enough for a two-level extent tree needs fragmentation; a 3 MiB file at 1 KiB blocks needs a DIND map.
  fs.writeFileSync(path.join(src, 'dind.bin'), Buffer.alloc(3 << 20, 0x5a));
});

export function readImage(image: string): Tree {
  const bytes = new Uint8Array(fs.readFileSync(image));
  const tree = new Tree();
  const img = ExtImage.open(new MemorySource(bytes), { origin: image });
  addFilesystem(tree, img, { origin: image });
  return tree;
}

function withoutLostFound(m: Manifest): Manifest {
  for (const k of [...m.keys()]) if (k === 'lost+found' || k.startsWith('lost+found/')) m.delete(k);
  for (const e of m.values()) delete e.allocatedBlocks;
  return m;
}

const VARIANTS: Array<{ name: string; args: string[]; inodeSize?: 128 }> = [
  { name: 'ext2-1k', args: ['-t', 'ext2', '-b', '1024'] },
  { name: 'ext2-4k-rev0ish', args: ['-t', 'ext2', '-b', '4096', '-I', '128'], inodeSize: 128 },
  { name: 'ext3-128', args: ['-t', 'ext3', '-I', '128'], inodeSize: 128 },
  { name: 'ext3-2k', args: ['-t', 'ext3', '-b', '2048'] },
  { name: 'ext4', args: ['-t', 'ext4'] },
  { name: 'ext4-1k', args: ['-t', 'ext4', '-b', '1024'] },
  { name: 'ext4-inline', args: ['-t', 'ext4', '-O', 'inline_data'] },
  { name: 'ext4-nocsum-no64', args: ['-t', 'ext4', '-O', '^metadata_csum,^64bit,uninit_bg'] },
  { name: 'ext4-meta_bg', args: ['-t', 'ext4', '-O', 'meta_bg,^resize_inode', '-b', '1024'] },
  { name: 'ext4-csum_seed', args: ['-t', 'ext4', '-O', 'metadata_csum_seed'] },
  { name: 'ext4-ea_inode', args: ['-t', 'ext4', '-O', 'ea_inode'] },
  { name: 'ext4-largedir', args: ['-t', 'ext4', '-O', 'large_dir'] },
];

describe('the reader reads what debugfs reads', () => {
  for (const v of VARIANTS) {
    it(v.name, (ctx) => {
      requireJudge(ctx, missing, 'reader vs debugfs');
      const image = path.join(tmp, `${v.name}.img`);
      execFileSync('mke2fs', ['-q', '-F', '-E', 'root_owner=0:0', ...v.args, '-d', src, image, '48M'], { stdio: 'pipe' });
      // debugfs's cat gives all 60 bytes of i_block for an inline file, whatever its size: there
      // the kernel is the judge (test/image-read.test.ts), and debugfs checks everything else.
      const content = !v.args.includes('inline_data');
      const want = withoutLostFound(manifestFromDebugfs(image, { content }));
      const got = withoutLostFound(manifestFromTree(readImage(image), { lostFound: false, ...(v.inodeSize ? { inodeSize: v.inodeSize } : {}) }));
      if (!content) for (const e of got.values()) delete e.digest;
      expectSameManifest(want, got, `${v.name}: debugfs vs reader`);
    });
  }

  it('ea_inode: xattr values too large for a block live in their own inodes', (ctx) => {
    requireJudge(ctx, missing, 'reader vs debugfs');
    const dir = path.join(tmp, 'ea-src');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'f'), 'x');
    const big = Buffer.alloc(4096); // debugfs ea_set -f reads at most a block; more than fits beside the header
    for (let k = 0; k < big.length; k++) big[k] = (k * 7) & 0xff;
    const image = path.join(tmp, 'ea.img');
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-O', 'ea_inode', '-d', dir, image, '16M'], { stdio: 'pipe' });
    // The host's filesystem cannot hold the value beside others; debugfs puts it in an xattr inode.
    fs.writeFileSync(path.join(tmp, 'ea-value'), big);
    execFileSync('debugfs', ['-w', '-R', `ea_set -f ${path.join(tmp, 'ea-value')} /f user.huge`, image], { stdio: 'pipe' });
    expect(execFileSync('debugfs', ['-R', 'ea_list /f', image], { stdio: 'pipe' }).toString()).toMatch(/user\.huge/);
    // debugfs leaves the inode's i_blocks short of the xattr inode's block; e2fsck -fy mends that.
    spawnSync('e2fsck', ['-fy', image]);
    expect(execFileSync('e2fsck', ['-fn', image], { stdio: 'pipe' }).toString()).toMatch(/: 13\/\d+ files/); // 12 + the xattr inode
    const node = readImage(image).get('/f');
    expect(Buffer.from(node!.meta.xattrs!.get('user.huge')!).equals(big)).toBe(true);
    const want = withoutLostFound(manifestFromDebugfs(image));
    const got = withoutLostFound(manifestFromTree(readImage(image), { lostFound: false }));
    expectSameManifest(want, got, 'ea_inode: debugfs vs reader');
  });

  it('htree directories (e2fsck -fD) read the same as linear ones', (ctx) => {
    requireJudge(ctx, missing, 'reader vs debugfs');
    const image = path.join(tmp, 'indexed.img');
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '1024', '-d', src, image, '48M'], { stdio: 'pipe' });
    execFileSync('e2fsck', ['-fyD', image], { stdio: 'pipe' }).toString();
    expect(execFileSync('debugfs', ['-R', 'htree_dump /many', image], { stdio: 'pipe' }).toString()).toMatch(/Root node dump/);
    const want = withoutLostFound(manifestFromDebugfs(image));
    const got = withoutLostFound(manifestFromTree(readImage(image), { lostFound: false }));
    expectSameManifest(want, got, 'indexed: debugfs vs reader');
  });
});

describe('checksums and damage', () => {
  it('a flipped bit in an inode is refused naming the inode (metadata_csum)', (ctx) => {
    requireJudge(ctx, missing, 'checksums');
    const image = path.join(tmp, 'csum.img');
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-d', src, image, '16M'], { stdio: 'pipe' });
    const stat = execFileSync('debugfs', ['-R', 'imap /etc/passwd', image], { stdio: 'pipe' }).toString();
    const m = /located at block (\d+), offset (0x[0-9a-f]+)/.exec(stat)!;
    const bytes = new Uint8Array(fs.readFileSync(image));
    const at = Number(m[1]) * 4096 + Number(m[2]);
    bytes[at + 0x20]! ^= 0x01; // i_flags
    const ino = Number(/Inode (\d+)/.exec(stat)![1]);
    const tree = new Tree();
    let err: unknown;
    try {
      addFilesystem(tree, ExtImage.open(new MemorySource(bytes), { origin: 'csum.img' }), { origin: 'csum.img' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ExtimgError);
    expect((err as ExtimgError).message).toBe(`csum.img: inode ${ino}: checksum does not match (metadata_csum)`);
  });

  it('a truncated image is refused before anything is read', (ctx) => {
    requireJudge(ctx, missing, 'truncation');
    const image = path.join(tmp, 'whole.img');
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', image, '16M'], { stdio: 'pipe' });
    const bytes = new Uint8Array(fs.readFileSync(image)).subarray(0, 8 << 20);
    expect(() => ExtImage.open(new MemorySource(bytes), { origin: 'cut.img' })).toThrow(/^cut\.img: truncated: the filesystem is 16777216 bytes, the image 8388608$/);
  });
});

describe('library: openImage and addImage', () => {
  it('read an image built in memory back into a tree, under a destination, with excludes', async () => {
    const { Tree: T } = await import('../src/tree/tree.js');
    const { buildToBuffer } = await import('../src/ext/write/build.js');
    const { openImage, addImage } = await import('../src/index.js');
    const t = new T({ time: { sec: 1_700_000_000, nsec: 0 } });
    t.writeFile('/etc/hostname', 'vm\n');
    t.writeFile('/var/cache/big', new Uint8Array(50_000).fill(3));
    t.mknod('/dev/xvda', 'blk', 220, 0, { mode: 0o660, gid: 6 });
    const { bytes } = buildToBuffer(t, { type: 'ext4', timestamp: 1_700_000_000 });
    const img = await openImage(bytes, { origin: 'mem.img' });
    expect(img.blockSize).toBe(1024);
    const back = new T();
    const counts = await addImage(back, img, { origin: 'mem.img', dest: '/old', exclude: (p) => p === 'var/cache' });
    expect(counts.placed).toBeGreaterThan(0);
    const names = [...back.walk()].map(([k]) => k).sort();
    expect(names).toEqual(['', 'old', 'old/dev', 'old/dev/xvda', 'old/etc', 'old/etc/hostname', 'old/lost+found', 'old/var']);
    const dev = back.get('/old/dev/xvda');
    expect(dev?.kind === 'blk' ? [dev.major, dev.minor, dev.meta.mode, dev.meta.gid] : dev).toEqual([220, 0, 0o660, 6]);
    await expect(addImage(new T(), bytes, { origin: 'mem.img', partition: 1 })).rejects.toThrow(
      'mem.img: @1 names a partition, but this is a filesystem image with no partition table',
    );
  });
});
