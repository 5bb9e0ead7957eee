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

/** One field as declared: [name, offset, size]. Sizes 1, 2, 4 and 8 are integers, others bytes. */
export type FieldSpec = readonly [name: string, offset: number, size: number];

type ValueOf<S extends FieldSpec> = S[2] extends 1 | 2 | 4 | 8 ? number : Uint8Array;
type NameOf<F extends readonly FieldSpec[]> = F[number][0];

/** A struct's fields as values: integers as numbers (u64 up to 2^53), arrays as byte views. */
export type Decoded<F extends readonly FieldSpec[]> = { -readonly [S in F[number] as S[0]]: ValueOf<S> };

/**
 * A declared on-disk struct. `off.<field>` only compiles for a declared field name, so a typo
 * (`IN.i_blokc`) is a type error, not a write at offset 0. `get`/`set` read and write one field
 * at `base` in a DataView; `decode`/`encode` convert the whole struct, in the struct's byte
 * order (ext is little-endian, jbd2 big-endian).
 */
export interface Struct<F extends readonly FieldSpec[]> {
  readonly name: string;
  readonly size: number;
  readonly littleEndian: boolean;
  readonly fields: readonly Field[];
  readonly off: { readonly [S in F[number] as S[0]]: number };
  get<K extends NameOf<F>>(dv: DataView, base: number, name: K): Decoded<F>[K];
  set<K extends NameOf<F>>(dv: DataView, base: number, name: K, value: Decoded<F>[K]): void;
  decode(bytes: Uint8Array, base?: number): Decoded<F>;
  /** Write the given fields (others untouched) into `into` at `base`; a new zeroed buffer by default. */
  encode(values: Partial<Decoded<F>>, into?: Uint8Array, base?: number): Uint8Array;
}

function readInt(dv: DataView, at: number, size: number, le: boolean): number {
  switch (size) {
    case 1:
      return dv.getUint8(at);
    case 2:
      return dv.getUint16(at, le);
    case 4:
      return dv.getUint32(at, le);
    default: {
      const lo = dv.getUint32(le ? at : at + 4, le);
      const hi = dv.getUint32(le ? at + 4 : at, le);
      return hi * 0x100000000 + lo;
    }
  }
}

function writeInt(dv: DataView, at: number, size: number, le: boolean, v: number): void {
  switch (size) {
    case 1:
      dv.setUint8(at, v);
      return;
    case 2:
      dv.setUint16(at, v, le);
      return;
    case 4:
      dv.setUint32(at, v >>> 0, le);
      return;
    default: {
      const hi = Math.floor(v / 0x100000000);
      const lo = v - hi * 0x100000000;
      dv.setUint32(le ? at : at + 4, lo >>> 0, le);
      dv.setUint32(le ? at + 4 : at, hi >>> 0, le);
    }
  }
}

const isInt = (size: number): boolean => size === 1 || size === 2 || size === 4 || size === 8;

