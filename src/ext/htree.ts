import { ExtimgError } from '../errors.js';
import { dirRecLen, writeDirTail } from './directory.js';
import { createDirHasher, DX_HASH_TEA, effectiveHashVersion, EXT2_FLAGS_UNSIGNED_HASH, type DirHasher, type HashSeed } from './dirhash.js';
import { DIR_ENTRY, DIR_ENTRY_TAIL, DX_COUNTLIMIT, DX_ENTRY, DX_ROOT_INFO, DX_TAIL } from './struct.js';

/**
 * Hash-indexed (dir_index) directories, laid out as e2fsck's rehash (e2fsprogs
 * e2fsck/rehash.c, what `e2fsck -D` writes) does and the kernel's fs/ext4/namei.c reads them:
 *
 *   block 0            dx_root: "." (rec_len 12), ".." (rec_len blocksize - 12), dx_root_info,
 *                      dx_countlimit + dx_entries (+ dx_tail with metadata_csum)
 *   blocks 1..L        leaves: ordinary dirent blocks holding the entries in hash order
 *                      (+ ext4_dir_entry_tail with metadata_csum)
 *   blocks L+1..L+N    interior dx_nodes when the root cannot point at every leaf
 *                      (indirect_levels 1): an empty dirent spanning the block, then
 *                      dx_countlimit + dx_entries (+ dx_tail)
 *
 * planHtree does the one layout pass (hashing every name once); htreeBlocks is its block count
 * and encodeHtree writes exactly that layout, so sizing and writing cannot disagree.
 *
 * Fill policy: leaves are filled as e2fsck -D fills them, leaving `slackPercent` (e2fsck's
 * indexed_dir_slack_percentage, default 20) of each leaf free so that the kernel can add entries
 * later without splitting a leaf at the first insert; a leaf is closed once less than that is
 * left. Unlike e2fsck, a run of equal major hashes that would straddle two leaves is moved whole
 * to the next leaf when it did not start the current one; only a run longer than a leaf
 * continues into the next leaf, whose index hash then has the low (collision) bit set. Index
 * nodes are filled completely, as e2fsck does.
 */

/** Where dx_root_info starts in block 0: after "." (12) and ".." (12). */
export const DX_ROOT_INFO_OFFSET = 24;
/** Where dx_countlimit starts: in the root after dx_root_info, in a node after the empty dirent. */
export const DX_ROOT_COUNT_OFFSET = DX_ROOT_INFO_OFFSET + DX_ROOT_INFO.size;
export const DX_NODE_COUNT_OFFSET = 8;
/** EXT4_INDEX_FL: the directory inode's i_flags bit saying block 0 is a dx_root. */
export const EXT4_INDEX_FL = 0x1000;
/** e2fsck's default indexed_dir_slack_percentage. */
export const DEFAULT_HTREE_SLACK_PERCENT = 20;

const EXT2_FT_DIR = 2;
const D = DIR_ENTRY.off;

export interface HtreeEntry {
  /** Name bytes, or a byte string (one char per byte, see tree/names.ts). 1..255 bytes. */
  name: string | Uint8Array;
  inode: number;
  fileType: number;
}

export interface HtreeInput {
  /** The directory's own inode number (".") and its parent's (".."). */
  self: number;
  parent: number;
  /** The entries other than "." and "..", in any order. */
  entries: readonly HtreeEntry[];
  blockSize: number;
  /** s_def_hash_version: DX_HASH_LEGACY, DX_HASH_HALF_MD4 or DX_HASH_TEA (stored in dx_root_info). */
  hashVersion: number;
  /** s_flags has EXT2_FLAGS_UNSIGNED_HASH: names hash as unsigned chars (kernel s_hash_unsigned). */
  unsignedHash: boolean;
  /** s_hash_seed (16 bytes as on disk, or 4 words); all zero or absent means the default seed. */
  seed?: HashSeed;
  /** metadata_csum: leaves end with ext4_dir_entry_tail, dx blocks reserve a dx_tail. */
  metadataCsum: boolean;
  /** Percent of each leaf left free for later inserts (e2fsck's default 20; 0 packs fully). */
  slackPercent?: number;
  /** The directory as messages should name it. */
  path?: string;
  /** Replaces the hash (tests use it to force collisions); must return even major hashes. */
  hasher?: DirHasher;
}

/** An htree root or interior node: where its checksum is computed (see `HtreeLayout`). */
export interface DxBlockSite {
  /** Logical block within the directory. */
  block: number;
  /** Offset of dx_countlimit: DX_ROOT_COUNT_OFFSET or DX_NODE_COUNT_OFFSET. */
  countOffset: number;
  /** Entries in use (dx_countlimit.count). */
  count: number;
  /** dx_countlimit.limit. */
  limit: number;
}

