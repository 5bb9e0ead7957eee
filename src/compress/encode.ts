/**
 * Encoders for the codecs the kernel's initramfs unpacker reads and we can write: gzip
 * (node:zlib), zstd (@bokuweb/zstd-wasm; the frame carries its content size, which the kernel's
 * unzstd needs to size its output), lz4 in the *legacy* frame (`lz4 -l`, the only lz4 format the
 * kernel takes) over our own greedy LZ4 block compressor, and none. xz, bzip2 and lzma are not
 * written yet.
 */
import * as zlib from 'node:zlib';
import { ExtimgError } from '../errors.js';

export type EncodeCodec = 'none' | 'gzip' | 'zstd' | 'lz4';
export const ENCODE_CODECS: readonly EncodeCodec[] = ['none', 'gzip', 'zstd', 'lz4'];

/** Default levels: gzip's own default, zstd 3 (19 takes ~40 s on a 14 MB initrd in WASM). */
const DEFAULT_LEVEL: Record<'gzip' | 'zstd', number> = { gzip: 6, zstd: 3 };
const LEVELS: Record<'gzip' | 'zstd', [number, number]> = { gzip: [1, 9], zstd: [1, 19] };

export function checkEncodeCodec(codec: string, origin: string): EncodeCodec {
  if ((ENCODE_CODECS as readonly string[]).includes(codec)) return codec as EncodeCodec;
  if (codec === 'xz' || codec === 'bzip2' || codec === 'lzma' || codec === 'lzo') {
    throw new ExtimgError('EFORMAT', `${origin}: writing ${codec} compression is not supported yet (use --compress gzip, zstd, lz4 or none)`, { origin, codec });
  }
  throw new ExtimgError('EFORMAT', `${origin}: unknown compression '${codec}'`, { origin, codec });
}

/** Compress a whole buffer. `level` is checked against the codec's range (lz4 and none take none). */
export async function encode(data: Uint8Array, codec: EncodeCodec, level?: number): Promise<Uint8Array> {
  switch (codec) {
    case 'none':
      return data;
    case 'gzip': {
      const l = checkLevel('gzip', level);
      const out = zlib.gzipSync(data, { level: l });
      return new Uint8Array(out.buffer, out.byteOffset, out.length);
    }
    case 'zstd':
      return encodeZstd(data, checkLevel('zstd', level));
    case 'lz4':
      return encodeLz4Legacy(data);
  }
}

function checkLevel(codec: 'gzip' | 'zstd', level: number | undefined): number {
  if (level === undefined) return DEFAULT_LEVEL[codec];
  const [lo, hi] = LEVELS[codec];
  if (!Number.isInteger(level) || level < lo || level > hi) {
    throw new ExtimgError('EINVAL', `--level ${level}: ${codec} takes ${lo}-${hi}`, { codec, level });
  }
  return level;
}

interface ZstdWasmCompress {
  init(): Promise<void>;
  compress(buf: Uint8Array, level?: number): Uint8Array;
}
let zstdApi: Promise<ZstdWasmCompress> | undefined;

async function encodeZstd(data: Uint8Array, level: number): Promise<Uint8Array> {
  zstdApi ??= (async () => {
    const mod = (await import('@bokuweb/zstd-wasm')) as unknown as ZstdWasmCompress & { default?: ZstdWasmCompress };
    const api = typeof mod.compress === 'function' ? mod : (mod.default as ZstdWasmCompress);
    await api.init();
    return api;
  })();
  const api = await zstdApi;
  const out = api.compress(data, level);
  // ZSTD_compress() knows the input size and records it (Frame_Content_Size); the kernel's
  // unzstd needs it. Check rather than trust: FCS_flag (bits 7-6) or Single_Segment (bit 5).
  const fhd = out[4] ?? 0;
  if (out.length < 5 || ((fhd >> 6) === 0 && (fhd & 0x20) === 0)) {
    throw new ExtimgError('EFORMAT', 'zstd: the encoder wrote a frame without its content size', {});
  }
  return out;
}

// ---- LZ4 --------------------------------------------------------------------------------

