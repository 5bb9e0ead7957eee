import { ExtimgError } from '../errors.js';
import { BytesContent, type FileContent } from '../tree/content.js';
import type { Node } from '../tree/node.js';
import type { Tree } from '../tree/tree.js';
import { align, ascii, corrupt, show, type Where } from './bytes.js';
import { Extractor, type ArchiveEntry, type EntryKind } from './extract.js';
import type { ArchiveOptions } from './options.js';
import { MemorySource, SourceContent, type ByteSource } from './source.js';

/**
 * cpio: the "new" ASCII formats newc (070701) and crc (070702, with a sum of the data bytes),
 * the portable odc (070707, octal) and the old binary format (0x71c7 in either byte order).
 * Names are bytes and stay bytes (DESIGN.md: why cpio-stream is not used). Several archives may
 * follow each other with zero padding between them, as initramfs images do
 * (kernel Documentation/driver-api/early-userspace/buffer-format.rst).
 */

export type CpioFormat = 'newc' | 'crc' | 'odc' | 'bin';

export interface CpioEntry {
  format: CpioFormat;
  /** Byte offset of the header. */
  offset: number;
  /** Byte offset of the data. */
  dataOffset: number;
  /** Byte offset just past the data and its padding: where the next header may start. */
  end: number;
  /** The name without its NUL, as stored (raw bytes, a view into the archive). */
  name: Uint8Array;
  ino: number;
  /** st_mode: file type and permission bits. */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  devmajor: number;
  devminor: number;
  rdevmajor: number;
  rdevminor: number;
  /** crc format: the sum of the data bytes; 0 otherwise. */
  check: number;
  /** Bytes of data (file content, symlink target). */
  size: number;
  /**
   * The data as bytes: a view into an archive in memory; read from other sources only for
   * symlinks and hard-link-free small entries the caller needs as bytes (empty otherwise).
   */
  data: Uint8Array;
  /** The data as a content reference (never read here): what a file entry becomes. */
  content: FileContent;
  /** This is a `TRAILER!!!` entry: one archive (segment) ends here. */
  trailer: boolean;
}

export const TRAILER = 'TRAILER!!!';
const NEWC_HEADER = 110;
const ODC_HEADER = 76;
const BIN_HEADER = 26;

const S_IFMT = 0o170000;
const KINDS: Record<number, EntryKind> = {
  0o100000: 'file',
  0o040000: 'dir',
  0o120000: 'symlink',
  0o020000: 'chr',
  0o060000: 'blk',
  0o010000: 'fifo',
  0o140000: 'socket',
};

/** The cpio format whose magic is at `pos`, if any. */
export function cpioMagic(data: Uint8Array, pos = 0): CpioFormat | undefined {
  if (data.length - pos < 6) {
    if (data.length - pos >= 2) return binMagic(data, pos) ? 'bin' : undefined;
    return undefined;
  }
  const m = ascii(data, pos, 6);
  if (m === '070701') return 'newc';
  if (m === '070702') return 'crc';
  if (m === '070707') return 'odc';
  return binMagic(data, pos) ? 'bin' : undefined;
}

function binMagic(data: Uint8Array, pos: number): 'le' | 'be' | undefined {
  const a = data[pos];
  const b = data[pos + 1];
  if (a === 0xc7 && b === 0x71) return 'le';
  if (a === 0x71 && b === 0xc7) return 'be';
  return undefined;
}

/**
 * Every entry of one or more concatenated cpio archives, trailers included (`trailer: true`).
 * Zero bytes between archives are skipped. Reading stops at the end of the data or at the
 * first bytes after a trailer that are neither zeros nor a cpio header (an initramfs may go on
 * with a compressed segment); the generator returns that offset.
 */
