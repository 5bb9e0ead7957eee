/**
 * Compression codecs recognised by their magic bytes, as the kernel's initramfs unpacker
 * (lib/decompress.c) and file(1) do. Detection never guesses from content statistics: a plain
 * tar, cpio or ar archive must never look compressed.
 */
export type Codec = 'gzip' | 'xz' | 'zstd' | 'bzip2' | 'lzma' | 'lz4';

/** How many leading bytes detectCodec wants to see to decide every case it can. */
export const DETECT_BYTES = 64;

/**
 * The codec whose magic `head` (the first bytes of a stream; DETECT_BYTES is enough) starts
 * with, or undefined when it is not a compressed stream we know.
 */
export function detectCodec(head: Uint8Array): Codec | undefined {
  const n = head.length;
  if (n >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (n >= 6 && head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58 && head[4] === 0x5a && head[5] === 0x00) {
    return 'xz';
  }
  if (n >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  if (n >= 4 && (head[0] & 0xf0) === 0x50 && head[1] === 0x2a && head[2] === 0x4d && head[3] === 0x18) return skippableThen(head);
  if (isBzip2(head)) return 'bzip2';
  if (n >= 4 && head[1] === 0x21 && head[2] === 0x4c && head[3] === 0x18 && head[0] === 0x02) return 'lz4'; // legacy frame
  if (n >= 4 && head[0] === 0x04 && head[1] === 0x22 && head[2] === 0x4d && head[3] === 0x18) return 'lz4'; // frame format
  if (isLzmaAlone(head)) return 'lzma';
  return undefined;
}

/**
 * zstd and lz4 share the skippable-frame magic 0x184D2A5? (pzstd starts its output with one).
 * Look past it when the head holds the next magic; a stream that starts skippable is zstd by
 * default, the far more common producer.
 */
function skippableThen(head: Uint8Array): Codec {
  let pos = 0;
  while (pos + 8 <= head.length && (head[pos] & 0xf0) === 0x50 && head[pos + 1] === 0x2a && head[pos + 2] === 0x4d && head[pos + 3] === 0x18) {
    pos += 8 + (head[pos + 4] | (head[pos + 5] << 8) | (head[pos + 6] << 16)) + head[pos + 7] * 0x1000000;
  }
  if (pos + 4 <= head.length && head[pos + 1] === 0x22 && head[pos + 2] === 0x4d && head[pos + 3] === 0x18 && head[pos] === 0x04) return 'lz4';
  return 'zstd';
}

/** 'BZh' + block size '1'..'9', then a block magic (pi) or the end-of-stream magic (sqrt pi). */
function isBzip2(h: Uint8Array): boolean {
  if (h.length < 10 || h[0] !== 0x42 || h[1] !== 0x5a || h[2] !== 0x68 || h[3] < 0x31 || h[3] > 0x39) return false;
  const block = h[4] === 0x31 && h[5] === 0x41 && h[6] === 0x59 && h[7] === 0x26 && h[8] === 0x53 && h[9] === 0x59;
  const end = h[4] === 0x17 && h[5] === 0x72 && h[6] === 0x45 && h[7] === 0x38 && h[8] === 0x50 && h[9] === 0x90;
  return block || end;
}

/**
 * The headerless .lzma ("LZMA_Alone") format: properties byte, dictionary size (LE32),
 * uncompressed size (LE64, all ones = unknown). Its only real magic is the usual properties byte
 * 0x5d (lc=3 lp=0 pb=2); like liblzma's picky alone decoder we also want a dictionary of 2^n or
 * 2^n + 2^(n-1) bytes (>= 4 KiB, or UINT32_MAX) and a size that is unknown or below 256 GiB.
 */
function isLzmaAlone(h: Uint8Array): boolean {
  if (h.length < 13 || h[0] !== 0x5d) return false;
  const dict = (h[1] | (h[2] << 8) | (h[3] << 16) | (h[4] << 24)) >>> 0;
  if (!lzmaDictPlausible(dict)) return false;
  let allOnes = true;
  for (let i = 5; i < 13; i++) if (h[i] !== 0xff) allOnes = false;
  return allOnes || (h[10] === 0 && h[11] === 0 && h[12] === 0 && h[9] < 0x40);
}

export function lzmaDictPlausible(dict: number): boolean {
  if (dict === 0xffffffff) return true;
  if (dict < 4096) return false;
  // 2^n, or 2^n + 2^(n-1): clearing the lowest set bit leaves zero or a single bit next to it.
  const low = dict & -dict;
  const rest = dict - low;
  return rest === 0 || rest === low * 2;
}
