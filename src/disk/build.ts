import { ExtimgError } from '../errors.js';
import type { BuildOptions, BuildResult } from '../ext/options.js';
import { derivedUuid, formatUuid } from '../ext/uuid.js';
import type { BuildToFileOptions } from '../ext/write/build.js';
import { buildImage, buildImageAsync } from '../ext/write/writer.js';
import { checkTarget, FileSink } from '../io/file.js';
import type { ImageSink } from '../io/sink.js';
import { cores } from '../io/threads.js';
import type { Tree } from '../tree/tree.js';
import { planDisk, tableWrites, type DiskLayout, type PartitionSpec, type PlacedPartition, type TableKind } from './layout.js';
import { formatSize } from './open.js';
import { copyOutside, OffsetSink, partitionSizeFor, PartitionedSink } from './output.js';
import { Qcow2Sink } from './qcow2-write.js';
import type { RandomAccess } from './random-access.js';

/** How the built filesystem is delivered: bare or in a partitioned disk, as raw bytes or qcow2. */
export interface DiskOutputOptions {
  /** 'raw' (default) or 'qcow2' (v3, only the clusters that hold data). */
  format?: 'raw' | 'qcow2';
  /** Put the filesystem in partition 1 of a GPT or MBR disk, at 1 MiB; `size` is then the whole disk's. */
  partitionTable?: TableKind;
  /** GPT: a type name ('linux', 'root-x86-64', ...) or GUID; MBR: a name or type byte. */
  partitionType?: string | number;
  /** GPT partition name. */
  partitionLabel?: string;
  /** qcow2 cluster size as a power of two (default 16: 64 KiB). */
  clusterBits?: number;
  /**
   * With a partition table and no `size`: the filesystem's size (a rebuild keeping its source's),
   * the disk fitted around it.
   */
  filesystemSize?: number;
}

export interface DiskBuildResult extends BuildResult {
  format: 'raw' | 'qcow2';
  /** The disk around the filesystem, when there is one. */
  disk?: DiskLayout;
  /** Bytes of the output file (qcow2: what the clusters take). */
  fileBytes?: number;
}

/**
 * Build `tree` into `path` as a bare filesystem or a whole disk, raw or qcow2, atomically (temp
 * file + rename; nothing left behind on failure). With a partition table and a `size`, the
 * partition fills the disk and the filesystem the partition; without, the disk fits the
 * filesystem. Reproducible builds (a timestamp) derive the disk's GUIDs from the options.
 */
