/**
 * LZ4: the legacy frame (`lz4 -l`, the only LZ4 format the kernel's initramfs unpacker takes)
 * and the current frame format (lz4_Frame_format.md), both over the LZ4 block format
 * (lz4_Block_format.md).
 *
 * Legacy: magic 0x184C2102, then blocks of [u32 LE compressed size][LZ4 block], each at most
 * 8 MiB decompressed, until the input ends. Concatenated legacy streams repeat the magic between
 * blocks (the kernel's unlz4 skips it); trailing zero bytes (initramfs padding) are accepted.
 */
import { DecodeError, fromDecodeError, u32le } from './fail.js';
import { type DecoderGenerator, type InputBuffer, more, need, PushDecoder } from './input.js';
import { ByteSink } from './sink.js';

const LEGACY_MAGIC = 0x184c2102;
const FRAME_MAGIC = 0x184d2204;
const LEGACY_BLOCK_MAX = 8 << 20;

/** Decode a whole .lz4 in memory. */
export function decodeLz4(data: Uint8Array, origin: string): Uint8Array {
  const sink = new ByteSink(data.length * 3 + 1024);
  const dec = lz4Decoder(origin, (out) => sink.push(out));
  dec.push(data);
  dec.end();
  return sink.result();
}

/**
 * A streaming lz4 decoder (legacy and current frames): push compressed chunks, then end(); each
 * block's bytes go to `emit` (views valid only during the call). Memory: one block (at most
 * 8 MiB) and, for linked blocks, the 64 KiB before it.
 */
export function lz4Decoder(origin: string, emit: (bytes: Uint8Array) => void): { push(chunk: Uint8Array): void; end(): void } {
  const pd = new PushDecoder((input) => lz4Frames(input, emit));
  const wrap = (f: () => void): void => {
    try {
      f();
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      throw fromDecodeError(e, origin, 'lz4');
    }
  };
  return { push: (chunk) => wrap(() => pd.push(chunk)), end: () => wrap(() => pd.end()) };
}

function* lz4Frames(input: InputBuffer, emit: (bytes: Uint8Array) => void): DecoderGenerator {
  const out = new ByteSink(1 << 16);
  let frames = 0;
  for (;;) {
    if (!(yield* more(input))) {
      if (frames === 0) throw new DecodeError('truncated', input.offset(), 'truncated');
      return;
    }
    if (frames > 0 && input.buf[input.pos] === 0) {
      // Zero padding after the last frame, and nothing else.
      for (;;) {
        if (!(yield* more(input))) return;
        if (input.buf[input.pos] !== 0) throw new DecodeError('garbage after lz4 data', input.offset());
        input.pos++;
      }
    }
    yield* need(input, 4);
    const magic = u32le(input.buf, input.pos);
    if (magic === LEGACY_MAGIC) {
      input.pos += 4;
      yield* legacyBlocks(input, out, emit);
    } else if (magic === FRAME_MAGIC) yield* frame(input, out, emit);
    else if ((magic & 0xfffffff0) === 0x184d2a50) {
      yield* need(input, 8);
      const size = u32le(input.buf, input.pos + 4);
      input.pos += 8;
      for (let left = size; left > 0; ) {
        if (!(yield* more(input))) throw new DecodeError('truncated', input.offset(), 'truncated');
        const n = Math.min(left, input.end - input.pos);
        input.pos += n;
        left -= n;
      }
    } else throw new DecodeError(frames === 0 ? 'not an lz4 stream (bad magic)' : 'garbage after lz4 data', input.offset());
    frames++;
  }
}

