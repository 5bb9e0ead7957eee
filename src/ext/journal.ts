import { JBD2_MAGIC_NUMBER, JBD2_SUPERBLOCK_V2 } from './constants.js';
import { JSB } from './struct.js';

/**
 * The jbd2 superblock of an empty, clean internal journal, as ext2fs_create_journal_superblock2
 * makes it: big-endian, v2, s_first 1, s_sequence 1, s_start 0 (nothing to replay), one user.
 */
export function journalSuperblock(blockSize: number, journalBlocks: number, uuid: Uint8Array): Uint8Array {
  const b = new Uint8Array(blockSize);
  const dv = new DataView(b.buffer);
  dv.setUint32(JSB.h_magic, JBD2_MAGIC_NUMBER);
  dv.setUint32(JSB.h_blocktype, JBD2_SUPERBLOCK_V2);
  dv.setUint32(JSB.s_blocksize, blockSize);
  dv.setUint32(JSB.s_maxlen, journalBlocks);
  dv.setUint32(JSB.s_first, 1);
  dv.setUint32(JSB.s_sequence, 1);
  dv.setUint32(JSB.s_nr_users, 1);
  b.set(uuid, JSB.s_uuid);
  return b;
}
