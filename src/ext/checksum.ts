/**
 * ext4 metadata_csum and jbd2 checksums, one function per on-disk structure. Each takes the raw
 * bytes (a structure or a whole block, as a zero-copy view) and returns the value to store;
 * only the `set…`/`write…` functions write into the buffer. Checksummed fields are fed to the CRC
 * as zeros without copying the structure (crc32cZeros), which is what the kernel's "dummy_csum"
 * and e2fsprogs' "zero the field, checksum, restore" both amount to.
 *
 * Sources (facts only): the kernel's fs/ext4/{super,inode,bitmap,extents,namei,xattr}.c,
 * fs/jbd2/journal.c, e2fsprogs lib/ext2fs/csum.c, Documentation/filesystems/ext4/checksums.rst.
 */
import { crc16, crc32cLe32, crc32cUpdate, crc32cZeros } from './crc32c.js';
import { GD, IN, JSB, SB } from './struct.js';

const CRC32C_SEED = 0xffffffff; // "~0"

export const EXT4_FEATURE_INCOMPAT_64BIT = 0x0080;
export const EXT4_FEATURE_INCOMPAT_CSUM_SEED = 0x2000;
export const EXT4_FEATURE_RO_COMPAT_GDT_CSUM = 0x0010;
export const EXT4_FEATURE_RO_COMPAT_METADATA_CSUM = 0x0400;
/** s_checksum_type: the only algorithm ext4 defines. */
export const EXT4_CRC32C_CHKSUM = 1;
/** jbd2 s_feature_incompat bits and s_checksum_type (include/linux/jbd2.h). */
export const JBD2_FEATURE_INCOMPAT_CSUM_V2 = 0x0008;
export const JBD2_FEATURE_INCOMPAT_CSUM_V3 = 0x0010;
export const JBD2_CRC32C_CHKSUM = 4;

/** struct ext4_group_desc, the 64-byte (64bit feature) half: fields struct.ts's GROUP_DESC lacks. */
export const GD64 = {
  bg_block_bitmap_csum_hi: 0x38,
  bg_inode_bitmap_csum_hi: 0x3a,
} as const;
/** EXT4_BG_{BLOCK,INODE}_BITMAP_CSUM_HI_END: s_desc_size must reach this for the hi halves. */
const BG_BLOCK_BITMAP_CSUM_HI_END = GD64.bg_block_bitmap_csum_hi + 2;
const BG_INODE_BITMAP_CSUM_HI_END = GD64.bg_inode_bitmap_csum_hi + 2;

/** EXT4_INODE_CSUM_HI_EXTRA_END: i_extra_isize must cover i_checksum_hi for it to be used. */
const INODE_CSUM_HI_EXTRA_END = IN.i_checksum_hi + 2 - 128;

/** struct ext4_extent_header / ext4_extent / ext4_extent_tail (fs/ext4/ext4_extents.h). */
export const EXTENT_HEADER = { eh_magic: 0x0, eh_entries: 0x2, eh_max: 0x4, eh_depth: 0x6, eh_generation: 0x8, size: 12 } as const;
export const EXTENT_ENTRY_SIZE = 12;

/** struct ext4_dir_entry_tail (fs/ext4/ext4.h): a fake 12-byte dirent at the end of a leaf block. */
export const DIR_ENTRY_TAIL = {
  det_reserved_zero1: 0x0,
  det_rec_len: 0x4,
  det_reserved_zero2: 0x6,
  det_reserved_ft: 0x7,
  det_checksum: 0x8,
  size: 12,
} as const;
/** EXT4_FT_DIR_CSUM: det_reserved_ft of the tail. */
export const EXT4_FT_DIR_CSUM = 0xde;

