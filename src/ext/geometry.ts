import { ExtimgError } from '../errors.js';
import { EXT2_FIRST_INO } from './constants.js';
import { BlockSpace } from './space.js';

/** Where one block group's metadata lives (absolute block numbers). */
export interface GroupLayout {
  index: number;
  /** First block of the group. */
  start: number;
  /** One past the last block of the group. */
  end: number;
  /** The group carries a superblock and GDT backup (sparse_super: 0, 1, powers of 3, 5, 7). */
  hasSuper: boolean;
  /** First GDT block (after the superblock), valid when hasSuper. */
  gdtStart: number;
  blockBitmap: number;
  inodeBitmap: number;
  inodeTable: number;
  /**
   * First block after the group's own metadata when it sits in the group (no flex_bg); with
   * flex_bg, the first block after the superblock backup and GDT (the group's tables are
   * elsewhere, and other groups' may be here: ask the BlockSpace).
   */
  dataStart: number;
  /** Blocks of the superblock backup, GDT and reserved GDT in this group (0 without a backup). */
  baseMeta: number;
}

export interface Geometry {
  blockSize: number;
  logBlockSize: number; // s_log_block_size: log2(blockSize) - 10
  blocksCount: number;
  firstDataBlock: number;
  blocksPerGroup: number;
  groupCount: number;
  inodeSize: number;
  inodesPerGroup: number;
  inodesCount: number;
  inodeTableBlocks: number; // per group
  /** s_desc_size: 32, or 64 with the 64bit feature. */
  descSize: number;
  descBlocks: number;
  reservedGdtBlocks: number;
  /**
   * The resize inode is written: resize_inode asked for and kept, as mke2fs keeps it, also
   * with no GDT blocks to reserve (a small image: inode 7 then has an empty DIND block); mke2fs
   * clears it past 2^32 blocks and where reserved and descriptor blocks would fill a group.
   */
  resizeInode: boolean;
  /** Groups per flex group (16 with flex_bg, as mke2fs), 0 without flex_bg. */
  flexSize: number;
  groups: GroupLayout[];
  /** Blocks taken by group metadata (superblocks, GDTs, reserved GDT, bitmaps, inode tables). */
  metadataBlocks: number;
  /** Every metadata block marked: the start of the block allocator's map. */
  space: BlockSpace;
}

export interface GeometryInput {
  blockSize: number;
  blocksCount: number;
  inodesCount: number;
  inodeSize: number;
  resizeInode: boolean;
  /** Inodes that must exist (the tree's); the geometry grows past `inodesCount` to reach it. */
  minInodes?: number;
  /** `inodesCount` is a default that may be lowered to fit the groups. */
  inodesFlexible?: boolean;
  /** s_desc_size (default 32). */
  descSize?: 32 | 64;
  /** Groups per flex group: 16 for flex_bg (s_log_groups_per_flex 4), 0 (default) without. */
  flexSize?: number;
  /** The block numbers the features allow: 2^32, or 2^48 with 64bit (default 2^32). */
  maxBlocks?: number;
}

/** e2fsprogs ext2fs_bg_has_super() with sparse_super: groups 0, 1 and powers of 3, 5 and 7. */
export function groupHasSuper(g: number): boolean {
  if (g <= 1) return true;
  if (!(g & 1)) return false;
  return isPowerOf(g, 3) || isPowerOf(g, 5) || isPowerOf(g, 7);
}

function isPowerOf(n: number, b: number): boolean {
  while (n % b === 0) n /= b;
  return n === 1;
}

/** Backup groups in the order e2fsprogs' ext2fs_list_backups() yields them: 1, 3, 5, 7, 9, 25, ... */
export function backupGroups(groupCount: number): number[] {
  const out: number[] = [];
  for (let g = 1; g < groupCount; g++) if (groupHasSuper(g)) out.push(g);
  return out;
}

