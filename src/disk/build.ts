import { ExtimgError } from '../errors.js';
import type { BuildResult } from '../ext/options.js';
import type { BuildToFileOptions } from '../ext/write/build.js';
import { buildImageAsync } from '../ext/write/writer.js';
import { checkTarget, FileSink } from '../io/file.js';
import type { ImageSink } from '../io/sink.js';
import { cores } from '../io/threads.js';
import type { Tree } from '../tree/tree.js';
import { planDisk, type DiskLayout, type TableKind } from './layout.js';
import { partitionSizeFor, PartitionedSink } from './output.js';
import { Qcow2Sink } from './qcow2-write.js';

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
  const { fsync, background, format = 'raw', partitionTable, partitionType, partitionLabel, clusterBits, ...build } = options;
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
      if (partitionTable && build.size !== undefined && e instanceof ExtimgError && e.code === 'ENOSPC' && typeof e.data.fits === 'number') {
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
