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
  for (let r = 0; r < geo.reservedGdtBlocks; r++) {
    const gdtBlk = sbBlock + 1 + geo.descBlocks + r;
    dindPtrs[(geo.descBlocks + r) % apb] = gdtBlk;
    count++;
    const list = new Uint8Array(bs);
    const dv = new DataView(list.buffer);
    backups.forEach((g, k) => {
      dv.setUint32(k * 4, gdtBlk + g * geo.blocksPerGroup, true);
      count++;
    });
    sink.write(gdtBlk * bs, list);
  }
  const buf = new Uint8Array(bs);
  const dv = new DataView(buf.buffer);
  for (let k = 0; k < apb; k++) dv.setUint32(k * 4, dindPtrs[k]!, true);
  out.put(dind, buf);
  const iBlock = new Uint8Array(60);
  new DataView(iBlock.buffer).setUint32(EXT2_DIND_BLOCK * 4, dind, true);
  return { iBlock, blocks: count };
}

