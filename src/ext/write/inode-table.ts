import type { ImageSink } from '../../io/sink.js';
import { setInodeChecksum } from '../checksum.js';
import type { Geometry } from '../geometry.js';
import { writeInode, type InodeFields } from '../inode.js';

/**
 * The inode tables' used part, held in memory while the image is written (an inode is final
 * only once its blocks are placed and its xattr block is shared), then checksummed
 * (metadata_csum) and written group by group. Inodes never put stay zero, as mke2fs leaves the
 * unused reserved ones; the rest of each table is a hole that reads as zeros.
 */
export class InodeTable {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  private readonly written: Uint8Array;

  constructor(
    private readonly geo: Geometry,
    /** The highest inode number in use. */
    readonly maxIno: number,
  ) {
    this.bytes = new Uint8Array(maxIno * geo.inodeSize);
    this.view = new DataView(this.bytes.buffer);
    this.written = new Uint8Array(maxIno + 1);
  }

  put(ino: number, f: InodeFields): void {
    writeInode(this.bytes, this.view, (ino - 1) * this.geo.inodeSize, this.geo.inodeSize, f);
    this.written[ino] = 1;
  }

  /** metadata_csum: every inode written gets its checksum (ext4_inode_csum_set), generation 0. */
  checksum(seed: number): void {
    const size = this.geo.inodeSize;
    for (let ino = 1; ino <= this.maxIno; ino++) {
      if (!this.written[ino]) continue;
      setInodeChecksum(seed, ino, this.bytes.subarray((ino - 1) * size, ino * size), size);
    }
  }

  /** Used inodes of group g (they are numbered from 1 without gaps). */
  usedIn(g: number): number {
    const ipg = this.geo.inodesPerGroup;
    const first = g * ipg + 1;
    return Math.max(0, Math.min(this.maxIno, first + ipg - 1) - first + 1);
  }

  /** Write each group's used part, as whole blocks. */
  writeTo(sink: ImageSink): void {
    const { geo } = this;
    const bs = geo.blockSize;
    const perGroupBytes = geo.inodesPerGroup * geo.inodeSize;
    for (const g of geo.groups) {
      const from = g.index * perGroupBytes;
      if (from >= this.bytes.length) break;
      const slice = this.bytes.subarray(from, Math.min(this.bytes.length, from + perGroupBytes));
      const out = new Uint8Array(Math.ceil(slice.length / bs) * bs);
      out.set(slice);
      sink.write(g.inodeTable * bs, out);
    }
  }
}
