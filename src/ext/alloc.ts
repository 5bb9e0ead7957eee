import type { BlockSpace } from './space.js';

/**
 * The block allocator, as e2fsprogs' lib/ext2fs/alloc.c works for a new filesystem: each call
 * takes the first free block at or after a goal (by default where the previous allocation
 * ended) and as many free blocks after it as asked for, up to the next used one; the search
 * wraps to the start once (ext2fs_new_block3). Everything goes through the BlockSpace, so
 * metadata placed by the layout (flex_bg tables, superblock backups) is stepped around.
 *
 * The allocator never fails: past the last free block it hands out blocks beyond the end of
 * the filesystem and counts them in `overflow`. Sizing places the whole tree and reads
 * `overflow` to learn how much is missing, instead of catching an error mid-way.
 */
export class BlockAllocator {
  /** Where the next allocation looks first: one past the previous one. */
  goal: number;
  /** Blocks handed out beyond the end of the filesystem (0 when everything fit). */
  overflow = 0;
  private beyond: number;

  constructor(readonly space: BlockSpace) {
    this.goal = space.firstDataBlock;
    this.beyond = space.blocksCount;
  }

  /** Up to `max` contiguous blocks at the first free block from `goal`. */
  allocate(max: number, goal = this.goal): { start: number; count: number } {
    const space = this.space;
    let b = space.nextFree(goal);
    if (b >= space.blocksCount && goal > space.firstDataBlock) b = space.nextFree(space.firstDataBlock);
    if (b >= space.blocksCount) {
      const start = this.beyond;
      this.beyond += max;
      this.overflow += max;
      this.goal = this.beyond;
      return { start, count: max };
    }
    const count = space.freeRun(b, max);
    space.mark(b, count);
    this.goal = b + count;
    return { start: b, count };
  }

  /** One block (an indirect or extent tree block, an xattr block) near `goal`. */
  allocateOne(goal = this.goal): number {
    return this.allocate(1, goal).start;
  }
}
