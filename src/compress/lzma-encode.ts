/**
 * LZMA encoding: the range coder and literal/match model that src/compress/lzma.ts decodes, fed
 * by a hash-chain match finder with lazy parsing (the strategy of liblzma's "fast" mode), in two
 * containers: the .lzma "alone" format (one range-coder session, size in the header) and LZMA2
 * chunks for xz (≤ 2 MiB of input and ≤ 64 KiB of output each, the model carried across chunks,
 * a chunk that does not shrink stored raw).
 *
 * The whole input is in memory, so the input is the dictionary: a match may reach back up to
 * the dictionary size, and the chain table is a ring of that size.
 */

import {
  ALIGN,
  END_POS_MODEL_INDEX,
  IS_MATCH,
  IS_REP,
  IS_REP0_LONG,
  IS_REP_G0,
  IS_REP_G1,
  IS_REP_G2,
  LEN_CHOICE,
  LEN_CHOICE2,
  LEN_CODER,
  LEN_HIGH,
  LEN_LOW,
  LEN_MID,
  LITERAL,
  MATCH_LEN_MAX,
  MATCH_MIN_LEN as MATCH_LEN_MIN,
  NUM_ALIGN_BITS,
  POS_SLOT,
  REP_LEN_CODER,
  SPEC_POS,
} from './lzma.js';

/** lc=3, lp=0, pb=2: the properties every xz and lzma preset uses. */
const LC = 3;
const LP = 0;
const PB = 2;
export const LZMA_PROPS = (PB * 5 + LP) * 9 + LC;

const TOP = 1 << 24;

/** Match-finder effort per level 0-9: chain depth and "nice" length (stop searching at it). */
const LEVELS: readonly { depth: number; nice: number }[] = [
  { depth: 4, nice: 32 },
  { depth: 8, nice: 48 },
  { depth: 12, nice: 64 },
  { depth: 16, nice: 64 },
  { depth: 24, nice: 96 },
  { depth: 32, nice: 128 },
  { depth: 48, nice: 128 },
  { depth: 64, nice: 192 },
  { depth: 128, nice: 273 },
  { depth: 256, nice: 273 },
];
export const LZMA_LEVEL_MAX = LEVELS.length - 1;

/** Dictionary sizes per level, as xz's presets (1 MiB at 0 to 64 MiB at 9), capped by the input. */
const DICT_LOG = [20, 21, 22, 22, 23, 23, 23, 24, 25, 26];

export interface LzmaEncodeOptions {
  /** 0-9; default 6. */
  level?: number;
  /** Called with the bytes encoded so far, about every PROGRESS_BYTES (for a progress line). */
  onProgress?: (done: number) => void;
}

/** How often onProgress is called: a compare per symbol, a call per MiB. */
const PROGRESS_BYTES = 1 << 20;

/** The dictionary size to use (and record in the header) for `n` bytes at `level`. */
export function dictSizeFor(n: number, level: number): number {
  let size = 1 << DICT_LOG[level]!;
  // No need for a window larger than the input. Keep it ≥ 64 KiB, so that a .lzma header starts
  // 5d 00 00 — the three-byte magic file(1) and other sniffers look for, as xz always writes.
  while (size > 1 << 16 && size >>> 1 >= n) size >>>= 1;
  return size;
}

/**
 * Range encoder (LzmaSpec's CRangeEncoder): `low` is a 33-bit value (held in a double), bytes
 * that may still receive a carry wait in `cache` / `cacheSize`.
 */
class RangeEncoder {
  low = 0;
  range = 0xffffffff;
  cache = 0;
  cacheSize = 1;
  out: Uint8Array;
  pos = 0;

  constructor(capacity: number) {
    this.out = new Uint8Array(capacity);
  }

  reset(): void {
    this.low = 0;
    this.range = 0xffffffff;
    this.cache = 0;
    this.cacheSize = 1;
    this.pos = 0;
  }

  /** Bytes written so far plus those the flush still owes. */
  get pending(): number {
    return this.pos + this.cacheSize + 4;
  }

