import { ExtimgError } from '../errors.js';
import { EXT2_FIRST_INO } from './constants.js';

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
  /** First block after the metadata: data starts here. */
  dataStart: number;
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
  descBlocks: number;
  reservedGdtBlocks: number;
  groups: GroupLayout[];
  /** Blocks taken by group metadata (superblocks, GDTs, reserved GDT, bitmaps, inode tables). */
  metadataBlocks: number;
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
export function reservedGdtBlocksFor(blocksCount: number, blockSize: number, firstDataBlock: number, descBlocks: number): number {
  const bpg = blockSize * 8;
  const gdpb = blockSize / 32;
  let maxBlocks = 0xffffffff;
  if (blocksCount < Math.floor(maxBlocks / 1024)) maxBlocks = blocksCount * 1024;
  const rsvGroups = Math.ceil((maxBlocks - firstDataBlock) / bpg);
  let rsv = Math.ceil(rsvGroups / gdpb) - descBlocks;
  if (rsv > blockSize / 4) rsv = blockSize / 4;
  return Math.max(0, rsv);
}

/**
 * Lay out groups as ext2fs_initialize() does for ext2/ext3 without flex_bg: in each group the
 * superblock backup and GDT (when the group has one), then the reserved GDT blocks, block
 * bitmap, inode bitmap and inode table. A last group too small for its own metadata plus 50
 * blocks is dropped, as mke2fs does.
 */
export function computeGeometry(input: GeometryInput): Geometry {
  const { blockSize, inodeSize } = input;
  if (![1024, 2048, 4096].includes(blockSize)) {
    throw new ExtimgError('EUSAGE', `block size ${blockSize} is not supported (1024, 2048 or 4096)`, { blockSize });
  }
  if (inodeSize !== 128 && inodeSize !== 256) {
    throw new ExtimgError('EUSAGE', `inode size ${inodeSize} is not supported (128 or 256)`, { inodeSize });
  }
  const logBlockSize = Math.log2(blockSize) - 10;
  const firstDataBlock = blockSize === 1024 ? 1 : 0;
  const blocksPerGroup = blockSize * 8;
  const inodesPerBlock = blockSize / inodeSize;
  const maxInodesPerGroup = Math.min(blockSize * 8, 65536 - inodesPerBlock);
  let blocksCount = Math.floor(input.blocksCount);
  if (blocksCount > 0xffffffff) {
    throw new ExtimgError('ETOOBIG', `${blocksCount} blocks exceed the 2^32 block limit of ext2/ext3 at ${blockSize}-byte blocks`, {
      blocksCount,
    });
  }

  for (;;) {
    const groupCount = Math.ceil((blocksCount - firstDataBlock) / blocksPerGroup);
    if (groupCount <= 0 || blocksCount < 64) {
      throw new ExtimgError('ENOSPC', `an image of ${blocksCount} blocks is too small for an ext filesystem`, { blocksCount });
    }
    const descBlocks = Math.ceil(groupCount / (blockSize / 32));
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
    if (ipg * groupCount < minInodes || Math.ceil(input.inodesCount / groupCount) > maxInodesPerGroup) {
      throw new ExtimgError(
        'ENOSPC',
        `${input.inodesCount} inodes do not fit in ${groupCount} group(s) of ${blocksCount} ${blockSize}-byte blocks (at most ${maxInodesPerGroup * groupCount})`,
        { inodesCount: input.inodesCount },
      );
    }

    let reservedGdtBlocks = input.resizeInode ? reservedGdtBlocksFor(blocksCount, blockSize, firstDataBlock, descBlocks) : 0;
    if (reservedGdtBlocks + descBlocks > (blocksPerGroup * 3) / 4) reservedGdtBlocks = 0;

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

    const groups: GroupLayout[] = [];
    let metadataBlocks = firstDataBlock; // block 0 at 1 KiB blocks is outside every group
    for (let g = 0; g < groupCount; g++) {
      const start = firstDataBlock + g * blocksPerGroup;
      const end = Math.min(start + blocksPerGroup, blocksCount);
      const hasSuper = groupHasSuper(g);
      let b = start;
      let gdtStart = 0;
      if (hasSuper) {
        b += 1;
        gdtStart = b;
        b += descBlocks + reservedGdtBlocks;
      }
      const blockBitmap = b++;
      const inodeBitmap = b++;
      const inodeTable = b;
      b += inodeTableBlocks;
      if (b > end) {
        throw new ExtimgError('ENOSPC', `group ${g} is too small for its metadata`, { group: g });
      }
      metadataBlocks += b - start;
      groups.push({ index: g, start, end, hasSuper, gdtStart, blockBitmap, inodeBitmap, inodeTable, dataStart: b });
    }
    return {
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
      descBlocks,
      reservedGdtBlocks,
      groups,
      metadataBlocks,
    };
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