/** e2fsprogs calc_reserved_gdt_blocks(): room to grow to 1024x, or 2^32 blocks, whichever is lower. */
export function reservedGdtBlocksFor(blocksCount: number, blockSize: number, firstDataBlock: number, descBlocks: number, descSize = 32): number {
  const bpg = blockSize * 8;
  const gdpb = blockSize / descSize;
  let maxBlocks = 0xffffffff;
  if (blocksCount < Math.floor(maxBlocks / 1024)) maxBlocks = blocksCount * 1024;
  const rsvGroups = Math.ceil((maxBlocks - firstDataBlock) / bpg);
  let rsv = Math.ceil(rsvGroups / gdpb) - descBlocks;
  if (rsv > blockSize / 4) rsv = blockSize / 4;
  return Math.max(0, rsv);
}

/**
 * Lay out groups as ext2fs_initialize() and ext2fs_allocate_tables() do: the superblock backup
 * and GDT (where the group has one), then the reserved GDT blocks; without flex_bg each group's
 * block bitmap, inode bitmap and inode table follow in the group; with flex_bg those of each 16
 * groups are packed in the first of them (flexGroupTables). A last group too small for its own
 * metadata plus 50 blocks is dropped, as mke2fs does.
 */
export function computeGeometry(input: GeometryInput): Geometry {
  const { blockSize, inodeSize } = input;
  if (![1024, 2048, 4096].includes(blockSize)) {
    throw new ExtimgError('EUSAGE', `block size ${blockSize} is not supported (1024, 2048 or 4096)`, { blockSize });
  }
  if (![128, 256, 512, 1024].includes(inodeSize) || inodeSize > blockSize) {
    throw new ExtimgError('EUSAGE', `inode size ${inodeSize} is not supported (128 or 256)`, { inodeSize });
  }
  const descSize = input.descSize ?? 32;
  const flexSize = input.flexSize ?? 0;
  const maxBlocks = input.maxBlocks ?? 2 ** 32;
  const logBlockSize = Math.log2(blockSize) - 10;
  const firstDataBlock = blockSize === 1024 ? 1 : 0;
  const blocksPerGroup = blockSize * 8;
  const inodesPerBlock = blockSize / inodeSize;
  const maxInodesPerGroup = Math.min(blockSize * 8, 65536 - inodesPerBlock);
  let blocksCount = Math.floor(input.blocksCount);
  if (blocksCount > maxBlocks) {
    const what = maxBlocks === 2 ** 32 ? 'the 2^32 block limit without the 64bit feature' : 'the 2^48 block limit';
    throw new ExtimgError('ETOOBIG', `${blocksCount} blocks exceed ${what} at ${blockSize}-byte blocks`, { blocksCount });
  }

  for (;;) {
    const groupCount = Math.ceil((blocksCount - firstDataBlock) / blocksPerGroup);
    if (groupCount <= 0 || blocksCount < 64) {
      throw new ExtimgError('ENOSPC', `an image of ${blocksCount} blocks is too small for an ext filesystem`, { blocksCount });
    }
    const descBlocks = Math.ceil(groupCount / (blockSize / descSize));
    // As ext2fs_initialize: spread the requested count, fill the inode table blocks, keep a
    // multiple of 8; then grow by 8 until at least `minInodes` (and first_ino + 1) fit.
    const minInodes = Math.max(input.minInodes ?? 0, EXT2_FIRST_INO + 1);
    let ipgWanted = Math.ceil(Math.max(input.inodesCount, 1) / groupCount);
    // A default inode count (from the inode ratio) is a wish, not a demand: cap it at what a
    // group can hold (mke2fs shrinks the groups instead; either is a valid layout).
    if (input.inodesFlexible) ipgWanted = Math.min(ipgWanted, maxInodesPerGroup);
    let ipg = 0;
    let inodeTableBlocks = 0;
    for (;;) {
      inodeTableBlocks = Math.ceil((ipgWanted * inodeSize) / blockSize);
      ipg = Math.min(Math.floor((inodeTableBlocks * blockSize) / inodeSize), maxInodesPerGroup) & ~7;
      inodeTableBlocks = Math.ceil((ipg * inodeSize) / blockSize);
      if (ipg * groupCount >= minInodes || ipg >= (maxInodesPerGroup & ~7)) break;
      ipgWanted = ipg + 8;
    }
    if (ipg * groupCount < minInodes || Math.ceil(input.inodesCount / groupCount) > maxInodesPerGroup || ipg * groupCount > 0xffffffff) {
      throw new ExtimgError(
        'ENOSPC',
        `${input.inodesCount} inodes do not fit in ${groupCount} group(s) of ${blocksCount} ${blockSize}-byte blocks (at most ${Math.min(maxInodesPerGroup * groupCount, 0xffffffff)})`,
        { inodesCount: input.inodesCount },
      );
    }

    // The resize inode maps reserved GDT blocks with 32-bit pointers: none past 2^32 blocks
    // (mke2fs clears resize_inode there).
    let resizeInode = !!input.resizeInode && blocksCount <= 0xffffffff;
    let reservedGdtBlocks = resizeInode ? reservedGdtBlocksFor(blocksCount, blockSize, firstDataBlock, descBlocks, descSize) : 0;
    if (reservedGdtBlocks + descBlocks > (blocksPerGroup * 3) / 4) {
      reservedGdtBlocks = 0;
      resizeInode = false;
    }

    const fullOverhead = 3 + inodeTableBlocks + reservedGdtBlocks + descBlocks;
    if (fullOverhead > blocksPerGroup) {
      throw new ExtimgError('ENOSPC', `too many inodes for ${blockSize}-byte blocks: ${ipg} per group`, { ipg });
    }
    // Drop a last group too small to be worth its metadata (ext2fs_initialize).
    const rem = (blocksCount - firstDataBlock) % blocksPerGroup;
    const lastOverhead = 2 + inodeTableBlocks + (groupHasSuper(groupCount - 1) ? 1 + descBlocks + reservedGdtBlocks : 0);
    if (groupCount === 1 && rem && rem < lastOverhead) {
      throw new ExtimgError('ENOSPC', `an image of ${blocksCount} blocks cannot hold its own metadata (${lastOverhead} blocks)`, {
        blocksCount,
      });
    }
    if (rem && rem < lastOverhead + 50 && groupCount > 1) {
      blocksCount -= rem;
      continue;
    }

    const space = new BlockSpace(firstDataBlock, blocksPerGroup, blocksCount);
    if (firstDataBlock) space.mark(0, 1); // block 0 at 1 KiB blocks is outside every group
    const groups: GroupLayout[] = [];
    let metadataBlocks = firstDataBlock;
    for (let g = 0; g < groupCount; g++) {
      const start = firstDataBlock + g * blocksPerGroup;
      const end = Math.min(start + blocksPerGroup, blocksCount);
      const hasSuper = groupHasSuper(g);
      const baseMeta = hasSuper ? 1 + descBlocks + reservedGdtBlocks : 0;
      if (baseMeta) space.mark(start, baseMeta);
      metadataBlocks += baseMeta;
      groups.push({ index: g, start, end, hasSuper, gdtStart: hasSuper ? start + 1 : 0, blockBitmap: 0, inodeBitmap: 0, inodeTable: 0, dataStart: start + baseMeta, baseMeta });
    }
    const geo: Geometry = {
      blockSize,
      logBlockSize,
      blocksCount,
      firstDataBlock,
      blocksPerGroup,
      groupCount,
      inodeSize,
      inodesPerGroup: ipg,
      inodesCount: ipg * groupCount,
      inodeTableBlocks,
      descSize,
      descBlocks,
      reservedGdtBlocks,
      resizeInode,
      flexSize,
      groups,
      metadataBlocks: metadataBlocks + groupCount * (2 + inodeTableBlocks),
      space,
    };
    if (flexSize) allocateFlexTables(geo);
    else {
      for (const grp of groups) {
        grp.blockBitmap = grp.dataStart;
        grp.inodeBitmap = grp.dataStart + 1;
        grp.inodeTable = grp.dataStart + 2;
        grp.dataStart += 2 + inodeTableBlocks;
        if (grp.dataStart > grp.end) {
          throw new ExtimgError('ENOSPC', `group ${grp.index} is too small for its metadata`, { group: grp.index });
        }
        space.mark(grp.blockBitmap, 2 + inodeTableBlocks);
      }
    }
    return geo;
  }
}

