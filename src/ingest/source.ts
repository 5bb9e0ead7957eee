import { BytesContent, SegmentedContent, type ByteRange, type ContentReader, type FileContent } from '../tree/content.js';
import { firstNonZero } from './bytes.js';

/**
 * A decompressed archive as the parsers read it: random access to its bytes, wherever they are
 * (in memory, in an uncompressed input file, in a spool file the decompressor wrote). Parsers
 * read headers with `bytes()` and never read file contents: a member's data becomes a content
 * reference (`content()`) that the image writer reads once, when it writes the file. So no
 * archive is held whole, and an uncompressed tar on disk is never copied at all.
 */
export interface ByteSource {
  readonly size: number;
  /**
   * The bytes [offset, offset + length) (clipped at `size`). The array is the caller's to keep:
   * a stable view for memory sources, a fresh copy for file sources.
   */
  bytes(offset: number, length: number): Uint8Array;
  /** Fill `into` with the bytes at `position` (throws past the end). */
  read(position: number, into: Uint8Array): void;
  /** The first offset at or after `from` whose byte is not zero, or -1. */
  /** The first offset in [from, end) (end: the size by default) whose byte is not zero, or -1. */
  firstNonZero(from: number, end?: number): number;
}

/** An archive in memory (the library's addArchive(bytes), small inputs, tests). */
export class MemorySource implements ByteSource {
  readonly size: number;
  constructor(readonly data: Uint8Array) {
    this.size = data.length;
  }
  bytes(offset: number, length: number): Uint8Array {
    return this.data.subarray(offset, Math.min(this.size, offset + length));
  }
  read(position: number, into: Uint8Array): void {
    if (position < 0 || position + into.length > this.size) throw new RangeError('read past the end of the archive');
    into.set(this.data.subarray(position, position + into.length));
  }
  firstNonZero(from: number, end = this.size): number {
    const at = firstNonZero(end >= this.size ? this.data : this.data.subarray(0, end), from);
    return at;
  }
}

/**
 * An archive in memory as blocks in order (a spool that stayed in memory): reads within a block
 * are views, reads across blocks copies.
 */
