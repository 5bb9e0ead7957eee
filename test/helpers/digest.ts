import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';

/**
 * File content is compared through a digest that every reader can compute cheaply, also for a
 * multi-GiB sparse file: sha256 over the logical size and each 64 KiB chunk that is not all zero,
 * preceded by its chunk index. Two contents have the same digest exactly when they are equal
 * (same size, same bytes, holes reading as zeros), but a reader that knows where the holes are
 * never has to hash them.
 */
export const CHUNK = 64 * 1024;

const ZERO_CHUNK = new Uint8Array(CHUNK);

function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
}

function isZero(bytes: Uint8Array): boolean {
  return Buffer.compare(bytes, ZERO_CHUNK.subarray(0, bytes.length)) === 0;
}

export class ContentDigest {
  private readonly hash = createHash('sha256');
  private next = 0;

  constructor(readonly size: number) {
    this.hash.update(u64(size));
  }

  /** Feed chunk `index` (CHUNK bytes, shorter only at the end); chunks must come in ascending order. */
  chunk(index: number, bytes: Uint8Array): void {
    if (index < this.next) throw new Error(`digest chunks out of order: ${index} after ${this.next - 1}`);
    const expectedLength = Math.min(CHUNK, this.size - index * CHUNK);
    if (bytes.length !== expectedLength) {
      throw new Error(`digest chunk ${index} has ${bytes.length} bytes, expected ${expectedLength}`);
    }
    this.next = index + 1;
    if (isZero(bytes)) return;
    this.hash.update(u64(index));
    this.hash.update(bytes);
  }

  hex(): string {
    return this.hash.digest('hex');
  }
}

export function chunkCount(size: number): number {
  return Math.ceil(size / CHUNK);
}

/** Digest of bytes held in memory. */
export function digestBytes(bytes: Uint8Array): string {
  const d = new ContentDigest(bytes.length);
  for (let i = 0; i < chunkCount(bytes.length); i++) d.chunk(i, bytes.subarray(i * CHUNK, (i + 1) * CHUNK));
  return d.hex();
}

/**
 * Digest of a host file read from start to end (all `size` bytes). Reading stops at `size`;
 * a file shorter than `size` is an error.
 */
export function digestFile(path: string | Buffer, size: number): string {
  const fd = openSync(path, 'r');
  try {
    const d = new ContentDigest(size);
    // Read 1 MiB at a time and hand it to the digest in CHUNK pieces.
    const big = Buffer.allocUnsafe(16 * CHUNK);
    let pos = 0;
    while (pos < size) {
      const want = Math.min(big.length, size - pos);
      let got = 0;
      while (got < want) {
        const n = readSync(fd, big, got, want - got, pos + got);
        if (n === 0) throw new Error(`${String(path)}: short read at ${pos + got} of ${size}`);
        got += n;
      }
      for (let off = 0; off < want; off += CHUNK) {
        d.chunk((pos + off) / CHUNK, big.subarray(off, Math.min(want, off + CHUNK)));
      }
      pos += want;
    }
    return d.hex();
  } finally {
    closeSync(fd);
  }
}

/**
 * Digest of a file of which only some chunks can hold data: `chunkBytes(i)` gives chunk i for the
 * ascending chunk indices in `candidates`; all other chunks are zero.
 */
export function digestSparse(size: number, candidates: Iterable<number>, chunkBytes: (index: number) => Uint8Array): string {
  const d = new ContentDigest(size);
  for (const i of candidates) d.chunk(i, chunkBytes(i));
  return d.hex();
}
