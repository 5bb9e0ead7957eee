/**
 * LZ4: the legacy frame (`lz4 -l`, the only LZ4 format the kernel's initramfs unpacker takes)
 * and the current frame format (lz4_Frame_format.md), both over the LZ4 block format
 * (lz4_Block_format.md).
 *
 * Legacy: magic 0x184C2102, then blocks of [u32 LE compressed size][LZ4 block], each at most
 * 8 MiB decompressed, until the input ends. Concatenated legacy streams repeat the magic between
 * blocks (the kernel's unlz4 skips it); trailing zero bytes (initramfs padding) are accepted.
 */
import { corrupt, DecodeError, fromDecodeError, truncated, u32le, unsupported } from './fail.js';
import { ByteSink } from './sink.js';

const LEGACY_MAGIC = 0x184c2102;
const FRAME_MAGIC = 0x184d2204;
const LEGACY_BLOCK_MAX = 8 << 20;

export function decodeLz4(data: Uint8Array, origin: string): Uint8Array {
  const sink = new ByteSink(data.length * 3 + 1024);
  try {
    let pos = 0;
    let frames = 0;
    while (pos < data.length) {
      if (frames > 0 && data[pos] === 0) {
        // Zero padding after the last frame.
        for (let i = pos; i < data.length; i++) if (data[i] !== 0) throw new DecodeError('garbage after lz4 data', i);
        break;
      }
      if (pos + 4 > data.length) throw new DecodeError('truncated', data.length, 'truncated');
      const magic = u32le(data, pos);
      if (magic === LEGACY_MAGIC) pos = decodeLegacy(data, pos + 4, sink);
      else if (magic === FRAME_MAGIC) pos = decodeFrame(data, pos, sink);
      else if ((magic & 0xfffffff0) === 0x184d2a50) pos = skipFrame(data, pos);
      else throw new DecodeError(frames === 0 ? 'not an lz4 stream (bad magic)' : 'garbage after lz4 data', pos);
      frames++;
    }
    if (frames === 0) throw new DecodeError('truncated', 0, 'truncated');
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    throw fromDecodeError(e, origin, 'lz4');
  }
  return sink.result();
}

function skipFrame(data: Uint8Array, pos: number): number {
  if (pos + 8 > data.length) throw new DecodeError('truncated', data.length, 'truncated');
  const end = pos + 8 + u32le(data, pos + 4);
  if (end > data.length) throw new DecodeError('truncated', data.length, 'truncated');
  return end;
}

/** Legacy blocks from `pos` to the end of input, another stream's magic, or zero padding. */
function decodeLegacy(data: Uint8Array, pos: number, sink: ByteSink): number {
  while (pos < data.length) {
    if (pos + 4 > data.length) {
      for (let i = pos; i < data.length; i++) if (data[i] !== 0) throw new DecodeError('truncated', data.length, 'truncated');
      return data.length;
    }
    const size = u32le(data, pos);
    if (size === LEGACY_MAGIC) {
      pos += 4;
      continue;
    }
    if (size === 0 || size === FRAME_MAGIC || (size & 0xfffffff0) === 0x184d2a50) return pos; // padding or a new frame
    if (size > LEGACY_BLOCK_MAX + LEGACY_BLOCK_MAX / 255 + 16) throw new DecodeError(`lz4 legacy block of ${size} bytes is too large`, pos);
    pos += 4;
    if (pos + size > data.length) throw new DecodeError('truncated', data.length, 'truncated');
    decodeBlock(data, pos, pos + size, sink, LEGACY_BLOCK_MAX, sink.len);
    pos += size;
  }
  return pos;
}

const BLOCK_MAX = [0, 0, 0, 0, 64 << 10, 256 << 10, 1 << 20, 4 << 20];

/** One frame at `pos`; returns the position after it. */
function decodeFrame(data: Uint8Array, pos: number, sink: ByteSink): number {
  const descStart = pos + 4;
  if (descStart + 3 > data.length) throw new DecodeError('truncated', data.length, 'truncated');
  const flg = data[descStart];
  const bd = data[descStart + 1];
  if (flg >> 6 !== 1) throw new DecodeError(`unsupported lz4 frame version ${flg >> 6}`, descStart, 'unsupported');
  if (flg & 0x02 || bd & 0x8f) throw new DecodeError('corrupt lz4 frame descriptor (reserved bits set)', descStart);
  const blockMax = BLOCK_MAX[(bd >> 4) & 7];
  if (!blockMax) throw new DecodeError('corrupt lz4 frame descriptor (block size)', descStart + 1);
  const independent = (flg & 0x20) !== 0;
  const blockChecksum = (flg & 0x10) !== 0;
  const hasSize = (flg & 0x08) !== 0;
  const contentChecksum = (flg & 0x04) !== 0;
  if (flg & 0x01) throw new DecodeError('lz4 frame needs a dictionary', descStart, 'unsupported');
  let p = descStart + 2;
  let contentSize = -1;
  if (hasSize) {
    if (p + 8 > data.length) throw new DecodeError('truncated', data.length, 'truncated');
    contentSize = u32le(data, p) + u32le(data, p + 4) * 0x100000000;
    p += 8;
  }
  if (p + 1 > data.length) throw new DecodeError('truncated', data.length, 'truncated');
  if (((xxh32(data, descStart, p) >>> 8) & 0xff) !== data[p]) throw new DecodeError('lz4 frame header checksum mismatch', p);
  p++;
  const frameOut = sink.len;
  for (;;) {
    if (p + 4 > data.length) throw new DecodeError('truncated', data.length, 'truncated');
    const word = u32le(data, p);
    p += 4;
    if (word === 0) break;
    const size = word & 0x7fffffff;
    if (size > blockMax) throw new DecodeError(`lz4 block of ${size} bytes exceeds the frame's ${blockMax}`, p - 4);
    if (p + size + (blockChecksum ? 4 : 0) > data.length) throw new DecodeError('truncated', data.length, 'truncated');
    if (blockChecksum && xxh32(data, p, p + size) !== u32le(data, p + size)) throw new DecodeError('lz4 block checksum mismatch', p + size);
    if (word & 0x80000000) sink.push(data.subarray(p, p + size));
    else decodeBlock(data, p, p + size, sink, blockMax, independent ? sink.len : frameOut);
    p += size + (blockChecksum ? 4 : 0);
  }
  if (contentSize >= 0 && sink.len - frameOut !== contentSize) throw new DecodeError('lz4 frame content size mismatch', p - 4);
  if (contentChecksum) {
    if (p + 4 > data.length) throw new DecodeError('truncated', data.length, 'truncated');
    if (xxh32(sink.buf, frameOut, sink.len) !== u32le(data, p)) throw new DecodeError('lz4 content checksum mismatch', p);
    p += 4;
  }
  return p;
}