/**
 * One directory's layout. With metadata_csum the checksums are left 0 for the checksum module:
 * - each leaf block `b` in [leafFirst, leafFirst + leafCount): det_checksum at blockSize - 4,
 *   over bytes [0, blockSize - 12) (kernel ext4_dirblock_csum);
 * - each of `dxBlocks`: dt_checksum at blockSize - 4, over [0, countOffset + count * 8) then
 *   dt_reserved (kernel ext4_dx_csum).
 */
export interface HtreeLayout {
  readonly blockSize: number;
  /** Blocks the directory needs: its i_size is blocks * blockSize. */
  readonly blocks: number;
  /** dx_root_info.indirect_levels: 0 (root points at leaves) or 1 (root -> nodes -> leaves). */
  readonly indirectLevels: number;
  readonly leafFirst: number;
  readonly leafCount: number;
  readonly nodeCount: number;
  readonly dxBlocks: readonly DxBlockSite[];
  readonly metadataCsum: boolean;
  /** The input the layout was planned from (entries are referenced, not copied). */
  readonly input: HtreeInput;
  /** Entry indices in hash order. */
  readonly order: Uint32Array;
  /** leafCount + 1 boundaries into `order`: leaf k holds order[leafStart[k] .. leafStart[k+1]). */
  readonly leafStart: Uint32Array;
  /** The index hash of each leaf (leaf 0's is unused), collision bit included. */
  readonly leafHash: Uint32Array;
}

/** dx_root limit: (blocksize - "." - ".." - dx_root_info [- dx_tail]) / 8 (kernel dx_root_limit). */
export function dxRootLimit(blockSize: number, metadataCsum: boolean): number {
  return Math.floor((blockSize - DX_ROOT_COUNT_OFFSET - (metadataCsum ? DX_TAIL.size : 0)) / DX_ENTRY.size);
}

/** dx_node limit: (blocksize - empty dirent [- dx_tail]) / 8 (kernel dx_node_limit). */
export function dxNodeLimit(blockSize: number, metadataCsum: boolean): number {
  return Math.floor((blockSize - DX_NODE_COUNT_OFFSET - (metadataCsum ? DX_TAIL.size : 0)) / DX_ENTRY.size);
}

/**
 * Whether a directory with these entries becomes an htree: when ".", ".." and the entries do
 * not fit one linear block (less its tail with metadata_csum). The kernel indexes a directory
 * when its first block fills (make_indexed_dir); a one-block directory stays linear.
 */
export function needsIndex(entries: readonly { name: string | Uint8Array }[], blockSize: number, metadataCsum: boolean): boolean {
  const room = blockSize - (metadataCsum ? DIR_ENTRY_TAIL.size : 0);
  let used = dirRecLen(1) + dirRecLen(2);
  for (const e of entries) {
    used += dirRecLen(e.name.length);
    if (used > room) return true;
  }
  return false;
}

/** The number of blocks the htree of `input` takes (= planHtree(input).blocks). */
export function htreeBlocks(input: HtreeInput): number {
  return planHtree(input).blocks;
}

