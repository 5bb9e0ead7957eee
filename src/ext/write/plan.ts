import { ExtimgError } from '../../errors.js';
import type { FileContent } from '../../tree/content.js';
import { keyToDisplay } from '../../tree/names.js';
import type { DirNode, Node } from '../../tree/node.js';
import type { Tree } from '../../tree/tree.js';
import { countIndirectBlocks, maxLogicalBlocks, type LogicalRun } from '../blockmap.js';
import {
  EXT2_FIRST_INO,
  EXT2_ROOT_INO,
  FT_BLKDEV,
  FT_CHRDEV,
  FT_DIR,
  FT_FIFO,
  FT_REG_FILE,
  FT_SOCK,
  FT_SYMLINK,
} from '../constants.js';
import { packDirectory, type DirEntryInput } from '../directory.js';
import { DX_HASH_HALF_MD4 } from '../dirhash.js';
import { extentTreeBlocks, minExtents } from '../extents.js';
import { EXT4_LINK_MAX, type Features } from '../features.js';
import { needsIndex, planHtree, type HtreeLayout } from '../htree.js';
import { EXT2_EXT_ATTR_REFCOUNT_MAX, placeXattrs, type XattrPlacement } from '../xattr.js';

/**
 * The kernel's ext4_max_bitmap_size() in blocks: without huge_file i_blocks counts 2^32-1
 * sectors, data and indirect blocks together, which binds at 4 KiB blocks (536346110 blocks,
 * ~2 TiB) where the block map alone could address 4 TiB; with huge_file (2^48 sectors) and
 * elsewhere the block map is the limit.
 */
export function maxBitmapBlocks(blockSize: number, hugeFile = false): number {
  const ppb = blockSize / 4;
  let upper = hugeFile ? 2 ** 48 - 1 : Math.floor(0xffffffff / (blockSize / 512));
  const tree = 12 + ppb + ppb * ppb + ppb * ppb * ppb;
  if (tree + 1 + (1 + ppb) + (1 + ppb + ppb * ppb) <= upper) return tree;
  const res = upper;
  upper -= 12;
  let meta = 1;
  upper -= ppb;
  if (upper < ppb * ppb) return res - (meta + 1 + Math.ceil(upper / ppb));
  meta += 1 + ppb;
  upper -= ppb * ppb;
  meta += 1 + Math.ceil(upper / ppb) + Math.ceil(upper / (ppb * ppb));
  return res - meta;
}

/**
 * The kernel's ext4_max_size() for extent-mapped files, in blocks: 2^32 - 1 logical blocks with
 * huge_file; without it i_blocks' 2^32 - 1 sectors bind first.
 */
export function maxExtentBlocks(blockSize: number, hugeFile: boolean): number {
  return hugeFile ? 0xffffffff : Math.floor(0xffffffff / (blockSize / 512));
}

/** A fast symlink keeps its target in i_block when it is shorter than the 60 bytes there. */
export const FAST_SYMLINK_MAX = 59;

export interface PlannedInode {
  ino: number;
  node: Node;
  /** Path for messages. */
  path: string;
  links: number;
  /** i_size. */
  size: number;
  /** Logical blocks holding data (files, directories, slow symlinks). */
  runs: LogicalRun[];
  /** Data plus indirect blocks. */
  blocks: number;
  /** Directories: parent inode and entries. */
  parent?: number;
  entries?: DirEntryInput[];
  dirBlocks?: number;
  /** Directories written as an htree (more than one block, dir_index): their layout. */
  htree?: HtreeLayout;
  /** Extended attributes as placed on disk (in the inode body and/or a shared block). */
  xattr?: XattrPlacement;
}

export interface PlanOptions {
  blockSize: number;
  inodeSize: number;
  features: Features;
  /** Directories of more than one block become htrees (dir_index, and not for ext2). */
  htree: boolean;
  /** s_hash_seed: htree leaves depend on it, so it is known before sizing. */
  hashSeed: Uint8Array;
}

export interface TreePlan {
  blockSize: number;
  /** In inode-number order, starting with the root (2), then lost+found (11), then the rest. */
  inodes: PlannedInode[];
  /** Highest inode number in use. */
  maxIno: number;
  /** Sum of `blocks` over all planned inodes. */
  blocks: number;
  /** Bytes of file data to copy (for progress). */
  dataBytes: number;
  directories: number;
}