  private put(b: number): void {
    if (this.pos === this.out.length) {
      const grown = new Uint8Array(this.out.length * 2);
      grown.set(this.out);
      this.out = grown;
    }
    this.out[this.pos++] = b;
  }

  shiftLow(): void {
    const low = this.low;
    if (low < 0xff000000 || low >= 0x100000000) {
      const carry = low >= 0x100000000 ? 1 : 0;
      let temp = this.cache;
      do {
        this.put((temp + carry) & 0xff);
        temp = 0xff;
      } while (--this.cacheSize !== 0);
      this.cache = (low >>> 24) & 0xff;
    }
    this.cacheSize++;
    this.low = (low & 0x00ffffff) * 256;
  }

  flush(): void {
    for (let i = 0; i < 5; i++) this.shiftLow();
  }

  bit(probs: Uint16Array, i: number, bit: number): void {
    const p = probs[i]!;
    const bound = (this.range >>> 11) * p;
    if (bit === 0) {
      this.range = bound;
      probs[i] = p + ((2048 - p) >>> 5);
    } else {
      this.low += bound;
      this.range -= bound;
      probs[i] = p - (p >>> 5);
    }
    while (this.range < TOP) {
      this.range = (this.range * 256) >>> 0;
      this.shiftLow();
    }
  }

  direct(value: number, numBits: number): void {
    for (let i = numBits - 1; i >= 0; i--) {
      this.range >>>= 1;
      if ((value >>> i) & 1) this.low += this.range;
      while (this.range < TOP) {
        this.range = (this.range * 256) >>> 0;
        this.shiftLow();
      }
    }
  }

  tree(probs: Uint16Array, base: number, numBits: number, value: number): void {
    let m = 1;
    for (let i = numBits - 1; i >= 0; i--) {
      const b = (value >>> i) & 1;
      this.bit(probs, base + m, b);
      m = (m << 1) | b;
    }
  }

  reverseTree(probs: Uint16Array, base: number, numBits: number, value: number): void {
    let m = 1;
    for (let i = 0; i < numBits; i++) {
      const b = value & 1;
      value >>>= 1;
      this.bit(probs, base + m, b);
      m = (m << 1) | b;
    }
  }
}

/** The slot of a 0-based distance: 0-3 as is, then two slots per power of two. */
function posSlotOf(dist: number): number {
  if (dist < 4) return dist;
  const log = 31 - Math.clz32(dist);
  return (log << 1) | ((dist >>> (log - 1)) & 1);
}

/**
 * Model + match finder + parser over one input. `encodeUntil` emits symbols through a range
 * encoder until a position or output limit; LZMA2 calls it once per chunk, .lzma once.
 */
class LzmaEncoder {
  readonly probs = new Uint16Array(LITERAL + (0x300 << (LC + LP)));
  state = 0;
  rep0 = 0;
  rep1 = 0;
  rep2 = 0;
  rep3 = 0;
  /** Next position to encode. */
  pos = 0;

  // Match finder: last position of each 2- and 3-byte hash, heads of 4-byte hash chains, and
  // the chains as a ring of the window size.
  private readonly head2 = new Int32Array(1 << 16).fill(-1);
  private readonly head3 = new Int32Array(1 << 16).fill(-1);
  private readonly head4: Int32Array;
  private readonly hash4Shift: number;
  private readonly chain: Int32Array;
  private readonly windowMask: number;
  /** Positions below this are in the hash tables. */
  private inserted = 0;
  /** The main match found at `pos` (when `foundAt === pos`). */
  private foundAt = -1;
  private foundLen = 0;
  private foundDist = 0;
  private readonly depth: number;
  private readonly nice: number;
  /** The position at which onProgress is called next (Infinity without one). */
  private nextReport = Infinity;

