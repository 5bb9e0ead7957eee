import { ExtimgError } from '../errors.js';
import { ExtImage, fileKind, ROOT_INO, type Inode, type ReadAt, type Run } from '../ext/read/image.js';
import { BytesContent, EMPTY_CONTENT, SegmentedContent, type ByteRange, type ContentReader, type FileContent } from '../tree/content.js';
import type { Node } from '../tree/node.js';
import type { Tree } from '../tree/tree.js';
import { Extractor, type ArchiveEntry, type EntryMeta } from './extract.js';
import type { ArchiveOptions } from './options.js';

/**
 * An ext2/3/4 filesystem as an input: its tree enters like an archive's (ingest/extract.ts
 * semantics: excludes, dest, owner override, merging), with every node kind, owners, modes,
 * times, xattrs and hard links. File contents stay in the image: each file is a reference to
 * its extents, read once when the new image is written.
 */

const EXT4_INLINE_DATA_FL = 0x10000000;

/** A file's bytes in an image: its runs of blocks, holes between them. */
export class ImageFileContent implements FileContent {
  readonly dataRanges: readonly ByteRange[];
  constructor(
    private readonly img: ExtImage,
    private readonly inode: Inode,
    private readonly runs: readonly Run[],
    readonly size: number,
    readonly origin: string,
  ) {
    const bs = img.blockSize;
    const ranges: ByteRange[] = [];
    for (const r of runs) {
      const a = r.logical * bs;
      if (a >= size) break;
      const b = Math.min(size, (r.logical + r.count) * bs);
      const last = ranges[ranges.length - 1];
      if (last && last.offset + last.length === a) ranges[ranges.length - 1] = { offset: last.offset, length: b - last.offset };
      else ranges.push({ offset: a, length: b - a });
    }
    this.dataRanges = ranges;
  }
  open(): ContentReader {
    return {
      read: (position: number, into: Uint8Array): void => {
        if (position + into.length > this.size) throw new RangeError('read past end of content');
        this.img.readFile(this.inode, this.runs, position, into);
      },
      close(): void {},
    };
  }
}

export interface FilesystemCounts {
  entries: number;
  placed: number;
}

/** Put the filesystem's tree into `tree` (under opts.dest). */
export function addFilesystem(tree: Tree, img: ExtImage, opts: ArchiveOptions): FilesystemCounts {
  const ex = new Extractor(tree, opts);
  const o = opts.origin;
  const enc = new TextEncoder();
  const byIno = new Map<number, Node>();
  const dirsSeen = new Set<number>();
  const dropped = { count: 0, kinds: new Set<string>(), first: '' };
  const dirBlocks = new Set<number>();
  const root = img.inode(ROOT_INO);
  if (fileKind(root.mode) !== 'dir') throw new ExtimgError('ECORRUPT', `${o}: the root inode is not a directory`, { path: o });
  ex.add({ path: enc.encode('.'), kind: 'dir', meta: metaOf(img, root), offset: ROOT_INO });
  dirsSeen.add(ROOT_INO);
  const stack: Array<{ ino: number; inode: Inode; path: Uint8Array }> = [{ ino: ROOT_INO, inode: root, path: new Uint8Array(0) }];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    const entries = img.readDir(dir.inode, dirBlocks);
    const subdirs: typeof stack = [];
    for (const d of entries) {
      const path = join(dir.path, d.name);
      const known = byIno.get(d.ino);
      if (known) {
        ex.share(path, known, d.ino);
        continue;
      }
      if (dirsSeen.has(d.ino)) {
        throw new ExtimgError('ECORRUPT', `${o}: directory inode ${d.ino} appears twice (at '${show(path)}'): a directory loop`, { path: o });
      }
      const inode = img.inode(d.ino);
      if (inode.links === 0 && inode.mode === 0) throw new ExtimgError('ECORRUPT', `${o}: '${show(path)}' names inode ${d.ino}, which is not in use`, { path: o });
      const kind = fileKind(inode.mode);
      if (kind === undefined) throw new ExtimgError('ECORRUPT', `${o}: '${show(path)}' (inode ${d.ino}) has an unknown file type (mode 0${inode.mode.toString(8)})`, { path: o });
      const entry: ArchiveEntry = { path, kind, meta: metaOf(img, inode), offset: d.ino };
      const where = `${o}: ${show(path)}`;
      switch (kind) {
        case 'file':
          entry.content = contentOf(img, inode, where);
          break;
        case 'symlink':
          entry.target = img.readLink(inode);
          break;
        case 'chr':
        case 'blk': {
          const dev = img.device(inode);
          entry.major = dev.major;
          entry.minor = dev.minor;
          break;
        }
        case 'dir':
          dirsSeen.add(d.ino);
          subdirs.push({ ino: d.ino, inode, path });
          break;
        default:
          break;
      }
      noteDropped(dropped, inode, show(path));
      const node = ex.add(entry);
      if (node && kind !== 'dir' && inode.links > 1) byIno.set(d.ino, node);
    }
    // Depth-first, children in on-disk order.
    for (let k = subdirs.length - 1; k >= 0; k--) stack.push(subdirs[k]!);
  }
  if (dropped.count > 0) {
    const names = [...dropped.kinds].join(', ');
    opts.onWarning?.(`${o}: ${dropped.count} entr${dropped.count === 1 ? 'y has' : 'ies have'} inode attributes extimg does not write (${names}; first: '${dropped.first}'); they are not kept`);
  }
  ex.reportEmpty('an empty filesystem');
  return { ...ex.counts };
}

