import { ExtimgError } from '../../errors.js';
import type { Tree } from '../../tree/tree.js';
import { resolveFeatures, typeOfFeatures, type Features, type FsType } from '../features.js';
import type { BuildOptions } from '../options.js';
import { derivedUuid, parseUuid, randomUuid } from '../uuid.js';

const MIB = 1024 * 1024;

/** Build options checked and completed with defaults: what every later step reads. */
export interface Config {
  /** The requested type (ext2, ext3, ext4), before -O changes. */
  type: FsType;
  features: Features;
  blockSize: 1024 | 2048 | 4096;
  inodeSize: 128 | 256;
  reservedPercent: number;
  headroom: number;
  label: Uint8Array;
  labelText: string;
  /** The filesystem's own times (mkfs, write, last check), seconds. */
  fsTime: number;
  /** SOURCE_DATE_EPOCH or --timestamp: clamp file times, derive UUID and hash seed. */
  reproducible: boolean;
  /** Directories of more than one block become htrees (dir_index on a journaling type). */
  htree: boolean;
  /** s_hash_seed, fixed before sizing: an htree's leaves depend on it. */
  hashSeed: Uint8Array;
  uuidOption?: Uint8Array;
}

/** mke2fs picks 1 KiB blocks below 512 MiB ("small" and "floppy" in mke2fs.conf), else 4 KiB. */
function defaultBlockSize(tree: Tree, options: BuildOptions): 1024 | 4096 {
  if (options.size !== undefined) return options.size < 512 * MIB ? 1024 : 4096;
  let bytes = 0;
  for (const [, node] of tree.walk()) bytes += node.kind === 'file' ? node.content.size + 1024 : 1024;
  return bytes < 448 * MIB ? 1024 : 4096;
}

/** Check the options (EUSAGE naming the bad one) and fill in the defaults, as mke2fs would. */
export function resolveConfig(tree: Tree, options: BuildOptions): Config {
  const type = options.type ?? 'ext3';
  if (type !== 'ext2' && type !== 'ext3' && type !== 'ext4') {
    throw new ExtimgError('EUSAGE', `filesystem type '${String(type)}' is not supported (ext2, ext3 or ext4)`, { type });
  }
  const inodeSize = options.inodeSize ?? 256;
  if (inodeSize !== 128 && inodeSize !== 256) throw new ExtimgError('EUSAGE', `inode size ${String(inodeSize)} is not supported (128 or 256)`, { inodeSize });
  const spec = [...(options.features ?? [])];
  // The resizeInode option is -O ^resize_inode by another name.
  if (options.resizeInode === false) spec.push('^resize_inode');
  const features = resolveFeatures({ type, spec, inodeSize }, options.features?.length ? `features '${options.features.join(',')}'` : 'features');
  const reservedPercent = options.reservedPercent ?? 5;
  if (!(reservedPercent >= 0 && reservedPercent <= 50)) {
    throw new ExtimgError('EUSAGE', `reserved blocks percentage ${reservedPercent} out of range (0-50)`, { reservedPercent });
  }
  const headroom = options.headroom ?? 0.05;
  if (!(headroom >= 0 && headroom <= 100)) throw new ExtimgError('EUSAGE', `headroom ${headroom} out of range`, { headroom });
  const labelText = options.label ?? '';
  const label = new TextEncoder().encode(labelText);
  if (label.length > 16) throw new ExtimgError('EUSAGE', `label '${labelText}' is ${label.length} bytes, at most 16`, { label: labelText });
  const reproducible = options.timestamp !== undefined;
  const fsTime = reproducible ? options.timestamp! : Math.floor(Date.now() / 1000);
  if (!Number.isInteger(fsTime) || fsTime < 0 || fsTime > 0xffffffff) {
    throw new ExtimgError('EUSAGE', `timestamp ${String(options.timestamp)} out of range (0-4294967295 seconds)`, { timestamp: options.timestamp });
  }
  if (options.size !== undefined && !(Number.isSafeInteger(options.size) && options.size > 0)) {
    throw new ExtimgError('EUSAGE', `image size ${options.size} is not a positive whole number of bytes`, { size: options.size });
  }
  if (options.inodes !== undefined && !(Number.isSafeInteger(options.inodes) && options.inodes > 0 && options.inodes <= 0xffffffff)) {
    throw new ExtimgError('EUSAGE', `inode count ${options.inodes} out of range`, { inodes: options.inodes });
  }
  if (options.journalBlocks !== undefined) {
    if (!features.has('has_journal')) throw new ExtimgError('EUSAGE', 'a journal size needs a journal (ext3, ext4 or has_journal)', {});
    if (!(Number.isSafeInteger(options.journalBlocks) && options.journalBlocks >= 1024 && options.journalBlocks <= 10240000)) {
      throw new ExtimgError('EUSAGE', `journal size ${options.journalBlocks} blocks out of range (1024-10240000)`, { journalBlocks: options.journalBlocks });
    }
  }
  const blockSize = options.blockSize ?? defaultBlockSize(tree, options);
  if (![1024, 2048, 4096].includes(blockSize)) {
    throw new ExtimgError('EUSAGE', `block size ${String(blockSize)} is not supported (1024, 2048 or 4096)`, { blockSize });
  }
  const uuidOption = options.uuid ? parseUuid(options.uuid) : undefined;
  // The hash seed does not depend on the geometry (directory sizes depend on it, and the
  // geometry on them): derived from the options alone when reproducible or given a UUID.
  const seed = `hash\0${fsTime}\0${type}\0${features.names().join(',')}\0${blockSize}\0${inodeSize}\0${labelText}\0${options.uuid ?? ''}`;
  const hashSeed = options.hashSeed ? parseUuid(options.hashSeed, 'hash seed') : reproducible || uuidOption ? derivedUuid(seed) : randomUuid();
  // ext2's own driver does not keep htree indexes up to date: an ext2 image keeps linear
  // directories, as mke2fs -d writes them.
  const htree = features.htree && typeOfFeatures(features) !== 'ext2';
  const cfg: Config = {
    type,
    features,
    blockSize: blockSize as 1024 | 2048 | 4096,
    inodeSize,
    reservedPercent,
    headroom,
    label,
    labelText,
    fsTime,
    reproducible,
    htree,
    hashSeed,
  };
  if (uuidOption) cfg.uuidOption = uuidOption;
  return cfg;
}
