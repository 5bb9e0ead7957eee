import { ExtimgError } from '../../errors.js';
import type { Features } from '../features.js';
import { computeGeometry, defaultJournalBlocks, groupHasSuper, type Geometry } from '../geometry.js';
import { placeTree, type Placement } from './place.js';
import type { TreePlan } from './plan.js';

/**
 * Choosing the image's size and geometry. Every candidate is checked by placing the whole tree
 * on it (place.ts): the blocks used then include every extent tree block that fragmentation at
 * superblock backups or flex_bg tables adds, so the size is exact and a too-small --size is
 * refused before anything is written.
 */

export interface SizingInput {
  plan: TreePlan;
  features: Features;
  blockSize: number;
  inodeSize: number;
  journalBlocks?: number;
  /** Requested image bytes, or undefined to fit. */
  size?: number;
  inodes?: number;
  headroom: number;
}

export interface Sizing {
  geometry: Geometry;
  placement: Placement;
  journalBlocks: number;
  /** The resize inode is written (resize_inode and reserved GDT blocks). */
  resize: boolean;
}

/** Free inodes a fitted image keeps at least (with any headroom), so it can boot as a root filesystem. */
export const MIN_FREE_INODES = 256;

/** mke2fs.conf inode_ratio: floppy (< 3 MiB) 8192, small (< 512 MiB) 4096, default 16384, big (≥ 4 TiB) 32768, huge (≥ 16 TiB) 65536. */
function inodeRatio(bytes: number): number {
  if (bytes < 3 * 1024 * 1024) return 8192;
  if (bytes < 512 * 1024 * 1024) return 4096;
  if (bytes < 4 * 2 ** 40) return 16384;
  if (bytes < 16 * 2 ** 40) return 32768;
  return 65536;
}

function journalFor(input: SizingInput, blocksCount: number): number {
  if (!input.features.has('has_journal')) return 0;
  return input.journalBlocks ?? defaultJournalBlocks(blocksCount);
}

function geometry(input: SizingInput, blocksCount: number, inodesCount: number, flexibleInodes: boolean, minInodes = input.plan.maxIno): Geometry {
  const f = input.features;
  return computeGeometry({
    blockSize: input.blockSize,
    blocksCount,
    inodesCount,
    inodeSize: input.inodeSize,
    resizeInode: f.has('resize_inode'),
    minInodes,
    inodesFlexible: flexibleInodes,
    descSize: f.descSize,
    flexSize: f.has('flex_bg') ? 16 : 0,
    maxBlocks: f.maxBlocks,
  });
}

/** Place the tree on a geometry: what it uses (metadata included) and what did not fit. */
function attempt(input: SizingInput, geo: Geometry): Sizing & { used: number } {
  const journalBlocks = journalFor(input, geo.blocksCount);
  const resize = input.features.has('resize_inode') && geo.resizeInode;
  const placement = placeTree({ geo, plan: input.plan, features: input.features, journalBlocks, resize });
  return { geometry: geo, placement, journalBlocks, resize, used: placement.space.used + placement.overflow };
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
  const byRatio = trySizeWith(input, blocks, Math.min(0xffffffff, Math.max(fewest, Math.floor(bytes / inodeRatio(bytes)))));
  return 'why' in byRatio ? trySizeWith(input, blocks, fewest) : byRatio;
}

function trySizeWith(input: SizingInput, blocks: number, inodes: number): Sizing | { why: string } {
  const needInodes = input.plan.maxIno;
  let geo: Geometry;
  try {
    geo = geometry(input, blocks, inodes, input.inodes === undefined);
  } catch (e) {
    if (e instanceof ExtimgError && e.code === 'ENOSPC') return { why: e.message };
    throw e;
  }
  if (geo.inodesCount < needInodes) return { why: `${needInodes} inodes needed, ${geo.inodesCount} fit` };
  const a = attempt(input, geo);
  if (a.placement.overflow > 0 || a.used > geo.blocksCount) {
    return { why: `needs ${a.used} blocks of ${input.blockSize} bytes, ${geo.blocksCount} available` };
  }
  return a;
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

function fit(input: SizingInput, headroom: number): Sizing {
  const needInodes = input.plan.maxIno;
  const bs = input.blockSize;
  const bpg = bs * 8;
  const first = bs === 1024 ? 1 : 0;
  const inodes = input.inodes ?? Math.max(Math.ceil(needInodes * (1 + headroom)), headroom > 0 ? needInodes + MIN_FREE_INODES : needInodes);
  const inodeTableBlocks = Math.ceil((inodes * input.inodeSize) / bs);
  let total = input.plan.blocks + (input.features.has('has_journal') ? (input.journalBlocks ?? 1024) : 0) + inodeTableBlocks + 64;
  for (let i = 0; i < 200; i++) {
    let geo: Geometry;
    try {
      // At least the inodes asked for: the geometry rounds per group, never below this.
      geo = geometry(input, total, inodes, false, inodes);
    } catch (e) {
      // Too small to hold its own metadata (many inodes per group): grow and try again.
      if (e instanceof ExtimgError && e.code === 'ENOSPC' && i < 199) {
        total = Math.ceil(total * 1.25) + 64;
        continue;
      }
      throw e;
    }
    if (geo.blocksCount < total) {
      // The last group was dropped as too small: give it room for its metadata plus 50 blocks.
      const g = geo.groupCount; // index of the dropped group
      const lastOverhead = 2 + geo.inodeTableBlocks + (groupHasSuper(g) ? 1 + geo.descBlocks + geo.reservedGdtBlocks : 0);
      total = Math.max(total + 8, first + g * bpg + lastOverhead + 51);
      continue;
    }
    const a = attempt(input, geo);
    const want = a.used + Math.max(Math.ceil(a.used * headroom), headroom > 0 ? 16 : 0);
    if (a.placement.overflow === 0 && geo.blocksCount >= want) return a;
    total = Math.max(want, total + 1);
  }
  throw new ExtimgError('ENOSPC', 'could not find a geometry that fits the content', {});
}
