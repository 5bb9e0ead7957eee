import { copyFileSync, closeSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareManifests } from '../helpers/compare.js';
import { manifestFromDebugfs, runDebugfs } from '../helpers/debugfs.js';
import { expectClean } from '../helpers/e2fsck.js';
import { missingTools, mountAvailable, requireJudge } from '../helpers/env.js';
import { breathe, buildImageFile, workDir } from '../helpers/image.js';
import { manifestFromTree, type Manifest } from '../helpers/manifest.js';
import { manifestFromMount } from '../helpers/mount.js';
import { awkwardTree } from '../helpers/trees.js';

/**
 * The oracle must notice when an image is wrong. Take a clean image, damage one thing with
 * `debugfs -w` or a raw byte write, and check that each reader reports exactly that path and
 * field. (A reader that sees nothing wrong here would pass a broken writer.)
 */

const BS = 1024;
const work = workDir('sensitivity');
afterAll(() => work.cleanup());

interface Mutation {
  what: string;
  /** debugfs -w commands, or a function that damages the image file directly. */
  apply: string[] | ((image: string) => void);
  /** Lines the comparison must contain (a prefix of each is enough: "/path: field"). */
  expect: string[];
}

/** Physical block of logical block `lblk` of the file at `path`, via debugfs `bmap`. */
function bmap(image: string, path: string, lblk: number): number {
  const out = runDebugfs(image, [`bmap ${path} ${lblk}`]).outputs[0]!.trim();
  const p = Number(out);
  if (!Number.isInteger(p) || p <= 0) throw new Error(`bmap ${path} ${lblk}: ${out}`);
  return p;
}

/** XOR one byte of the image. */
function flipByte(image: string, offset: number): void {
  const fd = openSync(image, 'r+');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, offset);
    b[0] = b[0]! ^ 0x5a;
    writeSync(fd, b, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

const mutations: Mutation[] = [
  { what: 'uid high 16 bits', apply: ['sif /owners/u100000 uid_hi 2'], expect: ['/owners/u100000: uid'] },
  { what: 'gid low 16 bits', apply: ['sif /owners/max gid_lo 0'], expect: ['/owners/max: gid'] },
  { what: 'nanoseconds', apply: ['sif /times/nsec mtime_extra 0'], expect: ['/times/nsec: mtime'] },
  { what: 'epoch bits', apply: ['sif /times/y2106 mtime_extra 0'], expect: ['/times/y2106: mtime'] },
  { what: 'device number', apply: ['sif /dev/nvme block[1] 0x300'], expect: ['/dev/nvme: major', '/dev/nvme: minor'] },
  { what: 'fast symlink target', apply: ['sif /symlinks/short block[0] 0x41414141'], expect: ['/symlinks/short: target'] },
  { what: 'permission bits', apply: ['sif /modes/setuid mode 0100755'], expect: ['/modes/setuid: mode'] },
  { what: 'file type', apply: ['sif /dev/fifo mode 0140620'], expect: ['/dev/fifo: type'] },
  { what: 'link count', apply: ['sif /links/a/one links_count 2'], expect: ['/links/a/one: nlink', '/links/b/two: nlink', '/links/c/deeper/three: nlink'] },
  { what: 'file size', apply: ['sif /sizes/12bs+1 size 12288'], expect: ['/sizes/12bs+1: size', '/sizes/12bs+1: digest'] },
  { what: 'lost+found mode', apply: ['sif /lost+found mode 040755'], expect: ['/lost+found: mode'] },
  { what: 'an extra name', apply: ['ln /dev/null /dev/null2'], expect: ['/dev/null2: unexpected'] },
  { what: 'a missing name', apply: ['unlink /empty/file'], expect: ['/empty/file: missing'] },
  {
    what: 'one data byte',
    apply: (image) => flipByte(image, bmap(image, '/holes/start-middle-end', 0) * BS + 5),
    expect: ['/holes/start-middle-end: digest'],
  },
  {
    what: 'one data byte past the triple-indirect boundary (block-map and FIEMAP read paths)',
    apply: (image) => flipByte(image, bmap(image, '/holes/tind-tail', 12 + 256 + 256 * 256) * BS + 2),
    expect: ['/holes/tind-tail: digest'],
  },
  {
    what: 'one byte of a slow symlink',
    apply: (image) => flipByte(image, bmap(image, '/symlinks/slow200', 0) * BS + 10),
    expect: ['/symlinks/slow200: target'],
  },
  {
    what: 'a hole filled (with the data block of another file)',
    apply: (image) => {
      const p = bmap(image, '/holes/start-middle-end', 0);
      const run = runDebugfs(image, [`sif /holes/hole-first block[0] ${p}`], true);
      if (run.errors) throw new Error(run.errors);
    },
    expect: ['/holes/hole-first: digest'],
  },
  {
    what: 'a block pointer into the superblock (the kernel refuses the inode)',
    apply: ['sif /holes/unaligned block[0] 1'],
    expect: ['/holes/unaligned: '],
  },
];

describe('oracle sensitivity: a damaged image is reported at the right path and field', () => {
  const tools = missingTools();
  let base = '';
  let expected: Manifest;
  let withMount = false;

  beforeAll(() => {
    if (tools) return; // each test skips (or in CI fails) with the reason
    const tree = awkwardTree({ blockSize: BS, inodeSize: 256, bigDir: 0, deep: 3 });
    base = join(work.dir, 'base.img');
    buildImageFile(tree, base, { type: 'ext3', blockSize: BS, inodeSize: 256 }, true);
    expectClean(base);
    expected = manifestFromTree(tree, { inodeSize: 256, blockSize: BS });
    withMount = mountAvailable('oracle sensitivity (kernel mount)');
  }, 120_000);

  it('the undamaged image reads back clean', (ctx) => {
    requireJudge(ctx, tools, 'oracle sensitivity');
    expect(compareManifests(expected, manifestFromDebugfs(base))).toEqual([]);
    if (withMount) expect(compareManifests(expected, manifestFromMount(base))).toEqual([]);
  });

  it.for(mutations.map((m) => [m.what, m] as const))('%s', { timeout: 120_000 }, async ([, m], ctx) => {
    requireJudge(ctx, tools, 'oracle sensitivity');
    const image = join(work.dir, `m.img`);
    copyFileSync(base, image);
    if (typeof m.apply === 'function') m.apply(image);
    else {
      const run = runDebugfs(image, m.apply, true);
      if (run.errors) throw new Error(`debugfs -w ${m.apply.join('; ')}: ${run.errors}`);
    }
    await breathe();
    const readers: Array<[string, () => Manifest]> = [['debugfs', () => manifestFromDebugfs(image)]];
    if (withMount) readers.push(['kernel', () => manifestFromMount(image)]);
    for (const [reader, read] of readers) {
      const diffs = compareManifests(expected, read());
      for (const want of m.expect) {
        expect(
          diffs.some((d) => d.startsWith(want)),
          `${reader} should report '${want}' after damaging ${m.what}; it reported:\n  ${diffs.join('\n  ') || '(nothing)'}`,
        ).toBe(true);
      }
      // Nothing else may be blamed, apart from what the damage implies for the same inode.
      const paths = new Set(m.expect.map((w) => w.slice(0, w.lastIndexOf(': '))));
      const stray = diffs.filter((d) => ![...paths].some((p) => d.startsWith(`${p}: `)));
      expect(stray, `${reader}: unrelated differences after damaging ${m.what}`).toEqual([]);
    }
  });
});
