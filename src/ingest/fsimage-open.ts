import { ExtimgError } from '../errors.js';
import { identifyDisk } from '../disk/identify.js';
import { openDiskAsync, selectFilesystem } from '../disk/open.js';
import { identifyExt } from '../ext/identify.js';
import { ExtImage, type ReadAt } from '../ext/read/image.js';

/**
 * Whether the start of an input is something extimg reads as a filesystem: an ext2/3/4
 * superblock, a partition table (GPT, MBR) or a qcow2 header.
 */
export function isFilesystemContainer(head: Uint8Array): boolean {
  const ext = identifyExt(head);
  if (ext && ext !== 'jbd2') return true;
  return identifyDisk(head) !== undefined;
}

/**
 * The filesystem in an input: the raw image, the partition `ref` names (`disk.img@2`), the one
 * ext partition of a disk, or the same inside a qcow2 image.
 */
export async function openFilesystemIn(src: ReadAt, origin: string, ref: string | undefined, onWarning?: (m: string) => void): Promise<ExtImage> {
  const warn = onWarning ?? ((): void => {});
  let partition: number | undefined;
  if (ref !== undefined) {
    if (!/^[1-9][0-9]{0,3}$/.test(ref)) throw new ExtimgError('EUSAGE', `${origin}: @${ref} does not name a partition (a disk's partitions are @1, @2, ... as the kernel numbers them)`, { path: origin });
    partition = Number(ref);
  }
  const disk = await openDiskAsync(src, origin, { onWarning: warn });
  if (disk.table === 'none' && disk.container === 'raw' && disk.fsKind && disk.fsKind !== 'jbd2') {
    if (partition !== undefined) throw new ExtimgError('EUSAGE', `${origin}: @${partition} names a partition, but this is a filesystem image with no partition table`, { path: origin });
    return ExtImage.open(src, { origin, onWarning: warn });
  }
  const fs = selectFilesystem(disk, partition, origin);
  if (fs.partition === undefined) {
    const start = new Uint8Array(Math.min(fs.size, 8192));
    fs.read(0, start);
    if (!identifyExt(start)) throw new ExtimgError('EFORMAT', `${origin}: a ${disk.container} disk image with neither a partition table nor an ext filesystem`, { path: origin });
  }
  return ExtImage.open(fs, { origin: fs.origin, onWarning: warn });
}
