/**
 * Rewrite an initrd: apply edits to its main (last compressed) segment and write it back as newc
 * with a codec we can encode, keeping every other segment (early microcode) byte for byte; or,
 * with `appendSegment`, keep the whole input and append one small segment with what the edits changed.
 */
import { checkEncodeLevel, encode, ENCODE_CODECS, type EncodeCodec } from '../compress/encode.js';
import { dropWarm, type EncodePartsOptions, warmEncoders } from '../compress/encode-parts.js';
import { compressArchive } from './compress.js';
import { applyPreparedEdit, type EditOptions, type PreparedEdit } from '../edit/ops.js';
import { ExtimgError } from '../errors.js';
import { addCpioEntries, writeNewc, type NewcInput } from '../ingest/cpio.js';
import { BytesContent } from '../tree/content.js';
import type { Node } from '../tree/node.js';
import { bytesToKey, pathToKey, splitPath } from '../tree/names.js';
import { Tree } from '../tree/tree.js';
import { scanSegments, type Segment } from './segments.js';
import { S_IF_OF as S_IF } from '../tree/mode.js';

export interface RewriteOptions {
  /** The input as the user named it, for messages. */
  origin: string;
  edits: readonly PreparedEdit[];
  editOptions?: EditOptions;
  /** Codec of rewritten/appended segments: 'same' (default) keeps the main segment's. */
  compress?: 'same' | EncodeCodec;
  level?: number;
  /** Where `level` came from, for the message when the codec does not take it (default '--level'). */
  levelOrigin?: string;
  /** Keep the input byte for byte and append one segment with the changes (`--append-segment`). */
  appendSegment?: boolean;
  /** Clamp mtimes to this and give new nodes this time (SOURCE_DATE_EPOCH). */
  timestamp?: number;
  onWarning?: (message: string) => void;
  /** How a large rebuilt segment is cut into parallel parts (tests use small parts). */
  parts?: EncodePartsOptions;
}

export interface RewriteResult {
  /** The output, in pieces to write in order. */
  chunks: Uint8Array[];
  bytes: number;
  /** Segment indexes rebuilt (empty with append). */
  rebuilt: number[];
  codec: EncodeCodec;
  /** Entries written in the new or appended segment(s). */
  entries: number;
}

function keyOfPath(path: string | Uint8Array): string {
  return splitPath(pathToKey(path)).join('/');
}

/** The image paths an edit names (path, from, to). */
function editPaths(p: PreparedEdit): string[] {
  const e = p.edit as unknown as Record<string, unknown>;
  const out: string[] = [];
  for (const k of ['path', 'from', 'to']) if (typeof e[k] === 'string') out.push(keyOfPath(e[k] as string));
  return out;
}

function segmentKeys(s: Segment): Set<string> {
  const keys = new Set<string>();
  for (const e of s.entries) if (!e.trailer) keys.add(splitPath(bytesToKey(e.name)).join('/'));
  return keys;
}

function codecOf(s: Segment, origin: string): EncodeCodec {
  const c = s.compression;
  if ((ENCODE_CODECS as readonly string[]).includes(c)) return c as EncodeCodec;
  throw new ExtimgError('EFORMAT', `${origin}: segment ${s.index} is ${c}-compressed; writing ${c} is not supported (give --compress with one of ${ENCODE_CODECS.join(', ')})`, {
    origin,
    codec: c,
  });
}

function treeOf(s: Segment, origin: string, timestamp: number | undefined, onWarning?: (m: string) => void): Tree {
  const tree = new Tree(timestamp !== undefined ? { time: { sec: timestamp, nsec: 0 } } : {});
  addCpioEntries(tree, s.entries, { origin: `${origin}: segment ${s.index}`, ...(onWarning ? { onWarning } : {}) });
  return tree;
}

function hasRootEntry(s: Segment): boolean {
  return s.entries.some((e) => !e.trailer && splitPath(bytesToKey(e.name)).length === 0);
}

function readContent(node: Node & { kind: 'file' }): Uint8Array {
  const c = node.content;
  // Bytes in memory (every entry read from an archive): a view, written once by writeNewc.
  if (c instanceof BytesContent) return c.bytes;
  const buf = new Uint8Array(c.size);
  if (c.size === 0) return buf;
  const r = c.open();
  try {
    r.read(0, buf);
  } finally {
    r.close();
  }
  return buf;
}

