import { ExtimgError } from '../errors.js';
import type { FileContent } from '../tree/content.js';
import type { Timestamp } from '../tree/node.js';
import type { Tree } from '../tree/tree.js';
import { align, corrupt, cString, entryOf, parseAsciiNumber, show, text, type Where } from './bytes.js';
import { Extractor, type EntryKind, type EntryMeta } from './extract.js';
import type { ArchiveOptions } from './options.js';
import { MemorySource, rangeContent, sparseRangeContent, type ByteSource, type SparseSegment } from './source.js';

/**
 * tar: v7, ustar, GNU (long names 'L'/'K', base-256 numbers, old sparse 'S') and POSIX pax
 * (extended 'x' and global 'g' headers, sparse formats 0.0, 0.1 and 1.0, SCHILY.xattr.*), read
 * synchronously from the decompressed archive through a ByteSource (memory, an input file or a
 * spool file). Headers are read; file contents are never read here: each becomes a reference
 * to its bytes in the source, read once when the image is written.
 * Header layout: POSIX ustar and GNU tar's tar.h (posix_header, oldgnu_header, sparse_header).
 */

const BLOCK = 512;

// posix_header / oldgnu_header field offsets (GNU tar src/tar.h).
const NAME = 0; // [100]
const MODE = 100; // [8]
const UID = 108; // [8]
const GID = 116; // [8]
const SIZE = 124; // [12]
const MTIME = 136; // [12]
const CHKSUM = 148; // [8]
const TYPEFLAG = 156; // [1]
const LINKNAME = 157; // [100]
const MAGIC = 257; // [6] "ustar\0" (POSIX) or "ustar " + version " \0" (GNU)
const UNAME = 265; // [32]
const GNAME = 297; // [32]
const DEVMAJOR = 329; // [8]
const DEVMINOR = 337; // [8]
const PREFIX = 345; // [155] POSIX only
const GNU_ATIME = 345; // [12] GNU only
const GNU_CTIME = 357; // [12]
const GNU_SPARSE = 386; // 4 x (offset[12], numbytes[12])
const GNU_ISEXTENDED = 482; // [1]
const GNU_REALSIZE = 483; // [12]
// sparse_header: 21 x (offset[12], numbytes[12]), then isextended[1] at 504.
const EXT_SPARSE_COUNT = 21;
const EXT_ISEXTENDED = 504;

const KNOWN_TYPES = ['0', '\0', '1', '2', '3', '4', '5', '6', '7', 'D', 'S'];

export interface TarEntry {
  /** Byte offset of the member's own header (after any extended headers). */
  offset: number;
  /** Byte offset of the first header that belongs to it (a pax 'x' or GNU 'L'/'K' header). */
  start: number;
  /** The typeflag as found ('0', '5', 'S', ...; '\0' for old regular files). */
  typeflag: string;
  kind: EntryKind | 'link';
  /** Path bytes as stored (pax path, GNU long name, or ustar prefix/name). */
  name: Uint8Array;
  /** Hard link or symlink target bytes. */
  linkname: Uint8Array;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: Timestamp;
  atime?: Timestamp;
  ctime?: Timestamp;
  /** Logical size (the real size of a sparse file). */
  size: number;
  /** Regular files: the data, a view into the archive (SegmentedContent for sparse members). */
  content?: FileContent;
  /** Regular files that are not sparse: where their `size` bytes of data start in the archive. */
  dataOffset?: number;
  devmajor: number;
  devminor: number;
  xattrs: Map<string, Uint8Array>;
}

/**
 * Members that only carry metadata (pax records, long names) are read whole: refuse absurd
 * sizes, which only a corrupt or hostile archive has, rather than allocate them.
 */
const MAX_META_MEMBER = 64 << 20;

/** Extended header state that applies to the next member. */
interface Pending {
  start: number;
  records?: Array<[string, Uint8Array]>;
  longName?: Uint8Array;
  longLink?: Uint8Array;
}

const latin1 = new TextDecoder('latin1');

/**
 * Every member of a tar archive, in order. The end is two zero blocks; a missing end marker at a
 * block boundary is accepted (GNU tar does too), a truncated header or member is ECORRUPT.
 */
