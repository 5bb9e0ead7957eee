/**
 * On-disk structures, declared once as (name, offset, size) tables in the kernel's field names
 * (Documentation/filesystems/ext4, e2fsprogs lib/ext2fs/ext2_fs.h). Code reads offsets from
 * here; test/struct.test.ts proves each table is contiguous and sums to its size, as
 * e2fsprogs' tst_super_size does.
 */
export interface Field {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
}

export interface Struct<N extends string> {
  readonly name: string;
  readonly size: number;
  readonly fields: readonly Field[];
  readonly off: Readonly<Record<N, number>>;
}

export function defineStruct<const N extends string>(
  name: string,
  size: number,
  fields: ReadonlyArray<readonly [N, number, number]>,
): Struct<N> {
  const off = {} as Record<N, number>;
  for (const [n, o] of fields) off[n] = o;
  return { name, size, fields: fields.map(([n, o, s]) => ({ name: n, offset: o, size: s })), off };
}

/** struct ext2_super_block / ext4_super_block: 1024 bytes at byte 1024 of the device. */
export const SUPERBLOCK = defineStruct('ext4_super_block', 1024, [
  ['s_inodes_count', 0x00, 4],
  ['s_blocks_count_lo', 0x04, 4],
  ['s_r_blocks_count_lo', 0x08, 4],
  ['s_free_blocks_count_lo', 0x0c, 4],
  ['s_free_inodes_count', 0x10, 4],
  ['s_first_data_block', 0x14, 4],
  ['s_log_block_size', 0x18, 4],
  ['s_log_cluster_size', 0x1c, 4],
  ['s_blocks_per_group', 0x20, 4],
  ['s_clusters_per_group', 0x24, 4],
  ['s_inodes_per_group', 0x28, 4],
  ['s_mtime', 0x2c, 4],
  ['s_wtime', 0x30, 4],
  ['s_mnt_count', 0x34, 2],
  ['s_max_mnt_count', 0x36, 2],
  ['s_magic', 0x38, 2],
  ['s_state', 0x3a, 2],
  ['s_errors', 0x3c, 2],
  ['s_minor_rev_level', 0x3e, 2],
  ['s_lastcheck', 0x40, 4],
  ['s_checkinterval', 0x44, 4],
  ['s_creator_os', 0x48, 4],
  ['s_rev_level', 0x4c, 4],
  ['s_def_resuid', 0x50, 2],
  ['s_def_resgid', 0x52, 2],
  ['s_first_ino', 0x54, 4],
  ['s_inode_size', 0x58, 2],
  ['s_block_group_nr', 0x5a, 2],
  ['s_feature_compat', 0x5c, 4],
  ['s_feature_incompat', 0x60, 4],
  ['s_feature_ro_compat', 0x64, 4],
  ['s_uuid', 0x68, 16],
  ['s_volume_name', 0x78, 16],
  ['s_last_mounted', 0x88, 64],
  ['s_algorithm_usage_bitmap', 0xc8, 4],
  ['s_prealloc_blocks', 0xcc, 1],
  ['s_prealloc_dir_blocks', 0xcd, 1],
  ['s_reserved_gdt_blocks', 0xce, 2],
  ['s_journal_uuid', 0xd0, 16],
  ['s_journal_inum', 0xe0, 4],
  ['s_journal_dev', 0xe4, 4],
  ['s_last_orphan', 0xe8, 4],
  ['s_hash_seed', 0xec, 16],
  ['s_def_hash_version', 0xfc, 1],
  ['s_jnl_backup_type', 0xfd, 1],
  ['s_desc_size', 0xfe, 2],
  ['s_default_mount_opts', 0x100, 4],
  ['s_first_meta_bg', 0x104, 4],
  ['s_mkfs_time', 0x108, 4],
  ['s_jnl_blocks', 0x10c, 68],
  ['s_blocks_count_hi', 0x150, 4],
  ['s_r_blocks_count_hi', 0x154, 4],
  ['s_free_blocks_count_hi', 0x158, 4],
  ['s_min_extra_isize', 0x15c, 2],
  ['s_want_extra_isize', 0x15e, 2],
  ['s_flags', 0x160, 4],
  ['s_raid_stride', 0x164, 2],
  ['s_mmp_interval', 0x166, 2],
  ['s_mmp_block', 0x168, 8],
  ['s_raid_stripe_width', 0x170, 4],
  ['s_log_groups_per_flex', 0x174, 1],
  ['s_checksum_type', 0x175, 1],
  ['s_encryption_level', 0x176, 1],
  ['s_reserved_pad', 0x177, 1],
  ['s_kbytes_written', 0x178, 8],
  ['s_snapshot_inum', 0x180, 4],
  ['s_snapshot_id', 0x184, 4],
  ['s_snapshot_r_blocks_count', 0x188, 8],
  ['s_snapshot_list', 0x190, 4],
  ['s_error_count', 0x194, 4],
  ['s_first_error_time', 0x198, 4],
  ['s_first_error_ino', 0x19c, 4],
  ['s_first_error_block', 0x1a0, 8],
  ['s_first_error_func', 0x1a8, 32],
  ['s_first_error_line', 0x1c8, 4],
  ['s_last_error_time', 0x1cc, 4],
  ['s_last_error_ino', 0x1d0, 4],
  ['s_last_error_line', 0x1d4, 4],
  ['s_last_error_block', 0x1d8, 8],
  ['s_last_error_func', 0x1e0, 32],
  ['s_mount_opts', 0x200, 64],
  ['s_usr_quota_inum', 0x240, 4],
  ['s_grp_quota_inum', 0x244, 4],
  ['s_overhead_clusters', 0x248, 4],
  ['s_backup_bgs', 0x24c, 8],
  ['s_encrypt_algos', 0x254, 4],
  ['s_encrypt_pw_salt', 0x258, 16],
  ['s_lpf_ino', 0x268, 4],
  ['s_prj_quota_inum', 0x26c, 4],
  ['s_checksum_seed', 0x270, 4],
  ['s_wtime_hi', 0x274, 1],
  ['s_mtime_hi', 0x275, 1],
  ['s_mkfs_time_hi', 0x276, 1],
  ['s_lastcheck_hi', 0x277, 1],
  ['s_first_error_time_hi', 0x278, 1],
  ['s_last_error_time_hi', 0x279, 1],
  ['s_first_error_errcode', 0x27a, 1],
  ['s_last_error_errcode', 0x27b, 1],
  ['s_encoding', 0x27c, 2],
  ['s_encoding_flags', 0x27e, 2],
  ['s_orphan_file_inum', 0x280, 4],
  ['s_reserved', 0x284, 376],
  ['s_checksum', 0x3fc, 4],
]);

