/**
 * crypt(3) password hashes as libxcrypt computes them, for /etc/shadow (issue #16): yescrypt
 * (`$y$`, Debian >= 11's default), SHA-512 (`$6$`) and SHA-256 (`$5$`) crypt. Settings are parsed
 * and refused exactly where libxcrypt's crypt() refuses them (lib/crypt.c check_badsalt_chars,
 * crypt-sha512.c, crypt-sha256.c, alg-yescrypt-common.c yescrypt_r), so the output is what
 * `crypt(password, setting)` returns there, failure tokens ("*0", "*1") included.
 */

import { ExtimgError } from '../errors.js';
import { Sha256 } from '../compress/sha256.js';
import { Sha512 } from './sha512.js';
import { hmacSha256, yescryptKdf, yescryptParamsError, YESCRYPT_DEFAULTS, YESCRYPT_RW, type YescryptParams } from './yescrypt.js';

export type PasswordScheme = 'yescrypt' | 'sha512crypt' | 'sha256crypt';

/** The base-64 alphabet of crypt(3) (libxcrypt's ascii64). */
const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** crypt(3) takes a C string: at most this many bytes (CRYPT_MAX_PASSPHRASE_SIZE - 1). */
export const CRYPT_MAX_PASSPHRASE = 511;
/** libxcrypt's CRYPT_OUTPUT_SIZE: a yescrypt setting plus its hash must fit. */
const CRYPT_OUTPUT_SIZE = 384;

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

function atoi64(s: string, i: number): number {
  const v = ITOA64.indexOf(s.charAt(i));
  return v < 0 || i >= s.length ? 64 : v;
}

/** Little-endian groups of 3 bytes as 4 characters, a last group of 1 or 2 bytes as 2 or 3 (yescrypt's encode64; gensalt's for full groups). */
function encode64(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    let value = 0;
    let bits = 0;
    do {
      value |= bytes[i++]! << bits;
      bits += 8;
    } while (bits < 24 && i < bytes.length);
    for (let b = 0; b < bits; b += 6) {
      out += ITOA64[value & 63];
      value >>>= 6;
    }
  }
  return out;
}

/**
 * yescrypt's decode64 (alg-yescrypt-common.c): the inverse of encode64, at most `max` bytes;
 * a last group needs 2 or more characters and zero unused bits. Undefined when it cannot decode all of `s`.
 */
function decode64(s: string, max: number): Uint8Array | undefined {
  const out: number[] = [];
  let pos = 0;
  while (pos < s.length) {
    let value = 0;
    let bits = 0;
    while (pos < s.length && bits < 24) {
      const c = atoi64(s, pos);
      if (c > 63) return undefined;
      pos++;
      value |= c << bits;
      bits += 6;
    }
    if (bits < 12) return undefined;
    while (bits >= 8) {
      if (out.length >= max) return undefined;
      out.push(value & 0xff);
      value >>>= 8;
      bits -= 8;
    }
    if (value !== 0) return undefined;
  }
  return Uint8Array.from(out);
}

/** yescrypt's variable-length integer (decode64_uint32): [value, next position], or undefined. */
function decodeUint32(s: string, pos: number, min: number): [number, number] | undefined {
  let start = 0;
  let end = 47;
  let chars = 1;
  let bits = 0;
  let c = atoi64(s, pos++);
  if (c > 63) return undefined;
  let dst = min;
  while (c > end) {
    dst += (end + 1 - start) * 2 ** bits;
    start = end + 1;
    end = start + Math.floor((62 - end) / 2);
    chars++;
    bits += 6;
  }
  dst += (c - start) * 2 ** bits;
  while (--chars) {
    c = atoi64(s, pos++);
    if (c > 63) return undefined;
    bits -= 6;
    dst += c * 2 ** bits;
  }
  return [dst % 2 ** 32, pos]; // uint32_t arithmetic wraps
}

