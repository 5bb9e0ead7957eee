import { ExtimgError } from '../errors.js';

/**
 * Small readers shared by the archive parsers: fixed-width ASCII numbers, C strings, and the one
 * shape of ECORRUPT error ("<archive>: <what> at byte N (entry 'name')").
 */

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Raw bytes as text for messages (invalid UTF-8 becomes U+FFFD). */
export function show(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}

/** Header text (keys, owner names, numbers): short and nearly always ASCII, so no TextDecoder call. */
export function text(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b >= 0x80) return utf8.decode(bytes);
    s += String.fromCharCode(b);
  }
  return s;
}

/** The first `n` bytes as hex pairs: "7f 45 4c 46". */
export function hexStart(data: Uint8Array, n = 4): string {
  return Array.from(data.subarray(0, n), (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** Bytes up to the first NUL (or the end of the field). */
export function cString(field: Uint8Array): Uint8Array {
  const nul = field.indexOf(0);
  return nul < 0 ? field : field.subarray(0, nul);
}

/** ASCII bytes of a field, for magic comparisons. */
export function ascii(data: Uint8Array, start: number, length: number): string {
  let s = '';
  const end = Math.min(data.length, start + length);
  for (let i = start; i < end; i++) s += String.fromCharCode(data[i]!);
  return s;
}

export function startsWith(data: Uint8Array, magic: ArrayLike<number>, at = 0): boolean {
  if (data.length < at + magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (data[at + i] !== magic[i]) return false;
  return true;
}

/** The offset of the first byte that is not zero, or -1. */
export function firstNonZero(data: Uint8Array, from = 0): number {
  let i = from;
  // Eight bytes at a time where aligned: zero-filled inputs can be gigabytes.
  const aligned = (8 - ((data.byteOffset + i) & 7)) & 7;
  for (const end = Math.min(data.length, i + aligned); i < end; i++) if (data[i] !== 0) return i;
  const words = Math.floor((data.length - i) / 8);
  if (words > 0) {
    const w = new BigUint64Array(data.buffer, data.byteOffset + i, words);
    for (let k = 0; k < words; k++) {
      if (w[k] !== 0n) {
        for (let j = i + k * 8; ; j++) if (data[j] !== 0) return j;
      }
    }
    i += words * 8;
  }
  for (; i < data.length; i++) if (data[i] !== 0) return i;
  return -1;
}

export interface Where {
  origin: string;
  offset: number;
  /** The entry's name as far as it is known (a function: decoded only when an error needs it). */
  entry?: string | (() => string | undefined);
}

export function entryOf(where: Where): string | undefined {
  return typeof where.entry === 'function' ? where.entry() : where.entry;
}

/** A truncated or corrupt archive: one line naming the input, the byte offset and the entry. */
export function corrupt(where: Where, what: string): ExtimgError {
  const name = entryOf(where);
  const entry = name !== undefined && name !== '' ? ` (entry '${name}')` : '';
  return new ExtimgError('ECORRUPT', `${where.origin}: ${what} at byte ${where.offset}${entry}`, {
    archive: where.origin,
    offset: where.offset,
    ...(name !== undefined ? { entry: name } : {}),
  });
}

/**
 * A fixed-width number in `radix` (8 or 16) written as ASCII digits, as tar, cpio and ar store
 * them: leading spaces allowed, digits, then NULs or spaces to the end. An empty field is 0.
 * Returns -1 for anything else, so the caller can say where.
 */
export function parseAsciiNumber(data: Uint8Array, start: number, length: number, radix: 8 | 10 | 16): number {
  let i = start;
  const end = start + length;
  while (i < end && data[i] === 0x20) i++;
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = data[i]!;
    let d: number;
    if (c >= 0x30 && c <= 0x39) d = c - 0x30;
    else if (radix === 16 && c >= 0x61 && c <= 0x66) d = c - 0x61 + 10;
    else if (radix === 16 && c >= 0x41 && c <= 0x46) d = c - 0x41 + 10;
    else break;
    if (d >= radix) return -1;
    value = value * radix + d;
    digits++;
  }
  for (; i < end; i++) if (data[i] !== 0 && data[i] !== 0x20) return -1;
  if (value > Number.MAX_SAFE_INTEGER) return -1;
  return digits === 0 ? 0 : value;
}

/** Round up to a multiple of `n` (a power of two). */
export function align(x: number, n: number): number {
  return Math.ceil(x / n) * n;
}