/** struct ext2_group_desc: 32 bytes (no 64bit feature). */
export const GROUP_DESC = defineStruct('ext2_group_desc', 32, [
  ['bg_block_bitmap', 0x00, 4],
  ['bg_inode_bitmap', 0x04, 4],
  ['bg_inode_table', 0x08, 4],
  ['bg_free_blocks_count', 0x0c, 2],
  ['bg_free_inodes_count', 0x0e, 2],
  ['bg_used_dirs_count', 0x10, 2],
  ['bg_flags', 0x12, 2],
  ['bg_exclude_bitmap_lo', 0x14, 4],
  ['bg_block_bitmap_csum_lo', 0x18, 2],
  ['bg_inode_bitmap_csum_lo', 0x1a, 2],
  ['bg_itable_unused', 0x1c, 2],
  ['bg_checksum', 0x1e, 2],
]);

/** struct ext2_inode: 128 bytes (good old inode). */
export const INODE = defineStruct('ext2_inode', 128, [
  ['i_mode', 0x00, 2],
  ['i_uid', 0x02, 2],
  ['i_size', 0x04, 4],
  ['i_atime', 0x08, 4],
  ['i_ctime', 0x0c, 4],
  ['i_mtime', 0x10, 4],
  ['i_dtime', 0x14, 4],
  ['i_gid', 0x18, 2],
  ['i_links_count', 0x1a, 2],
  ['i_blocks', 0x1c, 4],
  ['i_flags', 0x20, 4],
  ['l_i_version', 0x24, 4],
  ['i_block', 0x28, 60],
  ['i_generation', 0x64, 4],
  ['i_file_acl', 0x68, 4],
  ['i_size_high', 0x6c, 4],
  ['i_faddr', 0x70, 4],
  ['l_i_blocks_hi', 0x74, 2],
  ['l_i_file_acl_high', 0x76, 2],
  ['l_i_uid_high', 0x78, 2],
  ['l_i_gid_high', 0x7a, 2],
  ['l_i_checksum_lo', 0x7c, 2],
  ['l_i_reserved', 0x7e, 2],
]);

/** struct ext2_inode_large: the fields after the first 128 bytes (offsets from the inode start). */
export const INODE_LARGE = defineStruct('ext2_inode_large', 160, [
  ...INODE.fields.map((f) => [f.name, f.offset, f.size] as const),
  ['i_extra_isize', 0x80, 2],
  ['i_checksum_hi', 0x82, 2],
  ['i_ctime_extra', 0x84, 4],
  ['i_mtime_extra', 0x88, 4],
  ['i_atime_extra', 0x8c, 4],
  ['i_crtime', 0x90, 4],
  ['i_crtime_extra', 0x94, 4],
  ['i_version_hi', 0x98, 4],
  ['i_projid', 0x9c, 4],
] as ReadonlyArray<readonly [string, number, number]>);

/** struct ext2_dir_entry_2 header; the name follows, padded to 4 bytes. */
export const DIR_ENTRY = defineStruct('ext2_dir_entry_2', 8, [
  ['inode', 0x0, 4],
  ['rec_len', 0x4, 2],
  ['name_len', 0x6, 1],
  ['file_type', 0x7, 1],
]);

/** journal_superblock_t (jbd2), big-endian, 1024 bytes at the start of the journal. */
export const JOURNAL_SUPERBLOCK = defineStruct('journal_superblock_t', 1024, [
  ['h_magic', 0x00, 4],
  ['h_blocktype', 0x04, 4],
  ['h_sequence', 0x08, 4],
  ['s_blocksize', 0x0c, 4],
  ['s_maxlen', 0x10, 4],
  ['s_first', 0x14, 4],
  ['s_sequence', 0x18, 4],
  ['s_start', 0x1c, 4],
  ['s_errno', 0x20, 4],
  ['s_feature_compat', 0x24, 4],
  ['s_feature_incompat', 0x28, 4],
  ['s_feature_ro_compat', 0x2c, 4],
  ['s_uuid', 0x30, 16],
  ['s_nr_users', 0x40, 4],
  ['s_dynsuper', 0x44, 4],
  ['s_max_transaction', 0x48, 4],
  ['s_max_trans_data', 0x4c, 4],
  ['s_checksum_type', 0x50, 1],
  ['s_padding2', 0x51, 3],
  ['s_num_fc_blks', 0x54, 4],
  ['s_head', 0x58, 4],
  ['s_padding', 0x5c, 160],
  ['s_checksum', 0xfc, 4],
  ['s_users', 0x100, 768],
]);

export const SB = SUPERBLOCK.off;
export const GD = GROUP_DESC.off;
export const IN = INODE_LARGE.off as Readonly<Record<(typeof INODE.fields)[number]['name'] | string, number>>;
export const JSB = JOURNAL_SUPERBLOCK.off;
