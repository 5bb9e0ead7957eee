/**
 * bzip2 decoding, after the format as bzip2 1.0.8 writes it (and Rob Landley's micro-bunzip,
 * the kernel's lib/decompress_bunzip2.c): 'BZh' + level, blocks (48-bit magic pi, CRC, origPtr,
 * symbol map, Huffman selectors and tables, MTF/RLE2 symbols, inverse BWT, RLE1), an
 * end-of-stream magic (sqrt pi) with the combined CRC, then possibly another stream.
 * Every block CRC and the combined CRC are checked.
 */
import { corrupt, DecodeError, fromDecodeError, truncated, unsupported } from './fail.js';
import { type DecoderGenerator, type InputBuffer, more, need, PushDecoder } from './input.js';
import { ByteSink } from './sink.js';

const MAX_GROUPS = 6;
const MAX_ALPHA = 258;
const MAX_CODE_LEN = 20;
const GROUP_SIZE = 50;
const FAST_BITS = 10;

// bzip2's CRC: CRC-32 unreflected (poly 0x04C11DB7), as Int32 for unboxed arithmetic (the
// encoder, bzip2-encode.ts, shares it).
export const CRC_TABLE = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  let c = i << 24;
  for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
  CRC_TABLE[i] = c;
}

/** MSB-first bit reader; reads past the end yield zeros and are caught by checkOverrun. */
class BitReader {
  pos: number;
  buf = 0;
  count = 0;
  /** One past the last byte of input there is (a stream's input buffer holds more room). */
  end: number;
  constructor(
    public data: Uint8Array,
    start: number,
    end = data.length,
  ) {
    this.pos = start;
    this.end = end;
  }

  bits(n: number): number {
    while (this.count < n) {
      this.buf = (this.buf << 8) | (this.pos < this.end ? this.data[this.pos] : 0);
      this.pos++;
      this.count += 8;
    }
    this.count -= n;
    return (this.buf >>> this.count) & ((1 << n) - 1);
  }

  /** Bits read so far as a byte offset (for messages). */
  get offset(): number {
    return this.pos - (this.count >> 3);
  }

  checkOverrun(): void {
    if (this.pos - (this.count >> 3) > this.end) throw new DecodeError('truncated', this.end, 'truncated');
  }

  /** Drop the bits left in the current byte. */
  align(): void {
    this.count -= this.count & 7;
  }
}

/** Decode a whole .bz2 in memory. */
export function decodeBzip2(data: Uint8Array, origin: string): Uint8Array {
  const sink = new ByteSink(data.length * 5 + 1024);
  const dec = bzip2Decoder(origin, (out) => sink.push(out));
  dec.push(data);
  dec.end();
  return sink.result();
}

/** Input kept ahead of a block: more than any block's compressed size (900k symbols of at most 20 bits, and tables). */
const BLOCK_INPUT_MAX = 4 << 20;

/**
 * A streaming bzip2 decoder: push compressed chunks, then end(); each block's bytes go to `emit`
 * once decoded (views valid only during the call). Memory: one block (at most 900 kB of BWT
 * data, its output) and up to 4 MiB of input ahead.
 */
export function bzip2Decoder(origin: string, emit: (bytes: Uint8Array) => void): { push(chunk: Uint8Array): void; end(): void } {
  const pd = new PushDecoder((input) => bzip2Streams(input, emit));
  const wrap = (f: () => void): void => {
    try {
      f();
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      throw fromDecodeError(e, origin, 'bzip2');
    }
  };
  return { push: (chunk) => wrap(() => pd.push(chunk)), end: () => wrap(() => pd.end()) };
}

