import { ExtimgError } from '../errors.js';
import { computeGeometry, defaultJournalBlocks, groupHasSuper, type Geometry } from './geometry.js';
import type { TreePlan } from './plan.js';

export interface SizingInput {
  plan: TreePlan;
  blockSize: number;
  inodeSize: number;
  journal: boolean;
  journalBlocks?: number;
  resizeInode: boolean;
  /** Requested image bytes, or undefined to fit. */
  size?: number;
  inodes?: number;
  headroom: number;
}

export interface Sizing {
  geometry: Geometry;
  journalBlocks: number;
  /** Blocks the content needs beyond group metadata (tree, journal, resize inode). */
  contentBlocks: number;
}

/** mke2fs.conf inode_ratio: floppy (< 3 MiB) 8192, small (< 512 MiB) 4096, default 16384. */
function inodeRatio(bytes: number): number {
  if (bytes < 3 * 1024 * 1024) return 8192;
  if (bytes < 512 * 1024 * 1024) return 4096;
  return 16384;
}

function journalFor(input: SizingInput, blocksCount: number): number {
  if (!input.journal) return 0;
  return input.journalBlocks ?? defaultJournalBlocks(blocksCount);
}

function used(input: SizingInput, geo: Geometry): { used: number; journal: number; content: number } {
  const journal = journalFor(input, geo.blocksCount);
  const content = input.plan.blocks + journal + (input.resizeInode && geo.reservedGdtBlocks > 0 ? 1 : 0);
  return { used: geo.metadataBlocks + content, journal, content };
}

/**
 * Choose the geometry. With a size: that size, refused if the content does not fit (the
 * message gives the size that would). Without: the smallest image that holds the content plus
 * `headroom` (a fraction of the used blocks and inodes).
 */
export function chooseSizing(input: SizingInput): Sizing {
  const needInodes = input.plan.maxIno;
  if (input.inodes !== undefined && input.inodes < needInodes) {
    throw new ExtimgError('ENOSPC', `${input.inodes} inodes are too few: the tree needs ${needInodes} (including the 10 reserved)`, {
      inodes: input.inodes,
      needed: needInodes,
    });
  }
  if (input.size !== undefined) {
    const r = trySize(input, Math.floor(input.size / input.blockSize));
    if ('why' in r) throw tooSmall(input, r.why);
    return r;
  }
  return fit(input, input.headroom);
}

/**
 * The sized path: this many blocks, inodes from -N, else mke2fs's inode ratio; when the ratio's
 * inode tables leave no room for the content, only the inodes the tree needs (plus headroom).
 */
function trySize(input: SizingInput, blocks: number): Sizing | { why: string } {
  const needInodes = input.plan.maxIno;
  const bytes = blocks * input.blockSize;
  if (input.inodes !== undefined) return trySizeWith(input, blocks, input.inodes);
  const fewest = Math.ceil(needInodes * (1 + input.headroom));
  const byRatio = trySizeWith(input, blocks, Math.max(fewest, Math.floor(bytes / inodeRatio(bytes))));
  return 'why' in byRatio ? trySizeWith(input, blocks, fewest) : byRatio;
}

function trySizeWith(input: SizingInput, blocks: number, inodes: number): Sizing | { why: string } {
  const needInodes = input.plan.maxIno;
  let geometry: Geometry;
  try {
    geometry = computeGeometry({
      blockSize: input.blockSize,
      blocksCount: blocks,
      inodesCount: inodes,
      inodeSize: input.inodeSize,
      resizeInode: input.resizeInode,
      minInodes: needInodes,
      inodesFlexible: input.inodes === undefined,
    });
  } catch (e) {
    if (e instanceof ExtimgError && e.code === 'ENOSPC') return { why: e.message };
    throw e;
  }
  if (geometry.inodesCount < needInodes) return { why: `${needInodes} inodes needed, ${geometry.inodesCount} fit` };
  const u = used(input, geometry);
  if (u.used > geometry.blocksCount) {
    return { why: `needs ${u.used} blocks of ${input.blockSize} bytes, ${geometry.blocksCount} available` };
  }
  return { geometry, journalBlocks: u.journal, contentBlocks: u.content };
}

/**
 * The content does not fit `input.size`: say so, with the smallest size that does fit under
 * the same rules (found by bisection over the sized path, since the inode ratio and journal
 * size change with the size).
 */
function tooSmall(input: SizingInput, why: string): ExtimgError {
  let hi = fit({ ...input, size: undefined }, 0).geometry.blocksCount;
  while ('why' in trySize(input, hi)) hi = Math.ceil(hi * 1.25) + 64;
  let lo = Math.floor(input.size! / input.blockSize);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if ('why' in trySize(input, mid)) lo = mid;
    else hi = mid;
  }
  const bytes = hi * input.blockSize;
  return new ExtimgError(
    'ENOSPC',
    `image size ${input.size} bytes is too small: ${why}; the content fits in ${bytes} bytes (--size ${Math.ceil(bytes / 1024)}K)`,
    { size: input.size, fits: bytes },
  );
}

/**
 * Free inodes a fitted image keeps at least (with any headroom): a root filesystem needs room to
 * create files at boot (logs, sockets, /tmp), and 5% of a small tree is a handful.
 */
export const MIN_FREE_INODES = 256;

function fit(input: SizingInput, headroom: number): Sizing {
  const needInodes = input.plan.maxIno;
  const bs = input.blockSize;
  const bpg = bs * 8;
  const first = bs === 1024 ? 1 : 0;
  const inodes = input.inodes ?? Math.max(Math.ceil(needInodes * (1 + headroom)), headroom > 0 ? needInodes + MIN_FREE_INODES : needInodes);
  const inodeTableBlocks = Math.ceil((inodes * input.inodeSize) / bs);
  let total = input.plan.blocks + (input.journal ? (input.journalBlocks ?? 1024) : 0) + inodeTableBlocks + 64;
  for (let i = 0; i < 200; i++) {
    let geometry: Geometry;
    try {
      geometry = computeGeometry({ blockSize: bs, blocksCount: total, inodesCount: inodes, inodeSize: input.inodeSize, resizeInode: input.resizeInode, minInodes: needInodes });
    } catch (e) {
      // Too small to hold its own metadata (many inodes per group): grow and try again.
      if (e instanceof ExtimgError && e.code === 'ENOSPC' && i < 199) {
        total = Math.ceil(total * 1.25) + 64;
        continue;
      }
      throw e;
    }
    if (geometry.blocksCount < total) {
      // The last group was dropped as too small: give it room for its metadata plus 50 blocks.
      const g = geometry.groupCount; // index of the dropped group
      const lastOverhead = 2 + geometry.inodeTableBlocks + (groupHasSuper(g) ? 1 + geometry.descBlocks + geometry.reservedGdtBlocks : 0);
      total = Math.max(total + 8, first + g * bpg + lastOverhead + 51);
      continue;
    }
    const u = used(input, geometry);
    const want = u.used + Math.max(Math.ceil(u.used * headroom), headroom > 0 ? 16 : 0);
    if (geometry.blocksCount >= want) return { geometry, journalBlocks: u.journal, contentBlocks: u.content };
    total = Math.max(want, total + 1);
  }
  throw new ExtimgError('ENOSPC', 'could not find a geometry that fits the content', {});
}
