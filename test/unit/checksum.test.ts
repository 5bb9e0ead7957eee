import { execFile } from 'node:child_process';
import { closeSync, linkSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blockBitmapChecksum,
  dirBlockChecksum,
  dxCountOffset,
  dxNodeChecksum,
  dxTailOffset,
  extentBlockChecksum,
  fsChecksumSeed,
  groupDescChecksum,
  groupDescCrc16,
  hasDirEntryTail,
  inodeBitmapChecksum,
  inodeHasChecksumHi,
  inodeChecksumSeed,
  inodeChecksumStored,
  journalSuperblockChecksum,
  setBitmapChecksums,
  setDirBlockChecksum,
  setDxNodeChecksum,
  setExtentBlockChecksum,
  setGroupDescChecksum,
  setInodeChecksum,
  setJournalSuperblockChecksum,
  setSuperblockChecksum,
  setXattrBlockChecksum,
  storedBitmapChecksums,
  storedDirBlockChecksum,
  storedDxNodeChecksum,
  storedExtentBlockChecksum,
  storedInodeChecksum,
  storedJournalSuperblockChecksum,
  storedXattrBlockChecksum,
  superblockChecksum,
  uuidChecksumSeed,
  writeDirEntryTail,
  xattrBlockChecksum,
} from '../../src/ext/checksum.js';
import { crc16, crc32cLe32, crc32cUpdate, crc32cZeros } from '../../src/ext/crc32c.js';
import { GD, IN, JSB, SB } from '../../src/ext/struct.js';
import { judgeAvailable, missingTools } from '../helpers/env.js';

const run = promisify(execFile);

// ---- the CRCs themselves ----------------------------------------------------------------------

/** Bit-at-a-time reference CRC (reflected, no inversion): the definition, not a table. */
function crcReference(poly: number, crc: number, data: Uint8Array): number {
  let c = crc >>> 0;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
  }
  return c >>> 0;
}

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('crc32c', () => {
  it('gives the CRC-32C check value with the standard inversions applied by the caller', () => {
    expect(~crc32cUpdate(~0, ascii('123456789')) >>> 0).toBe(0xe3069283);
    // Raw update, as ext2fs_crc32c_le: crc32c(~0, "") is ~0, and no final inversion.
    expect(crc32cUpdate(0xffffffff, new Uint8Array(0))).toBe(0xffffffff);
  });

  it('matches a bitwise reference for any seed, offset, length and chunking', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(7), fc.integer({ min: 0, max: 0xffffffff }), fc.nat(300), (bytes, shift, seed, cut) => {
        // Unaligned views over a larger buffer exercise the word path's alignment prologue.
        const backing = new Uint8Array(bytes.length + 8);
        backing.set(bytes, shift);
        const view = backing.subarray(shift, shift + bytes.length);
        const want = crcReference(0x82f63b78, seed, bytes);
        expect(crc32cUpdate(seed, view)).toBe(want);
        const k = Math.min(cut, view.length);
        expect(crc32cUpdate(crc32cUpdate(seed, view, 0, k), view, k)).toBe(want);
      }),
      { numRuns: 400 },
    );
  });

  it('has helpers that equal feeding the bytes', () => {
    const seed = 0x12345678;
    expect(crc32cZeros(seed, 7)).toBe(crc32cUpdate(seed, new Uint8Array(7)));
    expect(crc32cLe32(seed, 0xdeadbeef)).toBe(crc32cUpdate(seed, Uint8Array.of(0xef, 0xbe, 0xad, 0xde)));
  });
});

describe('crc16 (ext2fs_crc16)', () => {
  it('is CRC-16/ARC without init/xorout and matches a bitwise reference', () => {
    expect(crc16(0, ascii('123456789'))).toBe(0xbb3d);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.integer({ min: 0, max: 0xffff }), (bytes, seed) => {
        expect(crc16(seed, bytes)).toBe(crcReference(0xa001, seed, bytes));
      }),
    );
  });

  it("reproduces e2fsprogs csum.c's own gdt_csum self-test value (0xd3a4)", () => {
    // lib/ext2fs/csum.c main(): that UUID, group 0, a 32-byte descriptor with bitmaps at 124 and
    // 125, the inode table at 126, 31119 free blocks, 15701 free inodes, 2 directories.
    const uuid = Uint8Array.of(0x4f, 0x25, 0xe8, 0xcf, 0xe7, 0x97, 0x48, 0x23, 0xbe, 0xfa, 0xa7, 0x88, 0x4b, 0xae, 0xec, 0xdb);
    const d = new Uint8Array(32);
    const v = new DataView(d.buffer);
    v.setUint32(GD.bg_block_bitmap_lo, 124, true);
    v.setUint32(GD.bg_inode_bitmap_lo, 125, true);
    v.setUint32(GD.bg_inode_table_lo, 126, true);
    v.setUint16(GD.bg_free_blocks_count_lo, 31119, true);
    v.setUint16(GD.bg_free_inodes_count_lo, 15701, true);
    v.setUint16(GD.bg_used_dirs_count_lo, 2, true);
    expect(groupDescCrc16(uuid, 0, d, 32)).toBe(0xd3a4);
    expect(groupDescCrc16(uuid, 1, d, 32)).not.toBe(0xd3a4);
  });
});

