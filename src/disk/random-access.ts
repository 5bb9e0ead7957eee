import { ExtimgError } from '../errors.js';

/**
 * Random access to bytes: a file, a partition of a disk, a qcow2 image's virtual disk. The ext
 * reader reads a filesystem through this, and the disk layer stacks one on another (a partition
 * of a qcow2 image of a file). io/file-source.ts FileSource and the ingest/source.ts sources
 * have the same two members, so they fit as they are.
 */
export interface RandomAccess {
  readonly size: number;
  /** Fill `into` completely with the bytes at `position`; throws ExtimgError ('EIO') past the end. */
  read(position: number, into: Uint8Array): void;
}

/**
 * Refuse a read that does not lie within [0, size) before it reaches the layer below (a
 * FileSource throws a RangeError there, not an ExtimgError).
 */
export function checkRange(origin: string, size: number, position: number, length: number): void {
  if (!Number.isSafeInteger(position) || position < 0 || position + length > size) {
    throw new ExtimgError('EIO', `${origin}: read of ${length} bytes at offset ${position} passes the end (${size} bytes)`, { origin, position, length, size });
  }
}

/** `size` bytes at `offset` of another access: a partition of a disk. */
export class SliceAccess implements RandomAccess {
  constructor(
    readonly base: RandomAccess,
    readonly offset: number,
    readonly size: number,
    /** The slice as messages name it (`disk.qcow2@2`). */
    readonly origin: string,
  ) {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(size) || offset < 0 || size < 0 || offset + size > base.size) {
      throw new ExtimgError('ECORRUPT', `${origin}: ${size} bytes at offset ${offset} pass the end of what holds them (${base.size} bytes)`, { origin, offset, size });
    }
  }

  read(position: number, into: Uint8Array): void {
    checkRange(this.origin, this.size, position, into.length);
    this.base.read(this.offset + position, into);
  }
}

/** Bytes in memory (tests, small images). */
export class MemoryAccess implements RandomAccess {
  readonly size: number;
  constructor(
    readonly data: Uint8Array,
    readonly origin = 'memory',
  ) {
    this.size = data.length;
  }

  read(position: number, into: Uint8Array): void {
    checkRange(this.origin, this.size, position, into.length);
    into.set(this.data.subarray(position, position + into.length));
  }
}

/** `length` bytes at `position` of `access`, in a new array. */
export function readBytes(access: RandomAccess, position: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  access.read(position, out);
  return out;
}
