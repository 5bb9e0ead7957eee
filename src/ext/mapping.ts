import type { BlockAllocator } from './alloc.js';
import { buildBlockMap, type IndirectBlock, type LogicalRun, type PlacedRun } from './blockmap.js';
import { buildExtentTree, extentsOf } from './extents.js';
import type { Features } from './features.js';

/**
 * The one block-mapping interface (ext4-view-rs's `BlockMap | ExtentsBlocks` seen from the
 * writer): logical runs in, a Mapping out. Two implementations: the ext2/ext3 indirect map
 * (blockmap.ts) and ext4 extent trees of any depth (extents.ts).
 */

/** How one inode's data is mapped: i_block and the blocks it points to. */
export interface Mapping {
  /** The 60 bytes of i_block. */
  iBlock: Uint8Array;
  /** Data runs in logical order. */
  data: PlacedRun[];
  /** Block map: indirect blocks (each before the data it maps). */
  indirect?: IndirectBlock[];
  /** Extent tree blocks (after the data), checksum tails zero. */
  tree?: Array<{ physical: number; bytes: Uint8Array }>;
  /** Data plus map blocks. */
  blocks: number;
}

export interface BlockMapper {
  readonly kind: 'indirect' | 'extents';
  /** Place `runs` with blocks from `alloc` (data and map blocks); `where` names the file in errors. */
  map(runs: readonly LogicalRun[], alloc: BlockAllocator, where: string): Mapping;
}

/** ext2/ext3 block maps: 12 direct, then single, double and triple indirect blocks. */
export function indirectMapper(blockSize: number): BlockMapper {
  const apb = blockSize / 4;
  // Indirect blocks' pointer arrays are cut from shared slabs: one ArrayBuffer per 64 blocks
  // instead of one per block (1 KiB blocks: ~2,000 of them for a Debian base system).
  const SLAB_BLOCKS = 64;
  let slab = new Uint32Array(0);
  let used = 0;
  const newPointers = (): Uint32Array => {
    if (used === slab.length) {
      slab = new Uint32Array(SLAB_BLOCKS * apb);
      used = 0;
    }
    used += apb;
    return slab.subarray(used - apb, used);
  };
  return {
    kind: 'indirect',
    map(runs, alloc) {
      const m = buildBlockMap(runs, apb, alloc, newPointers);
      // Little-endian by byte stores (a DataView would need the 60-byte array's .buffer, which
      // makes V8 move it out of its heap).
      const iBlock = new Uint8Array(60);
      for (let i = 0; i < 15; i++) {
        const v = m.iBlock[i]!;
        iBlock[i * 4] = v;
        iBlock[i * 4 + 1] = v >>> 8;
        iBlock[i * 4 + 2] = v >>> 16;
        iBlock[i * 4 + 3] = v >>> 24;
      }
      return { iBlock, data: m.data, indirect: m.indirect, blocks: m.totalBlocks };
    },
  };
}

/** ext4 extents: the data as contiguous as the allocator gives it, then the tree's blocks after it. */
export function extentMapper(blockSize: number): BlockMapper {
  return {
    kind: 'extents',
    map(runs, alloc, where) {
      const data: PlacedRun[] = [];
      let count = 0;
      for (const r of runs) {
        let l = r.start;
        const end = r.start + r.count;
        while (l < end) {
          const got = alloc.allocate(end - l);
          const prev = data[data.length - 1];
          if (prev && prev.logical + prev.count === l && prev.physical + prev.count === got.start) prev.count += got.count;
          else data.push({ logical: l, physical: got.start, count: got.count });
          l += got.count;
          count += got.count;
        }
      }
      const tree = buildExtentTree(extentsOf(data), blockSize, alloc, where);
      // Exact-size arrays (push leaves room for 16 more): a Mapping lives until its inode is written.
      return { iBlock: tree.iBlock, data: data.slice(), tree: tree.blocks.slice(), blocks: count + tree.blocks.length };
    },
  };
}

/** The mapping the features ask for: extents with the extent feature, else block maps. */
export function mapperFor(features: Features, blockSize: number): BlockMapper {
  return features.mapping === 'extents' ? extentMapper(blockSize) : indirectMapper(blockSize);
}