export function* readCpio(input: Uint8Array | ByteSource, origin: string): Generator<CpioEntry, number> {
  const src = input instanceof Uint8Array ? new MemorySource(input) : input;
  const length = src.size;
  let pos = 0;
  let afterTrailer = true; // at a segment boundary: zeros may be skipped, other bytes end reading
  for (;;) {
    if (afterTrailer) {
      const nz = src.firstNonZero(pos);
      pos = nz < 0 ? length : nz;
      if (pos >= length) return pos;
    } else if (pos >= length) {
      return pos;
    }
    const head = src.bytes(pos, 6);
    const format = cpioMagic(head, 0);
    if (format === undefined) {
      if (afterTrailer && pos > 0) return pos;
      throw corrupt({ origin, offset: pos }, pos === 0 ? 'not a cpio archive (no cpio magic)' : 'no cpio header where one should start');
    }
    const e = format === 'odc' ? readOdc(src, pos, origin) : format === 'bin' ? readBin(src, pos, origin) : readNewc(src, pos, format, origin);
    afterTrailer = e.trailer;
    yield e;
    pos = Math.min(e.end, length);
  }
}

/** A header (and, once its size is known, the name after it) read from the source at `pos`. */
function header(src: ByteSource, pos: number, size: number, where: Where): Uint8Array {
  const h = src.bytes(pos, size);
  if (h.length < size) throw corrupt(where, `truncated cpio header (${h.length} of ${size} bytes)`);
  return h;
}

/** Symlink targets and names are small; a file's data is never read here (a content reference). */
const MAX_READ_DATA = 1 << 16;

function entryData(src: ByteSource, mode: number, dataOffset: number, size: number): { data: Uint8Array; content: FileContent } {
  if (src instanceof MemorySource) {
    const data = src.bytes(dataOffset, size);
    return { data, content: new BytesContent(data) };
  }
  const isFile = (mode & S_IFMT) === 0o100000;
  const data = !isFile && size <= MAX_READ_DATA ? src.bytes(dataOffset, size) : new Uint8Array(0);
  return { data, content: new SourceContent(src, dataOffset, size) };
}

/** The crc format's checksum: the sum of the data bytes, read a piece at a time. */
function dataSum(src: ByteSource, offset: number, size: number): number {
  let sum = 0;
  const chunk = new Uint8Array(Math.min(size, 1 << 20));
  for (let done = 0; done < size; done += chunk.length) {
    const part = chunk.subarray(0, Math.min(chunk.length, size - done));
    src.read(offset + done, part);
    for (let i = 0; i < part.length; i++) sum = (sum + part[i]!) >>> 0;
  }
  return sum;
}

function hex8(data: Uint8Array, at: number): number {
  let v = 0;
  for (let i = at; i < at + 8; i++) {
    const c = data[i]!;
    let d: number;
    if (c >= 0x30 && c <= 0x39) d = c - 0x30;
    else if (c >= 0x61 && c <= 0x66) d = c - 0x57;
    else if (c >= 0x41 && c <= 0x46) d = c - 0x37;
    else return -1;
    v = v * 16 + d;
  }
  return v;
}

function octal(data: Uint8Array, at: number, len: number): number {
  let v = 0;
  for (let i = at; i < at + len; i++) {
    const c = data[i]!;
    if (c < 0x30 || c > 0x37) return -1;
    v = v * 8 + (c - 0x30);
  }
  return v;
}

const NEWC_FIELDS = ['ino', 'mode', 'uid', 'gid', 'nlink', 'mtime', 'filesize', 'devmajor', 'devminor', 'rdevmajor', 'rdevminor', 'namesize', 'check'] as const;