// ---- the oracle: images made and checksummed by e2fsprogs ------------------------------------

/** Fields of the 64-byte struct ext4_group_desc not in struct.ts (fs/ext4/ext4.h). */
const GD_HI = { bg_block_bitmap_hi: 0x20, bg_inode_bitmap_hi: 0x24, bg_inode_table_hi: 0x28 } as const;
const EXT4_BG_INODE_UNINIT = 0x1;
const EXT4_BG_BLOCK_UNINIT = 0x2;
const EXT4_INDEX_FL = 0x1000;
const EXT4_EXTENTS_FL = 0x80000;
const EXT4_EXT_MAGIC = 0xf30a;
const JBD2_FEATURE_INCOMPAT_CSUM_V3 = 0x10;

interface ImageSpec {
  name: string;
  mkfs: string[];
  /** Entries and name length of the big directory (long names and many entries give dx nodes). */
  many: { count: number; nameLength: number };
  /** mke2fs size: big enough for two groups, so a backup superblock exists (sparse file). */
  size: string;
  /** Extra commands after population (tune2fs -U with csum_seed). */
  after?: string[][];
  /** Expect interior htree nodes (indirect_levels >= 1). */
  dxNodes: boolean;
}

const SPECS: ImageSpec[] = [
  // 4 KiB, 64-byte descriptors: dx root limit 507, so ~6000 long names give interior dx nodes.
  { name: '4k-64bit', mkfs: ['-b', '4096', '-O', 'metadata_csum,64bit'], many: { count: 7000, nameLength: 250 }, size: '160M', dxNodes: true },
  { name: '1k-64bit', mkfs: ['-b', '1024', '-O', 'metadata_csum,64bit'], many: { count: 1000, nameLength: 250 }, size: '64M', dxNodes: true },
  { name: '4k-32bit', mkfs: ['-b', '4096', '-O', 'metadata_csum,^64bit'], many: { count: 3000, nameLength: 20 }, size: '160M', dxNodes: false },
  // 128-byte inodes: no i_checksum_hi, only the low 16 bits are stored.
  { name: '1k-32bit-i128', mkfs: ['-b', '1024', '-I', '128', '-O', 'metadata_csum,^64bit'], many: { count: 3000, nameLength: 20 }, size: '64M', dxNodes: false },
  // csum_seed: after the UUID changes, everything must still verify from s_checksum_seed.
  {
    name: '4k-csum-seed',
    mkfs: ['-b', '4096', '-O', 'metadata_csum,64bit,metadata_csum_seed'],
    many: { count: 3000, nameLength: 20 },
    size: '160M',
    after: [['tune2fs', '-U', '01234567-89ab-cdef-0123-456789abcdef']],
    dxNodes: false,
  },
];