export function* readTar(input: Uint8Array | ByteSource, origin: string, onWarning?: (message: string) => void): Generator<TarEntry> {
  const src = input instanceof Uint8Array ? new MemorySource(input) : input;
  const length = src.size;
  let pos = 0;
  let globals = new Map<string, Uint8Array>();
  let pending: Pending | undefined;
  for (;;) {
    if (pos >= length) {
      if (pending) throw corrupt({ origin, offset: pos, entry: pendingName(pending) }, 'archive ends after an extended header, before its member');
      if (pos > 0) onWarning?.(`${origin}: no end-of-archive marker (two zero blocks); the archive may be truncated`);
      return;
    }
    const where: Where = { origin, offset: pos };
    if (pos + BLOCK > length) throw corrupt(where, `truncated header (${length - pos} of 512 bytes)`);
    const h = src.bytes(pos, BLOCK);
    if (isZeroBlock(h)) {
      if (pending) throw corrupt({ ...where, entry: pendingName(pending) }, 'end of archive after an extended header, before its member');
      if (pos + 2 * BLOCK <= length && !isZeroBlock(src.bytes(pos + BLOCK, BLOCK))) {
        onWarning?.(`${origin}: a lone zero block at byte ${pos}; the rest of the archive is ignored`);
        return;
      }
      // The end-of-archive marker: only zeros (record padding) may follow. Anything else means
      // this is no single tar archive (a disk image starts with zeros too), and GNU tar would
      // silently ignore it: refuse instead.
      const after = src.firstNonZero(Math.min(length, pos + 2 * BLOCK));
      if (after >= 0) {
        throw new ExtimgError(
          'EFORMAT',
          `${origin}: data at byte ${after} after the tar end-of-archive marker (two zero blocks at byte ${pos}): not a tar archive, or several archives joined (give each as its own input)`,
          { archive: origin, offset: after },
        );
      }
      return;
    }
    const pendingNow = pending;
    where.entry = () => headerName(h, pendingNow);
    verifyChecksum(h, where);
    const typeflag = String.fromCharCode(h[TYPEFLAG]!);
    const paxRecords = pending?.records;
    const paxSize = paxRecords ? lastValue(paxRecords, 'size') : undefined;
    const size = paxSize !== undefined ? paxDecimal(paxSize, 'size', where) : tarNumber(h, SIZE, 12, 'size', where);
    let dataStart = pos + BLOCK;

    // Old GNU sparse: the map continues in extension blocks between header and data.
    let oldSparse: Array<[number, number]> | undefined;
    if (typeflag === 'S') {
      oldSparse = [];
      readSparseEntries(h, GNU_SPARSE, 4, oldSparse, where);
      let extended = h[GNU_ISEXTENDED] !== 0;
      while (extended) {
        if (dataStart + BLOCK > length) throw corrupt({ ...where, offset: dataStart }, 'truncated sparse header');
        const ext = src.bytes(dataStart, BLOCK);
        readSparseEntries(ext, 0, EXT_SPARSE_COUNT, oldSparse, { ...where, offset: dataStart });
        extended = ext[EXT_ISEXTENDED] !== 0;
        dataStart += BLOCK;
      }
    }
    if (size > length - dataStart) {
      throw corrupt(where, `member data runs past the end of the archive (size ${size}, ${Math.max(0, length - dataStart)} bytes left)`);
    }
    const next = Math.min(length, dataStart + align(size, BLOCK));
    // The body of a metadata member (pax records, a long name), read whole.
    const meta = (): Uint8Array => {
      if (size > MAX_META_MEMBER) throw corrupt(where, `a ${typeflag} member of ${size} bytes (metadata members hold at most ${MAX_META_MEMBER})`);
      return src.bytes(dataStart, size);
    };

    switch (typeflag) {
      case 'x':
      case 'X': // Solaris' extended header: the same records
        pending ??= { start: pos };
        pending.records ??= [];
        for (const r of parsePax(meta(), where)) pending.records.push(r);
        pos = next;
        continue;
      case 'g':
        globals = new Map(globals);
        for (const [k, v] of parsePax(meta(), where)) {
          if (v.length === 0) globals.delete(k);
          else globals.set(k, v);
        }
        pos = next;
        continue;
      case 'L':
        pending ??= { start: pos };
        pending.longName = cString(meta()).slice();
        pos = next;
        continue;
      case 'K':
        pending ??= { start: pos };
        pending.longLink = cString(meta()).slice();
        pos = next;
        continue;
      case 'V': // volume label
        pending = undefined;
        pos = next;
        continue;
      case 'M':
        throw new ExtimgError('EFORMAT', `${origin}: a multi-volume continuation member at byte ${pos} (entry '${entryOf(where)}'): multi-volume archives are not supported`, {
          archive: origin,
          offset: pos,
        });
      case 'N': // obsolete GNU long-name restore script
        onWarning?.(`${origin}: skipped an obsolete GNU 'N' member at byte ${pos}`);
        pending = undefined;
        pos = next;
        continue;
    }

    // Effective pax keywords: globals, then this member's records (an empty value unsets).
    let pax: Map<string, Uint8Array> | undefined;
    if (globals.size || paxRecords) {
      pax = new Map(globals);
      for (const [k, v] of paxRecords ?? []) {
        if (v.length === 0) pax.delete(k);
        else pax.set(k, v);
      }
    }

    const entry = decodeHeader(h, typeflag, pos, pending, pax, where);
    entry.start = pending?.start ?? pos;
    pending = undefined;
    const name = entry.name;
    where.entry = () => show(name);

    if (entry.kind === 'file') {
      const sparse = sparseMap(oldSparse, h, paxRecords, pax, new LazyBody(src, dataStart, size), where);
      if (sparse) {
        entry.size = sparse.realsize;
        entry.content = sparseContent(src, sparse.map, sparse.realsize, dataStart + sparse.dataOffset, size - sparse.dataOffset, where);
      } else {
        entry.size = size;
        entry.content = rangeContent(src, dataStart, size);
        entry.dataOffset = dataStart;
      }
    } else {
      entry.size = 0;
    }
    if (!KNOWN_TYPES.includes(typeflag)) {
      onWarning?.(`${origin}: unknown member type '${typeflag}' at byte ${pos} (entry '${entryOf(where)}'), extracted as a regular file`);
    }
    yield entry;
    pos = next;
  }
}

