import { EXT2_DIND_BLOCK, EXT2_IND_BLOCK, EXT2_N_BLOCKS, EXT2_NDIR_BLOCKS, EXT2_TIND_BLOCK } from './constants.js';

/**
 * The ext2/ext3 block map: 12 direct pointers, then single, double and triple indirect blocks
 * of `apb` (addresses per block) 32-bit pointers each. A hole is a zero pointer; an indirect
 * block exists only if something below it is mapped.
 */

/** A run of logical blocks [start, start + count) that hold data. */
export interface LogicalRun {
  start: number;
  count: number;
}

/** A run of data blocks placed on disk. */
export interface PlacedRun {
  logical: number;
  physical: number;
  count: number;
}

export interface IndirectBlock {
  physical: number;
  pointers: Uint32Array;
}

export interface BlockMap {
  iBlock: Uint32Array; // the 15 i_block slots
  indirect: IndirectBlock[];
  data: PlacedRun[];
  /** All blocks taken: data plus indirect. */
  totalBlocks: number;
}

export function maxLogicalBlocks(apb: number): number {
  return EXT2_NDIR_BLOCKS + apb + apb * apb + apb * apb * apb;
}

/**
 * How many indirect blocks a set of runs needs (sorted, non-overlapping). Counts each distinct
 * IND/DIND/TIND block once: consecutive runs may share them.
 */
export function countIndirectBlocks(runs: readonly LogicalRun[], apb: number): number {
  const indBase = EXT2_NDIR_BLOCKS;
  const dindBase = indBase + apb;
  const tindBase = dindBase + apb * apb;
  const end = tindBase + apb * apb * apb;
  let n = 0;
  let ind = false;
  let dind = false;
  let tind = false;
  let lastDindChild = -1;
  let lastTindChild = -1;
  let lastTindGrandchild = -1;
  for (const run of runs) {
    const a = run.start;
    const b = run.start + run.count; // exclusive
    if (b <= a) continue;
    if (b > end) throw new RangeError('file too large for the block map');
    // single indirect
    if (a < dindBase && b > indBase) {
      if (!ind) {
        ind = true;
        n++;
      }
    }
    // double indirect
    if (a < tindBase && b > dindBase) {
      if (!dind) {
        dind = true;
        n++;
      }
      const lo = Math.floor((Math.max(a, dindBase) - dindBase) / apb);
      const hi = Math.floor((Math.min(b, tindBase) - 1 - dindBase) / apb);
      n += hi - lo + 1 - (lo === lastDindChild ? 1 : 0);
      lastDindChild = hi;
    }
    // triple indirect
    if (b > tindBase) {
      if (!tind) {
        tind = true;
        n++;
      }
      const a2 = Math.max(a, tindBase) - tindBase;
      const b2 = b - 1 - tindBase;
      const lo1 = Math.floor(a2 / (apb * apb));
      const hi1 = Math.floor(b2 / (apb * apb));
      n += hi1 - lo1 + 1 - (lo1 === lastTindChild ? 1 : 0);
      lastTindChild = hi1;
      const lo2 = Math.floor(a2 / apb);
      const hi2 = Math.floor(b2 / apb);
      n += hi2 - lo2 + 1 - (lo2 === lastTindGrandchild ? 1 : 0);
      lastTindGrandchild = hi2;
    }
  }
  return n;
}

/** Hands out physical blocks in increasing order: up to `max` contiguous blocks per call. */
export interface Allocator {
  allocate(max: number): { start: number; count: number };
}

/**
 * Place a file's data and indirect blocks, each indirect block just before the first data block
 * it maps (as the kernel's ext2 allocator does), so a file reads front to back.
 */
export function buildBlockMap(
  runs: readonly LogicalRun[],
  apb: number,
  alloc: Allocator,
  newPointers: () => Uint32Array = () => new Uint32Array(apb),
): BlockMap {
  const iBlock = new Uint32Array(EXT2_N_BLOCKS);
  const indirect: IndirectBlock[] = [];
  const data: PlacedRun[] = [];
  const indBase = EXT2_NDIR_BLOCKS;
  const dindBase = indBase + apb;
  const tindBase = dindBase + apb * apb;
  let total = 0;

  const newIndirect = (): IndirectBlock => {
    const { start } = alloc.allocate(1);
    const blk: IndirectBlock = { physical: start, pointers: newPointers() };
    indirect.push(blk);
    total++;
    return blk;
  };

  let ind: IndirectBlock | undefined;
  let dind: IndirectBlock | undefined;
  let tind: IndirectBlock | undefined;
  let dindChild: IndirectBlock | undefined;
  let dindChildIdx = -1;
  let tindChild: IndirectBlock | undefined;
  let tindChildIdx = -1;
  let tindGrand: IndirectBlock | undefined;
  let tindGrandIdx = -1;

  for (const run of runs) {
    let l = run.start;
    const runEnd = run.start + run.count;
    while (l < runEnd) {
      // The pointer array and index that will hold l's address, and how far it reaches.
      let table: Uint32Array;
      let index: number;
      let segEnd: number;
      if (l < indBase) {
        table = iBlock;
        index = l;
        segEnd = indBase;
      } else if (l < dindBase) {
        if (!ind) {
          ind = newIndirect();
          iBlock[EXT2_IND_BLOCK] = ind.physical;
        }
        table = ind.pointers;
        index = l - indBase;
        segEnd = dindBase;
      } else if (l < tindBase) {
        if (!dind) {
          dind = newIndirect();
          iBlock[EXT2_DIND_BLOCK] = dind.physical;
        }
        const rel = l - dindBase;
        const c = Math.floor(rel / apb);
        if (c !== dindChildIdx) {
          dindChild = newIndirect();
          dindChildIdx = c;
          dind.pointers[c] = dindChild.physical;
        }
        table = dindChild!.pointers;
        index = rel % apb;
        segEnd = dindBase + (c + 1) * apb;
      } else {
        if (!tind) {
          tind = newIndirect();
          iBlock[EXT2_TIND_BLOCK] = tind.physical;
        }
        const rel = l - tindBase;
        const c = Math.floor(rel / (apb * apb));
        if (c !== tindChildIdx) {
          tindChild = newIndirect();
          tindChildIdx = c;
          tind.pointers[c] = tindChild.physical;
        }
        const g = Math.floor(rel / apb);
        if (g !== tindGrandIdx) {
          tindGrand = newIndirect();
          tindGrandIdx = g;
          tindChild!.pointers[g % apb] = tindGrand.physical;
        }
        table = tindGrand!.pointers;
        index = rel % apb;
        segEnd = tindBase + (g + 1) * apb;
      }
      const want = Math.min(runEnd, segEnd) - l;
      const got = alloc.allocate(want);
      for (let i = 0; i < got.count; i++) table[index + i] = got.start + i;
      const prev = data[data.length - 1];
      if (prev && prev.logical + prev.count === l && prev.physical + prev.count === got.start) prev.count += got.count;
      else data.push({ logical: l, physical: got.start, count: got.count });
      total += got.count;
      l += got.count;
    }
  }
  // Exact-size arrays (push leaves room for 16 more): a Mapping lives until its inode is written.
  return { iBlock, indirect: indirect.slice(), data: data.slice(), totalBlocks: total };
}