/** struct dx_root_info (fs/ext4/namei.c), after the fake "." (12 bytes) and ".." (12 bytes). */
export const DX_ROOT_INFO = { reserved_zero: 0x18, hash_version: 0x1c, info_length: 0x1d, indirect_levels: 0x1e, unused_flags: 0x1f } as const;
/** struct dx_countlimit offset in a dx root (after dx_root_info) and in a dx node (after the fake dirent). */
export const DX_ROOT_COUNT_OFFSET = 0x20;
export const DX_NODE_COUNT_OFFSET = 0x8;
/** struct dx_countlimit { limit, count } and struct dx_entry { hash, block }. */
export const DX_COUNTLIMIT = { limit: 0x0, count: 0x2 } as const;
export const DX_ENTRY_SIZE = 8;
/** struct dx_tail { dt_reserved, dt_checksum }. */
export const DX_TAIL = { dt_reserved: 0x0, dt_checksum: 0x4, size: 8 } as const;

/** struct ext4_xattr_header (fs/ext4/xattr.h): h_checksum inside the 32-byte block header. */
export const XATTR_HEADER = { h_magic: 0x0, h_refcount: 0x4, h_blocks: 0x8, h_hash: 0xc, h_checksum: 0x10 } as const;

function le16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}
function le32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}
function putLe16(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}
function putLe32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

// ---- filesystem seed and superblock ------------------------------------------------------------

/**
 * The per-filesystem seed every other metadata checksum starts from: s_checksum_seed when the
 * csum_seed feature is set, else crc32c(~0, s_uuid). Kernel ext4_fill_super / e2fsprogs
 * ext2fs_init_csum_seed. `sb` is the 1024-byte superblock.
 */
export function fsChecksumSeed(sb: Uint8Array): number {
  if (le32(sb, SB.s_feature_incompat) & EXT4_FEATURE_INCOMPAT_CSUM_SEED) return le32(sb, SB.s_checksum_seed);
  return uuidChecksumSeed(sb.subarray(SB.s_uuid, SB.s_uuid + 16));
}

/** crc32c(~0, uuid): the seed without csum_seed, and what s_checksum_seed is set to by tune2fs. */
export function uuidChecksumSeed(uuid: Uint8Array): number {
  return crc32cUpdate(CRC32C_SEED, uuid, 0, 16);
}

/** s_checksum: crc32c(~0) over the superblock's first 0x3FC bytes. Kernel ext4_superblock_csum. */
export function superblockChecksum(sb: Uint8Array): number {
  return crc32cUpdate(CRC32C_SEED, sb, 0, SB.s_checksum);
}

export function setSuperblockChecksum(sb: Uint8Array): void {
  putLe32(sb, SB.s_checksum, superblockChecksum(sb));
}

// ---- group descriptors ------------------------------------------------------------------------

/**
 * bg_checksum with metadata_csum: crc32c(seed, le32 group, descriptor with bg_checksum as zero,
 * over s_desc_size bytes), low 16 bits. Kernel ext4_group_desc_csum / e2fsprogs
 * ext2fs_group_desc_csum. `desc` is the descriptor (descSize bytes: 32 without 64bit).
 */
export function groupDescChecksum(seed: number, group: number, desc: Uint8Array, descSize: number = desc.length): number {
  let c = crc32cLe32(seed, group);
  c = crc32cUpdate(c, desc, 0, GD.bg_checksum);
  c = crc32cZeros(c, 2);
  c = crc32cUpdate(c, desc, GD.bg_checksum + 2, descSize);
  return c & 0xffff;
}

/**
 * bg_checksum with gdt_csum (uninit_bg) and no metadata_csum: crc16(~0, s_uuid, le32 group,
 * descriptor minus bg_checksum; the part past 32 bytes only with 64bit, where s_desc_size > 32).
 * Kernel ext4_group_desc_csum's crc16 branch.
 */
export function groupDescCrc16(uuid: Uint8Array, group: number, desc: Uint8Array, descSize: number = desc.length): number {
  let c = crc16(0xffff, uuid, 0, 16);
  const g = new Uint8Array(4);
  putLe32(g, 0, group);
  c = crc16(c, g);
  c = crc16(c, desc, 0, GD.bg_checksum);
  return crc16(c, desc, GD.bg_checksum + 2, descSize);
}

