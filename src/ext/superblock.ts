import { groupDescChecksum, groupDescCrc16, setSuperblockChecksum, uuidChecksumSeed } from './checksum.js';
import {
  EXT2_DEFM_ACL,
  EXT2_DEFM_XATTR_USER,
  EXT2_DYNAMIC_REV,
  EXT2_ERRORS_CONTINUE,
  EXT2_EXTRA_ISIZE,
  EXT2_FIRST_INO,
  EXT2_FLAGS_SIGNED_HASH,
  EXT2_HASH_HALF_MD4,
  EXT2_OS_LINUX,
  EXT2_SUPER_MAGIC,
  EXT2_VALID_FS,
  EXT3_JNL_BACKUP_BLOCKS,
} from './constants.js';
import type { Features } from './features.js';
import type { Geometry } from './geometry.js';
import { GROUP_DESC_64, SUPERBLOCK } from './struct.js';

/** bg_flags (fs/ext4/ext4.h). */
export const EXT4_BG_INODE_UNINIT = 0x0001;
export const EXT4_BG_BLOCK_UNINIT = 0x0002;
export const EXT4_BG_INODE_ZEROED = 0x0004;
/** s_checksum_type: crc32c, the only one ext4 defines. */
export const EXT4_CRC32C_CHKSUM = 1;

export interface SuperblockInput {
  geo: Geometry;
  features: Features;
  freeBlocks: number;
  freeInodes: number;
  reservedBlocks: number;
  time: number;
  uuid: Uint8Array;
  hashSeed: Uint8Array;
  label: Uint8Array;
  reservedGdtBlocks: number;
  journalInode: number;
  /** The journal inode's i_block, kept in s_jnl_blocks as a backup (EXT3_JNL_BACKUP_BLOCKS). */
  jnlBlocks?: Uint8Array;
  journalBytes: number;
}

const hi32 = (v: number): number => Math.floor(v / 0x100000000);
const lo32 = (v: number): number => v % 0x100000000;

/** The superblock as mke2fs writes it; `group` is s_block_group_nr (0 = primary). */
export function encodeSuperblock(s: SuperblockInput, group: number): Uint8Array {
  const g = s.geo;
  const f = s.features;
  const b = SUPERBLOCK.encode({
    s_inodes_count: g.inodesCount,
    s_blocks_count_lo: lo32(g.blocksCount),
    s_r_blocks_count_lo: lo32(s.reservedBlocks),
    s_free_blocks_count_lo: lo32(s.freeBlocks),
    s_free_inodes_count: s.freeInodes,
    s_first_data_block: g.firstDataBlock,
    s_log_block_size: g.logBlockSize,
    s_log_cluster_size: g.logBlockSize,
    s_blocks_per_group: g.blocksPerGroup,
    s_clusters_per_group: g.blocksPerGroup,
    s_inodes_per_group: g.inodesPerGroup,
    s_wtime: s.time,
    s_max_mnt_count: 0xffff, // -1: no mount-count checks (enable_periodic_fsck = 0)
    s_magic: EXT2_SUPER_MAGIC,
    s_state: EXT2_VALID_FS,
    s_errors: EXT2_ERRORS_CONTINUE,
    s_lastcheck: s.time,
    s_creator_os: EXT2_OS_LINUX,
    s_rev_level: EXT2_DYNAMIC_REV,
    s_first_ino: EXT2_FIRST_INO,
    s_inode_size: g.inodeSize,
    s_block_group_nr: group & 0xffff,
    s_feature_compat: f.compat,
    s_feature_incompat: f.incompat,
    s_feature_ro_compat: f.roCompat,
    s_uuid: s.uuid,
    s_volume_name: s.label,
    s_reserved_gdt_blocks: s.reservedGdtBlocks,
    s_journal_inum: s.journalInode,
    s_hash_seed: s.hashSeed,
    s_def_hash_version: EXT2_HASH_HALF_MD4,
    s_default_mount_opts: EXT2_DEFM_XATTR_USER | EXT2_DEFM_ACL,
    s_mkfs_time: s.time,
    s_flags: EXT2_FLAGS_SIGNED_HASH,
  });
  const dv = new DataView(b.buffer);
  if (s.jnlBlocks) {
    b[SUPERBLOCK.off.s_jnl_backup_type] = EXT3_JNL_BACKUP_BLOCKS;
    b.set(s.jnlBlocks.subarray(0, 60), SUPERBLOCK.off.s_jnl_blocks);
    dv.setUint32(SUPERBLOCK.off.s_jnl_blocks + 15 * 4, hi32(s.journalBytes), true);
    dv.setUint32(SUPERBLOCK.off.s_jnl_blocks + 16 * 4, lo32(s.journalBytes), true);
  }
  if (g.inodeSize > 128) {
    SUPERBLOCK.set(dv, 0, 's_min_extra_isize', EXT2_EXTRA_ISIZE);
    SUPERBLOCK.set(dv, 0, 's_want_extra_isize', EXT2_EXTRA_ISIZE);
  }
  if (f.has('64bit')) {
    SUPERBLOCK.set(dv, 0, 's_desc_size', g.descSize);
    SUPERBLOCK.set(dv, 0, 's_blocks_count_hi', hi32(g.blocksCount));
    SUPERBLOCK.set(dv, 0, 's_r_blocks_count_hi', hi32(s.reservedBlocks));
    SUPERBLOCK.set(dv, 0, 's_free_blocks_count_hi', hi32(s.freeBlocks));
  }
  if (f.has('flex_bg')) SUPERBLOCK.set(dv, 0, 's_log_groups_per_flex', Math.log2(g.flexSize));
  if (f.metadataCsum) {
    SUPERBLOCK.set(dv, 0, 's_checksum_type', EXT4_CRC32C_CHKSUM);
    if (f.has('metadata_csum_seed')) SUPERBLOCK.set(dv, 0, 's_checksum_seed', uuidChecksumSeed(s.uuid));
    setSuperblockChecksum(b);
  }
  return b;
}