  constructor(
    readonly data: Uint8Array,
    readonly dictSize: number,
    level: number,
    private readonly onProgress?: (done: number) => void,
  ) {
    if (onProgress) this.nextReport = PROGRESS_BYTES;
    const { depth, nice } = LEVELS[level]!;
    this.depth = depth;
    this.nice = nice;
    const hashBits = Math.max(12, Math.min(20, 32 - Math.clz32(Math.max(data.length, 1)) - 1));
    this.head4 = new Int32Array(1 << hashBits).fill(-1);
    this.hash4Shift = 32 - hashBits;
    this.chain = new Int32Array(dictSize);
    this.windowMask = dictSize - 1;
    this.resetModel();
  }

  resetModel(): void {
    this.probs.fill(1024);
    this.state = 0;
    this.rep0 = this.rep1 = this.rep2 = this.rep3 = 0;
  }

  /** Put positions up to (not including) `end` into the hash tables. */
  private insertUpTo(end: number): void {
    const d = this.data;
    const last = d.length - 4;
    const { head2, head3, head4, chain, windowMask, hash4Shift } = this;
    let p = this.inserted;
    for (; p < end && p <= last; p++) {
      const b0 = d[p]!;
      const b1 = d[p + 1]!;
      const b2 = d[p + 2]!;
      const v = b0 | (b1 << 8) | (b2 << 16);
      head2[b0 | (b1 << 8)] = p;
      head3[Math.imul(v, 0x9e3779b1) >>> 16] = p;
      const h4 = Math.imul(v | (d[p + 3]! << 24), 0x9e3779b1) >>> hash4Shift;
      chain[p & windowMask] = head4[h4]!;
      head4[h4] = p;
    }
    // The last three positions have no 4-byte hash; nothing can start a 4-byte match there.
    if (p < end) p = end;
    this.inserted = p;
  }

  /** Longest match at `p` (positions before p must be inserted; p is inserted here). */
  private findMatch(p: number): void {
    const d = this.data;
    const n = d.length;
    this.foundAt = p;
    this.foundLen = 0;
    this.foundDist = 0;
    const avail = Math.min(MATCH_LEN_MAX, n - p);
    if (avail < MATCH_LEN_MIN || p + 4 > n) {
      this.insertUpTo(p + 1);
      return;
    }
    const limit = this.dictSize;
    const b0 = d[p]!;
    const b1 = d[p + 1]!;
    const b2 = d[p + 2]!;
    const v = b0 | (b1 << 8) | (b2 << 16);
    // Read the candidates, then put p in the tables (what insertUpTo(p + 1) would do).
    if (this.inserted < p) this.insertUpTo(p);
    const h2 = b0 | (b1 << 8);
    const h3 = Math.imul(v, 0x9e3779b1) >>> 16;
    const h4 = Math.imul(v | (d[p + 3]! << 24), 0x9e3779b1) >>> this.hash4Shift;
    const c2 = this.head2[h2]!;
    const c3 = this.head3[h3]!;
    let c = this.head4[h4]!;
    if (this.inserted === p) {
      this.head2[h2] = p;
      this.head3[h3] = p;
      this.chain[p & this.windowMask] = c;
      this.head4[h4] = p;
      this.inserted = p + 1;
    } else {
      while (c >= p) c = this.chain[c & this.windowMask]!; // p was already in the tables
    }

    let bestLen = 1;
    let bestDist = 0;
    // Short candidates first: a 2- or 3-byte match close by.
    if (c2 >= 0 && c2 < p && p - c2 < limit && d[c2] === b0 && d[c2 + 1] === b1) {
      bestLen = 2;
      bestDist = p - c2;
      if (c3 !== c2 && c3 >= 0 && c3 < p && p - c3 < limit && d[c3] === b0 && d[c3 + 1] === b1 && d[c3 + 2] === b2) {
        bestLen = 3;
        bestDist = p - c3;
      } else if (d[c2 + 2] === b2 && avail >= 3) {
        bestLen = 3;
      }
    } else if (c3 >= 0 && c3 < p && p - c3 < limit && d[c3] === b0 && d[c3 + 1] === b1 && d[c3 + 2] === b2) {
      bestLen = 3;
      bestDist = p - c3;
    }
    if (bestLen >= 2) {
      let len = bestLen;
      const s = p - bestDist;
      while (len < avail && d[s + len] === d[p + len]) len++;
      bestLen = len;
    }

    const { chain, windowMask, nice } = this;
    const stopAt = Math.min(nice, avail);
    let depth = this.depth;
    while (c >= 0 && depth-- > 0 && bestLen < stopAt) {
      const dist = p - c;
      if (dist >= limit || dist <= 0) break;
      if (d[c + bestLen] === d[p + bestLen] && d[c] === b0 && d[c + 1] === b1) {
        let len = 2;
        while (len < avail && d[c + len] === d[p + len]) len++;
        if (len > bestLen) {
          bestLen = len;
          bestDist = dist;
        }
      }
      const next = chain[c & windowMask]!;
      if (next >= c) break; // overwritten by a newer position: the chain ends here
      c = next;
    }
    if (bestLen >= MATCH_LEN_MIN) {
      this.foundLen = bestLen;
      this.foundDist = bestDist;
    }
  }