export class ChunkedSource implements ByteSource {
  readonly size: number;
  /** starts[i]: the offset of chunks[i]. */
  private readonly starts: number[] = [];
  constructor(readonly chunks: readonly Uint8Array[]) {
    let at = 0;
    for (const c of chunks) {
      this.starts.push(at);
      at += c.length;
    }
    this.size = at;
  }
  /** The chunk holding `offset` (offset < size). */
  private find(offset: number): number {
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
  bytes(offset: number, length: number): Uint8Array {
    const n = Math.max(0, Math.min(length, this.size - offset));
    if (n === 0) return new Uint8Array(0);
    const i = this.find(offset);
    const at = offset - this.starts[i]!;
    const c = this.chunks[i]!;
    if (at + n <= c.length) return c.subarray(at, at + n);
    const out = new Uint8Array(n);
    this.read(offset, out);
    return out;
  }
  read(position: number, into: Uint8Array): void {
    if (position < 0 || position + into.length > this.size) throw new RangeError('read past the end of the archive');
    let done = 0;
    let i = into.length > 0 ? this.find(position) : 0;
    while (done < into.length) {
      const c = this.chunks[i]!;
      const at = position + done - this.starts[i]!;
      const n = Math.min(c.length - at, into.length - done);
      into.set(c.subarray(at, at + n), done);
      done += n;
      i++;
    }
  }
  firstNonZero(from: number, end = this.size): number {
    const stop = Math.min(end, this.size);
    if (from >= stop) return -1;
    for (let i = this.find(Math.max(0, from)); i < this.chunks.length && this.starts[i]! < stop; i++) {
      const start = this.starts[i]!;
      const chunk = this.chunks[i]!;
      const at = firstNonZero(start + chunk.length > stop ? chunk.subarray(0, stop - start) : chunk, Math.max(0, from - start));
      if (at >= 0) return start + at;
    }
    return -1;
  }
}

/** Spooled memory blocks as a source: one block is plain memory (zero-copy content views). */
export function memorySource(chunks: readonly Uint8Array[]): ByteSource {
  return chunks.length === 1 ? new MemorySource(chunks[0]!) : chunks.length === 0 ? new MemorySource(new Uint8Array(0)) : new ChunkedSource(chunks);
}

/** A member's data: `size` bytes at `offset` of a source (zero-copy for memory sources). */
export class SourceContent implements FileContent {
  constructor(
    readonly source: ByteSource,
    readonly offset: number,
    readonly size: number,
    readonly origin?: string,
  ) {}
  open(): ContentReader {
    const { source, offset, size } = this;
    return {
      read(position: number, into: Uint8Array): void {
        if (position + into.length > size) throw new RangeError('read past end of content');
        source.read(offset + position, into);
      },
      close(): void {},
    };
  }
}

/** One stored data segment of a sparse member: `length` bytes at `at` in the source go to logical `offset`. */
export interface SparseSegment {
  offset: number;
  at: number;
  length: number;
}

/** A sparse member (GNU or PAX sparse tar): data segments stored end to end, holes between them. */
export class SparseSourceContent implements FileContent {
  readonly dataRanges: readonly ByteRange[];
  constructor(
    readonly source: ByteSource,
    readonly size: number,
    readonly segments: readonly SparseSegment[],
    readonly origin?: string,
  ) {
    let end = 0;
    for (const s of segments) {
      if (s.offset < end || s.offset + s.length > size) {
        throw new RangeError(`${origin ?? 'content'}: sparse segments overlap, are unsorted or pass the end`);
      }
      end = s.offset + s.length;
    }
    this.dataRanges = segments.filter((s) => s.length > 0).map((s) => ({ offset: s.offset, length: s.length }));
  }
  open(): ContentReader {
    const { source, segments, size } = this;
    return {
      read(position: number, into: Uint8Array): void {
        if (position + into.length > size) throw new RangeError('read past end of content');
        into.fill(0);
        const end = position + into.length;
        for (const s of segments) {
          const a = Math.max(position, s.offset);
          const b = Math.min(end, s.offset + s.length);
          if (a < b) source.read(s.at + (a - s.offset), into.subarray(a - position, b - position));
        }
      },
      close(): void {},
    };
  }
}

/** A range of another source: a .deb's uncompressed data.tar, an rpm's plain cpio payload. */
export class RangeSource implements ByteSource {
  constructor(
    readonly source: ByteSource,
    readonly offset: number,
    readonly size: number,
  ) {}
  bytes(offset: number, length: number): Uint8Array {
    return this.source.bytes(this.offset + offset, Math.max(0, Math.min(length, this.size - offset)));
  }
  read(position: number, into: Uint8Array): void {
    if (position < 0 || position + into.length > this.size) throw new RangeError('read past the end of the archive');
    this.source.read(this.offset + position, into);
  }
  firstNonZero(from: number, end = this.size): number {
    const at = this.source.firstNonZero(this.offset + from, this.offset + Math.min(end, this.size));
    return at < 0 ? -1 : at - this.offset;
  }
}

/**
 * A member's data as tree content: a zero-copy view for a memory source (BytesContent, which
 * edits and initrd rewrites read directly), a reference into the source otherwise.
 */
export function rangeContent(src: ByteSource, offset: number, size: number, origin?: string): FileContent {
  if (src instanceof MemorySource) return new BytesContent(src.bytes(offset, size));
  return new SourceContent(src, offset, size, origin);
}

/** A sparse member's data as tree content: views of its segments for a memory source, a reference otherwise. */
export function sparseRangeContent(src: ByteSource, size: number, segments: readonly SparseSegment[], origin?: string): FileContent {
  if (src instanceof MemorySource) {
    return new SegmentedContent(size, segments.map((s) => ({ offset: s.offset, bytes: src.bytes(s.at, s.length) })), origin);
  }
  return new SparseSourceContent(src, size, segments, origin);
}