function* bzip2Streams(input: InputBuffer, emit: (bytes: Uint8Array) => void): DecoderGenerator {
  const out = new ByteSink(1 << 20);
  let streams = 0;
  for (;;) {
    if (streams > 0) {
      if (!(yield* more(input))) return;
      if (input.buf[input.pos] === 0) {
        // Zero padding after the last stream (initramfs images), and nothing else.
        for (;;) {
          if (!(yield* more(input))) return;
          if (input.buf[input.pos] !== 0) throw new DecodeError('garbage after bzip2 data', input.offset());
          input.pos++;
        }
      }
    }
    yield* decodeStream(input, out, emit, streams > 0);
    streams++;
  }
}

/** Working arrays for one stream, reused across its blocks. */
interface Work {
  tt: Uint32Array;
  selectors: Uint8Array;
  lengths: Uint8Array;
  /** Per group: FAST_BITS lookup, (symbol << 5) | length, 0 for longer codes. */
  fast: Uint32Array;
  limit: Int32Array;
  base: Int32Array;
  perm: Uint16Array;
  minLen: Uint8Array;
  byteCount: Int32Array;
  mtf: Uint8Array;
  walk: WalkState;
}

function* decodeStream(input: InputBuffer, sink: ByteSink, emit: (bytes: Uint8Array) => void, later: boolean): DecoderGenerator {
  const start = input.offset();
  yield* need(input, 4);
  const d = input.buf;
  const p = input.pos;
  if (d[p] !== 0x42 || d[p + 1] !== 0x5a || d[p + 2] !== 0x68) {
    throw new DecodeError(later ? 'garbage after bzip2 data' : 'not a bzip2 stream (bad magic)', start);
  }
  const level = d[p + 3] - 0x30;
  if (level < 1 || level > 9) throw new DecodeError(`bad bzip2 block size '${String.fromCharCode(d[p + 3])}'`, start + 3);
  input.pos += 4;
  const blockMax = level * 100000;
  const work: Work = {
    tt: new Uint32Array(blockMax),
    selectors: new Uint8Array(32768),
    lengths: new Uint8Array(MAX_GROUPS * MAX_ALPHA),
    fast: new Uint32Array(MAX_GROUPS << FAST_BITS),
    limit: new Int32Array(MAX_GROUPS * (MAX_CODE_LEN + 2)),
    base: new Int32Array(MAX_GROUPS * (MAX_CODE_LEN + 2)),
    perm: new Uint16Array(MAX_GROUPS * MAX_ALPHA),
    minLen: new Uint8Array(MAX_GROUPS),
    byteCount: new Int32Array(256),
    mtf: new Uint8Array(256),
    walk: { p: 0, n: 0, last: -1, same: 0, crc: -1 },
  };
  const br = new BitReader(input.buf, input.pos, input.end);
  let combined = 0;
  for (;;) {
    // A whole block's input ahead (or the rest of the input): the bit reader never waits.
    input.pos = br.pos;
    while (input.end - input.pos < BLOCK_INPUT_MAX && !input.eof) yield;
    br.data = input.buf;
    br.pos = input.pos;
    br.end = input.end;
    const base = input.offset(0);
    const at = base + br.offset;
    const m1 = br.bits(24);
    const m2 = br.bits(24);
    const blockCRC = br.bits(16) * 65536 + br.bits(16);
    br.checkOverrun();
    if (m1 === 0x314159 && m2 === 0x265359) {
      sink.len = 0;
      let crc: number;
      try {
        crc = decodeBlock(br, work, blockMax, sink);
      } catch (e) {
        // Block-relative offsets are positions in the input buffer: make them absolute.
        if (e instanceof DecodeError) throw new DecodeError(e.message, base + e.offset, e.kind);
        throw e;
      }
      if (crc !== blockCRC) throw new DecodeError('bzip2 block CRC mismatch (data corrupt)', at);
      combined = (((combined << 1) | (combined >>> 31)) ^ crc) >>> 0;
      if (sink.len) emit(sink.buf.subarray(0, sink.len));
    } else if (m1 === 0x177245 && m2 === 0x385090) {
      if (blockCRC !== combined) throw new DecodeError('bzip2 stream CRC mismatch (data corrupt)', at);
      br.align();
      input.pos = br.offset;
      return;
    } else {
      throw new DecodeError('corrupt bzip2 block magic', at);
    }
  }
}