/** The layout pass: hash, sort, cut into leaves, size the index. Throws ETOOBIG past two levels. */
export function planHtree(input: HtreeInput): HtreeLayout {
  const { blockSize, entries, metadataCsum } = input;
  const where = input.path ?? `directory inode ${input.self}`;
  if (!Number.isInteger(blockSize) || blockSize < 1024 || blockSize > 65536 || (blockSize & (blockSize - 1)) !== 0) {
    throw new ExtimgError('EINVAL', `${where}: block size ${blockSize} is not a power of two from 1024 to 65536`, { blockSize });
  }
  if (!Number.isInteger(input.hashVersion) || input.hashVersion < 0 || input.hashVersion > DX_HASH_TEA) {
    throw new ExtimgError('EINVAL', `${where}: directory hash version ${input.hashVersion} is not legacy, half_md4 or tea`, {
      hashVersion: input.hashVersion,
    });
  }
  const n = entries.length;
  const hasher =
    input.hasher ??
    createDirHasher(effectiveHashVersion(input.hashVersion, input.unsignedHash ? EXT2_FLAGS_UNSIGNED_HASH : 0), input.seed);

  // Hash each name once.
  const hashes = new Uint32Array(n);
  const minors = new Uint32Array(n);
  const recLens = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const name = entries[i]!.name;
    if (name.length < 1 || name.length > 255) {
      throw new ExtimgError('EINVAL', `${where}: a directory entry name of ${name.length} bytes`, { length: name.length });
    }
    const h = hasher(name);
    hashes[i] = h.hash;
    minors[i] = h.minorHash;
    recLens[i] = dirRecLen(name.length);
  }

  // Sort as e2fsck's hash_cmp: major hash, minor hash, then name bytes (shorter first on a tie).
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => {
    const ha = hashes[a]!;
    const hb = hashes[b]!;
    if (ha !== hb) return ha < hb ? -1 : 1;
    const ma = minors[a]!;
    const mb = minors[b]!;
    if (ma !== mb) return ma < mb ? -1 : 1;
    return compareNames(entries[a]!.name, entries[b]!.name);
  });

  // Cut the sorted entries into leaves (e2fsck copy_dir_entries, plus keeping hash runs whole).
  const usable = blockSize - (metadataCsum ? DIR_ENTRY_TAIL.size : 0);
  const slackPercent = input.slackPercent ?? DEFAULT_HTREE_SLACK_PERCENT;
  if (!(slackPercent >= 0 && slackPercent <= 100)) {
    throw new ExtimgError('EINVAL', `${where}: htree slack ${slackPercent}% is not between 0 and 100`, { slackPercent });
  }
  const slack = Math.max(Math.floor((usable * slackPercent) / 100), dirRecLen(1));
  const starts: number[] = [0];
  let leafBegin = 0;
  let left = usable;
  for (let k = 0; k < n; ) {
    const rec = recLens[order[k]!]!;
    if (rec > left) {
      // A new leaf. A run of equal hashes that began inside this leaf moves with it.
      let s = k;
      const h = hashes[order[k]!]!;
      while (s > leafBegin && hashes[order[s - 1]!] === h) s--;
      if (s > leafBegin) k = s;
      starts.push(k);
      leafBegin = k;
      left = usable;
      continue;
    }
    left -= rec;
    if (left < slack) left = 0;
    k++;
  }
  const leafCount = starts.length;
  const leafStart = new Uint32Array(leafCount + 1);
  leafStart.set(starts);
  leafStart[leafCount] = n;
  const leafHash = new Uint32Array(leafCount);
  for (let l = 1; l < leafCount; l++) {
    const s = leafStart[l]!;
    const h = hashes[order[s]!]!;
    // The collision bit: this leaf continues a run of the previous one (kernel do_split "continued").
    leafHash[l] = hashes[order[s - 1]!] === h ? (h | 1) >>> 0 : h;
  }

  // The index: one level while the root holds every leaf, else root -> nodes -> leaves.
  const rootLimit = dxRootLimit(blockSize, metadataCsum);
  const nodeLimit = dxNodeLimit(blockSize, metadataCsum);
  const leafFirst = 1;
  let indirectLevels = 0;
  let nodeCount = 0;
  const dxBlocks: DxBlockSite[] = [];
  if (leafCount <= rootLimit) {
    dxBlocks.push({ block: 0, countOffset: DX_ROOT_COUNT_OFFSET, count: leafCount, limit: rootLimit });
  } else {
    // Without largedir the kernel allows two index levels (ext4_dir_htree_level); a third
    // (indirect_levels 2) would be needed past rootLimit * nodeLimit leaves.
    nodeCount = Math.ceil(leafCount / nodeLimit);
    indirectLevels = 1;
    if (nodeCount > rootLimit) {
      throw new ExtimgError(
        'ETOOBIG',
        `${where}: ${n} entries need ${leafCount} leaf blocks, more than a two-level hash index of ${blockSize}-byte blocks holds (${rootLimit * nodeLimit}; three levels need largedir)`,
        { path: input.path, inode: input.self, entries: n, leaves: leafCount, maxLeaves: rootLimit * nodeLimit },
      );
    }
    dxBlocks.push({ block: 0, countOffset: DX_ROOT_COUNT_OFFSET, count: nodeCount, limit: rootLimit });
    for (let j = 0; j < nodeCount; j++) {
      const count = Math.min(nodeLimit, leafCount - j * nodeLimit);
      dxBlocks.push({ block: leafFirst + leafCount + j, countOffset: DX_NODE_COUNT_OFFSET, count, limit: nodeLimit });
    }
  }

  return {
    blockSize,
    blocks: 1 + leafCount + nodeCount,
    indirectLevels,
    leafFirst,
    leafCount,
    nodeCount,
    dxBlocks,
    metadataCsum,
    input,
    order,
    leafStart,
    leafHash,
  };
}

/**
 * Write the layout into `out`: `layout.blocks * blockSize` zeroed bytes, logical block 0 first.
 * Checksum fields stay 0 (see HtreeLayout for where they are).
 */
