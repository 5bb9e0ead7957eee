/**
 * The .xz container around one LZMA2 block (xz-file-format-1.2.0), with a CRC32 check: the
 * kernel's xz decoder (xz-embedded) verifies CRC32 and may not know CRC64, which is why
 * mkinitramfs runs `xz --check=crc32`. Layout: stream header, block header (LZMA2 filter and its
 * dictionary byte), LZMA2 data, block padding, CRC32 of the data, index, stream footer.
 */
import { crc32 } from './crc.js';
import { concatBytes } from './sink.js';
import { encodeLzma2, lzma2DictByte, type LzmaEncodeOptions } from './lzma-encode.js';

const CHECK_CRC32 = 0x01;
const FILTER_LZMA2 = 0x21;

/** A variable-length integer: 7 bits a byte, low first, high bit = more. */
function vli(value: number): number[] {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
  return out;
}

function le32(value: number): number[] {
  return [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff];
}

function withCrc(bytes: number[]): number[] {
  return [...bytes, ...le32(crc32(Uint8Array.from(bytes)))];
}

function padTo4(bytes: number[]): number[] {
  while (bytes.length % 4 !== 0) bytes.push(0);
  return bytes;
}

/** One block's worth: its LZMA2 stream, dictionary, uncompressed size and CRC32. */
export interface XzBlock {
  stream: Uint8Array;
  dictSize: number;
  size: number;
  crc: number;
}

/** Compress `data` as one xz block (the part of the work that can run on another thread). */
export function xzBlock(data: Uint8Array, options: LzmaEncodeOptions = {}): XzBlock {
  const { stream, dictSize } = encodeLzma2(data, options);
  return { stream, dictSize, size: data.length, crc: crc32(data) };
}

export function encodeXz(data: Uint8Array, options: LzmaEncodeOptions = {}): Uint8Array {
  // xz writes no block at all for empty input; an empty index follows.
  return xzStream(data.length > 0 ? [xzBlock(data, options)] : []);
}

/**
 * One xz stream of independent blocks (each LZMA2 stream starts with a dictionary reset), as
 * `xz -T` writes them: the index lists every block.
 */
export function xzStream(blocks: readonly XzBlock[]): Uint8Array {
  const flags = [0x00, CHECK_CRC32];
  // Stream header: magic, flags, CRC32 of the flags.
  const pieces: Uint8Array[] = [Uint8Array.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, ...withCrc(flags)])];
  const records: [number, number][] = [];
  for (const { stream, dictSize, size, crc } of blocks) {
    // Block header: size byte, flags (one filter, no size fields), the filter, padding, CRC32.
    const body = padTo4([0, 0x00, ...vli(FILTER_LZMA2), ...vli(1), lzma2DictByte(dictSize)]);
    body[0] = (body.length + 4) / 4 - 1;
    const blockHeader = Uint8Array.from(withCrc(body));
    const padding = (4 - (stream.length % 4)) % 4;
    pieces.push(blockHeader, stream, new Uint8Array(padding), Uint8Array.from(le32(crc)));
    records.push([blockHeader.length + stream.length + 4, size]);
  }

  // Index: indicator, record count, (unpadded size, uncompressed size) per block, padding, CRC32.
  const index = [0x00, ...vli(records.length)];
  for (const [unpadded, size] of records) index.push(...vli(unpadded), ...vli(size));
  const indexBytes = withCrc(padTo4(index));
  pieces.push(Uint8Array.from(indexBytes));

  // Footer: CRC32 of (backward size, flags), backward size = index size / 4 - 1, flags, "YZ".
  const footer = withCrc([...le32(indexBytes.length / 4 - 1), ...flags]);
  pieces.push(Uint8Array.from([...footer.slice(6), ...footer.slice(0, 6), 0x59, 0x5a]));
  return concatBytes(pieces);
}
