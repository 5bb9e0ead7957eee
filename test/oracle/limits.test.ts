import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ExtimgError } from '../../src/errors.js';
import type { BuildOptions } from '../../src/ext/options.js';
import { Tree } from '../../src/tree/tree.js';
import { parseStat, runDebugfs } from '../helpers/debugfs.js';
import { e2fsck } from '../helpers/e2fsck.js';
import { missingTools, requireJudge } from '../helpers/env.js';
import { breathe, buildImageFile, workDir } from '../helpers/image.js';

/**
 * Format limits: what does not fit an ext2/ext3 inode must be refused with an ExtimgError, never
 * written as a broken image. i_links_count is 16 bits and e2fsck (EXT2_LINK_MAX) allows at most
 * 65000 links to a directory without the ext4-only dir_nlink feature; symlink targets must fit
 * one block.
 */

const work = workDir('limits');
afterAll(() => work.cleanup());

interface Limit {
  what: string;
  tree: () => Tree;
  options: BuildOptions;
  /** Checked with debugfs before e2fsck (which takes minutes over a wrapped link count). */
  links?: { path: string; count: number };
}

const T = { time: { sec: 1_600_000_000, nsec: 0 } };

const limits: Limit[] = [
  {
    what: 'a directory with 64999 subdirectories (i_links_count 65001)',
    tree: () => {
      const t = new Tree(T);
      for (let i = 0; i < 64999; i++) t.mkdir(`d/${i}`);
      return t;
    },
    options: { type: 'ext2', blockSize: 4096 },
  },
  {
    what: 'a file with 65536 names (i_links_count would wrap to 0)',
    tree: () => {
      const t = new Tree(T);
      t.writeFile('f', 'x');
      for (let i = 1; i < 65536; i++) t.link('f', `l/${i}`);
      return t;
    },
    options: { type: 'ext2', blockSize: 4096 },
    links: { path: '/f', count: 65536 },
  },
  {
    what: 'a symlink target of exactly one block (1024 bytes at 1 KiB blocks)',
    tree: () => {
      const t = new Tree(T);
      t.symlink('s', 'x'.repeat(1024));
      return t;
    },
    options: { type: 'ext2', blockSize: 1024 },
  },
];

describe('format limits: refuse, or build an image e2fsck accepts', () => {
  it.for(limits.map((l) => [l.what, l] as const))('%s', { timeout: 300_000 }, async ([what, l], ctx) => {
    requireJudge(ctx, missingTools(), 'format limits');
    const tree = l.tree();
    await breathe();
    const image = join(work.dir, 'limit.img');
    try {
      buildImageFile(tree, image, l.options, true);
    } catch (err) {
      expect(err, `${what}: threw something other than an ExtimgError: ${String(err)}`).toBeInstanceOf(ExtimgError);
      console.log(`${what}: refused: ${(err as ExtimgError).code} ${(err as Error).message}`);
      return;
    }
    if (l.links) {
      const st = parseStat(runDebugfs(image, [`stat ${l.links.path}`]).outputs[0]!, 0);
      if (st.links !== l.links.count) {
        expect.fail(`${what}: built, and debugfs stat ${l.links.path} shows Links: ${st.links} for ${l.links.count} names (e2fsck -fn fails)`);
      }
    }
    const fsck = e2fsck(image);
    if (fsck.code !== 0) expect.fail(`${what}: built, but e2fsck -fn exited ${fsck.code}:\n${fsck.output.split('\n').slice(0, 30).join('\n')}`);
  });
});