/** One block: appends its bytes to the sink and returns their CRC. */
function decodeBlock(br: BitReader, w: Work, blockMax: number, sink: ByteSink): number {
  const blockAt = br.offset;
  if (br.bits(1)) throw new DecodeError('randomised bzip2 blocks (bzip2 < 0.9.5) are not supported', blockAt, 'unsupported');
  const origPtr = br.bits(24);

  // Symbol map: which of the 256 byte values occur, in 16 groups of 16.
  const symToByte = new Uint8Array(256);
  let symTotal = 0;
  const used = br.bits(16);
  for (let i = 0; i < 16; i++) {
    if (used & (0x8000 >>> i)) {
      const bits = br.bits(16);
      for (let j = 0; j < 16; j++) if (bits & (0x8000 >>> j)) symToByte[symTotal++] = i * 16 + j;
    }
  }
  if (symTotal === 0) throw new DecodeError('corrupt bzip2 block (no symbols)', blockAt);
  const alphaSize = symTotal + 2;

  const groupCount = br.bits(3);
  if (groupCount < 2 || groupCount > MAX_GROUPS) throw new DecodeError('corrupt bzip2 block (group count)', blockAt);
  const nSelectors = br.bits(15);
  if (nSelectors === 0) throw new DecodeError('corrupt bzip2 block (no selectors)', blockAt);
  // Selectors, MTF-coded in unary.
  const mtfGroups = [0, 1, 2, 3, 4, 5];
  const selectors = w.selectors;
  for (let i = 0; i < nSelectors; i++) {
    let j = 0;
    while (br.bits(1)) {
      if (++j >= groupCount) throw new DecodeError('corrupt bzip2 selector', br.offset);
    }
    const g = mtfGroups[j];
    for (; j > 0; j--) mtfGroups[j] = mtfGroups[j - 1];
    mtfGroups[0] = g;
    selectors[i] = g;
  }
  br.checkOverrun();

  // Code lengths (delta-coded), then canonical Huffman tables per group.
  const lengths = w.lengths;
  for (let g = 0; g < groupCount; g++) {
    let len = br.bits(5);
    for (let s = 0; s < alphaSize; s++) {
      for (;;) {
        if (len < 1 || len > MAX_CODE_LEN) throw new DecodeError('corrupt bzip2 Huffman code length', br.offset);
        if (!br.bits(1)) break;
        len += br.bits(1) ? -1 : 1;
      }
      lengths[g * MAX_ALPHA + s] = len;
    }
    buildTable(w, g, alphaSize, br.offset);
  }
  br.checkOverrun();

  const count = decodeSymbols(br, w, nSelectors, alphaSize, symToByte, blockMax);
  if (origPtr >= count) throw new DecodeError('corrupt bzip2 block (origPtr out of range)', blockAt);
  inverseBwt(w.tt, count, w.byteCount);

  // Walk it into the sink, growing it when a run of repeats needs room.
  const walk = w.walk;
  walk.p = w.tt[origPtr] >>> 8;
  walk.n = 0;
  walk.last = -1;
  walk.same = 0;
  walk.crc = -1;
  sink.reserve(count + (count >>> 2) + 256);
  for (;;) {
    sink.len = walkBlock(w.tt, count, walk, sink.buf, sink.len);
    if (walk.n >= count) break;
    sink.reserve(Math.max(1 << 16, (count - walk.n) * 2));
  }
  return ~walk.crc >>> 0;
}

/**
 * Huffman symbols to MTF/RLE2-decoded bytes in w.tt (one per entry), counting each byte value
 * in w.byteCount. RUNA/RUNB are runs of the front MTF byte, in bijective base 2. Returns the
 * block length.
 */
