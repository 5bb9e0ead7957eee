import { ExtimgError } from '../errors.js';
import type { BlockAllocator } from './alloc.js';
import type { LogicalRun, PlacedRun } from './blockmap.js';
import { EXTENT, EXTENT_HEADER, EXTENT_IDX } from './struct.js';

/**
 * ext4 extent trees (fs/ext4/ext4_extents.h, Documentation/filesystems/ext4/dynamic.rst): the
 * inode's 60-byte i_block holds a 12-byte header and up to 4 entries; a file with more extents
 * gets leaf blocks of (blocksize - 12) / 12 extents, and index blocks above them as needed, of
 * any depth (the kernel reads up to 5). Leaves and index blocks are filled completely, in
 * logical order, as e2fsprogs' extent code leaves a file written front to back. A block with
 * metadata_csum keeps a 4-byte tail after its eh_max entries, which always fits in the
 * remainder (checksum.ts fills it).
 */

export const EXT4_EXT_MAGIC = 0xf30a;
/** The longest initialized extent (EXT_INIT_MAX_LEN); longer ee_len values mean "unwritten". */
export const EXT_INIT_MAX_LEN = 32768;
/** Entries of the root in i_block: (60 - 12) / 12. */
export const EXT_ROOT_ENTRIES = 4;
/** EXT4_MAX_EXTENT_DEPTH. */
export const EXT4_MAX_EXTENT_DEPTH = 5;
/** The last logical block an extent can map (EXT_MAX_BLOCKS = 2^32 - 1 is a marker). */
export const EXT_MAX_BLOCKS = 0xffffffff;

export interface Extent {
  logical: number;
  physical: number;
  count: number;
}

/** Entries per tree block: ext4_ext_space_block(). */
export function extentsPerBlock(blockSize: number): number {
  return Math.floor((blockSize - EXTENT_HEADER.size) / EXTENT.size);
}

/** Extents for placed data runs: each run cut into pieces of at most EXT_INIT_MAX_LEN blocks. */
export function extentsOf(data: readonly PlacedRun[]): readonly Extent[] {
  // Mostly every run is short enough: the runs are the extents (same fields), no copies.
  let split = false;
  for (const r of data) if (r.count > EXT_INIT_MAX_LEN) split = true;
  if (!split) return data;
  const out: Extent[] = [];
  for (const r of data) {
    for (let i = 0; i < r.count; i += EXT_INIT_MAX_LEN) {
      out.push({ logical: r.logical + i, physical: r.physical + i, count: Math.min(EXT_INIT_MAX_LEN, r.count - i) });
    }
  }
  return out;
}

/** Tree blocks (leaves plus index blocks) for `n` extents: what the tree adds to the data. */
export function extentTreeBlocks(n: number, blockSize: number): number {
  const per = extentsPerBlock(blockSize);
  let blocks = 0;
  let level = n;
  while (level > EXT_ROOT_ENTRIES) {
    level = Math.ceil(level / per);
    blocks += level;
  }
  return blocks;
}

/** Extents a file's logical runs need at least (no physical fragmentation): for sizing. */
export function minExtents(runs: readonly LogicalRun[]): number {
  let n = 0;
  for (const r of runs) n += Math.ceil(r.count / EXT_INIT_MAX_LEN);
  return n;
}

export interface ExtentTree {
  /** i_block: the root header and its entries (60 bytes). */
  iBlock: Uint8Array;
  /** Leaf and index blocks, in the order they were allocated (ascending), checksum tail zero. */
  blocks: Array<{ physical: number; bytes: Uint8Array }>;
  depth: number;
}

interface Node {
  /** First logical block under this node. */
  first: number;
  /** Physical block of this node (tree blocks only). */
  physical: number;
}

/**
 * Build the tree for `extents` (sorted, non-overlapping), allocating its blocks from `alloc`
 * after the file's data (the allocator's goal), lowest level first.
 */
