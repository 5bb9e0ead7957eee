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

/**
 * Where the gzip member at the start of `data` ends (RFC 1952: header, deflate data, CRC32 and
 * ISIZE), or undefined when that cannot be told (the decoder then says what is wrong).
 */
export function gzipMemberEnd(data: Uint8Array): number | undefined {
  if (data.length < 18 || data[0] !== 0x1f || data[1] !== 0x8b || data[2] !== 8) return undefined;
  const flg = data[3]!;
  let p = 10;
  if (flg & 4) {
    if (p + 2 > data.length) return undefined;
    p += 2 + (data[p]! | (data[p + 1]! << 8));
  }
  for (const bit of [8, 16]) {
    if (flg & bit) {
      while (p < data.length && data[p] !== 0) p++;
      p++;
    }
  }
  if (flg & 2) p += 2;
  if (p >= data.length) return undefined;
  let consumed: number;
  try {
    const r = zlib.inflateRawSync(data.subarray(p), { info: true } as zlib.ZlibOptions) as unknown as { engine: { bytesWritten: number } };
    consumed = r.engine.bytesWritten;
  } catch {
    return undefined;
  }
  const end = p + consumed + 8;
  return consumed > 0 && end <= data.length ? end : undefined;
}