function decodeSymbols(br: BitReader, w: Work, nSelectors: number, alphaSize: number, symToByte: Uint8Array, blockMax: number): number {
  const tt = w.tt;
  const byteCount = w.byteCount;
  byteCount.fill(0);
  const mtf = w.mtf;
  for (let i = 0; i < 256; i++) mtf[i] = i;
  const selectors = w.selectors;
  const fast = w.fast;
  const limit = w.limit;
  const base = w.base;
  const perm = w.perm;
  const minLens = w.minLen;
  const data = br.data;
  const dataLen = br.end;
  let bitBuf = br.buf;
  let bitCount = br.count;
  let pos = br.pos;
  const eob = alphaSize - 1;
  let count = 0;
  let run = 0;
  let runBit = 1;
  let groupLeft = 0;
  let selectorIndex = 0;
  let fastBase = 0;
  let tableBase = 0;
  let permBase = 0;
  let minLen = 0;
  for (;;) {
    if (groupLeft === 0) {
      if (selectorIndex >= nSelectors) throw new DecodeError('corrupt bzip2 block (selectors run out)', pos);
      if (pos - (bitCount >> 3) > dataLen) throw new DecodeError('truncated', dataLen, 'truncated');
      const g = selectors[selectorIndex++];
      fastBase = g << FAST_BITS;
      tableBase = g * (MAX_CODE_LEN + 2);
      permBase = g * MAX_ALPHA;
      minLen = minLens[g];
      groupLeft = GROUP_SIZE;
    }
    groupLeft--;
    while (bitCount < 24) {
      bitBuf = (bitBuf << 8) | (pos < dataLen ? data[pos] : 0);
      pos++;
      bitCount += 8;
    }
    let sym: number;
    const e = fast[fastBase + ((bitBuf >>> (bitCount - FAST_BITS)) & ((1 << FAST_BITS) - 1))];
    if (e !== 0) {
      bitCount -= e & 31;
      sym = e >>> 5;
    } else {
      let len = FAST_BITS + 1 > minLen ? FAST_BITS + 1 : minLen;
      const peek = (bitBuf >>> (bitCount - MAX_CODE_LEN)) & ((1 << MAX_CODE_LEN) - 1);
      let code = peek >>> (MAX_CODE_LEN - len);
      while (len <= MAX_CODE_LEN && code > limit[tableBase + len]) {
        len++;
        code = peek >>> (MAX_CODE_LEN - len);
      }
      if (len > MAX_CODE_LEN) throw new DecodeError('corrupt bzip2 Huffman code', pos);
      const idx = code - base[tableBase + len];
      if (idx < 0 || idx >= alphaSize) throw new DecodeError('corrupt bzip2 Huffman code', pos);
      sym = perm[permBase + idx];
      bitCount -= len;
    }
    if (sym <= 1) {
      // RUNA (0) adds runBit, RUNB (1) adds 2 * runBit.
      run += runBit << sym;
      runBit <<= 1;
      if (run > blockMax) throw new DecodeError('corrupt bzip2 block (run too long)', pos);
      continue;
    }
    if (run > 0) {
      if (count + run > blockMax) throw new DecodeError('corrupt bzip2 block (larger than its level)', pos);
      const b = symToByte[mtf[0]];
      byteCount[b] += run;
      tt.fill(b, count, count + run);
      count += run;
      run = 0;
      runBit = 1;
    }
    if (sym === eob) break;
    if (count >= blockMax) throw new DecodeError('corrupt bzip2 block (larger than its level)', pos);
    // MTF: move index sym - 1 to the front.
    let k = sym - 1;
    const v = mtf[k];
    for (; k > 0; k--) mtf[k] = mtf[k - 1];
    mtf[0] = v;
    const b = symToByte[v];
    byteCount[b]++;
    tt[count++] = b;
  }
  br.buf = bitBuf;
  br.count = bitCount;
  br.pos = pos;
  br.checkOverrun();
  return count;
}

