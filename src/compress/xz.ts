/**
 * The .xz container (xz-file-format-1.2.0): streams of blocks, each block an LZMA2 stream behind
 * optional BCJ x86 / delta filters, an index that lists every block, a footer that points back
 * at the index, stream padding in 4-byte zero groups between and after streams. Every CRC and
 * every index record is checked, as xz does.
 */
import { Sha256 } from './sha256.js';
import { crc32, crc64 } from './crc.js';
import { DecodeError, fromDecodeError, u32le } from './fail.js';
import { type DecoderGenerator, type InputBuffer, more, need, PushDecoder } from './input.js';
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

/** Decode a whole .xz file in memory. */
export function decodeXz(data: Uint8Array, origin: string): Uint8Array {
  const total = totalSizeFromIndexes(data);
  const sink = new ByteSink(total ?? data.length * 4 + 65536);
  const dec = xzDecoder(origin, (out) => sink.push(out), total);
  dec.push(data);
  dec.end();
  return sink.result();
}

/**
 * A streaming .xz decoder: push compressed chunks, then end(); decoded bytes go to `emit` as
 * they are made (views valid only during the call). Memory: the LZMA2 dictionary (up to the
 * stream's dictionary size, grown as output needs it) plus about one 64 KiB input chunk.
 */
export function xzDecoder(origin: string, emit: (bytes: Uint8Array) => void, sizeHint?: number): { push(chunk: Uint8Array): void; end(): void } {
  const pd = new PushDecoder((input) => xzStreams(input, emit, sizeHint));
  const wrap = (f: () => void): void => {
    try {
      f();
    } catch (e) {
      if (e instanceof DecodeError) throw fromDecodeError(e, origin, 'xz');
      throw lzmaError(e, origin, 'xz');
    }
  };
  return { push: (chunk) => wrap(() => pd.push(chunk)), end: () => wrap(() => pd.end()) };
}

/** Streams one after another, with 4-byte groups of zero padding between and after them. */
function* xzStreams(input: InputBuffer, emit: (bytes: Uint8Array) => void, sizeHint?: number): DecoderGenerator {
  const win = new Window(sizeHint);
  let streams = 0;
  for (;;) {
    if (streams > 0) {
      // Stream padding: zero bytes in groups of four, then possibly another stream.
      let zeros = 0;
      for (;;) {
        if (!(yield* more(input))) {
          if (zeros % 4 !== 0) throw new DecodeError('xz stream padding not a multiple of 4 bytes', input.offset() - zeros);
          win.release();
          return;
        }
        if (input.buf[input.pos] !== 0) break;
        input.pos++;
        zeros++;
      }
      if (zeros % 4 !== 0) throw new DecodeError('xz stream padding not a multiple of 4 bytes', input.offset() - zeros);
    }
    yield* decodeStream(input, win, emit);
    streams++;
  }
}

/** Read `n` bytes at input.pos (waiting for them) and return them as a copy; pos moves past. */
function* take(input: InputBuffer, n: number): Generator<void, Uint8Array, void> {
  yield* need(input, n);
  const b = input.buf.slice(input.pos, input.pos + n);
  input.pos += n;
  return b;
}

