import { ExtimgError } from '../errors.js';
import { EXT2_EXTRA_ISIZE } from './constants.js';

/**
 * Extended attributes on disk (kernel fs/ext4/xattr.h, e2fsprogs lib/ext2fs/ext_attr.c): in the
 * inode body after i_extra_isize (256-byte inodes), and in one xattr block shared between
 * inodes with the same set, as the kernel's mbcache does.
 */
export const EXT2_EXT_ATTR_MAGIC = 0xea020000;
export const EXT2_EXT_ATTR_REFCOUNT_MAX = 1024;
const HEADER_SIZE = 32; // struct ext2_ext_attr_header
const ENTRY_SIZE = 16; // struct ext2_ext_attr_entry without the name

// Name prefixes and their e_name_index (kernel ext4_xattr_handler_map).
const PREFIXES: ReadonlyArray<readonly [string, number]> = [
  ['user.', 1],
  ['trusted.', 4],
  ['security.', 6],
  ['system.', 7],
];
const ACL_ACCESS = 'system.posix_acl_access';
const ACL_DEFAULT = 'system.posix_acl_default';

export interface XattrEntry {
  index: number;
  name: Uint8Array; // without the prefix
  value: Uint8Array; // on-disk form (ACLs converted)
}

const pad4 = (n: number): number => (n + 3) & ~3;
const entryLen = (nameLen: number): number => pad4(ENTRY_SIZE + nameLen);