  /** Length of the match at `p` against rep distance `rep` (0-based), up to `limit`. */
  private repLen(p: number, rep: number, limit: number): number {
    const s = p - rep - 1;
    if (s < 0) return 0;
    const d = this.data;
    let len = 0;
    while (len < limit && d[s + len] === d[p + len]) len++;
    return len;
  }

  /**
   * Encode from `pos` while `pos < endPos` and the coder's output stays under `outLimit` bytes
   * (each symbol writes at most a few dozen bytes, kept as a margin).
   */
  encodeUntil(rc: RangeEncoder, endPos: number, outLimit: number): void {
    const d = this.data;
    const n = d.length;
    const nice = this.nice;
    while (this.pos < endPos && rc.pending + 32 <= outLimit) {
      const p = this.pos;
      if (p >= this.nextReport) {
        this.nextReport = p + PROGRESS_BYTES;
        this.onProgress!(p);
      }
      const avail = Math.min(MATCH_LEN_MAX, endPos - p);
      if (avail < MATCH_LEN_MIN) {
        if (this.foundAt !== p) this.insertUpTo(p + 1);
        this.literalOrShortRep(rc, p);
        continue;
      }
      // Rep matches.
      let repBest = 0;
      let repIdx = 0;
      for (let r = 0; r < 4; r++) {
        const rep = r === 0 ? this.rep0 : r === 1 ? this.rep1 : r === 2 ? this.rep2 : this.rep3;
        const len = this.repLen(p, rep, avail);
        if (len > repBest) {
          repBest = len;
          repIdx = r;
        }
      }
      if (repBest >= nice) {
        this.insertUpTo(p + repBest);
        this.emitRep(rc, p, repIdx, repBest);
        continue;
      }
      if (this.foundAt !== p) this.findMatch(p);
      let mainLen = Math.min(this.foundLen, avail);
      const mainDist = this.foundDist;
      if (mainLen >= nice) {
        this.insertUpTo(p + mainLen);
        this.emitMatch(rc, p, mainDist - 1, mainLen);
        continue;
      }
      if (mainLen === 2 && mainDist > 128) mainLen = 0;
      if (repBest >= 2 && (repBest + 1 >= mainLen || (repBest + 2 >= mainLen && mainDist > 512) || (repBest + 3 >= mainLen && mainDist > 32768))) {
        this.insertUpTo(p + repBest);
        this.emitRep(rc, p, repIdx, repBest);
        continue;
      }
      if (mainLen < 2 || p + 1 >= n) {
        this.literalOrShortRep(rc, p);
        continue;
      }
      // Lazy evaluation: a better match one byte on makes this byte a literal.
      this.findMatch(p + 1);
      const nextLen = Math.min(this.foundLen, endPos - p - 1);
      const nextDist = this.foundDist;
      if (
        (nextLen >= mainLen && nextDist < mainDist) ||
        (nextLen === mainLen + 1 && !(mainDist >>> 7 > nextDist)) ||
        nextLen > mainLen + 1 ||
        (nextLen + 1 >= mainLen && mainLen >= 3 && nextDist >>> 7 > mainDist)
      ) {
        this.literalOrShortRep(rc, p);
        continue;
      }
      const limit = Math.max(mainLen - 1, 2);
      const nextLimit = Math.min(limit, endPos - p - 1);
      if (
        this.repLen(p + 1, this.rep0, nextLimit) >= limit ||
        this.repLen(p + 1, this.rep1, nextLimit) >= limit ||
        this.repLen(p + 1, this.rep2, nextLimit) >= limit ||
        this.repLen(p + 1, this.rep3, nextLimit) >= limit
      ) {
        this.literalOrShortRep(rc, p);
        continue;
      }
      this.insertUpTo(p + mainLen);
      this.emitMatch(rc, p, mainDist - 1, mainLen);
    }
  }

