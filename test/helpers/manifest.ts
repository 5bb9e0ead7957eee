import type { FileContent } from '../../src/tree/content.js';
import type { Node, Timestamp } from '../../src/tree/node.js';
import type { Tree } from '../../src/tree/tree.js';
import { CHUNK, chunkCount, ContentDigest, digestSparse } from './digest.js';

/**
 * A manifest is what a reader saw in an image (or what we expect it to see): one entry per path.
 * Keys are paths as byte strings (each char code is one byte, see src/tree/names.ts) without a
 * leading '/'; the root directory is ''. Fields a reader cannot see are left undefined and the
 * comparison skips them (see compare.ts).
 */
export type EntryType = 'dir' | 'file' | 'symlink' | 'chr' | 'blk' | 'fifo' | 'socket';

export interface Entry {
  type: EntryType;
  /** Permission bits incl. setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Regular files: i_size. */
  size?: number;
  /** Regular files: content digest (digest.ts: sha256 over size and the non-zero 64 KiB chunks). */
  digest?: string;
  /** Symlinks: the target bytes as hex. */
  target?: string;
  /** chr/blk devices. */
  major?: number;
  minor?: number;
  mtime?: { sec: number; nsec?: number };
  nlink?: number;
  /**
   * Hard link identity for non-directories: the smallest path (byte order) of all names that
   * share this inode. Equal inodeGroup <=> same inode.
   */
  inodeGroup?: string;
  /** i_blocks in 512-byte units (data plus indirect blocks); only where a check is wanted. */
  allocatedBlocks?: number;
  /** A reader could not read this entry (or its content); what it said. */
  error?: string;
}

export type Manifest = Map<string, Entry>;

export const LOST_FOUND = 'lost+found';

// ---- path display ------------------------------------------------------------------------

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A byte-string path for humans: '/' + UTF-8 where valid, control and invalid bytes as \xNN. */
export function showPath(key: string): string {
  const bytes = Uint8Array.from(key, (c) => c.charCodeAt(0));
  let text: string | undefined;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    text = undefined;
  }
  let out = '';
  if (text !== undefined) {
    for (const ch of text) {
      const c = ch.codePointAt(0)!;
      out += c < 0x20 || c === 0x7f || ch === '\\' ? `\\x${c.toString(16).padStart(2, '0')}` : ch;
    }
  } else {
    for (const b of bytes) {
      out += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
    }
  }
  if (out.length > 120) out = `${out.slice(0, 60)}…(${key.length} bytes)…${out.slice(-40)}`;
  return `/${out}`;
}

export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function joinKey(parent: string, name: string): string {
  return parent === '' ? name : `${parent}/${name}`;
}

export function modeType(mode: number): EntryType {
  switch (mode & 0o170000) {
    case 0o040000:
      return 'dir';
    case 0o100000:
      return 'file';
    case 0o120000:
      return 'symlink';
    case 0o020000:
      return 'chr';
    case 0o060000:
      return 'blk';
    case 0o010000:
      return 'fifo';
    case 0o140000:
      return 'socket';
    default:
      throw new Error(`unknown file type in mode 0${mode.toString(8)}`);
  }
}

/** Fill in inodeGroup from an inode identity per path (inode number, node object...). */
export function assignInodeGroups(manifest: Manifest, identity: Map<string, unknown>): void {
  const first = new Map<unknown, string>();
  for (const [path, id] of identity) {
    const cur = first.get(id);
    if (cur === undefined || path < cur) first.set(id, path);
  }
  for (const [path, id] of identity) {
    const e = manifest.get(path);
    if (e && e.type !== 'dir') e.inodeGroup = first.get(id)!;
  }
}

// ---- expected manifest from a Tree --------------------------------------------------------

export interface ExpectOptions {
  /** 128-byte inodes have no room for nanoseconds: expected nsec becomes 0. Default 256. */
  inodeSize?: 128 | 256;
  /** Include /lost+found (mode 0700, root:root, mtime unchecked). Default true. */
  lostFound?: boolean;
  /** Block size: with it, files with declared dataRanges get an expected allocatedBlocks. */
  blockSize?: number;
  /** Files are extent-mapped (ext4): i_blocks counts extent tree blocks, not indirect ones. */
  extents?: boolean;
  /** Reproducible builds clamp file times to this many seconds since the epoch. */
  timestamp?: number;
  /** Leave mtime out entirely (readers or producers that cannot keep it). */
  noTimes?: boolean;
}

function expectTime(t: Timestamp, opts: ExpectOptions): { sec: number; nsec: number } {
  let { sec, nsec } = t;
  if (opts.timestamp !== undefined && (sec > opts.timestamp || (sec === opts.timestamp && nsec > 0))) {
    sec = opts.timestamp;
    nsec = 0;
  }
  if (opts.inodeSize === 128) nsec = 0;
  return { sec, nsec };
}