function readNewc(src: ByteSource, pos: number, format: 'newc' | 'crc', origin: string): CpioEntry {
  const where: Where = { origin, offset: pos };
  const h = header(src, pos, NEWC_HEADER, where);
  const f: Record<string, number> = {};
  for (let i = 0; i < NEWC_FIELDS.length; i++) {
    const v = hex8(h, 6 + i * 8);
    if (v < 0) throw corrupt(where, `cpio header field ${NEWC_FIELDS[i]} is not hexadecimal`);
    f[NEWC_FIELDS[i]!] = v;
  }
  const name = readName(src, pos + NEWC_HEADER, f.namesize!, where);
  where.entry = show(name);
  const dataOffset = pos + align(NEWC_HEADER + f.namesize!, 4);
  const size = f.filesize!;
  checkData(src, dataOffset, size, where);
  const { data: body, content } = entryData(src, f.mode!, dataOffset, size);
  const trailer = isTrailer(name);
  if (format === 'crc' && !trailer && (f.mode! & S_IFMT) === 0o100000) {
    const sum = dataSum(src, dataOffset, size);
    if (sum !== f.check) throw corrupt(where, `cpio crc checksum mismatch (recorded ${f.check}, computed ${sum})`);
  }
  return {
    format,
    offset: pos,
    dataOffset,
    end: dataOffset + align(size, 4),
    name,
    ino: f.ino!,
    mode: f.mode!,
    uid: f.uid!,
    gid: f.gid!,
    nlink: f.nlink!,
    mtime: f.mtime!,
    devmajor: f.devmajor!,
    devminor: f.devminor!,
    rdevmajor: f.rdevmajor!,
    rdevminor: f.rdevminor!,
    check: f.check!,
    size,
    data: body,
    content,
    trailer,
  };
}

/** odc (POSIX.1 portable): magic, then dev ino mode uid gid nlink rdev in 6 octal digits, mtime 11, namesize 6, filesize 11. */
function readOdc(src: ByteSource, pos: number, origin: string): CpioEntry {
  const where: Where = { origin, offset: pos };
  const h = header(src, pos, ODC_HEADER, where);
  const widths: Array<[string, number]> = [['dev', 6], ['ino', 6], ['mode', 6], ['uid', 6], ['gid', 6], ['nlink', 6], ['rdev', 6], ['mtime', 11], ['namesize', 6], ['filesize', 11]];
  const f: Record<string, number> = {};
  let at = 6;
  for (const [k, w] of widths) {
    const v = octal(h, at, w);
    if (v < 0) throw corrupt(where, `cpio header field ${k} is not octal`);
    f[k] = v;
    at += w;
  }
  const name = readName(src, pos + ODC_HEADER, f.namesize!, where);
  where.entry = show(name);
  const dataOffset = pos + ODC_HEADER + f.namesize!;
  const size = f.filesize!;
  checkData(src, dataOffset, size, where);
  return {
    format: 'odc',
    offset: pos,
    dataOffset,
    end: dataOffset + size,
    name,
    ino: f.ino!,
    mode: f.mode!,
    uid: f.uid!,
    gid: f.gid!,
    nlink: f.nlink!,
    mtime: f.mtime!,
    // An old 16-bit dev_t in 18 bits: major above bit 8 (GNU cpio writes makedev() of small numbers).
    devmajor: f.dev! >>> 8,
    devminor: f.dev! & 0xff,
    rdevmajor: f.rdev! >>> 8,
    rdevminor: f.rdev! & 0xff,
    check: 0,
    size,
    ...entryData(src, f.mode!, dataOffset, size),
    trailer: isTrailer(name),
  };
}

/** The old binary format: 13 16-bit words in the writer's byte order; name and data padded to 2. */
function readBin(src: ByteSource, pos: number, origin: string): CpioEntry {
  const where: Where = { origin, offset: pos };
  const h = header(src, pos, BIN_HEADER, where);
  const le = binMagic(h, 0) === 'le';
  const w = (i: number): number => (le ? h[2 * i]! | (h[2 * i + 1]! << 8) : (h[2 * i]! << 8) | h[2 * i + 1]!);
  const namesize = w(10);
  const size = w(11) * 65536 + w(12);
  const name = readName(src, pos + BIN_HEADER, namesize, where);
  where.entry = show(name);
  const dataOffset = pos + align(BIN_HEADER + namesize, 2);
  checkData(src, dataOffset, size, where);
  return {
    format: 'bin',
    offset: pos,
    dataOffset,
    end: dataOffset + align(size, 2),
    name,
    ino: w(2),
    mode: w(3),
    uid: w(4),
    gid: w(5),
    nlink: w(6),
    mtime: w(8) * 65536 + w(9),
    devmajor: w(1) >>> 8,
    devminor: w(1) & 0xff,
    rdevmajor: w(7) >>> 8,
    rdevminor: w(7) & 0xff,
    check: 0,
    size,
    ...entryData(src, w(3), dataOffset, size),
    trailer: isTrailer(name),
  };
}

