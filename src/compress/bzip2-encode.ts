/**
 * bzip2 encoding: one standard stream as bzip2 1.0.8 writes it, readable by bzip2 itself and by
 * the kernel's lib/decompress_bunzip2.c. 'BZh' + level, then per block of input: RLE1 (runs of
 * 4-255 equal bytes as four bytes and a count), the Burrows-Wheeler transform of the cyclic
 * rotations, move-to-front with RUNA/RUNB zero runs and an end-of-block symbol, 2-6 Huffman
 * tables (code lengths at most 17, as bzip2 limits them) chosen per 50 symbols, then the
 * end-of-stream magic and the combined CRC.
 *
 * The BWT sorts rotations with SA-IS (linear time, so all-zero or periodic blocks cost no more
 * than any other): the block is first rotated to its least rotation, after which the order of
 * its suffixes (with an end marker below every byte) is an order of its rotations.
 */

import { CRC_TABLE } from './bzip2.js';

const MAX_GROUPS = 6;
const MAX_ALPHA = 258;
const MAX_CODE_LEN = 17;
const GROUP_SIZE = 50;
const ITERATIONS = 4;


/** MSB-first bit writer into a buffer grown by ensure() before each block. */
class BitWriter {
  buf: Uint8Array;
  pos = 0;
  acc = 0;
  count = 0;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
  }

  /** Room for `bytes` more bytes. */
  ensure(bytes: number): void {
    if (this.pos + bytes + 8 <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + bytes + 8));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** The low n (<= 24) bits of v. */
  bits(n: number, v: number): void {
    this.acc = (this.acc << n) | v;
    this.count += n;
    while (this.count >= 8) {
      this.count -= 8;
      this.buf[this.pos++] = this.acc >>> this.count;
    }
  }

  u32(v: number): void {
    this.bits(16, (v >>> 16) & 0xffff);
    this.bits(16, v & 0xffff);
  }

  /** Pad the last byte with zero bits and return the bytes written. */
  finish(): Uint8Array {
    if (this.count > 0) this.bits(8 - this.count, 0);
    return this.buf.slice(0, this.pos);
  }
}

/** Arrays for one stream, sized for its level and reused across its blocks. */
interface Work {
  /** RLE1 output: the block the BWT sees. */
  block: Uint8Array;
  /** The block rotated to its least rotation, widened for SA-IS. */
  text: Int32Array;
  sa: Int32Array;
  /** BWT output, then rewritten as MTF/RLE2 symbols in syms. */
  bwt: Uint8Array;
  syms: Uint16Array;
  selectors: Uint8Array;
  /** Per table: code length, code, symbol counts (stride MAX_ALPHA). */
  lengths: Uint8Array;
  codes: Int32Array;
  freqs: Int32Array;
}

/**
 * Compress `data` as one bzip2 stream. `level` is the block size in units of 100 000 bytes
 * (1-9, as `bzip2 -1` .. `-9`); anything else is a RangeError.
 */
export function encodeBzip2(data: Uint8Array, level = 9, onProgress?: (done: number) => void): Uint8Array {
  if (!Number.isInteger(level) || level < 1 || level > 9) throw new RangeError(`bzip2 level must be 1-9, not ${level}`);
  // bzip2 stops filling a block at this many RLE1 bytes; the decoder allows level * 100000.
  const blockLimit = level * 100000 - 19;
  // RLE1 can grow its input by a quarter (four equal bytes take five).
  const cap = Math.min(blockLimit, data.length + Math.ceil(data.length / 4) + 8);
  const work: Work = {
    block: new Uint8Array(cap),
    text: new Int32Array(cap),
    sa: new Int32Array(cap),
    bwt: new Uint8Array(cap),
    syms: new Uint16Array(cap + 1),
    selectors: new Uint8Array(Math.ceil((cap + 1) / GROUP_SIZE)),
    lengths: new Uint8Array(MAX_GROUPS * MAX_ALPHA),
    codes: new Int32Array(MAX_GROUPS * MAX_ALPHA),
    freqs: new Int32Array(MAX_GROUPS * MAX_ALPHA),
  };
  const w = new BitWriter(Math.max(64, (data.length >>> 1) + 1024));
  w.bits(24, 0x425a68); // 'BZh'
  w.bits(8, 0x30 + level);
  let combined = 0;
  let pos = 0;
  while (pos < data.length) {
    const start = pos;
    const rle = rle1(data, pos, work.block, Math.min(blockLimit, work.block.length)); // never past the buffer
    pos = rle.end;
    const crc = blockCrc(data, start, pos);
    combined = (((combined << 1) | (combined >>> 31)) ^ crc) >>> 0;
    writeBlock(w, work, rle.length, crc);
    onProgress?.(pos);
  }
  w.ensure(16);
  w.bits(24, 0x177245); // sqrt(pi)
  w.bits(24, 0x385090);
  w.u32(combined);
  return w.finish();
}

