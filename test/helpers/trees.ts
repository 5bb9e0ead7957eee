import { BytesContent } from '../../src/tree/content.js';
import { bytesToKey, utf8 } from '../../src/tree/names.js';
import type { Timestamp } from '../../src/tree/node.js';
import { Tree } from '../../src/tree/tree.js';
import { denseBytes, Rng, SparseContent, type Segment } from './content.js';

export interface AwkwardOptions {
  blockSize: 1024 | 2048 | 4096;
  /** 256 (default) adds timestamps beyond 2038 and before 1901-12-13 that only the extra fields hold. */
  inodeSize?: 128 | 256;
  /** Entries in /bigdir (default 5000; 0 leaves it out). */
  bigDir?: number;
  /** Depth of /deep (default 40; 0 leaves it out). */
  deep?: number;
  /**
   * Files at and past the triple-indirect boundary ((12+apb+apb²) blocks: 67 MiB at 1 KiB blocks,
   * 538 MiB at 2 KiB, 4.3 GiB at 4 KiB; all sparse). 'auto' (default): only up to 1 GiB logical.
   */
  tripleIndirect?: boolean | 'auto';
  /** Files on block-map boundaries in /sizes (default true; up to ~13 MB of data at 4 KiB). */
  sizes?: boolean;
  /** Bytes of extra dense data in /fill (to make data span block groups). Default 0. */
  fill?: number;
  /** Default 1. */
  seed?: number;
}

/** The tree's default time, also the root's. */
export const T0: Timestamp = { sec: 1_600_000_000, nsec: 0 };