/** What each group's descriptor reports. */
export interface GroupStats {
  freeBlocks: number[];
  freeInodes: number[];
  usedDirs: number[];
  flags: number[];
  itableUnused: number[];
  /** metadata_csum: bitmap checksums (0 for uninitialized bitmaps, as mke2fs leaves them). */
  blockBitmapCsum?: number[];
  inodeBitmapCsum?: number[];
}

/** All group descriptors (32 or 64 bytes each, s_desc_size), padded to whole GDT blocks. */
export function encodeGroupDescriptors(g: Geometry, f: Features, st: GroupStats, uuid: Uint8Array, csumSeed: number): Uint8Array {
  const size = g.descSize;
  const b = new Uint8Array(g.descBlocks * g.blockSize);
  const dv = new DataView(b.buffer);
  const wide = size >= 64;
  for (const grp of g.groups) {
    const i = grp.index;
    const at = i * size;
    const set = <K extends Parameters<typeof GROUP_DESC_64.set>[2]>(k: K, v: number): void => GROUP_DESC_64.set(dv, at, k, v as never);
    set('bg_block_bitmap_lo', lo32(grp.blockBitmap));
    set('bg_inode_bitmap_lo', lo32(grp.inodeBitmap));
    set('bg_inode_table_lo', lo32(grp.inodeTable));
    set('bg_free_blocks_count_lo', st.freeBlocks[i]! & 0xffff);
    set('bg_free_inodes_count_lo', st.freeInodes[i]! & 0xffff);
    set('bg_used_dirs_count_lo', st.usedDirs[i]! & 0xffff);
    set('bg_flags', st.flags[i]!);
    set('bg_itable_unused_lo', st.itableUnused[i]! & 0xffff);
    if (st.blockBitmapCsum) set('bg_block_bitmap_csum_lo', st.blockBitmapCsum[i]! & 0xffff);
    if (st.inodeBitmapCsum) set('bg_inode_bitmap_csum_lo', st.inodeBitmapCsum[i]! & 0xffff);
    if (wide) {
      set('bg_block_bitmap_hi', hi32(grp.blockBitmap));
      set('bg_inode_bitmap_hi', hi32(grp.inodeBitmap));
      set('bg_inode_table_hi', hi32(grp.inodeTable));
      set('bg_free_blocks_count_hi', st.freeBlocks[i]! >>> 16);
      set('bg_free_inodes_count_hi', st.freeInodes[i]! >>> 16);
      set('bg_used_dirs_count_hi', st.usedDirs[i]! >>> 16);
      set('bg_itable_unused_hi', st.itableUnused[i]! >>> 16);
      if (st.blockBitmapCsum) set('bg_block_bitmap_csum_hi', st.blockBitmapCsum[i]! >>> 16);
      if (st.inodeBitmapCsum) set('bg_inode_bitmap_csum_hi', st.inodeBitmapCsum[i]! >>> 16);
    }
    const desc = b.subarray(at, at + size);
    if (f.metadataCsum) set('bg_checksum', groupDescChecksum(csumSeed, i, desc, size));
    else if (f.has('uninit_bg')) set('bg_checksum', groupDescCrc16(uuid, i, desc, size));
  }
  return b;
}