/** yescrypt's encode64_uint32: the inverse of decodeUint32. */
function encodeUint32(value: number, min: number): string {
  if (value < min) throw new ExtimgError('EINVAL', `yescrypt parameter ${value} is below ${min}`);
  let src = value - min;
  let start = 0;
  let end = 47;
  let chars = 1;
  let bits = 0;
  for (;;) {
    const count = (end + 1 - start) * 2 ** bits;
    if (src < count) break;
    if (start >= 63) throw new ExtimgError('EINVAL', `yescrypt parameter ${value} is too large`);
    start = end + 1;
    end = start + Math.floor((62 - end) / 2);
    src -= count;
    chars++;
    bits += 6;
  }
  let out = ITOA64[start + Math.floor(src / 2 ** bits)]!;
  while (--chars) {
    bits -= 6;
    out += ITOA64[Math.floor(src / 2 ** bits) & 63];
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// SHA-crypt ($5$, $6$): Ulrich Drepper's specification, as libxcrypt's crypt-sha512.c runs it

interface ShaVariant {
  prefix: '$5$' | '$6$';
  size: 32 | 64;
  hash: () => { update(data: Uint8Array): unknown; digest(): Uint8Array };
  /** The byte triples of the final base-64 encoding (b64_from_24bit), then the tail. */
  order: readonly number[];
  tail: readonly [number, number, number, number];
}

const SHA512_VARIANT: ShaVariant = {
  prefix: '$6$',
  size: 64,
  hash: () => new Sha512(),
  order: [0, 21, 42, 22, 43, 1, 44, 2, 23, 3, 24, 45, 25, 46, 4, 47, 5, 26, 6, 27, 48, 28, 49, 7, 50, 8, 29, 9, 30, 51, 31, 52, 10, 53, 11, 32, 12, 33, 54, 34, 55, 13, 56, 14, 35, 15, 36, 57, 37, 58, 16, 59, 17, 38, 18, 39, 60, 40, 61, 19, 62, 20, 41],
  tail: [-1, -1, 63, 2],
};

const SHA256_VARIANT: ShaVariant = {
  prefix: '$5$',
  size: 32,
  hash: () => new Sha256(),
  order: [0, 10, 20, 21, 1, 11, 12, 22, 2, 3, 13, 23, 24, 4, 14, 15, 25, 5, 6, 16, 26, 27, 7, 17, 18, 28, 8, 9, 19, 29],
  tail: [-1, 31, 30, 3],
};

const SHA_ROUNDS_DEFAULT = 5000;
const SHA_ROUNDS_MIN = 1000;
const SHA_ROUNDS_MAX = 999999999;
const SHA_SALT_MAX = 16;

/** Feed `len` bytes of `block` repeated (sha512_process_recycled_bytes). */
function recycled(ctx: { update(data: Uint8Array): unknown }, block: Uint8Array, len: number): void {
  let n = len;
  for (; n >= block.length; n -= block.length) ctx.update(block);
  ctx.update(block.subarray(0, n));
}

function shaCrypt(v: ShaVariant, pw: Uint8Array, setting: string): string | undefined {
  let rest = setting.slice(3);
  let rounds = SHA_ROUNDS_DEFAULT;
  let custom = false;
  if (rest.startsWith('rounds=')) {
    // No zero, no leading zeroes, a '$' after the number, MIN <= rounds <= MAX; nothing is clamped.
    const m = /^[1-9][0-9]*/.exec(rest.slice(7));
    if (!m || rest.charAt(7 + m[0].length) !== '$') return undefined;
    rounds = Number(m[0]);
    if (rounds < SHA_ROUNDS_MIN || rounds > SHA_ROUNDS_MAX) return undefined;
    rest = rest.slice(7 + m[0].length + 1);
    custom = true;
  }
  const end = rest.indexOf('$');
  const saltText = (end < 0 ? rest : rest.slice(0, end)).slice(0, SHA_SALT_MAX);
  const salt = utf8(saltText); // ASCII: check_badsalt_chars let nothing else through
  const n = pw.length;

  let ctx = v.hash();
  ctx.update(pw);
  ctx.update(salt);
  ctx.update(pw);
  let result = ctx.digest();

  ctx = v.hash();
  ctx.update(pw);
  ctx.update(salt);
  recycled(ctx, result, n);
  for (let cnt = n; cnt > 0; cnt >>>= 1) ctx.update(cnt & 1 ? result : pw);
  result = ctx.digest();

  ctx = v.hash();
  for (let i = 0; i < n; i++) ctx.update(pw);
  const pBytes = ctx.digest();

  ctx = v.hash();
  for (let i = 0; i < 16 + result[0]!; i++) ctx.update(salt);
  const sBytes = ctx.digest();

  for (let i = 0; i < rounds; i++) {
    ctx = v.hash();
    if (i & 1) recycled(ctx, pBytes, n);
    else ctx.update(result);
    if (i % 3 !== 0) recycled(ctx, sBytes, salt.length);
    if (i % 7 !== 0) recycled(ctx, pBytes, n);
    if (i & 1) ctx.update(result);
    else recycled(ctx, pBytes, n);
    result = ctx.digest();
  }

  let out = v.prefix + (custom ? `rounds=${rounds}$` : '') + saltText + '$';
  const b64 = (b2: number, b1: number, b0: number, count: number): void => {
    let w = (b2 << 16) | (b1 << 8) | b0;
    for (let i = 0; i < count; i++, w >>>= 6) out += ITOA64[w & 63];
  };
  const byte = (i: number): number => (i < 0 ? 0 : result[i]!);
  for (let i = 0; i < v.order.length; i += 3) b64(result[v.order[i]!]!, result[v.order[i + 1]!]!, result[v.order[i + 2]!]!, 4);
  b64(byte(v.tail[0]), byte(v.tail[1]), byte(v.tail[2]), v.tail[3]);
  return out;
}

// ------------------------------------------------------------------------------------------------
// yescrypt ($y$): the setting as yescrypt_r parses it

interface YescryptSetting {
  params: YescryptParams;
  /** Characters up to and including the '$' before the salt. */
  prefixLen: number;
  /** The salt as written (up to the last '$'). */
  saltText: string;
  salt: Uint8Array;
}

function parseYescryptSetting(setting: string): YescryptSetting | undefined {
  const params: YescryptParams = { flags: 0, N: 0, r: 0, p: 1, t: 0, g: 0, NROM: 0 };
  let pos = 3;
  const next = (min: number): number | undefined => {
    const d = decodeUint32(setting, pos, min);
    if (!d) return undefined;
    pos = d[1];
    return d[0];
  };
  const flavor = next(0);
  if (flavor === undefined) return undefined;
  if (flavor < YESCRYPT_RW) params.flags = flavor;
  else if (flavor <= YESCRYPT_RW + (0x3fc >> 2)) params.flags = YESCRYPT_RW + (flavor - YESCRYPT_RW) * 4;
  else return undefined;
  const nLog2 = next(1);
  if (nLog2 === undefined || nLog2 > 63) return undefined;
  params.N = 2 ** nLog2;
  const r = next(1);
  if (r === undefined) return undefined;
  params.r = r;
  if (setting.charAt(pos) !== '$') {
    const have = next(1);
    if (have === undefined) return undefined;
    if (have & 1) {
      const p = next(2);
      if (p === undefined) return undefined;
      params.p = p;
    }
    if (have & 2) {
      const t = next(1);
      if (t === undefined) return undefined;
      params.t = t;
    }
    if (have & 4) {
      const g = next(1);
      if (g === undefined) return undefined;
      params.g = g;
    }
    if (have & 8) {
      const nromLog2 = next(1);
      if (nromLog2 === undefined || nromLog2 > 63) return undefined;
      params.NROM = 2 ** nromLog2;
    }
  }
  if (setting.charAt(pos++) !== '$') return undefined;
  const last = setting.lastIndexOf('$');
  const saltText = last >= pos ? setting.slice(pos, last) : setting.slice(pos);
  const salt = decode64(saltText, 64);
  if (!salt) return undefined;
  return { params, prefixLen: pos, saltText, salt };
}

function yescryptCrypt(pw: Uint8Array, setting: string): string | undefined {
  if (setting.length + 1 + 43 + 1 > CRYPT_OUTPUT_SIZE) return undefined;
  const s = parseYescryptSetting(setting);
  if (!s) return undefined;
  const hash = yescryptKdf(pw, s.salt, s.params);
  if (!hash) return undefined;
  return setting.slice(0, s.prefixLen) + s.saltText + '$' + encode64(hash);
}

/** A `$y$` setting for the parameters (yescrypt_encode_params_r): flavor, log2 N, r, then p/t/g when not default. */
export function yescryptSetting(params: { flags?: number; N: number; r: number; p?: number; t?: number }, salt: Uint8Array): string {
  const flags = params.flags ?? YESCRYPT_DEFAULTS;
  const p = params.p ?? 1;
  const t = params.t ?? 0;
  const flavor = flags < YESCRYPT_RW ? flags : YESCRYPT_RW + (flags >> 2);
  const nLog2 = Math.log2(params.N);
  if (!Number.isInteger(nLog2) || nLog2 < 1) throw new ExtimgError('EINVAL', `yescrypt N must be a power of 2 above 1, not ${params.N}`);
  if (params.r * p >= 2 ** 30) throw new ExtimgError('EINVAL', `yescrypt r * p must be below 2^30`);
  let out = '$y$' + encodeUint32(flavor, 0) + encodeUint32(nLog2, 1) + encodeUint32(params.r, 1);
  const have = (p !== 1 ? 1 : 0) | (t ? 2 : 0);
  if (have) out += encodeUint32(have, 1);
  if (p !== 1) out += encodeUint32(p, 2);
  if (t) out += encodeUint32(t, 1);
  return out + '$' + encode64(salt);
}

// ------------------------------------------------------------------------------------------------
// The API

/** Characters no setting may hold (crypt(5); libxcrypt's check_badsalt_chars). */
function hasBadChars(setting: string): boolean {
  return /[\x00-\x20\x7f-\uffff!*:;\\]/.test(setting);
}

function passwordBytes(password: Uint8Array | string): Uint8Array {
  const pw = typeof password === 'string' ? utf8(password) : password;
  if (pw.includes(0)) throw new ExtimgError('EINVAL', 'a password for crypt(3) cannot hold a NUL byte');
  return pw;
}

/**
 * crypt(3) of `password` with a full setting string ("$y$j9T$<salt>", "$6$rounds=5000$<salt>" ...):
 * exactly what libxcrypt returns, including its failure token ("*0", or "*1" when the setting
 * starts with "*0") for a setting it refuses or a password of 512 bytes or more. A setting of a
 * scheme not computed here ($1$, $2b$, $7$, DES ...) throws EFORMAT; a yescrypt cost beyond
 * YESCRYPT_MAX_BYTES of memory throws EINVAL.
 */
export function crypt(password: Uint8Array | string, setting: string): string {
  const pw = passwordBytes(password);
  const fail = setting.startsWith('*0') ? '*1' : '*0';
  if (pw.length > CRYPT_MAX_PASSPHRASE) return fail;
  if (hasBadChars(setting)) return fail;
  let out: string | undefined;
  if (setting.startsWith('$y$')) out = yescryptCrypt(pw, setting);
  else if (setting.startsWith('$6$')) out = shaCrypt(SHA512_VARIANT, pw, setting);
  else if (setting.startsWith('$5$')) out = shaCrypt(SHA256_VARIANT, pw, setting);
  else throw new ExtimgError('EFORMAT', `crypt: unsupported hash scheme in setting ${JSON.stringify(setting.slice(0, 8))} (yescrypt $y$, sha512crypt $6$ and sha256crypt $5$ are computed)`, { setting });
  return out ?? fail;
}

/** libxcrypt's gensalt cost for yescrypt (`mkpasswd -R`, crypt_gensalt count): 1..11, 0 or none meaning 5 (j9T). */
function yescryptCost(cost: number): { N: number; r: number } {
  const count = cost === 0 ? 5 : cost;
  if (!Number.isInteger(count) || count < 1 || count > 11) throw new ExtimgError('EINVAL', `yescrypt cost must be 1 to 11 (5 is the default), not ${cost}`, { cost });
  return count < 3 ? { N: 2 ** (count + 9), r: 8 } : { N: 2 ** (count + 7), r: 32 };
}

/**
 * A setting string for the scheme with the given salt bytes, in crypt's "./0-9A-Za-z" base 64.
 * yescrypt: `cost` as libxcrypt's crypt_gensalt and `mkpasswd -R` take it, 1..11, default 5 =
 * Debian's j9T (N=4096, r=32, p=1, what `mkpasswd -m yescrypt` and PAM write); 1 to 64 salt bytes.
 * sha512crypt/sha256crypt: `cost` is rounds=, clamped to 1000..999999999 as crypt_gensalt clamps,
 * left out at the default 5000; 1 or more salt bytes, of which the first 12 (16 characters, the
 * salt maximum) are used.
 */
export function makeSetting(scheme: PasswordScheme, saltBytes: Uint8Array, cost?: number): string {
  if (scheme === 'yescrypt') {
    if (saltBytes.length < 1 || saltBytes.length > 64) throw new ExtimgError('EINVAL', `a yescrypt salt is 1 to 64 bytes, not ${saltBytes.length}`);
    return yescryptSetting(yescryptCost(cost ?? 5), saltBytes);
  }
  if (scheme !== 'sha512crypt' && scheme !== 'sha256crypt') throw new ExtimgError('EINVAL', `unknown password scheme ${JSON.stringify(scheme)}`);
  if (saltBytes.length < 1) throw new ExtimgError('EINVAL', 'a SHA-crypt salt needs at least 1 byte');
  const prefix = scheme === 'sha512crypt' ? '$6$' : '$5$';
  let rounds = cost ?? SHA_ROUNDS_DEFAULT;
  if (!Number.isFinite(rounds)) throw new ExtimgError('EINVAL', `rounds must be a number, not ${cost}`);
  rounds = Math.min(SHA_ROUNDS_MAX, Math.max(SHA_ROUNDS_MIN, Math.floor(rounds)));
  const salt = encode64(saltBytes.subarray(0, 12)).slice(0, SHA_SALT_MAX);
  return prefix + (rounds === SHA_ROUNDS_DEFAULT ? '' : `rounds=${rounds}$`) + salt;
}

/** Salt bytes per scheme: libxcrypt's gensalt defaults (16 for yescrypt: 22 characters; 12 for SHA-crypt: 16). */
const SALT_BYTES: Record<PasswordScheme, number> = { yescrypt: 16, sha512crypt: 12, sha256crypt: 12 };

/**
 * Hash with a fresh salt: random (crypto.getRandomValues), or derived from `seed` + `user` when
 * a seed is given (reproducible builds: HMAC-SHA256 keyed by the seed over a label and the user
 * name, so users get different salts and the seed cannot be read back from them).
 */
export function hashPassword(password: string, scheme: PasswordScheme, options: { seed?: Uint8Array; user?: string } = {}): string {
  const n = SALT_BYTES[scheme];
  if (n === undefined) throw new ExtimgError('EINVAL', `unknown password scheme ${JSON.stringify(scheme)}`);
  const salt = options.seed !== undefined ? hmacSha256(options.seed, utf8('extimg password salt'), new Uint8Array(1), utf8(options.user ?? '')).subarray(0, n) : globalThis.crypto.getRandomValues(new Uint8Array(n));
  const pw = passwordBytes(password);
  if (pw.length > CRYPT_MAX_PASSPHRASE) throw new ExtimgError('EINVAL', `a password for crypt(3) is at most ${CRYPT_MAX_PASSPHRASE} bytes, not ${pw.length}`);
  const hash = crypt(pw, makeSetting(scheme, salt));
  if (hash.startsWith('*')) throw new Error(`hashPassword: crypt failed for a setting made here (${scheme})`);
  return hash;
}

// ------------------------------------------------------------------------------------------------
// Hash syntax

const B64 = '[./0-9A-Za-z]';
const OTHER_SCHEMES: { name: string; re: RegExp }[] = [
  { name: 'md5crypt', re: new RegExp(`^\\$1\\$[^$]{0,8}\\$${B64}{22}$`) },
  { name: 'bcrypt', re: new RegExp(`^\\$2[abxy]\\$[0-3][0-9]\\$${B64}{53}$`) },
  { name: 'scrypt', re: new RegExp(`^\\$7\\$${B64}{11}[^$]*\\$${B64}{43}$`) },
  { name: 'gost-yescrypt', re: new RegExp(`^\\$gy\\$${B64}+\\$${B64}*\\$${B64}{43}$`) },
  { name: 'sha1crypt', re: new RegExp(`^\\$sha1\\$[0-9]+\\$${B64}{1,64}\\$${B64}{28}$`) },
  { name: 'descrypt', re: new RegExp(`^${B64}{13}$`) },
];

function checkSha(hash: string, v: ShaVariant): string | undefined {
  const m = /^\$[56]\$(?:rounds=([0-9]+)\$)?([^$]*)\$([^$]*)$/.exec(hash);
  if (!m) return `not ${v.prefix}[rounds=N$]SALT$HASH`;
  if (m[1] !== undefined && (!/^[1-9]/.test(m[1]) || Number(m[1]) < SHA_ROUNDS_MIN || Number(m[1]) > SHA_ROUNDS_MAX)) return `rounds=${m[1]} is not ${SHA_ROUNDS_MIN} to ${SHA_ROUNDS_MAX} without leading zeroes`;
  if (m[2]!.length > SHA_SALT_MAX) return `the salt is longer than ${SHA_SALT_MAX} characters (crypt(3) would cut it, so this hash never matches)`;
  const chars = v.size === 64 ? 86 : 43;
  const last = v.size === 64 ? 4 : 16; // the last character holds 2 (SHA-512) or 4 (SHA-256) bits
  if (!new RegExp(`^${B64}{${chars}}$`).test(m[3]!)) return `the hash part is not ${chars} characters of ./0-9A-Za-z`;
  if (ITOA64.indexOf(m[3]!.charAt(chars - 1)) >= last) return 'the last character of the hash part has bits no hash sets';
  return undefined;
}

function checkYescrypt(hash: string): string | undefined {
  const s = parseYescryptSetting(hash);
  const last = hash.lastIndexOf('$');
  if (!s || last < s.prefixLen) return 'not $y$PARAMS$SALT$HASH with a salt in ./0-9A-Za-z';
  const refused = yescryptParamsError(s.params);
  if (refused !== undefined) return `parameters crypt(3) refuses: ${refused}`;
  const body = hash.slice(last + 1);
  if (body.length !== 43 || decode64(body, 32)?.length !== 32) return 'the hash part is not 43 characters encoding 32 bytes';
  return undefined;
}

/**
 * Whether `hash` is a well-formed crypt(3) hash of a scheme we know, or a locked/disabled form:
 * "!" or "*" (alone, repeated, or as "!!"), or "!" in front of a hash (`usermod -L`). The hash
 * schemes computed here are checked fully (parameters, salt, length and unused bits of the hash
 * part); others crypt(3) knows (md5crypt, bcrypt, scrypt, gost-yescrypt, sha1crypt, DES) by shape
 * only, as 'other'. An empty field (login without a password) is refused.
 */
export function checkHashSyntax(hash: string): { ok: true; scheme?: PasswordScheme | 'other' } | { ok: false; why: string } {
  if (hash === '') return { ok: false, why: 'an empty hash lets anyone log in without a password (use "!" to lock the account)' };
  if (/^[!*]+$/.test(hash)) return { ok: true };
  const h = hash.startsWith('!') ? hash.slice(1) : hash;
  if (hasBadChars(h)) return { ok: false, why: 'a hash is printable ASCII without spaces, ":", ";", "*", "!" or "\\"' };
  let why: string | undefined;
  let scheme: PasswordScheme;
  if (h.startsWith('$y$')) {
    why = checkYescrypt(h);
    scheme = 'yescrypt';
  } else if (h.startsWith('$6$')) {
    why = checkSha(h, SHA512_VARIANT);
    scheme = 'sha512crypt';
  } else if (h.startsWith('$5$')) {
    why = checkSha(h, SHA256_VARIANT);
    scheme = 'sha256crypt';
  } else {
    if (OTHER_SCHEMES.some((o) => o.re.test(h))) return { ok: true, scheme: 'other' };
    return { ok: false, why: 'not a crypt(3) hash of a known scheme ($y$, $6$, $5$, $1$, $2b$, $7$, $gy$, $sha1$, DES)' };
  }
  return why === undefined ? { ok: true, scheme } : { ok: false, why: `${scheme}: ${why}` };
}

// ------------------------------------------------------------------------------------------------
// The scheme an image expects

/** KEY=VALUE lines of os-release(5), values unquoted. */
function parseOsRelease(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2]!.trim();
    if ((v.startsWith('"') && v.endsWith('"') && v.length >= 2) || (v.startsWith("'") && v.endsWith("'") && v.length >= 2)) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    out.set(m[1]!, v);
  }
  return out;
}

