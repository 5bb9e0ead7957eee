/**
 * LZMA decoding (the range coder and literal/match model of Igor Pavlov's LzmaSpec.cpp, the
 * reference decoder in the LZMA SDK), used by the .lzma "alone" format here and by LZMA2 in xz.
 *
 * The whole output lives in one buffer, so the output is the dictionary: a match may reach any
 * byte since the last dictionary reset, and nothing is copied into a separate window.
 */
import type { Codec } from './detect.js';
import { corrupt, DecodeError, fromDecodeError, truncated, u32le, unsupported } from './fail.js';
import { lzmaDictPlausible } from './detect.js';
import { type DecoderGenerator, type InputBuffer, more, need, PushDecoder } from './input.js';
import { ByteSink } from './sink.js';

/**
 * The model's constants and the probability layout (offsets of each group in one Uint16Array;
 * the encoder, lzma-encode.ts, shares them). A const enum, so tsc writes the numbers into
 * decode(): exported `const`s are read there through module cells with a TDZ check each time
 * (V8's optimized code), in the hottest loop of the decoder.
 */
const enum K {
  NUM_STATES = 12,
  POS_STATES_MAX = 16,
  MATCH_MIN_LEN = 2,
  END_POS_MODEL_INDEX = 14,
  NUM_FULL_DISTANCES = 128,
  NUM_ALIGN_BITS = 4,
  MATCH_LEN_MAX = 273,
  IS_MATCH = 0,
  IS_REP = IS_MATCH + (NUM_STATES << 4),
  IS_REP_G0 = IS_REP + NUM_STATES,
  IS_REP_G1 = IS_REP_G0 + NUM_STATES,
  IS_REP_G2 = IS_REP_G1 + NUM_STATES,
  IS_REP0_LONG = IS_REP_G2 + NUM_STATES,
  POS_SLOT = IS_REP0_LONG + (NUM_STATES << 4),
  SPEC_POS = POS_SLOT + (4 << 6),
  ALIGN = SPEC_POS + NUM_FULL_DISTANCES - END_POS_MODEL_INDEX,
  // A length decoder: choice, choice2, low[16][8], mid[16][8], high[256].
  LEN_CHOICE = 0,
  LEN_CHOICE2 = 1,
  LEN_LOW = 2,
  LEN_MID = LEN_LOW + (POS_STATES_MAX << 3),
  LEN_HIGH = LEN_MID + (POS_STATES_MAX << 3),
  LEN_SIZE = LEN_HIGH + 256,
  LEN_CODER = ALIGN + (1 << NUM_ALIGN_BITS),
  REP_LEN_CODER = LEN_CODER + LEN_SIZE,
  LITERAL = REP_LEN_CODER + LEN_SIZE,
}

export const NUM_STATES: number = K.NUM_STATES;
export const POS_STATES_MAX: number = K.POS_STATES_MAX;
export const MATCH_MIN_LEN: number = K.MATCH_MIN_LEN;
export const END_POS_MODEL_INDEX: number = K.END_POS_MODEL_INDEX;
export const NUM_FULL_DISTANCES: number = K.NUM_FULL_DISTANCES;
export const NUM_ALIGN_BITS: number = K.NUM_ALIGN_BITS;
/** The longest match: what `out` must have room for beyond the stop position. */
export const MATCH_LEN_MAX: number = K.MATCH_LEN_MAX;
export const IS_MATCH: number = K.IS_MATCH;
export const IS_REP: number = K.IS_REP;
export const IS_REP_G0: number = K.IS_REP_G0;
export const IS_REP_G1: number = K.IS_REP_G1;
export const IS_REP_G2: number = K.IS_REP_G2;
export const IS_REP0_LONG: number = K.IS_REP0_LONG;
export const POS_SLOT: number = K.POS_SLOT;
export const SPEC_POS: number = K.SPEC_POS;
export const ALIGN: number = K.ALIGN;
export const LEN_CHOICE: number = K.LEN_CHOICE;
export const LEN_CHOICE2: number = K.LEN_CHOICE2;
export const LEN_LOW: number = K.LEN_LOW;
export const LEN_MID: number = K.LEN_MID;
export const LEN_HIGH: number = K.LEN_HIGH;
export const LEN_SIZE: number = K.LEN_SIZE;
export const LEN_CODER: number = K.LEN_CODER;
export const REP_LEN_CODER: number = K.REP_LEN_CODER;
export const LITERAL: number = K.LITERAL;

