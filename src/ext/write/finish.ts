import type { ImageSink } from '../../io/sink.js';
import { blockBitmapChecksum, inodeBitmapChecksum } from '../checksum.js';
import type { Features } from '../features.js';
import type { Geometry, GroupLayout } from '../geometry.js';
import { setBits } from '../space.js';
import type { BlockSpace } from '../space.js';
import { EXT4_BG_BLOCK_UNINIT, EXT4_BG_INODE_UNINIT, EXT4_BG_INODE_ZEROED, encodeGroupDescriptors, encodeSuperblock, type GroupStats, type SuperblockInput } from '../superblock.js';
import type { InodeTable } from './inode-table.js';

/**
 * The last step of a build (e2fsprogs' closefs.c and the bitmap writers): per group, the block
 * and inode bitmaps, the free counts and flags in the descriptors, then the superblock and
 * descriptors in group 0 and every backup group. Free counts come from the BlockSpace and the
 * inode table alone: the single source of truth for what is used.
 *
 * With group descriptor checksums (metadata_csum or uninit_bg), as mke2fs: a group with no
 * inode in use is INODE_UNINIT (its inode bitmap is not written); a group that holds nothing
 * but its own metadata, and is not the last, is BLOCK_UNINIT (the kernel and e2fsck compute its
 * bitmap); every group is INODE_ZEROED, because the unwritten parts of the inode tables are
 * holes that read as zeros (so the kernel's lazy init never writes into a sparse image).
 */

export interface FinishInput {
  geo: Geometry;
  features: Features;
  space: BlockSpace;
  inodes: InodeTable;
  usedDirs: Uint32Array;
  /** metadata_csum seed (crc32c of the UUID), or undefined. */
  csumSeed: number | undefined;
  superblock: Omit<SuperblockInput, 'geo' | 'features' | 'freeBlocks' | 'freeInodes'>;
}

export interface FinishResult {
  freeBlocks: number;
  freeInodes: number;
}

/** Blocks of group g's own bitmaps and inode table that lie inside group g. */
function ownMetaInGroup(geo: Geometry, grp: GroupLayout): number {
  const inside = (b: number): boolean => b >= grp.start && b < grp.end;
  let n = (inside(grp.blockBitmap) ? 1 : 0) + (inside(grp.inodeBitmap) ? 1 : 0);
  const itEnd = grp.inodeTable + geo.inodeTableBlocks;
  n += Math.max(0, Math.min(itEnd, grp.end) - Math.max(grp.inodeTable, grp.start));
  return n;
}

export function finishImage(sink: ImageSink, f: FinishInput): FinishResult {
  const { geo, features, space, inodes } = f;
  const bs = geo.blockSize;
  const ipg = geo.inodesPerGroup;
  const uninit = features.groupChecksums;
  const csum = f.csumSeed;
  const st: GroupStats = { freeBlocks: [], freeInodes: [], usedDirs: [], flags: [], itableUnused: [] };
  if (csum !== undefined) {
    st.blockBitmapCsum = [];
    st.inodeBitmapCsum = [];
  }
  const last = geo.groupCount - 1;
  for (const grp of geo.groups) {
    const g = grp.index;
    const used = space.usedInGroup(g);
    const usedInodes = inodes.usedIn(g);
    st.freeBlocks.push(grp.end - grp.start - used);
    st.freeInodes.push(ipg - usedInodes);
    st.usedDirs.push(f.usedDirs[g]!);
    let flags = 0;
    const blockUninit = uninit && g !== last && used === grp.baseMeta + ownMetaInGroup(geo, grp);
    const inodeUninit = uninit && usedInodes === 0;
    if (uninit) {
      flags = EXT4_BG_INODE_ZEROED | (blockUninit ? EXT4_BG_BLOCK_UNINIT : 0) | (inodeUninit ? EXT4_BG_INODE_UNINIT : 0);
    }
    st.flags.push(flags);
    st.itableUnused.push(uninit ? ipg - usedInodes : 0);
    if (!blockUninit) {
      const bb = space.bitmap(g, bs);
      sink.write(grp.blockBitmap * bs, bb);
      st.blockBitmapCsum?.push(blockBitmapChecksum(csum!, bb, geo.blocksPerGroup));
    } else st.blockBitmapCsum?.push(0);
    if (!inodeUninit) {
      const ib = new Uint8Array(bs);
      setBits(ib, 0, usedInodes);
      setBits(ib, ipg, bs * 8);
      sink.write(grp.inodeBitmap * bs, ib);
      st.inodeBitmapCsum?.push(inodeBitmapChecksum(csum!, ib, ipg));
    } else st.inodeBitmapCsum?.push(0);
  }
  if (csum !== undefined) inodes.checksum(csum);
  inodes.writeTo(sink);

  const freeBlocks = st.freeBlocks.reduce((a, b) => a + b, 0);
  const freeInodes = st.freeInodes.reduce((a, b) => a + b, 0);
  const sb: SuperblockInput = { ...f.superblock, geo, features, freeBlocks, freeInodes };
  const gdt = encodeGroupDescriptors(geo, features, st, sb.uuid, csum ?? 0);
  for (const g of geo.groups) {
    if (!g.hasSuper) continue;
    const sbBytes = encodeSuperblock(sb, g.index);
    // The primary superblock is at byte 1024; backups start their group's first block.
    sink.write(g.index === 0 ? 1024 : g.start * bs, sbBytes);
    sink.write(g.gdtStart * bs, gdt);
  }
  return { freeBlocks, freeInodes };
}
