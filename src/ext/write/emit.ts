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
  // A mapping has indirect blocks (a block map) or tree blocks (extents), never both.
  const indirect = map.indirect !== undefined && map.indirect.length > 0 ? byPhysical(map.indirect) : undefined;
  const tree = map.tree !== undefined && map.tree.length > 0 ? byPhysical(map.tree) : undefined;
  let i = 0;
  for (const run of map.data) {
    if (indirect) while (i < indirect.length && indirect[i]!.physical < run.physical) putIndirect(out, indirect[i++]!, blockSize);
    else if (tree) while (i < tree.length && tree[i]!.physical < run.physical) putTreeBlock(out, tree[i++]!, csum);
    fill(run.logical, run.physical, run.count);
  }
  if (indirect) while (i < indirect.length) putIndirect(out, indirect[i++]!, blockSize);
  else if (tree) while (i < tree.length) putTreeBlock(out, tree[i++]!, csum);
}

/** The blocks in ascending physical order (they are allocated so: sorted only if not). */
function byPhysical<T extends { physical: number }>(blocks: readonly T[]): readonly T[] {
  for (let k = 1; k < blocks.length; k++) {
    if (blocks[k]!.physical < blocks[k - 1]!.physical) return [...blocks].sort((a, b) => a.physical - b.physical);
  }
  return blocks;
}

function putTreeBlock(out: BlockOutput, t: { physical: number; bytes: Uint8Array }, csum: { seed: number; ino: number } | undefined): void {
  if (csum) setExtentBlockChecksum(inodeChecksumSeed(csum.seed, csum.ino, 0), t.bytes);
  out.put(t.physical, t.bytes);
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function putIndirect(out: BlockOutput, blk: IndirectBlock, blockSize: number): void {
  const dst = out.reserve(blk.physical, 1);
  const p = blk.pointers;
  // The on-disk block is the little-endian pointer array: on a little-endian host, its bytes.
  if (LITTLE_ENDIAN_HOST) {
    dst.set(new Uint8Array(p.buffer, p.byteOffset, blockSize));
    return;
  }
  const dv = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  const apb = blockSize / 4;
  for (let k = 0; k < apb; k++) dv.setUint32(k * 4, p[k]!, true);
}