/** What one call to LzmaDecoder.decode stopped on: the output limit, or the end marker. */
export const Stop = { Limit: 0, Marker: 1 } as const;
export type Stop = (typeof Stop)[keyof typeof Stop];

/** Why a decode was refused; the caller turns it into an ExtimgError naming its input. */
export class LzmaDataError extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly truncated = false,
  ) {
    super(message);
  }
}

export class LzmaDecoder {
  lc = 0;
  lp = 0;
  pb = 0;
  private probs = new Uint16Array(K.LITERAL + 0x300);

  // Range coder: range and code are unsigned 32-bit values held as int32 bit patterns, which V8
  // keeps in registers where uint32 values could become doubles; they are compared as
  // `(a >>> 0) < (b >>> 0)`, which V8 compiles to one unsigned compare (shorter code than
  // flipping both sign bits; ~4% faster on .deb data).
  private range = 0;
  private code = 0;
  input: Uint8Array = new Uint8Array(0);
  inPos = 0;
  inEnd = 0;

  // Model state.
  private state = 0;
  private rep0 = 0;
  private rep1 = 0;
  private rep2 = 0;
  private rep3 = 0;

  /** Output: `out[dictStart..outPos)` is the dictionary. */
  out: Uint8Array = new Uint8Array(0);
  outPos = 0;
  dictStart = 0;

  /** Set lc/lp/pb from the properties byte (pb * 5 + lp) * 9 + lc; false when out of range. */
  setProperties(props: number): boolean {
    if (props >= 9 * 5 * 5) return false;
    this.lc = props % 9;
    props = (props / 9) | 0;
    this.lp = props % 5;
    this.pb = (props / 5) | 0;
    const size = K.LITERAL + (0x300 << (this.lc + this.lp));
    if (this.probs.length !== size) this.probs = new Uint16Array(size);
    return true;
  }

  /** Forget the model (LZMA2 "state reset"). */
  resetState(): void {
    this.probs.fill(1024);
    this.state = 0;
    this.rep0 = this.rep1 = this.rep2 = this.rep3 = 0;
  }

  /** Start the range coder on `input[pos..end)`: a zero byte, then 4 bytes of code. */
  initRangeCoder(input: Uint8Array, pos: number, end: number): void {
    this.input = input;
    this.inEnd = end;
    if (pos + 5 > end) throw new LzmaDataError('truncated', end, true);
    if (input[pos] !== 0) throw new LzmaDataError('corrupt range coder start', pos);
    this.code = (input[pos + 1] << 24) | (input[pos + 2] << 16) | (input[pos + 3] << 8) | input[pos + 4];
    this.range = -1;
    this.inPos = pos + 5;
    if (this.code === this.range) throw new LzmaDataError('corrupt range coder start', pos);
  }

  /** True when the range coder ended cleanly (the encoder's flush leaves code 0). */
  get finishedOK(): boolean {
    return this.code === 0;
  }