/** Input bytes per legacy block (LZ4_DEFAULT_UNCOMPRESSED_CHUNK_SIZE; the kernel's unlz4 limit). */
export const LZ4_LEGACY_BLOCK = 8 << 20;
const MIN_MATCH = 4;
const LAST_LITERALS = 5; // the last 5 bytes of a block are always literals
const MF_LIMIT = 12; // the last match must start at least 12 bytes before the block's end
const MAX_OFFSET = 65535;
const HASH_BITS = 16;

/** The legacy frame: magic 0x184C2102 (02 21 4c 18), then [u32 LE size][block] per 8 MiB of input. */
export function encodeLz4Legacy(data: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [new Uint8Array([0x02, 0x21, 0x4c, 0x18])];
  let total = 4;
  for (let p = 0; p < data.length; p += LZ4_LEGACY_BLOCK) {
    const block = lz4CompressBlock(data.subarray(p, Math.min(data.length, p + LZ4_LEGACY_BLOCK)));
    const size = new Uint8Array(4);
    new DataView(size.buffer).setUint32(0, block.length, true);
    parts.push(size, block);
    total += 4 + block.length;
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const part of parts) {
    out.set(part, o);
    o += part.length;
  }
  return out;
}

function read32(s: Uint8Array, i: number): number {
  return s[i]! | (s[i + 1]! << 8) | (s[i + 2]! << 16) | (s[i + 3]! << 24);
}

/** One independent LZ4 block (lz4_Block_format.md), greedy with a hash table of 4-byte sequences. */
export function lz4CompressBlock(src: Uint8Array): Uint8Array {
  const n = src.length;
  const out = new Uint8Array(n + Math.ceil(n / 255) + 16);
  let op = 0;
  let anchor = 0;

  const writeLength = (len: number): void => {
    while (len >= 255) {
      out[op++] = 255;
      len -= 255;
    }
    out[op++] = len;
  };
  const emit = (litEnd: number, offset: number, matchLen: number): void => {
    const litLen = litEnd - anchor;
    const ml = matchLen - MIN_MATCH;
    out[op++] = (Math.min(litLen, 15) << 4) | (matchLen > 0 ? Math.min(ml, 15) : 0);
    if (litLen >= 15) writeLength(litLen - 15);
    out.set(src.subarray(anchor, litEnd), op);
    op += litLen;
    if (matchLen > 0) {
      out[op++] = offset & 0xff;
      out[op++] = offset >>> 8;
      if (ml >= 15) writeLength(ml - 15);
    }
  };

  if (n > MF_LIMIT) {
    const table = new Int32Array(1 << HASH_BITS).fill(-1);
    const hash = (v: number): number => Math.imul(v, 2654435761) >>> (32 - HASH_BITS);
    const lastMatchStart = n - MF_LIMIT; // a match may start at ip <= n - 12
    const matchLimit = n - LAST_LITERALS; // and must end at or before n - 5
    let ip = 0;
    let misses = 0;
    while (ip <= lastMatchStart) {
      const seq = read32(src, ip);
      const h = hash(seq);
      const ref = table[h]!;
      table[h] = ip;
      if (ref >= 0 && ip - ref <= MAX_OFFSET && read32(src, ref) === seq) {
        let end = ip + MIN_MATCH;
        let r = ref + MIN_MATCH;
        while (end < matchLimit && src[end] === src[r]) {
          end++;
          r++;
        }
        let start = ip;
        let rs = ref;
        while (start > anchor && rs > 0 && src[start - 1] === src[rs - 1]) {
          start--;
          rs--;
        }
        emit(start, ip - ref, end - start);
        anchor = end;
        // Seed the table inside the match so the next search finds nearby repeats.
        if (end - 2 <= lastMatchStart && end - 2 > ip) table[hash(read32(src, end - 2))] = end - 2;
        ip = end;
        misses = 0;
        continue;
      }
      // Skip faster through data that does not compress (as LZ4's acceleration does).
      ip += 1 + (misses++ >> 6);
    }
  }
  emit(n, 0, 0);
  return out.slice(0, op);
}
