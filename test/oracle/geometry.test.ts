import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BuildOptions } from '../../src/ext/options.js';
import { ExtimgError } from '../../src/errors.js';
import { buildImage } from '../../src/ext/write/writer.js';
import { MemorySink } from '../../src/io/memory.js';
import type { Tree } from '../../src/tree/tree.js';
import { compareManifests } from '../helpers/compare.js';
import { manifestFromDebugfs } from '../helpers/debugfs.js';
import { dumpe2fs, e2fsck } from '../helpers/e2fsck.js';
import { missingTools, requireJudge } from '../helpers/env.js';
import { breathe, buildImageFile, workDir, type BuiltImage } from '../helpers/image.js';
import { manifestFromTree } from '../helpers/manifest.js';
import { awkwardTree } from '../helpers/trees.js';

/**
 * Geometry edge cases: image sizes that leave a last block group of awkward length (a block or
 * two, about the size of its own metadata, one block short of full), and options that move
 * metadata around (no resize inode, 0% and 50% reserved, small journals, exact inode counts).
 * Each image must pass e2fsck and read back; a size the writer cannot honour must be refused
 * with an ExtimgError, never produce a broken image.
 */

const tools = missingTools();
const work = workDir('geometry');
afterAll(() => work.cleanup());

interface Case {
  label: string;
  options: BuildOptions;
}

const cases: Case[] = [];
for (const blockSize of [1024, 2048, 4096] as const) {
  const perGroup = 8 * blockSize; // blocks per group
  const first = blockSize === 1024 ? 1 : 0; // s_first_data_block
  for (const groups of [1, 2, 3]) {
    for (const tail of [0, 1, 2, 50, 257, 400, 600, 1000, 2000, perGroup - 1]) {
      if (groups === 1 && tail === 0) continue;
      const blocks = first + (groups - 1) * perGroup + tail + (tail === 0 ? perGroup - first : 0);
      const full = tail === 0 ? groups : groups - 1;
      cases.push({ label: `${blockSize}B × ${blocks} blocks (${full} full group(s) + ${tail})`, options: { type: 'ext3', blockSize, size: blocks * blockSize } });
    }
  }
  cases.push(
    { label: `${blockSize}B no resize inode`, options: { type: 'ext2', blockSize, resizeInode: false } },
    { label: `${blockSize}B 0% reserved`, options: { type: 'ext2', blockSize, reservedPercent: 0 } },
    { label: `${blockSize}B 50% reserved`, options: { type: 'ext3', blockSize, reservedPercent: 50 } },
    { label: `${blockSize}B smallest journal`, options: { type: 'ext3', blockSize, journalBlocks: 1024 } },
    { label: `${blockSize}B label and uuid`, options: { type: 'ext3', blockSize, label: 'sixteen-bytes-ok', uuid: '01234567-89ab-cdef-0123-456789abcdef' } },
    { label: `${blockSize}B no headroom`, options: { type: 'ext3', blockSize, headroom: 0 } },
    { label: `${blockSize}B explicit inode count`, options: { type: 'ext2', blockSize, inodes: 3000 } },
  );
}

/** Bytes of the fitted image of `tree` with the same options but no size. */
function fittedBytes(tree: Tree, options: BuildOptions): number {
  const { size: _size, ...rest } = options;
  return buildImage(tree, new MemorySink(), rest).bytes;
}

