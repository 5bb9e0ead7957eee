import { ExtimgError } from '../errors.js';
import { readAr } from './ar.js';
import { MemorySource, type ByteSource } from './source.js';
import type { Codec } from '../compress/index.js';

/**
 * A Debian binary package: an ar archive whose members are `debian-binary` ("2.x\n"), then
 * `control.tar[.ext]`, then `data.tar[.ext]`; members named with a leading '_' are ignored
 * (deb(5), dpkg-deb's extract.c). The data member goes into the image; the control member (small,
 * read in memory by deb-control.ts) feeds the package database.
 */

const CONTROL_CODECS: Record<string, Codec | undefined> = {
  'control.tar': undefined,
  'control.tar.gz': 'gzip',
  'control.tar.xz': 'xz',
  'control.tar.zst': 'zstd',
};

const DATA_CODECS: Record<string, Codec | undefined> = {
  'data.tar': undefined,
  'data.tar.gz': 'gzip',
  'data.tar.xz': 'xz',
  'data.tar.zst': 'zstd',
  'data.tar.bz2': 'bzip2',
  'data.tar.lzma': 'lzma',
};

export interface DebPayload {
  /** How the data member is compressed (by its name), undefined for a plain data.tar. */
  codec: Codec | undefined;
  /** The member's name, e.g. "data.tar.xz". */
  member: string;
  /** The member's bytes, still compressed: a view into the package (for a package in memory). */
  payload: Uint8Array;
  /** Where the member's data is in the package, and its length. */
  offset: number;
  size: number;
  /** The control member ("control.tar.xz"): where it is in the package and its compression. */
  control: { member: string; codec: Codec | undefined; offset: number; size: number };
}

export function unwrapDeb(input: Uint8Array | ByteSource, origin: string): DebPayload {
  const data = input instanceof Uint8Array ? new MemorySource(input) : input;
  let index = 0;
  let control: DebPayload['control'] | undefined;
  const latin1 = new TextDecoder('latin1');
  for (const m of readAr(data, origin)) {
    const at = `${origin}: ar member '${m.name}' at byte ${m.offset}`;
    if (index++ === 0) {
      if (m.name !== 'debian-binary') {
        throw new ExtimgError('EFORMAT', `${at}: not a Debian package (the first member must be debian-binary)`, { archive: origin });
      }
      const version = latin1.decode(m.data.subarray(0, 16));
      if (!/^2\.\d+\n/.test(version)) {
        throw new ExtimgError('EFORMAT', `${origin}: Debian package format ${JSON.stringify(version.split('\n')[0])} is not supported (only 2.x)`, {
          archive: origin,
        });
      }
      continue;
    }
    if (m.name.startsWith('_')) continue;
    if (m.name.startsWith('control.tar')) {
      if (!Object.hasOwn(CONTROL_CODECS, m.name)) {
        throw new ExtimgError('EFORMAT', `${at}: unknown compression of the control member`, { archive: origin, member: m.name });
      }
      control = { member: m.name, codec: CONTROL_CODECS[m.name], offset: m.dataOffset, size: m.size };
      continue;
    }
    if (m.name.startsWith('data.tar')) {
      if (!control) throw new ExtimgError('EFORMAT', `${at}: data member before the control member`, { archive: origin });
      if (!Object.hasOwn(DATA_CODECS, m.name)) {
        throw new ExtimgError('EFORMAT', `${at}: unknown compression of the data member`, { archive: origin, member: m.name });
      }
      const payload = data instanceof MemorySource ? data.bytes(m.dataOffset, m.size) : new Uint8Array(0);
      return { codec: DATA_CODECS[m.name], member: m.name, payload, offset: m.dataOffset, size: m.size, control };
    }
    throw new ExtimgError('EFORMAT', `${at}: unexpected member in a Debian package`, { archive: origin, member: m.name });
  }
  throw new ExtimgError('EFORMAT', `${origin}: Debian package without a data.tar member`, { archive: origin });
}
