import { describe, expect, it } from 'vitest';
import {
  DIR_ENTRY,
  DIR_ENTRY_TAIL,
  DX_COUNTLIMIT,
  DX_ENTRY,
  DX_ROOT_INFO,
  DX_TAIL,
  EXTENT,
  EXTENT_HEADER,
  EXTENT_IDX,
  EXTENT_TAIL,
  GROUP_DESC,
  GROUP_DESC_64,
  INODE,
  INODE_LARGE,
  JOURNAL_SUPERBLOCK,
  SUPERBLOCK,
  XATTR_ENTRY,
  XATTR_HEADER,
  type Field,
} from '../../src/ext/struct.js';
import * as structModule from '../../src/ext/struct.js';

// e2fsprogs tst_super_size: every table is contiguous, without gaps or overlaps, and sums to
// the size the kernel expects. Every struct struct.ts declares is listed here.
const tables: Array<[{ readonly name: string; readonly size: number; readonly fields: readonly Field[] }, number]> = [
  [SUPERBLOCK, 1024],
  [GROUP_DESC, 32],
  [GROUP_DESC_64, 64],
  [INODE, 128],
  [INODE_LARGE, 160],
  [DIR_ENTRY, 8],
  [DIR_ENTRY_TAIL, 12],
  [DX_ROOT_INFO, 8],
  [DX_COUNTLIMIT, 4],
  [DX_ENTRY, 8],
  [DX_TAIL, 8],
  [EXTENT_HEADER, 12],
  [EXTENT_IDX, 12],
  [EXTENT, 12],
  [EXTENT_TAIL, 4],
  [XATTR_HEADER, 32],
  [XATTR_ENTRY, 16],
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

  it('covers every struct struct.ts exports', () => {
    const declared = Object.entries(structModule).filter(([, x]) => typeof x === 'object' && x !== null && 'fields' in x && 'size' in x);
    expect(declared.map(([name]) => name).filter((name) => !tables.some(([t]) => t === (structModule as Record<string, unknown>)[name]))).toEqual([]);
  });

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
