import { BlockAllocator } from '../alloc.js';
import type { Features } from '../features.js';
import type { Geometry } from '../geometry.js';
import type { BlockSpace } from '../space.js';
import { mapperFor, type Mapping } from '../mapping.js';
import { EXT2_EXT_ATTR_REFCOUNT_MAX } from '../xattr.js';

export type { Mapping };
import type { TreePlan } from './plan.js';

/**
 * Placement: where every block of the image goes, decided before anything is written (the
 * resize inode's map, the journal, each inode's xattr block, data, indirect or extent tree
 * blocks), in the order the writer emits them. Sizing places the whole tree on a candidate
 * geometry and reads the blocks used (and any overflow) from the result: the count is exact
 * for extent trees too, whose size depends on where the data lands.
 */

/** An xattr block and the inodes sharing it (h_refcount). */
export interface XattrBlock {
  physical: number;
  refcount: number;
  bytes: Uint8Array;
}

export interface Placement {
  /** By plan.inodes index: the data mapping (undefined for inodes without blocks). */
  maps: Array<Mapping | undefined>;
  /** By plan.inodes index: the inode's xattr block. */
  xattr: Array<XattrBlock | undefined>;
  xattrBlocks: XattrBlock[];
  journal?: Mapping;
  /** The resize inode's double indirect block. */
  resizeDind?: number;
  /** Every used block, metadata included. */
  space: BlockSpace;
  /** Blocks that did not fit in the geometry (0 when everything did). */
  overflow: number;
}

export interface PlaceInput {
  geo: Geometry;
  plan: TreePlan;
  features: Features;
  journalBlocks: number;
  /** Write the resize inode (resize_inode and reserved GDT blocks). */
  resize: boolean;
}

export function placeTree(input: PlaceInput): Placement {
  const { geo, plan, features } = input;
  const bs = geo.blockSize;
  // The geometry's space has the metadata marked; placement marks into a copy of it.
  const space = geo.space.clone();
  const alloc = new BlockAllocator(space);
  const mapper = mapperFor(features, bs);
  const out: Placement = { maps: new Array(plan.inodes.length), xattr: new Array(plan.inodes.length), xattrBlocks: [], space, overflow: 0 };
  if (input.resize) out.resizeDind = alloc.allocateOne();
  if (input.journalBlocks > 0) out.journal = mapper.map([{ start: 0, count: input.journalBlocks }], alloc, '<journal>');
  const shared = new Map<string, XattrBlock>();
  plan.inodes.forEach((p, i) => {
    // The xattr block before the data, as the writer has always placed it.
    if (p.xattr?.block) {
      let b = shared.get(p.xattr.blockKey!);
      if (!b || b.refcount >= EXT2_EXT_ATTR_REFCOUNT_MAX) {
        b = { physical: alloc.allocateOne(), refcount: 0, bytes: p.xattr.block };
        shared.set(p.xattr.blockKey!, b);
        out.xattrBlocks.push(b);
      }
      b.refcount++;
      out.xattr[i] = b;
    }
    if (p.runs.length > 0) out.maps[i] = mapper.map(p.runs, alloc, p.path);
  });
  out.overflow = alloc.overflow;
  return out;
}