/** Write bg_checksum (metadata_csum). Call after the bitmap checksums are in the descriptor. */
export function setGroupDescChecksum(seed: number, group: number, desc: Uint8Array, descSize: number = desc.length): void {
  putLe16(desc, GD.bg_checksum, groupDescChecksum(seed, group, desc, descSize));
}

// ---- bitmaps ----------------------------------------------------------------------------------

/**
 * Block bitmap checksum: crc32c(seed) over clusters_per_group / 8 bytes (not the whole block).
 * Kernel ext4_block_bitmap_csum_set (fs/ext4/bitmap.c). Full 32 bits; see setBitmapChecksums.
 */
export function blockBitmapChecksum(seed: number, bitmap: Uint8Array, clustersPerGroup: number): number {
  return crc32cUpdate(seed, bitmap, 0, clustersPerGroup >>> 3);
}

/** Inode bitmap checksum: crc32c(seed) over inodes_per_group / 8 bytes. Kernel ext4_inode_bitmap_csum_set. */
export function inodeBitmapChecksum(seed: number, bitmap: Uint8Array, inodesPerGroup: number): number {
  return crc32cUpdate(seed, bitmap, 0, inodesPerGroup >>> 3);
}

/** The bitmap checksums a descriptor stores: lo 16 bits, plus the hi halves when s_desc_size reaches them. */
export function storedBitmapChecksums(desc: Uint8Array, descSize: number): { block: number; inode: number; hasHi: boolean } {
  let block = le16(desc, GD.bg_block_bitmap_csum_lo);
  let inode = le16(desc, GD.bg_inode_bitmap_csum_lo);
  if (descSize >= BG_BLOCK_BITMAP_CSUM_HI_END) block = (block | (le16(desc, GD64.bg_block_bitmap_csum_hi) << 16)) >>> 0;
  if (descSize >= BG_INODE_BITMAP_CSUM_HI_END) inode = (inode | (le16(desc, GD64.bg_inode_bitmap_csum_hi) << 16)) >>> 0;
  return { block, inode, hasHi: descSize >= BG_INODE_BITMAP_CSUM_HI_END };
}

/** Store both bitmap checksums in a descriptor: lo halves always, hi halves if descSize holds them. */
export function setBitmapChecksums(desc: Uint8Array, descSize: number, blockCsum: number, inodeCsum: number): void {
  putLe16(desc, GD.bg_block_bitmap_csum_lo, blockCsum & 0xffff);
  putLe16(desc, GD.bg_inode_bitmap_csum_lo, inodeCsum & 0xffff);
  if (descSize >= BG_BLOCK_BITMAP_CSUM_HI_END) putLe16(desc, GD64.bg_block_bitmap_csum_hi, blockCsum >>> 16);
  if (descSize >= BG_INODE_BITMAP_CSUM_HI_END) putLe16(desc, GD64.bg_inode_bitmap_csum_hi, inodeCsum >>> 16);
}

// ---- inodes -----------------------------------------------------------------------------------

/**
 * The per-inode seed (the kernel's ei->i_csum_seed, set in __ext4_iget / __ext4_new_inode):
 * crc32c(fs seed, le32 inode number, le32 i_generation). Extent, directory and htree blocks
 * start from it.
 */
export function inodeChecksumSeed(seed: number, ino: number, generation: number): number {
  return crc32cLe32(crc32cLe32(seed, ino), generation);
}

/**
 * Whether i_checksum_hi is part of the inode: s_inode_size > 128 and i_extra_isize >= 4
 * (EXT4_FITS_IN_INODE in the kernel, has_hi in e2fsprogs ext2fs_inode_csum_verify).
 */
export function inodeHasChecksumHi(inode: Uint8Array, inodeSize: number): boolean {
  return inodeSize > 128 && le16(inode, IN.i_extra_isize) >= INODE_CSUM_HI_EXTRA_END;
}