export function defineStruct<const F extends readonly FieldSpec[]>(name: string, size: number, fields: F, options: { bigEndian?: boolean } = {}): Struct<F> {
  const littleEndian = !options.bigEndian;
  const off: Record<string, number> = {};
  const sizes: Record<string, number> = {};
  for (const [n, o, s] of fields) {
    off[n] = o;
    sizes[n] = s;
  }
  const le = littleEndian;
  return {
    name,
    size,
    littleEndian,
    fields: fields.map(([n, o, s]) => ({ name: n, offset: o, size: s })),
    off: off as Struct<F>['off'],
    get(dv, base, field) {
      const s = sizes[field]!;
      const at = base + off[field]!;
      if (isInt(s)) return readInt(dv, at, s, le) as never;
      return new Uint8Array(dv.buffer, dv.byteOffset + at, s) as never;
    },
    set(dv, base, field, value) {
      const s = sizes[field]!;
      const at = base + off[field]!;
      if (isInt(s)) writeInt(dv, at, s, le, value as number);
      else new Uint8Array(dv.buffer, dv.byteOffset + at, s).set((value as Uint8Array).subarray(0, s));
    },
    decode(bytes, base = 0) {
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const out: Record<string, number | Uint8Array> = {};
      for (const [n, o, s] of fields) out[n] = isInt(s) ? readInt(dv, base + o, s, le) : bytes.subarray(base + o, base + o + s);
      return out as Decoded<F>;
    },
    encode(values, into, base = 0) {
      const b = into ?? new Uint8Array(size);
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      for (const [n, v] of Object.entries(values as Record<string, number | Uint8Array | undefined>)) {
        if (v === undefined) continue;
        const s = sizes[n];
        if (s === undefined) throw new RangeError(`${name}: no field ${n}`);
        if (isInt(s)) writeInt(dv, base + off[n]!, s, le, v as number);
        else b.set((v as Uint8Array).subarray(0, s), base + off[n]!);
      }
      return b;
    },
  };
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
  // __le32 s_backup_bgs[2] (sparse_super2): two group numbers, not one 64-bit value.
  ['s_backup_bgs_0', 0x24c, 4],
  ['s_backup_bgs_1', 0x250, 4],
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

const GROUP_DESC_32_FIELDS = [
  ['bg_block_bitmap_lo', 0x00, 4],
  ['bg_inode_bitmap_lo', 0x04, 4],
  ['bg_inode_table_lo', 0x08, 4],
  ['bg_free_blocks_count_lo', 0x0c, 2],
  ['bg_free_inodes_count_lo', 0x0e, 2],
  ['bg_used_dirs_count_lo', 0x10, 2],
  ['bg_flags', 0x12, 2],
  ['bg_exclude_bitmap_lo', 0x14, 4],
  ['bg_block_bitmap_csum_lo', 0x18, 2],
  ['bg_inode_bitmap_csum_lo', 0x1a, 2],
  ['bg_itable_unused_lo', 0x1c, 2],
  ['bg_checksum', 0x1e, 2],
] as const;

/** struct ext2_group_desc: 32 bytes (no 64bit feature). Field names as ext4_group_desc's low halves. */
export const GROUP_DESC = defineStruct('ext2_group_desc', 32, GROUP_DESC_32_FIELDS);

/** struct ext4_group_desc: 64 bytes with the 64bit feature (s_desc_size), the high halves after 0x20. */
export const GROUP_DESC_64 = defineStruct('ext4_group_desc', 64, [
  ...GROUP_DESC_32_FIELDS,
  ['bg_block_bitmap_hi', 0x20, 4],
  ['bg_inode_bitmap_hi', 0x24, 4],
  ['bg_inode_table_hi', 0x28, 4],
  ['bg_free_blocks_count_hi', 0x2c, 2],
  ['bg_free_inodes_count_hi', 0x2e, 2],
  ['bg_used_dirs_count_hi', 0x30, 2],
  ['bg_itable_unused_hi', 0x32, 2],
  ['bg_exclude_bitmap_hi', 0x34, 4],
  ['bg_block_bitmap_csum_hi', 0x38, 2],
  ['bg_inode_bitmap_csum_hi', 0x3a, 2],
  ['bg_reserved', 0x3c, 4],
] as const);

const INODE_FIELDS = [
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
] as const;

/** struct ext2_inode: 128 bytes (good old inode). */
export const INODE = defineStruct('ext2_inode', 128, INODE_FIELDS);

/** struct ext2_inode_large: the 128 bytes, then the fields i_extra_isize covers (offsets from the inode start). */
export const INODE_LARGE = defineStruct('ext2_inode_large', 160, [
  ...INODE_FIELDS,
  ['i_extra_isize', 0x80, 2],
  ['i_checksum_hi', 0x82, 2],
  ['i_ctime_extra', 0x84, 4],
  ['i_mtime_extra', 0x88, 4],
  ['i_atime_extra', 0x8c, 4],
  ['i_crtime', 0x90, 4],
  ['i_crtime_extra', 0x94, 4],
  ['i_version_hi', 0x98, 4],
  ['i_projid', 0x9c, 4],
] as const);

/** struct ext2_dir_entry_2 header; the name follows, padded to 4 bytes. */
export const DIR_ENTRY = defineStruct('ext2_dir_entry_2', 8, [
  ['inode', 0x0, 4],
  ['rec_len', 0x4, 2],
  ['name_len', 0x6, 1],
  ['file_type', 0x7, 1],
]);

/** struct ext4_dir_entry_tail: the last 12 bytes of a leaf block with metadata_csum (a fake entry). */
export const DIR_ENTRY_TAIL = defineStruct('ext4_dir_entry_tail', 12, [
  ['det_reserved_zero1', 0x0, 4],
  ['det_rec_len', 0x4, 2],
  ['det_reserved_zero2', 0x6, 1],
  ['det_reserved_ft', 0x7, 1],
  ['det_checksum', 0x8, 4],
]);

/** struct dx_root_info: 8 bytes after the fake "." (12) and ".." (12) of an htree's block 0. */
export const DX_ROOT_INFO = defineStruct('dx_root_info', 8, [
  ['reserved_zero', 0x0, 4],
  ['hash_version', 0x4, 1],
  ['info_length', 0x5, 1],
  ['indirect_levels', 0x6, 1],
  ['unused_flags', 0x7, 1],
]);

/** struct dx_countlimit: overlays the first dx_entry's hash field. */
export const DX_COUNTLIMIT = defineStruct('dx_countlimit', 4, [
  ['limit', 0x0, 2],
  ['count', 0x2, 2],
]);

/** struct dx_entry. */
export const DX_ENTRY = defineStruct('dx_entry', 8, [
  ['hash', 0x0, 4],
  ['block', 0x4, 4],
]);

/** struct dx_tail: after `limit` dx_entries of an htree block with metadata_csum. */
export const DX_TAIL = defineStruct('dx_tail', 8, [
  ['dt_reserved', 0x0, 4],
  ['dt_checksum', 0x4, 4],
]);

/** struct ext4_extent_header: at the start of i_block and of every extent tree block. */
export const EXTENT_HEADER = defineStruct('ext4_extent_header', 12, [
  ['eh_magic', 0x0, 2],
  ['eh_entries', 0x2, 2],
  ['eh_max', 0x4, 2],
  ['eh_depth', 0x6, 2],
  ['eh_generation', 0x8, 4],
]);

/** struct ext4_extent_idx: an interior entry, pointing at the next level's block. */
export const EXTENT_IDX = defineStruct('ext4_extent_idx', 12, [
  ['ei_block', 0x0, 4],
  ['ei_leaf_lo', 0x4, 4],
  ['ei_leaf_hi', 0x8, 2],
  ['ei_unused', 0xa, 2],
]);

/** struct ext4_extent: a leaf entry, a run of logical blocks at a physical start. */
export const EXTENT = defineStruct('ext4_extent', 12, [
  ['ee_block', 0x0, 4],
  ['ee_len', 0x4, 2],
  ['ee_start_hi', 0x6, 2],
  ['ee_start_lo', 0x8, 4],
]);

/** struct ext4_extent_tail: after eh_max entries of a tree block with metadata_csum. */
export const EXTENT_TAIL = defineStruct('ext4_extent_tail', 4, [['et_checksum', 0x0, 4]]);

/** struct ext2_ext_attr_header: the start of an xattr block. */
export const XATTR_HEADER = defineStruct('ext2_ext_attr_header', 32, [
  ['h_magic', 0x00, 4],
  ['h_refcount', 0x04, 4],
  ['h_blocks', 0x08, 4],
  ['h_hash', 0x0c, 4],
  ['h_checksum', 0x10, 4],
  ['h_reserved', 0x14, 12],
]);

/** struct ext2_ext_attr_entry: the name (e_name_len bytes, padded to 4) follows. */
export const XATTR_ENTRY = defineStruct('ext2_ext_attr_entry', 16, [
  ['e_name_len', 0x0, 1],
  ['e_name_index', 0x1, 1],
  ['e_value_offs', 0x2, 2],
  ['e_value_inum', 0x4, 4],
  ['e_value_size', 0x8, 4],
  ['e_hash', 0xc, 4],
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
], { bigEndian: true });

export const SB = SUPERBLOCK.off;
export const GD = GROUP_DESC_64.off;
export const IN = INODE_LARGE.off;
export const JSB = JOURNAL_SUPERBLOCK.off;
