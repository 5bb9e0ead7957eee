import { ExtimgError } from '../errors.js';

/**
 * Names on disk are bytes. The tree keys directory entries by a "byte string": a JS string whose
 * char codes are the raw bytes (0..255), so any byte sequence (UTF-8 or not) survives unchanged.
 */
export const MAX_NAME_LEN = 255; // EXT2_NAME_LEN

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

export function bytesToKey(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 4096) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 4096) as unknown as number[]);
  }
  return s;
}

export function keyToBytes(key: string): Uint8Array {
  const out = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) out[i] = key.charCodeAt(i);
  return out;
}

/** A key's bytes decoded as UTF-8 for messages and listings (invalid bytes become U+FFFD). */
export function keyToDisplay(key: string): string {
  return decoder.decode(keyToBytes(key));
}

/** A user-facing path (JS string, encoded UTF-8, or raw bytes) as a byte string. */
export function pathToKey(path: string | Uint8Array): string {
  return bytesToKey(typeof path === 'string' ? encoder.encode(path) : path);
}

export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

/**
 * Split a byte-string path into components. Empty components (from `//` or a trailing `/`) and
 * `.` are dropped as a shell would; `..` is kept for the resolver, which clamps it at the root.
 */
export function splitPath(key: string): string[] {
  const parts: string[] = [];
  for (const part of key.split('/')) {
    if (part === '' || part === '.') continue;
    parts.push(part);
  }
  return parts;
}

/** Check that a single component can be stored as an ext directory entry name. */
export function checkName(key: string, where: string): void {
  if (key.length === 0) throw new ExtimgError('EBADNAME', `${where}: empty file name`, { path: where });
  if (key === '.' || key === '..') {
    throw new ExtimgError('EBADNAME', `${where}: '${key}' cannot be used as a file name`, { path: where });
  }
  if (key.length > MAX_NAME_LEN) {
    throw new ExtimgError(
      'ENAMETOOLONG',
      `${where}: name is ${key.length} bytes, ext allows at most ${MAX_NAME_LEN}`,
      { path: where, length: key.length },
    );
  }
  if (key.includes('\0')) throw new ExtimgError('EBADNAME', `${where}: name contains a NUL byte`, { path: where });
  if (key.includes('/')) throw new ExtimgError('EBADNAME', `${where}: name contains '/'`, { path: where });
}