function readName(src: ByteSource, at: number, namesize: number, where: Where): Uint8Array {
  if (namesize === 0) throw corrupt(where, 'cpio entry with an empty name (namesize 0)');
  if (at + namesize > src.size) throw corrupt(where, `truncated cpio name (namesize ${namesize}, ${Math.max(0, src.size - at)} bytes left)`);
  const raw = src.bytes(at, namesize);
  // namesize counts the terminating NUL; be lenient about a missing one, as GNU cpio is.
  const name = raw[namesize - 1] === 0 ? raw.subarray(0, namesize - 1) : raw;
  const nul = name.indexOf(0);
  return nul < 0 ? name : name.subarray(0, nul);
}

function checkData(src: ByteSource, dataOffset: number, size: number, where: Where): void {
  if (dataOffset + size > src.size) {
    throw corrupt(where, `entry data runs past the end of the archive (size ${size}, ${Math.max(0, src.size - dataOffset)} bytes left)`);
  }
}

function isTrailer(name: Uint8Array): boolean {
  return name.length === TRAILER.length && ascii(name, 0, name.length) === TRAILER;
}

// ---- into the tree ----------------------------------------------------------------------

export interface CpioHooks {
  /** Every entry placed (or excluded), with its archive-relative key; rpm maps owners by it. */
  onEntry?(key: string, node: Node, entry: CpioEntry): void;
}

/**
 * Apply one or more concatenated cpio archives. Hard links are entries with the same (dev, ino)
 * and nlink > 1 within one archive; the data may come with the first name (odc) or the last
 * (newc as GNU cpio writes it).
 */
export function addCpio(tree: Tree, input: Uint8Array | ByteSource, opts: ArchiveOptions, hooks: CpioHooks = {}): void {
  const src = input instanceof Uint8Array ? new MemorySource(input) : input;
  let end = src.size;
  let last: CpioEntry | undefined;
  function* entries(): Generator<CpioEntry> {
    const it = readCpio(src, opts.origin);
    for (;;) {
      const r = it.next();
      if (r.done) {
        end = r.value;
        return;
      }
      last = r.value;
      yield r.value;
    }
  }
  addCpioEntries(tree, entries(), opts, hooks);
  if (end < src.size) {
    opts.onWarning?.(`${opts.origin}: ${src.size - end} bytes after the cpio trailer at byte ${end} ignored`);
  } else if (last && !last.trailer) {
    opts.onWarning?.(`${opts.origin}: no TRAILER!!! entry at the end; the archive may be truncated`);
  }
}

/**
 * Apply entries already read (readCpio's, or an initrd segment's): a trailer ends an archive,
 * and with it the scope of hard-link numbers.
 */
export function addCpioEntries(tree: Tree, entries: Iterable<CpioEntry>, opts: ArchiveOptions, hooks: CpioHooks = {}): void {
  const x = new Extractor(tree, opts);
  let links = new Map<string, Node>();
  for (const e of entries) {
    if (e.trailer) {
      links = new Map();
      continue;
    }
    const kind = KINDS[e.mode & S_IFMT];
    if (kind === undefined) {
      opts.onWarning?.(`${opts.origin}: skipped '${show(e.name)}' at byte ${e.offset}: unknown file type in mode 0${e.mode.toString(8)}`);
      continue;
    }
    const entry: ArchiveEntry = {
      path: e.name,
      kind,
      meta: { mode: e.mode & 0o7777, uid: e.uid, gid: e.gid, mtime: { sec: e.mtime, nsec: 0 } },
      offset: e.offset,
    };
    if (kind === 'file') entry.content = e.content;
    else if (kind === 'symlink') {
      // Some writers count a terminating NUL in the target.
      entry.target = e.data.length && e.data[e.data.length - 1] === 0 ? e.data.subarray(0, e.data.length - 1) : e.data;
    } else if (kind === 'chr' || kind === 'blk') {
      entry.major = e.rdevmajor;
      entry.minor = e.rdevminor;
    }
    let node: Node | undefined;
    if (kind !== 'dir' && e.nlink > 1) {
      const id = `${e.devmajor}:${e.devminor}:${e.ino}`;
      const first = links.get(id);
      if (first) {
        if (first.kind === 'file' && kind === 'file' && e.size > 0) {
          first.content = entry.content!;
          first.meta.mtime = { sec: e.mtime, nsec: 0 };
        }
        x.share(e.name, first, e.offset);
        node = first;
      } else {
        node = x.add(entry);
        if (node) links.set(id, node);
      }
    } else {
      node = x.add(entry);
    }
    if (node && hooks.onEntry) hooks.onEntry(x.keyOf(e.name), node, e);
  }
  x.reportEmpty('an empty cpio archive');
}