/** CRC of data[start..end) as bzip2 computes it (of the bytes before RLE1). */
function blockCrc(data: Uint8Array, start: number, end: number): number {
  const table = CRC_TABLE;
  let crc = -1;
  for (let i = start; i < end; i++) crc = (crc << 8) ^ table[((crc >>> 24) ^ data[i]!) & 0xff]!;
  return ~crc >>> 0;
}

/**
 * RLE1 from data[pos..] into out until the next run would take it past `limit` bytes: a run of
 * 4-255 equal bytes becomes those four bytes and a count of the rest (0-251); longer runs are
 * cut at 255. Returns the bytes written and where the input stopped.
 */
function rle1(data: Uint8Array, pos: number, out: Uint8Array, limit: number): { length: number; end: number } {
  const n = data.length;
  let i = pos;
  let o = 0;
  while (i < n) {
    const b = data[i]!;
    const stop = Math.min(n, i + 255);
    let j = i + 1;
    while (j < stop && data[j] === b) j++;
    const run = j - i;
    if (run < 4) {
      if (o + run > limit) break;
      for (let k = 0; k < run; k++) out[o++] = b;
    } else {
      if (o + 5 > limit) break;
      out[o] = b;
      out[o + 1] = b;
      out[o + 2] = b;
      out[o + 3] = b;
      out[o + 4] = run - 4;
      o += 5;
    }
    i = j;
  }
  return { length: o, end: i };
}

/** One block of m RLE1 bytes (work.block) with the CRC of its input. */
function writeBlock(w: BitWriter, work: Work, m: number, crc: number): void {
  const origPtr = bwt(work, m);

  // The byte values in use, numbered in order.
  const inUse = new Uint8Array(256);
  const bwtOut = work.bwt;
  for (let i = 0; i < m; i++) inUse[bwtOut[i]!] = 1;
  const seqOf = new Uint8Array(256);
  let nInUse = 0;
  for (let b = 0; b < 256; b++) if (inUse[b]) seqOf[b] = nInUse++;
  const alphaSize = nInUse + 2;

  const freq = new Int32Array(MAX_ALPHA);
  const nSyms = mtfRle2(work, m, seqOf, nInUse, freq);
  const nGroups = nSyms < 200 ? 2 : nSyms < 600 ? 3 : nSyms < 1200 ? 4 : nSyms < 2400 ? 5 : 6;
  const nSelectors = Math.ceil(nSyms / GROUP_SIZE);
  chooseTables(work, nSyms, alphaSize, nGroups, freq);

  // Worst case: every code-length delta and every code at its longest.
  w.ensure(64 + 34 + nSelectors + nGroups * (1 + alphaSize * 5) + Math.ceil((nSyms * MAX_CODE_LEN) / 8));
  w.bits(24, 0x314159); // pi
  w.bits(24, 0x265359);
  w.u32(crc);
  w.bits(1, 0); // not randomised
  w.bits(24, origPtr);

  // Symbol map: 16 bits for which ranges of 16 values are used, then 16 bits per used range.
  let ranges = 0;
  for (let r = 0; r < 16; r++) {
    for (let k = 0; k < 16; k++) if (inUse[r * 16 + k]) ranges |= 0x8000 >>> r;
  }
  w.bits(16, ranges);
  for (let r = 0; r < 16; r++) {
    if (!(ranges & (0x8000 >>> r))) continue;
    let bits = 0;
    for (let k = 0; k < 16; k++) if (inUse[r * 16 + k]) bits |= 0x8000 >>> k;
    w.bits(16, bits);
  }

  w.bits(3, nGroups);
  w.bits(15, nSelectors);
  // Selectors, move-to-front coded in unary (j ones and a zero).
  const order = [0, 1, 2, 3, 4, 5];
  const selectors = work.selectors;
  for (let i = 0; i < nSelectors; i++) {
    const g = selectors[i]!;
    let j = 0;
    while (order[j] !== g) j++;
    w.bits(j + 1, (1 << (j + 1)) - 2);
    for (; j > 0; j--) order[j] = order[j - 1]!;
    order[0] = g;
  }

  // Code lengths: a 5-bit start, then per symbol "10" (+1) / "11" (-1) steps and a "0".
  const lengths = work.lengths;
  for (let g = 0; g < nGroups; g++) {
    const base = g * MAX_ALPHA;
    let cur = lengths[base]!;
    w.bits(5, cur);
    for (let s = 0; s < alphaSize; s++) {
      const len = lengths[base + s]!;
      for (; cur < len; cur++) w.bits(2, 2);
      for (; cur > len; cur--) w.bits(2, 3);
      w.bits(1, 0);
    }
  }

  writeSymbols(w, work, nSyms);
}