  /**
   * Decode until `stopAt` bytes of output exist or, when `allowMarker`, the end marker comes.
   * No symbol may write past `hardLimit` (the declared size); the caller makes `out` hold
   * min(hardLimit, stopAt + MATCH_LEN_MAX) bytes. Input is `input[inPos..inEnd)`; reading past
   * inEnd is truncation. Bytes of `out` past the output position are scratch: a match copy may
   * write up to 3 bytes beyond its end (later output overwrites them).
   *
   * The range coder's bit decode is written out at each use, with the coder state in locals:
   * that is twice as fast in V8 as calling bit() (measured on a 62 MB tar).
   */
  decode(stopAt: number, hardLimit: number, allowMarker: boolean): Stop {
    const out = this.out;
    const outLen = out.length;
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    const probs = this.probs;
    const input = this.input;
    const inEnd = this.inEnd;
    const pbMask = (1 << this.pb) - 1;
    const lpMask = (1 << this.lp) - 1;
    const lc = this.lc;
    const dictStart = this.dictStart;
    let outPos = this.outPos;
    let state = this.state;
    let range = this.range;
    let code = this.code;
    let inPos = this.inPos;
    let rep0 = this.rep0;
    let rep1 = this.rep1;
    let rep2 = this.rep2;
    let rep3 = this.rep3;
    let stop: Stop = Stop.Limit;
    let i = 0;
    let p = 0;
    let bound = 0;
    while (outPos < stopAt) {
      if (inPos > inEnd) throw new LzmaDataError('truncated', inEnd, true);
      const pos = outPos - dictStart;
      const posState = pos & pbMask;

      // isMatch[state][posState]
      i = K.IS_MATCH + (state << 4) + posState;
      p = probs[i];
      bound = Math.imul(range >>> 11, p);
      if ((code >>> 0) < (bound >>> 0)) {
        range = bound;
        probs[i] = p + ((2048 - p) >>> 5);
        if (range >>> 24 === 0) {
          range <<= 8;
          code = (code << 8) | input[inPos++];
        }
        // Literal.
        if (outPos >= hardLimit) throw new LzmaDataError('data past the declared size', inPos);
        const prev = pos > 0 ? out[outPos - 1] : 0;
        const base = K.LITERAL + 0x300 * (((pos & lpMask) << lc) + (prev >>> (8 - lc)));
        // The literal's bits are close to coin flips, so they are decoded without branches (a
        // mispredicted branch per bit costs more than the arithmetic): `mask` is 0 for a 0 bit
        // and -1 for a 1 bit. range: bound or range - bound; code: code or code - bound; the
        // probability moves up by (2048 - p) >> 5 or down by p >> 5, written as one expression.
        // A matched literal (after a match) follows LzmaDec.c's `offs`: the match byte's bit
        // selects the probabilities until the first bit that differs, then offs is 0.
        let sym = 1;
        if (state >= 7) {
          let offs = 0x100;
          let matchByte = out[outPos - rep0 - 1];
          do {
            matchByte <<= 1;
            const matchBit = matchByte & offs;
            i = base + offs + matchBit + sym;
            p = probs[i];
            bound = Math.imul(range >>> 11, p);
            const bit = +((code >>> 0) >= (bound >>> 0));
            const mask = -bit;
            range = (bound + ((range - bound - bound) & mask)) | 0;
            code = (code - (bound & mask)) | 0;
            probs[i] = p - ((p - (2017 & ~mask)) >> 5);
            if (range >>> 24 === 0) {
              range <<= 8;
              code = (code << 8) | input[inPos++];
            }
            sym = (sym << 1) | bit;
            offs &= matchBit ^ ~mask;
          } while (sym < 0x100);
        } else {
          do {
            i = base + sym;
            p = probs[i];
            bound = Math.imul(range >>> 11, p);
            const bit = +((code >>> 0) >= (bound >>> 0));
            const mask = -bit;
            range = (bound + ((range - bound - bound) & mask)) | 0;
            code = (code - (bound & mask)) | 0;
            probs[i] = p - ((p - (2017 & ~mask)) >> 5);
            if (range >>> 24 === 0) {
              range <<= 8;
              code = (code << 8) | input[inPos++];
            }
            sym = (sym << 1) | bit;
          } while (sym < 0x100);
        }
        out[outPos++] = sym; // the low 8 bits: sym is 0x100 | byte
        state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
        continue;
      }
      range = (range - bound) | 0;
      code = (code - bound) | 0;
      probs[i] = p - (p >>> 5);
      if (range >>> 24 === 0) {
        range <<= 8;
        code = (code << 8) | input[inPos++];
      }

      // isRep[state]
      let lenBase: number;
      i = K.IS_REP + state;
      p = probs[i];
      bound = Math.imul(range >>> 11, p);
      let isRep: boolean;
      if ((code >>> 0) < (bound >>> 0)) {
        range = bound;
        probs[i] = p + ((2048 - p) >>> 5);
        isRep = false;
      } else {
        range = (range - bound) | 0;
        code = (code - bound) | 0;
        probs[i] = p - (p >>> 5);
        isRep = true;
      }
      if (range >>> 24 === 0) {
        range <<= 8;
        code = (code << 8) | input[inPos++];
      }
      if (!isRep) {
        rep3 = rep2;
        rep2 = rep1;
        rep1 = rep0;
        lenBase = K.LEN_CODER;
        state = state < 7 ? 7 : 10;
      } else {
        if (pos === 0) throw new LzmaDataError('repeated match in an empty dictionary', inPos);
        // isRepG0[state]
        i = K.IS_REP_G0 + state;
        p = probs[i];
        bound = Math.imul(range >>> 11, p);
        let g0: number;
        if ((code >>> 0) < (bound >>> 0)) {
          range = bound;
          probs[i] = p + ((2048 - p) >>> 5);
          g0 = 0;
        } else {
          range = (range - bound) | 0;
          code = (code - bound) | 0;
          probs[i] = p - (p >>> 5);
          g0 = 1;
        }
        if (range >>> 24 === 0) {
          range <<= 8;
          code = (code << 8) | input[inPos++];
        }
        if (g0 === 0) {
          // isRep0Long[state][posState]: 0 = a single byte at rep0 ("short rep").
          i = K.IS_REP0_LONG + (state << 4) + posState;
          p = probs[i];
          bound = Math.imul(range >>> 11, p);
          let long: number;
          if ((code >>> 0) < (bound >>> 0)) {
            range = bound;
            probs[i] = p + ((2048 - p) >>> 5);
            long = 0;
          } else {
            range = (range - bound) | 0;
            code = (code - bound) | 0;
            probs[i] = p - (p >>> 5);
            long = 1;
          }
          if (range >>> 24 === 0) {
            range <<= 8;
            code = (code << 8) | input[inPos++];
          }
          if (long === 0) {
            if (outPos >= hardLimit) throw new LzmaDataError('data past the declared size', inPos);
            // outPos: a streaming decoder's window keeps only the dictionary, not all of `pos`.
            if (rep0 >= pos || rep0 >= outPos) throw new LzmaDataError(`match distance ${rep0 + 1} beyond the ${pos} bytes decoded`, inPos);
            state = state < 7 ? 9 : 11;
            out[outPos] = out[outPos - rep0 - 1];
            outPos++;
            continue;
          }
        } else {
          // isRepG1, isRepG2: which older distance.
          i = K.IS_REP_G1 + state;
          p = probs[i];
          bound = Math.imul(range >>> 11, p);
          let g1: number;
          if ((code >>> 0) < (bound >>> 0)) {
            range = bound;
            probs[i] = p + ((2048 - p) >>> 5);
            g1 = 0;
          } else {
            range = (range - bound) | 0;
            code = (code - bound) | 0;
            probs[i] = p - (p >>> 5);
            g1 = 1;
          }
          if (range >>> 24 === 0) {
            range <<= 8;
            code = (code << 8) | input[inPos++];
          }
          let dist: number;
          if (g1 === 0) {
            dist = rep1;
          } else {
            i = K.IS_REP_G2 + state;
            p = probs[i];
            bound = Math.imul(range >>> 11, p);
            let g2: number;
            if ((code >>> 0) < (bound >>> 0)) {
              range = bound;
              probs[i] = p + ((2048 - p) >>> 5);
              g2 = 0;
            } else {
              range = (range - bound) | 0;
              code = (code - bound) | 0;
              probs[i] = p - (p >>> 5);
              g2 = 1;
            }
            if (range >>> 24 === 0) {
              range <<= 8;
              code = (code << 8) | input[inPos++];
            }
            if (g2 === 0) {
              dist = rep2;
            } else {
              dist = rep3;
              rep3 = rep2;
            }
            rep2 = rep1;
          }
          rep1 = rep0;
          rep0 = dist;
        }
        lenBase = K.REP_LEN_CODER;
        state = state < 7 ? 8 : 11;
      }

      // Length: choice, choice2, then a 3-bit low/mid tree or an 8-bit high tree.
      let treeBase: number;
      let numBits: number;
      let len: number;
      i = lenBase + K.LEN_CHOICE;
      p = probs[i];
      bound = Math.imul(range >>> 11, p);
      if ((code >>> 0) < (bound >>> 0)) {
        range = bound;
        probs[i] = p + ((2048 - p) >>> 5);
        treeBase = lenBase + K.LEN_LOW + (posState << 3);
        numBits = 3;
        len = 0;
      } else {
        range = (range - bound) | 0;
        code = (code - bound) | 0;
        probs[i] = p - (p >>> 5);
        if (range >>> 24 === 0) {
          range <<= 8;
          code = (code << 8) | input[inPos++];
        }
        i = lenBase + K.LEN_CHOICE2;
        p = probs[i];
        bound = Math.imul(range >>> 11, p);
        if ((code >>> 0) < (bound >>> 0)) {
          range = bound;
          probs[i] = p + ((2048 - p) >>> 5);
          treeBase = lenBase + K.LEN_MID + (posState << 3);
          numBits = 3;
          len = 8;
        } else {
          range = (range - bound) | 0;
          code = (code - bound) | 0;
          probs[i] = p - (p >>> 5);
          treeBase = lenBase + K.LEN_HIGH;
          numBits = 8;
          len = 16;
        }
      }
      if (range >>> 24 === 0) {
        range <<= 8;
        code = (code << 8) | input[inPos++];
      }
      let m = 1;
      for (let k = 0; k < numBits; k++) {
        i = treeBase + m;
        p = probs[i];
        bound = Math.imul(range >>> 11, p);
        const bit = +((code >>> 0) >= (bound >>> 0));
        const mask = -bit;
        range = (bound + ((range - bound - bound) & mask)) | 0;
        code = (code - (bound & mask)) | 0;
        probs[i] = p - ((p - (2017 & ~mask)) >> 5);
        if (range >>> 24 === 0) {
          range <<= 8;
          code = (code << 8) | input[inPos++];
        }
        m = (m << 1) | bit;
      }
      len += m - (1 << numBits);

      if (!isRep) {
        // Distance: a 6-bit slot, then reverse-tree or direct bits plus 4 align bits.
        const slotBase = K.POS_SLOT + ((len < 3 ? len : 3) << 6);
        m = 1;
        for (let k = 0; k < 6; k++) {
          i = slotBase + m;
          p = probs[i];
          bound = Math.imul(range >>> 11, p);
          const bit = +((code >>> 0) >= (bound >>> 0));
          const mask = -bit;
          range = (bound + ((range - bound - bound) & mask)) | 0;
          code = (code - (bound & mask)) | 0;
          probs[i] = p - ((p - (2017 & ~mask)) >> 5);
          if (range >>> 24 === 0) {
            range <<= 8;
            code = (code << 8) | input[inPos++];
          }
          m = (m << 1) | bit;
        }
        const posSlot = m - 64;
        let dist: number;
        if (posSlot < 4) {
          dist = posSlot;
        } else {
          const numDirectBits = (posSlot >>> 1) - 1;
          dist = ((2 | (posSlot & 1)) << numDirectBits) >>> 0;
          let revBase: number;
          let revBits: number;
          if (posSlot < K.END_POS_MODEL_INDEX) {
            revBase = K.SPEC_POS + dist - posSlot;
            revBits = numDirectBits;
          } else {
            let direct = 0;
            for (let k = numDirectBits - K.NUM_ALIGN_BITS; k > 0; k--) {
              // code < range always, so code - range/2 fits a signed int32 and its sign is
              // the bit (LzmaDec.c's direct bits, without a branch).
              range = range >>> 1;
              code = (code - range) | 0;
              const t = code >> 31;
              code = (code + (range & t)) | 0;
              direct = (direct << 1) | (t + 1);
              if (range >>> 24 === 0) {
                range <<= 8;
                code = (code << 8) | input[inPos++];
              }
            }
            dist += (direct >>> 0) * 16;
            revBase = K.ALIGN;
            revBits = K.NUM_ALIGN_BITS;
          }
          m = 1;
          let rev = 0;
          for (let k = 0; k < revBits; k++) {
            i = revBase + m;
            p = probs[i];
            bound = Math.imul(range >>> 11, p);
            const bit = +((code >>> 0) >= (bound >>> 0));
            const mask = -bit;
            range = (bound + ((range - bound - bound) & mask)) | 0;
            code = (code - (bound & mask)) | 0;
            probs[i] = p - ((p - (2017 & ~mask)) >> 5);
            if (range >>> 24 === 0) {
              range <<= 8;
              code = (code << 8) | input[inPos++];
            }
            m = (m << 1) | bit;
            rev |= bit << k;
          }
          dist += rev;
        }
        if (dist === 0xffffffff) {
          if (!allowMarker) throw new LzmaDataError('unexpected end marker', inPos);
          if (inPos > inEnd) throw new LzmaDataError('truncated', inEnd, true);
          stop = Stop.Marker;
          break;
        }
        rep0 = dist;
      }

      len += K.MATCH_MIN_LEN;
      if (rep0 >= pos || rep0 >= outPos) throw new LzmaDataError(`match distance ${rep0 + 1} beyond the ${pos} bytes decoded`, inPos);
      if (len > hardLimit - outPos) throw new LzmaDataError('data past the declared size', inPos);
      let from = outPos - rep0 - 1;
      // Copies by hand up to ~160 bytes: a copyWithin call costs more than a few loop steps.
      if (len >= 160 && rep0 >= len) {
        out.copyWithin(outPos, from, from + len);
        outPos += len;
      } else if (rep0 >= 3 && outPos + len + 3 < outLen) {
        // Four bytes a step (distance >= 4, so a step never reads what it writes); the last
        // step may write up to 3 bytes past the match, which the next symbols overwrite.
        const end = outPos + len;
        do {
          view.setInt32(outPos, view.getInt32(from, true), true);
          outPos += 4;
          from += 4;
        } while (outPos < end);
        outPos = end;
      } else {
        for (const end = outPos + len; outPos < end; ) out[outPos++] = out[from++];
      }
    }
    if (inPos > inEnd) throw new LzmaDataError('truncated', inEnd, true);
    this.outPos = outPos;
    this.state = state;
    this.range = range;
    this.code = code;
    this.inPos = inPos;
    this.rep0 = rep0;
    this.rep1 = rep1;
    this.rep2 = rep2;
    this.rep3 = rep3;
    return stop;
  }
}

