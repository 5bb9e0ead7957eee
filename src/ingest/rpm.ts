import { ExtimgError } from '../errors.js';
import { bytesToKey } from '../tree/names.js';
import type { Node } from '../tree/node.js';
import type { Tree } from '../tree/tree.js';
import { align, corrupt, startsWith, type Where } from './bytes.js';
import type { Codec } from '../compress/index.js';
import { MemorySource, type ByteSource } from './source.js';

/**
 * An RPM package: a 96-byte lead (magic ed ab ee db), the signature header (padded to 8
 * bytes), the main header, then the compressed cpio payload. Headers are big-endian: magic
 * 8e ad e8 01, 4 reserved bytes, the index entry count, the store size, 16-byte index entries
 * (tag, type, offset, count), the store (rpm's lib/header.c and the LSB package format).
 */

export const RPM_LEAD_MAGIC = [0xed, 0xab, 0xee, 0xdb];
const HEADER_MAGIC = [0x8e, 0xad, 0xe8, 0x01];
const LEAD_SIZE = 96;

// Tags (rpmtag.h).
const RPMTAG_OLDFILENAMES = 1027;
const RPMTAG_FILEUSERNAME = 1039;
const RPMTAG_FILEGROUPNAME = 1040;
const RPMTAG_DIRINDEXES = 1116;
const RPMTAG_BASENAMES = 1117;
const RPMTAG_DIRNAMES = 1118;
const RPMTAG_PAYLOADFORMAT = 1124;
const RPMTAG_PAYLOADCOMPRESSOR = 1125;

// Types (rpm_tagtype_t).
const RPM_INT32_TYPE = 4;
const RPM_STRING_TYPE = 6;
const RPM_STRING_ARRAY_TYPE = 8;
const RPM_I18NSTRING_TYPE = 9;

const COMPRESSORS: Record<string, Codec | undefined> = {
  gzip: 'gzip',
  bzip2: 'bzip2',
  xz: 'xz',
  lzma: 'lzma',
  zstd: 'zstd',
};

export interface RpmOwner {
  user: string;
  group: string;
}

export interface RpmPayload {
  /** From PAYLOADCOMPRESSOR (gzip when the tag is missing, as rpm assumes). */
  codec: Codec | undefined;
  /** The compressed cpio payload: a view into the package (for a package in memory). */
  payload: Uint8Array;
  /** Where the payload starts in the package (it runs to the end). */
  offset: number;
  /** Owner names per file, keyed by the path without its leading '/' as a byte string (names.ts). */
  owners: Map<string, RpmOwner>;
}

interface IndexEntry {
  tag: number;
  type: number;
  offset: number;
  count: number;
}

interface Header {
  entries: Map<number, IndexEntry>;
  store: Uint8Array;
  /** Byte offset just past the header. */
  end: number;
  where: Where;
}

function be32(d: Uint8Array, at: number): number {
  return ((d[at]! << 24) | (d[at + 1]! << 16) | (d[at + 2]! << 8) | d[at + 3]!) >>> 0;
}

function readHeader(src: ByteSource, pos: number, origin: string, what: string): Header {
  const where: Where = { origin, offset: pos, entry: what };
  if (pos + 16 > src.size) throw corrupt(where, 'truncated rpm header');
  const intro = src.bytes(pos, 16);
  if (!startsWith(intro, HEADER_MAGIC)) throw corrupt(where, 'no rpm header magic (8e ad e8 01)');
  const nindex = be32(intro, 8);
  const hsize = be32(intro, 12);
  const indexStart = pos + 16;
  const storeStart = indexStart + nindex * 16;
  if (nindex > 0x10000 || hsize > 0x10000000 || storeStart + hsize > src.size) {
    throw corrupt(where, `rpm header of ${nindex} entries and ${hsize} bytes runs past the end of the package`);
  }
  const index = src.bytes(indexStart, nindex * 16);
  const entries = new Map<number, IndexEntry>();
  for (let i = 0; i < nindex; i++) {
    const at = i * 16;
    const e = { tag: be32(index, at), type: be32(index, at + 4), offset: be32(index, at + 8), count: be32(index, at + 12) };
    if (e.offset > hsize) throw corrupt({ ...where, offset: indexStart + at }, `rpm header tag ${e.tag} points past its store`);
    entries.set(e.tag, e);
  }
  return { entries, store: src.bytes(storeStart, hsize), end: storeStart + hsize, where };
}