/** login.defs' ENCRYPT_METHOD (the last one set, as shadow's getdef reads the file). */
function encryptMethod(loginDefs: string): PasswordScheme | undefined {
  let scheme: PasswordScheme | undefined;
  for (const line of loginDefs.split('\n')) {
    const m = /^\s*ENCRYPT_METHOD\s+"?([A-Za-z0-9]+)"?\s*(?:#.*)?$/.exec(line);
    if (!m) continue;
    const method = m[1]!.toUpperCase();
    if (method === 'YESCRYPT') scheme = 'yescrypt';
    else if (method === 'SHA512') scheme = 'sha512crypt';
    else if (method === 'SHA256') scheme = 'sha256crypt';
  }
  return scheme;
}

/** Debian releases before 11 (bullseye), by codename, for an os-release without VERSION_ID. */
const OLD_DEBIAN = new Set(['buzz', 'rex', 'bo', 'hamm', 'slink', 'potato', 'woody', 'sarge', 'etch', 'lenny', 'squeeze', 'wheezy', 'jessie', 'stretch', 'buster']);

/**
 * The scheme a distribution expects, from its /etc/os-release and /etc/login.defs text (either
 * may be missing): ENCRYPT_METHOD in login.defs wins (YESCRYPT, SHA512, SHA256; others, which
 * cannot be computed here, are passed over); then Debian >= 11 (testing and sid too) and Ubuntu
 * >= 22.04 -> yescrypt; everything else -> sha512crypt, which every libxcrypt and glibc verifies.
 */
export function schemeForImage(osRelease: string | undefined, loginDefs: string | undefined): PasswordScheme {
  const fromDefs = loginDefs === undefined ? undefined : encryptMethod(loginDefs);
  if (fromDefs) return fromDefs;
  if (osRelease === undefined) return 'sha512crypt';
  const os = parseOsRelease(osRelease);
  const id = os.get('ID')?.toLowerCase();
  const version = os.get('VERSION_ID');
  const major = version !== undefined ? Number(/^[0-9]+/.exec(version)?.[0]) : NaN;
  if (id === 'debian') {
    if (Number.isFinite(major)) return major >= 11 ? 'yescrypt' : 'sha512crypt';
    const codename = os.get('VERSION_CODENAME')?.toLowerCase();
    return codename !== undefined && OLD_DEBIAN.has(codename) ? 'sha512crypt' : 'yescrypt';
  }
  if (id === 'ubuntu') {
    const minor = Number(/^[0-9]+\.([0-9]+)/.exec(version ?? '')?.[1] ?? 0);
    return major > 22 || (major === 22 && minor >= 4) ? 'yescrypt' : 'sha512crypt';
  }
  return 'sha512crypt';
}