/**
 * One LZ4 block `src[start..end)` appended to the sink: sequences of [token][literal length
 * extension][literals][u16 LE offset][match length extension]; the last sequence is literals
 * only. Matches may reach back to `windowStart` in the output.
 */
function decodeBlock(src: Uint8Array, start: number, end: number, sink: ByteSink, maxOut: number, windowStart: number): void {
  // Each input byte yields at most 255 output bytes: room for the worst case, or the block max.
  const room = Math.min(maxOut, (end - start) * 255 + 16);
  sink.reserve(room);
  sink.len = lz4Block(src, start, end, sink.buf, sink.len, sink.len + room, windowStart);
}

/** The block decoder proper: typed arrays and numbers only, so V8 keeps it optimized. */
function lz4Block(src: Uint8Array, ip: number, end: number, out: Uint8Array, op: number, outEnd: number, windowStart: number): number {
  for (;;) {
    if (ip >= end) throw new DecodeError('truncated lz4 block', end);
    const token = src[ip++];
    let litLen = token >>> 4;
    if (litLen === 15) {
      let b = 255;
      while (b === 255) {
        if (ip >= end) throw new DecodeError('truncated lz4 block', end);
        b = src[ip++];
        litLen += b;
      }
    }
    if (ip + litLen > end) throw new DecodeError('lz4 literals run past the block', ip);
    if (op + litLen > outEnd) throw new DecodeError('lz4 block decodes past its maximum size', ip);
    for (const stop = ip + litLen; ip < stop; ) out[op++] = src[ip++];
    if (ip === end) return op; // the last sequence has no match
    if (ip + 2 > end) throw new DecodeError('truncated lz4 block', end);
    const offset = src[ip] | (src[ip + 1] << 8);
    ip += 2;
    if (offset === 0 || offset > op - windowStart) throw new DecodeError(`lz4 match offset ${offset} out of range`, ip - 2);
    let matchLen = (token & 15) + 4;
    if (matchLen === 19) {
      let b = 255;
      while (b === 255) {
        if (ip >= end) throw new DecodeError('truncated lz4 block', end);
        b = src[ip++];
        matchLen += b;
      }
    }
    if (op + matchLen > outEnd) throw new DecodeError('lz4 block decodes past its maximum size', ip);
    for (let from = op - offset, stop = op + matchLen; op < stop; ) out[op++] = out[from++];
  }
}

const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;
const P3 = 0xc2b2ae3d;
const P4 = 0x27d4eb2f;
const P5 = 0x165667b1;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

/** xxHash32 with seed 0 of d[start..end) (the lz4 frame's checksums). */
export function xxh32(d: Uint8Array, start: number, end: number): number {
  let p = start;
  let h: number;
  if (end - start >= 16) {
    let v1 = (P1 + P2) | 0;
    let v2 = P2;
    let v3 = 0;
    let v4 = -P1 | 0;
    for (; p + 16 <= end; p += 16) {
      v1 = Math.imul(rotl((v1 + Math.imul(u32le(d, p), P2)) | 0, 13), P1);
      v2 = Math.imul(rotl((v2 + Math.imul(u32le(d, p + 4), P2)) | 0, 13), P1);
      v3 = Math.imul(rotl((v3 + Math.imul(u32le(d, p + 8), P2)) | 0, 13), P1);
      v4 = Math.imul(rotl((v4 + Math.imul(u32le(d, p + 12), P2)) | 0, 13), P1);
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0;
  } else {
    h = P5;
  }
  h = (h + (end - start)) | 0;
  for (; p + 4 <= end; p += 4) h = Math.imul(rotl((h + Math.imul(u32le(d, p), P3)) | 0, 17), P4);
  for (; p < end; p++) h = Math.imul(rotl((h + Math.imul(d[p], P5)) | 0, 11), P1);
  h = Math.imul(h ^ (h >>> 15), P2);
  h = Math.imul(h ^ (h >>> 13), P3);
  return (h ^ (h >>> 16)) >>> 0;
}
