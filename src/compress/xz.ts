/**
 * The .xz container (xz-file-format-1.2.0): streams of blocks, each block an LZMA2 stream behind
 * optional BCJ x86 / delta filters, an index that lists every block, a footer that points back
 * at the index, stream padding in 4-byte zero groups between and after streams. Every CRC and
 * every index record is checked, as xz does.
 */
import { createHash } from 'node:crypto';
import { crc32, crc64 } from './crc.js';
import { corrupt, DecodeError, fromDecodeError, truncated, u32le, unsupported } from './fail.js';
import { LzmaDataError, LzmaDecoder, lzmaError, Stop } from './lzma.js';
import { ByteSink } from './sink.js';

const HEADER_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const CHECK_SIZES = [0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64];
const CHECK_NONE = 0;
const CHECK_CRC32 = 1;
const CHECK_CRC64 = 4;
const CHECK_SHA256 = 10;

const FILTER_DELTA = 0x03;
const FILTER_X86 = 0x04;
const FILTER_LZMA2 = 0x21;
const FILTER_NAMES: Record<number, string> = { 5: 'PowerPC BCJ', 6: 'IA-64 BCJ', 7: 'ARM BCJ', 8: 'ARM-Thumb BCJ', 9: 'SPARC BCJ', 10: 'ARM64 BCJ', 11: 'RISC-V BCJ' };

interface Filter {
  id: number;
  props: Uint8Array;
}

/** A variable-length integer (7 bits a byte, at most 9 bytes). Returns [value, next position]. */
function vli(d: Uint8Array, p: number, end: number): [number, number] {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 9; i++) {
    if (p >= end) throw new DecodeError('truncated', end, 'truncated');
    const b = d[p++];
    value += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) {
      if (b === 0 && i > 0) throw new DecodeError('corrupt xz integer', p - 1);
      if (value > Number.MAX_SAFE_INTEGER) throw new DecodeError('xz size too large', p - 1, 'unsupported');
      return [value, p];
    }
    mul *= 128;
  }
  throw new DecodeError('corrupt xz integer', p);
}

export function decodeXz(data: Uint8Array, origin: string): Uint8Array {
  const sink = new ByteSink(totalSizeFromIndexes(data) ?? data.length * 4 + 65536);
  const dec = new LzmaDecoder();
  let pos = 0;
  try {
    let streams = 0;
    while (pos < data.length) {
      if (streams > 0) {
        // Stream padding: zero bytes in groups of four, then possibly another stream.
        const start = pos;
        while (pos < data.length && data[pos] === 0) pos++;
        if (pos === data.length) {
          if ((pos - start) % 4 !== 0) throw new DecodeError('xz stream padding not a multiple of 4 bytes', start);
          break;
        }
        if ((pos - start) % 4 !== 0) throw new DecodeError('xz stream padding not a multiple of 4 bytes', start);
      }
      pos = decodeStream(data, pos, sink, dec);
      streams++;
    }
    if (streams === 0) throw new DecodeError('truncated', 0, 'truncated');
  } catch (e) {
    if (e instanceof DecodeError) {
      throw fromDecodeError(e, origin, 'xz');
    }
    throw lzmaError(e, origin, 'xz');
  }
  return sink.result();
}

function need(data: Uint8Array, pos: number, n: number): void {
  if (pos + n > data.length) throw new DecodeError('truncated', data.length, 'truncated');
}

