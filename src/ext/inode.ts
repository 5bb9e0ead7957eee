import { EXT2_EXTRA_ISIZE } from './constants.js';
import { IN } from './struct.js';
import type { Timestamp } from '../tree/node.js';

/** i_flags (fs/ext4/ext4.h). */
export const EXT4_INDEX_FL = 0x00001000;
export const EXT4_HUGE_FILE_FL = 0x00040000;
export const EXT4_EXTENTS_FL = 0x00080000;

/**
 * Encode seconds + nanoseconds the way the kernel does (ext4_encode_extra_time): the low 32
 * bits go in the base field, two epoch bits and the nanoseconds in the _extra field. With
 * 128-byte inodes only [-2^31, 2^31) seconds fit; callers clamp first.
 */
export function encodeTime(t: Timestamp): { base: number; extra: number } {
  const epoch = Math.floor((t.sec + 0x80000000) / 0x100000000);
  const base = (t.sec - epoch * 0x100000000) >>> 0;
  return { base, extra: ((epoch & 3) | (t.nsec << 2)) >>> 0 };
}

export interface InodeFields {
  mode: number; // with type bits
  uid: number;
  gid: number;
  size: number;
  atime: Timestamp;
  ctime: Timestamp;
  mtime: Timestamp;
  crtime: Timestamp;
  links: number;
  /** i_blocks in 512-byte sectors (up to 2^48 - 1 with huge_file, in l_i_blocks_hi). */
  blocks512: number;
  /** The 60 bytes of i_block: a block map, an extent tree root, a fast symlink's target, a device. */
  iBlock?: Uint8Array;
  flags?: number;
  /** i_file_acl: the xattr block (48 bits). */
  fileAcl?: number;
  /** In-inode xattrs (magic, entries, values), placed after i_extra_isize. */
  xattrBody?: Uint8Array;
}

// Offsets read once from the struct table: the hot path does plain numeric stores.
const I_MODE = IN.i_mode;
const I_UID = IN.i_uid;
const I_UID_HIGH = IN.l_i_uid_high;
const I_GID = IN.i_gid;
const I_GID_HIGH = IN.l_i_gid_high;
const I_SIZE = IN.i_size;
const I_SIZE_HIGH = IN.i_size_high;
const I_LINKS = IN.i_links_count;
const I_BLOCKS = IN.i_blocks;
const I_BLOCKS_HI = IN.l_i_blocks_hi;
const I_FLAGS = IN.i_flags;
const I_FILE_ACL = IN.i_file_acl;
const I_FILE_ACL_HIGH = IN.l_i_file_acl_high;
const I_BLOCK = IN.i_block;
const I_ATIME = IN.i_atime;
const I_CTIME = IN.i_ctime;
const I_MTIME = IN.i_mtime;
const I_EXTRA_ISIZE = IN.i_extra_isize;
const I_ATIME_EXTRA = IN.i_atime_extra;
const I_CTIME_EXTRA = IN.i_ctime_extra;
const I_MTIME_EXTRA = IN.i_mtime_extra;
const I_CRTIME = IN.i_crtime;
const I_CRTIME_EXTRA = IN.i_crtime_extra;

function putTime(dv: DataView, base: number, extra: number, t: Timestamp, large: boolean): void {
  const epoch = Math.floor((t.sec + 0x80000000) / 0x100000000);
  dv.setUint32(base, (t.sec - epoch * 0x100000000) >>> 0, true);
  if (large) dv.setUint32(extra, ((epoch & 3) | (t.nsec << 2)) >>> 0, true);
}

/** Write one inode record at `at` in `buf` (which must be zero there). */
export function writeInode(buf: Uint8Array, dv: DataView, at: number, inodeSize: number, f: InodeFields): void {
  dv.setUint16(at + I_MODE, f.mode, true);
  dv.setUint16(at + I_UID, f.uid & 0xffff, true);
  dv.setUint16(at + I_UID_HIGH, f.uid >>> 16, true);
  dv.setUint16(at + I_GID, f.gid & 0xffff, true);
  dv.setUint16(at + I_GID_HIGH, f.gid >>> 16, true);
  dv.setUint32(at + I_SIZE, f.size % 0x100000000, true);
  dv.setUint32(at + I_SIZE_HIGH, Math.floor(f.size / 0x100000000), true);
  dv.setUint16(at + I_LINKS, f.links, true);
  dv.setUint32(at + I_BLOCKS, f.blocks512 % 0x100000000, true);
  if (f.blocks512 >= 0x100000000) dv.setUint16(at + I_BLOCKS_HI, Math.floor(f.blocks512 / 0x100000000), true);
  if (f.flags) dv.setUint32(at + I_FLAGS, f.flags, true);
  if (f.iBlock) buf.set(f.iBlock, at + I_BLOCK);
  const large = inodeSize > 128;
  putTime(dv, at + I_ATIME, at + I_ATIME_EXTRA, f.atime, large);
  putTime(dv, at + I_CTIME, at + I_CTIME_EXTRA, f.ctime, large);
  putTime(dv, at + I_MTIME, at + I_MTIME_EXTRA, f.mtime, large);
  if (large) {
    dv.setUint16(at + I_EXTRA_ISIZE, EXT2_EXTRA_ISIZE, true);
    putTime(dv, at + I_CRTIME, at + I_CRTIME_EXTRA, f.crtime, true);
    if (f.xattrBody) buf.set(f.xattrBody, at + 128 + EXT2_EXTRA_ISIZE);
  }
  if (f.fileAcl) {
    dv.setUint32(at + I_FILE_ACL, f.fileAcl % 0x100000000, true);
    dv.setUint16(at + I_FILE_ACL_HIGH, Math.floor(f.fileAcl / 0x100000000), true);
  }
}

/** The kernel's device encodings: old 8:8 in i_block[0] when both fit, else new in i_block[1]. */
export function encodeDevice(major: number, minor: number): Uint8Array {
  const b = new Uint8Array(60);
  const dv = new DataView(b.buffer);
  if (major < 256 && minor < 256) dv.setUint32(0, (major << 8) | minor, true);
  else dv.setUint32(4, ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0, true);
  return b;
}