/** Legacy blocks until the input ends, another stream's magic, or zero padding. */
function* legacyBlocks(input: InputBuffer, out: ByteSink, emit: (bytes: Uint8Array) => void): DecoderGenerator {
  for (;;) {
    if (!(yield* more(input))) return;
    while (input.end - input.pos < 4 && !input.eof) yield;
    if (input.end - input.pos < 4) {
      // Fewer than 4 bytes at the very end: zero padding, or truncation.
      for (let i = input.pos; i < input.end; i++) if (input.buf[i] !== 0) throw new DecodeError('truncated', input.offset(input.end), 'truncated');
      input.pos = input.end;
      return;
    }
    const size = u32le(input.buf, input.pos);
    if (size === LEGACY_MAGIC) {
      input.pos += 4;
      continue;
    }
    if (size === 0 || size === FRAME_MAGIC || (size & 0xfffffff0) === 0x184d2a50) return; // padding or a new frame
    if (size > LEGACY_BLOCK_MAX + LEGACY_BLOCK_MAX / 255 + 16) throw new DecodeError(`lz4 legacy block of ${size} bytes is too large`, input.offset());
    yield* need(input, 4 + size);
    const at = input.pos + 4;
    out.len = 0;
    blockInto(input, at, at + size, out, LEGACY_BLOCK_MAX, 0);
    input.pos = at + size;
    emit(out.buf.subarray(0, out.len));
  }
}

const BLOCK_MAX = [0, 0, 0, 0, 64 << 10, 256 << 10, 1 << 20, 4 << 20];
/** A linked block may refer back this far into the blocks before it. */
const LINK_WINDOW = 64 << 10;

/** One frame at input.pos, through its end mark and content checksum. */
function* frame(input: InputBuffer, out: ByteSink, emit: (bytes: Uint8Array) => void): DecoderGenerator {
  yield* need(input, 7);
  const descStart = input.pos + 4;
  let d = input.buf;
  const flg = d[descStart];
  const bd = d[descStart + 1];
  if (flg >> 6 !== 1) throw new DecodeError(`unsupported lz4 frame version ${flg >> 6}`, input.offset(descStart), 'unsupported');
  if (flg & 0x02 || bd & 0x8f) throw new DecodeError('corrupt lz4 frame descriptor (reserved bits set)', input.offset(descStart));
  const blockMax = BLOCK_MAX[(bd >> 4) & 7];
  if (!blockMax) throw new DecodeError('corrupt lz4 frame descriptor (block size)', input.offset(descStart + 1));
  const independent = (flg & 0x20) !== 0;
  const blockChecksum = (flg & 0x10) !== 0;
  const hasSize = (flg & 0x08) !== 0;
  const contentChecksum = (flg & 0x04) !== 0;
  if (flg & 0x01) throw new DecodeError('lz4 frame needs a dictionary', input.offset(descStart), 'unsupported');
  const descLen = 2 + (hasSize ? 8 : 0) + 1;
  yield* need(input, 4 + descLen);
  d = input.buf;
  const ds = input.pos + 4;
  let contentSize = -1;
  if (hasSize) contentSize = u32le(d, ds + 2) + u32le(d, ds + 6) * 0x100000000;
  if (((xxh32(d, ds, ds + descLen - 1) >>> 8) & 0xff) !== d[ds + descLen - 1]) throw new DecodeError('lz4 frame header checksum mismatch', input.offset(ds + descLen - 1));
  input.pos = ds + descLen;
  const hash = contentChecksum ? new Xxh32() : undefined;
  let produced = 0;
  out.len = 0;
  for (;;) {
    yield* need(input, 4);
    const word = u32le(input.buf, input.pos);
    if (word === 0) {
      input.pos += 4;
      break;
    }
    const size = word & 0x7fffffff;
    if (size > blockMax) throw new DecodeError(`lz4 block of ${size} bytes exceeds the frame's ${blockMax}`, input.offset());
    yield* need(input, 4 + size + (blockChecksum ? 4 : 0));
    const p = input.pos + 4;
    d = input.buf;
    if (blockChecksum && xxh32(d, p, p + size) !== u32le(d, p + size)) throw new DecodeError('lz4 block checksum mismatch', input.offset(p + size));
    // Linked blocks see the last 64 KiB of the output before them.
    if (independent || out.len <= LINK_WINDOW) {
      if (independent) out.len = 0;
    } else {
      out.buf.copyWithin(0, out.len - LINK_WINDOW, out.len);
      out.len = LINK_WINDOW;
    }
    const from = out.len;
    if (word & 0x80000000) out.push(d.subarray(p, p + size));
    else blockInto(input, p, p + size, out, blockMax, 0);
    input.pos = p + size + (blockChecksum ? 4 : 0);
    const bytes = out.buf.subarray(from, out.len);
    produced += bytes.length;
    hash?.update(bytes);
    if (bytes.length) emit(bytes);
  }
  if (contentSize >= 0 && produced !== contentSize) throw new DecodeError('lz4 frame content size mismatch', input.offset() - 4);
  if (hash) {
    yield* need(input, 4);
    if (hash.digest() !== u32le(input.buf, input.pos)) throw new DecodeError('lz4 content checksum mismatch', input.offset());
    input.pos += 4;
  }
}

