import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BuildOptions, BuildResult } from '../src/ext/options.js';
import { compareManifests } from './helpers/compare.js';
import { manifestFromDebugfs } from './helpers/debugfs.js';
import { dumpe2fs, e2fsck } from './helpers/e2fsck.js';
import { missingTools, mountAvailable, requireJudge } from './helpers/env.js';
import { breathe, buildImageFile, workDir } from './helpers/image.js';
import { manifestFromTree, type Manifest } from './helpers/manifest.js';
import { manifestFromMount } from './helpers/mount.js';
import { awkwardTree, type AwkwardOptions } from './helpers/trees.js';

/**
 * The oracle matrix: ext2/ext3/ext4 × 1/2/4 KiB blocks × 128/256-byte inodes × fitted and multi-group
 * images of the awkward tree. Each image must pass `e2fsck -fn`, and read back through debugfs
 * and (as root) a kernel loop mount exactly as the tree says.
 */

const MIB = 1024 * 1024;
const TYPES = ['ext2', 'ext3', 'ext4'] as const;
const BLOCK_SIZES = [1024, 2048, 4096] as const;
const INODE_SIZES = [128, 256] as const;
const VARIANTS = ['fit', 'multi'] as const;

/** Five block groups each: 8 MiB groups at 1 KiB blocks, 32 MiB at 2 KiB, 128 MiB at 4 KiB. */
const MULTI_SIZE: Record<(typeof BLOCK_SIZES)[number], number> = { 1024: 40 * MIB, 2048: 160 * MIB, 4096: 640 * MIB };
/** Headroom rule for fitted images: blocks <= 1.15 × used blocks (e2fsck's count). */
const FIT_RATIO = 1.15;

interface Combo {
  type: (typeof TYPES)[number];
  blockSize: (typeof BLOCK_SIZES)[number];
  inodeSize: (typeof INODE_SIZES)[number];
  variant: (typeof VARIANTS)[number];
}

const combos: Combo[] = [];
for (const type of TYPES)
  for (const blockSize of BLOCK_SIZES)
    for (const inodeSize of INODE_SIZES) for (const variant of VARIANTS) combos.push({ type, blockSize, inodeSize, variant });

const name = (c: Combo): string => `${c.type} ${c.blockSize}B-blocks ${c.inodeSize}B-inodes ${c.variant}`;

/** Which awkward parts each combo carries, to keep the whole matrix within a few minutes. */
function treeOptions(c: Combo): AwkwardOptions {
  return {
    blockSize: c.blockSize,
    inodeSize: c.inodeSize,
    bigDir: 5000,
    deep: 40,
    // 4.3 GiB sparse files (i_size_high, TIND at 4 KiB) only where the image has room to be slow.
    tripleIndirect: c.blockSize === 4096 ? c.variant === 'multi' : 'auto',
    // At 1 KiB blocks, 12 MB of data crosses a block group boundary (8 MiB groups).
    fill: c.variant === 'multi' && c.blockSize === 1024 ? 12_000_000 : 0,
  };
}

/**
 * What `dumpe2fs -h` lists for each type (this machine's mke2fs.conf, dumpe2fs's order);
 * resize_inode whenever the image reserves GDT blocks (all of these do), extra_isize only with
 * room past 128 bytes.
 */
function expectedFeatures(c: Combo): string {
  const ext4 = c.type === 'ext4';
  const f = [
    c.type !== 'ext2' && 'has_journal',
    'ext_attr resize_inode dir_index filetype',
    ext4 && 'extent 64bit flex_bg',
    'sparse_super large_file',
    ext4 && 'huge_file dir_nlink',
    ext4 && c.inodeSize > 128 && 'extra_isize',
    ext4 && 'metadata_csum',
  ];
  return f.filter(Boolean).join(' ');
}

const tools = missingTools();
const work = workDir('matrix');
afterAll(() => work.cleanup());

