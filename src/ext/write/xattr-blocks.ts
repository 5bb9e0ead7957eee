import type { ImageSink } from '../../io/sink.js';
import { setXattrBlockChecksum } from '../checksum.js';
import { XATTR_HEADER } from '../struct.js';
import type { XattrBlock } from './place.js';

/** Xattr blocks, written last: h_refcount is known once every inode is placed. */
export function writeXattrBlocks(sink: ImageSink, blocks: readonly XattrBlock[], blockSize: number, csumSeed: number | undefined): void {
  for (const b of blocks) {
    const bytes = b.bytes.slice();
    const dv = new DataView(bytes.buffer);
    XATTR_HEADER.set(dv, 0, 'h_refcount', b.refcount);
    if (csumSeed !== undefined) setXattrBlockChecksum(csumSeed, b.physical, bytes);
    sink.write(b.physical * blockSize, bytes);
  }
}