/**
 * The full 32-bit inode checksum: crc32c(inode seed, the whole s_inode_size bytes with
 * l_i_checksum_lo, and i_checksum_hi when present, as zero). When i_checksum_hi is not present its
 * bytes (if any) are checksummed as they are. Stored: lo 16 bits always, hi 16 bits only when
 * inodeHasChecksumHi. Kernel ext4_inode_csum / e2fsprogs ext2fs_inode_csum.
 */
export function inodeChecksum(seed: number, ino: number, inode: Uint8Array, inodeSize: number = inode.length): number {
  let c = inodeChecksumSeed(seed, ino, le32(inode, IN.i_generation));
  c = crc32cUpdate(c, inode, 0, IN.l_i_checksum_lo);
  c = crc32cZeros(c, 2);
  if (inodeHasChecksumHi(inode, inodeSize)) {
    c = crc32cUpdate(c, inode, IN.l_i_checksum_lo + 2, IN.i_checksum_hi);
    c = crc32cZeros(c, 2);
    c = crc32cUpdate(c, inode, IN.i_checksum_hi + 2, inodeSize);
  } else {
    c = crc32cUpdate(c, inode, IN.l_i_checksum_lo + 2, inodeSize);
  }
  return c;
}

/** The checksum an inode stores (lo, or lo | hi << 16), to compare with inodeChecksum's masked value. */
export function storedInodeChecksum(inode: Uint8Array, inodeSize: number = inode.length): number {
  const lo = le16(inode, IN.l_i_checksum_lo);
  return inodeHasChecksumHi(inode, inodeSize) ? (lo | (le16(inode, IN.i_checksum_hi) << 16)) >>> 0 : lo;
}

/** inodeChecksum reduced to what the inode can hold (16 bits without i_checksum_hi). */
export function inodeChecksumStored(seed: number, ino: number, inode: Uint8Array, inodeSize: number = inode.length): number {
  const c = inodeChecksum(seed, ino, inode, inodeSize);
  return inodeHasChecksumHi(inode, inodeSize) ? c : c & 0xffff;
}

/** Write l_i_checksum_lo (and i_checksum_hi when present). Kernel ext4_inode_csum_set. */
export function setInodeChecksum(seed: number, ino: number, inode: Uint8Array, inodeSize: number = inode.length): void {
  const c = inodeChecksum(seed, ino, inode, inodeSize);
  putLe16(inode, IN.l_i_checksum_lo, c & 0xffff);
  if (inodeHasChecksumHi(inode, inodeSize)) putLe16(inode, IN.i_checksum_hi, c >>> 16);
}

// ---- extent tree blocks -----------------------------------------------------------------------

/** EXT4_EXTENT_TAIL_OFFSET: the ext4_extent_tail sits after eh_max entries, not after eh_entries. */
export function extentTailOffset(block: Uint8Array): number {
  return EXTENT_HEADER.size + EXTENT_ENTRY_SIZE * le16(block, EXTENT_HEADER.eh_max);
}

/**
 * et_checksum of an extent tree block (index or leaf, not the root in i_block): crc32c(inode
 * seed, block[0, tail offset)). Kernel ext4_extent_block_csum.
 */
export function extentBlockChecksum(inodeSeed: number, block: Uint8Array): number {
  return crc32cUpdate(inodeSeed, block, 0, extentTailOffset(block));
}

export function storedExtentBlockChecksum(block: Uint8Array): number {
  return le32(block, extentTailOffset(block));
}

export function setExtentBlockChecksum(inodeSeed: number, block: Uint8Array): void {
  putLe32(block, extentTailOffset(block), extentBlockChecksum(inodeSeed, block));
}

// ---- directory leaf blocks --------------------------------------------------------------------

