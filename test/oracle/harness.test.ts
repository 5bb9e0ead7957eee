import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compareManifests } from '../helpers/compare.js';
import { manifestFromDebugfs } from '../helpers/debugfs.js';
import { expectClean, hasTool } from '../helpers/e2fsck.js';
import { missingTools, mountAvailable, requireJudge } from '../helpers/env.js';
import { materializeTree } from '../helpers/host.js';
import { breathe, workDir } from '../helpers/image.js';
import { manifestFromTree } from '../helpers/manifest.js';
import { manifestFromDir, manifestFromMount } from '../helpers/mount.js';
import { awkwardTree } from '../helpers/trees.js';

/**
 * The judges judged: before trusting the readers with our writer's images, check them on images
 * made by the reference tools (`mke2fs -d`, `genext2fs -d`) from a host directory holding the
 * awkward tree. debugfs and the kernel must read those images identically, field for field; the
 * host directory (lstat) must match the Tree; and mke2fs's image must match the Tree except for
 * what mke2fs 1.47.0 itself does not keep.
 */

const work = workDir('harness');
afterAll(() => work.cleanup());

/** Needs root for devices and owners in the host directory. */
function hostReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'building the host directory needs root (mknod, chown)';
  for (const t of ['mknod', 'mkfifo', 'python3', 'touch']) if (!hasTool(t)) return `missing host tool ${t}`;
  return undefined;
}

/** Differences that are the reference tool's, not the readers' (mke2fs 1.47.0 `-d`). */
function mke2fsLimitation(diff: string): boolean {
  return (
    diff.startsWith('/: mtime ') || // mke2fs stamps the root with the build time
    /^\/links\/(sym1|b\/sym2): (nlink|inodeGroup) /.test(diff) || // it copies hard-linked symlinks as separate inodes
    /^\/times\/y(2038\+1|2106|2446): mtime /.test(diff) // it stores only 32-bit seconds
  );
}

describe('harness self-check: the readers agree on reference-tool images', () => {
  it('mke2fs -d: host dir = Tree; debugfs = kernel exactly; debugfs = Tree up to mke2fs limits', async (ctx) => {
    requireJudge(ctx, missingTools(['e2fsck', 'debugfs', 'mke2fs']), 'harness self-check');
    requireJudge(ctx, hostReason(), 'harness self-check');
    const tree = awkwardTree({ blockSize: 1024, inodeSize: 256 });
    const host = join(work.dir, 'host');
    mkdirSync(host);
    materializeTree(tree, host);
    await breathe();

    // The host directory holds the tree (the kernel zeroes nsec at the largest time it can store).
    const hostDiffs = compareManifests(manifestFromTree(tree, { lostFound: false }), manifestFromDir(host, { blocks: false })).filter(
      (d) => d !== '/times/y2446: mtime expected 15032385535.999999999, actual 15032385535.000000000',
    );
    expect(hostDiffs).toEqual([]);
    await breathe();

    const image = join(work.dir, 'mke2fs.img');
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext3', '-b', '1024', '-I', '256', '-d', host, image, '160M'], { stdio: 'pipe' });
    expectClean(image);
    const fromDebugfs = manifestFromDebugfs(image);
    await breathe();
    if (mountAvailable('harness self-check (kernel mount)')) {
      expect(compareManifests(fromDebugfs, manifestFromMount(image))).toEqual([]);
    }
    // mke2fs 1.47.0 -d also drops nanoseconds.
    const treeDiffs = compareManifests(manifestFromTree(tree, { blockSize: 1024 }), fromDebugfs, { ignoreNsec: true }).filter(
      (d) => !mke2fsLimitation(d),
    );
    expect(treeDiffs).toEqual([]);
  }, 300_000);

  it('genext2fs -d: debugfs = kernel exactly', async (ctx) => {
    requireJudge(ctx, missingTools(['e2fsck', 'debugfs', 'genext2fs']), 'harness self-check (genext2fs)');
    requireJudge(ctx, hostReason(), 'harness self-check (genext2fs)');
    // genext2fs writes revision-0-style 128-byte inodes and 16-bit ids; keep the tree in its range.
    const tree = awkwardTree({ blockSize: 1024, inodeSize: 128, bigDir: 600, deep: 20, tripleIndirect: false });
    for (const p of ['owners', 'symlinks/owned', 'links/a/one']) tree.remove(p, { recursive: true });
    const host = join(work.dir, 'host-genext2fs');
    mkdirSync(host);
    materializeTree(tree, host);
    const image = join(work.dir, 'genext2fs.img');
    execFileSync('genext2fs', ['-z', '-B', '1024', '-b', '65536', '-N', '2048', '-d', host, image], { stdio: 'pipe' });
    await breathe();
    const fromDebugfs = manifestFromDebugfs(image);
    expect(fromDebugfs.size).toBeGreaterThan(600);
    if (mountAvailable('harness self-check (kernel mount)')) {
      expect(compareManifests(fromDebugfs, manifestFromMount(image))).toEqual([]);
    }
  }, 300_000);
});
