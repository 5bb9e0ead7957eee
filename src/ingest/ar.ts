import { ExtimgError } from '../errors.js';
import { align, ascii, corrupt, parseAsciiNumber, startsWith, type Where } from './bytes.js';

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
  /** The data, a view into the archive. */
  data: Uint8Array;
  mtime: number;
  uid: number;
  gid: number;
  mode: number;
}

export function* readAr(data: Uint8Array, origin: string): Generator<ArMember> {
  if (startsWith(data, THIN_MAGIC)) {
    throw new ExtimgError('EFORMAT', `${origin}: a thin ar archive (members are outside it) is not supported`, { archive: origin });
  }
  if (!startsWith(data, AR_MAGIC)) throw corrupt({ origin, offset: 0 }, 'not an ar archive (no !<arch> magic)');
  let pos = AR_MAGIC.length;
  let longNames: Uint8Array | undefined;
  const latin1 = new TextDecoder('latin1');
  while (pos < data.length) {
    const where: Where = { origin, offset: pos };
    if (pos + HEADER > data.length) {
      // A lone padding newline at the very end is fine.
      if (pos + 1 === data.length && data[pos] === 0x0a) return;
      throw corrupt(where, `truncated ar member header (${data.length - pos} of ${HEADER} bytes)`);
    }
    if (data[pos + 58] !== 0x60 || data[pos + 59] !== 0x0a) throw corrupt(where, 'bad ar member header (no `\\n terminator)');
    let name = ascii(data, pos, 16).replace(/ +$/, '');
    where.entry = name;
    const num = (off: number, len: number, radix: 8 | 10, field: string): number => {
      const v = parseAsciiNumber(data, pos + off, len, radix);
      if (v < 0) throw corrupt(where, `ar member ${field} field is not a number`);
      return v;
    };
    const size = num(48, 10, 10, 'size');
    const start = pos + HEADER;
    if (start + size > data.length) {
      throw corrupt(where, `ar member data runs past the end of the archive (size ${size}, ${data.length - start} bytes left)`);
    }
    let body = data.subarray(start, start + size);
    const next = start + align(size, 2);
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
      if (n > body.length) throw corrupt(where, `BSD ar name of ${n} bytes does not fit the member`);
      name = latin1.decode(body.subarray(0, n)).replace(/\0+$/, '');
      body = body.subarray(n);
    } else {
      name = name.replace(/\/$/, '');
    }
    yield {
      name,
      offset: pos,
      data: body,
      mtime: num(16, 12, 10, 'date'),
      uid: num(28, 6, 10, 'uid'),
      gid: num(34, 6, 10, 'gid'),
      mode: num(40, 8, 8, 'mode'),
    };
    pos = next;
  }
}
