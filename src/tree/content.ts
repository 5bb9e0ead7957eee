/**
 * File content is a reference, never copied: bytes in memory, a host file (in ingest/), or a
 * range of a spool. The writer reads it once, in order, in chunks.
 */
export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

export interface ContentReader {
  /** Fill `into` completely with the bytes at `position`; throw on a short read. */
  read(position: number, into: Uint8Array): void;
  close(): void;
}

export interface FileContent {
  /** Logical size in bytes (i_size). */
  readonly size: number;
  /**
   * Sorted, non-overlapping byte ranges that hold data; everything else is a hole and gets no
   * blocks. Undefined means the whole file is data (unless `sparse` says to look for holes).
   */
  readonly dataRanges?: readonly ByteRange[];
  /**
   * The source is known to have holes but cannot say where (a sparse host file: Node has no
   * SEEK_DATA). The writer then treats all-zero blocks as holes, as `mke2fs -d` does.
   */
  readonly sparse?: boolean;
  /** A short description for error messages (a host path, "archive.tar: etc/passwd"). */
  readonly origin?: string;
  open(): ContentReader;
}

export class BytesContent implements FileContent {
  readonly size: number;
  readonly dataRanges?: readonly ByteRange[];
  constructor(
    readonly bytes: Uint8Array,
    dataRanges?: readonly ByteRange[],
  ) {
    this.size = bytes.length;
    if (dataRanges) this.dataRanges = dataRanges;
  }
  open(): ContentReader {
    const bytes = this.bytes;
    return {
      read(position: number, into: Uint8Array): void {
        if (position + into.length > bytes.length) throw new RangeError('read past end of content');
        into.set(bytes.subarray(position, position + into.length));
      },
      close(): void {},
    };
  }
}

export const EMPTY_CONTENT: FileContent = new BytesContent(new Uint8Array(0));

/**
 * Content made of data segments at given offsets with holes between them (a GNU or PAX sparse
 * member of a tar archive): the segments are views into the archive's bytes, never copied.
 */
export class SegmentedContent implements FileContent {
  readonly dataRanges: readonly ByteRange[];
  constructor(
    readonly size: number,
    readonly segments: ReadonlyArray<{ readonly offset: number; readonly bytes: Uint8Array }>,
    readonly origin?: string,
  ) {
    let end = 0;
    for (const s of segments) {
      if (s.offset < end || s.offset + s.bytes.length > size) {
        throw new RangeError(`${origin ?? 'content'}: sparse segments overlap, are unsorted or pass the end`);
      }
      end = s.offset + s.bytes.length;
    }
    this.dataRanges = segments.filter((s) => s.bytes.length > 0).map((s) => ({ offset: s.offset, length: s.bytes.length }));
  }
  open(): ContentReader {
    const segments = this.segments;
    const size = this.size;
    return {
      read(position: number, into: Uint8Array): void {
        if (position + into.length > size) throw new RangeError('read past end of content');
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