/** tt[i] low byte = the byte; after this, high 24 bits = the index of the next byte. */
function inverseBwt(tt: Uint32Array, count: number, byteCount: Int32Array): void {
  const cum = new Int32Array(256);
  for (let i = 0, sum = 0; i < 256; i++) {
    cum[i] = sum;
    sum += byteCount[i];
  }
  for (let i = 0; i < count; i++) {
    const b = tt[i] & 0xff;
    tt[cum[b]++] |= i << 8;
  }
}

/** Where walkBlock stopped: it resumes there once the caller made room. */
interface WalkState {
  p: number;
  n: number;
  last: number;
  same: number;
  crc: number;
}

/**
 * Follow the BWT chain, undoing RLE1 (four equal bytes, then a count of further repeats) and
 * computing the block CRC, into out[op..] while at least 256 bytes of room remain. Returns the
 * new output position; state.n < count means it stopped for room.
 */
function walkBlock(tt: Uint32Array, count: number, state: WalkState, out: Uint8Array, op: number): number {
  const room = out.length - 256;
  let p = state.p;
  let n = state.n;
  let last = state.last;
  let same = state.same;
  let crc = state.crc;
  const table = CRC_TABLE;
  for (; n < count && op < room; n++) {
    const t = tt[p];
    const b = t & 0xff;
    p = t >>> 8;
    if (same === 4) {
      for (let k = 0; k < b; k++) {
        out[op++] = last;
        crc = (crc << 8) ^ table[((crc >>> 24) ^ last) & 0xff];
      }
      same = 0;
      last = -1;
      continue;
    }
    out[op++] = b;
    crc = (crc << 8) ^ table[((crc >>> 24) ^ b) & 0xff];
    if (b === last) {
      same++;
    } else {
      last = b;
      same = 1;
    }
  }
  state.p = p;
  state.n = n;
  state.last = last;
  state.same = same;
  state.crc = crc;
  return op;
}

/** Canonical Huffman decoding tables for group g from its code lengths. */
function buildTable(w: Work, g: number, alphaSize: number, offset: number): void {
  const lengths = w.lengths;
  const lbase = g * MAX_ALPHA;
  const tbase = g * (MAX_CODE_LEN + 2);
  let minLen = 32;
  let maxLen = 0;
  for (let s = 0; s < alphaSize; s++) {
    const l = lengths[lbase + s];
    if (l > maxLen) maxLen = l;
    if (l < minLen) minLen = l;
  }
  // perm: symbols ordered by code length.
  let pp = 0;
  for (let len = minLen; len <= maxLen; len++) {
    for (let s = 0; s < alphaSize; s++) if (lengths[lbase + s] === len) w.perm[lbase + pp++] = s;
  }
  const countOf = new Int32Array(MAX_CODE_LEN + 2);
  for (let s = 0; s < alphaSize; s++) countOf[lengths[lbase + s]]++;
  // limit[len] = last code of that length; base[len] = first code minus its index in perm.
  let code = 0;
  let index = 0;
  for (let len = 1; len <= MAX_CODE_LEN; len++) {
    w.base[tbase + len] = code - index;
    code += countOf[len];
    index += countOf[len];
    w.limit[tbase + len] = code - 1;
    if (code > 1 << len) throw new DecodeError('corrupt bzip2 Huffman table (oversubscribed)', offset);
    code <<= 1;
  }
  w.minLen[g] = minLen;
  // Fast table for codes of at most FAST_BITS bits.
  const fast = w.fast;
  const fbase = g << FAST_BITS;
  fast.fill(0, fbase, fbase + (1 << FAST_BITS));
  for (let len = minLen; len <= FAST_BITS && len <= maxLen; len++) {
    const first = w.limit[tbase + len] - countOf[len] + 1;
    for (let c = first; c <= w.limit[tbase + len]; c++) {
      const sym = w.perm[lbase + c - w.base[tbase + len]];
      const shift = FAST_BITS - len;
      const from = fbase + (c << shift);
      fast.fill((sym << 5) | len, from, from + (1 << shift));
    }
  }
}
