/**
 * gzip (RFC 1952) through node:zlib, which decodes concatenated members (pigz, `cat a.gz b.gz`)
 * in one call and stops at zero padding. We go on past the padding when another member
 * follows, as the kernel's initramfs unpacker does, and refuse anything else after the data.
 */
import * as zlib from 'node:zlib';
import { corrupt, describe, truncated, unsupported } from './fail.js';
import { concatBytes } from './sink.js';

interface GunzipInfo {
  buffer: Uint8Array;
  engine: { bytesWritten: number };
}

export function decodeGzip(data: Uint8Array, origin: string): Uint8Array {
  const parts: Uint8Array[] = [];
  let pos = 0;
  for (;;) {
    if (data.length - pos < 10) throw truncated(origin, 'gzip', data.length);
    if (data[pos + 2] !== 8) throw unsupported(origin, 'gzip', `unsupported gzip compression method ${data[pos + 2]}`, pos + 2);
    let r: GunzipInfo;
    try {
      r = zlib.gunzipSync(data.subarray(pos), { info: true } as zlib.ZlibOptions) as unknown as GunzipInfo;
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'Z_BUF_ERROR') throw truncated(origin, 'gzip', data.length);
      throw corrupt(origin, 'gzip', `corrupt gzip stream: ${describe(e)}`);
    }
    const out = r.buffer;
    parts.push(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
    const consumed = r.engine.bytesWritten;
    if (consumed <= 0) throw corrupt(origin, 'gzip', 'corrupt gzip stream', pos);
    pos += consumed;
    while (pos < data.length && data[pos] === 0) pos++;
    if (pos >= data.length) break;
    if (data[pos] !== 0x1f || data[pos + 1] !== 0x8b) throw corrupt(origin, 'gzip', 'garbage after gzip data', pos);
  }
  return concatBytes(parts);
}