/** Apply a tar archive to the tree. `skip` sees archive-relative keys (used for pacman metadata). */
export function addTar(tree: Tree, input: Uint8Array | ByteSource, opts: ArchiveOptions, skip?: (key: string) => boolean): void {
  const src = input instanceof Uint8Array ? new MemorySource(input) : input;
  const x = new Extractor(tree, opts);
  for (const e of readTar(src, opts.origin, opts.onWarning)) {
    if (skip && skip(x.keyOf(e.name))) continue;
    if (e.kind === 'link') {
      x.link(e.name, e.linkname, e.offset);
      continue;
    }
    const meta: EntryMeta = { mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, xattrs: e.xattrs };
    if (e.atime) meta.atime = e.atime;
    if (e.ctime) meta.ctime = e.ctime;
    const entry: Parameters<Extractor['add']>[0] = { path: e.name, kind: e.kind, meta, offset: e.offset };
    if (e.content) entry.content = e.content;
    if (e.kind === 'symlink') entry.target = e.linkname;
    if (e.kind === 'chr' || e.kind === 'blk') {
      entry.major = e.devmajor;
      entry.minor = e.devminor;
    }
    x.add(entry);
  }
  x.reportEmpty(src.firstNonZero(0) < 0 ? `no entries (${src.size} zero bytes, read as an empty tar archive)` : 'an empty tar archive');
}

/** Whether a 512-byte block is a plausible tar header: its checksum matches (signed or unsigned). */
export function isTarHeader(block: Uint8Array): boolean {
  if (block.length < BLOCK || isZeroBlock(block.subarray(0, BLOCK))) return false;
  const recorded = parseAsciiNumber(block, CHKSUM, 8, 8);
  if (recorded < 0) return false;
  const { unsigned, signed } = checksums(block);
  return recorded === unsigned || recorded === signed;
}

// ---- headers ----------------------------------------------------------------------------

