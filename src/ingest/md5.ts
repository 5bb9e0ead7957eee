/**
 * MD5 (RFC 1321) in plain TypeScript, incremental: what dpkg's md5sums and conffile hashes and
 * pacman's %BACKUP% entries hold. Not for security, only to match those databases.
 */

const S = [7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21];
const K = new Uint32Array(64);
for (let i = 0; i < 64; i++) K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) >>> 0;

export class Md5 {
  private readonly h = new Uint32Array([0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]);
  private readonly m = new Uint32Array(16);
  private readonly block = new Uint8Array(64);
  private blockLen = 0;
  private length = 0;

  update(data: Uint8Array): this {
    let at = 0;
    this.length += data.length;
    if (this.blockLen > 0) {
      const n = Math.min(64 - this.blockLen, data.length);
      this.block.set(data.subarray(0, n), this.blockLen);
      this.blockLen += n;
      at = n;
      if (this.blockLen < 64) return this;
      this.compress(this.block, 0);
      this.blockLen = 0;
    }
    for (; at + 64 <= data.length; at += 64) this.compress(data, at);
    if (at < data.length) {
      this.block.set(data.subarray(at), 0);
      this.blockLen = data.length - at;
    }
    return this;
  }

  hex(): string {
    const bits = this.length * 8;
    const pad = new Uint8Array(((this.blockLen < 56 ? 56 : 120) - this.blockLen) + 8);
    pad[0] = 0x80;
    const dv = new DataView(pad.buffer);
    dv.setUint32(pad.length - 8, bits >>> 0, true);
    dv.setUint32(pad.length - 4, Math.floor(bits / 2 ** 32), true);
    const length = this.length;
    this.update(pad);
    this.length = length;
    let out = '';
    for (const word of this.h) for (let b = 0; b < 4; b++) out += ((word >>> (8 * b)) & 0xff).toString(16).padStart(2, '0');
    return out;
  }

  private compress(data: Uint8Array, at: number): void {
    const m = this.m;
    for (let i = 0; i < 16; i++) {
      const j = at + 4 * i;
      m[i] = data[j]! | (data[j + 1]! << 8) | (data[j + 2]! << 16) | (data[j + 3]! << 24);
    }
    let a = this.h[0]!;
    let b = this.h[1]!;
    let c = this.h[2]!;
    let d = this.h[3]!;
    for (let i = 0; i < 64; i++) {
      let f: number;
      let g: number;
      if (i < 16) {
        f = (b & c) | (~b & d);
        g = i;
      } else if (i < 32) {
        f = (d & b) | (~d & c);
        g = (5 * i + 1) & 15;
      } else if (i < 48) {
        f = b ^ c ^ d;
        g = (3 * i + 5) & 15;
      } else {
        f = c ^ (b | ~d);
        g = (7 * i) & 15;
      }
      const t = d;
      d = c;
      c = b;
      const x = (a + f + K[i]! + m[g]!) | 0;
      b = (b + ((x << S[i]!) | (x >>> (32 - S[i]!)))) | 0;
      a = t;
    }
    this.h[0] = (this.h[0]! + a) | 0;
    this.h[1] = (this.h[1]! + b) | 0;
    this.h[2] = (this.h[2]! + c) | 0;
    this.h[3] = (this.h[3]! + d) | 0;
  }
}

/** The MD5 of a file's content in the tree, read in chunks. */
export function md5Content(content: { size: number; open(): { read(p: number, into: Uint8Array): void; close(): void } }): string {
  const h = new Md5();
  const r = content.open();
  try {
    const chunk = new Uint8Array(Math.min(content.size, 1 << 20));
    for (let p = 0; p < content.size; p += chunk.length) {
      const part = chunk.subarray(0, Math.min(chunk.length, content.size - p));
      r.read(p, part);
      h.update(part);
    }
  } finally {
    r.close();
  }
  return h.hex();
}
