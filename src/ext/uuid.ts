import { ExtimgError } from '../errors.js';

export function parseUuid(text: string, what = 'UUID'): Uint8Array {
  const hex = text.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex) || !/^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/.test(text)) {
    throw new ExtimgError('EUSAGE', `${what} '${text}' is not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`, { uuid: text });
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function formatUuid(b: Uint8Array): string {
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Set the RFC 4122 version-4 and variant bits, as uuid_generate() does. */
function stamp(b: Uint8Array): Uint8Array {
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  return b;
}

export function randomUuid(): Uint8Array {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  return stamp(b);
}

/**
 * A UUID derived from a string (for reproducible builds): 128 bits of a keyed FNV-1a/murmur
 * mix. Not cryptographic; it only has to be stable and well spread.
 */
export function derivedUuid(seed: string): Uint8Array {
  const bytes = new TextEncoder().encode(seed);
  const out = new Uint8Array(16);
  const dv = new DataView(out.buffer);
  for (let lane = 0; lane < 4; lane++) {
    let h = (0x811c9dc5 ^ Math.imul(lane + 1, 0x9e3779b9)) >>> 0;
    for (const x of bytes) h = Math.imul(h ^ x, 0x01000193) >>> 0;
    // murmur3 finaliser
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    dv.setUint32(lane * 4, h >>> 0);
  }
  return stamp(out);
}