function decodeHeader(
  h: Uint8Array,
  typeflag: string,
  pos: number,
  pending: Pending | undefined,
  pax: Map<string, Uint8Array> | undefined,
  where: Where,
): TarEntry {
  // "ustar\0" then version "00" (POSIX), or "ustar  \0" (GNU).
  const ustar = h[MAGIC] === 0x75 && h[MAGIC + 1] === 0x73 && h[MAGIC + 2] === 0x74 && h[MAGIC + 3] === 0x61 && h[MAGIC + 4] === 0x72;
  const isPosix = ustar && h[MAGIC + 5] === 0;
  const isGnu = ustar && h[MAGIC + 5] === 0x20 && h[MAGIC + 6] === 0x20 && h[MAGIC + 7] === 0;

  let name: Uint8Array;
  const paxPath = pax?.get('GNU.sparse.name') ?? pax?.get('path');
  if (paxPath) name = paxPath;
  else if (pending?.longName) name = pending.longName;
  else {
    const base = cString(h.subarray(NAME, NAME + 100));
    const prefix = isPosix ? cString(h.subarray(PREFIX, PREFIX + 155)) : new Uint8Array(0);
    if (prefix.length) {
      name = new Uint8Array(prefix.length + 1 + base.length);
      name.set(prefix);
      name[prefix.length] = 0x2f;
      name.set(base, prefix.length + 1);
    } else name = base;
  }
  const linkname = pax?.get('linkpath') ?? pending?.longLink ?? cString(h.subarray(LINKNAME, LINKNAME + 100));

  let kind: EntryKind | 'link';
  switch (typeflag) {
    case '0':
    case '\0':
    case '7':
      // Old tars mark directories by a trailing slash only (GNU tar: had_trailing_slash).
      kind = name.length > 0 && name[name.length - 1] === 0x2f ? 'dir' : 'file';
      break;
    case 'S':
      kind = 'file';
      break;
    case '1':
      kind = 'link';
      break;
    case '2':
      kind = 'symlink';
      break;
    case '3':
      kind = 'chr';
      break;
    case '4':
      kind = 'blk';
      break;
    case '5':
    case 'D': // GNU dumpdir: a directory whose data lists its contents
      kind = 'dir';
      break;
    case '6':
      kind = 'fifo';
      break;
    default:
      // POSIX: an unknown typeflag is read as a regular file (GNU tar says so, then does it).
      kind = 'file';
      throwUnlessPrintable(typeflag, where);
      break;
  }

  const num = (key: string, off: number, len: number, field: string): number => {
    const v = pax?.get(key);
    return v !== undefined ? paxDecimal(v, key, where) : tarNumber(h, off, len, field, where);
  };
  const entry: TarEntry = {
    offset: pos,
    start: pos,
    typeflag,
    kind,
    name,
    linkname,
    mode: tarNumber(h, MODE, 8, 'mode', where) & 0o7777,
    uid: num('uid', UID, 8, 'uid'),
    gid: num('gid', GID, 8, 'gid'),
    uname: text(pax?.get('uname') ?? cString(h.subarray(UNAME, UNAME + 32))),
    gname: text(pax?.get('gname') ?? cString(h.subarray(GNAME, GNAME + 32))),
    mtime: pax?.has('mtime') ? paxTime(pax.get('mtime')!, 'mtime', where) : { sec: tarNumber(h, MTIME, 12, 'mtime', where), nsec: 0 },
    size: 0,
    devmajor: 0,
    devminor: 0,
    xattrs: new Map(),
  };
  if (pax?.has('atime')) entry.atime = paxTime(pax.get('atime')!, 'atime', where);
  else if (isGnu && !isBlank(h, GNU_ATIME, 12)) entry.atime = { sec: tarNumber(h, GNU_ATIME, 12, 'atime', where), nsec: 0 };
  if (pax?.has('ctime')) entry.ctime = paxTime(pax.get('ctime')!, 'ctime', where);
  else if (isGnu && !isBlank(h, GNU_CTIME, 12)) entry.ctime = { sec: tarNumber(h, GNU_CTIME, 12, 'ctime', where), nsec: 0 };
  if (kind === 'chr' || kind === 'blk') {
    entry.devmajor = num('SCHILY.devmajor', DEVMAJOR, 8, 'devmajor');
    entry.devminor = num('SCHILY.devminor', DEVMINOR, 8, 'devminor');
  }
  if (pax) {
    for (const [key, value] of pax) {
      if (key.startsWith('SCHILY.xattr.')) entry.xattrs.set(key.slice('SCHILY.xattr.'.length), value);
      else if (key.startsWith('LIBARCHIVE.xattr.')) {
        // libarchive: the name percent-encoded, the value base64.
        entry.xattrs.set(percentDecode(key.slice('LIBARCHIVE.xattr.'.length)), base64Decode(value, key, where));
      } else if (key === 'RHT.security.selinux') entry.xattrs.set('security.selinux', value);
    }
  }
  return entry;
}

