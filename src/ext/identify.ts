/**
 * Recognise an ext2/3/4 filesystem by its superblock (magic 0xEF53 at byte 1080) and name it as
 * blkid does (libblkid's ext probe): ext4 when it has a feature ext3 lacks, ext3 when it has a
 * journal, else ext2; a jbd2 external journal device is its own thing.
 */

const SB_OFFSET = 1024;
const S_MAGIC = 0x38;
const S_FEATURE_COMPAT = 0x5c;
const S_FEATURE_INCOMPAT = 0x60;
const S_FEATURE_RO_COMPAT = 0x64;
const EXT2_SUPER_MAGIC = 0xef53;

const COMPAT_HAS_JOURNAL = 0x0004;
const INCOMPAT_JOURNAL_DEV = 0x0008;
/** What ext3 knows (libblkid EXT3_FEATURE_*_SUPP): anything else makes it ext4. */
const EXT3_INCOMPAT_SUPP = 0x0002 /* filetype */ | 0x0004 /* recover */ | 0x0010; /* meta_bg */
const EXT3_RO_COMPAT_SUPP = 0x0001 /* sparse_super */ | 0x0002 /* large_file */ | 0x0004; /* btree_dir */

export type ExtKind = 'ext2' | 'ext3' | 'ext4' | 'jbd2';

/** The kind of ext filesystem `data` (at least its first 2 KiB) starts with, or undefined. */
export function identifyExt(data: Uint8Array): ExtKind | undefined {
  if (data.length < SB_OFFSET + 0x68) return undefined;
  const dv = new DataView(data.buffer, data.byteOffset + SB_OFFSET, 0x68);
  if (dv.getUint16(S_MAGIC, true) !== EXT2_SUPER_MAGIC) return undefined;
  const compat = dv.getUint32(S_FEATURE_COMPAT, true);
  const incompat = dv.getUint32(S_FEATURE_INCOMPAT, true);
  const roCompat = dv.getUint32(S_FEATURE_RO_COMPAT, true);
  if (incompat & INCOMPAT_JOURNAL_DEV) return 'jbd2';
  if (incompat & ~EXT3_INCOMPAT_SUPP || roCompat & ~EXT3_RO_COMPAT_SUPP) return 'ext4';
  return compat & COMPAT_HAS_JOURNAL ? 'ext3' : 'ext2';
}