/** Turn the tree's xattrs into on-disk entries, sorted as the kernel keeps them in a block. */
export function xattrEntries(xattrs: Map<string, Uint8Array>, where: string): XattrEntry[] {
  const out: XattrEntry[] = [];
  const enc = new TextEncoder();
  for (const [fullName, value] of xattrs) {
    let index: number;
    let name: string;
    let v = value;
    if (fullName === ACL_ACCESS || fullName === ACL_DEFAULT) {
      index = fullName === ACL_ACCESS ? 2 : 3;
      name = '';
      v = aclToDisk(value, `${where}: ${fullName}`);
    } else {
      const p = PREFIXES.find(([prefix]) => fullName.startsWith(prefix));
      if (!p) {
        throw new ExtimgError('EINVAL', `${where}: extended attribute '${fullName}' has no namespace ext understands (user., trusted., security., system.)`, {
          path: where,
          name: fullName,
        });
      }
      index = p[1];
      name = fullName.slice(p[0].length);
    }
    const nameBytes = enc.encode(name);
    if (nameBytes.length > 255 || (nameBytes.length === 0 && index !== 2 && index !== 3)) {
      throw new ExtimgError('EINVAL', `${where}: extended attribute name '${fullName}' must be 1-255 bytes after its prefix`, {
        path: where,
        name: fullName,
      });
    }
    out.push({ index, name: nameBytes, value: v });
  }
  out.sort((a, b) => a.index - b.index || a.name.length - b.name.length || compareBytes(a.name, b.name));
  return out;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/**
 * POSIX ACL from the Linux xattr form (posix_acl_xattr: version 2, 8-byte entries) to ext's
 * on-disk form (ext4_acl: version 1, 4-byte entries for USER_OBJ, GROUP_OBJ, MASK and OTHER).
 */
export function aclToDisk(v: Uint8Array, where: string): Uint8Array {
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  if (v.length < 4 || (v.length - 4) % 8 !== 0 || dv.getUint32(0, true) !== 2) {
    throw new ExtimgError('EINVAL', `${where}: not a POSIX ACL in xattr form (version 2, 8-byte entries)`, { path: where });
  }
  const n = (v.length - 4) / 8;
  const parts: number[][] = [];
  let size = 4;
  for (let i = 0; i < n; i++) {
    const tag = dv.getUint16(4 + i * 8, true);
    const perm = dv.getUint16(6 + i * 8, true);
    const id = dv.getUint32(8 + i * 8, true);
    if (tag === 0x02 || tag === 0x08) {
      parts.push([tag, perm, id]);
      size += 8;
    } else if (tag === 0x01 || tag === 0x04 || tag === 0x10 || tag === 0x20) {
      parts.push([tag, perm]);
      size += 4;
    } else {
      throw new ExtimgError('EINVAL', `${where}: unknown ACL tag 0x${tag.toString(16)}`, { path: where });
    }
  }
  const out = new Uint8Array(size);
  const o = new DataView(out.buffer);
  o.setUint32(0, 1, true);
  let at = 4;
  for (const [tag, perm, id] of parts) {
    o.setUint16(at, tag!, true);
    o.setUint16(at + 2, perm!, true);
    if (id !== undefined) {
      o.setUint32(at + 4, id, true);
      at += 8;
    } else at += 4;
  }
  return out;
}

/** ext2fs_ext_attr_hash_entry: name bytes, then the value as little-endian words. */
export function entryHash(e: XattrEntry): number {
  let hash = 0;
  for (const c of e.name) hash = ((hash << 5) ^ (hash >>> 27) ^ c) >>> 0;
  if (e.value.length) {
    const padded = new Uint8Array(pad4(e.value.length));
    padded.set(e.value);
    const dv = new DataView(padded.buffer);
    for (let i = 0; i < padded.length; i += 4) hash = ((hash << 16) ^ (hash >>> 16) ^ dv.getUint32(i, true)) >>> 0;
  }
  return hash;
}

/**
 * Write entries into a region: headers from `entriesAt` upward (then a 4-byte zero), values
 * from `end` downward. Offsets in e_value_offs are relative to `base`. Returns false if they
 * do not fit.
 */
function writeEntries(buf: Uint8Array, entries: readonly XattrEntry[], entriesAt: number, end: number, base: number, hashes: number[]): boolean {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = entriesAt;
  let valueAt = end;
  for (const e of entries) {
    valueAt -= pad4(e.value.length);
    if (at + entryLen(e.name.length) + 4 > valueAt) return false;
    const hash = entryHash(e);
    hashes.push(hash);
    buf[at] = e.name.length;
    buf[at + 1] = e.index;
    dv.setUint16(at + 2, e.value.length ? valueAt - base : 0, true);
    dv.setUint32(at + 4, 0, true);
    dv.setUint32(at + 8, e.value.length, true);
    dv.setUint32(at + 12, hash, true);
    buf.set(e.name, at + ENTRY_SIZE);
    buf.set(e.value, valueAt);
    at += entryLen(e.name.length);
  }
  return true;
}

function regionSize(entries: readonly XattrEntry[]): number {
  let n = 4; // terminator
  for (const e of entries) n += entryLen(e.name.length) + pad4(e.value.length);
  return n;
}

export interface XattrPlacement {
  /** Bytes for the inode body after i_extra_isize (magic, entries, values), or undefined. */
  inInode?: Uint8Array;
  /** A full xattr block (h_refcount left 0, filled at write time), or undefined. */
  block?: Uint8Array;
  /** Identity of the block's content, for sharing between inodes. */
  blockKey?: string;
}

/**
 * Place a node's xattrs: in the inode body as far as they fit (256-byte inodes), the rest in
 * one block. Refuse sets that fit neither (ext2/ext3 have no ea_inode).
 */
export function placeXattrs(xattrs: Map<string, Uint8Array>, inodeSize: number, blockSize: number, where: string): XattrPlacement {
  if (xattrs.size === 0) return {};
  const entries = xattrEntries(xattrs, where);
  const bodySize = inodeSize - 128 - EXT2_EXTRA_ISIZE;
  const inBody: XattrEntry[] = [];
  const inBlock: XattrEntry[] = [];
  if (bodySize > 8) {
    // Greedy in sorted order: what fits in the body stays there.
    let used = 4 + 4; // magic + terminator
    for (const e of entries) {
      const need = entryLen(e.name.length) + pad4(e.value.length);
      if (inBlock.length === 0 && used + need <= bodySize) {
        inBody.push(e);
        used += need;
      } else inBlock.push(e);
    }
  } else inBlock.push(...entries);

  const out: XattrPlacement = {};
  if (inBody.length) {
    const body = new Uint8Array(bodySize);
    new DataView(body.buffer).setUint32(0, EXT2_EXT_ATTR_MAGIC, true);
    // Value offsets in the body count from the first entry, just after the magic.
    if (!writeEntries(body, inBody, 4, bodySize, 4, [])) throw new Error('internal: in-inode xattrs overflow');
    out.inInode = body;
  }
  if (inBlock.length) {
    if (HEADER_SIZE + regionSize(inBlock) > blockSize) {
      throw new ExtimgError(
        'ETOOBIG',
        `${where}: extended attributes need ${HEADER_SIZE + regionSize(inBlock)} bytes, more than one ${blockSize}-byte block (ext2/ext3 have no ea_inode)`,
        { path: where },
      );
    }
    const block = new Uint8Array(blockSize);
    const dv = new DataView(block.buffer);
    dv.setUint32(0, EXT2_EXT_ATTR_MAGIC, true);
    dv.setUint32(8, 1, true); // h_blocks
    const hashes: number[] = [];
    writeEntries(block, inBlock, HEADER_SIZE, blockSize, 0, hashes);
    // ext2fs_ext_attr_block_rehash
    let h = 0;
    for (const eh of hashes) {
      if (eh === 0) {
        h = 0;
        break;
      }
      h = ((h << 16) ^ (h >>> 16) ^ eh) >>> 0;
    }
    dv.setUint32(12, h, true);
    out.block = block;
    out.blockKey = keyOf(block);
  }
  return out;
}

function keyOf(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode.apply(null, b.subarray(i, i + 8192) as unknown as number[]);
  return s;
}