export function buildExtentTree(extents: readonly Extent[], blockSize: number, alloc: BlockAllocator, where: string): ExtentTree {
  const per = extentsPerBlock(blockSize);
  const iBlock = new Uint8Array(60);
  const blocks: ExtentTree['blocks'] = [];
  if (extents.length <= EXT_ROOT_ENTRIES) {
    writeHeader(iBlock, extents.length, EXT_ROOT_ENTRIES, 0);
    for (let i = 0; i < extents.length; i++) writeExtent(iBlock, EXTENT_HEADER.size + i * EXTENT.size, extents[i]!);
    return { iBlock, blocks, depth: 0 };
  }
  // Leaves.
  let level: Node[] = [];
  for (let i = 0; i < extents.length; i += per) {
    const chunk = extents.slice(i, i + per);
    const bytes = new Uint8Array(blockSize);
    writeHeader(bytes, chunk.length, per, 0);
    chunk.forEach((e, k) => writeExtent(bytes, EXTENT_HEADER.size + k * EXTENT.size, e));
    const physical = alloc.allocateOne();
    blocks.push({ physical, bytes });
    level.push({ first: chunk[0]!.logical, physical });
  }
  // Index levels until the root holds the rest.
  let depth = 1;
  while (level.length > EXT_ROOT_ENTRIES) {
    depth++;
    if (depth > EXT4_MAX_EXTENT_DEPTH) throw new ExtimgError('ETOOBIG', `${where}: extent tree deeper than ${EXT4_MAX_EXTENT_DEPTH}`, { path: where });
    const next: Node[] = [];
    for (let i = 0; i < level.length; i += per) {
      const chunk = level.slice(i, i + per);
      const bytes = new Uint8Array(blockSize);
      writeHeader(bytes, chunk.length, per, depth - 1);
      chunk.forEach((n, k) => writeIndex(bytes, EXTENT_HEADER.size + k * EXTENT_IDX.size, n));
      const physical = alloc.allocateOne();
      blocks.push({ physical, bytes });
      next.push({ first: chunk[0]!.first, physical });
    }
    level = next;
  }
  writeHeader(iBlock, level.length, EXT_ROOT_ENTRIES, depth);
  level.forEach((n, k) => writeIndex(iBlock, EXTENT_HEADER.size + k * EXTENT_IDX.size, n));
  return { iBlock, blocks, depth };
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

// Offsets from the struct tables, read once: these run for every file of an ext4 image.
const EH_MAGIC = EXTENT_HEADER.off.eh_magic;
const EH_ENTRIES = EXTENT_HEADER.off.eh_entries;
const EH_MAX = EXTENT_HEADER.off.eh_max;
const EH_DEPTH = EXTENT_HEADER.off.eh_depth;
const EE_BLOCK = EXTENT.off.ee_block;
const EE_LEN = EXTENT.off.ee_len;
const EE_START_HI = EXTENT.off.ee_start_hi;
const EE_START_LO = EXTENT.off.ee_start_lo;
const EI_BLOCK = EXTENT_IDX.off.ei_block;
const EI_LEAF_LO = EXTENT_IDX.off.ei_leaf_lo;
const EI_LEAF_HI = EXTENT_IDX.off.ei_leaf_hi;

// Little-endian stores byte by byte: no DataView per call, and no `.buffer` on the 60-byte
// i_block (V8 keeps typed arrays that small inside its heap and must move them out for that).
function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = v;
  b[at + 1] = v >>> 8;
}

function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = v;
  b[at + 1] = v >>> 8;
  b[at + 2] = v >>> 16;
  b[at + 3] = v >>> 24;
}

function writeHeader(b: Uint8Array, entries: number, max: number, depth: number): void {
  put16(b, EH_MAGIC, EXT4_EXT_MAGIC);
  put16(b, EH_ENTRIES, entries);
  put16(b, EH_MAX, max);
  put16(b, EH_DEPTH, depth);
}

function writeExtent(b: Uint8Array, at: number, e: Extent): void {
  put32(b, at + EE_BLOCK, e.logical);
  put16(b, at + EE_LEN, e.count);
  put16(b, at + EE_START_HI, Math.floor(e.physical / 0x100000000));
  put32(b, at + EE_START_LO, e.physical >>> 0);
}

function writeIndex(b: Uint8Array, at: number, n: Node): void {
  put32(b, at + EI_BLOCK, n.first);
  put32(b, at + EI_LEAF_LO, n.physical >>> 0);
  put16(b, at + EI_LEAF_HI, Math.floor(n.physical / 0x100000000));
}

/** Read a tree back (i_block and a block reader): the extents in logical order. For tests and the reader. */
export function readExtentTree(iBlock: Uint8Array, readBlock: (physical: number) => Uint8Array): Extent[] {
  const out: Extent[] = [];
  const walk = (b: Uint8Array): void => {
    const h = EXTENT_HEADER.decode(b);
    if (h.eh_magic !== EXT4_EXT_MAGIC) throw new ExtimgError('ECORRUPT', `extent header magic 0x${h.eh_magic.toString(16)}`, {});
    const dv = view(b);
    for (let i = 0; i < h.eh_entries; i++) {
      const at = EXTENT_HEADER.size + i * EXTENT.size;
      if (h.eh_depth === 0) {
        out.push({
          logical: EXTENT.get(dv, at, 'ee_block'),
          count: EXTENT.get(dv, at, 'ee_len'),
          physical: EXTENT.get(dv, at, 'ee_start_hi') * 0x100000000 + EXTENT.get(dv, at, 'ee_start_lo'),
        });
      } else walk(readBlock(EXTENT_IDX.get(dv, at, 'ei_leaf_hi') * 0x100000000 + EXTENT_IDX.get(dv, at, 'ei_leaf_lo')));
    }
  };
  walk(iBlock);
  return out;
}