function throwUnlessPrintable(typeflag: string, where: Where): void {
  const c = typeflag.charCodeAt(0);
  if (c < 0x20 || c > 0x7e) throw corrupt(where, `unknown member type 0x${c.toString(16)}`);
}

/** The name a header would give, for messages before it is decoded. */
function headerName(h: Uint8Array, pending: Pending | undefined): string {
  if (pending?.longName) return show(pending.longName);
  const rec = pending?.records && lastValue(pending.records, 'path');
  if (rec) return show(rec);
  const n = cString(h.subarray(NAME, NAME + 100));
  // A header full of garbage names nothing useful.
  for (const b of n) if (b < 0x20 || b === 0x7f) return '';
  return show(n);
}

function pendingName(p: Pending): string | undefined {
  if (p.longName) return show(p.longName);
  const rec = p.records && lastValue(p.records, 'path');
  return rec ? show(rec) : undefined;
}

function checksums(h: Uint8Array): { unsigned: number; signed: number } {
  // The checksum field counts as eight spaces; signed bytes differ by 256 for each byte >= 0x80.
  let sum = 0;
  let high = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = h[i]!;
    sum += b;
    high += b >>> 7;
  }
  for (let i = CHKSUM; i < CHKSUM + 8; i++) {
    const b = h[i]!;
    sum -= b;
    high -= b >>> 7;
  }
  const unsigned = sum + 8 * 0x20;
  return { unsigned, signed: unsigned - 256 * high };
}

/** GNU tar accepts the unsigned sum (POSIX) and the signed one (old Sun and BSD tars). */
function verifyChecksum(h: Uint8Array, where: Where): void {
  const recorded = parseAsciiNumber(h, CHKSUM, 8, 8);
  const { unsigned, signed } = checksums(h);
  if (recorded === unsigned || recorded === signed) return;
  if (recorded < 0) throw corrupt(where, 'not a tar header (the checksum field is not a number)');
  throw corrupt(where, `header checksum mismatch (recorded ${recorded}, computed ${unsigned})`);
}

function isZeroBlock(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

function isBlank(h: Uint8Array, off: number, len: number): boolean {
  for (let i = off; i < off + len; i++) if (h[i] !== 0 && h[i] !== 0x20) return false;
  return true;
}

/**
 * A numeric header field: octal ASCII, or GNU's base-256 when the high bit of the first byte
 * is set (bit 6 is the sign of a two's complement number).
 */
function tarNumber(h: Uint8Array, off: number, len: number, field: string, where: Where): number {
  const b0 = h[off]!;
  if (b0 & 0x80) {
    let v = BigInt(b0 & 0x7f);
    for (let i = 1; i < len; i++) v = (v << 8n) | BigInt(h[off + i]!);
    if (b0 & 0x40) v -= 1n << BigInt(8 * len - 1);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw corrupt(where, `${field} field out of range (base-256 ${v})`);
    }
    return Number(v);
  }
  const v = parseAsciiNumber(h, off, len, 8);
  if (v < 0) throw corrupt(where, `${field} field is not an octal number`);
  return v;
}

// ---- pax --------------------------------------------------------------------------------

/** pax records: "LEN KEY=VALUE\n" where LEN counts the whole record. Values stay bytes. */
function parsePax(rec: Uint8Array, where: Where): Array<[string, Uint8Array]> {
  const out: Array<[string, Uint8Array]> = [];
  let i = 0;
  while (i < rec.length) {
    if (rec[i] === 0) break; // NUL padding after the last record
    let len = 0;
    let j = i;
    while (j < rec.length && rec[j]! >= 0x30 && rec[j]! <= 0x39 && j - i < 12) len = len * 10 + (rec[j++]! - 0x30);
    if (j === i || rec[j] !== 0x20 || len <= j - i + 1 || i + len > rec.length || rec[i + len - 1] !== 0x0a) {
      throw corrupt(where, `malformed pax extended header record at its byte ${i}`);
    }
    const eq = rec.indexOf(0x3d, j + 1);
    if (eq < 0 || eq >= i + len - 1) throw corrupt(where, `malformed pax extended header record at its byte ${i} (no '=')`);
    const key = text(rec.subarray(j + 1, eq));
    out.push([key, rec.subarray(eq + 1, i + len - 1)]);
    i += len;
  }
  return out;
}