/** A decoder error as an ExtimgError for input `origin`, with offsets made absolute. */
export function lzmaError(e: unknown, origin: string, codec: Codec, base = 0): unknown {
  if (!(e instanceof LzmaDataError)) return e;
  if (e.truncated) return truncated(origin, codec, base + e.offset);
  return corrupt(origin, codec, `corrupt ${codec} stream: ${e.message}`, base + e.offset);
}

/** Largest output preallocated on the word of a header alone. */
const TRUST_LIMIT = 1 << 28;

/**
 * Decode the .lzma "alone" format: props, dictionary size, uncompressed size (or all ones and an
 * end marker), then the raw LZMA stream. Trailing zero bytes (initramfs padding) are accepted,
 * and so is another .lzma stream after the first, as the kernel takes initramfs segments (xz
 * itself stops at the first).
 */
export function decodeLzmaAlone(data: Uint8Array, origin: string): Uint8Array {
  const sink = new ByteSink(0);
  let pos = 0;
  do {
    pos = decodeOneAlone(data, pos, origin, sink);
    while (pos < data.length && data[pos] === 0) pos++;
    if (pos < data.length && !(pos + 13 <= data.length && data[pos] < 225 && lzmaDictPlausible(u32le(data, pos + 1)))) {
      throw corrupt(origin, 'lzma', 'trailing garbage after lzma stream', pos);
    }
  } while (pos < data.length);
  return sink.result();
}