/** One stream at input.pos, through its footer. */
function* decodeStream(input: InputBuffer, win: Window, emit: (bytes: Uint8Array) => void): DecoderGenerator {
  const streamStart = input.offset();
  const head = yield* take(input, 12);
  for (let i = 0; i < 6; i++) if (head[i] !== HEADER_MAGIC[i]) throw new DecodeError('not an xz stream (bad magic)', streamStart);
  if (crc32(head, 6, 8) !== u32le(head, 8)) throw new DecodeError('xz stream header CRC mismatch', streamStart + 6);
  if (head[6] !== 0 || head[7] > 0x0f) throw new DecodeError(`unsupported xz stream flags 0x${head[6].toString(16)}${head[7].toString(16).padStart(2, '0')}`, streamStart + 6, 'unsupported');
  const checkType = head[7];
  const checkSize = CHECK_SIZES[checkType];

  const records: Array<[number, number]> = []; // [unpadded size, uncompressed size]
  for (;;) {
    yield* need(input, 1);
    if (input.buf[input.pos] === 0) break; // index indicator
    const blockStart = input.offset();
    const check = new Check(checkType);
    const size = yield* decodeBlock(input, win, (out) => {
      check.update(out);
      emit(out);
    });
    const unpadded = input.offset() - blockStart;
    // Block padding to a multiple of four, then the check.
    while ((input.offset() - streamStart) % 4 !== 0) {
      yield* need(input, 1);
      if (input.buf[input.pos] !== 0) throw new DecodeError('nonzero xz block padding', input.offset());
      input.pos++;
    }
    const at = input.offset();
    const stored = yield* take(input, checkSize);
    if (!check.matches(stored)) throw new DecodeError('xz block check mismatch (data corrupt)', at);
    records.push([unpadded + checkSize, size]);
  }

  // Index: indicator, record count, records, padding, CRC32. Read byte by byte (it is small).
  const indexStart = input.offset();
  const index: number[] = [];
  const byte = function* (): Generator<void, number, void> {
    yield* need(input, 1);
    const b = input.buf[input.pos++]!;
    index.push(b);
    return b;
  };
  const vliIn = function* (): Generator<void, number, void> {
    let value = 0;
    let mul = 1;
    for (let i = 0; i < 9; i++) {
      const at = input.offset();
      const b = yield* byte();
      value += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) throw new DecodeError('corrupt xz integer', at);
        if (value > Number.MAX_SAFE_INTEGER) throw new DecodeError('xz size too large', at, 'unsupported');
        return value;
      }
      mul *= 128;
    }
    throw new DecodeError('corrupt xz integer', input.offset());
  };
  yield* byte(); // the indicator
  const count = yield* vliIn();
  if (count !== records.length) throw new DecodeError(`xz index lists ${count} blocks, the stream has ${records.length}`, indexStart);
  for (const [unpadded, size] of records) {
    const at = input.offset();
    const u = yield* vliIn();
    const sz = yield* vliIn();
    if (u !== unpadded || sz !== size) throw new DecodeError('xz index does not match the blocks', at);
  }
  while (index.length % 4 !== 0) {
    const at = input.offset();
    if ((yield* byte()) !== 0) throw new DecodeError('nonzero xz index padding', at);
  }
  const crcAt = input.offset();
  const crc = yield* take(input, 4);
  if (crc32(Uint8Array.from(index)) !== u32le(crc, 0)) throw new DecodeError('xz index CRC mismatch', crcAt);
  const indexSize = index.length + 4;

  // Footer: CRC32, backward size, flags, 'YZ'.
  const footAt = input.offset();
  const foot = yield* take(input, 12);
  if (foot[10] !== 0x59 || foot[11] !== 0x5a) throw new DecodeError('bad xz stream footer magic', footAt + 10);
  if (crc32(foot, 4, 10) !== u32le(foot, 0)) throw new DecodeError('xz stream footer CRC mismatch', footAt);
  if ((u32le(foot, 4) + 1) * 4 !== indexSize) throw new DecodeError('xz footer backward size does not match the index', footAt + 4);
  if (foot[8] !== 0 || foot[9] !== checkType) throw new DecodeError('xz footer flags differ from the header', footAt + 8);
}

/** A block's integrity check over its decoded bytes, fed as they come. */
class Check {
  private c32 = 0;
  private c64: [number, number] = [0, 0];
  private sha: Sha256 | undefined;
  constructor(private readonly type: number) {
    if (type === CHECK_SHA256) this.sha = new Sha256();
  }
  update(b: Uint8Array): void {
    if (this.type === CHECK_CRC32) this.c32 = crc32(b, 0, b.length, this.c32);
    else if (this.type === CHECK_CRC64) this.c64 = crc64(b, 0, b.length, this.c64);
    else if (this.sha) this.sha.update(b);
  }
  matches(stored: Uint8Array): boolean {
    if (this.type === CHECK_CRC32) return this.c32 === u32le(stored, 0);
    if (this.type === CHECK_CRC64) return this.c64[0] === u32le(stored, 0) && this.c64[1] === u32le(stored, 4);
    if (this.sha) {
      const d = this.sha.digest();
      for (let i = 0; i < 32; i++) if (d[i] !== stored[i]) return false;
    }
    // CHECK_NONE; other check IDs are reserved: like xz without --no-warn we do not verify them.
    return true;
  }
}

