/**
 * Encoders for every codec the kernel's initramfs unpacker reads except lzo: gzip (node:zlib),
 * zstd (@bokuweb/zstd-wasm; the frame carries its content size, which the kernel's unzstd needs
 * to size its output), lz4 in the *legacy* frame (`lz4 -l`, the only lz4 format the kernel
 * takes) over our own greedy LZ4 block compressor, xz with a CRC32 check and .lzma over our own
 * LZMA encoder (lzma-encode.ts, xz-encode.ts), bzip2 (bzip2-encode.ts), and none.
 */
import * as os from 'node:os';
import * as zlib from 'node:zlib';
import { ExtimgError } from '../errors.js';
import { concatBytes } from './sink.js';
import { zstdWasm } from './zstd-wasm.js';

export type EncodeCodec = 'none' | 'gzip' | 'zstd' | 'lz4' | 'xz' | 'lzma' | 'bzip2';
export const ENCODE_CODECS: readonly EncodeCodec[] = ['none', 'gzip', 'zstd', 'lz4', 'xz', 'lzma', 'bzip2'];

type Leveled = 'gzip' | 'zstd' | 'xz' | 'lzma' | 'bzip2';
/**
 * Default levels, chosen by measurement on Debian's initrd (BENCHMARKS.md): gzip's own default;
 * zstd 3, zstd's own (19 takes ~40 s in WASM); xz and lzma 2: our LZMA is a fast-mode encoder
 * (hash chains, lazy parsing) and level 2 gives native `xz -1`'s size at 1.3x its time on 20 MB
 * of initrd, where 6 is 1.3% smaller for 2.6x the time; bzip2 9 (the block size in 100 kB; bzip2's
 * own default).
 */
const DEFAULT_LEVEL: Record<Leveled, number> = { gzip: 6, zstd: 3, xz: 2, lzma: 2, bzip2: 9 };
const LEVELS: Record<Leveled, [number, number]> = { gzip: [1, 9], zstd: [1, 19], xz: [0, 9], lzma: [0, 9], bzip2: [1, 9] };

/** "gzip 1-9 (default 6), ..." for help texts and messages. */
export function levelRanges(): string {
  return (Object.keys(LEVELS) as Leveled[]).map((c) => `${c} ${LEVELS[c][0]}-${LEVELS[c][1]} (default ${DEFAULT_LEVEL[c]})`).join(', ');
}

export function checkEncodeCodec(codec: string, origin: string): EncodeCodec {
  if ((ENCODE_CODECS as readonly string[]).includes(codec)) return codec as EncodeCodec;
  if (codec === 'lzo') {
    throw new ExtimgError('EFORMAT', `${origin}: writing lzo compression is not supported (use --compress ${ENCODE_CODECS.join(', ')})`, { origin, codec });
  }
  throw new ExtimgError('EFORMAT', `${origin}: unknown compression '${codec}'`, { origin, codec });
}

/**
 * Compress a whole buffer. `level` is checked against the codec's range (lz4 and none take none).
 * `onProgress` hears the input bytes done so far from the slow encoders (xz, lzma, bzip2).
 */
export async function encode(data: Uint8Array, codec: EncodeCodec, level?: number, onProgress?: (done: number) => void): Promise<Uint8Array> {
  switch (codec) {
    case 'none':
      return data;
    case 'gzip':
      return encodeGzip(data, level);
    case 'zstd':
      return encodeZstd(data, checkLevel('zstd', level));
    case 'lz4':
      return encodeLz4Legacy(data);
    // Loaded when used: most runs write gzip or zstd and need not compile these.
    case 'xz':
      return (await import('./xz-encode.js')).encodeXz(data, { level: checkLevel('xz', level), ...(onProgress ? { onProgress } : {}) });
    case 'lzma':
      return (await import('./lzma-encode.js')).encodeLzmaAlone(data, { level: checkLevel('lzma', level), ...(onProgress ? { onProgress } : {}) });
    case 'bzip2':
      return (await import('./bzip2-encode.js')).encodeBzip2(data, checkLevel('bzip2', level), onProgress);
  }
}