/** The symbols, each group of 50 in its selector's table. */
function writeSymbols(w: BitWriter, work: Work, nSyms: number): void {
  const syms = work.syms;
  const selectors = work.selectors;
  const lengths = work.lengths;
  const codes = work.codes;
  const out = w.buf;
  let op = w.pos;
  let acc = w.acc;
  let count = w.count;
  for (let gs = 0, sel = 0; gs < nSyms; gs += GROUP_SIZE, sel++) {
    const base = selectors[sel]! * MAX_ALPHA;
    const ge = Math.min(nSyms, gs + GROUP_SIZE);
    for (let i = gs; i < ge; i++) {
      const s = base + syms[i]!;
      const len = lengths[s]!;
      // count <= 7 here and len <= 17, so acc's low 24 bits hold everything pending.
      acc = (acc << len) | codes[s]!;
      count += len;
      while (count >= 8) {
        count -= 8;
        out[op++] = acc >>> count;
      }
    }
  }
  w.pos = op;
  w.acc = acc;
  w.count = count;
}

/**
 * Move-to-front over the BWT output (byte values renumbered 0..nInUse-1), zero runs as
 * RUNA (0) / RUNB (1) digits of bijective base 2, other positions p as p + 1, then EOB
 * (nInUse + 1). Writes work.syms, counts each symbol in freq, returns the symbol count.
 */
function mtfRle2(work: Work, m: number, seqOf: Uint8Array, nInUse: number, freq: Int32Array): number {
  const src = work.bwt;
  const syms = work.syms;
  const order = new Uint8Array(256);
  for (let i = 0; i < nInUse; i++) order[i] = i;
  let o = 0;
  let zeros = 0;
  for (let i = 0; i < m; i++) {
    const v = seqOf[src[i]!]!;
    if (order[0] === v) {
      zeros++;
      continue;
    }
    if (zeros > 0) {
      o = writeRun(syms, o, zeros, freq);
      zeros = 0;
    }
    // Shift the list right up to v's slot, then put v in front.
    let j = 1;
    let prev = order[0]!;
    let cur = order[1]!;
    order[1] = prev;
    while (cur !== v) {
      j++;
      prev = cur;
      cur = order[j]!;
      order[j] = prev;
    }
    order[0] = v;
    syms[o++] = j + 1;
    freq[j + 1]!++;
  }
  if (zeros > 0) o = writeRun(syms, o, zeros, freq);
  syms[o++] = nInUse + 1;
  freq[nInUse + 1]!++;
  return o;
}

/** A run of `n` (>= 1) zeros as RUNA/RUNB, least significant digit first. */
function writeRun(syms: Uint16Array, o: number, n: number, freq: Int32Array): number {
  let r = n - 1;
  for (;;) {
    const s = r & 1;
    syms[o++] = s;
    freq[s]!++;
    if (r < 2) return o;
    r = (r - 2) >>> 1;
  }
}

/**
 * Pick nGroups Huffman tables and a table per 50 symbols (work.selectors): start from tables
 * that each favour a band of symbols holding about an equal share of them, then a few rounds
 * of choosing the cheapest table per group and rebuilding each table from the symbols it got.
 * Leaves work.lengths and work.codes set for the final choice.
 */