const LOST_FOUND = 'lost+found';
/** The runs of an inode without data blocks (shared: runs arrays are replaced, never changed). */
const NO_RUNS: LogicalRun[] = [];

/** mke2fs create_lost_and_found(): 16 KiB and at least 2 blocks. */
export function lostFoundBlocks(blockSize: number): number {
  let size = 0;
  let blocks = 1;
  for (let i = 1; i < 12; i++) {
    if ((size += blockSize) >= 16 * 1024 && size >= 2 * blockSize) break;
    blocks++;
  }
  return blocks;
}

function fileType(node: Node): number {
  switch (node.kind) {
    case 'dir':
      return FT_DIR;
    case 'file':
      return FT_REG_FILE;
    case 'symlink':
      return FT_SYMLINK;
    case 'chr':
      return FT_CHRDEV;
    case 'blk':
      return FT_BLKDEV;
    case 'fifo':
      return FT_FIFO;
    case 'socket':
      return FT_SOCK;
  }
}

/** Logical data runs of a file's content at this block size (`key`: the file's path, for messages). */
export function contentRuns(content: FileContent, blockSize: number, key: string): LogicalRun[] {
  const nblocks = Math.ceil(content.size / blockSize);
  if (nblocks === 0) return [];
  if (content.dataRanges) {
    const runs: LogicalRun[] = [];
    for (const r of content.dataRanges) {
      const end = Math.min(r.offset + r.length, content.size);
      if (r.length <= 0 || r.offset >= end) continue;
      const a = Math.floor(r.offset / blockSize);
      const b = Math.ceil(end / blockSize);
      const prev = runs[runs.length - 1];
      if (prev && a < prev.start) {
        const path = keyToDisplay(key);
        throw new ExtimgError('EINVAL', `${path}: data ranges are not sorted`, { path });
      }
      if (prev && a <= prev.start + prev.count) prev.count = Math.max(prev.count, b - prev.start);
      else runs.push({ start: a, count: b - a });
    }
    return runs;
  }
  if (content.sparse) return scanZeroBlocks(content, blockSize, nblocks);
  return [{ start: 0, count: nblocks }];
}

/** For a sparse source that cannot tell where its holes are: all-zero blocks become holes. */
function scanZeroBlocks(content: FileContent, blockSize: number, nblocks: number): LogicalRun[] {
  const runs: LogicalRun[] = [];
  const chunkBlocks = Math.max(1, (1 << 20) / blockSize);
  const buf = new Uint8Array(chunkBlocks * blockSize);
  const reader = content.open();
  try {
    for (let b = 0; b < nblocks; b += chunkBlocks) {
      const n = Math.min(chunkBlocks, nblocks - b);
      const len = Math.min(n * blockSize, content.size - b * blockSize);
      const view = buf.subarray(0, len);
      reader.read(b * blockSize, view);
      const words = new Int32Array(buf.buffer, 0, (n * blockSize) >> 2);
      if (len < n * blockSize) buf.fill(0, len, n * blockSize);
      const wpb = blockSize >> 2;
      for (let i = 0; i < n; i++) {
        let zero = true;
        for (let w = i * wpb, e = w + wpb; w < e; w++) {
          if (words[w] !== 0) {
            zero = false;
            break;
          }
        }
        if (zero) continue;
        const l = b + i;
        const prev = runs[runs.length - 1];
        if (prev && prev.start + prev.count === l) prev.count++;
        else runs.push({ start: l, count: 1 });
      }
    }
  } finally {
    reader.close();
  }
  return runs;
}

/**
 * Number the inodes and size everything that takes blocks. The root is inode 2 and
 * /lost+found inode 11, as mke2fs makes them; the rest follow depth first in name order, a hard
 * link taking its node's first number. `blocks` counts what the tree takes before placement:
 * exact for block maps; for extents the fewest (physical fragmentation, found when placing,
 * can add tree blocks).
 */