/**
 * The LZMA2 dictionary as a sliding window: output is decoded into it, handed on after each
 * chunk, and the window grows up to the dictionary size plus one chunk; past that the last
 * dictionary-size bytes are moved to its start before the next chunk.
 */
class Window {
  buf: Uint8Array = new Uint8Array(0);

  /** The stream is done: its window may serve the next one (streaming windows only). */
  release(): void {
    if (this.sizeHint === undefined && this.buf.length > (spare?.length ?? 0)) spare = this.buf;
    this.buf = new Uint8Array(0);
  }
  dictSize = 0;

  /** `sizeHint`: the whole output's size when known (a whole .xz in memory): one allocation. */
  constructor(private readonly sizeHint?: number) {}

  /** Room for `n` more bytes after dec.outPos (plus the match copy's 3-byte overrun). */
  reserve(dec: LzmaDecoder, n: number): void {
    const need = dec.outPos + n + 4;
    if (need <= this.buf.length) return;
    const cap = this.dictSize + LZMA2_CHUNK_MAX + 4;
    if (this.buf.length < cap && this.sizeHint === undefined) {
      // Streaming: the whole window at once. Its pages are only resident once written (large
      // allocations are mapped zero pages), so a small stream costs what it uses, and no
      // doubling leaves garbage behind. A worker reuses the window of its last stream.
      const size = Math.max(cap, need);
      const next = spare && spare.length >= size ? spare : new Uint8Array(size);
      if (next === spare) spare = undefined;
      next.set(this.buf.subarray(0, dec.outPos));
      this.buf = next;
      return;
    }
    if (this.buf.length < cap) {
      let size = Math.max(this.buf.length * 2, this.sizeHint !== undefined ? this.sizeHint + 4 : 1 << 20);
      while (size < need && size < cap) size *= 2;
      size = Math.min(Math.max(size, need), Math.max(cap, need));
      const next = new Uint8Array(size);
      next.set(this.buf.subarray(0, dec.outPos));
      this.buf = next;
      if (need <= size) return;
    }
    // Full: keep the last dictionary-size bytes.
    const keep = Math.min(this.dictSize, dec.outPos);
    const shift = dec.outPos - keep;
    this.buf.copyWithin(0, shift, dec.outPos);
    dec.outPos = keep;
    dec.dictStart -= shift;
  }
}

/** A streaming window no stream uses now, kept for the next (one per thread). */
let spare: Uint8Array | undefined;

/** The most an LZMA2 chunk decodes to. */
const LZMA2_CHUNK_MAX = 2 << 20;

/** The dictionary size an LZMA2 properties byte stands for. */
function lzma2DictSize(b: number): number {
  return b === 40 ? 0xffffffff : (2 | (b & 1)) * 2 ** ((b >>> 1) + 11);
}

