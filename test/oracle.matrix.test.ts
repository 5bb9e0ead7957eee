import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BuildOptions, BuildResult } from '../src/ext/options.js';
import { compareManifests } from './helpers/compare.js';
import { manifestFromDebugfs } from './helpers/debugfs.js';
import { dumpe2fs, e2fsck } from './helpers/e2fsck.js';
import { missingTools, mountAvailable, requireJudge } from './helpers/env.js';
import { breathe, buildImageFile, workDir } from './helpers/image.js';
import { manifestFromTree, type Manifest } from './helpers/manifest.js';
import { awkwardTree, T0, type AwkwardOptions } from './helpers/trees.js';
import { addHostDirectory } from '../src/ingest/hostdir.js';
import { Tree } from '../src/tree/tree.js';
import { expectImageMatchesDir, expectXattrsMatch, isRoot, run } from './helpers/archives.js';
import { materializeTree } from './helpers/host.js';
import { manifestFromDir, manifestFromMount, withMount } from './helpers/mount.js';
import { xattrsFromKernel } from './helpers/xattr.js';

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

/**
 * The matrix for host directory inputs (issue #13): a smaller awkward tree written out as a real
 * directory (as root: devices, owners), with extended attributes on files, directories, a
 * symlink and the top (user.*, and as root trusted.*, security.capability and a POSIX ACL), read
 * back by addHostDirectory. The image must pass e2fsck, hold exactly what the directory holds
 * (debugfs and, as root, the kernel) and the same xattrs (debugfs ea_get, the kernel's getxattr).
 */
describe('oracle matrix: host directory with xattrs → addHostDirectory → e2fsck, debugfs, kernel', () => {
  const dirCombos = TYPES.flatMap((type) => INODE_SIZES.map((inodeSize) => ({ type, inodeSize, blockSize: 4096 as const })));
  it.for(dirCombos.map((c) => [`${c.type} ${c.blockSize}B-blocks ${c.inodeSize}B-inodes from a directory`, c] as const))(
    '%s',
    { timeout: 300_000 },
    async ([label, c], ctx) => {
      requireJudge(ctx, missingTools(['e2fsck', 'debugfs', 'python3']), 'oracle matrix (directories)');
      await breathe();
      const host = join(work.dir, `dir-${c.type}-${c.inodeSize}`);
      mkdirSync(host);
      materializeTree(awkwardTree({ blockSize: c.blockSize, inodeSize: c.inodeSize, bigDir: 300, deep: 8, tripleIndirect: false, sizes: false }), host);
      const xattrPaths = setHostXattrs(host);
      const tree = new Tree({ time: T0 });
      const warnings: string[] = [];
      addHostDirectory(tree, host, { onWarning: (m) => warnings.push(m) });
      // The one thing said: @napi-rs/xattr takes paths as UTF-8 strings, so the awkward tree's
      // names that are not UTF-8 have their xattrs (none here) unread, and that is said.
      expect(warnings.length, warnings.join('\n')).toBeLessThanOrEqual(1);
      if (warnings.length) expect(warnings[0]).toMatch(/: extended attributes not read for \d+ entries: .*\(the path is not UTF-8\)/);
      for (const w of warnings) for (const why of w.matchAll(/\(([^()]*)\)(?:, |$)/g)) expect(why[1]).toMatch(/the path is not UTF-8|in all/);
      const image = join(work.dir, `${label.replace(/ /g, '_')}.img`);
      buildImageFile(tree, image, { type: c.type, blockSize: c.blockSize, inodeSize: c.inodeSize }, true);
      const fsck = e2fsck(image);
      expect(fsck.code, fsck.output).toBe(0);
      await breathe();
      // 128-byte inodes hold whole seconds.
      const times = { symlinkTimes: isRoot, ...(c.inodeSize === 128 ? { ignoreNsec: true } : {}) };
      expectImageMatchesDir(manifestFromDebugfs(image), host, `${label}: debugfs`, times);
      expectXattrsMatch(image, host, xattrPaths, `${label}: debugfs`);
      if (mountAvailable()) {
        withMount(image, (mnt) => {
          expectImageMatchesDir(manifestFromDir(mnt, { blocks: false }), host, `${label}: kernel`, times);
          const k = xattrsFromKernel(xattrPaths.map((p) => join(mnt, p)));
          const h = xattrsFromKernel(xattrPaths.map((p) => join(host, p)));
          expect(k, 'python3 reads xattrs').toBeDefined();
          for (const p of xattrPaths) expect(k!.get(join(mnt, p)), `${label}: kernel xattrs of /${p}`).toEqual(h!.get(join(host, p)));
        });
      }
      rmSync(host, { recursive: true, force: true });
    },
  );
});

/** cap_net_raw=ep as setcap writes it (VFS_CAP_REVISION_2). */
const CAP = [0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/**
 * Extended attributes on the host copy (through Python: Node has no xattr API): returns the
 * paths that carry some. An ACL in the kernel's xattr form: user::rw-, user:1000:r--, group::r--,
 * mask::r--, other::r--.
 */
function setHostXattrs(host: string): string[] {
  const acl = [2, 0, 0, 0, ...[1, 6, -1], ...[2, 4, 1000], ...[4, 4, -1], ...[0x10, 4, -1], ...[0x20, 4, -1]];
  const script = `
import os, sys, struct
root, root_user = sys.argv[1], os.geteuid() == 0
def put(p, name, value): os.setxattr(os.path.join(root, p), name, value, follow_symlinks=False)
entries = ${JSON.stringify(acl.slice(4))}
acl = struct.pack('<I', 2) + b''.join(struct.pack('<HHI', entries[i], entries[i+1], entries[i+2] & 0xffffffff) for i in range(0, len(entries), 3))
put('sizes', 'user.dir', b'\\x00\\x01\\x02\\xff') if os.path.isdir(os.path.join(root, 'sizes')) else None
put('', 'user.top', b'top')
files = sorted(f for f in os.listdir(os.path.join(root, 'bigdir')))[:3]
put('bigdir/' + files[0], 'user.comment', b'hello')
put('bigdir/' + files[0], 'user.empty', b'')
put('bigdir/' + files[1], 'user.big', bytes((i * 7) & 0xff for i in range(900)))
put('bigdir', 'user.dir', b'd')
if root_user:
    put('bigdir/' + files[2], 'security.capability', bytes(${JSON.stringify(CAP)}))
    put('bigdir/' + files[2], 'trusted.overlay.opaque', b'y')
    put('bigdir/' + files[1], 'system.posix_acl_access', acl)
    link = sorted(os.path.relpath(os.path.join(d, f), root) for d, ds, fs in os.walk(root) for f in fs + ds if os.path.islink(os.path.join(d, f)))[0]
    put(link, 'trusted.onlink', b'l')
    print(link)
print('\\n'.join(['', 'bigdir', 'bigdir/' + files[0], 'bigdir/' + files[1]] + (['bigdir/' + files[2]] if root_user else [])))
`;
  const out = run('python3', ['-c', script, host]).toString().split('\n');
  return out.filter((p, i) => i < out.length - 1 || p !== '').filter((p, i, a) => a.indexOf(p) === i);
}