/** chattr's attributes (lsattr letters) a rebuilt image would lose, and project ids (i_projid). */
const KEPT_NOT: ReadonlyArray<readonly [number, string]> = [
  [0x00000008, 'synchronous (S)'],
  [0x00000010, 'immutable (i)'],
  [0x00000020, 'append-only (a)'],
  [0x00000040, 'no-dump (d)'],
  [0x00000080, 'no-atime (A)'],
  [0x00004000, 'data journalling (j)'],
  [0x00010000, 'dirsync (D)'],
  [0x00020000, 'top of directory hierarchy (T)'],
  [0x20000000, 'project inherit (P)'],
  [0x40000000, 'casefold (F)'],
];
const I_PROJID = 0x9c;

function noteDropped(d: { count: number; kinds: Set<string>; first: string }, inode: Inode, path: string): void {
  let any = false;
  for (const [bit, name] of KEPT_NOT) {
    if (inode.flags & bit) {
      d.kinds.add(name);
      any = true;
    }
  }
  const r = inode.raw;
  if (r.length >= I_PROJID + 4 && 128 + inode.extraIsize >= I_PROJID + 4 && (r[I_PROJID]! | r[I_PROJID + 1]! | r[I_PROJID + 2]! | r[I_PROJID + 3]!) !== 0) {
    d.kinds.add('project id');
    any = true;
  }
  if (any) {
    if (d.count === 0) d.first = path;
    d.count++;
  }
}

function contentOf(img: ExtImage, inode: Inode, where: string): FileContent {
  if (inode.size === 0) return EMPTY_CONTENT;
  if (inode.flags & EXT4_INLINE_DATA_FL) {
    // The inline bytes; an i_size past them (mke2fs -d keeps an all-hole file inline) reads as zeros.
    const data = img.inlineData(inode).slice();
    return data.length === inode.size ? new BytesContent(data) : new SegmentedContent(inode.size, [{ offset: 0, bytes: data }], where);
  }
  return new ImageFileContent(img, inode, img.blockMap(inode), inode.size, where);
}

function metaOf(img: ExtImage, inode: Inode): EntryMeta {
  const meta: EntryMeta = {
    mode: inode.mode & 0o7777,
    uid: inode.uid,
    gid: inode.gid,
    mtime: inode.mtime,
    atime: inode.atime,
    ctime: inode.ctime,
  };
  const x = img.xattrs(inode);
  if (x.size > 0) meta.xattrs = x;
  return meta;
}

function join(parent: Uint8Array, name: Uint8Array): Uint8Array {
  if (parent.length === 0) return name;
  const out = new Uint8Array(parent.length + 1 + name.length);
  out.set(parent);
  out[parent.length] = 0x2f;
  out.set(name, parent.length + 1);
  return out;
}

function show(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}

