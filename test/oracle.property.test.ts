import fc from 'fast-check';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { treeArb } from './helpers/arbitrary.js';
import { compareManifests } from './helpers/compare.js';
import { manifestFromDebugfs } from './helpers/debugfs.js';
import { e2fsck } from './helpers/e2fsck.js';
import { IN_CI, missingTools, mountAvailable, requireJudge } from './helpers/env.js';
import { breathe, buildImageFile, workDir } from './helpers/image.js';
import { manifestFromTree } from './helpers/manifest.js';
import { manifestFromMount } from './helpers/mount.js';

/**
 * Property: any tree (random nesting, names incl. UTF-8 and raw bytes, small and sparse files,
 * symlinks, devices, fifos, sockets, hard links, random modes/ids/times) on any of ext2/ext3/ext4
 * × 1/2/4 KiB blocks × 128/256-byte inodes, with random -O changes to each type's features
 * (flex_bg, 64bit, metadata_csum, metadata_csum_seed, uninit_bg, huge_file, dir_nlink,
 * extra_isize, has_journal, dir_index), builds an image that e2fsck passes and that debugfs
 * (and, as root, the kernel) reads back exactly.
 */

const RUNS = Number(process.env.EXTIMG_PROPERTY_RUNS ?? (IN_CI ? 100 : 25));
const SEED = process.env.EXTIMG_PROPERTY_SEED !== undefined ? Number(process.env.EXTIMG_PROPERTY_SEED) : undefined;

const tools = missingTools();
const work = workDir('property');
afterAll(() => work.cleanup());

describe('oracle property: random tree → buildImage → e2fsck clean and exact read-back', () => {
  it(`holds for ${RUNS} random trees`, async (ctx) => {
    requireJudge(ctx, tools, 'oracle property');
    const withMount = mountAvailable('kernel loop-mount read-back (property)');
    let n = 0;
    await fc.assert(
      fc.asyncProperty(treeArb(), async (build) => {
        await breathe();
        const { options } = build.spec;
        const tree = build();
        const image = join(work.dir, `p${n++}.img`);
        try {
          buildImageFile(tree, image, options, true);
          const fsck = e2fsck(image);
          if (fsck.code !== 0) throw new Error(`e2fsck -fn exited ${fsck.code} (${JSON.stringify(options)}):\n${fsck.output}`);
          const expected = manifestFromTree(tree, { inodeSize: options.inodeSize, blockSize: options.blockSize, extents: options.type === 'ext4' });
          const fromDebugfs = compareManifests(expected, manifestFromDebugfs(image));
          if (fromDebugfs.length) throw new Error(`debugfs read-back (${JSON.stringify(options)}):\n  ${fromDebugfs.slice(0, 30).join('\n  ')}`);
          if (withMount) {
            const fromKernel = compareManifests(expected, manifestFromMount(image));
            if (fromKernel.length) throw new Error(`kernel read-back (${JSON.stringify(options)}):\n  ${fromKernel.slice(0, 30).join('\n  ')}`);
          }
        } finally {
          rmSync(image, { force: true });
        }
      }),
      { numRuns: RUNS, ...(SEED !== undefined ? { seed: SEED } : {}), endOnFailure: !!process.env.EXTIMG_PROPERTY_NO_SHRINK },
    );
  }, 1_800_000);
});
