/**
 * A tiny tar writer for hand-made fixtures: quirks the real tools do not produce on demand
 * (global pax headers, libarchive xattrs, base-256 numbers, broken checksums, lying sizes).
 * Independent of src/ingest: it writes the ustar layout from the spec.
 */

export interface HeaderSpec {
  name: string | Uint8Array;
  type?: string;
  size?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string | Uint8Array;
  devmajor?: number;
  devminor?: number;
  /** 'posix' ("ustar\0" "00"), 'gnu' ("ustar  \0"), 'v7' (no magic). Default posix. */
  magic?: 'posix' | 'gnu' | 'v7';
  prefix?: string;
  /** Write these numeric fields in GNU base-256. */
  base256?: ReadonlyArray<'uid' | 'gid' | 'size' | 'mtime'>;
  /** Store this value in the checksum field instead of the right one. */
  badChecksum?: number;
  /** Write the checksum as the signed sum (old Sun tars). */
  signedChecksum?: boolean;
}

const enc = new TextEncoder();

function bytes(s: string | Uint8Array): Uint8Array {
  return typeof s === 'string' ? enc.encode(s) : s;
}

function octal(h: Uint8Array, off: number, len: number, v: number): void {
  const s = v.toString(8).padStart(len - 1, '0');
  if (s.length > len - 1) throw new Error(`octal ${v} does not fit ${len} bytes`);
  h.set(enc.encode(s), off);
}

function base256(h: Uint8Array, off: number, len: number, v: number): void {
  let x = BigInt(v);
  if (x < 0n) x += 1n << BigInt(8 * len);
  for (let i = len - 1; i >= 0; i--) {
    h[off + i] = Number(x & 0xffn);
    x >>= 8n;
  }
  h[off] = v < 0 ? 0xff : 0x80 | h[off]!;
}

export function header(spec: HeaderSpec): Uint8Array {
  const h = new Uint8Array(512);
  const name = bytes(spec.name);
  if (name.length > 100) throw new Error('name over 100 bytes: use a long-name header');
  h.set(name, 0);
  const num = (field: 'uid' | 'gid' | 'size' | 'mtime', off: number, len: number, v: number): void => {
    if (spec.base256?.includes(field)) base256(h, off, len, v);
    else octal(h, off, len, v);
  };
  octal(h, 100, 8, spec.mode ?? 0o644);
  num('uid', 108, 8, spec.uid ?? 0);
  num('gid', 116, 8, spec.gid ?? 0);
  num('size', 124, 12, spec.size ?? 0);
  num('mtime', 136, 12, spec.mtime ?? 1_600_000_000);
  h[156] = (spec.type ?? '0').charCodeAt(0);
  if (spec.linkname) h.set(bytes(spec.linkname), 157);
  const magic = spec.magic ?? 'posix';
  if (magic === 'posix') {
    h.set(enc.encode('ustar\u000000'), 257);
    if (spec.prefix) h.set(enc.encode(spec.prefix), 345);
  } else if (magic === 'gnu') {
    h.set(enc.encode('ustar  \u0000'), 257);
  }
  if (magic !== 'v7') {
    octal(h, 329, 8, spec.devmajor ?? 0);
    octal(h, 337, 8, spec.devminor ?? 0);
  }
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += spec.signedChecksum && b >= 0x80 ? b - 256 : b;
  const s = (spec.badChecksum ?? sum).toString(8).padStart(6, '0');
  h.set(enc.encode(`${s}\u0000 `), 148);
  return h;
}

export function pad(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.length / 512) * 512);
  out.set(data);
  return out;
}

/** One pax record "LEN key=value\n" (LEN counts itself). */
export function paxRecord(key: string, value: string | Uint8Array): Uint8Array {
  const v = bytes(value);
  const body = enc.encode(` ${key}=`);
  const rest = body.length + v.length + 1;
  let len = rest + 1;
  while (String(len).length + rest !== len) len++;
  const out = new Uint8Array(len);
  out.set(enc.encode(String(len)), 0);
  out.set(body, String(len).length);
  out.set(v, String(len).length + body.length);
  out[len - 1] = 0x0a;
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** A member: header plus padded data. */
export function member(spec: HeaderSpec, data: Uint8Array | string = new Uint8Array(0)): Uint8Array {
  const d = bytes(data);
  return concat(header({ ...spec, size: spec.size ?? d.length }), pad(d));
}

/** A pax extended ('x') or global ('g') header with its records. */
export function pax(records: Array<[string, string | Uint8Array]>, type: 'x' | 'g' = 'x', name = 'PaxHeaders/x'): Uint8Array {
  return member({ name, type }, concat(...records.map(([k, v]) => paxRecord(k, v))));
}

export const END = new Uint8Array(1024);

export function tar(...members: Uint8Array[]): Uint8Array {
  return concat(...members, END);
}