export async function buildOutputAsync(tree: Tree, path: string, options: BuildToFileOptions & DiskOutputOptions = {}, signal?: AbortSignal): Promise<DiskBuildResult> {
  const { fsync, background, format = 'raw', partitionTable, partitionType, partitionLabel, clusterBits, filesystemSize, ...build } = options;
  checkTarget(path);
  const file = new FileSink(path, { fsync: fsync ?? false, background: background ?? (cores() > 1 ? 'auto' : false) });
  const onAbort = (): void => file.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const qcow = format === 'qcow2' ? new Qcow2Sink(file, clusterBits !== undefined ? { clusterBits } : {}) : undefined;
    let sink: ImageSink = qcow ?? file;
    let disk: PartitionedSink | undefined;
    if (partitionTable) {
      const seed = build.timestamp !== undefined ? new TextEncoder().encode(JSON.stringify(['extimg disk', build.timestamp, build.uuid ?? '', build.label ?? '', partitionTable])) : undefined;
      const diskOptions = {
        table: partitionTable,
        origin: path,
        ...(partitionType !== undefined ? { type: partitionType } : {}),
        ...(partitionLabel !== undefined ? { label: partitionLabel } : {}),
        ...(build.size !== undefined ? { diskSize: build.size } : {}),
        ...(seed ? { seed } : {}),
      };
      if (build.size !== undefined) build.size = partitionSizeFor(diskOptions);
      else if (filesystemSize !== undefined) build.size = filesystemSize;
      disk = new PartitionedSink(sink, diskOptions);
      sink = disk;
    } else if (partitionType !== undefined || partitionLabel !== undefined) {
      throw new ExtimgError('EUSAGE', `${path}: a partition type or label needs a partition table (--partition-table gpt|mbr)`, {});
    }
    let result: BuildResult;
    try {
      result = await buildImageAsync(tree, sink, build, signal);
    } catch (e) {
      // The writer's hint is the filesystem's size; a disk's --size is the whole disk's.
      if (partitionTable && options.size !== undefined && e instanceof ExtimgError && e.code === 'ENOSPC' && typeof e.data.fits === 'number') {
        const fits = planDisk([{ size: e.data.fits }], { table: partitionTable }).diskSize;
        throw new ExtimgError(
          'ENOSPC',
          `${path}: a disk of ${options.size} bytes is too small: its partition holds ${build.size} bytes, the filesystem needs ${e.data.fits}; the disk fits in ${fits} bytes (--size ${Math.ceil(fits / 1024)}K)`,
          { ...e.data, path, fits },
        );
      }
      throw e;
    }
    const stats = qcow?.finish();
    file.commit();
    return { ...result, format, ...(disk?.layout ? { disk: disk.layout } : {}), ...(stats ? { fileBytes: stats.fileBytes } : {}) };
  } catch (e) {
    file.abort();
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** What fills a partition: a filesystem built from a tree, a file's bytes, or nothing (zeros). */
export type PartitionFill = { tree: Tree; options: BuildOptions } | { raw: RandomAccess; name: string } | undefined;

export interface DiskPartition {
  /**
   * Where and how big (PartitionSpec), with one more size: 'fit', the filesystem's fitted size
   * or the raw file's.
   */
  spec: Omit<PartitionSpec, 'size'> & { size: number | 'rest' | 'fit' };
  /** A filesystem's options (size aside: the partition decides it), a raw file, or empty. */
  fill: PartitionFill;
  /** The partition as messages name it: `disk.json: disk.partitions[2]`. */
  origin: string;
}

export interface DiskBuildOptions {
  table: TableKind;
  /** The whole disk's size; undefined: fitted to the partitions. */
  diskSize?: number;
  format?: 'raw' | 'qcow2';
  /** qcow2 cluster size as a power of two (default 16: 64 KiB). */
  clusterBits?: number;
  /**
   * Reproducible builds: the disk's GUIDs and MBR signature, and the UUID of each filesystem
   * that has none, are derived from this time and the layout instead of drawn at random.
   */
  timestamp?: number;
  /** The disk as messages name it where no partition is to blame (default: the path). */
  origin?: string;
  fsync?: boolean;
  background?: boolean | 'auto';
}

export interface PartitionResult extends PlacedPartition {
  content: 'filesystem' | 'raw' | 'empty';
  /** The filesystem built in it. */
  build?: BuildResult;
  /** The raw file copied into it, and its length. */
  raw?: { name: string; bytes: number };
}

export interface MultiDiskResult {
  format: 'raw' | 'qcow2';
  disk: DiskLayout;
  partitions: PartitionResult[];
  /** Bytes of the output file (qcow2: what the clusters take). */
  fileBytes?: number;
}

/** The writer stops here: it has said its size, and nothing has been written. */
const SIZED = Symbol('sized');

/**
 * The size buildImage gives `tree` with `options`: the writer plans and sizes the whole image
 * before its first write, so a sink that stops it at setSize measures exactly what it would
 * build, without writing (ENOSPC and other refusals come through as the writer throws them).
 */
export function imageSizeOf(tree: Tree, options: BuildOptions): number {
  let bytes: number | undefined;
  const probe: ImageSink = {
    setSize(n) {
      bytes = n;
      throw SIZED;
    },
    write() {
      throw SIZED;
    },
  };
  try {
    buildImage(tree, probe, options);
  } catch (e) {
    if (e === SIZED && bytes !== undefined) return bytes;
    throw e;
  }
  throw new ExtimgError('EINVAL', 'the writer finished without setting a size', {});
}

/** A plan for buildDiskAsync: the layout and what goes in each partition, all checked. */
export interface DiskPlan {
  layout: DiskLayout;
  /** Per partition: the filesystem's build options (its size decided), or the fill as given. */
  fills: PartitionFill[];
}

/** An error of the writer or the layout, said of `who`. */
function of(who: string, e: unknown): unknown {
  if (!(e instanceof ExtimgError) || e.message.startsWith(`${who}: `)) return e;
  return new ExtimgError(e.code, `${who}: ${e.message}`, { ...e.data, at: who });
}

/** The seed of a reproducible disk: the time and what shapes the layout. */
function diskSeed(parts: readonly DiskPartition[], o: DiskBuildOptions): Uint8Array | undefined {
  if (o.timestamp === undefined) return undefined;
  const shape = parts.map((p) => [p.spec.size, p.spec.start ?? null, p.spec.type ?? null, p.spec.label ?? null]);
  return new TextEncoder().encode(JSON.stringify(['extimg disk', o.timestamp, o.table, o.diskSize ?? null, shape]));
}

/**
 * Size, lay out and check a multi-partition disk without writing: 'fit' partitions are measured
 * (the writer's fitted size, a raw file's length), the layout placed (planDisk refuses overlaps,
 * two 'rest's and a disk too small), then each filesystem is sized for its fixed partition and
 * each raw file compared with its partition. Every refusal names the partition in one line.
 */
export function planMultiDisk(parts: readonly DiskPartition[], o: DiskBuildOptions & { origin: string }): DiskPlan {
  const seed = diskSeed(parts, o);
  const fills: PartitionFill[] = parts.map((p, i) => {
    const f = p.fill;
    if (!f || 'raw' in f) return f;
    const options: BuildOptions = { ...f.options };
    delete options.size;
    // Identical filesystems on one reproducible disk would get one UUID; each partition's differs.
    if (options.timestamp !== undefined && options.uuid === undefined && seed) {
      options.uuid = formatUuid(derivedUuid(`extimg disk partition ${i + 1}\0${new TextDecoder().decode(seed)}`));
    }
    // Directory sizes depend on the hash seed: the one measured for "fit" must be the one written.
    if (options.hashSeed === undefined && options.timestamp === undefined) {
      const r = new Uint8Array(16);
      crypto.getRandomValues(r);
      r[6] = (r[6]! & 0x0f) | 0x40;
      r[8] = (r[8]! & 0x3f) | 0x80;
      options.hashSeed = formatUuid(r);
    }
    return { tree: f.tree, options };
  });
  const specs: PartitionSpec[] = parts.map((p, i) => {
    const f = fills[i];
    if (p.spec.size !== 'fit') return { ...p.spec, size: p.spec.size };
    if (!f) throw new ExtimgError('EINVAL', `${p.origin}: "fit" needs something to fit (a filesystem or raw bytes); an empty partition needs a size`, { at: p.origin });
    if ('raw' in f) {
      if (f.raw.size === 0) throw new ExtimgError('EINVAL', `${p.origin}: ${f.name} is empty: nothing to fit`, { at: p.origin });
      return { ...p.spec, size: Math.max(512, f.raw.size) }; // planDisk rounds up to whole sectors
    }
    try {
      return { ...p.spec, size: imageSizeOf(f.tree, f.options) };
    } catch (e) {
      throw of(p.origin, e);
    }
  });
  const layout = placeNamed(specs, parts, o, seed);
  parts.forEach((p, i) => {
    const f = fills[i];
    const placed = layout.partitions[i]!;
    if (!f) return;
    if ('raw' in f) {
      if (f.raw.size > placed.size) {
        throw new ExtimgError('ENOSPC', `${p.origin}: ${f.name} is ${sized(f.raw.size)}; the partition holds ${sized(placed.size)}`, { at: p.origin, needed: f.raw.size, size: placed.size });
      }
      return;
    }
    if (p.spec.size === 'fit') return; // measured above: the fitted filesystem is the partition
    f.options.size = placed.size;
    try {
      imageSizeOf(f.tree, f.options);
    } catch (e) {
      if (e instanceof ExtimgError && e.code === 'ENOSPC' && typeof e.data.fits === 'number') {
        const fits = e.data.fits;
        throw new ExtimgError(
          'ENOSPC',
          `${p.origin}: the filesystem does not fit its partition of ${sized(placed.size)}: it needs ${sized(fits)} (size "${Math.ceil(fits / 1024)}K", or "fit")`,
          { ...e.data, at: p.origin, size: placed.size, needed: fits },
        );
      }
      throw of(p.origin, e);
    }
  });
  return { layout, fills };
}

/** planDisk, its refusals said of the partition they blame (or of the disk). */
function placeNamed(specs: readonly PartitionSpec[], parts: readonly DiskPartition[], o: DiskBuildOptions & { origin: string }, seed: Uint8Array | undefined): DiskLayout {
  try {
    return planDisk(specs, { table: o.table, ...(o.diskSize !== undefined ? { diskSize: o.diskSize } : {}), ...(seed ? { seed } : {}) });
  } catch (e) {
    if (!(e instanceof ExtimgError)) throw e;
    const blamed = typeof e.data.partition === 'number' ? e.data.partition : Array.isArray(e.data.partitions) ? (e.data.partitions as number[]).at(-1) : undefined;
    throw of(blamed !== undefined ? (parts[blamed - 1]?.origin ?? o.origin) : o.origin, e);
  }
}

/**
 * Check what the layout can be checked for before any content is read (a caller does this
 * before reading inputs, to fail fast): table, types, labels, two 'rest's, 'rest' without a
 * disk size, and fixed sizes and starts that overlap or pass the disk's end. 'fit' partitions
 * count as one sector here, so their overlaps surface in planMultiDisk.
 */
export function checkDiskShape(parts: readonly DiskPartition[], o: DiskBuildOptions & { origin: string }): void {
  const specs: PartitionSpec[] = parts.map((p) => {
    if (p.spec.size === 'fit' && !p.fill) throw new ExtimgError('EINVAL', `${p.origin}: "fit" needs something to fit (a filesystem or raw bytes); an empty partition needs a size`, { at: p.origin });
    return { ...p.spec, size: p.spec.size === 'fit' ? (p.fill && 'raw' in p.fill ? Math.max(512, p.fill.raw.size) : 512) : p.spec.size };
  });
  placeNamed(specs, parts, o, new Uint8Array(1));
}

function sized(bytes: number): string {
  return bytes < 1024 ? `${bytes} bytes` : `${formatSize(bytes)} (${bytes} bytes)`;
}

/**
 * Write a partitioned disk of several partitions into `path`, raw or qcow2, atomically: the
 * whole plan is made and checked first (planMultiDisk), so a refused layout leaves no file;
 * then one sink takes the table, each filesystem (built into its partition through an
 * OffsetSink) and each raw file (copied in chunks, runs of zeros skipped: the disk stays
 * sparse); any error or an abort removes the temp file.
 */
export async function buildDiskAsync(parts: readonly DiskPartition[], path: string, options: DiskBuildOptions, signal?: AbortSignal): Promise<MultiDiskResult> {
  const { format = 'raw', clusterBits, fsync, background } = options;
  const origin = options.origin ?? path;
  const { layout, fills } = planMultiDisk(parts, { ...options, origin });
  checkTarget(path);
  const file = new FileSink(path, { fsync: fsync ?? false, background: background ?? (cores() > 1 ? 'auto' : false) });
  const onAbort = (): void => file.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const qcow = format === 'qcow2' ? new Qcow2Sink(file, clusterBits !== undefined ? { clusterBits } : {}) : undefined;
    const sink: ImageSink = qcow ?? file;
    sink.setSize(layout.diskSize);
    for (const w of tableWrites(layout)) sink.write(w.offset, w.bytes);
    const results: PartitionResult[] = [];
    for (const [i, placed] of layout.partitions.entries()) {
      signal?.throwIfAborted();
      const f = fills[i];
      const into = new OffsetSink(sink, placed.start, placed.size, parts[i]!.origin);
      if (!f) results.push({ ...placed, content: 'empty' });
      else if ('raw' in f) {
        // Everything of the file outside an empty range at its end: all of it, zeros skipped.
        copyOutside(f.raw, into, f.raw.size, 0);
        results.push({ ...placed, content: 'raw', raw: { name: f.name, bytes: f.raw.size } });
      } else {
        let build: BuildResult;
        try {
          build = await buildImageAsync(f.tree, into, f.options, signal);
        } catch (e) {
          throw of(parts[i]!.origin, e);
        }
        results.push({ ...placed, content: 'filesystem', build });
      }
    }
    const stats = qcow?.finish();
    file.commit();
    return { format, disk: layout, partitions: results, ...(stats ? { fileBytes: stats.fileBytes } : {}) };
  } catch (e) {
    file.abort();
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