/** One stream at `pos`; returns the position after its footer. */
function decodeStream(data: Uint8Array, pos: number, sink: ByteSink, dec: LzmaDecoder): number {
  const streamStart = pos;
  need(data, pos, 12);
  for (let i = 0; i < 6; i++) if (data[pos + i] !== HEADER_MAGIC[i]) throw new DecodeError('not an xz stream (bad magic)', pos);
  if (crc32(data, pos + 6, pos + 8) !== u32le(data, pos + 8)) throw new DecodeError('xz stream header CRC mismatch', pos + 6);
  if (data[pos + 6] !== 0 || data[pos + 7] > 0x0f) throw new DecodeError(`unsupported xz stream flags 0x${data[pos + 6].toString(16)}${data[pos + 7].toString(16).padStart(2, '0')}`, pos + 6, 'unsupported');
  const checkType = data[pos + 7];
  const checkSize = CHECK_SIZES[checkType];
  pos += 12;

  const records: Array<[number, number]> = []; // [unpadded size, uncompressed size]
  for (;;) {
    need(data, pos, 1);
    if (data[pos] === 0) break; // index indicator
    const blockStart = pos;
    const outStart = sink.len;
    pos = decodeBlock(data, pos, sink, dec);
    const unpadded = pos - blockStart;
    // Block padding to a multiple of four, then the check.
    while ((pos - streamStart) % 4 !== 0) {
      need(data, pos, 1);
      if (data[pos] !== 0) throw new DecodeError('nonzero xz block padding', pos);
      pos++;
    }
    need(data, pos, checkSize);
    verifyCheck(checkType, sink.buf, outStart, sink.len, data, pos);
    pos += checkSize;
    records.push([unpadded + checkSize, sink.len - outStart]);
  }

  // Index: indicator, record count, records, padding, CRC32.
  const indexStart = pos;
  let count: number;
  [count, pos] = vli(data, pos + 1, data.length);
  if (count !== records.length) throw new DecodeError(`xz index lists ${count} blocks, the stream has ${records.length}`, indexStart);
  for (const [unpadded, size] of records) {
    let u: number;
    let s: number;
    const at = pos;
    [u, pos] = vli(data, pos, data.length);
    [s, pos] = vli(data, pos, data.length);
    if (u !== unpadded || s !== size) throw new DecodeError('xz index does not match the blocks', at);
  }
  while ((pos - indexStart) % 4 !== 0) {
    need(data, pos, 1);
    if (data[pos] !== 0) throw new DecodeError('nonzero xz index padding', pos);
    pos++;
  }
  need(data, pos, 4);
  if (crc32(data, indexStart, pos) !== u32le(data, pos)) throw new DecodeError('xz index CRC mismatch', pos);
  pos += 4;
  const indexSize = pos - indexStart;

  // Footer: CRC32, backward size, flags, 'YZ'.
  need(data, pos, 12);
  if (data[pos + 10] !== 0x59 || data[pos + 11] !== 0x5a) throw new DecodeError('bad xz stream footer magic', pos + 10);
  if (crc32(data, pos + 4, pos + 10) !== u32le(data, pos)) throw new DecodeError('xz stream footer CRC mismatch', pos);
  if ((u32le(data, pos + 4) + 1) * 4 !== indexSize) throw new DecodeError('xz footer backward size does not match the index', pos + 4);
  if (data[pos + 8] !== 0 || data[pos + 9] !== checkType) throw new DecodeError('xz footer flags differ from the header', pos + 8);
  return pos + 12;
}

function verifyCheck(type: number, out: Uint8Array, start: number, end: number, data: Uint8Array, pos: number): void {
  if (type === CHECK_NONE) return;
  let ok = true;
  if (type === CHECK_CRC32) {
    ok = crc32(out, start, end) === u32le(data, pos);
  } else if (type === CHECK_CRC64) {
    const [lo, hi] = crc64(out, start, end);
    ok = lo === u32le(data, pos) && hi === u32le(data, pos + 4);
  } else if (type === CHECK_SHA256) {
    const digest = createHash('sha256').update(out.subarray(start, end)).digest();
    for (let i = 0; i < 32; i++) if (digest[i] !== data[pos + i]) ok = false;
  }
  // Other check IDs are reserved; like xz without --no-warn we decode without verifying them.
  if (!ok) throw new DecodeError('xz block check mismatch (data corrupt)', pos);
}

/** One block at `pos` (its header size byte); returns the position after its compressed data. */
function decodeBlock(data: Uint8Array, pos: number, sink: ByteSink, dec: LzmaDecoder): number {
  const headerStart = pos;
  const headerSize = (data[pos] + 1) * 4;
  need(data, pos, headerSize);
  const headerEnd = pos + headerSize - 4;
  if (crc32(data, pos, headerEnd) !== u32le(data, headerEnd)) throw new DecodeError('xz block header CRC mismatch', headerEnd);
  const flags = data[pos + 1];
  if (flags & 0x3c) throw new DecodeError('unsupported xz block flags', pos + 1, 'unsupported');
  pos += 2;
  let compressedSize = -1;
  let uncompressedSize = -1;
  if (flags & 0x40) [compressedSize, pos] = vli(data, pos, headerEnd);
  if (flags & 0x80) [uncompressedSize, pos] = vli(data, pos, headerEnd);
  const filters: Filter[] = [];
  for (let i = 0; i <= (flags & 3); i++) {
    const at = pos;
    let id: number;
    let size: number;
    [id, pos] = vli(data, pos, headerEnd);
    [size, pos] = vli(data, pos, headerEnd);
    if (pos + size > headerEnd) throw new DecodeError('corrupt xz filter flags', at);
    filters.push({ id, props: data.subarray(pos, pos + size) });
    pos += size;
    checkFilter(filters[i], i === (flags & 3), at);
  }
  for (; pos < headerEnd; pos++) if (data[pos] !== 0) throw new DecodeError('nonzero xz block header padding', pos);
  pos = headerEnd + 4;

  const outStart = sink.len;
  const dataStart = pos;
  const dataEnd = compressedSize >= 0 ? dataStart + compressedSize : data.length;
  if (dataEnd > data.length) throw new DecodeError('truncated', data.length, 'truncated');
  const lzma2 = filters[filters.length - 1];
  pos = decodeLzma2(data, dataStart, dataEnd, lzma2.props[0], sink, dec, uncompressedSize);
  if (compressedSize >= 0 && pos !== dataEnd) throw new DecodeError('xz block compressed size does not match its header', headerStart);
  if (uncompressedSize >= 0 && sink.len - outStart !== uncompressedSize) {
    throw new DecodeError('xz block uncompressed size does not match its header', headerStart);
  }
  for (let i = filters.length - 2; i >= 0; i--) {
    const f = filters[i];
    if (f.id === FILTER_X86) unX86(sink.buf, outStart, sink.len, f.props.length === 4 ? u32le(f.props, 0) : 0);
    else unDelta(sink.buf, outStart, sink.len, f.props[0] + 1);
  }
  return pos;
}