/**
 * The tree as newc entries: parents before children, names in byte order, inode numbers from 1
 * in that order, hard links as GNU cpio writes them (same ino, nlink = names, data on the last).
 * `only` restricts the output to those paths ('' is the root, written as '.').
 */
export function treeToNewc(tree: Tree, opts: { root: boolean; timestamp?: number; only?: Set<string> }): Uint8Array {
  const list: Array<{ path: string; node: Node }> = [];
  for (const [path, node] of tree.walk()) {
    if (opts.only && !opts.only.has(path)) continue;
    if (path === '' && !opts.root) continue;
    list.push({ path, node });
  }
  const names = new Map<Node, number>();
  const lastIndex = new Map<Node, number>();
  list.forEach(({ node }, i) => {
    names.set(node, (names.get(node) ?? 0) + 1);
    lastIndex.set(node, i);
  });
  const inos = new Map<Node, number>();
  const entries: NewcInput[] = list.map(({ path, node }, i) => {
    let ino = inos.get(node);
    if (ino === undefined) {
      ino = inos.size + 1;
      inos.set(node, ino);
    }
    let mtime = node.meta.mtime.sec;
    if (opts.timestamp !== undefined && mtime > opts.timestamp) mtime = opts.timestamp;
    if (mtime < 0) mtime = 0;
    if (mtime > 0xffffffff) mtime = 0xffffffff;
    const e: NewcInput = {
      name: path === '' ? '.' : Uint8Array.from(path, (ch) => ch.charCodeAt(0)),
      mode: S_IF[node.kind] | node.meta.mode,
      uid: node.meta.uid,
      gid: node.meta.gid,
      mtime,
      ino,
    };
    if (node.kind === 'dir') {
      let subdirs = 0;
      for (const c of node.entries.values()) if (c.kind === 'dir') subdirs++;
      e.nlink = 2 + subdirs;
    } else {
      e.nlink = names.get(node)!;
    }
    if (node.kind === 'file' && lastIndex.get(node) === i) e.data = readContent(node);
    else if (node.kind === 'symlink') e.data = node.target;
    else if (node.kind === 'chr' || node.kind === 'blk') {
      e.rdevmajor = node.major;
      e.rdevminor = node.minor;
    }
    return e;
  });
  return writeNewc(entries);
}

interface Print {
  node: Node;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  ref: unknown;
  size: number;
}

function fingerprint(node: Node): Print {
  const m = node.meta;
  const ref = node.kind === 'file' ? node.content : node.kind === 'symlink' ? bytesToKey(node.target) : node.kind === 'chr' || node.kind === 'blk' ? `${node.major}:${node.minor}` : undefined;
  return { node, mode: m.mode, uid: m.uid, gid: m.gid, mtime: m.mtime.sec, ref, size: node.kind === 'file' ? node.content.size : 0 };
}

function samePrint(a: Print, b: Print): boolean {
  return a.node === b.node && a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.mtime === b.mtime && a.ref === b.ref && a.size === b.size;
}

/** Zero bytes that bring `length` to a multiple of 4. */
function pad4(length: number): Uint8Array {
  return new Uint8Array((4 - (length % 4)) % 4);
}

export async function rewriteInitrd(data: Uint8Array, opts: RewriteOptions): Promise<RewriteResult> {
  try {
    return await rewrite(data, opts);
  } finally {
    dropWarm();
  }
}