/** Decode one block of input.buf[start..end) onto the sink, matches reaching back to `windowStart`. */
function blockInto(input: InputBuffer, start: number, end: number, sink: ByteSink, maxOut: number, windowStart: number): void {
  try {
    decodeBlock(input.buf, start, end, sink, maxOut, windowStart);
  } catch (e) {
    if (e instanceof DecodeError) throw new DecodeError(e.message, input.offset(e.offset), e.kind);
    throw e;
  }
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

/** xxHash32 (seed 0) fed piece by piece: the lz4 frame's content checksum over a stream. */
export class Xxh32 {
  private v1 = (P1 + P2) | 0;
  private v2 = P2;
  private v3 = 0;
  private v4 = -P1 | 0;
  private total = 0;
  private readonly tail = new Uint8Array(16);
  private tailLen = 0;

  update(d: Uint8Array): void {
    let p = 0;
    this.total += d.length;
    if (this.tailLen > 0) {
      const n = Math.min(16 - this.tailLen, d.length);
      this.tail.set(d.subarray(0, n), this.tailLen);
      this.tailLen += n;
      p = n;
      if (this.tailLen < 16) return;
      this.stripe(this.tail, 0);
      this.tailLen = 0;
    }
    for (; p + 16 <= d.length; p += 16) this.stripe(d, p);
    this.tail.set(d.subarray(p), 0);
    this.tailLen = d.length - p;
  }

  private stripe(d: Uint8Array, p: number): void {
    this.v1 = Math.imul(rotl((this.v1 + Math.imul(u32le(d, p), P2)) | 0, 13), P1);
    this.v2 = Math.imul(rotl((this.v2 + Math.imul(u32le(d, p + 4), P2)) | 0, 13), P1);
    this.v3 = Math.imul(rotl((this.v3 + Math.imul(u32le(d, p + 8), P2)) | 0, 13), P1);
    this.v4 = Math.imul(rotl((this.v4 + Math.imul(u32le(d, p + 12), P2)) | 0, 13), P1);
  }

  digest(): number {
    let h = this.total >= 16 ? (rotl(this.v1, 1) + rotl(this.v2, 7) + rotl(this.v3, 12) + rotl(this.v4, 18)) | 0 : P5;
    h = (h + this.total) | 0;
    const d = this.tail;
    const end = this.tailLen;
    let p = 0;
    for (; p + 4 <= end; p += 4) h = Math.imul(rotl((h + Math.imul(u32le(d, p), P3)) | 0, 17), P4);
    for (; p < end; p++) h = Math.imul(rotl((h + Math.imul(d[p], P5)) | 0, 11), P1);
    h = Math.imul(h ^ (h >>> 15), P2);
    h = Math.imul(h ^ (h >>> 13), P3);
    return (h ^ (h >>> 16)) >>> 0;
  }
}
