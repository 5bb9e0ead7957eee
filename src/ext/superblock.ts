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
import type { Geometry } from './geometry.js';
import { GD, GROUP_DESC, SB, SUPERBLOCK } from './struct.js';

export interface SuperblockInput {
  geo: Geometry;
  freeBlocks: number;
  freeInodes: number;
  reservedBlocks: number;
  time: number;
  uuid: Uint8Array;
  hashSeed: Uint8Array;
  label: Uint8Array;
  compat: number;
  incompat: number;
  roCompat: number;
  reservedGdtBlocks: number;
  journalInode: number;
  /** The journal inode's i_block, kept in s_jnl_blocks as a backup (EXT3_JNL_BACKUP_BLOCKS). */
  jnlBlocks?: Uint32Array;
  journalBytes: number;
}

/** The superblock as mke2fs writes it for ext2/ext3; `group` is s_block_group_nr (0 = primary). */
export function encodeSuperblock(s: SuperblockInput, group: number): Uint8Array {
  const b = new Uint8Array(SUPERBLOCK.size);
  const dv = new DataView(b.buffer);
  const g = s.geo;
  const u32 = (off: number, v: number): void => dv.setUint32(off, v >>> 0, true);
  const u16 = (off: number, v: number): void => dv.setUint16(off, v & 0xffff, true);
  u32(SB.s_inodes_count, g.inodesCount);
  u32(SB.s_blocks_count_lo, g.blocksCount);
  u32(SB.s_r_blocks_count_lo, s.reservedBlocks);
  u32(SB.s_free_blocks_count_lo, s.freeBlocks);
  u32(SB.s_free_inodes_count, s.freeInodes);
  u32(SB.s_first_data_block, g.firstDataBlock);
  u32(SB.s_log_block_size, g.logBlockSize);
  u32(SB.s_log_cluster_size, g.logBlockSize);
  u32(SB.s_blocks_per_group, g.blocksPerGroup);
  u32(SB.s_clusters_per_group, g.blocksPerGroup);
  u32(SB.s_inodes_per_group, g.inodesPerGroup);
  u32(SB.s_wtime, s.time);
  u16(SB.s_max_mnt_count, 0xffff); // -1: no mount-count checks (enable_periodic_fsck = 0)
  u16(SB.s_magic, EXT2_SUPER_MAGIC);
  u16(SB.s_state, EXT2_VALID_FS);
  u16(SB.s_errors, EXT2_ERRORS_CONTINUE);
  u32(SB.s_lastcheck, s.time);
  u32(SB.s_creator_os, EXT2_OS_LINUX);
  u32(SB.s_rev_level, EXT2_DYNAMIC_REV);
  u32(SB.s_first_ino, EXT2_FIRST_INO);
  u16(SB.s_inode_size, g.inodeSize);
  u16(SB.s_block_group_nr, group);
  u32(SB.s_feature_compat, s.compat);
  u32(SB.s_feature_incompat, s.incompat);
  u32(SB.s_feature_ro_compat, s.roCompat);
  b.set(s.uuid, SB.s_uuid);
  b.set(s.label, SB.s_volume_name);
  u16(SB.s_reserved_gdt_blocks, s.reservedGdtBlocks);
  u32(SB.s_journal_inum, s.journalInode);
  b.set(s.hashSeed, SB.s_hash_seed);
  b[SB.s_def_hash_version] = EXT2_HASH_HALF_MD4;
  u32(SB.s_default_mount_opts, EXT2_DEFM_XATTR_USER | EXT2_DEFM_ACL);
  u32(SB.s_mkfs_time, s.time);
  if (s.jnlBlocks) {
    b[SB.s_jnl_backup_type] = EXT3_JNL_BACKUP_BLOCKS;
    for (let i = 0; i < 15; i++) u32(SB.s_jnl_blocks + i * 4, s.jnlBlocks[i]!);
    u32(SB.s_jnl_blocks + 15 * 4, Math.floor(s.journalBytes / 0x100000000));
    u32(SB.s_jnl_blocks + 16 * 4, s.journalBytes % 0x100000000);
  }
  if (g.inodeSize > 128) {
    u16(SB.s_min_extra_isize, EXT2_EXTRA_ISIZE);
    u16(SB.s_want_extra_isize, EXT2_EXTRA_ISIZE);
  }
  u32(SB.s_flags, EXT2_FLAGS_SIGNED_HASH);
  return b;
}

/** All group descriptors, padded to whole GDT blocks. */
export function encodeGroupDescriptors(
  g: Geometry,
  freeBlocks: readonly number[],
  freeInodes: readonly number[],
  usedDirs: Uint32Array,
): Uint8Array {
  const b = new Uint8Array(g.descBlocks * g.blockSize);
  const dv = new DataView(b.buffer);
  for (const grp of g.groups) {
    const at = grp.index * GROUP_DESC.size;
    dv.setUint32(at + GD.bg_block_bitmap, grp.blockBitmap, true);
    dv.setUint32(at + GD.bg_inode_bitmap, grp.inodeBitmap, true);
    dv.setUint32(at + GD.bg_inode_table, grp.inodeTable, true);
    dv.setUint16(at + GD.bg_free_blocks_count, freeBlocks[grp.index]!, true);
    dv.setUint16(at + GD.bg_free_inodes_count, freeInodes[grp.index]!, true);
    dv.setUint16(at + GD.bg_used_dirs_count, usedDirs[grp.index]!, true);
  }
  return b;
}