export function planTree(tree: Tree, o: PlanOptions): TreePlan {
  const { blockSize, inodeSize, features } = o;
  const apb = blockSize / 4;
  const extents = features.mapping === 'extents';
  const hugeFile = features.has('huge_file');
  // The largest file: what the mapping reaches, and what i_blocks can count — the kernel's
  // ext4_max_bitmap_size() (binds at 4 KiB blocks without huge_file: 2 TiB, not the 4 TiB the
  // map could address) or ext4_max_size() for extents.
  const maxBlocks = extents ? maxExtentBlocks(blockSize, hugeFile) : Math.min(maxLogicalBlocks(apb), maxBitmapBlocks(blockSize, hugeFile));
  const fsName = extents ? 'extent-mapped file' : 'block map';
  const csum = features.metadataCsum;
  const byNode = new Map<Node, PlannedInode>();
  const inodes: PlannedInode[] = [];
  let nextIno = EXT2_FIRST_INO;
  let dataBytes = 0;
  let directories = 0;

  const root = tree.root;
  let lostFound = root.entries.get(LOST_FOUND);
  if (lostFound && lostFound.kind !== 'dir') {
    throw new ExtimgError('EEXIST', `/lost+found: must be a directory for e2fsck, found a ${lostFound.kind}`, {
      path: '/lost+found',
    });
  }
  const lfNode: DirNode = lostFound ?? {
    kind: 'dir',
    meta: { ...tree.meta(0o700), uid: 0, gid: 0 },
    entries: new Map(),
  };

  const add = (node: Node, path: string, ino?: number): PlannedInode => {
    // Every field from the start: one object shape for all inodes (fields added later would
    // make the writer's property loads polymorphic).
    const p: PlannedInode = {
      ino: ino ?? nextIno++,
      node,
      path,
      links: 0,
      size: 0,
      runs: NO_RUNS,
      blocks: 0,
      parent: undefined,
      entries: undefined,
      dirBlocks: undefined,
      htree: undefined,
      xattr: undefined,
    };
    byNode.set(node, p);
    inodes.push(p);
    return p;
  };
  add(root, '/', EXT2_ROOT_INO);
  add(lfNode, '/lost+found');

  // Depth first, children in byte order, so a directory's files sit together on disk. An
  // explicit stack: archive trees can be deeper than the JS call stack.
  const stack: Array<[DirNode, string]> = [[root, '']];
  while (stack.length) {
    const [dir, prefix] = stack.pop()!;
    const self = byNode.get(dir)!;
    // The default sort compares UTF-16 code units: for byte-string keys (every char 0-255) that is
    // compareKeys' byte order, without a JS comparator call per comparison.
    const names = [...dir.entries.keys()].sort();
    const entries: DirEntryInput[] = [];
    if (dir === root && !lostFound) {
      entries.push({ name: LOST_FOUND, inode: byNode.get(lfNode)!.ino, fileType: FT_DIR });
    }
    const subdirs: Array<[DirNode, string]> = [];
    for (const name of names) {
      const child = dir.entries.get(name)!;
      const path = `${prefix}/${name}`;
      let p = byNode.get(child);
      if (!p) p = add(child, path);
      else if (child.kind === 'dir' && p.links > 0) {
        throw new ExtimgError('EINVAL', `${keyToDisplay(path)}: a directory cannot appear twice in the tree`, { path });
      }
      p.links++;
      entries.push({ name, inode: p.ino, fileType: fileType(child) });
      if (child.kind === 'dir') {
        p.parent = self.ino;
        subdirs.push([child, path]);
      }
    }
    self.entries = entries;
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
  }
  if (!lostFound) byNode.get(lfNode)!.entries = [];
  byNode.get(lfNode)!.parent = EXT2_ROOT_INO;
  byNode.get(root)!.parent = EXT2_ROOT_INO;

  // Sizes and block counts.
  let totalBlocks = 0;
  const xattrShares = new Map<string, number>();
  for (const p of inodes) {
    const node = p.node;
    // Messages only: decoded on demand (a TextDecoder call per inode was ~5% of planning).
    const display = (): string => keyToDisplay(p.path);
    switch (node.kind) {
      case 'dir': {
        directories++;
        const subdirs = p.entries!.filter((e) => e.fileType === FT_DIR).length;
        p.links = 2 + subdirs;
        if (subdirs > features.maxSubdirs) {
          throw new ExtimgError(
            'ETOOBIG',
            `${display()}: ${subdirs} subdirectories exceed the limit of ${EXT4_LINK_MAX - 2} without the dir_nlink feature (i_links_count)`,
            { path: display(), subdirs },
          );
        }
        // dir_nlink: a directory past the limit counts 1 link, as the kernel sets it (ext4_inc_count).
        if (p.links >= EXT4_LINK_MAX) p.links = 1;
        const minBlocks = node === lfNode ? lostFoundBlocks(blockSize) : 1;
        if (o.htree && node !== lfNode && needsIndex(p.entries!, blockSize, csum)) {
          p.htree = planHtree({
            self: p.ino,
            parent: p.parent!,
            entries: p.entries!,
            blockSize,
            hashVersion: DX_HASH_HALF_MD4,
            unsignedHash: false,
            seed: o.hashSeed,
            metadataCsum: csum,
            path: display(),
          });
          p.dirBlocks = p.htree.blocks;
        } else p.dirBlocks = packDirectory(p.ino, p.parent!, p.entries!, blockSize, minBlocks, undefined, csum);
        p.size = p.dirBlocks * blockSize;
        p.runs = [{ start: 0, count: p.dirBlocks }];
        if (p.dirBlocks > maxBlocks) throw new ExtimgError('ETOOBIG', `${display()}: directory too large`, { path: display() });
        break;
      }
      case 'file': {
        const size = node.content.size;
        if (!Number.isSafeInteger(size) || size < 0) {
          throw new ExtimgError('EINVAL', `${display()}: invalid file size ${size}`, { path: display() });
        }
        if (Math.ceil(size / blockSize) > maxBlocks) {
          throw new ExtimgError(
            'ETOOBIG',
            `${display()}: ${size} bytes exceed the largest file a ${fsName} holds at ${blockSize}-byte blocks${hugeFile ? '' : ' without huge_file'} (${maxBlocks * blockSize})`,
            { path: display(), size },
          );
        }
        p.size = size;
        p.runs = contentRuns(node.content, blockSize, p.path);
        for (const r of p.runs) dataBytes += Math.min(r.count * blockSize, size - r.start * blockSize);
        break;
      }
      case 'symlink': {
        const len = node.target.length;
        if (len >= blockSize || len >= 4096) {
          throw new ExtimgError(
            'ETOOBIG',
            `${display()}: symlink target of ${len} bytes is too long (at most ${Math.min(blockSize, 4096) - 1} at ${blockSize}-byte blocks)`,
            { path: display(), length: len },
          );
        }
        p.size = len;
        if (len > FAST_SYMLINK_MAX) p.runs = [{ start: 0, count: 1 }];
        break;
      }
      default:
        break;
    }
    if (node.kind !== 'dir' && p.links > EXT4_LINK_MAX) {
      throw new ExtimgError('ETOOBIG', `${display()}: ${p.links} hard links exceed the limit of ${EXT4_LINK_MAX} (i_links_count)`, {
        path: display(),
        links: p.links,
      });
    }
    let dataBlocks = 0;
    for (const r of p.runs) dataBlocks += r.count;
    p.blocks = dataBlocks + (extents ? extentTreeBlocks(minExtents(p.runs), blockSize) : countIndirectBlocks(p.runs, apb));
    if (node.meta.xattrs.size) {
      p.xattr = placeXattrs(node.meta.xattrs, inodeSize, blockSize, display());
      if (p.xattr.blockKey !== undefined) {
        // Each inode counts the block in its i_blocks; the image holds one per 1024 sharers.
        const n = (xattrShares.get(p.xattr.blockKey) ?? 0) + 1;
        xattrShares.set(p.xattr.blockKey, n);
        if (n % EXT2_EXT_ATTR_REFCOUNT_MAX === 1) totalBlocks++;
        p.blocks++;
      }
    }
    if (p.xattr?.blockKey !== undefined) totalBlocks--; // counted once per share above
    if ((p.blocks * blockSize) / 512 > features.maxSectors) {
      throw new ExtimgError('ETOOBIG', `${display()}: file too large for i_blocks${hugeFile ? '' : ' without huge_file'}`, { path: display() });
    }
    totalBlocks += p.blocks;
  }
  inodes.sort((a, b) => a.ino - b.ino);
  return {
    blockSize,
    inodes,
    maxIno: Math.max(nextIno - 1, EXT2_FIRST_INO),
    blocks: totalBlocks,
    dataBytes,
    directories,
  };
}