/** Whether the last 12 bytes of a block are an ext4_dir_entry_tail (e2fsprogs __get_dirent_tail's test). */
export function hasDirEntryTail(block: Uint8Array): boolean {
  const t = block.length - DIR_ENTRY_TAIL.size;
  return (
    le32(block, t + DIR_ENTRY_TAIL.det_reserved_zero1) === 0 &&
    le16(block, t + DIR_ENTRY_TAIL.det_rec_len) === DIR_ENTRY_TAIL.size &&
    block[t + DIR_ENTRY_TAIL.det_reserved_zero2] === 0 &&
    block[t + DIR_ENTRY_TAIL.det_reserved_ft] === EXT4_FT_DIR_CSUM
  );
}

/** Write the fake tail dirent (checksum 0) into the last 12 bytes of a directory leaf block. */
export function writeDirEntryTail(block: Uint8Array): void {
  const t = block.length - DIR_ENTRY_TAIL.size;
  block.fill(0, t, block.length);
  putLe16(block, t + DIR_ENTRY_TAIL.det_rec_len, DIR_ENTRY_TAIL.size);
  block[t + DIR_ENTRY_TAIL.det_reserved_ft] = EXT4_FT_DIR_CSUM;
}

/**
 * det_checksum of a linear directory leaf block: crc32c(inode seed, block[0, blocksize - 12)),
 * i.e. everything before the tail. Kernel ext4_dirblock_csum / e2fsprogs ext2fs_dirent_csum.
 * `block` is the whole directory block.
 */
export function dirBlockChecksum(inodeSeed: number, block: Uint8Array): number {
  return crc32cUpdate(inodeSeed, block, 0, block.length - DIR_ENTRY_TAIL.size);
}

export function storedDirBlockChecksum(block: Uint8Array): number {
  return le32(block, block.length - DIR_ENTRY_TAIL.size + DIR_ENTRY_TAIL.det_checksum);
}

export function setDirBlockChecksum(inodeSeed: number, block: Uint8Array): void {
  putLe32(block, block.length - DIR_ENTRY_TAIL.size + DIR_ENTRY_TAIL.det_checksum, dirBlockChecksum(inodeSeed, block));
}

// ---- htree (dx) blocks ------------------------------------------------------------------------

/** ext4_rec_len_from_disk: 65536-byte blocks store a full-block rec_len as 0 or 65535. */
function recLen(block: Uint8Array, o: number): number {
  const len = le16(block, o);
  return block.length >= 65536 && (len === 0 || len === 65535) ? 65536 : len;
}

/**
 * Where struct dx_countlimit starts in an htree block, or -1 if the block is neither a dx root
 * ("." with rec_len 12, ".." spanning the rest, a valid dx_root_info) nor a dx node (one empty
 * dirent spanning the block). Kernel get_dx_countlimit (fs/ext4/namei.c).
 */
export function dxCountOffset(block: Uint8Array): number {
  const first = recLen(block, 4);
  if (first === block.length && block[6] === 0) return DX_NODE_COUNT_OFFSET;
  if (first !== 12) return -1;
  if (recLen(block, 12 + 4) !== block.length - 12) return -1;
  if (le32(block, DX_ROOT_INFO.reserved_zero) !== 0 || block[DX_ROOT_INFO.info_length] !== 8) return -1;
  return DX_ROOT_COUNT_OFFSET;
}

/** Offset of the dx_tail: after `limit` dx_entries (counted from the countlimit, which is entry 0). */
export function dxTailOffset(block: Uint8Array, countOffset: number = dxCountOffset(block)): number {
  return countOffset + DX_ENTRY_SIZE * le16(block, countOffset + DX_COUNTLIMIT.limit);
}

/**
 * dt_checksum of an htree root or interior node: crc32c(inode seed, block[0, count_offset +
 * count * 8), then dt_reserved, then a zero dt_checksum). The unused entries between count and
 * limit are not covered. Kernel ext4_dx_csum / e2fsprogs ext2fs_dx_csum. `countOffset` is 32 for
 * the root (dx_root_info length 8) and 8 for nodes; found from the block when omitted.
 */