function lastValue(records: Array<[string, Uint8Array]>, key: string): Uint8Array | undefined {
  for (let i = records.length - 1; i >= 0; i--) if (records[i]![0] === key) return records[i]![1];
  return undefined;
}

function paxDecimal(v: Uint8Array, key: string, where: Where): number {
  const s = text(v);
  if (!/^\d{1,16}$/.test(s) || Number(s) > Number.MAX_SAFE_INTEGER) throw corrupt(where, `pax ${key}=${JSON.stringify(s.slice(0, 40))} is not a number`);
  return Number(s);
}

/** pax times: decimal seconds with an optional fraction, possibly negative (-1.5 is sec -2 + 0.5). */
function paxTime(v: Uint8Array, key: string, where: Where): Timestamp {
  const s = text(v);
  const m = /^(-?)(\d{1,15})(?:\.(\d*))?$/.exec(s);
  if (!m) throw corrupt(where, `pax ${key}=${JSON.stringify(s.slice(0, 40))} is not a time`);
  let sec = Number(m[2]);
  let nsec = Number((m[3] ?? '').slice(0, 9).padEnd(9, '0'));
  if (m[1] === '-') {
    sec = -sec;
    if (nsec > 0) {
      sec -= 1;
      nsec = 1_000_000_000 - nsec;
    }
  }
  return { sec, nsec };
}

function percentDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function base64Decode(v: Uint8Array, key: string, where: Where): Uint8Array {
  const s = latin1.decode(v).trim();
  if (!/^[A-Za-z0-9+/=_-]*$/.test(s)) throw corrupt(where, `pax ${key} is not base64`);
  return new Uint8Array(Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64'));
}

// ---- sparse -----------------------------------------------------------------------------

interface SparseMap {
  map: Array<[number, number]>;
  realsize: number;
  /** Where the data segments begin in the member's body (after a 1.0 map). */
  dataOffset: number;
}

function readSparseEntries(b: Uint8Array, off: number, count: number, into: Array<[number, number]>, where: Where): void {
  for (let i = 0; i < count; i++) {
    const o = off + i * 24;
    if (isBlank(b, o, 24)) continue;
    into.push([tarNumber(b, o, 12, 'sparse offset', where), tarNumber(b, o + 12, 12, 'sparse numbytes', where)]);
  }
}

/**
 * The sparse map of a member, if it is sparse: old GNU 'S' headers, pax 0.0 (repeated
 * GNU.sparse.offset/numbytes), 0.1 (GNU.sparse.map) or 1.0 (the map in decimal lines at the
 * start of the data, padded to a block). See GNU tar's sparse.c and its manual, "Sparse Formats".
 */
/** A member's data read a piece at a time (a 1.0 sparse map at its start), never whole. */
class LazyBody {
  private buf: Uint8Array = new Uint8Array(0);
  private bufStart = 0;
  constructor(
    private readonly src: ByteSource,
    private readonly start: number,
    readonly length: number,
  ) {}
  at(p: number): number {
    if (p < this.bufStart || p >= this.bufStart + this.buf.length) {
      this.bufStart = p - (p % BLOCK);
      this.buf = this.src.bytes(this.start + this.bufStart, Math.min(8 * BLOCK, this.length - this.bufStart));
    }
    return this.buf[p - this.bufStart]!;
  }
}

function sparseMap(
  oldSparse: Array<[number, number]> | undefined,
  h: Uint8Array,
  records: Array<[string, Uint8Array]> | undefined,
  pax: Map<string, Uint8Array> | undefined,
  body: LazyBody,
  where: Where,
): SparseMap | undefined {
  if (oldSparse) return { map: oldSparse, realsize: tarNumber(h, GNU_REALSIZE, 12, 'realsize', where), dataOffset: 0 };
  if (!pax) return undefined;
  const realsizeValue = pax.get('GNU.sparse.realsize') ?? pax.get('GNU.sparse.size');
  const major = pax.get('GNU.sparse.major');
  if (major !== undefined) {
    const maj = paxDecimal(major, 'GNU.sparse.major', where);
    const min = paxDecimal(pax.get('GNU.sparse.minor') ?? new Uint8Array([0x30]), 'GNU.sparse.minor', where);
    if (maj !== 1 || min !== 0) {
      throw new ExtimgError('EFORMAT', `${where.origin}: sparse format ${maj}.${min} at byte ${where.offset} (entry '${entryOf(where)}') is not supported`, {
        archive: where.origin,
        offset: where.offset,
      });
    }
    if (!realsizeValue) throw corrupt(where, 'sparse member without GNU.sparse.realsize');
    // The map: decimal numbers, one a line: count, then offset/size pairs.
    let p = 0;
    const next = (): number => {
      let v = 0;
      let digits = 0;
      while (p < body.length && body.at(p) !== 0x0a) {
        const c = body.at(p);
        if (c < 0x30 || c > 0x39 || digits > 15) throw corrupt(where, 'malformed sparse map in the member data');
        v = v * 10 + (c - 0x30);
        digits++;
        p++;
      }
      if (p >= body.length || digits === 0) throw corrupt(where, 'truncated sparse map in the member data');
      p++;
      return v;
    };
    const count = next();
    if (count > body.length) throw corrupt(where, `sparse map of ${count} entries cannot fit the member`);
    const map: Array<[number, number]> = [];
    for (let i = 0; i < count; i++) map.push([next(), next()]);
    return { map, realsize: paxDecimal(realsizeValue, 'GNU.sparse.realsize', where), dataOffset: align(p, BLOCK) };
  }
  const mapText = pax.get('GNU.sparse.map');
  if (mapText !== undefined) {
    const nums = latin1.decode(mapText).split(',');
    if (nums.length % 2 !== 0 || !nums.every((n) => /^\d{1,16}$/.test(n))) throw corrupt(where, 'malformed GNU.sparse.map');
    const map: Array<[number, number]> = [];
    for (let i = 0; i < nums.length; i += 2) map.push([Number(nums[i]), Number(nums[i + 1])]);
    if (!realsizeValue) throw corrupt(where, 'sparse member without GNU.sparse.size');
    return { map, realsize: paxDecimal(realsizeValue, 'GNU.sparse.size', where), dataOffset: 0 };
  }
  if (records && records.some(([k]) => k === 'GNU.sparse.offset')) {
    const map: Array<[number, number]> = [];
    let offset: number | undefined;
    for (const [k, v] of records) {
      if (k === 'GNU.sparse.offset') offset = paxDecimal(v, k, where);
      else if (k === 'GNU.sparse.numbytes') {
        if (offset === undefined) throw corrupt(where, 'GNU.sparse.numbytes without GNU.sparse.offset');
        map.push([offset, paxDecimal(v, k, where)]);
        offset = undefined;
      }
    }
    if (!realsizeValue) throw corrupt(where, 'sparse member without GNU.sparse.size');
    return { map, realsize: paxDecimal(realsizeValue, 'GNU.sparse.size', where), dataOffset: 0 };
  }
  return undefined;
}

/** Segments laid end to end in the stored data (`stored` bytes at `at`); holes between them stay holes. */
function sparseContent(src: ByteSource, map: Array<[number, number]>, realsize: number, at: number, stored: number, where: Where): FileContent {
  const segments: SparseSegment[] = [];
  let pos = 0;
  let end = 0;
  for (const [offset, length] of map) {
    if (offset < end || offset + length > realsize) throw corrupt(where, `sparse map entry ${offset}+${length} overlaps, is unsorted or passes the size ${realsize}`);
    if (pos + length > stored) throw corrupt(where, `sparse data runs past the member (map needs more than ${stored} bytes)`);
    if (length > 0) segments.push({ offset, at: at + pos, length });
    pos += length;
    end = offset + length;
  }
  return sparseRangeContent(src, realsize, segments, `${where.origin}: ${entryOf(where) ?? ''}`);
}
