import type { ImageSink } from '../../io/sink.js';
import { EXT2_DIND_BLOCK } from '../constants.js';
import { backupGroups, type Geometry } from '../geometry.js';
import type { BlockOutput } from './output.js';

/**
 * The resize inode's blocks (ext2fs_create_resize_inode): a DIND block whose slots, from
 * desc_blocks on, point at the reserved GDT blocks of group 0; each of those lists its copies
 * in the backup groups. Returns i_block and the blocks counted in i_blocks.
 */
export function writeResizeInode(sink: ImageSink, out: BlockOutput, geo: Geometry, dind: number): { iBlock: Uint8Array; blocks: number } {
  const bs = geo.blockSize;
  const apb = bs / 4;
  const dindPtrs = new Uint32Array(apb);
  const backups = backupGroups(geo.groupCount);
  const sbBlock = geo.firstDataBlock;
  let count = 1;
  // The reserved GDT blocks of group 0 are contiguous: one buffer, one write (not 256).
  const first = sbBlock + 1 + geo.descBlocks;
  if (backups.length * 4 > bs) throw new RangeError('more backup groups than a block can list');
  const lists = new Uint8Array(geo.reservedGdtBlocks * bs);
  const lv = new DataView(lists.buffer);
  for (let r = 0; r < geo.reservedGdtBlocks; r++) {
    const gdtBlk = first + r;
    dindPtrs[(geo.descBlocks + r) % apb] = gdtBlk;
    count++;
    for (let k = 0; k < backups.length; k++) {
      lv.setUint32(r * bs + k * 4, gdtBlk + backups[k]! * geo.blocksPerGroup, true);
      count++;
    }
  }
  if (lists.length > 0) sink.write(first * bs, lists);
  const buf = new Uint8Array(bs);
  const dv = new DataView(buf.buffer);
  for (let k = 0; k < apb; k++) dv.setUint32(k * 4, dindPtrs[k]!, true);
  out.put(dind, buf);
  const iBlock = new Uint8Array(60);
  new DataView(iBlock.buffer).setUint32(EXT2_DIND_BLOCK * 4, dind, true);
  return { iBlock, blocks: count };
}