/** Node's fs calls write whole Uint8Arrays; a sparse file is written island by island. */
function writeSparse(path: string, islands: number, islandBytes: number, stride: number): void {
  const fd = openSync(path, 'w');
  try {
    const data = new Uint8Array(islandBytes);
    for (let k = 0; k < islands; k++) {
      for (let i = 0; i < data.length; i++) data[i] = (k * 131 + i * 7) & 0xff;
      writeSync(fd, data, 0, data.length, k * stride);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The source tree for `mke2fs -d`. The extent tree comes from a sparse file: mke2fs copies data
 * with SEEK_DATA/SEEK_HOLE, so each of 1500 data islands becomes its own extent, far more than the
 * 4 in i_block (a depth-2 tree: an index block over leaf blocks, at 1 KiB and at 4 KiB). The big
 * directory is hard links (cheap inodes); e2fsck -fD later turns it into an htree.
 */
function populate(dir: string, spec: ImageSpec): void {
  mkdirSync(join(dir, 'sub', 'deeper'), { recursive: true });
  writeFileSync(join(dir, 'small.txt'), 'hello\n');
  writeFileSync(join(dir, 'sub', 'deeper', 'f'), 'x'.repeat(5000));
  const medium = new Uint8Array(100_000);
  for (let i = 0; i < medium.length; i++) medium[i] = (i * 2654435761) >>> 24;
  writeFileSync(join(dir, 'medium.bin'), medium);
  symlinkSync('small.txt', join(dir, 'fastlink'));
  symlinkSync('t'.repeat(200), join(dir, 'slowlink'));
  writeSparse(join(dir, 'sparse.bin'), 1500, 4096, 8192);
  mkdirSync(join(dir, 'many'));
  const target = join(dir, 'many', 'target');
  writeFileSync(target, 't');
  for (let i = 0; i < spec.many.count; i++) {
    const n = String(i).padStart(5, '0');
    linkSync(target, join(dir, 'many', n + 'n'.repeat(Math.max(0, spec.many.nameLength - n.length))));
  }
}

async function buildImage(work: string, spec: ImageSpec): Promise<string> {
  const src = join(work, `${spec.name}.src`);
  mkdirSync(src);
  populate(src, spec);
  const image = join(work, `${spec.name}.img`);
  await run('mke2fs', ['-q', '-F', '-t', 'ext4', ...spec.mkfs, '-d', src, image, spec.size]);
  rmSync(src, { recursive: true, force: true });
  // An external xattr block: a value too big for the in-inode area (600 bytes fits a 1 KiB block).
  const value = join(work, `${spec.name}.xattr`);
  writeFileSync(value, 'v'.repeat(600));
  const cmds = join(work, `${spec.name}.cmds`);
  // `jo -c` / `jc`: debugfs opens the journal with checksum v3 and writes its superblock back
  // (mke2fs leaves jbd2 features empty; the kernel would set CSUM_V3 at mount).
  writeFileSync(cmds, [`ea_set -f ${value} /small.txt user.big`, `ea_set /medium.bin user.small tiny`, 'jo -c', 'jc', ''].join('\n'));
  await run('debugfs', ['-w', '-f', cmds, image]);
  for (const cmd of spec.after ?? []) await run(cmd[0]!, [...cmd.slice(1), image]);
  // -D rebuilds directories: "many" becomes an htree; exit 1 means "fixed/optimized".
  await run('e2fsck', ['-fyD', image]).catch((e: { code?: number }) => {
    if (e.code !== 1) throw e;
  });
  await run('e2fsck', ['-fn', image]); // throws unless exit 0: e2fsprogs accepts every checksum
  return image;
}

// ---- a minimal raw reader, enough to find every checksummed structure -------------------------

const le16 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);
const le32 = (b: Uint8Array, o: number): number => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
const be32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

class RawFs {
  readonly sb: Uint8Array;
  readonly bs: number;
  readonly groups: number;
  readonly descSize: number;
  readonly ipg: number;
  readonly cpg: number;
  readonly inodeSize: number;
  readonly seed: number;
  readonly firstDataBlock: number;

  constructor(readonly img: Uint8Array) {
    this.sb = img.subarray(1024, 2048);
    this.bs = 1024 << le32(this.sb, SB.s_log_block_size);
    this.firstDataBlock = le32(this.sb, SB.s_first_data_block);
    const blocks = le32(this.sb, SB.s_blocks_count_lo) + le32(this.sb, SB.s_blocks_count_hi) * 2 ** 32;
    this.groups = Math.ceil((blocks - this.firstDataBlock) / le32(this.sb, SB.s_blocks_per_group));
    const incompat64 = le32(this.sb, SB.s_feature_incompat) & 0x80;
    this.descSize = incompat64 ? le16(this.sb, SB.s_desc_size) : 32;
    this.ipg = le32(this.sb, SB.s_inodes_per_group);
    this.cpg = le32(this.sb, SB.s_clusters_per_group);
    this.inodeSize = le16(this.sb, SB.s_inode_size);
    this.seed = fsChecksumSeed(this.sb);
  }

  block(n: number): Uint8Array {
    return this.img.subarray(n * this.bs, (n + 1) * this.bs);
  }
  desc(g: number): Uint8Array {
    const o = (this.firstDataBlock + 1) * this.bs + g * this.descSize;
    return this.img.subarray(o, o + this.descSize);
  }
  private descBlock(g: number, lo: number, hi: number): number {
    const d = this.desc(g);
    return le32(d, lo) + (this.descSize >= 64 ? le32(d, hi) * 2 ** 32 : 0);
  }
  blockBitmap(g: number): number {
    return this.descBlock(g, GD.bg_block_bitmap_lo, GD_HI.bg_block_bitmap_hi);
  }
  inodeBitmap(g: number): number {
    return this.descBlock(g, GD.bg_inode_bitmap_lo, GD_HI.bg_inode_bitmap_hi);
  }
  inode(ino: number): Uint8Array {
    const g = Math.floor((ino - 1) / this.ipg);
    const table = this.descBlock(g, GD.bg_inode_table_lo, GD_HI.bg_inode_table_hi);
    const o = table * this.bs + ((ino - 1) % this.ipg) * this.inodeSize;
    return this.img.subarray(o, o + this.inodeSize);
  }
  /** Every inode the inode bitmaps mark in use (groups with INODE_UNINIT have none). */
  usedInodes(): number[] {
    const out: number[] = [];
    for (let g = 0; g < this.groups; g++) {
      if (le16(this.desc(g), GD.bg_flags) & EXT4_BG_INODE_UNINIT) continue;
      const bm = this.block(this.inodeBitmap(g));
      for (let i = 0; i < this.ipg; i++) if (bm[i >> 3]! & (1 << (i & 7))) out.push(g * this.ipg + i + 1);
    }
    return out;
  }
  /**
   * Walk an inode's extent tree: the blocks of the tree outside i_block and the logical ->
   * physical map of its data.
   */
  extents(inode: Uint8Array): { treeBlocks: number[]; map: Map<number, number> } {
    const treeBlocks: number[] = [];
    const map = new Map<number, number>();
    const walk = (node: Uint8Array): void => {
      expect(le16(node, 0)).toBe(EXT4_EXT_MAGIC);
      const entries = le16(node, 2);
      const depth = le16(node, 6);
      for (let e = 0; e < entries; e++) {
        const o = 12 + 12 * e;
        if (depth > 0) {
          const leaf = le32(node, o + 4) + le16(node, o + 8) * 2 ** 32;
          treeBlocks.push(leaf);
          walk(this.block(leaf));
        } else {
          const lblk = le32(node, o);
          let len = le16(node, o + 4);
          if (len > 32768) len -= 32768;
          const start = le32(node, o + 8) + le16(node, o + 6) * 2 ** 32;
          for (let i = 0; i < len; i++) map.set(lblk + i, start + i);
        }
      }
    };
    walk(inode.subarray(IN.i_block, IN.i_block + 60));
    return { treeBlocks, map };
  }
}

/** The logical blocks of an htree directory that are dx root/nodes, walked from the root. */
function dxBlocks(fs: RawFs, map: Map<number, number>): number[] {
  const root = fs.block(map.get(0)!);
  const levels = root[0x1e]!;
  const out = [0];
  let frontier = [0];
  for (let level = 0; level < levels; level++) {
    const next: number[] = [];
    for (const l of frontier) {
      const b = fs.block(map.get(l)!);
      const co = dxCountOffset(b);
      const count = le16(b, co + 2);
      for (let e = 0; e < count; e++) next.push(le32(b, co + 8 * e + 4));
    }
    out.push(...next);
    frontier = next;
  }
  return out;
}

interface Census {
  groups: number;
  blockBitmaps: number;
  inodeBitmaps: number;
  inodes: number;
  inodesWithHi: number;
  extentBlocks: number;
  dirLeaves: number;
  dxRoots: number;
  dxNodes: number;
  xattrBlocks: number;
  backupSuperblocks: number;
}

/** Check every checksum on the image against ours; returns how many of each kind were checked. */
function verifyAll(fs: RawFs): Census {
  const c: Census = { groups: 0, blockBitmaps: 0, inodeBitmaps: 0, inodes: 0, inodesWithHi: 0, extentBlocks: 0, dirLeaves: 0, dxRoots: 0, dxNodes: 0, xattrBlocks: 0, backupSuperblocks: 0 };
  // Superblock, and the sparse_super backups (each with its own s_block_group_nr).
  expect(superblockChecksum(fs.sb)).toBe(le32(fs.sb, SB.s_checksum));
  for (let g = 1; g < fs.groups; g++) {
    // Backups sit at the start of their group's first block (the primary is at byte 1024).
    const o = (fs.firstDataBlock + g * le32(fs.sb, SB.s_blocks_per_group)) * fs.bs;
    const backup = fs.img.subarray(o, o + 1024);
    if (le16(backup, SB.s_magic) !== 0xef53) continue;
    expect(superblockChecksum(backup), `backup superblock in group ${g}`).toBe(le32(backup, SB.s_checksum));
    c.backupSuperblocks++;
  }
  // Group descriptors and bitmaps.
  for (let g = 0; g < fs.groups; g++) {
    const d = fs.desc(g);
    expect(groupDescChecksum(fs.seed, g, d, fs.descSize), `group ${g} descriptor`).toBe(le16(d, GD.bg_checksum));
    c.groups++;
    const flags = le16(d, GD.bg_flags);
    const stored = storedBitmapChecksums(d, fs.descSize);
    expect(stored.hasHi).toBe(fs.descSize >= 64);
    const mask = stored.hasHi ? 0xffffffff : 0xffff;
    // UNINIT bitmaps are not on disk in the form the checksum covers (the kernel and e2fsck skip them).
    if (!(flags & EXT4_BG_BLOCK_UNINIT)) {
      expect((blockBitmapChecksum(fs.seed, fs.block(fs.blockBitmap(g)), fs.cpg) & mask) >>> 0, `group ${g} block bitmap`).toBe(stored.block);
      c.blockBitmaps++;
    }
    if (!(flags & EXT4_BG_INODE_UNINIT)) {
      expect((inodeBitmapChecksum(fs.seed, fs.block(fs.inodeBitmap(g)), fs.ipg) & mask) >>> 0, `group ${g} inode bitmap`).toBe(stored.inode);
      c.inodeBitmaps++;
    }
  }
  // Inodes, and from them extent blocks, directory blocks and xattr blocks.
  const xattrSeen = new Set<number>();
  for (const ino of fs.usedInodes()) {
    const inode = fs.inode(ino);
    expect(inodeChecksumStored(fs.seed, ino, inode, fs.inodeSize), `inode ${ino}`).toBe(storedInodeChecksum(inode, fs.inodeSize));
    c.inodes++;
    if (fs.inodeSize > 128 && le16(inode, IN.i_extra_isize) >= 4) c.inodesWithHi++;
    const iseed = inodeChecksumSeed(fs.seed, ino, le32(inode, IN.i_generation));
    const acl = le32(inode, IN.i_file_acl) + le16(inode, IN.l_i_file_acl_high) * 2 ** 32;
    if (acl !== 0 && !xattrSeen.has(acl)) {
      xattrSeen.add(acl);
      const b = fs.block(acl);
      expect(xattrBlockChecksum(fs.seed, acl, b), `xattr block ${acl}`).toBe(storedXattrBlockChecksum(b));
      c.xattrBlocks++;
    }
    const flags = le32(inode, IN.i_flags);
    if (!(flags & EXT4_EXTENTS_FL) || le16(inode, IN.i_links_count) === 0) continue;
    const { treeBlocks, map } = fs.extents(inode);
    for (const tb of treeBlocks) {
      const b = fs.block(tb);
      expect(extentBlockChecksum(iseed, b), `inode ${ino} extent block ${tb}`).toBe(storedExtentBlockChecksum(b));
      c.extentBlocks++;
    }
    if ((le16(inode, IN.i_mode) & 0xf000) !== 0x4000) continue;
    const dx = new Set(flags & EXT4_INDEX_FL ? dxBlocks(fs, map) : []);
    for (const [lblk, pblk] of map) {
      const b = fs.block(pblk);
      if (dx.has(lblk)) {
        expect(dxCountOffset(b)).toBe(lblk === 0 ? 32 : 8);
        expect(dxNodeChecksum(iseed, b), `inode ${ino} dx block ${lblk}`).toBe(storedDxNodeChecksum(b));
        if (lblk === 0) c.dxRoots++;
        else c.dxNodes++;
      } else {
        expect(hasDirEntryTail(b), `inode ${ino} leaf ${lblk} has a tail`).toBe(true);
        expect(dirBlockChecksum(iseed, b), `inode ${ino} dir leaf ${lblk}`).toBe(storedDirBlockChecksum(b));
        c.dirLeaves++;
      }
    }
  }
  return c;
}

function journalSuperblock(fs: RawFs): Uint8Array {
  const journalIno = le32(fs.sb, SB.s_journal_inum);
  const { map } = fs.extents(fs.inode(journalIno));
  return fs.block(map.get(0)!).subarray(0, 1024);
}

const TOOLS = ['mke2fs', 'debugfs', 'e2fsck', 'tune2fs'];
const available = judgeAvailable(missingTools(TOOLS), 'checksum oracle (e2fsprogs images)');

describe.runIf(available)('checksums against images e2fsprogs wrote', () => {
  let work = '';
  const paths = new Map<string, string>();
  // One image in memory at a time (up to 160 MiB each).
  let loaded: { name: string; fs: RawFs } | undefined;
  const image = (name: string): RawFs => {
    if (loaded?.name !== name) {
      loaded = undefined;
      const bytes = readFileSync(paths.get(name)!);
      loaded = { name, fs: new RawFs(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length)) };
    }
    return loaded.fs;
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'extimg-checksum-'));
    await Promise.all(SPECS.map(async (spec) => paths.set(spec.name, await buildImage(work, spec))));
  }, 300_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  for (const spec of SPECS) {
    it(`${spec.name}: every superblock, descriptor, bitmap, inode, extent, dir, dx and xattr block`, () => {
      const fs = image(spec.name);
      const c = verifyAll(fs);
      // The census proves each kind was actually met, not skipped.
      expect(c.groups).toBe(fs.groups);
      expect(c.blockBitmaps).toBeGreaterThan(0);
      expect(c.inodeBitmaps).toBeGreaterThan(0);
      expect(c.inodes).toBeGreaterThan(20);
      // mke2fs writes the reserved inodes with i_extra_isize 0: lo-only even in 256-byte inodes.
      if (fs.inodeSize > 128) expect(c.inodesWithHi).toBeGreaterThan(10);
      else expect(c.inodesWithHi).toBe(0);
      expect(c.extentBlocks).toBeGreaterThanOrEqual(3); // sparse.bin: index block + leaves
      expect(c.dirLeaves).toBeGreaterThan(10);
      expect(c.dxRoots).toBeGreaterThanOrEqual(1);
      if (spec.dxNodes) expect(c.dxNodes).toBeGreaterThan(0);
      expect(c.xattrBlocks).toBeGreaterThanOrEqual(1);
      if (process.env.EXTIMG_CENSUS) console.log(spec.name, JSON.stringify(c));
      expect(c.backupSuperblocks).toBeGreaterThan(0);
    });

    it(`${spec.name}: journal superblock (CSUM_V3)`, () => {
      const fs = image(spec.name);
      const jsb = journalSuperblock(fs);
      expect(be32(jsb, JSB.s_feature_incompat) & JBD2_FEATURE_INCOMPAT_CSUM_V3).toBeTruthy();
      expect(jsb[JSB.s_checksum_type]).toBe(4);
      expect(journalSuperblockChecksum(jsb)).toBe(storedJournalSuperblockChecksum(jsb));
    });
  }

  it('4k-csum-seed: the seed is s_checksum_seed, not crc32c(uuid), once the UUID has changed', () => {
    const fs = image('4k-csum-seed');
    expect(fs.seed).toBe(le32(fs.sb, SB.s_checksum_seed));
    expect(uuidChecksumSeed(fs.sb.subarray(SB.s_uuid, SB.s_uuid + 16))).not.toBe(fs.seed);
  });

  it('the set… variants reproduce the stored bytes exactly', () => {
    for (const spec of SPECS) {
      const fs = image(spec.name);
      const sb = fs.sb.slice();
      sb.fill(0, SB.s_checksum, SB.s_checksum + 4);
      setSuperblockChecksum(sb);
      expect(sb).toEqual(fs.sb);
      for (let g = 0; g < fs.groups; g++) {
        const d = fs.desc(g).slice();
        const stored = storedBitmapChecksums(d, fs.descSize);
        d.fill(0, GD.bg_block_bitmap_csum_lo, GD.bg_block_bitmap_csum_lo + 4);
        d.fill(0, GD.bg_checksum, GD.bg_checksum + 2);
        setBitmapChecksums(d, fs.descSize, stored.block, stored.inode);
        setGroupDescChecksum(fs.seed, g, d, fs.descSize);
        expect(d).toEqual(fs.desc(g));
      }
      for (const ino of fs.usedInodes().slice(0, 50)) {
        const inode = fs.inode(ino).slice();
        inode.fill(0, IN.l_i_checksum_lo, IN.l_i_checksum_lo + 2);
        if (inodeHasChecksumHi(inode, fs.inodeSize)) inode.fill(0, IN.i_checksum_hi, IN.i_checksum_hi + 2);
        setInodeChecksum(fs.seed, ino, inode, fs.inodeSize);
        expect(inode).toEqual(fs.inode(ino));
      }
      const jsb = journalSuperblock(fs).slice();
      jsb.fill(0, JSB.s_checksum, JSB.s_checksum + 4);
      setJournalSuperblockChecksum(jsb);
      expect(jsb).toEqual(journalSuperblock(fs));
    }
  });

  it('sensitivity: one flipped covered byte changes each checksum; uncovered bytes do not', () => {
    const fs = image('4k-64bit');
    const flip = (b: Uint8Array, at: number): Uint8Array => {
      const copy = b.slice();
      copy[at] ^= 0x01;
      return copy;
    };
    // Superblock: any byte before 0x3FC.
    expect(superblockChecksum(flip(fs.sb, SB.s_volume_name))).not.toBe(le32(fs.sb, SB.s_checksum));
    // Descriptor: any byte but bg_checksum, and the group number.
    const d = fs.desc(0);
    expect(groupDescChecksum(fs.seed, 0, flip(d, GD.bg_free_blocks_count_lo), fs.descSize)).not.toBe(le16(d, GD.bg_checksum));
    expect(groupDescChecksum(fs.seed, 0, flip(d, 0x3f), fs.descSize)).not.toBe(le16(d, GD.bg_checksum)); // the 64-byte half counts
    expect(groupDescChecksum(fs.seed, 1, d, fs.descSize)).not.toBe(le16(d, GD.bg_checksum));
    expect(groupDescChecksum(fs.seed, 0, flip(d, GD.bg_checksum), fs.descSize)).toBe(le16(d, GD.bg_checksum));
    // Inode bitmap: only the first inodes_per_group/8 bytes count (the rest of the block is padding).
    const ibm = fs.block(fs.inodeBitmap(0));
    const storedInodeBm = storedBitmapChecksums(d, fs.descSize).inode;
    expect(inodeBitmapChecksum(fs.seed, flip(ibm, 0), fs.ipg)).not.toBe(storedInodeBm);
    if (fs.ipg / 8 < fs.bs) expect(inodeBitmapChecksum(fs.seed, flip(ibm, fs.ipg / 8), fs.ipg)).toBe(storedInodeBm);
    // Inode: any byte of the whole s_inode_size, and the inode number; not the checksum fields.
    const ino = findByName(fs, 2, 'medium.bin');
    const inode = fs.inode(ino);
    const storedIno = storedInodeChecksum(inode, fs.inodeSize);
    expect(inodeChecksumStored(fs.seed, ino, flip(inode, fs.inodeSize - 1), fs.inodeSize)).not.toBe(storedIno);
    expect(inodeChecksumStored(fs.seed, ino + 1, inode, fs.inodeSize)).not.toBe(storedIno);
    expect(inodeChecksumStored(fs.seed, ino, flip(inode, IN.i_checksum_hi), fs.inodeSize)).toBe(storedIno);
    // Extent block: bytes up to the tail after eh_max entries; unused entry slots count too.
    const sparse = findByName(fs, 2, 'sparse.bin');
    const sInode = fs.inode(sparse);
    const sSeed = inodeChecksumSeed(fs.seed, sparse, le32(sInode, IN.i_generation));
    const eb = fs.block(fs.extents(sInode).treeBlocks[0]!);
    const ebTail = 12 + 12 * le16(eb, 4);
    expect(extentBlockChecksum(sSeed, flip(eb, ebTail - 1))).not.toBe(storedExtentBlockChecksum(eb));
    expect(extentBlockChecksum(sSeed, flip(eb, ebTail + 4))).toBe(storedExtentBlockChecksum(eb)); // past the tail
    const eb2 = eb.slice();
    setExtentBlockChecksum(sSeed, eb2);
    expect(eb2).toEqual(eb);
    // Directory leaf and dx blocks of "many".
    const many = findByName(fs, 2, 'many');
    const mInode = fs.inode(many);
    const mSeed = inodeChecksumSeed(fs.seed, many, le32(mInode, IN.i_generation));
    const { map } = fs.extents(mInode);
    const dx = dxBlocks(fs, map);
    const root = fs.block(map.get(0)!);
    const leafL = [...map.keys()].find((l) => !dx.includes(l))!;
    const leaf = fs.block(map.get(leafL)!);
    expect(dirBlockChecksum(mSeed, flip(leaf, fs.bs - 13))).not.toBe(storedDirBlockChecksum(leaf));
    const leaf2 = leaf.slice();
    writeDirEntryTail(leaf2);
    setDirBlockChecksum(mSeed, leaf2);
    expect(leaf2).toEqual(leaf);
    const storedRoot = storedDxNodeChecksum(root);
    const count = le16(root, 32 + 2);
    const limit = le16(root, 32);
    expect(count).toBeLessThan(limit);
    expect(dxNodeChecksum(mSeed, flip(root, 32 + 8 * count - 1))).not.toBe(storedRoot); // last used entry
    expect(dxNodeChecksum(mSeed, flip(root, 32 + 8 * count))).toBe(storedRoot); // first unused entry: not covered
    expect(dxNodeChecksum(mSeed, flip(root, dxTailOffset(root)))).not.toBe(storedRoot); // dt_reserved is covered
    const root2 = root.slice();
    root2.fill(0, dxTailOffset(root) + 4, dxTailOffset(root) + 8);
    setDxNodeChecksum(mSeed, root2);
    expect(root2).toEqual(root);
    // Xattr block: any byte, and the block number.
    const small = findByName(fs, 2, 'small.txt');
    const acl = le32(fs.inode(small), IN.i_file_acl);
    const xb = fs.block(acl);
    expect(xattrBlockChecksum(fs.seed, acl, flip(xb, fs.bs - 1))).not.toBe(storedXattrBlockChecksum(xb));
    expect(xattrBlockChecksum(fs.seed, acl + 1, xb)).not.toBe(storedXattrBlockChecksum(xb));
    const xb2 = xb.slice();
    setXattrBlockChecksum(fs.seed, acl, xb2);
    expect(xb2).toEqual(xb);
    // Journal superblock: all 1024 bytes, including s_users.
    const jsb = journalSuperblock(fs);
    expect(journalSuperblockChecksum(flip(jsb, 1023))).not.toBe(storedJournalSuperblockChecksum(jsb));
    expect(journalSuperblockChecksum(flip(jsb, JSB.s_checksum))).toBe(storedJournalSuperblockChecksum(jsb));
  });
});