function checkFilter(f: Filter, last: boolean, at: number): void {
  if (last) {
    if (f.id !== FILTER_LZMA2) throw new DecodeError(`unsupported xz filter chain (last filter 0x${f.id.toString(16)}, not LZMA2)`, at, 'unsupported');
    if (f.props.length !== 1 || f.props[0] > 40) throw new DecodeError('corrupt xz LZMA2 properties', at);
    return;
  }
  if (f.id === FILTER_X86) {
    if (f.props.length !== 0 && f.props.length !== 4) throw new DecodeError('corrupt xz BCJ properties', at);
    return;
  }
  if (f.id === FILTER_DELTA) {
    if (f.props.length !== 1) throw new DecodeError('corrupt xz delta properties', at);
    return;
  }
  const name = FILTER_NAMES[f.id] ?? `filter 0x${f.id.toString(16)}`;
  throw new DecodeError(`unsupported xz ${name}`, at, 'unsupported');
}

/**
 * An LZMA2 stream in `data[pos..end)`: chunks of LZMA data or stored bytes, each saying whether
 * it resets the dictionary, the state or the properties (rules as liblzma's lzma2_decoder.c).
 * Returns the position after the end byte 0x00.
 */
function decodeLzma2(data: Uint8Array, pos: number, end: number, _dictProps: number, sink: ByteSink, dec: LzmaDecoder, expected: number): number {
  let needDictReset = true;
  let needProps = true;
  if (expected >= 0) sink.reserve(expected);
  for (;;) {
    if (pos >= end) throw new DecodeError('truncated', end, 'truncated');
    const control = data[pos];
    const chunkStart = pos;
    pos++;
    if (control === 0x00) return pos;
    if (control >= 0xe0 || control === 0x01) {
      needProps = true;
      needDictReset = false;
      dec.dictStart = sink.len;
    } else if (needDictReset) {
      throw new DecodeError('corrupt LZMA2 stream: first chunk does not reset the dictionary', chunkStart);
    }
    if (control >= 0x80) {
      if (pos + 4 > end) throw new DecodeError('truncated', end, 'truncated');
      const unpacked = ((control & 0x1f) << 16) + (data[pos] << 8) + data[pos + 1] + 1;
      const packed = (data[pos + 2] << 8) + data[pos + 3] + 1;
      pos += 4;
      if (control >= 0xc0) {
        if (pos >= end) throw new DecodeError('truncated', end, 'truncated');
        if (!dec.setProperties(data[pos]) || dec.lc + dec.lp > 4) throw new DecodeError('corrupt LZMA2 properties', pos);
        pos++;
        needProps = false;
        dec.resetState();
      } else if (needProps) {
        throw new DecodeError('corrupt LZMA2 stream: chunk without properties', chunkStart);
      } else if (control >= 0xa0) {
        dec.resetState();
      }
      if (pos + packed > end) throw new DecodeError('truncated', end, 'truncated');
      sink.reserve(unpacked);
      dec.out = sink.buf;
      dec.outPos = sink.len;
      try {
        dec.initRangeCoder(data, pos, pos + packed);
        const limit = sink.len + unpacked;
        if (dec.decode(limit, limit, false) !== Stop.Limit || !dec.finishedOK || dec.inPos !== pos + packed) {
          throw new LzmaDataError('LZMA2 chunk does not end where its header says', chunkStart);
        }
      } catch (e) {
        if (e instanceof LzmaDataError && e.truncated) throw new DecodeError('truncated', end, 'truncated');
        if (e instanceof LzmaDataError) throw new DecodeError(`corrupt xz stream: ${e.message}`, e.offset);
        throw e;
      }
      sink.len = dec.outPos;
      pos += packed;
    } else {
      if (control > 0x02) throw new DecodeError(`corrupt LZMA2 control byte 0x${control.toString(16)}`, chunkStart);
      if (pos + 2 > end) throw new DecodeError('truncated', end, 'truncated');
      const size = (data[pos] << 8) + data[pos + 1] + 1;
      pos += 2;
      if (pos + size > end) throw new DecodeError('truncated', end, 'truncated');
      sink.push(data.subarray(pos, pos + size));
      pos += size;
    }
  }
}

