import { ExtimgError } from '../errors.js';
import { align, ascii, corrupt, parseAsciiNumber, startsWith, type Where } from './bytes.js';
import { MemorySource, type ByteSource } from './source.js';

/**
 * The Unix ar container as dpkg reads it (dpkg's lib/dpkg/ar.c): "!<arch>\n", then per member a
 * 60-byte header (name[16] date[12] uid[6] gid[6] mode[8] size[10] "`\n") and the data padded
 * to an even length. GNU long names ("/N" into the "//" table, "name/") and BSD ones ("#1/N",
 * the name first in the data) are understood.
 */

export const AR_MAGIC = [0x21, 0x3c, 0x61, 0x72, 0x63, 0x68, 0x3e, 0x0a]; // "!<arch>\n"
const THIN_MAGIC = [0x21, 0x3c, 0x74, 0x68, 0x69, 0x6e, 0x3e, 0x0a]; // "!<thin>\n"
const HEADER = 60;

export interface ArMember {
  name: string;
  /** Byte offset of the member's header. */
  offset: number;
  /** Where the member's data starts in the archive, and its length. */
  dataOffset: number;
  size: number;
  /** The data as bytes: read for small members (debian-binary, name tables), else empty. */
  data: Uint8Array;
  mtime: number;
  uid: number;
  gid: number;
  mode: number;
}

/** Members read as bytes (debian-binary, symbol and name tables); larger ones are left where they are. */
const SMALL_MEMBER = 1 << 16;

export function* readAr(input: Uint8Array | ByteSource, origin: string): Generator<ArMember> {
  const src = input instanceof Uint8Array ? new MemorySource(input) : input;
  const length = src.size;
  const magic = src.bytes(0, 8);
  if (startsWith(magic, THIN_MAGIC)) {
    throw new ExtimgError('EFORMAT', `${origin}: a thin ar archive (members are outside it) is not supported`, { archive: origin });
  }
  if (!startsWith(magic, AR_MAGIC)) throw corrupt({ origin, offset: 0 }, 'not an ar archive (no !<arch> magic)');
  let pos = AR_MAGIC.length;
  let longNames: Uint8Array | undefined;
  const latin1 = new TextDecoder('latin1');
  while (pos < length) {
    const where: Where = { origin, offset: pos };
    if (pos + HEADER > length) {
      // A lone padding newline at the very end is fine.
      if (pos + 1 === length && src.bytes(pos, 1)[0] === 0x0a) return;
      throw corrupt(where, `truncated ar member header (${length - pos} of ${HEADER} bytes)`);
    }
    const h = src.bytes(pos, HEADER);
    if (h[58] !== 0x60 || h[59] !== 0x0a) throw corrupt(where, 'bad ar member header (no `\\n terminator)');
    let name = ascii(h, 0, 16).replace(/ +$/, '');
    where.entry = name;
    const num = (off: number, len: number, radix: 8 | 10, field: string): number => {
      const v = parseAsciiNumber(h, off, len, radix);
      if (v < 0) throw corrupt(where, `ar member ${field} field is not a number`);
      return v;
    };
    let size = num(48, 10, 10, 'size');
    let start = pos + HEADER;
    if (start + size > length) {
      throw corrupt(where, `ar member data runs past the end of the archive (size ${size}, ${length - start} bytes left)`);
    }
    const next = start + align(size, 2);
    let body = size <= SMALL_MEMBER || name === '//' ? src.bytes(start, size) : new Uint8Array(0);
    if (name === '//') {
      longNames = body;
      pos = next;
      continue;
    }
    if (name === '/' || name === '/SYM64/' || name === '__.SYMDEF' || name === '__.SYMDEF SORTED') {
      pos = next;
      continue;
    }
    if (/^\/\d+$/.test(name)) {
      const at = Number(name.slice(1));
      if (!longNames || at >= longNames.length) throw corrupt(where, `ar long name ${name} without a name table entry`);
      let end = at;
      while (end < longNames.length && longNames[end] !== 0x0a && longNames[end] !== 0) end++;
      name = latin1.decode(longNames.subarray(at, end)).replace(/\/$/, '');
    } else if (/^#1\/\d+$/.test(name)) {
      const n = Number(name.slice(3));
      if (n > size) throw corrupt(where, `BSD ar name of ${n} bytes does not fit the member`);
      name = latin1.decode(src.bytes(start, n)).replace(/\0+$/, '');
      body = body.length ? body.subarray(n) : body;
      start += n;
      size -= n;
    } else {
      name = name.replace(/\/$/, '');
    }
    yield {
      name,
      offset: pos,
      dataOffset: start,
      size,
      data: body,
      mtime: num(16, 12, 10, 'date'),
      uid: num(28, 6, 10, 'uid'),
      gid: num(34, 6, 10, 'gid'),
      mode: num(40, 8, 8, 'mode'),
    };
    pos = next;
  }
}
