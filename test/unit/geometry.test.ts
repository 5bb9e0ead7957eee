import { describe, expect, it } from 'vitest';
import { backupGroups, computeGeometry, defaultJournalBlocks, groupHasSuper, reservedGdtBlocksFor } from '../../src/ext/geometry.js';
import { lostFoundBlocks } from '../../src/ext/write/plan.js';

describe('geometry', () => {
  it('keeps superblock backups in groups 0, 1 and powers of 3, 5, 7 (sparse_super)', () => {
    expect(backupGroups(100)).toEqual([1, 3, 5, 7, 9, 25, 27, 49, 81]);
    expect(groupHasSuper(0)).toBe(true);
    expect(groupHasSuper(2)).toBe(false);
    expect(groupHasSuper(125)).toBe(true);
    expect(groupHasSuper(343)).toBe(true);
  });

  it('reserves GDT blocks as mke2fs does', () => {
    // mke2fs -t ext3 on 8 MiB at 1 KiB blocks reports "Reserved GDT blocks: 31".
    expect(reservedGdtBlocksFor(8192, 1024, 1, 1)).toBe(31);
    // capped at one block of pointers
    expect(reservedGdtBlocksFor(2 ** 22, 1024, 1, 16)).toBe(256);
  });

  it('lays out group 0 like mke2fs for 8 MiB at 1 KiB blocks with 2048 inodes', () => {
    const g = computeGeometry({ blockSize: 1024, blocksCount: 8192, inodesCount: 2048, inodeSize: 256, resizeInode: true });
    expect(g.groupCount).toBe(1);
    const g0 = g.groups[0]!;
    // dumpe2fs: Primary superblock at 1, GDT 2-2, reserved GDT 3-33, block bitmap 34,
    // inode bitmap 35, inode table 36-547
    expect([g0.gdtStart, g0.blockBitmap, g0.inodeBitmap, g0.inodeTable, g0.dataStart]).toEqual([2, 34, 35, 36, 548]);
  });

  it('drops a last group too small for its metadata', () => {
    const g = computeGeometry({ blockSize: 1024, blocksCount: 8193 + 8192 + 40, inodesCount: 256, inodeSize: 128, resizeInode: false });
    expect(g.groupCount).toBe(2);
    expect(g.blocksCount).toBe(8193 + 8192);
  });

  it('sizes lost+found and the journal as mke2fs does', () => {
    expect(lostFoundBlocks(1024)).toBe(12);
    expect(lostFoundBlocks(2048)).toBe(8);
    expect(lostFoundBlocks(4096)).toBe(4);
    expect(defaultJournalBlocks(8192)).toBe(1024);
    expect(defaultJournalBlocks(262144)).toBe(8192);
  });
});

describe('largest file', () => {
  it('follows the kernel (ext4_max_bitmap_size without huge_file)', async () => {
    const { maxBitmapBlocks } = await import('../../src/ext/write/plan.js');
    // 4 KiB: i_blocks binds (the kernel refuses i_size 2196873670656 with "bad i_size value")
    expect(maxBitmapBlocks(4096)).toBe(536346110);
    // 1 KiB: the block map binds
    expect(maxBitmapBlocks(1024)).toBe(12 + 256 + 256 ** 2 + 256 ** 3);
  });
});