export function encodeHtree(layout: HtreeLayout, out: Uint8Array): void {
  const { blockSize, input, order, leafStart, leafHash, leafCount, leafFirst, indirectLevels } = layout;
  if (out.length < layout.blocks * blockSize) {
    throw new RangeError(`htree needs ${layout.blocks * blockSize} bytes, got ${out.length}`);
  }
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const entries = input.entries;
  const usable = blockSize - (layout.metadataCsum ? DIR_ENTRY_TAIL.size : 0);

  // Block 0: the fake "." and ".." (file type as e2fsck's set_root_node with filetype), then the root info.
  putDirent(out, dv, 0, input.self, 12, '.', EXT2_FT_DIR, blockSize);
  putDirent(out, dv, 12, input.parent, blockSize - 12, '..', EXT2_FT_DIR, blockSize);
  const info = DX_ROOT_INFO_OFFSET;
  out[info + DX_ROOT_INFO.off.hash_version] = input.hashVersion;
  out[info + DX_ROOT_INFO.off.info_length] = DX_ROOT_INFO.size;
  out[info + DX_ROOT_INFO.off.indirect_levels] = indirectLevels;

  // The index entries: leaf l is block leafFirst + l; entry 0's hash field is the countlimit.
  const putIndex = (site: DxBlockSite, firstLeaf: number, childBlock: (i: number) => number, childHash: (i: number) => number): void => {
    const base = site.block * blockSize + site.countOffset;
    dv.setUint16(base + DX_COUNTLIMIT.off.limit, site.limit, true);
    dv.setUint16(base + DX_COUNTLIMIT.off.count, site.count, true);
    for (let i = 0; i < site.count; i++) {
      const at = base + i * DX_ENTRY.size;
      if (i > 0) dv.setUint32(at + DX_ENTRY.off.hash, childHash(firstLeaf + i), true);
      dv.setUint32(at + DX_ENTRY.off.block, childBlock(firstLeaf + i), true);
    }
  };
  const root = layout.dxBlocks[0]!;
  if (indirectLevels === 0) {
    putIndex(root, 0, (l) => leafFirst + l, (l) => leafHash[l]!);
  } else {
    const nodes = layout.dxBlocks.slice(1);
    const nodeLimit = nodes[0]!.limit;
    // A node's hash in the root is the hash of its first leaf (e2fsck calculate_tree).
    putIndex(root, 0, (j) => nodes[j]!.block, (j) => leafHash[j * nodeLimit]!);
    for (let j = 0; j < nodes.length; j++) {
      const node = nodes[j]!;
      // The empty dirent spanning the block that makes a node look like an unused leaf to old readers.
      putRecLen(dv, node.block * blockSize + D.rec_len, blockSize, blockSize);
      putIndex(node, j * nodeLimit, (l) => leafFirst + l, (l) => leafHash[l]!);
    }
  }

  // The leaves.
  for (let l = 0; l < leafCount; l++) {
    const blockAt = (leafFirst + l) * blockSize;
    const from = leafStart[l]!;
    const to = leafStart[l + 1]!;
    let pos = 0;
    if (from === to) {
      putRecLen(dv, blockAt + D.rec_len, usable, blockSize); // an empty directory: one unused entry
    }
    for (let k = from; k < to; k++) {
      const e = entries[order[k]!]!;
      const rec = dirRecLen(e.name.length);
      // The last entry's rec_len runs to the tail (or the block end).
      putDirent(out, dv, blockAt + pos, e.inode, k === to - 1 ? usable - pos : rec, e.name, e.fileType, blockSize);
      pos += rec;
    }
    if (layout.metadataCsum) writeDirTail(out, blockAt, blockSize);
  }
}

/** Plan and encode in one call: returns the layout and its blocks. */
export function buildHtree(input: HtreeInput): { layout: HtreeLayout; bytes: Uint8Array } {
  const layout = planHtree(input);
  const bytes = new Uint8Array(layout.blocks * layout.blockSize);
  encodeHtree(layout, bytes);
  return { layout, bytes };
}

/** ext4_rec_len_to_disk: a whole 64 KiB block is stored as 65535. */
function putRecLen(dv: DataView, at: number, len: number, blockSize: number): void {
  dv.setUint16(at, len === 65536 && blockSize === 65536 ? 0xffff : len, true);
}

function putDirent(
  out: Uint8Array,
  dv: DataView,
  at: number,
  inode: number,
  recLen: number,
  name: string | Uint8Array,
  fileType: number,
  blockSize: number,
): void {
  dv.setUint32(at + D.inode, inode, true);
  putRecLen(dv, at + D.rec_len, recLen, blockSize);
  out[at + D.name_len] = name.length;
  out[at + D.file_type] = fileType;
  const nameAt = at + DIR_ENTRY.size;
  if (typeof name === 'string') {
    for (let i = 0; i < name.length; i++) out[nameAt + i] = name.charCodeAt(i);
  } else {
    out.set(name, nameAt);
  }
}

/** memcmp over the common length, then the shorter first (e2fsck name_cmp). */
function compareNames(a: string | Uint8Array, b: string | Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = typeof a === 'string' ? a.charCodeAt(i) : a[i]!;
    const y = typeof b === 'string' ? b.charCodeAt(i) : b[i]!;
    if (x !== y) return x - y;
  }
  return a.length - b.length;
}
