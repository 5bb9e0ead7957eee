import { inodeChecksumSeed, setExtentBlockChecksum } from '../checksum.js';
import type { IndirectBlock } from '../blockmap.js';
import type { Mapping } from '../mapping.js';
import type { BlockOutput } from './output.js';

/**
 * The blocks a mapping adds besides the data: indirect blocks (each before the data it maps)
 * and extent tree blocks (after it, with their checksum tails under metadata_csum). emitMapping
 * hands data runs to `fill` and writes the map blocks, all in ascending block order, which is
 * what BlockOutput batches best.
 */
export function emitMapping(
  out: BlockOutput,
  map: Mapping,
  blockSize: number,
  csum: { seed: number; ino: number } | undefined,
  fill: (logical: number, physical: number, count: number) => void,
): void {
  const meta: Array<{ physical: number; write: () => void }> = [];
  for (const blk of map.indirect ?? []) meta.push({ physical: blk.physical, write: () => putIndirect(out, blk, blockSize) });
  for (const t of map.tree ?? []) {
    meta.push({
      physical: t.physical,
      write: () => {
        if (csum) setExtentBlockChecksum(inodeChecksumSeed(csum.seed, csum.ino, 0), t.bytes);
        out.put(t.physical, t.bytes);
      },
    });
  }
  meta.sort((a, b) => a.physical - b.physical);
  let i = 0;
  for (const run of map.data) {
    while (i < meta.length && meta[i]!.physical < run.physical) meta[i++]!.write();
    fill(run.logical, run.physical, run.count);
  }
  while (i < meta.length) meta[i++]!.write();
}

function putIndirect(out: BlockOutput, blk: IndirectBlock, blockSize: number): void {
  const dst = out.reserve(blk.physical, 1);
  const dv = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  const apb = blockSize / 4;
  for (let k = 0; k < apb; k++) dv.setUint32(k * 4, blk.pointers[k]!, true);
}

