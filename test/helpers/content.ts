import type { ByteRange, ContentReader, FileContent } from '../../src/tree/content.js';

/** A small fast seeded PRNG (mulberry32), so generated trees are the same on every run. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  u32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 2 ** 32) * n);
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    const words = Math.floor(n / 4);
    const view = new DataView(out.buffer);
    for (let i = 0; i < words; i++) view.setUint32(i * 4, this.u32(), true);
    for (let i = words * 4; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
  /** Random bytes none of which is zero (so a block of them is never mistaken for a hole). */
  nonZeroBytes(n: number): Uint8Array {
    const out = this.bytes(n);
    for (let i = 0; i < n; i++) if (out[i] === 0) out[i] = 1 + (i % 255);
    return out;
  }
}

export interface Segment {
  offset: number;
  bytes: Uint8Array;
}

/**
 * A file of any logical size (GiBs) that holds data only in a few segments: the segments are its
 * dataRanges, everything else is a hole. Nothing of the logical size is ever allocated in memory.
 */
export class SparseContent implements FileContent {
  readonly dataRanges: readonly ByteRange[];
  readonly origin = 'test sparse content';
  readonly segments: readonly Segment[];

  constructor(
    readonly size: number,
    segments: Segment[],
  ) {
    const sorted = [...segments].filter((s) => s.bytes.length > 0).sort((a, b) => a.offset - b.offset);
    for (let i = 0; i < sorted.length; i++) {
      const s = sorted[i]!;
      if (s.offset < 0 || s.offset + s.bytes.length > size) throw new RangeError(`segment at ${s.offset} outside file of ${size} bytes`);
      if (i > 0 && sorted[i - 1]!.offset + sorted[i - 1]!.bytes.length > s.offset) throw new RangeError('overlapping segments');
    }
    this.segments = sorted;
    this.dataRanges = sorted.map((s) => ({ offset: s.offset, length: s.bytes.length }));
  }

  open(): ContentReader {
    const segments = this.segments;
    const size = this.size;
    return {
      read(position: number, into: Uint8Array): void {
        if (position < 0 || position + into.length > size) throw new RangeError('read past end of content');
        into.fill(0);
        const end = position + into.length;
        for (const s of segments) {
          const a = Math.max(position, s.offset);
          const b = Math.min(end, s.offset + s.bytes.length);
          if (a < b) into.set(s.bytes.subarray(a - s.offset, b - s.offset), a - position);
        }
      },
      close(): void {},
    };
  }
}

/** Dense content of `size` bytes generated from `seed` (non-zero bytes, so never holes). */
export function denseBytes(seed: number, size: number): Uint8Array {
  return new Rng(seed).nonZeroBytes(size);
}
