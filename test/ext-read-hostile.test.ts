import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExtimgError } from '../src/errors.js';
import { fsChecksumSeed, setInodeChecksum, setSuperblockChecksum } from '../src/ext/checksum.js';
import { ExtImage } from '../src/ext/read/image.js';
import { addFilesystem } from '../src/ingest/fsimage.js';
import { MemorySource } from '../src/ingest/source.js';
import { Tree } from '../src/tree/tree.js';
import { IN_CI, missingTools, requireJudge } from './helpers/env.js';
import { workDir } from './helpers/image.js';

/**
 * A reader of untrusted images only ever returns data or throws ExtimgError, in bounded time and
 * memory. One test per hostile case the issue names (made with debugfs or by rewriting bytes of
 * an mke2fs image, checksums recomputed where the case is not about them), then fuzzing: images
 * mke2fs made with several feature sets, bytes mutated, everything read.
 */

const RUNS = Number(process.env.EXTIMG_FUZZ_RUNS) || (IN_CI ? 300 : 100);
const work = workDir('ext-read-hostile');
const tmp = work.dir;
afterAll(() => work.cleanup());
const missing = missingTools(['mke2fs', 'debugfs']);
let src: string;

beforeAll(() => {
  if (missing) return;
  src = path.join(tmp, 'src');
  fs.mkdirSync(path.join(src, 'a', 'b', 'c'), { recursive: true });
  fs.writeFileSync(path.join(src, 'a', 'file'), 'hello\n');
  fs.writeFileSync(path.join(src, 'a', 'b', 'big'), Buffer.alloc(300 * 1024, 7));
  fs.symlinkSync('x'.repeat(100), path.join(src, 'slow-link'));
  fs.symlinkSync('fast', path.join(src, 'fast-link'));
  for (let k = 0; k < 40; k++) fs.writeFileSync(path.join(src, 'a', 'b', `n${k}`), `${k}`);
});

function mkfs(name: string, args: string[], sizeK = 4096): string {
  const img = path.join(tmp, name);
  execFileSync('mke2fs', ['-q', '-F', '-b', '1024', ...args, '-d', src, img, `${sizeK}K`], { stdio: 'pipe' });
  return img;
}

function debugfs(img: string, cmd: string, write = false): string {
  return execFileSync('debugfs', [...(write ? ['-w'] : []), '-R', cmd, img], { stdio: 'pipe' }).toString();
}

/** Read everything: the tree, every file's first and last 64 KiB. */
function readAll(bytes: Uint8Array, origin = 'img'): Tree {
  const img = ExtImage.open(new MemorySource(bytes), { origin });
  const tree = new Tree();
  addFilesystem(tree, img, { origin });
  for (const [, node] of tree.walk()) {
    if (node.kind !== 'file') continue;
    const c = node.content;
    const r = c.open();
    const n = Math.min(c.size, 65536);
    r.read(0, new Uint8Array(n));
    r.read(c.size - n, new Uint8Array(n));
    r.close();
  }
  return tree;
}

function refusal(bytes: Uint8Array): ExtimgError {
  try {
    readAll(bytes);
  } catch (e) {
    if (e instanceof ExtimgError) return e;
    throw e;
  }
  throw new Error('the image was read without complaint');
}

/** Where inode `path`'s record is, and its number. */
function inodeAt(img: string, p: string): { ino: number; offset: number } {
  const out = debugfs(img, `imap ${p}`);
  const m = /Inode (\d+) is part of block group \d+\s+located at block (\d+), offset (0x[0-9a-f]+)/.exec(out)!;
  return { ino: Number(m[1]), offset: Number(m[2]) * 1024 + Number(m[3]) };
}

function blocksOf(img: string, p: string): number[] {
  return debugfs(img, `blocks ${p}`).trim().split(/\s+/).map(Number);
}

const le16 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
};
const le32 = (b: Uint8Array, o: number, v: number): void => {
  new DataView(b.buffer, b.byteOffset).setUint32(o, v >>> 0, true);
};

/** Rewrite inode bytes and fix its checksum, so the case reaches the structure it is about. */
function patchInode(bytes: Uint8Array, at: { ino: number; offset: number }, f: (inode: Uint8Array) => void): void {
  const inode = bytes.subarray(at.offset, at.offset + 256);
  f(inode);
  setInodeChecksum(fsChecksumSeed(bytes.subarray(1024, 2048)), at.ino, inode, 256);
}

