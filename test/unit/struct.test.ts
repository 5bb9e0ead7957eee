import { describe, expect, it } from 'vitest';
import { DIR_ENTRY, GROUP_DESC, INODE, INODE_LARGE, JOURNAL_SUPERBLOCK, SUPERBLOCK, type Struct } from '../../src/ext/struct.js';

// e2fsprogs tst_super_size: every table is contiguous, without gaps or overlaps, and sums to
// the size the kernel expects.
const tables: Array<[Struct<string>, number]> = [
  [SUPERBLOCK, 1024],
  [GROUP_DESC, 32],
  [INODE, 128],
  [INODE_LARGE, 160],
  [DIR_ENTRY, 8],
  [JOURNAL_SUPERBLOCK, 1024],
];

describe('on-disk struct tables', () => {
  for (const [s, size] of tables) {
    it(`${s.name} is contiguous and ${size} bytes`, () => {
      let next = 0;
      for (const f of s.fields) {
        expect(f.offset, `${s.name}.${f.name} offset`).toBe(next);
        expect(f.size).toBeGreaterThan(0);
        next = f.offset + f.size;
      }
      expect(next).toBe(size);
      expect(s.size).toBe(size);
      expect(new Set(s.fields.map((f) => f.name)).size).toBe(s.fields.length);
    });
  }

  it('places the fields e2fsck reads first where ext2_fs.h says', () => {
    expect(SUPERBLOCK.off.s_magic).toBe(0x38);
    expect(SUPERBLOCK.off.s_uuid).toBe(0x68);
    expect(SUPERBLOCK.off.s_jnl_blocks).toBe(0x10c);
    expect(SUPERBLOCK.off.s_checksum).toBe(0x3fc);
    expect(INODE.off.i_block).toBe(0x28);
    expect(INODE_LARGE.off.i_extra_isize).toBe(0x80);
    expect(JOURNAL_SUPERBLOCK.off.s_users).toBe(0x100);
  });
});