/** One block at input.pos (its header size byte); returns its uncompressed size. */
function* decodeBlock(input: InputBuffer, win: Window, emit: (bytes: Uint8Array) => void): Generator<void, number, void> {
  const headerStart = input.offset();
  yield* need(input, 1);
  const headerSize = (input.buf[input.pos] + 1) * 4;
  const h = yield* take(input, headerSize);
  const headerEnd = headerSize - 4;
  if (crc32(h, 0, headerEnd) !== u32le(h, headerEnd)) throw new DecodeError('xz block header CRC mismatch', headerStart + headerEnd);
  const flags = h[1];
  if (flags & 0x3c) throw new DecodeError('unsupported xz block flags', headerStart + 1, 'unsupported');
  let pos = 2;
  let compressedSize = -1;
  let uncompressedSize = -1;
  if (flags & 0x40) [compressedSize, pos] = vli(h, pos, headerEnd);
  if (flags & 0x80) [uncompressedSize, pos] = vli(h, pos, headerEnd);
  const filters: Filter[] = [];
  for (let i = 0; i <= (flags & 3); i++) {
    const at = pos;
    let id: number;
    let size: number;
    [id, pos] = vli(h, pos, headerEnd);
    [size, pos] = vli(h, pos, headerEnd);
    if (pos + size > headerEnd) throw new DecodeError('corrupt xz filter flags', headerStart + at);
    filters.push({ id, props: h.subarray(pos, pos + size) });
    pos += size;
    checkFilter(filters[i], i === (flags & 3), headerStart + at);
  }
  for (; pos < headerEnd; pos++) if (h[pos] !== 0) throw new DecodeError('nonzero xz block header padding', headerStart + pos);

  // Filters before LZMA2 (BCJ x86, delta) undo their work on the decoded bytes, in order.
  const undo = filters.slice(0, -1).reverse().map((f) => (f.id === FILTER_X86 ? new X86Filter(f.props.length === 4 ? u32le(f.props, 0) : 0) : new DeltaFilter(f.props[0] + 1)));
  let total = 0;
  const out = (bytes: Uint8Array, final: boolean): void => {
    let b = bytes;
    for (const f of undo) b = f.run(b, final);
    total += b.length;
    if (b.length) emit(b);
  };
  const dataStart = input.offset();
  const lzma2 = filters[filters.length - 1];
  win.dictSize = lzma2DictSize(lzma2.props[0]);
  yield* decodeLzma2(input, win, (bytes) => out(bytes, false));
  out(new Uint8Array(0), true);
  if (compressedSize >= 0 && input.offset() - dataStart !== compressedSize) throw new DecodeError('xz block compressed size does not match its header', headerStart);
  if (uncompressedSize >= 0 && total !== uncompressedSize) throw new DecodeError('xz block uncompressed size does not match its header', headerStart);
  return total;
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
 * An LZMA2 stream: chunks of LZMA data or stored bytes, each saying whether it resets the
 * dictionary, the state or the properties (rules as liblzma's lzma2_decoder.c), through the end
 * byte 0x00. Each chunk is waited for whole (at most 64 KiB + 6) and decoded into the window.
 */
function* decodeLzma2(input: InputBuffer, win: Window, emit: (bytes: Uint8Array) => void): DecoderGenerator {
  const dec = new LzmaDecoder();
  dec.outPos = 0;
  dec.dictStart = 0;
  let needDictReset = true;
  let needProps = true;
  for (;;) {
    yield* need(input, 1);
    const chunkStart = input.offset();
    const control = input.buf[input.pos];
    if (control === 0x00) {
      input.pos++;
      return;
    }
    if (control >= 0xe0 || control === 0x01) {
      needProps = true;
      needDictReset = false;
      // A dictionary reset: nothing before this point may be referenced.
      win.reserve(dec, 0);
      dec.dictStart = dec.outPos;
    } else if (needDictReset) {
      throw new DecodeError('corrupt LZMA2 stream: first chunk does not reset the dictionary', chunkStart);
    }
    if (control >= 0x80) {
      const hsize = control >= 0xc0 ? 6 : 5;
      yield* need(input, hsize);
      const p = input.pos;
      const b = input.buf;
      const unpacked = ((control & 0x1f) << 16) + (b[p + 1] << 8) + b[p + 2] + 1;
      const packed = (b[p + 3] << 8) + b[p + 4] + 1;
      if (control >= 0xc0) {
        if (!dec.setProperties(b[p + 5]) || dec.lc + dec.lp > 4) throw new DecodeError('corrupt LZMA2 properties', chunkStart + 5);
        needProps = false;
        dec.resetState();
      } else if (needProps) {
        throw new DecodeError('corrupt LZMA2 stream: chunk without properties', chunkStart);
      } else if (control >= 0xa0) {
        dec.resetState();
      }
      yield* need(input, hsize + packed);
      const dataAt = input.pos + hsize;
      win.reserve(dec, unpacked);
      dec.out = win.buf;
      const from = dec.outPos;
      try {
        dec.initRangeCoder(input.buf, dataAt, dataAt + packed);
        const limit = dec.outPos + unpacked;
        if (dec.decode(limit, limit, false) !== Stop.Limit || !dec.finishedOK || dec.inPos !== dataAt + packed) {
          throw new LzmaDataError('LZMA2 chunk does not end where its header says', chunkStart);
        }
      } catch (e) {
        if (e instanceof LzmaDataError && e.truncated) throw new DecodeError('truncated', input.offset(input.end), 'truncated');
        if (e instanceof LzmaDataError) throw new DecodeError(`corrupt xz stream: ${e.message}`, e.offset === chunkStart ? chunkStart : input.offset(e.offset));
        throw e;
      }
      input.pos = dataAt + packed;
      emit(win.buf.subarray(from, dec.outPos));
    } else {
      if (control > 0x02) throw new DecodeError(`corrupt LZMA2 control byte 0x${control.toString(16)}`, chunkStart);
      yield* need(input, 3);
      const size = (input.buf[input.pos + 1] << 8) + input.buf[input.pos + 2] + 1;
      yield* need(input, 3 + size);
      win.reserve(dec, size);
      const from = dec.outPos;
      win.buf.set(input.buf.subarray(input.pos + 3, input.pos + 3 + size), from);
      dec.outPos += size;
      input.pos += 3 + size;
      emit(win.buf.subarray(from, dec.outPos));
    }
  }
}

/**
 * Undo the x86 BCJ filter (liblzma simple/x86.c) as a stream: each run converts what it can
 * and keeps the last bytes that might start an instruction (fewer than 5) for the next run.
 */
class X86Filter {
  private prevMask = 0;
  private prevPos: number;
  private nowPos: number;
  private held: Uint8Array = new Uint8Array(0);
  constructor(startOffset: number) {
    this.nowPos = startOffset >>> 0;
    this.prevPos = (startOffset - 5) >>> 0;
  }
  run(bytes: Uint8Array, final: boolean): Uint8Array {
    const buf = new Uint8Array(this.held.length + bytes.length);
    buf.set(this.held);
    buf.set(bytes, this.held.length);
    const done = this.convert(buf);
    if (final) {
      this.held = new Uint8Array(0);
      return buf;
    }
    this.held = buf.slice(done);
    return buf.subarray(0, done);
  }
  /** liblzma's x86_code for the decoder: returns the bytes processed. */
  private convert(buf: Uint8Array): number {
    const bitNumber = [0, 1, 2, 2, 3];
    const size = buf.length;
    if (size < 5) return 0;
    let prevMask = this.prevMask;
    let prevPos = this.prevPos;
    if (((this.nowPos - prevPos) >>> 0) > 5) prevPos = (this.nowPos - 5) >>> 0;
    const limit = size - 5;
    let i = 0;
    while (i <= limit) {
      let b = buf[i];
      if (b !== 0xe8 && b !== 0xe9) {
        i++;
        continue;
      }
      const nowPos = (this.nowPos + i) >>> 0;
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
      b = buf[i + 4];
      if ((b === 0 || b === 0xff) && prevMask >>> 1 <= 4 && prevMask >>> 1 !== 3) {
        let src = ((b << 24) | (buf[i + 3] << 16) | (buf[i + 2] << 8) | buf[i + 1]) >>> 0;
        let dest: number;
        for (;;) {
          dest = (src - (nowPos + 5)) >>> 0;
          if (prevMask === 0) break;
          const k = bitNumber[prevMask >>> 1];
          b = (dest >>> (24 - k * 8)) & 0xff;
          if (!(b === 0 || b === 0xff)) break;
          src = (dest ^ (2 ** (32 - k * 8) - 1)) >>> 0;
        }
        buf[i + 4] = ~(((dest >>> 24) & 1) - 1) & 0xff;
        buf[i + 3] = dest >>> 16;
        buf[i + 2] = dest >>> 8;
        buf[i + 1] = dest;
        i += 5;
        prevMask = 0;
      } else {
        i++;
        prevMask |= 1;
        if (b === 0 || b === 0xff) prevMask |= 0x10;
      }
    }
    this.prevMask = prevMask;
    this.prevPos = prevPos;
    this.nowPos = (this.nowPos + i) >>> 0;
    return i;
  }
}

/** Undo the delta filter as a stream: each byte adds the byte `distance` before it (history starts zero). */
class DeltaFilter {
  private readonly history: Uint8Array;
  private at = 0;
  constructor(private readonly distance: number) {
    this.history = new Uint8Array(256);
  }
  run(bytes: Uint8Array, _final: boolean): Uint8Array {
    const out = bytes.slice();
    const h = this.history;
    const d = this.distance;
    let at = this.at;
    for (let i = 0; i < out.length; i++) {
      const v = (out[i] + h[(at - d) & 255]) & 0xff;
      out[i] = v;
      h[at & 255] = v;
      at++;
    }
    this.at = at & 255;
    return out;
  }
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