/** One stream at `start`, appended to the sink; returns the position after it. */
function decodeOneAlone(data: Uint8Array, start: number, origin: string, sink: ByteSink): number {
  if (data.length - start < 13) throw truncated(origin, 'lzma', data.length);
  const dec = new LzmaDecoder();
  if (!dec.setProperties(data[start])) throw corrupt(origin, 'lzma', `bad lzma properties byte 0x${data[start].toString(16)}`, start);
  if (dec.lc + dec.lp > 12) throw unsupported(origin, 'lzma', 'lzma lc + lp above 12', start);
  const sizeLo = u32le(data, start + 5);
  const sizeHi = u32le(data, start + 9);
  const known = !(sizeLo === 0xffffffff && sizeHi === 0xffffffff);
  if (known && sizeHi >= 0x200000) throw unsupported(origin, 'lzma', 'lzma uncompressed size too large', start + 5);
  const size = sizeHi * 0x100000000 + sizeLo;
  const outStart = sink.len;
  sink.reserve(known ? Math.min(size, TRUST_LIMIT, (data.length - start) * 64 + 65536) : (data.length - start) * 4 + 65536);
  dec.resetState();
  try {
    dec.initRangeCoder(data, start + 13, data.length);
    dec.dictStart = outStart;
    dec.outPos = outStart;
    const hardLimit = known ? outStart + size : Infinity;
    for (;;) {
      // Grow in steps so a lying header cannot make us allocate it all up front.
      sink.len = dec.outPos;
      sink.reserve(Math.min(hardLimit - dec.outPos, Math.max(sink.buf.length - dec.outPos, 1 << 20)) + K.MATCH_LEN_MAX);
      dec.out = sink.buf;
      const stopAt = Math.min(hardLimit, sink.buf.length - K.MATCH_LEN_MAX);
      if (dec.decode(stopAt, hardLimit, !known) === Stop.Marker) break;
      if (dec.outPos === hardLimit) {
        // liblzma also accepts an end marker after a known size.
        if (!dec.finishedOK && dec.decode(hardLimit + 1, hardLimit, true) !== Stop.Marker) {
          throw new LzmaDataError('data past the declared size', dec.inPos);
        }
        break;
      }
    }
  } catch (e) {
    throw lzmaError(e, origin, 'lzma');
  }
  sink.len = dec.outPos;
  return dec.inPos;
}

