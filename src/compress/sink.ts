/**
 * A growable output buffer: preallocate when the stream says how big it is, else grow
 * geometrically (fflate's way), and hand back the bytes with at most one trimming copy. The
 * result always owns its whole ArrayBuffer, so it can be transferred to another thread.
 */
export class ByteSink {
  buf: Uint8Array;
  len = 0;

  constructor(capacity: number) {
    this.buf = new Uint8Array(Math.max(0, Math.floor(capacity)));
  }

  /** Make room for `n` more bytes. */
  reserve(n: number): void {
    const need = this.len + n;
    if (need <= this.buf.length) return;
    let cap = Math.max(this.buf.length * 2, 65536);
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  push(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** The bytes written, in an array of exactly that length. */
  result(): Uint8Array {
    if (this.len === this.buf.length && this.buf.byteOffset === 0 && this.buf.byteLength === this.buf.buffer.byteLength) return this.buf;
    return this.buf.slice(0, this.len);
  }
}

/** Concatenate parts into one array (no copy for a single part). */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}
