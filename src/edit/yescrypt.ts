/**
 * yescrypt (Openwall, Alexander Peslyak), the KDF behind crypt(3)'s `$y$` hashes: scrypt's
 * SMix with pwxform S-boxes, HMAC-SHA256 and PBKDF2-SHA256 around it. Written from the reference
 * implementation's structure (yescrypt-ref.c: smix1, smix2, blockmix_pwxform, pwxform) and the
 * parameter checks of the optimized one that libxcrypt ships (alg-yescrypt-opt.c: N >= 4, N/p >= 4
 * for the RW mode), so that every setting libxcrypt refuses is refused here too.
 *
 * Blocks are kept as scrypt keeps them after its "SIMD shuffle": word i of a 64-byte block holds
 * the little-endian word i*5 mod 16 of the bytes. pwxform reads that layout, so it is part of the
 * algorithm, not an optimization.
 */

import { ExtimgError } from '../errors.js';
import { Sha256 } from '../compress/sha256.js';

export const YESCRYPT_WORM = 0x001;
export const YESCRYPT_RW = 0x002;
/** RW with 6 pwxform rounds, gather 4, simple 2, 12 KiB S-boxes: the only RW flavor yescrypt 1.x computes. */
export const YESCRYPT_DEFAULTS = 0x0b6;
const YESCRYPT_RW_FLAVOR_MASK = 0x3fc;
const YESCRYPT_PREHASH = 0x10000000;

export interface YescryptParams {
  flags: number;
  N: number;
  r: number;
  p: number;
  /** Extra time factor (0: the default). */
  t: number;
  /** Hash upgrades: yescrypt 1.x refuses anything but 0. */
  g: number;
  /** ROM size: needs a shared ROM, which crypt(3) never has. */
  NROM: number;
}

/** Past this (V plus B), refuse instead of allocating (crypt(3) would try). 2 GiB: libxcrypt's largest gensalt cost, 11, needs 1 GiB. */
export const YESCRYPT_MAX_BYTES = 2 ** 31;

// pwxform's fixed parameters (PWXsimple 2, PWXgather 4, PWXrounds 6, Swidth 8).
const S_WORDS = 3072; // Sbytes 12288 / 4
const S_PART = 1024; // each of S0, S1, S2: 2^Swidth * PWXsimple 64-bit words
const SMASK = 0xff0; // ((1 << Swidth) - 1) * PWXsimple * 8
const TWO_M32 = 1 / 4294967296;

// ------------------------------------------------------------------------------------------------
// HMAC-SHA256 and PBKDF2-SHA256 (one iteration is all yescrypt uses)

export function hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  let k = key;
  if (k.length > 64) k = new Sha256().update(k).digest();
  const pad = new Uint8Array(64);
  pad.set(k);
  for (let i = 0; i < 64; i++) pad[i]! ^= 0x36;
  const inner = new Sha256().update(pad);
  for (const p of parts) inner.update(p);
  const ih = inner.digest();
  for (let i = 0; i < 64; i++) pad[i]! ^= 0x36 ^ 0x5c;
  return new Sha256().update(pad).update(ih).digest();
}