/** The manifest a correct image built from `tree` must read back as. */
export function manifestFromTree(tree: Tree, opts: ExpectOptions = {}): Manifest {
  const m: Manifest = new Map();
  const identity = new Map<string, Node>();
  const subdirs = new Map<Node, number>();
  const names = new Map<Node, number>();
  for (const [, node, parent] of tree.walk()) {
    if (parent && node.kind === 'dir') subdirs.set(parent, (subdirs.get(parent) ?? 0) + 1);
    names.set(node, (names.get(node) ?? 0) + 1);
  }
  const wantLostFound = (opts.lostFound ?? true) && !tree.root.entries.has(LOST_FOUND);
  for (const [path, node] of tree.walk()) {
    const meta = node.meta;
    const e: Entry = {
      type: node.kind,
      mode: meta.mode & 0o7777,
      uid: meta.uid,
      gid: meta.gid,
    };
    if (!opts.noTimes) e.mtime = expectTime(meta.mtime, opts);
    switch (node.kind) {
      case 'dir':
        e.nlink = 2 + (subdirs.get(node) ?? 0) + (path === '' && wantLostFound ? 1 : 0);
        break;
      case 'file':
        e.size = node.content.size;
        e.digest = contentDigest(node.content);
        if (opts.blockSize && node.content.dataRanges) {
          e.allocatedBlocks = expectedIBlocks(node.content, opts.blockSize, opts.extents ?? false);
        }
        break;
      case 'symlink':
        e.target = bytesToHex(node.target);
        break;
      case 'chr':
      case 'blk':
        e.major = node.major;
        e.minor = node.minor;
        break;
      default:
        break;
    }
    if (node.kind !== 'dir') {
      e.nlink = names.get(node)!;
      identity.set(path, node);
    }
    m.set(path, e);
  }
  if (wantLostFound) m.set(LOST_FOUND, { type: 'dir', mode: 0o700, uid: 0, gid: 0, nlink: 2 });
  assignInodeGroups(m, identity);
  return m;
}

/** Digest of a FileContent as the image must hold it: outside dataRanges everything reads as zero. */
export function contentDigest(content: FileContent): string {
  const size = content.size;
  const reader = content.open();
  try {
    const ranges = content.dataRanges;
    if (!ranges) {
      const d = new ContentDigest(size);
      const buf = new Uint8Array(CHUNK);
      for (let i = 0; i < chunkCount(size); i++) {
        const part = buf.subarray(0, Math.min(CHUNK, size - i * CHUNK));
        reader.read(i * CHUNK, part);
        d.chunk(i, part);
      }
      return d.hex();
    }
    const candidates = new Set<number>();
    for (const r of ranges) {
      if (r.length === 0) continue;
      for (let i = Math.floor(r.offset / CHUNK); i <= Math.floor((r.offset + r.length - 1) / CHUNK); i++) candidates.add(i);
    }
    const sorted = [...candidates].sort((a, b) => a - b);
    return digestSparse(size, sorted, (i) => {
      const start = i * CHUNK;
      const out = new Uint8Array(Math.min(CHUNK, size - start));
      for (const r of ranges) {
        const a = Math.max(start, r.offset);
        const b = Math.min(start + out.length, r.offset + r.length);
        if (a < b) reader.read(a, out.subarray(a - start, b - start));
      }
      return out;
    });
  } finally {
    reader.close();
  }
}

/** Logical block numbers that hold data: every block touched by a data range. */
export function dataBlocks(content: FileContent, blockSize: number): number[] {
  const ranges = content.dataRanges ?? (content.size > 0 ? [{ offset: 0, length: content.size }] : []);
  const set = new Set<number>();
  for (const r of ranges) {
    if (r.length === 0) continue;
    for (let b = Math.floor(r.offset / blockSize); b <= Math.floor((r.offset + r.length - 1) / blockSize); b++) set.add(b);
  }
  return [...set].sort((a, b) => a - b);
}

/**
 * i_blocks (512-byte units) of a block-mapped (ext2/ext3) file holding exactly `dataBlocks`:
 * the data blocks plus the IND/DIND/TIND blocks that map them (kernel ext4_ind_map_blocks layout:
 * 12 direct, then one indirect level more per range).
 */
export function expectedIBlocks(content: FileContent, blockSize: number, extents = false): number {
  const apb = blockSize / 4;
  const blocks = dataBlocks(content, blockSize);
  if (extents) {
    // ext4: one extent per contiguous logical run (at most 32768 blocks each), in i_block up
    // to 4, else leaf blocks of (blocksize - 12) / 12 extents and index blocks above them.
    let n = 0;
    for (let i = 0, run = 0; i < blocks.length; i++) {
      run = i > 0 && blocks[i] === blocks[i - 1]! + 1 && run < 32768 ? run + 1 : 1;
      if (run === 1) n++;
    }
    const per = Math.floor((blockSize - 12) / 12);
    let tree = 0;
    for (let level = n; level > 4; ) {
      level = Math.ceil(level / per);
      tree += level;
    }
    return ((blocks.length + tree) * blockSize) / 512;
  }
  const dindBase = 12 + apb;
  const tindBase = dindBase + apb * apb;
  let meta = 0;
  let ind = false;
  const dindChildren = new Set<number>();
  const tindChildren = new Set<number>();
  const tindGrand = new Set<number>();
  for (const l of blocks) {
    if (l < 12) continue;
    if (l < dindBase) ind = true;
    else if (l < tindBase) dindChildren.add(Math.floor((l - dindBase) / apb));
    else {
      tindChildren.add(Math.floor((l - tindBase) / (apb * apb)));
      tindGrand.add(Math.floor((l - tindBase) / apb));
    }
  }
  if (ind) meta += 1;
  if (dindChildren.size) meta += 1 + dindChildren.size;
  if (tindChildren.size) meta += 1 + tindChildren.size + tindGrand.size;
  return ((blocks.length + meta) * blockSize) / 512;
}
