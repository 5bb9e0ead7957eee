import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isExtimgError } from '../../src/errors.js';
import { dirRecLen } from '../../src/ext/directory.js';
import { createDirHasher, DX_HASH_HALF_MD4, DX_HASH_LEGACY, DX_HASH_TEA, effectiveHashVersion, EXT2_FLAGS_UNSIGNED_HASH, type DirHasher } from '../../src/ext/dirhash.js';
import {
  buildHtree,
  EXT4_INDEX_FL,
  htreeBlocks,
  needsIndex,
  planHtree,
  type HtreeEntry,
  type HtreeInput,
  type HtreeLayout,
} from '../../src/ext/htree.js';
import { dumpe2fs, expectClean } from '../helpers/e2fsck.js';
import { judgeAvailable, missingTools } from '../helpers/env.js';

// ---------------------------------------------------------------------------------------------
// A reader written from the kernel's fs/ext4/namei.c (dx_probe, ext4_htree_next_block,
// ext4_dx_find_entry) and e2fsck's pass2 checks, independent of the encoder.

const u16 = (b: Uint8Array, at: number): number => b[at]! | (b[at + 1]! << 8);
const u32 = (b: Uint8Array, at: number): number => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

/** ext4_rec_len_from_disk: 64 KiB blocks store a whole-block rec_len as 65535 (or 0). */
const recLenFromDisk = (v: number, bs: number): number => (bs === 65536 && (v === 0xffff || v === 0) ? 65536 : v);

interface DxBlock {
  limit: number;
  count: number;
  /** entries[0].hash is 0 (its hash field holds count/limit). */
  entries: Array<{ hash: number; block: number }>;
}

/** A plain assertion for hot loops (vitest's expect is too slow per directory entry). */
function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

interface LeafEntry {
  inode: number;
  recLen: number;
  name: string;
  fileType: number;
}

function readDx(bytes: Uint8Array, bs: number, block: number, countOffset: number): DxBlock {
  const base = block * bs + countOffset;
  const limit = u16(bytes, base);
  const count = u16(bytes, base + 2);
  const entries = [];
  for (let i = 0; i < count; i++) entries.push({ hash: i ? u32(bytes, base + i * 8) : 0, block: u32(bytes, base + i * 8 + 4) });
  return { limit, count, entries };
}

/** A leaf's entries; asserts the rec_len chain covers the block exactly (up to the tail with csum). */
function readLeaf(bytes: Uint8Array, bs: number, block: number, csum: boolean): LeafEntry[] {
  const base = block * bs;
  const end = bs - (csum ? 12 : 0);
  const out: LeafEntry[] = [];
  let pos = 0;
  while (pos < end) {
    const inode = u32(bytes, base + pos);
    const recLen = recLenFromDisk(u16(bytes, base + pos + 4), bs);
    const nameLen = bytes[base + pos + 6]!;
    check(recLen % 4 === 0, `leaf ${block} +${pos}: rec_len ${recLen} not aligned`);
    check(recLen >= dirRecLen(nameLen), `leaf ${block} +${pos}: rec_len ${recLen} too short for its name`);
    check(pos + recLen <= end, `leaf ${block} +${pos}: rec_len ${recLen} runs past ${end}`);
    if (inode !== 0) {
      out.push({ inode, recLen, fileType: bytes[base + pos + 7]!, name: String.fromCharCode(...bytes.subarray(base + pos + 8, base + pos + 8 + nameLen)) });
    }
    pos += recLen;
  }
  check(pos === end, `leaf ${block}: rec_len chain ends at ${pos}, not ${end}`);
  if (csum) {
    const t = base + bs - 12;
    const tail = Array.from(bytes.subarray(t, t + 8)).join(',');
    check(tail === '0,0,0,0,12,0,0,222', `leaf ${block}: tail ${tail}`);
  }
  return out;
}

interface ParsedTree {
  levels: number;
  hashVersion: number;
  root: DxBlock;
  nodes: Map<number, DxBlock>;
}