function chooseTables(work: Work, nSyms: number, alphaSize: number, nGroups: number, freq: Int32Array): void {
  const lengths = work.lengths;
  const freqs = work.freqs;
  const syms = work.syms;
  const selectors = work.selectors;

  // Initial bands: cost 0 inside, 15 outside.
  let rest = nSyms;
  let lo = 0;
  for (let g = 0; g < nGroups; g++) {
    const target = rest / (nGroups - g);
    let hi = lo - 1;
    let taken = 0;
    if (g === nGroups - 1) {
      hi = alphaSize - 1;
      taken = rest;
    } else {
      while (taken < target && hi < alphaSize - 1) taken += freq[++hi]!;
    }
    for (let s = 0; s < alphaSize; s++) lengths[g * MAX_ALPHA + s] = s >= lo && s <= hi ? 0 : 15;
    rest -= taken;
    lo = hi + 1;
  }

  // Costs of up to six tables summed two per word (each sum < 50 * 17 < 2^16).
  const packed = new Int32Array(3 * MAX_ALPHA);
  const cost = new Int32Array(MAX_GROUPS);
  for (let iter = 0; iter < ITERATIONS; iter++) {
    packed.fill(0);
    for (let g = 0; g < nGroups; g++) {
      const shift = g & 1 ? 0 : 16;
      const pb = (g >> 1) * MAX_ALPHA;
      for (let s = 0; s < alphaSize; s++) packed[pb + s]! |= lengths[g * MAX_ALPHA + s]! << shift;
    }
    freqs.fill(0);
    for (let gs = 0, sel = 0; gs < nSyms; gs += GROUP_SIZE, sel++) {
      const ge = Math.min(nSyms, gs + GROUP_SIZE);
      let c01 = 0;
      let c23 = 0;
      let c45 = 0;
      for (let i = gs; i < ge; i++) {
        const s = syms[i]!;
        c01 += packed[s]!;
        c23 += packed[MAX_ALPHA + s]!;
        c45 += packed[2 * MAX_ALPHA + s]!;
      }
      cost[0] = c01 >>> 16;
      cost[1] = c01 & 0xffff;
      cost[2] = c23 >>> 16;
      cost[3] = c23 & 0xffff;
      cost[4] = c45 >>> 16;
      cost[5] = c45 & 0xffff;
      let best = 0;
      for (let g = 1; g < nGroups; g++) if (cost[g]! < cost[best]!) best = g;
      selectors[sel] = best;
      const fb = best * MAX_ALPHA;
      for (let i = gs; i < ge; i++) freqs[fb + syms[i]!]!++;
    }
    for (let g = 0; g < nGroups; g++) codeLengths(freqs, g * MAX_ALPHA, alphaSize, lengths);
  }

  // Canonical codes: by length, then by symbol.
  const codes = work.codes;
  for (let g = 0; g < nGroups; g++) {
    const base = g * MAX_ALPHA;
    let code = 0;
    for (let len = 1; len <= MAX_CODE_LEN; len++) {
      for (let s = 0; s < alphaSize; s++) if (lengths[base + s] === len) codes[base + s] = code++;
      code <<= 1;
    }
  }
}

// Scratch for codeLengths: leaves and internal nodes, and a heap of node numbers.
const H_WEIGHT = new Float64Array(2 * MAX_ALPHA);
const H_PARENT = new Int32Array(2 * MAX_ALPHA);
const H_DEPTH = new Int32Array(2 * MAX_ALPHA);
const H_HEAP = new Int32Array(MAX_ALPHA + 1);
const H_FREQ = new Float64Array(MAX_ALPHA);

/**
 * Huffman code lengths (at most MAX_CODE_LEN) for counts freqs[base..base+alpha) into
 * lengths[base..]. Every symbol gets a code (an unseen one counts as 1). A weight is
 * count * 256 + subtree height, so equal counts merge the shallower trees first. When the
 * tree is too deep, the counts are halved (1 + count / 2) and it is built again, as bzip2 does.
 */
function codeLengths(freqs: Int32Array, base: number, alpha: number, lengths: Uint8Array): void {
  const weight = H_WEIGHT;
  const parent = H_PARENT;
  const depth = H_DEPTH;
  const heap = H_HEAP;
  const f = H_FREQ;
  for (let s = 0; s < alpha; s++) f[s] = Math.max(1, freqs[base + s]!);
  for (;;) {
    let size = 0;
    for (let s = 0; s < alpha; s++) {
      weight[s] = f[s]! * 256;
      size = heapPush(heap, weight, size, s);
    }
    let nodes = alpha;
    while (size > 1) {
      const a = heap[0]!;
      size = heapPop(heap, weight, size);
      const b = heap[0]!;
      size = heapPop(heap, weight, size);
      const wa = weight[a]!;
      const wb = weight[b]!;
      const height = Math.max(wa % 256, wb % 256) + 1;
      weight[nodes] = (wa - (wa % 256)) + (wb - (wb % 256)) + height;
      parent[a] = nodes;
      parent[b] = nodes;
      size = heapPush(heap, weight, size, nodes);
      nodes++;
    }
    // Parents are numbered above their children: depths from the root down.
    const root = nodes - 1;
    depth[root] = 0;
    for (let k = root - 1; k >= 0; k--) depth[k] = depth[parent[k]!]! + 1;
    let max = 0;
    for (let s = 0; s < alpha; s++) if (depth[s]! > max) max = depth[s]!;
    if (max <= MAX_CODE_LEN) {
      for (let s = 0; s < alpha; s++) lengths[base + s] = depth[s]!;
      return;
    }
    for (let s = 0; s < alpha; s++) f[s] = 1 + Math.floor(f[s]! / 2);
  }
}