  private literalOrShortRep(rc: RangeEncoder, p: number): void {
    const d = this.data;
    const probs = this.probs;
    const posState = p & ((1 << PB) - 1);
    const state = this.state;
    const cur = d[p]!;
    // A short rep (one byte at rep0) costs a few bits where a literal costs about eight.
    if (p > this.rep0 && d[p - this.rep0 - 1] === cur) {
      rc.bit(probs, IS_MATCH + (state << 4) + posState, 1);
      rc.bit(probs, IS_REP + state, 1);
      rc.bit(probs, IS_REP_G0 + state, 0);
      rc.bit(probs, IS_REP0_LONG + (state << 4) + posState, 0);
      this.state = state < 7 ? 9 : 11;
      this.pos = p + 1;
      return;
    }
    rc.bit(probs, IS_MATCH + (state << 4) + posState, 0);
    const prev = p > 0 ? d[p - 1]! : 0;
    const base = LITERAL + 0x300 * (((p & ((1 << LP) - 1)) << LC) + (prev >>> (8 - LC)));
    let sym = 1;
    let i = 7;
    if (state >= 7) {
      // Matched literal: coded against the byte at rep0 until the first differing bit.
      const matchByte = d[p - this.rep0 - 1]!;
      for (; i >= 0; i--) {
        const matchBit = (matchByte >>> i) & 1;
        const bit = (cur >>> i) & 1;
        rc.bit(probs, base + ((1 + matchBit) << 8) + sym, bit);
        sym = (sym << 1) | bit;
        if (matchBit !== bit) {
          i--;
          break;
        }
      }
    }
    for (; i >= 0; i--) {
      const bit = (cur >>> i) & 1;
      rc.bit(probs, base + sym, bit);
      sym = (sym << 1) | bit;
    }
    this.state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
    this.pos = p + 1;
  }

  private encodeLength(rc: RangeEncoder, coder: number, len: number, posState: number): void {
    const probs = this.probs;
    let l = len - MATCH_LEN_MIN;
    if (l < 8) {
      rc.bit(probs, coder + LEN_CHOICE, 0);
      rc.tree(probs, coder + LEN_LOW + (posState << 3), 3, l);
      return;
    }
    rc.bit(probs, coder + LEN_CHOICE, 1);
    l -= 8;
    if (l < 8) {
      rc.bit(probs, coder + LEN_CHOICE2, 0);
      rc.tree(probs, coder + LEN_MID + (posState << 3), 3, l);
      return;
    }
    rc.bit(probs, coder + LEN_CHOICE2, 1);
    rc.tree(probs, coder + LEN_HIGH, 8, l - 8);
  }

  /** The end-of-stream marker: a match of length 2 at distance 0xFFFFFFFF. */
  endMarker(rc: RangeEncoder): void {
    this.emitMatch(rc, this.pos, 0xffffffff, MATCH_LEN_MIN);
  }