function readTree(bytes: Uint8Array, bs: number, csum: boolean): ParsedTree {
  // Fake "." and "..", then dx_root_info (kernel dx_probe, e2fsck check_dir_block).
  expect(u16(bytes, 4)).toBe(12);
  expect(bytes[6]).toBe(1);
  expect(bytes[8]).toBe(0x2e);
  expect(u16(bytes, 12 + 4)).toBe(bs - 12);
  expect(bytes[12 + 6]).toBe(2);
  expect([bytes[20], bytes[21]]).toEqual([0x2e, 0x2e]);
  expect(u32(bytes, 24)).toBe(0); // reserved_zero
  expect(bytes[24 + 5]).toBe(8); // info_length
  expect(bytes[24 + 7]).toBe(0); // unused_flags
  const levels = bytes[24 + 6]!;
  expect(levels).toBeLessThan(2);
  const root = readDx(bytes, bs, 0, 32);
  expect(root.limit).toBe((bs - 32 - (csum ? 8 : 0)) / 8);
  const nodes = new Map<number, DxBlock>();
  if (levels === 1) {
    for (const e of root.entries) {
      const at = e.block * bs;
      // A dx_node: one empty dirent spanning the block (e2fsck's test for a node).
      expect(u32(bytes, at)).toBe(0);
      expect(recLenFromDisk(u16(bytes, at + 4), bs)).toBe(bs);
      expect(bytes[at + 6]).toBe(0);
      const node = readDx(bytes, bs, e.block, 8);
      expect(node.limit).toBe((bs - 8 - (csum ? 8 : 0)) / 8);
      nodes.set(e.block, node);
    }
  }
  for (const dx of [root, ...nodes.values()]) {
    expect(dx.count).toBeGreaterThan(0);
    expect(dx.count).toBeLessThanOrEqual(dx.limit);
    for (let i = 2; i < dx.count; i++) expect((dx.entries[i]!.hash & ~1) >>> 0).toBeGreaterThanOrEqual((dx.entries[i - 1]!.hash & ~1) >>> 0);
  }
  if (csum) for (const b of [0, ...nodes.keys()]) expect(Array.from(bytes.subarray(b * bs + bs - 8, b * bs + bs))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  return { levels, hashVersion: bytes[24 + 4]!, root, nodes };
}

/** dx_probe: per level, the last entry whose hash is <= the target (entry 0 counts as 0). */
function dxProbe(tree: ParsedTree, hash: number): Array<{ dx: DxBlock; at: number }> {
  const frames: Array<{ dx: DxBlock; at: number }> = [];
  let dx = tree.root;
  for (let level = 0; ; level++) {
    let p = 1;
    let q = dx.count - 1;
    while (p <= q) {
      const m = p + ((q - p) >> 1);
      if (dx.entries[m]!.hash > hash) q = m - 1;
      else p = m + 1;
    }
    frames.push({ dx, at: p - 1 });
    if (level === tree.levels) return frames;
    dx = tree.nodes.get(dx.entries[p - 1]!.block)!;
  }
}

/** ext4_htree_next_block: step to the next leaf while the next index hash continues `hash`. */
function nextBlock(tree: ParsedTree, frames: Array<{ dx: DxBlock; at: number }>, hash: number): boolean {
  let p = frames.length - 1;
  let up = 0;
  for (;;) {
    if (++frames[p]!.at < frames[p]!.dx.count) break;
    if (p === 0) return false;
    up++;
    p--;
  }
  const bhash = frames[p]!.dx.entries[frames[p]!.at]!.hash;
  if ((hash & 1) === 0 && (bhash & ~1) >>> 0 !== hash) return false;
  while (up--) {
    const dx = tree.nodes.get(frames[p]!.dx.entries[frames[p]!.at]!.block)!;
    p++;
    frames[p] = { dx, at: 0 };
  }
  return true;
}

/** ext4_dx_find_entry: the leaf block holding `name`, or -1. */
function dxFind(leafNames: (block: number) => Set<string>, tree: ParsedTree, name: string, hash: number): number {
  const frames = dxProbe(tree, hash);
  do {
    const f = frames[frames.length - 1]!;
    const block = f.dx.entries[f.at]!.block;
    if (leafNames(block).has(name)) return block;
  } while (nextBlock(tree, frames, hash));
  return -1;
}

/** Every leaf under the index in index order, with e2fsck's [node_min_hash, node_max_hash]. */
function leavesInOrder(tree: ParsedTree): Array<{ block: number; min: number; max: number }> {
  const flat: Array<{ block: number; hash: number }> = [];
  const walk = (dx: DxBlock, level: number, inherited: number): void => {
    dx.entries.forEach((e, i) => {
      const h = i ? e.hash : inherited;
      if (level === tree.levels) flat.push({ block: e.block, hash: h });
      else walk(tree.nodes.get(e.block)!, level + 1, h);
    });
  };
  walk(tree.root, 0, 0);
  return flat.map((l, i) => ({ block: l.block, min: (l.hash & ~1) >>> 0, max: i + 1 < flat.length ? (flat[i + 1]!.hash & ~1) >>> 0 : 0xfffffffe }));
}

/**
 * Check everything the kernel and e2fsck rely on; returns the leaves' entries in index order.
 */
function checkLayout(input: HtreeInput, layout: HtreeLayout, bytes: Uint8Array): LeafEntry[][] {
  const bs = input.blockSize;
  const csum = input.metadataCsum;
  expect(bytes.length).toBe(layout.blocks * bs);
  expect(htreeBlocks(input)).toBe(layout.blocks);
  const tree = readTree(bytes, bs, csum);
  expect(tree.hashVersion).toBe(input.hashVersion);
  expect(tree.levels).toBe(layout.indirectLevels);
  const hasher =
    input.hasher ?? createDirHasher(effectiveHashVersion(input.hashVersion, input.unsignedHash ? EXT2_FLAGS_UNSIGNED_HASH : 0), input.seed);
  const key = (n: string | Uint8Array): string => (typeof n === 'string' ? n : String.fromCharCode(...n));

  // Every block is used exactly once: root, nodes, leaves.
  const leaves = leavesInOrder(tree);
  const used = [0, ...tree.nodes.keys(), ...leaves.map((l) => l.block)].sort((a, b) => a - b);
  expect(used).toEqual(Array.from({ length: layout.blocks }, (_, i) => i));

  // Leaves: exact rec_len chains; hashes sorted and inside the index range (e2fsck pass2).
  const contents: LeafEntry[][] = [];
  const seen = new Map<string, number>();
  const names = new Map<number, Set<string>>();
  for (const leaf of leaves) {
    const es = readLeaf(bytes, bs, leaf.block, csum);
    let prev = 0;
    for (const e of es) {
      const h = hasher(e.name).hash;
      check(h >= prev, `leaf ${leaf.block}: hashes out of order`);
      check(h >= leaf.min && h <= leaf.max, `leaf ${leaf.block}: hash ${h.toString(16)} outside [${leaf.min.toString(16)}, ${leaf.max.toString(16)}]`);
      prev = h;
      check(!seen.has(e.name), `a name appears twice`);
      seen.set(e.name, leaf.block);
    }
    names.set(leaf.block, new Set(es.map((e) => e.name)));
    contents.push(es);
  }

  // Every entry is there with its inode and type, and the kernel's lookup finds it.
  expect(seen.size).toBe(input.entries.length);
  const byName = new Map(input.entries.map((e) => [key(e.name), e]));
  for (const es of contents) {
    for (const e of es) {
      const want = byName.get(e.name);
      check(want !== undefined, 'an entry that was not given');
      check(e.inode === want!.inode && e.fileType === want!.fileType, `inode/type of an entry`);
    }
  }
  for (const e of input.entries) {
    const name = key(e.name);
    const found = dxFind((b) => names.get(b)!, tree, name, hasher(e.name).hash);
    check(found === seen.get(name), `dx lookup finds ${JSON.stringify(name)} in block ${found}, it is in ${seen.get(name)}`);
  }

  // The checksum sites the writer will fill.
  const leafBlocks = leaves.map((l) => l.block).sort((a, b) => a - b);
  expect(leafBlocks).toEqual(Array.from({ length: layout.leafCount }, (_, i) => layout.leafFirst + i));
  expect(layout.dxBlocks.map((d) => d.block)).toEqual([0, ...tree.nodes.keys()]);
  for (const d of layout.dxBlocks) {
    const dx = d.block === 0 ? tree.root : tree.nodes.get(d.block)!;
    expect([d.count, d.limit, d.countOffset]).toEqual([dx.count, dx.limit, d.block === 0 ? 32 : 8]);
    // The dx_tail (csum) or the block end right after `limit` entries.
    expect(d.countOffset + d.limit * 8).toBe(csum ? bs - 8 : bs);
  }
  return contents;
}

// ---------------------------------------------------------------------------------------------

/**
 * Names of uniformly random length 1..255 (fast-check's default size would keep them short) with
 * any byte but NUL and '/'; directories of a uniformly random entry count.
 */
const nameBytes = fc
  .integer({ min: 1, max: 255 })
  .chain((len) => fc.uint8Array({ minLength: len, maxLength: len }))
  .map((a) => a.map((b) => (b === 0 ? 0x80 : b === 0x2f ? 0xaf : b)));
const uniqueNames = (min: number, max: number) =>
  fc
    .integer({ min, max })
    .chain((n) => fc.uniqueArray(nameBytes, { minLength: n, maxLength: n, selector: (a) => Buffer.from(a).toString('latin1') }));

function entriesOf(names: readonly Uint8Array[], asStrings = false): HtreeEntry[] {
  return names.map((n, i) => ({ name: asStrings ? String.fromCharCode(...n) : n, inode: 11 + i, fileType: i % 7 === 0 ? 2 : 1 }));
}

/** A name of `len` bytes (at least the `n<i>-` prefix). */
function longName(i: number, len: number): string {
  const s = `n${i}-`;
  return s + 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(8).slice(0, Math.max(0, len - s.length));
}

describe('htree layout invariants', () => {
  for (const bs of [1024, 2048, 4096, 65536]) {
    for (const csum of [false, true]) {
      it(`${bs}-byte blocks${csum ? ', metadata_csum' : ''}: random directories lay out as the kernel reads them`, () => {
        fc.assert(
          fc.property(
            uniqueNames(0, 600),
            fc.constantFrom(DX_HASH_LEGACY, DX_HASH_HALF_MD4, DX_HASH_TEA),
            fc.boolean(),
            fc.option(fc.uint8Array({ minLength: 16, maxLength: 16 })),
            fc.constantFrom(undefined, 0, 20, 50),
            fc.boolean(),
            (names, hashVersion, unsignedHash, seed, slackPercent, asStrings) => {
              const input: HtreeInput = {
                self: 5000,
                parent: 2,
                entries: entriesOf(names, asStrings),
                blockSize: bs,
                hashVersion,
                unsignedHash,
                metadataCsum: csum,
                ...(seed ? { seed } : {}),
                ...(slackPercent !== undefined ? { slackPercent } : {}),
              };
              const { layout, bytes } = buildHtree(input);
              checkLayout(input, layout, bytes);
            },
          ),
          { numRuns: 25 },
        );
      });

      if (bs === 65536) continue;
      it(`${bs}-byte blocks${csum ? ', metadata_csum' : ''}: two levels, limits from the kernel's dx_root_limit/dx_node_limit`, () => {
        const rootLimit = { 1024: 124, 2048: 252, 4096: 508 }[bs]! - (csum ? 1 : 0);
        const nodeLimit = { 1024: 127, 2048: 255, 4096: 511 }[bs]! - (csum ? 1 : 0);
        // slackPercent 100: one entry per leaf, so the leaf count is the entry count.
        const at = (n: number) => {
          const entries = Array.from({ length: n }, (_, i) => ({ name: `e${i}`, inode: 20 + i, fileType: 1 }));
          return { self: 12, parent: 2, entries, blockSize: bs, hashVersion: DX_HASH_HALF_MD4, unsignedHash: false, metadataCsum: csum, slackPercent: 100 };
        };
        const one = planHtree(at(rootLimit));
        expect([one.indirectLevels, one.leafCount, one.nodeCount, one.blocks]).toEqual([0, rootLimit, 0, rootLimit + 1]);
        const two = planHtree(at(rootLimit + 1));
        expect([two.indirectLevels, two.leafCount, two.nodeCount]).toEqual([1, rootLimit + 1, 1]);
        const { layout, bytes } = buildHtree(at(rootLimit + 1));
        checkLayout(at(rootLimit + 1), layout, bytes);
        if (bs === 1024) {
          // The largest two-level tree, and one leaf more is refused.
          const full = at(rootLimit * nodeLimit);
          const big = buildHtree(full);
          expect([big.layout.nodeCount, big.layout.blocks]).toEqual([rootLimit, 1 + rootLimit * nodeLimit + rootLimit]);
          checkLayout(full, big.layout, big.bytes);
          try {
            planHtree({ ...at(rootLimit * nodeLimit + 1), path: '/usr/share/huge' });
            expect.unreachable();
          } catch (e) {
            expect(isExtimgError(e) && e.code).toBe('ETOOBIG');
            expect((e as Error).message).toMatch(/^\/usr\/share\/huge: /);
            expect((e as Error).message).not.toMatch(/\n/);
          }
        }
      });
    }
  }

  it('two levels with default slack and long names at 1 KiB (thousands of entries)', () => {
    const entries = Array.from({ length: 3000 }, (_, i) => ({ name: longName(i, 200 + (i % 56)), inode: 100 + i, fileType: 1 }));
    for (const csum of [false, true]) {
      const input: HtreeInput = { self: 12, parent: 2, entries, blockSize: 1024, hashVersion: DX_HASH_TEA, unsignedHash: true, metadataCsum: csum };
      const { layout, bytes } = buildHtree(input);
      expect(layout.indirectLevels).toBe(1);
      checkLayout(input, layout, bytes);
    }
  });

  it('fills leaves as e2fsck does: a leaf closes when the next entry does not fit or less than the slack is left', () => {
    const names = Array.from({ length: 2000 }, (_, i) => longName(i, 5 + ((i * 37) % 120)));
    for (const slackPercent of [0, 20, 35]) {
      const input: HtreeInput = {
        self: 12,
        parent: 2,
        entries: names.map((name, i) => ({ name, inode: 20 + i, fileType: 1 })),
        blockSize: 4096,
        hashVersion: DX_HASH_HALF_MD4,
        unsignedHash: false,
        metadataCsum: false,
        slackPercent,
      };
      const { layout, bytes } = buildHtree(input);
      const leaves = checkLayout(input, layout, bytes);
      const slack = Math.max(Math.floor((4096 * slackPercent) / 100), 12);
      for (let l = 0; l + 1 < leaves.length; l++) {
        const used = leaves[l]!.reduce((s, e) => s + dirRecLen(e.name.length), 0);
        const next = dirRecLen(leaves[l + 1]![0]!.name.length);
        // Closed because the next entry did not fit, or because what was left fell under the slack.
        expect(4096 - used < next || 4096 - used < slack).toBe(true);
      }
    }
  });

  it('does not depend on the order of the entries, and hashes each name once', () => {
    const names = Array.from({ length: 500 }, (_, i) => `file-${i}.txt`);
    const mk = (ns: string[]): HtreeInput => ({
      self: 12,
      parent: 2,
      entries: ns.map((name) => ({ name, inode: 1000 + Number(name.slice(5, -4)), fileType: 1 })),
      blockSize: 1024,
      hashVersion: DX_HASH_HALF_MD4,
      unsignedHash: false,
      metadataCsum: true,
    });
    const a = buildHtree(mk(names)).bytes;
    const b = buildHtree(mk([...names].reverse())).bytes;
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    let calls = 0;
    const base = createDirHasher(DX_HASH_HALF_MD4);
    buildHtree({ ...mk(names), hasher: (n) => (calls++, base(n)) });
    expect(calls).toBe(names.length);
  });

  it('lays out 60,000 entries quickly', () => {
    const entries = Array.from({ length: 60000 }, (_, i) => ({ name: `lib-${i.toString(36)}-${(i * 7919).toString(16)}.so.1`, inode: 100 + i, fileType: 1 }));
    const t = performance.now();
    const { layout, bytes } = buildHtree({ self: 12, parent: 2, entries, blockSize: 4096, hashVersion: DX_HASH_HALF_MD4, unsignedHash: false, metadataCsum: true });
    const ms = performance.now() - t;
    expect(layout.indirectLevels).toBe(1);
    expect(bytes.length).toBe(layout.blocks * 4096);
    expect(ms).toBeLessThan(2000);
  });
});

describe('htree hash collisions (stubbed hash)', () => {
  /** A hash with few distinct values, so runs of equal hashes are long. */
  const stub = (buckets: number): DirHasher => {
    const real = createDirHasher(DX_HASH_HALF_MD4);
    return (n) => {
      const h = real(n);
      return { hash: ((h.hash % buckets) * 0x10000000) >>> 0, minorHash: h.minorHash };
    };
  };

  it('keeps a run whole when it fits a leaf, and marks continuation leaves with the low bit', () => {
    fc.assert(
      fc.property(uniqueNames(20, 300), fc.integer({ min: 1, max: 12 }), fc.constantFrom(1024, 4096), fc.boolean(), (names, buckets, bs, csum) => {
        const hasher = stub(buckets);
        const input: HtreeInput = { self: 12, parent: 2, entries: entriesOf(names), blockSize: bs, hashVersion: DX_HASH_HALF_MD4, unsignedHash: false, metadataCsum: csum, hasher };
        const { layout, bytes } = buildHtree(input);
        const leaves = checkLayout(input, layout, bytes);
        const tree = readTree(bytes, bs, csum);
        const order = leavesInOrder(tree);
        for (let l = 1; l < leaves.length; l++) {
          const first = hasher(leaves[l]![0]!.name).hash;
          const prevLeaf = leaves[l - 1]!;
          const last = hasher(prevLeaf[prevLeaf.length - 1]!.name).hash;
          // The index hash of leaf l: the collision bit exactly when it continues a run.
          const raw = layout.leafHash[l]!;
          expect(raw & 1).toBe(first === last ? 1 : 0);
          expect((raw & ~1) >>> 0).toBe(first);
          expect(order[l]!.min).toBe(first);
          // A run that continues here began at the start of the previous leaf (else it would have moved).
          if (first === last) expect(hasher(prevLeaf[0]!.name).hash).toBe(first);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('spreads a run longer than a leaf over several leaves and still finds every entry', () => {
    const same: DirHasher = (n) => ({ hash: typeof n === 'string' && n.startsWith('x') ? 0x40000000 : createDirHasher(DX_HASH_TEA)(n).hash, minorHash: 0 });
    const names = [...Array.from({ length: 60 }, (_, i) => longName(i, 200).replace(/^n/, 'x')), ...Array.from({ length: 200 }, (_, i) => `other-${i}`)];
    const input: HtreeInput = {
      self: 12,
      parent: 2,
      entries: names.map((name, i) => ({ name, inode: 30 + i, fileType: 1 })),
      blockSize: 1024,
      hashVersion: DX_HASH_TEA,
      unsignedHash: false,
      metadataCsum: false,
      hasher: same,
    };
    const { layout, bytes } = buildHtree(input);
    checkLayout(input, layout, bytes);
    const continued = Array.from(layout.leafHash).filter((h) => h === 0x40000001).length;
    expect(continued).toBeGreaterThanOrEqual(10);
  });
});

describe('needsIndex', () => {
  it('is false while ".", ".." and the entries fit one block (less the tail with csum)', () => {
    // 24 bytes for "." and ".."; names of 8 bytes take 16.
    const names = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `f${String(i).padStart(7, '0')}` }));
    expect(needsIndex(names(0), 1024, false)).toBe(false);
    expect(needsIndex(names(62), 1024, false)).toBe(false); // 24 + 62 * 16 = 1016
    expect(needsIndex([...names(62), { name: 'abcd' }], 1024, false)).toBe(true); // + 12 = 1028
    expect(needsIndex([...names(62)], 1024, true)).toBe(true); // 1016 > 1012
    expect(needsIndex([...names(61), { name: 'abcd' }], 1024, true)).toBe(false); // 1012
    const big = [{ name: new Uint8Array(255) }, { name: new Uint8Array(255) }, { name: new Uint8Array(255) }]; // 24 + 3 * 264 = 816
    expect(needsIndex([...big, { name: 'y'.repeat(200) }], 1024, false)).toBe(false); // + 208 = 1024
    expect(needsIndex([...big, { name: 'y'.repeat(201) }], 1024, false)).toBe(true); // + 212 = 1028
  });
});


// ---------------------------------------------------------------------------------------------
// The oracle: e2fsprogs reads our blocks in a real filesystem.
//
// mke2fs -d writes directory d linearly; we make it exactly as many blocks as our layout
// (debugfs expand_dir / punch), write our encoded blocks over its blocks, set i_size and
// EXT4_INDEX_FL with debugfs set_inode_field, then `e2fsck -fn` must pass and `debugfs
// htree_dump` must list every name with the hash e2fsprogs computes. With metadata_csum the test
// fills the checksums itself (crc32c as ext2fs_dirent_csum / ext2fs_dx_csum) and e2fsck verifies
// them. Separately, `e2fsck -fyD` rebuilds the same directory on a copy of the image, and its
// blocks must equal ours byte for byte (when no hash run straddles leaves, where we differ on
// purpose).

const ORACLE = 'htree against e2fsck/debugfs';
const oracleNotReady = missingTools(['mke2fs', 'e2fsck', 'debugfs', 'dumpe2fs']);
let work = '';
beforeAll(() => {
  if (!oracleNotReady) work = mkdtempSync(join(tmpdir(), 'extimg-htree-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();
function crc32c(crc: number, data: Uint8Array): number {
  let c = crc >>> 0;
  for (const b of data) c = (CRC32C_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8)) >>> 0;
  return c;
}
const le32 = (v: number) => Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);

function run(cmd: string, args: string[], okCodes = [0]): string {
  const r = spawnSync(cmd, args, { maxBuffer: 1 << 28, env: { ...process.env, DEBUGFS_PAGER: '__none__', PAGER: '__none__' } });
  if (r.error || !okCodes.includes(r.status ?? -1)) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr?.toString('latin1')}${r.stdout?.toString('latin1').slice(-2000)}`);
  }
  return r.stdout.toString('latin1');
}
const debugfs = (img: string, cmds: string[], write = false): string => {
  const file = join(work, 'cmds');
  writeFileSync(file, Buffer.from(cmds.join('\n') + '\n', 'latin1'));
  return run('debugfs', [...(write ? ['-w'] : []), '-f', file, img]);
};

interface OracleCase {
  label: string;
  blockSize: number;
  mkfs: string[];
  names: () => Uint8Array[];
  hashAlg?: 'legacy' | 'half_md4' | 'tea';
  unsigned?: boolean;
  expectLevels: number;
  /** Compare with e2fsck -D's rebuild byte for byte. */
  compareRehash: boolean;
  /** The names must make a hash run continue across leaves (collision bit in the index). */
  expectContinuation?: boolean;
}

function uuidBytes(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s.replace(/-/g, ''), 'hex'));
}

/** Physical blocks of /d by logical block (`blocks` would also list ext2's indirect blocks). */
function dirBlocks(img: string, blockSize: number): number[] {
  const size = Number(/Size: (\d+)/.exec(debugfs(img, ['stat /d']))![1]);
  const n = size / blockSize;
  const out = debugfs(img, Array.from({ length: n }, (_, i) => `bmap /d ${i}`));
  const phys = out.split('\n').filter((l) => /^\d+$/.test(l)).map(Number);
  expect(phys.length).toBe(n);
  return phys;
}

function oracle(c: OracleCase): void {
  const names = c.names();
  const dir = mkdtempSync(join(work, 'case-'));
  const host = join(dir, 'host');
  mkdirSync(join(host, 'd'), { recursive: true });
  for (const n of names) writeFileSync(Buffer.concat([Buffer.from(join(host, 'd') + '/'), n]), '');
  mkdirSync(join(host, 'd', 'sub1'));
  mkdirSync(join(host, 'd', 'sub2'));
  const img = join(dir, 'img');
  const sizeKiB = 16384 + Math.ceil((names.length * 1200) / 1024);
  run('mke2fs', ['-q', '-F', '-b', String(c.blockSize), '-N', String(names.length + 200), ...c.mkfs, '-d', host, img, `${sizeKiB}k`]);
  const setup: string[] = [];
  if (c.hashAlg) setup.push(`ssv def_hash_version ${c.hashAlg}`);
  if (c.unsigned !== undefined) setup.push(`ssv flags ${c.unsigned ? 2 : 1}`);
  if (setup.length) debugfs(img, setup, true);

  const sb = dumpe2fs(img);
  const f = sb.fields;
  const hashVersion = { legacy: 0, half_md4: 1, tea: 2 }[f.get('Default directory hash')!]!;
  const unsignedHash = /unsigned_directory_hash/.test(f.get('Filesystem flags') ?? '');
  const seed = uuidBytes(f.get('Directory Hash Seed')!);
  const csum = sb.features.includes('metadata_csum');

  // The entries as the filesystem numbered them.
  const ls = debugfs(img, ['ls -p /d']);
  const entries: HtreeEntry[] = [];
  let self = 0;
  let parent = 0;
  for (const line of ls.split('\n')) {
    const m = /^\/(\d+)\/(\d+)\/\d+\/\d+\/(.*)\/\d*\/$/.exec(line);
    if (!m) continue;
    const [ino, mode, name] = [Number(m[1]), parseInt(m[2]!, 8), m[3]!];
    if (name === '.') self = ino;
    else if (name === '..') parent = ino;
    else entries.push({ name, inode: ino, fileType: (mode & 0o170000) === 0o040000 ? 2 : 1 });
  }
  expect(entries.length).toBe(names.length + 2);
  const input: HtreeInput = { self, parent, entries, blockSize: c.blockSize, hashVersion, unsignedHash, seed, metadataCsum: csum };
  const { layout, bytes } = buildHtree(input);
  expect(layout.indirectLevels, `${c.label}: levels`).toBe(c.expectLevels);
  checkLayout(input, layout, bytes);
  if (c.expectContinuation) expect(Array.from(layout.leafHash).filter((h) => h & 1).length, 'continuation leaves').toBeGreaterThanOrEqual(3);
  const K = layout.blocks;

  // e2fsck -D's own rebuild, from the untouched linear directory.
  let rehashed: Buffer | undefined;
  if (c.compareRehash) {
    const copy = join(dir, 'rehash.img');
    copyFileSync(img, copy);
    run('e2fsck', ['-fyD', copy], [0, 1]);
    const blocks = dirBlocks(copy, c.blockSize);
    const image = readFileSync(copy);
    rehashed = Buffer.concat(blocks.map((b) => image.subarray(b * c.blockSize, (b + 1) * c.blockSize)));
  }

  // Make d exactly K blocks long.
  const have = dirBlocks(img, c.blockSize).length;
  if (have < K) debugfs(img, Array.from({ length: K - have }, () => 'expand_dir /d'), true);
  else if (have > K) debugfs(img, [`punch /d ${K}`], true);
  const phys = dirBlocks(img, c.blockSize);
  expect(phys.length).toBe(K);
  const stat = debugfs(img, ['stat /d']);
  const flags = parseInt(/Flags: (0x[0-9a-f]+)/.exec(stat)![1]!, 16);
  const generation = Number(/Generation: (\d+)/.exec(stat)![1]);

  if (csum) {
    const fsSeed = sb.features.includes('metadata_csum_seed') ? parseInt(f.get('Checksum seed')!, 16) : crc32c(0xffffffff, uuidBytes(sb.uuid));
    const inodeSeed = crc32c(crc32c(fsSeed, le32(self)), le32(generation));
    const bs = c.blockSize;
    const dv = new DataView(bytes.buffer);
    for (let b = layout.leafFirst; b < layout.leafFirst + layout.leafCount; b++) {
      dv.setUint32(b * bs + bs - 4, crc32c(inodeSeed, bytes.subarray(b * bs, b * bs + bs - 12)), true);
    }
    for (const d of layout.dxBlocks) {
      const at = d.block * bs;
      const cover = crc32c(inodeSeed, bytes.subarray(at, at + d.countOffset + d.count * 8));
      dv.setUint32(at + bs - 4, crc32c(cover, bytes.subarray(at + bs - 8, at + bs)), true);
    }
  }
  if (rehashed) {
    const ours = Buffer.from(bytes);
    let at = 0;
    while (at < ours.length && ours[at] === rehashed[at]) at++;
    const where = `block ${Math.floor(at / c.blockSize)} +${at % c.blockSize} of ${K} (e2fsck -D wrote ${rehashed.length / c.blockSize})`;
    expect(ours.equals(rehashed), `${c.label}: same bytes as e2fsck -D; first difference at ${where}`).toBe(true);
  }

  const fd = openSync(img, 'r+');
  try {
    phys.forEach((p, i) => writeSync(fd, bytes, i * c.blockSize, c.blockSize, p * c.blockSize));
  } finally {
    closeSync(fd);
  }
  debugfs(img, [`sif /d size ${K * c.blockSize}`, `sif /d flags 0x${(flags | EXT4_INDEX_FL).toString(16)}`], true);

  expectClean(img, c.label);
  const dump = debugfs(img, ['htree_dump /d']);
  expect(dump).toContain(`Indirect levels: ${c.expectLevels}`);
  expect(dump).not.toContain('EXPECTED'); // dx checksums as debugfs computes them
  const listed = new Map<string, number>();
  for (const m of dump.matchAll(/(\d+) 0x([0-9a-f]{8})-[0-9a-f]{8} \((\d+)\) (\S+) {3}/g)) listed.set(m[4]!, parseInt(m[2]!, 16));
  const hasher = createDirHasher(effectiveHashVersion(hashVersion, unsignedHash ? EXT2_FLAGS_UNSIGNED_HASH : 0), seed);
  expect(listed.size).toBe(entries.length);
  for (const e of entries) {
    const name = e.name as string;
    expect(listed.has(name), `htree_dump lists ${Buffer.from(name, 'latin1').toString('hex')}`).toBe(true);
    expect(listed.get(name)).toBe(hasher(name).hash);
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Names with high-bit bytes and no whitespace or '/', so htree_dump's lines parse. */
function oracleNames(n: number, minLen: number, maxLen: number, seed: number): Uint8Array[] {
  const ok: number[] = [];
  for (let b = 0x21; b < 0x100; b++) if (b !== 0x2f && b !== 0x7f && b !== 0xa0) ok.push(b);
  const arb = fc
    .integer({ min: Math.max(0, minLen - 6), max: maxLen - 6 })
    .chain((len) => fc.uint8Array({ minLength: len, maxLength: len }))
    .map((a) => a.map((x) => ok[x % ok.length]!));
  return fc.sample(arb, { numRuns: n, seed }).map((a, i) => Uint8Array.from([...Buffer.from(`${i.toString(36).padStart(4, '0')}--`), ...a]));
}

/**
 * 16 names of 250 bytes whose signed legacy hash is the same (0x2468ace0): a 245-byte prefix,
 * then 5 bytes found by inverting dx_hack_hash's last step. Four of them overflow a 1 KiB leaf.
 */
const COLLIDING = ['02ae8050a6', '04e8b857e1', '05853d28f0', '05ed2bad54', '0658d842e5', '06a8873a1c', '06e4958928', '08eeca7123', '0ebc010622', '0f5697cf25', '1044606a83', '10af883ae7', '114774ab12', '1382fd4708', '13946e7240', '140fa48afd'].map(
  (h) => Uint8Array.from(Buffer.concat([Buffer.from('collide-' + 'x'.repeat(237)), Buffer.from(h, 'hex')])),
);

describe('htree oracle: e2fsck -fn accepts our blocks in a real filesystem', () => {
  const cases: OracleCase[] = [
    { label: '1 KiB ext2, half_md4 signed, one level', blockSize: 1024, mkfs: ['-t', 'ext2', '-O', 'dir_index'], names: () => oracleNames(300, 8, 40, 1), expectLevels: 0, compareRehash: true },
    { label: '1 KiB ext2, tea unsigned, two levels', blockSize: 1024, mkfs: ['-t', 'ext2', '-O', 'dir_index'], names: () => oracleNames(2200, 150, 255, 2), hashAlg: 'tea', unsigned: true, expectLevels: 1, compareRehash: true },
    { label: '2 KiB ext2, legacy unsigned, one level', blockSize: 2048, mkfs: ['-t', 'ext2', '-O', 'dir_index'], names: () => oracleNames(1500, 4, 60, 3), hashAlg: 'legacy', unsigned: true, expectLevels: 0, compareRehash: true },
    { label: '4 KiB ext4 metadata_csum, half_md4 unsigned, one level', blockSize: 4096, mkfs: ['-t', 'ext4', '-O', 'metadata_csum,dir_index'], names: () => oracleNames(3000, 10, 120, 4), unsigned: true, expectLevels: 0, compareRehash: true },
    { label: '1 KiB ext4 metadata_csum, tea signed, two levels', blockSize: 1024, mkfs: ['-t', 'ext4', '-O', 'metadata_csum,dir_index'], names: () => oracleNames(2200, 150, 255, 5), hashAlg: 'tea', unsigned: false, expectLevels: 1, compareRehash: true },
    { label: '1 KiB ext4 metadata_csum_seed, legacy signed, colliding names straddling leaves', blockSize: 1024, mkfs: ['-t', 'ext4', '-O', 'metadata_csum,metadata_csum_seed,dir_index'], names: () => [...COLLIDING, ...oracleNames(200, 8, 40, 6)], hashAlg: 'legacy', unsigned: false, expectLevels: 0, compareRehash: false, expectContinuation: true },
  ];
  for (const c of cases) {
    it(c.label, () => {
      if (!judgeAvailable(oracleNotReady, ORACLE)) return;
      oracle(c);
    });
  }

  it('the crafted names really collide, as debugfs computes it', () => {
    if (!judgeAvailable(oracleNotReady, ORACLE)) return;
    const hasher = createDirHasher(DX_HASH_LEGACY);
    for (const n of COLLIDING) expect(hasher(n).hash).toBe(0x2468ace0);
    const img = join(work, 'empty.img');
    run('mke2fs', ['-q', '-F', img, '256']);
    const quoted = (n: Uint8Array) => `"${Buffer.from(n).toString('latin1').replace(/"/g, '""')}"`;
    const out = debugfs(img, COLLIDING.map((n) => `dx_hash -h legacy -- ${quoted(n)}`));
    expect(out.match(/is 0x2468ace0 \(minor 0x0\)/g)?.length).toBe(COLLIDING.length);
  });
});
