/**
 * Large archives compressed in parts (src/compress/encode-parts.ts, src/initrd/compress.ts):
 * cut only between cpio entries, each part a whole gzip member / zstd frame / bzip2 stream or
 * an xz block; the reference decompressors (what lsinitramfs runs) give the archive back whole
 * and GNU cpio lists every entry; our scanner reads the parts as one segment; the bytes do not
 * depend on how many worker threads encoded them. (The kernel unpacking such initrds is
 * test/initrd-boot.test.ts: Debian's 52 MB initrd is cut into parts in every codec that splits.)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { encode, zstdEncoder } from '../src/compress/encode.js';
import { cutPoints, encodeParts, splits } from '../src/compress/encode-parts.js';
import { writeNewc, type NewcInput } from '../src/ingest/cpio.js';
import { compressArchive, entryStarts } from '../src/initrd/compress.js';
import { scanSegments } from '../src/initrd/segments.js';
import { ROOT } from './boot/env.js';
import { hasTool } from './helpers/e2fsck.js';
import { requireJudge } from './helpers/env.js';

const work = mkdtempSync(join(tmpdir(), 'extimg-parts-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** An archive of `n` files of varied, partly compressible content. */
function archive(n: number, seed = 1): Uint8Array {
  const entries: NewcInput[] = [{ name: '.', mode: 0o40755, ino: 1, nlink: 2 }];
  let x = seed;
  for (let i = 0; i < n; i++) {
    const size = 1000 + ((i * 7919) % 30_000);
    const data = new Uint8Array(size);
    for (let j = 0; j < size; j++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      data[j] = j % 3 === 0 ? x >>> 24 : (i + j) & 0x3f;
    }
    entries.push({ name: `f${String(i).padStart(5, '0')}`, mode: 0o100644, ino: i + 2, nlink: 1, data });
  }
  return writeNewc(entries);
}

const DECODE: Record<'gzip' | 'zstd' | 'bzip2' | 'xz', string[]> = {
  gzip: ['gzip', '-dc'],
  zstd: ['zstd', '-dcq'],
  bzip2: ['bzip2', '-dc'],
  xz: ['xz', '-dc'],
};
const CODECS = Object.keys(DECODE) as (keyof typeof DECODE)[];
const PART = 256 << 10;

