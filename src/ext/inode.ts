import { EXT2_EXTRA_ISIZE } from './constants.js';
import { IN } from './struct.js';
import type { Timestamp } from '../tree/node.js';

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
  blocks512: number;
  iBlock: Uint32Array | undefined;
  /** For fast symlinks: raw bytes in place of i_block. */
  iBlockBytes?: Uint8Array;
  flags?: number;
}

/** Write one inode record at `at` in `buf` (which must be zero there). */
export function writeInode(buf: Uint8Array, dv: DataView, at: number, inodeSize: number, f: InodeFields): void {
  dv.setUint16(at + IN.i_mode!, f.mode, true);
  dv.setUint16(at + IN.i_uid!, f.uid & 0xffff, true);
  dv.setUint16(at + IN.l_i_uid_high!, f.uid >>> 16, true);
  dv.setUint16(at + IN.i_gid!, f.gid & 0xffff, true);
  dv.setUint16(at + IN.l_i_gid_high!, f.gid >>> 16, true);
  dv.setUint32(at + IN.i_size!, f.size % 0x100000000, true);
  dv.setUint32(at + IN.i_size_high!, Math.floor(f.size / 0x100000000), true);
  dv.setUint16(at + IN.i_links_count!, f.links, true);
  dv.setUint32(at + IN.i_blocks!, f.blocks512, true);
  dv.setUint32(at + IN.i_flags!, f.flags ?? 0, true);
  if (f.iBlockBytes) buf.set(f.iBlockBytes, at + IN.i_block!);
  else if (f.iBlock) for (let i = 0; i < 15; i++) dv.setUint32(at + IN.i_block! + i * 4, f.iBlock[i]!, true);
  const large = inodeSize > 128;
  const times: Array<[string, string, Timestamp]> = [
    ['i_atime', 'i_atime_extra', f.atime],
    ['i_ctime', 'i_ctime_extra', f.ctime],
    ['i_mtime', 'i_mtime_extra', f.mtime],
  ];
  for (const [baseField, extraField, t] of times) {
    const e = encodeTime(t);
    dv.setUint32(at + IN[baseField]!, e.base, true);
    if (large) dv.setUint32(at + IN[extraField]!, e.extra, true);
  }
  if (large) {
    dv.setUint16(at + IN.i_extra_isize!, EXT2_EXTRA_ISIZE, true);
    const c = encodeTime(f.crtime);
    dv.setUint32(at + IN.i_crtime!, c.base, true);
    dv.setUint32(at + IN.i_crtime_extra!, c.extra, true);
  }
}

/** The kernel's device encodings: old 8:8 in i_block[0] when both fit, else new in i_block[1]. */
export function encodeDevice(major: number, minor: number): Uint32Array {
  const b = new Uint32Array(15);
  if (major < 256 && minor < 256) {
    b[0] = (major << 8) | minor;
  } else {
    b[1] = ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0;
  }
  return b;
}