function bytesKey(...parts: Array<string | number[] | Uint8Array>): Uint8Array {
  const chunks = parts.map((p) => (typeof p === 'string' ? utf8(p) : Uint8Array.from(p)));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** Logical sizes in blocks where the block map changes level, for a block size. */
export function mapBoundaries(blockSize: number): { apb: number; ind: number; dind: number; tind: number } {
  const apb = blockSize / 4;
  return { apb, ind: 12, dind: 12 + apb, tind: 12 + apb + apb * apb };
}

/** Dense bytes for small files; a sparse file with data around its edges for big ones. */
function boundaryContent(seed: number, size: number, bs: number): BytesContent | SparseContent {
  if (size <= 8 * 1024 * 1024) return new BytesContent(denseBytes(seed, size));
  const rng = new Rng(seed);
  const segs: Segment[] = [{ offset: 0, bytes: rng.nonZeroBytes(bs + 7) }];
  const tailLen = Math.min(size - (bs + 7), bs + 3);
  segs.push({ offset: size - tailLen, bytes: rng.nonZeroBytes(tailLen) });
  return new SparseContent(size, segs);
}

/**
 * A tree with every node kind and the awkward cases an ext writer gets wrong: odd names, deep
 * paths, block-map boundaries, holes, a big directory, hard links, fast and slow symlinks,
 * devices with large numbers, special modes, 32-bit ids and extreme timestamps.
 */
export function awkwardTree(opts: AwkwardOptions): Tree {
  const bs = opts.blockSize;
  const inodeSize = opts.inodeSize ?? 256;
  const seed = opts.seed ?? 1;
  const rng = new Rng(seed);
  let nextSeed = seed * 1000;
  const t = new Tree({ time: T0 });
  const { apb, dind, tind } = mapBoundaries(bs);

  // ---- names ------------------------------------------------------------------------------
  t.mkdir('names', { mtime: { sec: 1_600_000_100, nsec: 0 } });
  const names: Uint8Array[] = [
    utf8('café'), // NFC
    utf8('cafe\u0301'), // NFD: different bytes, same look
    utf8('日本語'),
    utf8('🦊 fox'),
    utf8('a'.repeat(255)),
    utf8('日'.repeat(85)), // 255 bytes of 3-byte characters
    Uint8Array.from([0xff, 0xfe, 0x80, 0x41]), // not UTF-8
    Uint8Array.from([0x63, 0x61, 0x66, 0xe9]), // latin1 "café"
    Uint8Array.from(Array.from({ length: 255 }, (_, i) => (i % 2 ? 0xc3 : 0x28))), // 255 invalid bytes
    utf8('new\nline'),
    utf8('tab\there'),
    utf8(' leading and trailing space '),
    utf8('quote"s\'and`back`'),
    utf8('back\\slash'),
    utf8('-dash'),
    utf8('.hidden'),
    utf8('...'),
    utf8('x'),
    utf8('<2>'),
    utf8('debugfs: ls -p <2>'),
    Uint8Array.from([0x01, 0x1b, 0x7f]),
  ];
  for (const [i, n] of names.entries()) {
    t.writeFile(bytesKey('names/', n), new BytesContent(bytesKey('content of ', n)), { mtime: { sec: 1_600_000_000 + i, nsec: 0 } });
  }
  t.mkdir(bytesKey('names/', utf8('dir ñ 日本')), {});
  t.writeFile(bytesKey('names/', utf8('dir ñ 日本'), '/', [0xfe, 0xff]), 'inner');

  // ---- deep path ----------------------------------------------------------------------------
  const depth = opts.deep ?? 40;
  if (depth > 0) {
    const parts: string[] = [];
    for (let i = 0; i < depth; i++) parts.push(`d${String(i).padStart(2, '0')}`);
    t.mkdir(`deep/${parts.join('/')}`);
    t.writeFile(`deep/${parts.join('/')}/bottom.txt`, 'at the bottom\n');
    t.symlink(`deep/${parts.slice(0, 20).join('/')}/up`, '../'.repeat(20));
  }

  // ---- sizes on block-map boundaries ---------------------------------------------------------
  t.mkdir('sizes');
  const sizeList: Array<[string, number]> = [
    ['0', 0],
    ['1', 1],
    ['bs-1', bs - 1],
    ['bs', bs],
    ['bs+1', bs + 1],
    ['12bs', 12 * bs],
    ['12bs+1', 12 * bs + 1],
    ['dind-1', (dind - 1) * bs],
    ['dind', dind * bs],
    ['dind+1', dind * bs + 1],
    ['dind+apb', (dind + apb) * bs],
    ['dind+apb+1', (dind + apb) * bs + 1],
  ];
  const tindMode = opts.tripleIndirect ?? 'auto';
  const wantTind = tindMode === true || (tindMode === 'auto' && tind * bs <= 1024 ** 3);
  if (wantTind) {
    sizeList.push(['tind', tind * bs], ['tind+1', tind * bs + 1]);
  }
  for (const [name, size] of opts.sizes === false ? sizeList.slice(0, 7) : sizeList) {
    t.writeFile(`sizes/${name}`, boundaryContent(nextSeed++, size, bs));
  }

  // ---- holes ------------------------------------------------------------------------------
  t.mkdir('holes');
  {
    const size = 20 * bs + 100;
    const bytes = new Uint8Array(size);
    const ranges = [
      { offset: 0, length: Math.floor(1.5 * bs) },
      { offset: 10 * bs + 7, length: 3 },
      { offset: 20 * bs + 50, length: 50 },
    ];
    for (const r of ranges) bytes.set(denseBytes(nextSeed++, r.length), r.offset);
    t.writeFile('holes/start-middle-end', new BytesContent(bytes, ranges));
  }
  t.writeFile('holes/hole-first', new SparseContent(5 * bs, [{ offset: 5 * bs - 10, bytes: denseBytes(nextSeed++, 10) }]));
  t.writeFile('holes/all-hole', new SparseContent(1024 * 1024 + 3, []));
  t.writeFile('holes/ind-only', new SparseContent((dind - 1) * bs + 9, [{ offset: (dind - 2) * bs + 100, bytes: denseBytes(nextSeed++, 20) }]));
  t.writeFile(
    'holes/dind-sparse',
    new SparseContent((dind + 3 * apb) * bs, [
      { offset: dind * bs, bytes: denseBytes(nextSeed++, 1) },
      { offset: (dind + 2 * apb + 5) * bs, bytes: denseBytes(nextSeed++, bs) },
      { offset: (dind + 3 * apb) * bs - 1, bytes: denseBytes(nextSeed++, 1) },
    ]),
  );
  if (wantTind) {
    t.writeFile('holes/tind-tail', new SparseContent(tind * bs + 5, [{ offset: tind * bs, bytes: denseBytes(nextSeed++, 5) }]));
    t.writeFile(
      'holes/tind-scattered',
      new SparseContent((tind + 2 * apb * apb + 3) * bs, [
        { offset: 3 * bs, bytes: denseBytes(nextSeed++, 2 * bs) },
        { offset: (tind + apb + 1) * bs - 2, bytes: denseBytes(nextSeed++, 4) },
        { offset: (tind + 2 * apb * apb + 2) * bs, bytes: denseBytes(nextSeed++, bs) },
      ]),
    );
  }
  {
    // Unaligned ranges that share blocks, and a range that ends exactly on a block boundary.
    const size = 8 * bs;
    const bytes = new Uint8Array(size);
    const ranges = [
      { offset: 10, length: 5 },
      { offset: 20, length: 5 },
      { offset: 3 * bs - 1, length: 2 },
      { offset: 6 * bs, length: bs },
    ];
    for (const r of ranges) bytes.set(denseBytes(nextSeed++, r.length), r.offset);
    t.writeFile('holes/unaligned', new BytesContent(bytes, ranges));
  }

  // ---- hard links ---------------------------------------------------------------------------
  t.writeFile('links/a/one', new BytesContent(denseBytes(nextSeed++, 3 * bs + 17)), { mode: 0o640, uid: 1234, gid: 5678 });
  t.link('links/a/one', 'links/b/two');
  t.link('links/a/one', 'links/c/deeper/three');
  t.symlink('links/sym1', 'one/two/three');
  t.link('links/sym1', 'links/b/sym2');
  t.mknod('links/fifo1', 'fifo', 0, 0, { mode: 0o600 });
  t.link('links/fifo1', 'links/c/fifo2');
  t.mknod('links/dev1', 'chr', 10, 200);
  t.link('links/dev1', 'links/dev2');
  t.writeFile('links/empty1', '');
  t.link('links/empty1', 'links/a/empty2');

  // ---- symlinks ------------------------------------------------------------------------------
  t.mkdir('symlinks');
  const maxTarget = Math.min(bs - 1, 4095);
  const symlinks: Array<[string, Uint8Array]> = [
    ['short', utf8('target')],
    ['len1', utf8('x')],
    ['len59', utf8('f'.repeat(59))],
    ['len60', utf8('s'.repeat(60))],
    ['len61', utf8('s'.repeat(61))],
    ['slow200', utf8(`${'dir/'.repeat(49)}file`)],
    ['max', utf8('m'.repeat(maxTarget))],
    ['absolute', utf8('/etc/passwd')],
    ['dot', utf8('.')],
    ['dotdot', utf8('..')],
    ['utf8', utf8('日本語/café')],
    ['raw', Uint8Array.from([0x2e, 0x2f, 0xff, 0xfe])],
    ['newline', utf8('a\nb')],
    ['quote', utf8('say "hi"')],
    ['slow-raw', Uint8Array.from(Array.from({ length: 100 }, (_, i) => 0x80 + (i % 127)))],
  ];
  for (const [name, target] of symlinks) t.symlink(`symlinks/${name}`, target);
  t.symlink('symlinks/owned', 'target', { uid: 100000, gid: 4294967294, mtime: { sec: 1_500_000_000, nsec: 5 } });

  // ---- devices and specials -------------------------------------------------------------------
  t.mknod('dev/null', 'chr', 1, 3, { mode: 0o666 });
  t.mknod('dev/nvme', 'chr', 259, 70000);
  t.mknod('dev/maxblk', 'blk', 4095, 1048575, { mode: 0o660, gid: 6 });
  t.mknod('dev/sda1', 'blk', 8, 1, { mode: 0o660, gid: 6 });
  t.mknod('dev/zero0', 'chr', 0, 0);
  t.mknod('dev/old255', 'chr', 255, 255);
  t.mknod('dev/new256', 'chr', 256, 0);
  t.mknod('dev/minor256', 'blk', 1, 256);
  t.mknod('dev/fifo', 'fifo', 0, 0, { mode: 0o620 });
  t.mknod('dev/socket', 'socket', 0, 0, { mode: 0o777 });

  // ---- modes and owners -----------------------------------------------------------------------
  t.mkdir('modes');
  t.writeFile('modes/setuid', '#!/bin/sh\n', { mode: 0o4755 });
  t.writeFile('modes/setgid', '#!/bin/sh\n', { mode: 0o2755 });
  t.writeFile('modes/setuid-noexec', 'x', { mode: 0o4644 });
  t.writeFile('modes/all', 'x', { mode: 0o7777 });
  t.writeFile('modes/none', 'x', { mode: 0o000 });
  t.mkdir('modes/sticky', { mode: 0o1777 });
  t.mkdir('modes/setgid-dir', { mode: 0o2775 });
  t.mkdir('modes/none-dir', { mode: 0o000 });
  t.mknod('modes/chr-setuid', 'chr', 1, 5, { mode: 0o4666 });
  t.mkdir('owners');
  t.writeFile('owners/u100000', 'x', { uid: 100000, gid: 100000 });
  t.writeFile('owners/max', 'x', { uid: 4294967294, gid: 4294967294 });
  t.writeFile('owners/u65535', 'x', { uid: 65535, gid: 65535 });
  t.writeFile('owners/u65536', 'x', { uid: 65536, gid: 65536 });
  t.writeFile('owners/mixed', 'x', { uid: 1000, gid: 70000 });
  t.mkdir('owners/dir100000', { uid: 100000, gid: 200000 });
  t.mknod('owners/dev', 'blk', 7, 0, { uid: 4294967294, gid: 0 });

  // ---- times ------------------------------------------------------------------------------
  t.mkdir('times', { mtime: { sec: 1_000_000_000, nsec: 0 } });
  const times: Array<[string, Timestamp]> = [
    ['epoch', { sec: 0, nsec: 0 }],
    ['max32', { sec: 2 ** 31 - 1, nsec: 0 }],
    ['nsec', { sec: 1_234_567_890, nsec: 123_456_789 }],
    ['nsec-max', { sec: 1_700_000_000, nsec: 999_999_999 }],
    ['nsec-1', { sec: 1_700_000_000, nsec: 1 }],
    ['before-epoch', { sec: -1, nsec: 500_000_000 }],
    ['min32', { sec: -(2 ** 31), nsec: 0 }],
  ];
  if (inodeSize === 256) {
    times.push(['y2038+1', { sec: 2 ** 31, nsec: 0 }], ['y2106', { sec: 2 ** 32 + 100, nsec: 7 }], ['y2446', { sec: 2 ** 34 - 2 ** 31 - 1, nsec: 999_999_999 }]);
  }
  for (const [name, mtime] of times) t.writeFile(`times/${name}`, name, { mtime });
  t.mkdir('times/dir-epoch', { mtime: { sec: 0, nsec: 0 } });
  t.mkdir('times/dir-nsec', { mtime: { sec: 1_111_111_111, nsec: 222_222_222 } });
  t.symlink('times/link-nsec', 'nsec', { mtime: { sec: 1_222_222_222, nsec: 333_333_333 } });
  t.mknod('times/fifo-old', 'fifo', 0, 0, { mtime: { sec: 86400, nsec: 1 } });

  // ---- empty things ---------------------------------------------------------------------------
  t.mkdir('empty/dir');
  t.writeFile('empty/file', new Uint8Array(0));
  t.writeFile('empty/zeros', new Uint8Array(3 * bs + 1)); // all zero but declared data: gets blocks

  // ---- a big directory ---------------------------------------------------------------------------
  const big = opts.bigDir ?? 5000;
  if (big > 0) {
    t.mkdir('bigdir', { mtime: { sec: 1_650_000_000, nsec: 0 } });
    for (let i = 0; i < big; i++) {
      const name = `f${String(i).padStart(5, '0')}${'x'.repeat(i % 37)}`;
      if (i % 500 === 7) t.mkdir(`bigdir/${name}`);
      else if (i % 250 === 3) t.symlink(`bigdir/${name}`, `target-${i}`);
      else if (i % 97 === 0) t.writeFile(`bigdir/${name}`, new BytesContent(denseBytes(nextSeed++, 1 + rng.int(3 * bs))));
      else t.writeFile(`bigdir/${name}`, new Uint8Array(0));
    }
    // a name near the 255 limit among many short ones
    t.writeFile(`bigdir/${'L'.repeat(250)}`, 'long');
  }

  // ---- fill --------------------------------------------------------------------------------
  if (opts.fill && opts.fill > 0) {
    t.writeFile('fill/data', new BytesContent(denseBytes(nextSeed++, opts.fill)));
  }

  // Directory times last, so nothing created below them moved them (the tree does not, but be explicit).
  t.setTimes('', { mtime: T0 });
  return t;
}

/** The byte-string path of a name under a directory, for lookups in manifests. */
export function keyOf(...parts: Array<string | Uint8Array>): string {
  return parts.map((p) => (typeof p === 'string' ? bytesToKey(utf8(p)) : bytesToKey(p))).join('/');
}