  /** A match at 0-based distance `dist`. */
  private emitMatch(rc: RangeEncoder, p: number, dist: number, len: number): void {
    const probs = this.probs;
    const posState = p & ((1 << PB) - 1);
    const state = this.state;
    rc.bit(probs, IS_MATCH + (state << 4) + posState, 1);
    rc.bit(probs, IS_REP + state, 0);
    this.encodeLength(rc, LEN_CODER, len, posState);
    const lenState = len - MATCH_LEN_MIN < 3 ? len - MATCH_LEN_MIN : 3;
    const slot = posSlotOf(dist);
    rc.tree(probs, POS_SLOT + (lenState << 6), 6, slot);
    if (slot >= 4) {
      const numDirectBits = (slot >>> 1) - 1;
      const base = ((2 | (slot & 1)) << numDirectBits) >>> 0;
      const reduced = dist - base;
      if (slot < END_POS_MODEL_INDEX) {
        rc.reverseTree(probs, SPEC_POS + base - slot, numDirectBits, reduced);
      } else {
        rc.direct(reduced >>> NUM_ALIGN_BITS, numDirectBits - NUM_ALIGN_BITS);
        rc.reverseTree(probs, ALIGN, NUM_ALIGN_BITS, reduced & ((1 << NUM_ALIGN_BITS) - 1));
      }
    }
    this.rep3 = this.rep2;
    this.rep2 = this.rep1;
    this.rep1 = this.rep0;
    this.rep0 = dist;
    this.state = state < 7 ? 7 : 10;
    this.pos = p + len;
  }

  /** A match at rep distance `idx` (0-3), length ≥ 2. */
  private emitRep(rc: RangeEncoder, p: number, idx: number, len: number): void {
    const probs = this.probs;
    const posState = p & ((1 << PB) - 1);
    const state = this.state;
    rc.bit(probs, IS_MATCH + (state << 4) + posState, 1);
    rc.bit(probs, IS_REP + state, 1);
    if (idx === 0) {
      rc.bit(probs, IS_REP_G0 + state, 0);
      rc.bit(probs, IS_REP0_LONG + (state << 4) + posState, 1);
    } else {
      rc.bit(probs, IS_REP_G0 + state, 1);
      let dist: number;
      if (idx === 1) {
        rc.bit(probs, IS_REP_G1 + state, 0);
        dist = this.rep1;
      } else {
        rc.bit(probs, IS_REP_G1 + state, 1);
        if (idx === 2) {
          rc.bit(probs, IS_REP_G2 + state, 0);
          dist = this.rep2;
        } else {
          rc.bit(probs, IS_REP_G2 + state, 1);
          dist = this.rep3;
          this.rep3 = this.rep2;
        }
        this.rep2 = this.rep1;
      }
      this.rep1 = this.rep0;
      this.rep0 = dist;
    }
    this.encodeLength(rc, REP_LEN_CODER, len, posState);
    this.state = state < 7 ? 8 : 11;
    this.pos = p + len;
  }
}

function checkLevel(level: number | undefined): number {
  const l = level ?? 6;
  if (!Number.isInteger(l) || l < 0 || l > LZMA_LEVEL_MAX) throw new RangeError(`LZMA level ${l}: must be 0-${LZMA_LEVEL_MAX}`);
  return l;
}

/**
 * The .lzma "alone" format: properties byte, dictionary size (u32 LE), uncompressed size (u64
 * LE, known here, so no end marker), then one range-coder session.
 */
export function encodeLzmaAlone(data: Uint8Array, options: LzmaEncodeOptions = {}): Uint8Array {
  const level = checkLevel(options.level);
  const dictSize = dictSizeFor(data.length, level);
  const enc = new LzmaEncoder(data, dictSize, level, options.onProgress);
  const rc = new RangeEncoder(Math.max(1024, data.length >>> 2));
  enc.encodeUntil(rc, data.length, Infinity);
  // Empty input: the kernel's unlzma allocates min(size, dictionary) bytes and fails on 0, so
  // say "size unknown" and end with the marker instead, as xz does for a stream.
  const empty = data.length === 0;
  if (empty) enc.endMarker(rc);
  rc.flush();
  const out = new Uint8Array(13 + rc.pos);
  const view = new DataView(out.buffer);
  out[0] = LZMA_PROPS;
  view.setUint32(1, dictSize, true);
  view.setUint32(5, empty ? 0xffffffff : data.length % 0x100000000, true);
  view.setUint32(9, empty ? 0xffffffff : Math.floor(data.length / 0x100000000), true);
  out.set(rc.out.subarray(0, rc.pos), 13);
  return out;
}