describe('hostile images: one test per case', () => {
  it('a directory loop (a hard link to a directory) is refused', (ctx) => {
    requireJudge(ctx, missing, 'hostile images');
    const img = mkfs('loop.img', ['-t', 'ext2']);
    debugfs(img, 'link /a /a/b/c/up', true);
    expect(refusal(new Uint8Array(fs.readFileSync(img))).message).toMatch(/^img: directory inode \d+ appears twice \(at 'a\/b\/c\/up'\): a directory loop$/);
  });

  it('rec_len 0 in a directory block is refused naming the directory and block', (ctx) => {
    requireJudge(ctx, missing, 'hostile images');
    const img = mkfs('reclen.img', ['-t', 'ext2']);
    const [blk] = blocksOf(img, '/a');
    const bytes = new Uint8Array(fs.readFileSync(img));
    le16(bytes, blk! * 1024 + 4, 0);
    expect(refusal(bytes).message).toMatch(new RegExp(`^img: directory inode \\d+, block ${blk}: directory entry at byte 0 has rec_len 0$`));
  });

  it('an extent pointing past the end of the filesystem is refused', (ctx) => {
    requireJudge(ctx, missing, 'hostile images');
    const img = mkfs('extent-past.img', ['-t', 'ext4', '-I', '256']);
    const bytes = new Uint8Array(fs.readFileSync(img));
    const at = inodeAt(img, '/a/b/big');
    patchInode(bytes, at, (inode) => le32(inode, 0x28 + 12 + 8, 0x7fffff00)); // first extent's ee_start_lo
    expect(refusal(bytes).message).toMatch(/^img: inode \d+: extent root: extent 0 points to blocks 2147483392\.\.\d+, past the end of the filesystem$/);
  });

  it('an extent tree whose index entries lead to the same block (a loop) is refused', (ctx) => {
    requireJudge(ctx, missing, 'hostile images');
    const img = mkfs('extent-loop.img', ['-t', 'ext4', '-I', '256', '-O', '^metadata_csum']);
    const bytes = new Uint8Array(fs.readFileSync(img));
    const at = inodeAt(img, '/a/b/big');
    const leafBlock = blocksOf(img, '/a/b/big')[0]!;
    // A leaf block of no extents, and a root of depth 1 whose two index entries both name it.
    const leaf = bytes.subarray(leafBlock * 1024, leafBlock * 1024 + 1024);
    leaf.fill(0);
    le16(leaf, 0, 0xf30a);
    le16(leaf, 4, 84);
    patchInode(bytes, at, (inode) => {
      const r = 0x28;
      le16(inode, r + 2, 2); // eh_entries
      le16(inode, r + 6, 1); // eh_depth
      for (const [k, first] of [[0, 0], [1, 100]] as const) {
        le32(inode, r + 12 + 12 * k, first);
        le32(inode, r + 12 + 12 * k + 4, leafBlock);
        le16(inode, r + 12 + 12 * k + 8, 0);
      }
    });
    expect(refusal(bytes).message).toMatch(new RegExp(`^img: inode \\d+: extent tree block ${leafBlock} is referenced twice \\(a loop\\)$`));
  });

  it('two directories sharing a block (a few MB that would read as millions of entries) are refused', (ctx) => {
    requireJudge(ctx, missing, 'hostile images');
    const img = mkfs('shared-dir.img', ['-t', 'ext2']);
    const [blk] = blocksOf(img, '/a');
    debugfs(img, `sif /a/b/c block[0] ${blk}`, true);
    expect(refusal(new Uint8Array(fs.readFileSync(img))).message).toMatch(new RegExp(`^img: directory inode \\d+: block ${blk} belongs to another directory too \\(or twice to this one\\)$`));
  });

  it('an indirect block that names itself is refused', (ctx) => {
    requireJudge(ctx, missing, 'hostile images');
    const img = mkfs('ind-loop.img', ['-t', 'ext2']);
    const bytes = new Uint8Array(fs.readFileSync(img));
    const at = inodeAt(img, '/a/b/big');
    const dind = new DataView(bytes.buffer).getUint32(at.offset + 0x28 + 13 * 4, true);
    expect(dind).toBeGreaterThan(0);
    le32(bytes, dind * 1024, dind); // the DIND block's first entry: itself
    expect(refusal(bytes).message).toMatch(new RegExp(`^img: inode \\d+: indirect block ${dind} is referenced twice \\(a loop\\)$`));
  });

  it('a giant block count, a giant inode count, a zero group size and an absurd block size are refused up front', (ctx) => {
    requireJudge(ctx, missing, 'hostile images');
    const img = mkfs('sb.img', ['-t', 'ext4']);
    const base = new Uint8Array(fs.readFileSync(img));
    const cases: Array<[number, number, RegExp]> = [
      [0x04, 0xfffffff0, /^img: superblock: \d+ inodes is not \d+ groups of \d+$/],
      [0x00, 0xfffffff0, /^img: superblock: 4294967280 inodes is not \d+ groups of \d+$/],
      [0x20, 0, /^img: superblock: 0 blocks per group/],
      [0x28, 0, /^img: superblock: 0 inodes per group/],
      [0x18, 30, /^img: superblock: block size 2\^40 is out of range$/],
    ];
    for (const [field, value, want] of cases) {
      const bytes = base.slice();
      le32(bytes, 1024 + field, value);
      setSuperblockChecksum(bytes.subarray(1024, 2048));
      expect(() => ExtImage.open(new MemorySource(bytes), { origin: 'img' })).toThrow(want);
    }
  });

  it('a file claiming an absurd size, and an unknown incompatible feature, are refused by name', (ctx) => {
    requireJudge(ctx, missing, 'hostile images');
    const img = mkfs('size.img', ['-t', 'ext4', '-I', '256']);
    const bytes = new Uint8Array(fs.readFileSync(img));
    const at = inodeAt(img, '/a/file');
    patchInode(bytes, at, (inode) => le32(inode, 0x6c, 0x7fffffff)); // i_size_high
    expect(refusal(bytes).message).toMatch(/^img: inode \d+: size \d+ is absurd$/);
    const feat = new Uint8Array(fs.readFileSync(img));
    le32(feat, 1024 + 0x60, new DataView(feat.buffer).getUint32(1024 + 0x60, true) | 0x10000 | 0x1000);
    setSuperblockChecksum(feat.subarray(1024, 2048));
    expect(() => ExtImage.open(new MemorySource(feat), { origin: 'img' })).toThrow(/^img: uses features dirdata, encrypt, which extimg cannot read$/);
  });

  it('a superblock checksum mismatch is refused (metadata_csum)', (ctx) => {
    requireJudge(ctx, missing, 'hostile images');
    const img = mkfs('sbcsum.img', ['-t', 'ext4']);
    const bytes = new Uint8Array(fs.readFileSync(img));
    bytes[1024 + 0x78]! ^= 1; // the label
    expect(() => ExtImage.open(new MemorySource(bytes), { origin: 'img' })).toThrow(/^img: superblock checksum does not match \(metadata_csum\)$/);
  });
});