/** Look `name` up in directory inode `dir` by scanning its leaf blocks (htree-agnostic). */
function findByName(fs: RawFs, dir: number, name: string): number {
  const want = new TextEncoder().encode(name);
  const { map } = fs.extents(fs.inode(dir));
  for (const pblk of map.values()) {
    const b = fs.block(pblk);
    for (let o = 0; o < fs.bs; ) {
      const recLen = le16(b, o + 4);
      const nameLen = b[o + 6]!;
      if (le32(b, o) !== 0 && nameLen === want.length && want.every((ch, i) => b[o + 8 + i] === ch)) return le32(b, o);
      if (recLen < 8) break;
      o += recLen;
    }
  }
  throw new Error(`${name} not found in inode ${dir}`);
}

describe('gdt_csum (uninit_bg, crc16) against images e2fsprogs wrote', () => {
  const cases = [
    { name: '4k-64bit', mkfs: ['-b', '4096', '-O', '^metadata_csum,uninit_bg,64bit'], size: '300M' },
    { name: '1k-32bit', mkfs: ['-b', '1024', '-O', '^metadata_csum,uninit_bg,^64bit'], size: '64M' },
  ];
  for (const cs of cases) {
    it(`${cs.name}: every group descriptor`, async (ctx) => {
      if (!judgeAvailable(missingTools(['mke2fs']), 'gdt_csum oracle')) return ctx.skip();
      const work = mkdtempSync(join(tmpdir(), 'extimg-gdtcsum-'));
      try {
        const image = join(work, 'img');
        await run('mke2fs', ['-q', '-F', '-t', 'ext4', ...cs.mkfs, image, cs.size]);
        const bytes = readFileSync(image);
        const fs = new RawFs(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
        expect(fs.descSize).toBe(cs.name.includes('64bit') ? 64 : 32);
        const uuid = fs.sb.subarray(SB.s_uuid, SB.s_uuid + 16);
        for (let g = 0; g < fs.groups; g++) {
          const d = fs.desc(g);
          expect(groupDescCrc16(uuid, g, d, fs.descSize), `group ${g}`).toBe(le16(d, GD.bg_checksum));
        }
        expect(fs.groups).toBeGreaterThan(1);
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    });
  }
});