describe('oracle geometry: awkward image sizes and layout options', () => {
  // The size a fitted build chose, asked for explicitly, must build too (and so must the size an
  // ENOSPC message suggests).
  it.for(
    (['ext2', 'ext3'] as const).flatMap((type) => ([1024, 2048, 4096] as const).map((blockSize) => [`${type} ${blockSize}B`, type, blockSize] as const)),
  )('%s: asking for the fitted size builds', { timeout: 120_000 }, async ([label, type, blockSize], ctx) => {
    requireJudge(ctx, tools, 'oracle geometry');
    const tree = awkwardTree({ blockSize, inodeSize: 256, bigDir: 120, deep: 4, tripleIndirect: false, sizes: false });
    const fit = fittedBytes(tree, { type, blockSize });
    const problems: string[] = [];
    for (const size of [fit, fit + blockSize]) {
      const image = join(work.dir, `fitsize-${label.replace(/ /g, '_')}-${size}.img`);
      try {
        buildImageFile(tree, image, { type, blockSize, size }, true);
      } catch (err) {
        problems.push(`size ${size} (fitted build gave ${fit}): ${(err as Error).message}`);
        const hint = /--size (\d+)K/.exec((err as Error).message);
        if (hint) {
          try {
            buildImage(tree, new MemorySink(), { type, blockSize, size: Number(hint[1]) * 1024 });
          } catch (err2) {
            problems.push(`the suggested --size ${hint[1]}K fails too: ${(err2 as Error).message}`);
          }
        }
        continue;
      }
      await breathe();
      const fsck = e2fsck(image);
      if (fsck.code !== 0) problems.push(`size ${size}: e2fsck -fn exited ${fsck.code}:\n${fsck.output}`);
    }
    if (problems.length) expect.fail(`${label}:\n  ${problems.join('\n  ')}`);
  });

  it.for(cases.map((c) => [c.label, c] as const))('%s', { timeout: 120_000 }, async ([label, c], ctx) => {
    requireJudge(ctx, tools, 'oracle geometry');
    const bs = c.options.blockSize!;
    // A small tree: the point is the layout, not the content.
    const tree = awkwardTree({ blockSize: bs, inodeSize: 256, bigDir: 120, deep: 4, tripleIndirect: false, sizes: false });
    const image = join(work.dir, `${label.replace(/[^A-Za-z0-9]+/g, '_')}.img`);
    let built: BuiltImage;
    try {
      built = buildImageFile(tree, image, c.options, false);
    } catch (err) {
      if (err instanceof ExtimgError) {
        // A refusal is fine for a size smaller than the fitted image of the same tree; a size at
        // least that large must build (mke2fs shrinks blocks per group to make such sizes work).
        const fit = fittedBytes(tree, c.options);
        if (c.options.size !== undefined && c.options.size >= fit) {
          expect.fail(`${label}: refused ${c.options.size} bytes although the same tree fits in ${fit}: ${err.code} ${err.message}`);
        }
        console.log(`${label}: refused (fitted image is ${fit} bytes): ${err.code} ${err.message}`);
        expect(['ENOSPC', 'EUSAGE', 'EINVAL']).toContain(err.code);
        return;
      }
      throw err;
    }
    await breathe();
    const failures: string[] = [];
    const fsck = e2fsck(image);
    if (fsck.code !== 0) failures.push(`e2fsck -fn exited ${fsck.code}:\n${fsck.output}`);
    const sb = dumpe2fs(image);
    const size = statSync(image).size;
    if (built.result.bytes !== size) failures.push(`result.bytes ${built.result.bytes}, file is ${size} bytes`);
    if (built.result.blocksCount !== sb.blockCount) failures.push(`result.blocksCount ${built.result.blocksCount}, superblock ${sb.blockCount}`);
    if (c.options.size === undefined) {
      if (size !== sb.blockCount * bs) failures.push(`file is ${size} bytes, superblock says ${sb.blockCount} × ${bs}`);
    } else {
      // As mke2fs on a device: the file is the size asked; a last group too small for its own
      // metadata may be left out of the filesystem.
      if (size !== c.options.size) failures.push(`image is ${size} bytes, asked for ${c.options.size}`);
      if (sb.blockCount * bs > size) failures.push(`filesystem of ${sb.blockCount} blocks is larger than the ${size}-byte file`);
      const dropped = size / bs - sb.blockCount;
      if (dropped > 0) console.log(`${label}: filesystem leaves out the last ${dropped} block(s) of the file`);
    }
    if (c.options.label !== undefined && sb.label !== c.options.label) failures.push(`label ${JSON.stringify(sb.label)}`);
    if (c.options.uuid !== undefined && sb.uuid !== c.options.uuid) failures.push(`uuid ${sb.uuid}`);
    if (c.options.resizeInode === false && sb.features.includes('resize_inode')) failures.push('resize_inode feature present');
    if (c.options.inodes !== undefined && sb.inodeCount < c.options.inodes) failures.push(`only ${sb.inodeCount} inodes`);
    if (c.options.reservedPercent !== undefined) {
      const reserved = Number(sb.fields.get('Reserved block count'));
      const want = Math.floor((sb.blockCount * c.options.reservedPercent) / 100);
      if (Math.abs(reserved - want) > 1) failures.push(`reserved blocks ${reserved}, expected about ${want}`);
    }
    if (c.options.journalBlocks !== undefined && sb.journalSizeBlocks !== c.options.journalBlocks) {
      failures.push(`journal ${sb.journalSizeBlocks} blocks, asked ${c.options.journalBlocks}`);
    }
    const diffs = compareManifests(manifestFromTree(tree, { inodeSize: 256, blockSize: bs }), manifestFromDebugfs(image));
    if (diffs.length) failures.push(`debugfs read-back:\n    ${diffs.slice(0, 20).join('\n    ')}`);
    if (failures.length) {
      const kept = work.keep(image, `geometry-${label.replace(/[^A-Za-z0-9]+/g, '_')}.img`);
      expect.fail(`${label} ${JSON.stringify(c.options)} (image kept at ${kept}):\n  ${failures.join('\n  ')}`);
    }
  });
});