describe('fuzzing: mke2fs images with bytes mutated', () => {
  const variants: Array<[string, string[]]> = [
    ['ext2', ['-t', 'ext2']],
    ['ext3', ['-t', 'ext3', '-I', '128']],
    ['ext4-nocsum', ['-t', 'ext4', '-O', '^metadata_csum,^64bit']],
    ['ext4-inline', ['-t', 'ext4', '-O', 'inline_data,^metadata_csum']],
    ['ext4', ['-t', 'ext4']],
  ];
  for (const [name, args] of variants) {
    it(`${name}: every mutation reads or is refused with ExtimgError, quickly`, (ctx) => {
      requireJudge(ctx, missing, 'reader fuzzing');
      const base = new Uint8Array(fs.readFileSync(mkfs(`fuzz-${name}.img`, args, 2048)));
      readAll(base); // the seed itself reads
      // Mutations land where the metadata is: superblock, descriptors, bitmaps, inode tables and
      // the first directory and extent blocks (the first 400 KiB of a 2 MiB image), or anywhere.
      const mutation = fc.record({
        flips: fc.array(fc.tuple(fc.oneof(fc.integer({ min: 1024, max: 400 * 1024 - 1 }), fc.integer({ min: 0, max: base.length - 1 })), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 24,
        }),
        // Sometimes fix the superblock checksum so the mutation reaches further.
        fixSb: fc.boolean(),
      });
      fc.assert(
        fc.property(mutation, ({ flips, fixSb }) => {
          const bytes = base.slice();
          for (const [at, v] of flips) bytes[at] = v;
          if (fixSb) setSuperblockChecksum(bytes.subarray(1024, 2048));
          const t0 = performance.now();
          try {
            readAll(bytes);
          } catch (e) {
            if (!(e instanceof ExtimgError)) throw e;
          }
          expect(performance.now() - t0).toBeLessThan(5000);
        }),
        { numRuns: RUNS },
      );
    });
  }
});