/** Input kept ahead of the decoder in a stream: more than any 64 KiB of output can consume. */
const STREAM_MARGIN = 1 << 20;
/** Output decoded per call in a stream. */
const STREAM_STEP = 1 << 16;

/**
 * A streaming .lzma decoder (the same format and rules as decodeLzmaAlone): push compressed
 * chunks, then end(); decoded bytes go to `emit` (views valid only during the call). The raw
 * LZMA stream has no chunk boundaries, so the decoder runs in steps of 64 KiB of output with
 * at least 1 MiB of input ahead (no step can read past that). Memory: the dictionary (as
 * declared, grown as output needs it) plus about 1 MiB of input.
 */
export function lzmaAloneDecoder(origin: string, emit: (bytes: Uint8Array) => void): { push(chunk: Uint8Array): void; end(): void } {
  const pd = new PushDecoder((input) => lzmaAloneStreams(input, emit));
  const wrap = (f: () => void): void => {
    try {
      f();
    } catch (e) {
      if (e instanceof DecodeError) throw fromDecodeError(e, origin, 'lzma');
      throw lzmaError(e, origin, 'lzma');
    }
  };
  return { push: (chunk) => wrap(() => pd.push(chunk)), end: () => wrap(() => pd.end()) };
}

function* lzmaAloneStreams(input: InputBuffer, emit: (bytes: Uint8Array) => void): DecoderGenerator {
  let first = true;
  for (;;) {
    if (!first) {
      // Zero padding, then possibly another stream (as the kernel takes initramfs segments).
      for (;;) {
        if (!(yield* more(input))) return;
        if (input.buf[input.pos] !== 0) break;
        input.pos++;
      }
      yield* need(input, 13);
      const p = input.pos;
      if (!(input.buf[p] < 225 && lzmaDictPlausible(u32le(input.buf, p + 1)))) throw new DecodeError('trailing garbage after lzma stream', input.offset());
    }
    first = false;
    yield* lzmaAloneStream(input, emit);
  }
}