function heapPush(heap: Int32Array, weight: Float64Array, size: number, node: number): number {
  let i = size;
  const wn = weight[node]!;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (weight[heap[p]!]! <= wn) break;
    heap[i] = heap[p]!;
    i = p;
  }
  heap[i] = node;
  return size + 1;
}

/** Remove heap[0]. */
function heapPop(heap: Int32Array, weight: Float64Array, size: number): number {
  const last = heap[--size]!;
  const wl = weight[last]!;
  let i = 0;
  for (;;) {
    let c = 2 * i + 1;
    if (c >= size) break;
    if (c + 1 < size && weight[heap[c + 1]!]! < weight[heap[c]!]!) c++;
    if (weight[heap[c]!]! >= wl) break;
    heap[i] = heap[c]!;
    i = c;
  }
  heap[i] = last;
  return size;
}

// ---- BWT --------------------------------------------------------------------------------

/**
 * The BWT of work.block[0..m) into work.bwt: for each rotation in sorted order, the byte before
 * it. Returns origPtr, the row of the rotation starting at 0.
 *
 * Rotating the block to its least rotation r makes it a power of a Lyndon word w. Then if one
 * suffix u of r is a proper prefix of another, v = u t, the rotations compare as r r r... against
 * t r r...; t is a suffix of r that is either a power of w (equal rotations, either order is
 * right) or starts with a proper suffix of w, which is greater than w and not a prefix of it, so
 * u's rotation is the smaller, as u sorts before v with an end marker. Where neither suffix is a
 * prefix of the other the orders agree anyway. So r's suffix array is a rotation order.
 */
function bwt(work: Work, m: number): number {
  const block = work.block;
  const out = work.bwt;
  const shift = leastRotation(block, m);
  const text = work.text;
  for (let i = 0; i < m; i++) {
    const k = i + shift;
    text[i] = block[k < m ? k : k - m]!;
  }
  const sa = work.sa;
  sais(text, sa, m, 256);
  // Row i is r's rotation sa[i], the block's rotation sa[i] + shift.
  const origin = shift === 0 ? 0 : m - shift;
  let origPtr = 0;
  for (let i = 0; i < m; i++) {
    const p = sa[i]!;
    if (p === origin) origPtr = i;
    out[i] = text[p === 0 ? m - 1 : p - 1]!;
  }
  return origPtr;
}

/** Start of the least rotation of s[0..n) (two candidates compared as far as they agree; O(n)). */
function leastRotation(s: Uint8Array, n: number): number {
  let i = 0;
  let j = 1;
  let k = 0;
  while (i < n && j < n && k < n) {
    let a = i + k;
    let b = j + k;
    if (a >= n) a -= n;
    if (b >= n) b -= n;
    const ca = s[a]!;
    const cb = s[b]!;
    if (ca === cb) {
      k++;
      continue;
    }
    // The loser and the k starts after it cannot begin a least rotation.
    if (ca > cb) i += k + 1;
    else j += k + 1;
    if (i === j) j++;
    k = 0;
  }
  return Math.min(i, j) % Math.max(n, 1);
}

/**
 * Suffix array of t[0..n) (values 0..k-1) into sa[0..n), by induced sorting (SA-IS, Nong, Zhang
 * and Chan 2009), with a virtual end marker below every value. Suffixes are S-type (smaller than
 * the next suffix) or L-type; sorting the leftmost S-types (LMS) of each S-run orders the rest.
 */