describe('compressing an archive in parts', () => {
  const cpio = archive(120);
  const starts = entryStarts(cpio);

  it('cut points fall on entry starts, parts hold at least the part size, the tail at least half', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 9999 }), { maxLength: 60 }), fc.integer({ min: 1, max: 4000 }), (raw, part) => {
        const length = 10_000;
        const bounds = [...raw].sort((a, b) => a - b);
        const cuts = cutPoints(length, bounds, part);
        expect(cuts[0]).toBe(0);
        expect(cuts[cuts.length - 1]).toBe(length);
        for (let i = 1; i < cuts.length - 1; i++) {
          expect(bounds).toContain(cuts[i]);
          expect(cuts[i]! - cuts[i - 1]!).toBeGreaterThanOrEqual(part);
        }
        if (cuts.length > 2) expect(length - cuts[cuts.length - 2]!).toBeGreaterThanOrEqual(part / 2);
      }),
      { numRuns: 200 },
    );
    expect(starts.length).toBe(121); // every entry after the root, and the trailer
    // --single-stream: parts of unbounded size, so no cut.
    expect(cutPoints(cpio.length, starts, Infinity)).toEqual([0, cpio.length]);
  });

  for (const codec of CODECS) {
    it(`${codec}: parts are whole streams (or xz blocks); ${DECODE[codec][0]} -d and GNU cpio read one archive; one segment for us`, async (ctx) => {
      // zstd through node:zlib (Node >= 22.15) is one multi-threaded frame, not parts.
      const parted = codec !== 'zstd' || zstdEncoder() === 'wasm';
      expect(splits(codec)).toBe(parted);
      const cuts = parted ? cutPoints(cpio.length, starts, PART) : [0, cpio.length];
      if (parted) expect(cuts.length).toBeGreaterThan(4);
      const out = await compressArchive(cpio, codec, undefined, { partBytes: PART });
      if (codec !== 'xz') {
        // Exactly the concatenation of each part encoded on its own.
        const each = await Promise.all(cuts.slice(0, -1).map((c, i) => encode(cpio.subarray(c, cuts[i + 1]), codec)));
        expect(Buffer.from(out).equals(Buffer.concat(each))).toBe(true);
      }
      const segs = await scanSegments(out, 'parts.img');
      expect(segs).toHaveLength(1);
      expect(segs[0]!.compression).toBe(codec);
      expect(segs[0]!.entries.filter((e) => !e.trailer)).toHaveLength(121);
      expect(segs[0]!.cpioLength).toBe(cpio.length);

      requireJudge(ctx, hasTool(DECODE[codec][0]) && hasTool('cpio') ? undefined : `missing ${DECODE[codec][0]} or cpio`, `${codec} parts read-back`);
      const d = spawnSync(DECODE[codec][0], DECODE[codec].slice(1), { input: out, maxBuffer: 1 << 28 });
      expect(d.stderr.toString()).toBe('');
      expect(Buffer.from(d.stdout).equals(Buffer.from(cpio))).toBe(true);
      const t = spawnSync('cpio', ['-t', '--quiet'], { input: d.stdout });
      expect(t.stdout.toString().split('\n').filter(Boolean)).toHaveLength(121);
      if (codec === 'xz') {
        const file = join(work, 'p.xz');
        writeFileSync(file, out);
        const list = spawnSync('xz', ['-lvv', '--robot', file], { encoding: 'utf8' }).stdout;
        expect(list.split('\n').filter((l) => l.startsWith('block\t'))).toHaveLength(cuts.length - 1);
        expect(list).toMatch(/CRC32/);
      }
    });
  }

  it('small archives, lz4, lzma and none are one stream', async () => {
    for (const codec of ['lz4', 'lzma', 'none'] as const) {
      expect(splits(codec)).toBe(false);
      expect(Buffer.from(await compressArchive(cpio, codec, undefined, { partBytes: PART })).equals(Buffer.from(await encode(cpio, codec)))).toBe(true);
    }
    const small = archive(3);
    expect(Buffer.from(await compressArchive(small, 'gzip', 6, { partBytes: PART })).equals(Buffer.from(await encode(small, 'gzip', 6)))).toBe(true);
    await expect(encodeParts(cpio, starts, 'bzip2', 0)).rejects.toThrow(/bzip2 takes 1-9/);
  });

  it('compiled, on worker threads: the same bytes as in one thread', () => {
    const file = join(work, 'a.cpio');
    writeFileSync(file, archive(400, 7));
    const script = `
      const fs = await import('node:fs');
      const { compressArchive } = await import(${JSON.stringify(join(ROOT, 'dist', 'initrd', 'compress.js'))});
      const { partStats } = await import(${JSON.stringify(join(ROOT, 'dist', 'compress', 'encode-parts.js'))});
      const cpio = new Uint8Array(fs.readFileSync(${JSON.stringify(file)}));
      const out = {};
      for (const codec of ['gzip', 'zstd', 'bzip2', 'xz']) {
        const a = await compressArchive(cpio, codec, undefined, { partBytes: ${PART}, workers: 3 });
        const b = await compressArchive(cpio, codec, undefined, { partBytes: ${PART}, workers: 0 });
        out[codec] = Buffer.from(a).equals(Buffer.from(b)) && a.length > 0;
      }
      out.workerParts = partStats.inWorkers > 0;
      // Workers that die on start: the parts are encoded here instead, same bytes.
      const broken = ${JSON.stringify(join(work, 'broken-worker.mjs'))};
      fs.writeFileSync(broken, 'throw new Error("no encoder here");');
      const { pathToFileURL } = await import('node:url');
      const c = await compressArchive(cpio, 'gzip', undefined, { partBytes: ${PART}, workers: 2, workerUrl: pathToFileURL(broken) });
      out.brokenWorkers = Buffer.from(c).equals(Buffer.from(await compressArchive(cpio, 'gzip', undefined, { partBytes: ${PART}, workers: 0 })));
      console.log(JSON.stringify(out));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', maxBuffer: 1 << 24 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ gzip: true, zstd: true, bzip2: true, xz: true, workerParts: true, brokenWorkers: true });
  });

  it('compiled: warm workers (started before the encode) are taken, give the same bytes, and never hold the process', () => {
    const file = join(work, 'w.cpio');
    writeFileSync(file, archive(400, 11));
    const dist = (m: string) => JSON.stringify(join(ROOT, 'dist', ...m.split('/')));
    const script = `
      const fs = await import('node:fs');
      const { pathToFileURL } = await import('node:url');
      const { compressArchive } = await import(${dist('initrd/compress.js')});
      const { partStats, warmEncoders } = await import(${dist('compress/encode-parts.js')});
      const cpio = new Uint8Array(fs.readFileSync(${JSON.stringify(file)}));
      const opts = { partBytes: ${PART}, workers: 2 };
      const out = {};
      const cold = await compressArchive(cpio, 'zstd', undefined, opts);
      warmEncoders('zstd', opts);
      await new Promise((r) => setTimeout(r, 300));
      const warm = await compressArchive(cpio, 'zstd', undefined, opts);
      out.same = Buffer.from(warm).equals(Buffer.from(cold));
      out.taken = partStats.warmTaken;
      // Warmed again once the first set was taken: new workers, taken by the next encode.
      warmEncoders('zstd', opts);
      await compressArchive(cpio, 'zstd', undefined, opts);
      out.rewarmed = partStats.warmTaken;
      // Warmed for another codec: not taken (stopped), the encode starts its own.
      warmEncoders('gzip', opts);
      const z = await compressArchive(cpio, 'zstd', undefined, opts);
      out.otherCodec = partStats.warmTaken === 4 && Buffer.from(z).equals(Buffer.from(cold));
      // A worker module that dies on start: the warm workers are dead, the encode still ends.
      const broken = ${JSON.stringify(join(work, 'broken-warm.mjs'))};
      fs.writeFileSync(broken, 'throw new Error("no encoder here");');
      const bopts = { ...opts, workerUrl: pathToFileURL(broken) };
      warmEncoders('gzip', bopts);
      await new Promise((r) => setTimeout(r, 300));
      const g = await compressArchive(cpio, 'gzip', undefined, bopts);
      out.brokenWarm = Buffer.from(g).equals(Buffer.from(await compressArchive(cpio, 'gzip', undefined, { partBytes: ${PART}, workers: 0 })));
      // Warm workers nobody takes do not keep the process alive: this script must exit.
      warmEncoders('xz', opts);
      console.log(JSON.stringify(out));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', maxBuffer: 1 << 24, timeout: 60_000 });
    expect(r.signal).toBe(null);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ same: true, taken: 2, rewarmed: 4, otherCodec: true, brokenWarm: true });
  });
});