export function dxNodeChecksum(inodeSeed: number, block: Uint8Array, countOffset: number = dxCountOffset(block)): number {
  if (countOffset < 0) throw new RangeError('not an htree root or node block');
  const count = le16(block, countOffset + DX_COUNTLIMIT.count);
  const tail = dxTailOffset(block, countOffset);
  let c = crc32cUpdate(inodeSeed, block, 0, countOffset + DX_ENTRY_SIZE * count);
  c = crc32cUpdate(c, block, tail + DX_TAIL.dt_reserved, tail + DX_TAIL.dt_checksum);
  return crc32cZeros(c, 4);
}

export function storedDxNodeChecksum(block: Uint8Array, countOffset: number = dxCountOffset(block)): number {
  return le32(block, dxTailOffset(block, countOffset) + DX_TAIL.dt_checksum);
}

export function setDxNodeChecksum(inodeSeed: number, block: Uint8Array, countOffset: number = dxCountOffset(block)): void {
  putLe32(block, dxTailOffset(block, countOffset) + DX_TAIL.dt_checksum, dxNodeChecksum(inodeSeed, block, countOffset));
}

// ---- xattr blocks -----------------------------------------------------------------------------

/**
 * h_checksum of an external xattr block: crc32c(fs seed, le64 block number, the block with
 * h_checksum as zero). The fs seed, not the inode's: shared blocks belong to no single inode.
 * Kernel ext4_xattr_block_csum / e2fsprogs ext2fs_ext_attr_block_csum.
 */
export function xattrBlockChecksum(seed: number, blockNr: number, block: Uint8Array): number {
  let c = crc32cLe32(seed, blockNr >>> 0);
  c = crc32cLe32(c, Math.floor(blockNr / 0x100000000));
  c = crc32cUpdate(c, block, 0, XATTR_HEADER.h_checksum);
  c = crc32cZeros(c, 4);
  return crc32cUpdate(c, block, XATTR_HEADER.h_checksum + 4, block.length);
}

export function storedXattrBlockChecksum(block: Uint8Array): number {
  return le32(block, XATTR_HEADER.h_checksum);
}

export function setXattrBlockChecksum(seed: number, blockNr: number, block: Uint8Array): void {
  putLe32(block, XATTR_HEADER.h_checksum, xattrBlockChecksum(seed, blockNr, block));
}

// ---- jbd2 superblock --------------------------------------------------------------------------

/**
 * s_checksum of the jbd2 superblock (CSUM_V2/V3, s_checksum_type 4): crc32c(~0, the 1024-byte
 * journal_superblock_t with s_checksum as zero), stored big-endian like all of jbd2.
 * Kernel jbd2_superblock_csum (fs/jbd2/journal.c). `jsb` holds at least 1024 bytes.
 */
export function journalSuperblockChecksum(jsb: Uint8Array): number {
  let c = crc32cUpdate(CRC32C_SEED, jsb, 0, JSB.s_checksum);
  c = crc32cZeros(c, 4);
  return crc32cUpdate(c, jsb, JSB.s_checksum + 4, 1024);
}

export function storedJournalSuperblockChecksum(jsb: Uint8Array): number {
  return ((jsb[JSB.s_checksum]! << 24) | (jsb[JSB.s_checksum + 1]! << 16) | (jsb[JSB.s_checksum + 2]! << 8) | jsb[JSB.s_checksum + 3]!) >>> 0;
}

export function setJournalSuperblockChecksum(jsb: Uint8Array): void {
  const c = journalSuperblockChecksum(jsb);
  jsb[JSB.s_checksum] = c >>> 24;
  jsb[JSB.s_checksum + 1] = (c >>> 16) & 0xff;
  jsb[JSB.s_checksum + 2] = (c >>> 8) & 0xff;
  jsb[JSB.s_checksum + 3] = c & 0xff;
}