function sais(t: Int32Array, sa: Int32Array, n: number, k: number): void {
  if (n === 0) return;
  if (n === 1) {
    sa[0] = 0;
    return;
  }
  // ts[i] = t[i] * 2 + (1 if S-type): one random read gives both. The last suffix is L-type
  // (the end marker is below it).
  const ts = new Int32Array(n);
  ts[n - 1] = t[n - 1]! << 1;
  let s = 0;
  for (let i = n - 2; i >= 0; i--) {
    const a = t[i]!;
    const b = t[i + 1]!;
    s = a < b || (a === b && s === 1) ? 1 : 0;
    ts[i] = (a << 1) | s;
  }
  const counts = new Int32Array(k);
  for (let i = 0; i < n; i++) counts[t[i]!]!++;
  const bucket = new Int32Array(k);

  // Stage 1: LMS positions at their bucket ends, in text order; induce; LMS substrings come
  // out sorted.
  sa.fill(-1, 0, n);
  bucketEnds(counts, bucket, k);
  for (let i = 1; i < n; i++) {
    const v = ts[i]!;
    if ((v & 1) === 1 && (ts[i - 1]! & 1) === 0) sa[--bucket[v >> 1]!] = i;
  }
  induce(ts, sa, n, counts, bucket, k);

  // Gather the sorted LMS positions at the front.
  let n1 = 0;
  for (let i = 0; i < n; i++) {
    const p = sa[i]!;
    if (p > 0 && (ts[p]! & 1) === 1 && (ts[p - 1]! & 1) === 0) sa[n1++] = p;
  }
  // Name them: equal LMS substrings (same values and types up to the next LMS) share a name,
  // stored at sa[n1 + p / 2] (LMS positions are at least two apart).
  sa.fill(-1, n1, n);
  let names = 0;
  let prev = -1;
  for (let i = 0; i < n1; i++) {
    const p = sa[i]!;
    let differ = prev < 0;
    for (let d = 0; !differ; d++) {
      const a = p + d;
      const b = prev + d;
      if (a === n || b === n || ts[a] !== ts[b]) differ = true;
      else if (d > 0 && (ts[a]! & 1) === 1 && (ts[a - 1]! & 1) === 0) break; // both reached the next LMS
    }
    if (differ) {
      names++;
      prev = p;
    }
    sa[n1 + (p >> 1)] = names - 1;
  }

  // Stage 2: the reduced string of names, in text order; sort it (recursively if names repeat).
  const s1 = new Int32Array(n1);
  for (let i = n1, j = 0; i < n; i++) {
    const v = sa[i]!;
    if (v >= 0) s1[j++] = v;
  }
  const sa1 = new Int32Array(n1);
  if (names < n1) sais(s1, sa1, n1, names);
  else for (let i = 0; i < n1; i++) sa1[s1[i]!] = i;

  // Stage 3: LMS positions in sorted order at their bucket ends, then induce the rest.
  for (let i = 1, j = 0; i < n; i++) if ((ts[i]! & 1) === 1 && (ts[i - 1]! & 1) === 0) s1[j++] = i;
  sa.fill(-1, 0, n);
  bucketEnds(counts, bucket, k);
  for (let i = n1 - 1; i >= 0; i--) {
    const p = s1[sa1[i]!]!;
    sa[--bucket[ts[p]! >> 1]!] = p;
  }
  induce(ts, sa, n, counts, bucket, k);
}

function bucketEnds(counts: Int32Array, bucket: Int32Array, k: number): void {
  for (let c = 0, sum = 0; c < k; c++) {
    sum += counts[c]!;
    bucket[c] = sum;
  }
}

/** L-types left to right from bucket starts, then S-types right to left from bucket ends. */
function induce(ts: Int32Array, sa: Int32Array, n: number, counts: Int32Array, bucket: Int32Array, k: number): void {
  for (let c = 0, sum = 0; c < k; c++) {
    bucket[c] = sum;
    sum += counts[c]!;
  }
  // The end marker comes first; the suffix before it is L-type.
  sa[bucket[ts[n - 1]! >> 1]!++] = n - 1;
  for (let i = 0; i < n; i++) {
    const j = sa[i]! - 1;
    if (j < 0) continue;
    const v = ts[j]!;
    if ((v & 1) === 0) sa[bucket[v >> 1]!++] = j;
  }
  bucketEnds(counts, bucket, k);
  for (let i = n - 1; i >= 0; i--) {
    const j = sa[i]! - 1;
    if (j < 0) continue;
    const v = ts[j]!;
    if ((v & 1) === 1) sa[--bucket[v >> 1]!] = j;
  }
}