/** LZMA2 limits: a chunk holds ≤ 2 MiB of input and ≤ 64 KiB of LZMA output. */
const LZMA2_UNCOMPRESSED_MAX = 2 << 20;
const LZMA2_COMPRESSED_MAX = 64 << 10;

/** The LZMA2 dictionary-size byte: the smallest (2 | b&1) << (b/2 + 11) ≥ `dictSize`. */
export function lzma2DictByte(dictSize: number): number {
  for (let b = 0; b < 40; b++) {
    if ((2 | (b & 1)) * 2 ** ((b >>> 1) + 11) >= dictSize) return b;
  }
  return 40;
}

/**
 * An LZMA2 stream (chunks, then the 0x00 end byte). The first LZMA chunk resets the dictionary
 * and sets the properties; the model is carried from chunk to chunk. A chunk that would not
 * shrink is stored raw (in ≤ 64 KiB pieces), and the next LZMA chunk then resets the state,
 * because the encoder's model moved on while the decoder's did not.
 */
export function encodeLzma2(data: Uint8Array, options: LzmaEncodeOptions = {}): { stream: Uint8Array; dictSize: number } {
  const level = checkLevel(options.level);
  const dictSize = dictSizeFor(data.length, level);
  const enc = new LzmaEncoder(data, dictSize, level, options.onProgress);
  const rc = new RangeEncoder(LZMA2_COMPRESSED_MAX + 64);
  const parts: Uint8Array[] = [];
  let total = 0;
  const push = (b: Uint8Array): void => {
    parts.push(b);
    total += b.length;
  };
  let first = true; // the next chunk must reset the dictionary
  let needProps = true;
  let needStateReset = false;
  while (enc.pos < data.length) {
    const start = enc.pos;
    if (needStateReset) enc.resetModel();
    rc.reset();
    enc.encodeUntil(rc, Math.min(data.length, start + LZMA2_UNCOMPRESSED_MAX), LZMA2_COMPRESSED_MAX);
    rc.flush();
    const u = enc.pos - start;
    const c = rc.pos;
    if (c >= u) {
      for (let p = start; p < enc.pos; p += LZMA2_COMPRESSED_MAX) {
        const piece = data.subarray(p, Math.min(enc.pos, p + LZMA2_COMPRESSED_MAX));
        const h = new Uint8Array(3);
        h[0] = first ? 1 : 2;
        h[1] = (piece.length - 1) >>> 8;
        h[2] = (piece.length - 1) & 0xff;
        push(h);
        push(piece);
        first = false;
      }
      needStateReset = true;
      continue;
    }
    const control = first ? 0xe0 : needProps ? 0xc0 : needStateReset ? 0xa0 : 0x80;
    const h = new Uint8Array(control >= 0xc0 ? 6 : 5);
    h[0] = control | ((u - 1) >>> 16);
    h[1] = ((u - 1) >>> 8) & 0xff;
    h[2] = (u - 1) & 0xff;
    h[3] = (c - 1) >>> 8;
    h[4] = (c - 1) & 0xff;
    if (control >= 0xc0) h[5] = LZMA_PROPS;
    push(h);
    push(rc.out.slice(0, c));
    first = needProps = needStateReset = false;
  }
  push(new Uint8Array([0]));
  const stream = new Uint8Array(total);
  let o = 0;
  for (const part of parts) {
    stream.set(part, o);
    o += part.length;
  }
  return { stream, dictSize };
}
