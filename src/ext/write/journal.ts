import { journalSuperblock } from '../journal.js';
import type { Mapping } from '../mapping.js';
import { emitMapping } from './emit.js';
import type { BlockOutput } from './output.js';

/**
 * The journal's blocks: only its superblock (block 0) is non-zero, the rest stays a hole. As
 * mke2fs, no jbd2 feature is set: the kernel sets the checksum and 64bit features at mount.
 */
export function writeJournal(out: BlockOutput, map: Mapping, blockSize: number, uuid: Uint8Array, csum: { seed: number } | undefined): void {
  const jsb = journalSuperblock(blockSize, map.data.reduce((n, r) => n + r.count, 0), uuid);
  emitMapping(out, map, blockSize, csum ? { seed: csum.seed, ino: 8 } : undefined, (l, phys) => {
    if (l === 0) out.put(phys, jsb);
  });
}