describe('oracle matrix: awkward tree → buildImage → e2fsck, debugfs, kernel', () => {
  it.for(combos.map((c) => [name(c), c] as const))('%s', { timeout: 300_000 }, async ([label, c], ctx) => {
    requireJudge(ctx, tools, 'oracle matrix');
    // Each step blocks for a while; let vitest's worker RPC breathe in between (else it times out).
    await breathe();
    const failures: string[] = [];
    const tree = awkwardTree(treeOptions(c));
    const options: BuildOptions = { type: c.type, blockSize: c.blockSize, inodeSize: c.inodeSize };
    if (c.variant === 'multi') options.size = MULTI_SIZE[c.blockSize];
    const image = join(work.dir, `${label.replace(/ /g, '_')}.img`);
    let result: BuildResult;
    try {
      ({ result } = buildImageFile(tree, image, options, c.variant === 'fit'));
    } catch (err) {
      throw new Error(`${label}: buildImage threw: ${(err as Error).stack}`);
    }

    await breathe();
    // 1. e2fsck -fn
    const fsck = e2fsck(image);
    if (fsck.code !== 0) failures.push(`e2fsck -fn exited ${fsck.code}:\n${fsck.output}`);

    // 2. The superblock as dumpe2fs sees it agrees with what buildImage reported and was asked.
    const sb = dumpe2fs(image);
    const fileSize = statSync(image).size;
    const facts: Array<[string, unknown, unknown]> = [
      ['block size', sb.blockSize, c.blockSize],
      ['inode size', sb.inodeSize, c.inodeSize],
      ['has_journal', sb.features.includes('has_journal'), c.type !== 'ext2'],
      ['features as mke2fs -t sets them', sb.features.join(' '), expectedFeatures(c)],
      ['result.features', result.features.join(' '), expectedFeatures(c)],
      ['image bytes = blocks × block size', fileSize, sb.blockCount * sb.blockSize],
      ['result.bytes', result.bytes, fileSize],
      ['result.blocksCount', result.blocksCount, sb.blockCount],
      ['result.freeBlocks', result.freeBlocks, sb.freeBlocks],
      ['result.inodesCount', result.inodesCount, sb.inodeCount],
      ['result.freeInodes', result.freeInodes, sb.freeInodes],
      ['result.groups', result.groups, sb.groups],
      ['result.uuid', result.uuid, sb.uuid],
    ];
    if (fsck.usedBlocks !== undefined) facts.push(['result.usedBlocks (e2fsck)', result.usedBlocks, fsck.usedBlocks]);
    if (c.variant === 'multi') facts.push(['image size as asked', fileSize, options.size]);
    for (const [what, actual, expected] of facts) {
      if (actual !== expected) failures.push(`${what}: expected ${String(expected)}, actual ${String(actual)}`);
    }
    if (c.variant === 'multi' && sb.groups < 2) failures.push(`multi-group image has ${sb.groups} group(s)`);
    if (c.variant === 'fit' && fsck.usedBlocks !== undefined && fsck.totalBlocks! > FIT_RATIO * fsck.usedBlocks) {
      failures.push(
        `fitted image too big: ${fsck.totalBlocks} blocks for ${fsck.usedBlocks} used (${(fsck.totalBlocks! / fsck.usedBlocks).toFixed(3)} > ${FIT_RATIO})`,
      );
    }

    // 3. Read-back through debugfs and the kernel.
    const expected = manifestFromTree(tree, { inodeSize: c.inodeSize, blockSize: c.blockSize, extents: c.type === 'ext4' });
    const readBack = (reader: string, read: () => Manifest): void => {
      let actual: Manifest;
      try {
        actual = read();
      } catch (err) {
        failures.push(`${reader} could not read the image: ${(err as Error).message}`);
        return;
      }
      const diffs = compareManifests(expected, actual);
      if (diffs.length) failures.push(`${reader}: ${diffs.length} difference(s)\n    ${diffs.slice(0, 40).join('\n    ')}`);
    };
    readBack('debugfs', () => manifestFromDebugfs(image));
    await breathe();
    if (mountAvailable()) readBack('kernel mount', () => manifestFromMount(image));

    if (failures.length) {
      const kept = work.keep(image, `${label.replace(/ /g, '_')}.img`);
      expect.fail(`${label} (image kept at ${kept}):\n  ${failures.join('\n  ')}`);
    }
  });
});