function* lzmaAloneStream(input: InputBuffer, emit: (bytes: Uint8Array) => void): DecoderGenerator {
  yield* need(input, 13);
  const start = input.offset();
  const h = input.buf.slice(input.pos, input.pos + 13);
  const dec = new LzmaDecoder();
  if (!dec.setProperties(h[0]!)) throw new DecodeError(`bad lzma properties byte 0x${h[0]!.toString(16)}`, start);
  if (dec.lc + dec.lp > 12) throw new DecodeError('lzma lc + lp above 12', start, 'unsupported');
  const dictSize = Math.max(u32le(h, 1), 4096);
  const sizeLo = u32le(h, 5);
  const sizeHi = u32le(h, 9);
  const known = !(sizeLo === 0xffffffff && sizeHi === 0xffffffff);
  if (known && sizeHi >= 0x200000) throw new DecodeError('lzma uncompressed size too large', start + 5, 'unsupported');
  const size = known ? sizeHi * 0x100000000 + sizeLo : Infinity;
  input.pos += 13;
  dec.resetState();
  yield* need(input, 5);
  dec.initRangeCoder(input.buf, input.pos, input.end);
  input.pos = dec.inPos;
  // The window: the dictionary, one step and a match's overrun; grown while output is small.
  const cap = Math.min(dictSize, known ? size : dictSize) + STREAM_STEP + K.MATCH_LEN_MAX + 4;
  let win = new Uint8Array(Math.min(cap, 1 << 20));
  dec.out = win;
  dec.outPos = 0;
  dec.dictStart = 0;
  let produced = 0;
  for (;;) {
    // Enough input ahead for one step (all of it at the end of the input).
    while (input.end - input.pos < STREAM_MARGIN && !input.eof) yield;
    dec.input = input.buf;
    dec.inPos = input.pos;
    dec.inEnd = input.end;
    // Room for one step.
    if (dec.outPos + STREAM_STEP + K.MATCH_LEN_MAX + 4 > win.length) {
      if (win.length < cap) {
        const next = new Uint8Array(Math.min(cap, Math.max(win.length * 2, dec.outPos + STREAM_STEP + K.MATCH_LEN_MAX + 4)));
        next.set(win.subarray(0, dec.outPos));
        win = next;
      } else {
        const keep = Math.min(dictSize, dec.outPos);
        const shift = dec.outPos - keep;
        win.copyWithin(0, shift, dec.outPos);
        dec.outPos = keep;
        dec.dictStart -= shift;
      }
      dec.out = win;
    }
    const from = dec.outPos;
    const left = size - produced;
    const stopAt = from + Math.min(STREAM_STEP, left);
    const hardLimit = known ? from + left : Infinity;
    let stop: Stop;
    try {
      stop = dec.decode(stopAt, hardLimit, !known);
    } catch (e) {
      if (e instanceof LzmaDataError) throw new DecodeError(e.truncated ? 'truncated' : `corrupt lzma stream: ${e.message}`, input.offset(e.offset), e.truncated ? 'truncated' : 'corrupt');
      throw e;
    }
    input.pos = dec.inPos;
    produced += dec.outPos - from;
    if (dec.outPos > from) emit(win.subarray(from, dec.outPos));
    if (stop === Stop.Marker) return;
    if (known && produced === size) {
      // liblzma also accepts an end marker after a known size.
      if (!dec.finishedOK) {
        const at = dec.outPos;
        let s2: Stop;
        try {
          s2 = dec.decode(at + 1, at, true);
        } catch (e) {
          if (e instanceof LzmaDataError) throw new DecodeError(`corrupt lzma stream: ${e.message}`, input.offset(e.offset));
          throw e;
        }
        if (s2 !== Stop.Marker) throw new DecodeError('data past the declared size', input.offset(dec.inPos));
        input.pos = dec.inPos;
      }
      return;
    }
  }
}