/** Undo the x86 BCJ filter (liblzma simple/x86.c) on out[start..end) in place. */
function unX86(buf: Uint8Array, start: number, end: number, startOffset: number): void {
  const bitNumber = [0, 1, 2, 2, 3];
  const size = end - start;
  if (size < 5) return;
  let prevMask = 0;
  let prevPos = (startOffset - 5) >>> 0;
  const limit = size - 5;
  let i = 0;
  while (i <= limit) {
    let b = buf[start + i];
    if (b !== 0xe8 && b !== 0xe9) {
      i++;
      continue;
    }
    const nowPos = (startOffset + i) >>> 0;
    const offset = (nowPos - prevPos) >>> 0;
    prevPos = nowPos;
    if (offset > 5) {
      prevMask = 0;
    } else {
      for (let k = 0; k < offset; k++) {
        prevMask &= 0x77;
        prevMask <<= 1;
      }
    }
    b = buf[start + i + 4];
    if ((b === 0 || b === 0xff) && prevMask >>> 1 <= 4 && prevMask >>> 1 !== 3) {
      let src = ((b << 24) | (buf[start + i + 3] << 16) | (buf[start + i + 2] << 8) | buf[start + i + 1]) >>> 0;
      let dest: number;
      for (;;) {
        dest = (src - (nowPos + 5)) >>> 0;
        if (prevMask === 0) break;
        const k = bitNumber[prevMask >>> 1];
        b = (dest >>> (24 - k * 8)) & 0xff;
        if (!(b === 0 || b === 0xff)) break;
        src = (dest ^ (2 ** (32 - k * 8) - 1)) >>> 0;
      }
      buf[start + i + 4] = ~(((dest >>> 24) & 1) - 1) & 0xff;
      buf[start + i + 3] = dest >>> 16;
      buf[start + i + 2] = dest >>> 8;
      buf[start + i + 1] = dest;
      i += 5;
      prevMask = 0;
    } else {
      i++;
      prevMask |= 1;
      if (b === 0 || b === 0xff) prevMask |= 0x10;
    }
  }
}

/** Undo the delta filter: each byte adds the byte `distance` before it (history starts zero). */
function unDelta(buf: Uint8Array, start: number, end: number, distance: number): void {
  for (let i = start + distance; i < end; i++) buf[i] = (buf[i] + buf[i - distance]) & 0xff;
}

/**
 * The total uncompressed size, read backwards from each stream's footer and index (as xz --list
 * does), to allocate the output once. Undefined when anything does not add up; the forward pass
 * then grows its buffer and reports the real problem.
 */
function totalSizeFromIndexes(data: Uint8Array): number | undefined {
  let end = data.length;
  let total = 0;
  while (end > 0) {
    while (end >= 4 && u32le(data, end - 4) === 0) end -= 4;
    if (end === 0) break;
    if (end < 24) return undefined;
    const footer = end - 12;
    if (data[footer + 10] !== 0x59 || data[footer + 11] !== 0x5a) return undefined;
    const indexSize = (u32le(data, footer + 4) + 1) * 4;
    const indexStart = footer - indexSize;
    if (indexStart < 12 || data[indexStart] !== 0) return undefined;
    if (crc32(data, indexStart, footer - 4) !== u32le(data, footer - 4)) return undefined;
    try {
      let [count, p] = vli(data, indexStart + 1, footer);
      let blocks = 0;
      for (let i = 0; i < count; i++) {
        let unpadded: number;
        let size: number;
        [unpadded, p] = vli(data, p, footer);
        [size, p] = vli(data, p, footer);
        blocks += Math.ceil(unpadded / 4) * 4;
        total += size;
      }
      end = indexStart - blocks - 12;
      if (end < 0 || total > 2 ** 32) return undefined;
    } catch {
      return undefined;
    }
  }
  return total;
}
