import type { ExtImage, ReadAt } from '../ext/read/image.js';
import type { Tree } from '../tree/tree.js';
import { addFilesystem, type FilesystemCounts } from './fsimage.js';
import { openFilesystemIn } from './fsimage-open.js';
import type { ArchiveOptions } from './options.js';
import { MemorySource } from './source.js';

/** What openImage needs besides the bytes. */
export interface OpenImageOptions {
  /** The image as messages name it (a file name). */
  origin: string;
  /** The partition of a disk (numbered as the kernel numbers them); undefined: the one ext partition, or the whole image. */
  partition?: number;
  /** Said once the image is open: a journal replayed, a backup GPT used. */
  onWarning?: (message: string) => void;
}

/**
 * Open an ext2/3/4 filesystem for reading: `source` is the bytes, or random access to them (an
 * io FileSource, anything with `size` and `read(position, into)`); raw, partitioned (GPT, MBR)
 * or qcow2. The image is never modified (a journal that needs recovery is replayed in memory).
 */
export async function openImage(source: Uint8Array | ReadAt, options: OpenImageOptions): Promise<ExtImage> {
  const access = source instanceof Uint8Array ? new MemorySource(source) : source;
  return openFilesystemIn(access, options.origin, options.partition !== undefined ? String(options.partition) : undefined, options.onWarning);
}

/**
 * Put an image's tree into `tree` (under options.dest, with excludes and owner as for archives).
 * File contents stay references into the image: keep `source` open until the tree is written.
 */
export async function addImage(tree: Tree, source: Uint8Array | ReadAt | ExtImage, options: ArchiveOptions & { partition?: number }): Promise<FilesystemCounts> {
  const img =
    'readDir' in source
      ? source
      : await openImage(source, {
          origin: options.origin,
          ...(options.partition !== undefined ? { partition: options.partition } : {}),
          ...(options.onWarning ? { onWarning: options.onWarning } : {}),
        });
  return addFilesystem(tree, img, options);
}