/**
 * flex_bg placement, as ext2fs_allocate_group_table() does it for a new filesystem: for each
 * group, its block bitmap, inode bitmap and inode table go into the flex group's run of each
 * kind, found by flexbg_offset() (the first free stretch from the flex group's first block that
 * holds the whole run, skipping superblock backups), one after the other in group order.
 */
function allocateFlexTables(geo: Geometry): void {
  const { space, flexSize, groupCount, inodeTableBlocks } = geo;
  const groups = geo.groups;
  const lastBlockOfGroup = (g: number): number => groups[g]!.end - 1;
  /** flexbg_offset(fs, group, start_blk, bmap, rem_grp, elem_size). */
  const flexbgOffset = (group: number, startBlk: number, remGrp: number, elemSize: number): number => {
    const flexbg = Math.floor(group / flexSize);
    let size = remGrp * elemSize;
    if (size > geo.blocksPerGroup / 4) size = geo.blocksPerGroup / 4;
    // A previous search is still good: skip small obstructions such as GDT backups.
    if (startBlk && startBlk < geo.blocksCount) {
      const f = space.findFree(startBlk, startBlk + size, elemSize);
      if (f !== undefined) return f;
    }
    const start = groups[flexSize * flexbg]!.start;
    const lastGrp = Math.min(group | (flexSize - 1), groupCount - 1);
    const lastBlk = lastBlockOfGroup(lastGrp);
    return space.findFree(start, lastBlk, size) ?? space.findFree(start, lastBlk, elemSize) ?? space.findFree(0, lastBlk, elemSize) ?? 0;
  };
  const take = (group: number, from: number, lastBlk: number, count: number): number => {
    const b = space.findFree(from, lastBlk, count) ?? space.findFree(groups[group]!.start, lastBlk, count);
    if (b === undefined) throw new ExtimgError('ENOSPC', `no room for the metadata of group ${group}`, { group });
    space.mark(b, count);
    return b;
  };
  for (let g = 0; g < groupCount; g++) {
    const lastGrp = Math.min(g | (flexSize - 1), groupCount - 1);
    const remGrps = lastGrp - g + 1;
    const lastBlk = lastBlockOfGroup(lastGrp);
    let tableOffset = flexSize;
    let prev = 0;
    if (g % flexSize) prev = groups[g - 1]!.blockBitmap + 1;
    else if (lastGrp === groupCount - 1) {
      // The last flex group keeps its tables contiguous.
      tableOffset = lastGrp & (flexSize - 1);
      tableOffset = tableOffset === 0 ? flexSize : tableOffset + 1;
    }
    const grp = groups[g]!;
    grp.blockBitmap = take(g, flexbgOffset(g, prev, remGrps, 1), lastBlk, 1);
    prev = g % flexSize ? groups[g - 1]!.inodeBitmap + 1 : grp.blockBitmap + tableOffset;
    grp.inodeBitmap = take(g, flexbgOffset(g, prev, remGrps, 1), lastBlk, 1);
    prev = g % flexSize ? groups[g - 1]!.inodeTable + inodeTableBlocks : grp.inodeBitmap + tableOffset;
    const itStart = flexbgOffset(g, prev, remGrps, inodeTableBlocks);
    const it = space.findFree(itStart, lastBlk, inodeTableBlocks);
    if (it === undefined) throw new ExtimgError('ENOSPC', `no room for the inode table of group ${g}`, { group: g });
    space.mark(it, inodeTableBlocks);
    grp.inodeTable = it;
  }
}

/** ext2fs_default_journal_size(); below 2048 blocks mke2fs refuses, we use the jbd2 minimum. */
export function defaultJournalBlocks(blocksCount: number): number {
  if (blocksCount < 32768) return 1024;
  if (blocksCount < 256 * 1024) return 4096;
  if (blocksCount < 512 * 1024) return 8192;
  if (blocksCount < 4096 * 1024) return 16384;
  if (blocksCount < 8192 * 1024) return 32768;
  if (blocksCount < 16384 * 1024) return 65536;
  if (blocksCount < 32768 * 1024) return 131072;
  return 262144;
}