/** The strings of a STRING, STRING_ARRAY or I18NSTRING tag, as raw bytes. */
function stringsOf(h: Header, tag: number): Uint8Array[] | undefined {
  const e = h.entries.get(tag);
  if (!e) return undefined;
  if (e.type !== RPM_STRING_TYPE && e.type !== RPM_STRING_ARRAY_TYPE && e.type !== RPM_I18NSTRING_TYPE) {
    throw corrupt(h.where, `rpm tag ${tag} has type ${e.type}, expected strings`);
  }
  const count = e.type === RPM_STRING_TYPE ? 1 : e.count;
  const out: Uint8Array[] = [];
  let p = e.offset;
  for (let i = 0; i < count; i++) {
    const nul = h.store.indexOf(0, p);
    if (nul < 0) throw corrupt(h.where, `rpm tag ${tag}: string ${i} runs past the header store`);
    out.push(h.store.subarray(p, nul));
    p = nul + 1;
  }
  return out;
}

function int32sOf(h: Header, tag: number): number[] | undefined {
  const e = h.entries.get(tag);
  if (!e) return undefined;
  if (e.type !== RPM_INT32_TYPE) throw corrupt(h.where, `rpm tag ${tag} has type ${e.type}, expected int32`);
  if (e.offset + e.count * 4 > h.store.length) throw corrupt(h.where, `rpm tag ${tag} runs past the header store`);
  const out: number[] = [];
  for (let i = 0; i < e.count; i++) out.push(be32(h.store, e.offset + i * 4));
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

export function unwrapRpm(input: Uint8Array | ByteSource, origin: string): RpmPayload {
  const data = input instanceof Uint8Array ? new MemorySource(input) : input;
  if (!startsWith(data.bytes(0, 4), RPM_LEAD_MAGIC)) throw corrupt({ origin, offset: 0 }, 'not an rpm package (no lead magic ed ab ee db)');
  if (data.size < LEAD_SIZE) throw corrupt({ origin, offset: 0 }, 'truncated rpm lead');
  const sig = readHeader(data, LEAD_SIZE, origin, 'signature header');
  const main = readHeader(data, LEAD_SIZE + align(sig.end - LEAD_SIZE, 8), origin, 'header');
  const payload = data instanceof MemorySource ? data.bytes(main.end, data.size - main.end) : new Uint8Array(0);

  const format = stringsOf(main, RPMTAG_PAYLOADFORMAT)?.[0];
  const formatName = format ? utf8.decode(format) : 'cpio';
  if (formatName !== 'cpio') {
    throw new ExtimgError('EFORMAT', `${origin}: rpm payload format '${formatName}' is not supported (only cpio)`, { archive: origin });
  }
  const compressor = stringsOf(main, RPMTAG_PAYLOADCOMPRESSOR)?.[0];
  const compressorName = compressor ? utf8.decode(compressor) : 'gzip';
  if (!Object.hasOwn(COMPRESSORS, compressorName)) {
    throw new ExtimgError('EFORMAT', `${origin}: rpm payload compressor '${compressorName}' is not supported`, { archive: origin });
  }

  // File names: BASENAMES + DIRNAMES[DIRINDEXES] (rpm >= 4), or OLDFILENAMES.
  let paths: Uint8Array[] = [];
  const basenames = stringsOf(main, RPMTAG_BASENAMES);
  if (basenames) {
    const dirnames = stringsOf(main, RPMTAG_DIRNAMES) ?? [];
    const dirindexes = int32sOf(main, RPMTAG_DIRINDEXES) ?? [];
    paths = basenames.map((base, i) => {
      const dir = dirnames[dirindexes[i] ?? -1];
      if (dir === undefined) throw corrupt(main.where, `rpm file ${i} has no directory (DIRINDEXES)`);
      const p = new Uint8Array(dir.length + base.length);
      p.set(dir);
      p.set(base, dir.length);
      return p;
    });
  } else {
    paths = stringsOf(main, RPMTAG_OLDFILENAMES) ?? [];
  }
  const users = stringsOf(main, RPMTAG_FILEUSERNAME) ?? [];
  const groups = stringsOf(main, RPMTAG_FILEGROUPNAME) ?? [];
  const owners = new Map<string, RpmOwner>();
  paths.forEach((p, i) => {
    const user = users[i];
    const group = groups[i];
    if (user === undefined && group === undefined) return;
    owners.set(pathKey(p), { user: user ? utf8.decode(user) : 'root', group: group ? utf8.decode(group) : 'root' });
  });
  return { codec: COMPRESSORS[compressorName], payload, offset: main.end, owners };
}

/** "/usr/bin/x" or "./usr/bin/x" -> "usr/bin/x" as a byte string: the keys Extractor.keyOf gives. */
function pathKey(p: Uint8Array): string {
  const comps: string[] = [];
  for (const part of bytesToKey(p).split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') comps.pop();
    else comps.push(part);
  }
  return comps.join('/');
}

// ---- owner names -> ids -----------------------------------------------------------------

export interface OwnerFixup {
  node: Node;
  owner: RpmOwner;
  /** The ids the payload gave. */
  uid: number;
  gid: number;
}

/**
 * rpm installs files as the named owners; the cpio payload carries ids (0 as rpmbuild writes
 * them). Where the payload's id is 0 and the image's /etc/passwd or /etc/group (read from the
 * tree now) knows the name, use that id; an unknown name stays 0 with a warning, as rpm says
 * "user X does not exist - using root".
 */
export function applyRpmOwners(tree: Tree, fixups: readonly OwnerFixup[], origin: string, onWarning?: (message: string) => void): void {
  if (fixups.length === 0) return;
  const users = idFile(tree, 'etc/passwd');
  const groups = idFile(tree, 'etc/group');
  const warned = new Set<string>();
  const warn = (what: string, name: string, file: string): void => {
    const key = `${what}:${name}`;
    if (warned.has(key)) return;
    warned.add(key);
    onWarning?.(`${origin}: ${what} '${name}' is not in the image's ${file}; its files stay owned by ${what === 'user' ? 'uid' : 'gid'} 0`);
  };
  for (const f of fixups) {
    if (f.uid === 0 && f.owner.user !== 'root') {
      const id = users.get(f.owner.user);
      if (id !== undefined) f.node.meta.uid = id;
      else warn('user', f.owner.user, '/etc/passwd');
    }
    if (f.gid === 0 && f.owner.group !== 'root') {
      const id = groups.get(f.owner.group);
      if (id !== undefined) f.node.meta.gid = id;
      else warn('group', f.owner.group, '/etc/group');
    }
  }
}

/** name -> id from an /etc/passwd or /etc/group in the tree ("name:x:id:..."). */
function idFile(tree: Tree, path: string): Map<string, number> {
  const out = new Map<string, number>();
  let node: Node | undefined;
  try {
    node = tree.get(path, true);
  } catch {
    return out;
  }
  if (node?.kind !== 'file' || node.content.size > 64 * 1024 * 1024) return out;
  const bytes = new Uint8Array(node.content.size);
  const r = node.content.open();
  try {
    r.read(0, bytes);
  } finally {
    r.close();
  }
  for (const line of utf8.decode(bytes).split('\n')) {
    const f = line.split(':');
    if (f.length < 3 || f[0] === '' || line.startsWith('#')) continue;
    const id = Number(f[2]);
    if (Number.isInteger(id) && id >= 0 && id <= 0xffffffff && !out.has(f[0]!)) out.set(f[0]!, id);
  }
  return out;
}