function pbkdf2Sha256Once(password: Uint8Array, salt: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const counter = new Uint8Array(4);
  for (let i = 1, at = 0; at < length; i++, at += 32) {
    counter[0] = i >>> 24;
    counter[1] = i >>> 16;
    counter[2] = i >>> 8;
    counter[3] = i;
    const t = hmacSha256(password, salt, counter);
    out.set(t.subarray(0, Math.min(32, length - at)), at);
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Salsa20 and the two BlockMix functions

const salsaX = new Int32Array(16);

/** Salsa20/`rounds` core of the 16 words at B[o..], in the shuffled layout (yescrypt-ref.c salsa20). */
function salsa20(B: Uint32Array, o: number, rounds: number): void {
  const x = salsaX;
  for (let i = 0; i < 16; i++) x[(i * 5) & 15] = B[o + i]!;
  let x0 = x[0]!, x1 = x[1]!, x2 = x[2]!, x3 = x[3]!, x4 = x[4]!, x5 = x[5]!, x6 = x[6]!, x7 = x[7]!;
  let x8 = x[8]!, x9 = x[9]!, x10 = x[10]!, x11 = x[11]!, x12 = x[12]!, x13 = x[13]!, x14 = x[14]!, x15 = x[15]!;
  let u: number;
  for (let i = 0; i < rounds; i += 2) {
    // columns
    u = (x0 + x12) | 0; x4 ^= (u << 7) | (u >>> 25);
    u = (x4 + x0) | 0; x8 ^= (u << 9) | (u >>> 23);
    u = (x8 + x4) | 0; x12 ^= (u << 13) | (u >>> 19);
    u = (x12 + x8) | 0; x0 ^= (u << 18) | (u >>> 14);
    u = (x5 + x1) | 0; x9 ^= (u << 7) | (u >>> 25);
    u = (x9 + x5) | 0; x13 ^= (u << 9) | (u >>> 23);
    u = (x13 + x9) | 0; x1 ^= (u << 13) | (u >>> 19);
    u = (x1 + x13) | 0; x5 ^= (u << 18) | (u >>> 14);
    u = (x10 + x6) | 0; x14 ^= (u << 7) | (u >>> 25);
    u = (x14 + x10) | 0; x2 ^= (u << 9) | (u >>> 23);
    u = (x2 + x14) | 0; x6 ^= (u << 13) | (u >>> 19);
    u = (x6 + x2) | 0; x10 ^= (u << 18) | (u >>> 14);
    u = (x15 + x11) | 0; x3 ^= (u << 7) | (u >>> 25);
    u = (x3 + x15) | 0; x7 ^= (u << 9) | (u >>> 23);
    u = (x7 + x3) | 0; x11 ^= (u << 13) | (u >>> 19);
    u = (x11 + x7) | 0; x15 ^= (u << 18) | (u >>> 14);
    // rows
    u = (x0 + x3) | 0; x1 ^= (u << 7) | (u >>> 25);
    u = (x1 + x0) | 0; x2 ^= (u << 9) | (u >>> 23);
    u = (x2 + x1) | 0; x3 ^= (u << 13) | (u >>> 19);
    u = (x3 + x2) | 0; x0 ^= (u << 18) | (u >>> 14);
    u = (x5 + x4) | 0; x6 ^= (u << 7) | (u >>> 25);
    u = (x6 + x5) | 0; x7 ^= (u << 9) | (u >>> 23);
    u = (x7 + x6) | 0; x4 ^= (u << 13) | (u >>> 19);
    u = (x4 + x7) | 0; x5 ^= (u << 18) | (u >>> 14);
    u = (x10 + x9) | 0; x11 ^= (u << 7) | (u >>> 25);
    u = (x11 + x10) | 0; x8 ^= (u << 9) | (u >>> 23);
    u = (x8 + x11) | 0; x9 ^= (u << 13) | (u >>> 19);
    u = (x9 + x8) | 0; x10 ^= (u << 18) | (u >>> 14);
    u = (x15 + x14) | 0; x12 ^= (u << 7) | (u >>> 25);
    u = (x12 + x15) | 0; x13 ^= (u << 9) | (u >>> 23);
    u = (x13 + x12) | 0; x14 ^= (u << 13) | (u >>> 19);
    u = (x14 + x13) | 0; x15 ^= (u << 18) | (u >>> 14);
  }
  x[0] = x0; x[1] = x1; x[2] = x2; x[3] = x3; x[4] = x4; x[5] = x5; x[6] = x6; x[7] = x7;
  x[8] = x8; x[9] = x9; x[10] = x10; x[11] = x11; x[12] = x12; x[13] = x13; x[14] = x14; x[15] = x15;
  for (let i = 0; i < 16; i++) B[o + i] = (B[o + i]! + x[(i * 5) & 15]!) | 0;
}

/** scrypt's BlockMix with Salsa20/8 over 2r blocks at B[o..]; Y is scratch of 32r words. */
function blockmixSalsa8(B: Uint32Array, o: number, Y: Uint32Array, r: number): void {
  const X = Y.subarray(32 * r, 32 * r + 16);
  X.set(B.subarray(o + (2 * r - 1) * 16, o + 2 * r * 16));
  for (let i = 0; i < 2 * r; i++) {
    const b = o + i * 16;
    for (let k = 0; k < 16; k++) X[k]! ^= B[b + k]!;
    salsa20(X, 0, 8);
    Y.set(X, i * 16);
  }
  for (let i = 0; i < r; i++) {
    B.set(Y.subarray(i * 32, i * 32 + 16), o + i * 16);
    B.set(Y.subarray(i * 32 + 16, i * 32 + 32), o + (i + r) * 16);
  }
}

/** pwxform's S-boxes and write position; s0, s1, s2 are word offsets into S (they rotate). */
interface Pwxform {
  S: Uint32Array;
  s0: number;
  s1: number;
  s2: number;
  /** The write position in S2, in 32-bit words. */
  w: number;
}

/**
 * pwxform of the 64-byte block at B[o..] (yescrypt-ref.c pwxform): 6 rounds over 4 lanes of 2
 * 64-bit words, each x = (hi(x) * lo(x) + S0[p0]) ^ S1[p1], rounds 1-4 also written into S2.
 * The 64-bit product: its low half by Math.imul, its high half from the double product, which is
 * within 2^11 of exact, so rounding (P - lo) / 2^32 gives it exactly.
 */
function pwxform(B: Uint32Array, o: number, ctx: Pwxform): void {
  const S = ctx.S;
  const s0 = ctx.s0;
  const s1 = ctx.s1;
  const s2 = ctx.s2;
  let w = s2 + ctx.w;
  for (let i = 0; i < 6; i++) {
    const store = i !== 0 && i !== 5;
    for (let j = o; j < o + 16; j += 4) {
      let x0 = B[j]!;
      let x1 = B[j + 1]!;
      let x2 = B[j + 2]!;
      let x3 = B[j + 3]!;
      const p0 = s0 + ((x0 & SMASK) >>> 2);
      const p1 = s1 + ((x1 & SMASK) >>> 2);
      let lo = Math.imul(x1, x0) >>> 0;
      let hi = ((x1 * x0 - lo) * TWO_M32 + 0.5) >>> 0;
      let l = lo + S[p0]!;
      x0 = l ^ S[p1]!;
      x1 = (hi + S[p0 + 1]! + (l > 0xffffffff ? 1 : 0)) ^ S[p1 + 1]!;
      lo = Math.imul(x3, x2) >>> 0;
      hi = ((x3 * x2 - lo) * TWO_M32 + 0.5) >>> 0;
      l = lo + S[p0 + 2]!;
      x2 = l ^ S[p1 + 2]!;
      x3 = (hi + S[p0 + 3]! + (l > 0xffffffff ? 1 : 0)) ^ S[p1 + 3]!;
      B[j] = x0;
      B[j + 1] = x1;
      B[j + 2] = x2;
      B[j + 3] = x3;
      if (store) {
        S[w] = x0;
        S[w + 1] = x1;
        S[w + 2] = x2;
        S[w + 3] = x3;
        w += 4;
      }
    }
  }
  // (S0, S1, S2) <- (S2, S0, S1); w mod 2^Swidth (in 64-bit words)
  ctx.s0 = s2;
  ctx.s1 = s0;
  ctx.s2 = s1;
  ctx.w = (w - s2) & (S_PART - 1);
}

/** BlockMix_pwxform over 2r 64-byte blocks at B[o..] (PWXbytes is 64, so r1 = 2r). */
function blockmixPwxform(B: Uint32Array, o: number, ctx: Pwxform, r: number): void {
  const n = 2 * r;
  let prev = o + (n - 1) * 16;
  for (let i = 0; i < n; i++) {
    const b = o + i * 16;
    for (let k = 0; k < 16; k++) B[b + k]! ^= B[prev + k]!;
    pwxform(B, b, ctx);
    prev = b;
  }
  salsa20(B, o + (n - 1) * 16, 2);
}

// ------------------------------------------------------------------------------------------------
// SMix

interface Scratch {
  /** The block being mixed, 32r words. */
  X: Uint32Array;
  /** BlockMix_salsa8's scratch: 32r + 16 words. */
  Y: Uint32Array;
}

function loadShuffled(X: Uint32Array, B: Uint8Array, words: number): void {
  for (let k = 0; k < words; k += 16) {
    for (let i = 0; i < 16; i++) {
      const at = (k + ((i * 5) & 15)) * 4;
      X[k + i] = B[at]! | (B[at + 1]! << 8) | (B[at + 2]! << 16) | (B[at + 3]! << 24);
    }
  }
}

function storeShuffled(B: Uint8Array, X: Uint32Array, words: number): void {
  for (let k = 0; k < words; k += 16) {
    for (let i = 0; i < 16; i++) {
      const at = (k + ((i * 5) & 15)) * 4;
      const v = X[k + i]!;
      B[at] = v;
      B[at + 1] = v >>> 8;
      B[at + 2] = v >>> 16;
      B[at + 3] = v >>> 24;
    }
  }
}

function blockmix(X: Uint32Array, s: Scratch, r: number, ctx: Pwxform | undefined): void {
  if (ctx) blockmixPwxform(X, 0, ctx, r);
  else blockmixSalsa8(X, 0, s.Y, r);
}

/** Integerify: the low word of B_{2r-1} (word 0 stays word 0 under the shuffle); N <= 2^32 needs no more. */
const integerify = (X: Uint32Array, r: number): number => X[(2 * r - 1) * 16]!;

function p2floor(x: number): number {
  return 2 ** (31 - Math.clz32(x));
}

/** SMix1: fill V[vo .. vo + N*32r) (yescrypt-ref.c smix1, without a ROM). */
function smix1(B: Uint8Array, r: number, N: number, flags: number, V: Uint32Array, vo: number, sc: Scratch, ctx: Pwxform | undefined): void {
  const s = 32 * r;
  const X = sc.X.subarray(0, s);
  loadShuffled(X, B, s);
  for (let i = 0; i < N; i++) {
    V.set(X, vo + i * s);
    if (flags & YESCRYPT_RW && i > 1) {
      const n = p2floor(i);
      const j = ((integerify(X, r) & (n - 1)) >>> 0) + (i - n);
      const v = vo + j * s;
      for (let k = 0; k < s; k++) X[k]! ^= V[v + k]!;
    }
    blockmix(X, sc, r, ctx);
  }
  storeShuffled(B, X, s);
}

/** SMix2: Nloop reads (and in the RW mode writes) of V (yescrypt-ref.c smix2). */
function smix2(B: Uint8Array, r: number, N: number, Nloop: number, flags: number, V: Uint32Array, vo: number, sc: Scratch, ctx: Pwxform | undefined): void {
  const s = 32 * r;
  const X = sc.X.subarray(0, s);
  loadShuffled(X, B, s);
  const mask = N - 1;
  for (let i = 0; i < Nloop; i++) {
    const j = (integerify(X, r) & mask) >>> 0;
    const v = vo + j * s;
    for (let k = 0; k < s; k++) X[k]! ^= V[v + k]!;
    if (flags & YESCRYPT_RW) V.set(X, v);
    blockmix(X, sc, r, ctx);
  }
  storeShuffled(B, X, s);
}

/** SMix over the p blocks of B (yescrypt-ref.c smix); `passwd` (32 bytes) is rehashed in place in the RW mode. */
function smix(B: Uint8Array, r: number, N: number, p: number, t: number, flags: number, V: Uint32Array, sc: Scratch, passwd: Uint8Array | undefined): void {
  const s = 32 * r;
  let Nchunk = Math.floor(N / p);
  let NloopAll = Nchunk;
  if (flags & YESCRYPT_RW) {
    if (t <= 1) {
      if (t) NloopAll *= 2;
      NloopAll = Math.floor((NloopAll + 2) / 3);
    } else {
      NloopAll *= t - 1;
    }
  } else if (t) {
    if (t === 1) NloopAll += Math.floor((NloopAll + 1) / 2);
    NloopAll *= t;
  }
  let NloopRw = flags & YESCRYPT_RW ? Math.floor(NloopAll / p) : 0;
  Nchunk -= Nchunk % 2;
  NloopAll += NloopAll % 2;
  NloopRw += NloopRw % 2;

  const ctxs: Pwxform[] = [];
  for (let i = 0, Vchunk = 0; i < p; i++, Vchunk += Nchunk) {
    const Np = i < p - 1 ? Nchunk : N - Vchunk;
    const Bp = B.subarray(i * 128 * r, (i + 1) * 128 * r);
    let ctx: Pwxform | undefined;
    if (flags & YESCRYPT_RW) {
      // The S-boxes: SMix1 of B_i's first 128 bytes with r = 1, N = Sbytes / 128, no flags.
      const S = new Uint32Array(S_WORDS);
      smix1(Bp, 1, S_WORDS / 32, 0, S, 0, sc, undefined);
      ctx = { S, s2: 0, s1: S_PART, s0: 2 * S_PART, w: 0 };
      ctxs.push(ctx);
      if (i === 0 && passwd) passwd.set(hmacSha256(Bp.subarray(128 * r - 64), passwd));
    }
    smix1(Bp, r, Np, flags, V, Vchunk * s, sc, ctx);
    smix2(Bp, r, p2floor(Np), NloopRw, flags, V, Vchunk * s, sc, ctx);
  }
  if (NloopAll > NloopRw) {
    for (let i = 0; i < p; i++) {
      smix2(B.subarray(i * 128 * r, (i + 1) * 128 * r), r, N, NloopAll - NloopRw, flags & ~YESCRYPT_RW, V, 0, sc, ctxs[i]);
    }
  }
}

// ------------------------------------------------------------------------------------------------
// The KDF

/** The checks of alg-yescrypt-opt.c's yescrypt_kdf_body (no ROM): undefined when valid, else why not. */
function invalid(flags: number, N: number, r: number, p: number, t: number, NROM: number): string | undefined {
  switch (flags & 3) {
    case 0:
      if (flags || t || NROM) return 'classic scrypt takes no flags, t or ROM';
      break;
    case YESCRYPT_WORM:
      if (flags !== YESCRYPT_WORM || NROM) return 'WORM takes no other flags or ROM';
      break;
    case YESCRYPT_RW:
      if ((flags & ~(YESCRYPT_RW | YESCRYPT_RW_FLAVOR_MASK | YESCRYPT_PREHASH)) !== 0 || (flags & YESCRYPT_RW_FLAVOR_MASK) !== (YESCRYPT_DEFAULTS & YESCRYPT_RW_FLAVOR_MASK)) return 'an RW flavor yescrypt does not compute';
      break;
    default:
      return 'unknown mode';
  }
  if (r * p >= 2 ** 30) return 'r * p >= 2^30';
  if (N > 0xffffffff) return 'N > 2^32 - 1';
  if (N < 4 || N & (N - 1) || r < 1 || p < 1) return 'N must be a power of 2 >= 4, r and p >= 1';
  if (flags & YESCRYPT_RW && Math.floor(N / p) <= 3) return 'N / p must be >= 4';
  if (NROM) return 'a ROM is not available';
  return undefined;
}

function kdfBody(passwd: Uint8Array, salt: Uint8Array, flags: number, N: number, r: number, p: number, t: number): Uint8Array {
  let pw = passwd;
  if (flags) pw = hmacSha256(new TextEncoder().encode(flags & YESCRYPT_PREHASH ? 'yescrypt-prehash' : 'yescrypt'), passwd);
  const B = pbkdf2Sha256Once(pw, salt, 128 * r * p);
  if (flags) pw = B.slice(0, 32);
  const V = new Uint32Array(32 * r * N);
  const sc: Scratch = { X: new Uint32Array(32 * r), Y: new Uint32Array(32 * r + 16) };
  if (flags & YESCRYPT_RW) {
    smix(B, r, N, p, t, flags, V, sc, pw);
  } else {
    for (let i = 0; i < p; i++) smix(B.subarray(i * 128 * r, (i + 1) * 128 * r), r, N, 1, t, flags, V, sc, undefined);
  }
  let out = pbkdf2Sha256Once(pw, B, 32);
  if (flags && !(flags & YESCRYPT_PREHASH)) {
    // ClientKey and StoredKey, as SCRAM (RFC 5802) computes them.
    out = new Sha256().update(hmacSha256(out, new TextEncoder().encode('Client Key'))).digest();
  }
  return out;
}

/** Why libxcrypt's yescrypt refuses these parameters, or undefined when it computes them. */
export function yescryptParamsError(params: YescryptParams): string | undefined {
  if (params.g) return 'hash upgrades (g) are not supported';
  return invalid(params.flags, params.N, params.r, params.p, params.t, params.NROM);
}

/**
 * yescrypt_kdf with a 32-byte output, as crypt(3) calls it. Returns undefined for parameters
 * libxcrypt refuses (crypt(3) then fails); throws ExtimgError for ones it would try to allocate
 * beyond YESCRYPT_MAX_BYTES.
 */
export function yescryptKdf(passwd: Uint8Array, salt: Uint8Array, params: YescryptParams): Uint8Array | undefined {
  const { flags, N, r, p, t } = params;
  if (yescryptParamsError(params) !== undefined) return undefined;
  const bytes = 128 * r * (N + p);
  if (bytes > YESCRYPT_MAX_BYTES) {
    throw new ExtimgError('EINVAL', `yescrypt: N=${N} r=${r} p=${p} needs ${bytes} bytes of memory, more than the ${YESCRYPT_MAX_BYTES} allowed`, { N, r, p, bytes });
  }
  let pw = passwd;
  if ((flags & YESCRYPT_RW) !== 0 && Math.floor(N / p) >= 0x100 && Math.floor(N / p) * r >= 0x20000) {
    // Pre-hash with 1/64 of the memory, so an attacker cannot cheaply drop candidates early.
    pw = kdfBody(passwd, salt, flags | YESCRYPT_PREHASH, Math.floor(N / 64), r, p, 0);
  }
  return kdfBody(pw, salt, flags, N, r, p, t);
}