/** One gzip member (node:zlib). */
export function encodeGzip(data: Uint8Array, level?: number): Uint8Array {
  const out = zlib.gzipSync(data, { level: checkLevel('gzip', level) });
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** The level `encode` uses for `codec`: `level` checked, or the codec's default. */
export function levelFor(codec: Leveled, level: number | undefined): number {
  return checkLevel(codec, level);
}

function checkLevel(codec: Leveled, level: number | undefined, origin = '--level'): number {
  if (level === undefined) return DEFAULT_LEVEL[codec];
  const [lo, hi] = LEVELS[codec];
  if (!Number.isInteger(level) || level < lo || level > hi) {
    throw new ExtimgError('EUSAGE', `${origin} ${level}: ${codec} takes ${lo}-${hi}`, { codec, level });
  }
  return level;
}

/**
 * Check `level` for `codec` before any work is done (`origin` names where it came from:
 * '--level', 'image.json: level'). lz4 and none take no level.
 */
export function checkEncodeLevel(codec: EncodeCodec, level: number, origin = '--level'): void {
  if (codec === 'none' || codec === 'lz4') {
    throw new ExtimgError('EUSAGE', `${origin} ${level}: ${codec} takes no level`, { codec, level });
  }
  checkLevel(codec, level, origin);
}

type ZstdCompressSync = (buf: Uint8Array, options: { params: Record<number, number>; pledgedSrcSize?: number }) => Uint8Array;
const nativeZstdCompress = (zlib as unknown as { zstdCompressSync?: ZstdCompressSync }).zstdCompressSync;
const ZSTD_PARAMS = (zlib as unknown as { constants: Record<string, number> }).constants;

/** Which zstd encoder runs here: node:zlib's (Node >= 22.15, multi-threaded) or the WASM one. */
export function zstdEncoder(): 'node:zlib' | 'wasm' {
  return nativeZstdCompress && ZSTD_PARAMS.ZSTD_c_nbWorkers !== undefined ? 'node:zlib' : 'wasm';
}

/**
 * One zstd frame with its content size: the kernel's unzstd needs it to size its output. Node's
 * own zstd (libzstd) when it has one, with a worker per core (as `zstd -T0`; the output is the
 * same for any number of workers), else zstd compiled to WebAssembly, single-threaded.
 */
async function encodeZstd(data: Uint8Array, level: number, prefer?: 'wasm'): Promise<Uint8Array> {
  let out: Uint8Array;
  if (prefer !== 'wasm' && zstdEncoder() === 'node:zlib') {
    out = nativeZstdCompress!(data, {
      params: {
        [ZSTD_PARAMS.ZSTD_c_compressionLevel!]: level,
        [ZSTD_PARAMS.ZSTD_c_nbWorkers!]: Math.min(os.availableParallelism(), 8),
        [ZSTD_PARAMS.ZSTD_c_contentSizeFlag!]: 1,
      },
      pledgedSrcSize: data.length,
    });
  } else {
    out = (await zstdWasm()).compress(data, level);
  }
  // Check rather than trust: FCS_flag (bits 7-6) or Single_Segment (bit 5) of the descriptor.
  const fhd = out[4] ?? 0;
  if (out.length < 5 || ((fhd >> 6) === 0 && (fhd & 0x20) === 0)) {
    throw new ExtimgError('EFORMAT', 'zstd: the encoder wrote a frame without its content size', {});
  }
  return out;
}

/** The WASM zstd encoder even where node:zlib has one (tests compare the two). */
export function encodeZstdWasm(data: Uint8Array, level = DEFAULT_LEVEL.zstd): Promise<Uint8Array> {
  return encodeZstd(data, checkLevel('zstd', level), 'wasm');
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
  for (let p = 0; p < data.length; p += LZ4_LEGACY_BLOCK) {
    const block = lz4CompressBlock(data.subarray(p, Math.min(data.length, p + LZ4_LEGACY_BLOCK)));
    const size = new Uint8Array(4);
    new DataView(size.buffer).setUint32(0, block.length, true);
    parts.push(size, block);
  }
  return concatBytes(parts);
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