// ---- writer -----------------------------------------------------------------------------

/** What writeNewc needs of an entry; a CpioEntry from readCpio fits. */
export interface NewcInput {
  /** Path bytes (or a string, encoded UTF-8), without a NUL. */
  name: Uint8Array | string;
  /** st_mode: file type and permission bits. */
  mode: number;
  uid?: number;
  gid?: number;
  /** Default 2 for directories, else 1. */
  nlink?: number;
  mtime?: number;
  /** Default: a running number from 1 (unique within the archive). */
  ino?: number;
  devmajor?: number;
  devminor?: number;
  rdevmajor?: number;
  rdevminor?: number;
  /** File content or symlink target. */
  data?: Uint8Array;
}

const utf8 = new TextEncoder();

/**
 * A newc archive: for each entry the 110-byte header ('070701' and 13 fields of 8 hex digits),
 * the name and its NUL padded to 4, the data padded to 4; then `TRAILER!!!`. namesize counts
 * bytes including the NUL. Input entries named TRAILER!!! are left out (one is written last).
 */
export function writeNewc(entries: Iterable<NewcInput>, opts: { trailer?: boolean } = {}): Uint8Array {
  const list: Array<{ e: NewcInput; name: Uint8Array; data: Uint8Array }> = [];
  let total = 0;
  for (const e of entries) {
    const name = typeof e.name === 'string' ? utf8.encode(e.name) : e.name;
    if (isTrailer(name)) continue;
    const data = e.data ?? new Uint8Array(0);
    list.push({ e, name, data });
    total += align(NEWC_HEADER + name.length + 1, 4) + align(data.length, 4);
  }
  const trailerName = utf8.encode(TRAILER);
  if (opts.trailer ?? true) total += align(NEWC_HEADER + trailerName.length + 1, 4);
  const out = new Uint8Array(total);
  let pos = 0;
  let nextIno = 1;
  const header = (fields: number[], name: Uint8Array): void => {
    out.set([0x30, 0x37, 0x30, 0x37, 0x30, 0x31], pos); // "070701"
    for (let i = 0; i < 13; i++) {
      const v = fields[i]!;
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
        throw new ExtimgError('EINVAL', `cpio: ${show(name)}: ${NEWC_FIELDS[i]} ${v} does not fit 8 hex digits`, { name: show(name) });
      }
      const s = v.toString(16).toUpperCase().padStart(8, '0'); // as GNU cpio writes it
      for (let k = 0; k < 8; k++) out[pos + 6 + i * 8 + k] = s.charCodeAt(k);
    }
    out.set(name, pos + NEWC_HEADER);
    pos += align(NEWC_HEADER + name.length + 1, 4); // the NUL and padding are already zero
  };
  for (const { e, name, data } of list) {
    const isDir = (e.mode & S_IFMT) === 0o040000;
    header(
      [
        e.ino ?? nextIno++,
        e.mode,
        e.uid ?? 0,
        e.gid ?? 0,
        e.nlink ?? (isDir ? 2 : 1),
        e.mtime ?? 0,
        data.length,
        e.devmajor ?? 0,
        e.devminor ?? 0,
        e.rdevmajor ?? 0,
        e.rdevminor ?? 0,
        name.length + 1,
        0,
      ],
      name,
    );
    out.set(data, pos);
    pos += align(data.length, 4);
  }
  if (opts.trailer ?? true) header([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, trailerName.length + 1, 0], trailerName);
  return out;
}