async function rewrite(data: Uint8Array, opts: RewriteOptions): Promise<RewriteResult> {
  const { origin } = opts;
  // A full rewrite compresses the main segment in parts on worker threads: start them now, so
  // they load while this thread decodes (for 'same', as soon as the scan meets the codec).
  const warmFor = (c: string): void => {
    if (!opts.appendSegment && (ENCODE_CODECS as readonly string[]).includes(c)) warmEncoders(c as EncodeCodec, opts.parts);
  };
  const same = opts.compress === undefined || opts.compress === 'same';
  if (opts.compress !== undefined && opts.compress !== 'same') warmFor(opts.compress);
  const segments = await scanSegments(data, origin, same ? { onCompressed: warmFor } : {});
  let main = segments[segments.length - 1]!;
  for (const s of segments) if (s.compression !== 'none') main = s;
  const codec = opts.compress === undefined || opts.compress === 'same' ? codecOf(main, origin) : opts.compress;
  // Now that the codec is known ('same'), before any work: a level it does not take.
  if (opts.level !== undefined) checkEncodeLevel(codec, opts.level, opts.levelOrigin);
  const editOptions: EditOptions = { ...(opts.editOptions ?? {}) };
  if (opts.onWarning && !editOptions.onWarning) editOptions.onWarning = opts.onWarning;

  if (opts.appendSegment) {
    for (const p of opts.edits) {
      if (p.edit.op === 'remove' || p.edit.op === 'move' || p.edit.op === 'rename') {
        throw new ExtimgError(
          'EUSAGE',
          `${p.label}: cannot be done with --append-segment: a later initramfs segment can add or replace files but the kernel cannot delete or rename through it; rewrite without --append-segment`,
          { edit: p.label },
        );
      }
    }
    const tree = treeOf(main, origin, opts.timestamp, opts.onWarning);
    const before = new Map<string, Print>();
    for (const [path, node] of tree.walk()) before.set(path, fingerprint(node));
    for (const p of opts.edits) applyPreparedEdit(tree, p, editOptions);
    const only = new Set<string>();
    for (const [path, node] of tree.walk()) {
      const b = before.get(path);
      if (b && samePrint(b, fingerprint(node))) continue;
      only.add(path);
      const parts = path.split('/');
      for (let i = parts.length - 1; i > 0; i--) only.add(parts.slice(0, i).join('/'));
    }
    only.delete('');
    const cpio = treeToNewc(tree, { root: false, ...(opts.timestamp !== undefined ? { timestamp: opts.timestamp } : {}), only });
    const seg = await encode(cpio, codec, opts.level);
    // An uncompressed archive must start 4-byte aligned; a compressed one need not, and zeros
    // between two zstd frames would stop the zstd CLI (lsinitramfs) though not the kernel.
    const chunks = [data, codec === 'none' ? pad4(data.length) : new Uint8Array(0), seg];
    return { chunks, bytes: chunks.reduce((n, c) => n + c.length, 0), rebuilt: [], codec, entries: only.size };
  }

  // Route each edit to the segment it touches: an early segment when it names a path only that
  // segment holds (microcode is read by the early loader from that archive, not from rootfs),
  // otherwise the main segment.
  const keys = segments.map(segmentKeys);
  const target = new Map<number, PreparedEdit[]>();
  for (const p of opts.edits) {
    let idx = main.index;
    const paths = editPaths(p);
    if (!paths.some((k) => keys[main.index]!.has(k))) {
      for (const s of segments) {
        if (s !== main && paths.some((k) => k !== '' && keys[s.index]!.has(k))) idx = s.index;
      }
    }
    const list = target.get(idx) ?? [];
    list.push(p);
    target.set(idx, list);
  }
  // The main segment is always rebuilt (that is what rewrite means, and --compress applies to it).
  if (!target.has(main.index)) target.set(main.index, []);

  const chunks: Uint8Array[] = [];
  let length = 0;
  let inputPos = 0; // input bytes copied so far while every segment before was kept
  let keptPrefix = true;
  let entries = 0;
  const push = (c: Uint8Array): void => {
    if (c.length === 0) return;
    chunks.push(c);
    length += c.length;
  };
  for (const s of segments) {
    const edits = target.get(s.index);
    if (edits === undefined) {
      if (keptPrefix) {
        push(data.subarray(inputPos, s.offset + s.length));
        inputPos = s.offset + s.length;
      } else {
        push(pad4(length));
        push(data.subarray(s.offset, s.offset + s.length));
      }
      continue;
    }
    if (keptPrefix) {
      // The zero padding before it too (GNU cpio pads an archive to 512 bytes): the kept prefix
      // is the input's bytes up to where this segment started.
      push(data.subarray(inputPos, s.offset));
      keptPrefix = false;
    }
    push(pad4(length));
    const tree = treeOf(s, origin, opts.timestamp, opts.onWarning);
    for (const p of edits) applyPreparedEdit(tree, p, editOptions);
    const cpio = treeToNewc(tree, { root: hasRootEntry(s), ...(opts.timestamp !== undefined ? { timestamp: opts.timestamp } : {}) });
    for (const _ of tree.walk()) entries++;
    const segCodec = s === main ? codec : codecOf(s, origin);
    // --level is for the main segment's codec; another rebuilt segment keeps its codec's default.
    push(await compressArchive(cpio, segCodec, s === main ? opts.level : undefined, opts.parts));
  }
  return { chunks, bytes: length, rebuilt: [...target.keys()].sort((a, b) => a - b), codec, entries };
}
