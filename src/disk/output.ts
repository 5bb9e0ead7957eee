import { ExtimgError } from '../errors.js';
import type { ImageSink } from '../io/sink.js';
import { planDisk, tableWrites, type DiskLayout, type PartitionSpec, type TableKind } from './layout.js';
import type { RandomAccess } from './random-access.js';

/**
 * Disk output: a filesystem written into a partition of a larger disk. The writer sees a sink of
 * the partition's size; its writes land at the partition's offset in the disk's sink.
 */
export class OffsetSink implements ImageSink {
  constructor(
    private readonly outer: ImageSink,
    readonly offset: number,
    /** The partition's size: the filesystem may not be larger. */
    readonly size: number,
    /** The partition as messages name it. */
    readonly origin: string,
  ) {}

  setSize(bytes: number): void {
    if (bytes > this.size) {
      throw new ExtimgError('ENOSPC', `${this.origin}: the filesystem needs ${bytes} bytes; its partition has ${this.size}`, { needed: bytes, size: this.size });
    }
  }

  write(offset: number, data: Uint8Array): void {
    if (offset < 0 || offset + data.length > this.size) {
      throw new ExtimgError('EINVAL', `${this.origin}: a write of ${data.length} bytes at ${offset} passes the partition's end (${this.size} bytes)`, {});
    }
    this.outer.write(this.offset + offset, data);
  }
}

const CHUNK = 1 << 20;

/**
 * Copy every byte of `disk` outside [start, start + size) into `sink` (which reads as zero where
 * not written), skipping chunks of zeros so a sparse disk stays sparse: the partition table and
 * the other partitions come through byte for byte.
 */
export function copyOutside(disk: RandomAccess, sink: ImageSink, start: number, size: number): void {
  copyRange(disk, sink, 0, start);
  copyRange(disk, sink, start + size, disk.size);
}

/** Copy [from, to) of `disk` into `sink` at the same offsets, leaving zero runs of 4 KiB unwritten. */
export function copyRange(disk: RandomAccess, sink: ImageSink, from: number, to: number): void {
  const buf = new Uint8Array(CHUNK);
  for (let at = from; at < to; at += CHUNK) {
    const n = Math.min(CHUNK, to - at);
    const part = buf.subarray(0, n);
    disk.read(at, part);
    let k = 0;
    while (k < n) {
      const blockEnd = Math.min(n, k + 4096);
      if (isZero(part, k, blockEnd)) {
        k = blockEnd;
        continue;
      }
      let runEnd = blockEnd;
      while (runEnd < n) {
        const next = Math.min(n, runEnd + 4096);
        if (isZero(part, runEnd, next)) break;
        runEnd = next;
      }
      sink.write(at + k, part.slice(k, runEnd));
      k = runEnd;
    }
  }
}

function isZero(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}

/**
 * copyOutside for long copies in an event loop: it pauses every 64 MiB so signal handlers run,
 * and stops when `signal` is aborted.
 */
export async function copyOutsideAsync(disk: RandomAccess, sink: ImageSink, start: number, size: number, signal?: AbortSignal): Promise<void> {
  const STEP = 64 * CHUNK;
  for (const [from, to] of [
    [0, start],
    [start + size, disk.size],
  ] as const) {
    for (let at = from; at < to; at += STEP) {
      if (signal?.aborted) throw new ExtimgError('EIO', 'copy interrupted', {});
      copyRange(disk, sink, at, Math.min(to, at + STEP));
      await new Promise<void>((resolve) => setTimeout(resolve, 0));
    }
  }
}

/** A disk around one filesystem: `build --partition-table`. */
export interface SingleDiskOptions {
  table: TableKind;
  /** Partition type (GPT: a name of GPT_TYPES or a GUID; MBR: a name or byte). */
  type?: string | number;
  /** GPT partition name. */
  label?: string;
  /** The whole disk's size; undefined: fitted to the filesystem. */
  diskSize?: number;
  /** Seed for the GUIDs and the MBR signature (reproducible builds); undefined: random. */
  seed?: Uint8Array;
  /** The disk as messages name it. */
  origin: string;
}

/**
 * The size the filesystem gets when the whole disk's size is given: its one partition, from
 * 1 MiB to where the table lets it end. Refused (ENOSPC) when the disk cannot hold a partition.
 */
export function partitionSizeFor(o: SingleDiskOptions): number {
  if (o.diskSize === undefined) throw new ExtimgError('EINVAL', `${o.origin}: no disk size to fit the partition into`, {});
  const layout = named(o.origin, () => planDisk([{ size: 'rest', ...spec(o) }], { table: o.table, diskSize: o.diskSize!, ...(o.seed ? { seed: o.seed } : {}) }));
  return layout.partitions[0]!.size;
}

/** Layout errors name the disk being written. */
function named<T>(origin: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ExtimgError && !e.message.startsWith(`${origin}: `)) throw new ExtimgError(e.code, `${origin}: ${e.message}`, { ...e.data, path: origin });
    throw e;
  }
}

function spec(o: SingleDiskOptions): Omit<PartitionSpec, 'size'> {
  return { ...(o.type !== undefined ? { type: o.type } : {}), ...(o.label !== undefined ? { label: o.label } : {}) };
}

/**
 * An ImageSink that makes a partitioned disk of the filesystem written into it: when the writer
 * says the filesystem's size, the disk is laid out (the partition at 1 MiB, the disk fitted or as
 * given), its size set and its partition table written; the filesystem's writes land in the
 * partition.
 */
export class PartitionedSink implements ImageSink {
  private placed: { layout: DiskLayout; start: number; size: number } | undefined;
  constructor(
    private readonly outer: ImageSink,
    private readonly o: SingleDiskOptions,
  ) {}

  /** The layout, once the filesystem's size is known. */
  get layout(): DiskLayout | undefined {
    return this.placed?.layout;
  }

  setSize(fsBytes: number): void {
    const o = this.o;
    const size = o.diskSize === undefined ? fsBytes : 'rest';
    const layout = named(o.origin, () => planDisk([{ size, ...spec(o) }], { table: o.table, ...(o.diskSize !== undefined ? { diskSize: o.diskSize } : {}), ...(o.seed ? { seed: o.seed } : {}) }));
    const p = layout.partitions[0]!;
    if (fsBytes > p.size) {
      throw new ExtimgError('ENOSPC', `${o.origin}: the filesystem needs ${fsBytes} bytes; the disk's partition has ${p.size}`, { needed: fsBytes, size: p.size });
    }
    this.outer.setSize(layout.diskSize);
    for (const w of tableWrites(layout)) this.outer.write(w.offset, w.bytes);
    this.placed = { layout, start: p.start, size: p.size };
  }

  write(offset: number, data: Uint8Array): void {
    const p = this.placed;
    if (!p) throw new ExtimgError('EINVAL', `${this.o.origin}: a write before the filesystem's size was set`, {});
    if (offset + data.length > p.size) throw new ExtimgError('EINVAL', `${this.o.origin}: a write of ${data.length} bytes at ${offset} passes the partition's end`, {});
    this.outer.write(p.start + offset, data);
  }
}
