import { gzipSync } from 'node:zlib';
import { encodeZstdWasm as compressZstd } from '../src/compress/encode.js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliContext } from '../src/cli/context.js';
import { run } from '../src/cli/run.js';
import { ExtimgError } from '../src/errors.js';
import { writeNewc } from '../src/ingest/cpio.js';
import { formatEntry, listSegments, type ListedEntry } from '../src/initrd/list.js';
import { scanSegments, type Segment } from '../src/initrd/segments.js';
import { bootEnv } from './boot/env.js';
import { IN_CI, judgeAvailable, requireJudge } from './helpers/env.js';
import { hasTool } from './helpers/e2fsck.js';
import { workDir } from './helpers/image.js';
import { COMPRESSORS, compress, type FixtureCodec, type InitrdFixture, makeInitrd, missingFixtureTools, parseLongListing, permString, sh } from './initrd-fixtures.js';

const work = workDir('initrd-scan');
afterAll(() => work.cleanup());

const CODECS = Object.keys(COMPRESSORS) as FixtureCodec[];

async function cli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const ctx = new CliContext({ write: (s) => (out.push(s), true) }, { write: (s) => (err.push(s), true) }, {});
  const status = await run(args, ctx);
  return { status, stdout: out.join(''), stderr: err.join('') };
}

async function scanError(data: Uint8Array, origin = 'initrd.img'): Promise<ExtimgError> {
  try {
    await scanSegments(data, origin);
  } catch (e) {
    if (e instanceof ExtimgError) return e;
    throw e;
  }
  throw new Error('scanSegments accepted the input');
}

/** One line naming the input and the offset: "origin: what at offset N[...]". */
function expectOneLine(e: ExtimgError, origin = 'initrd.img'): void {
  expect(['ECORRUPT', 'EFORMAT']).toContain(e.code);
  expect(e.message).not.toContain('\n');
  expect(e.message.startsWith(`${origin}: `)).toBe(true);
  expect(e.message).toMatch(/ at offset \d+$/);
}

/** Our listing in cpio -tv's terms, names as latin1 of the raw bytes (as the listing bytes are read). */
function asLong(rows: ListedEntry[]) {
  return rows.map((r) => ({
    perms: permString(r.type, r.mode),
    nlink: r.nlink,
    size: r.major !== undefined ? `${r.major},${r.minor}` : String(r.size),
    name: r.nameHex !== undefined ? Buffer.from(r.nameHex, 'hex').toString('latin1') : Buffer.from(r.name, 'utf8').toString('latin1'),
    ...(r.target !== undefined ? { target: r.targetHex !== undefined ? Buffer.from(r.targetHex, 'hex').toString('latin1') : Buffer.from(r.target, 'utf8').toString('latin1') } : {}),
  }));
}

function namesOf(seg: Segment): string[] {
  return seg.entries.filter((e) => !e.trailer).map((e) => Buffer.from(e.name).toString('latin1'));
}

describe('initrd scanSegments: GNU cpio archives, early microcode + compressed main', () => {
  const fixtures = new Map<FixtureCodec, InitrdFixture>();
  beforeAll(() => {
    for (const codec of CODECS) if (missingFixtureTools(codec) === undefined) fixtures.set(codec, makeInitrd(work.dir, codec, codec));
  });

  for (const codec of CODECS) {
    it(`${codec}: segments, cpio -t names and lsinitramfs -l listing`, async (ctx) => {
      requireJudge(ctx, missingFixtureTools(codec), `initrd ${codec} fixture`);
      const f = fixtures.get(codec)!;
      const segs = await scanSegments(f.bytes, f.file);
      expect(segs.map((s) => s.compression)).toEqual(['none', codec]);
      // GNU cpio pads its output to 512-byte blocks: the zeros after the trailer are padding.
      expect(segs[0]).toMatchObject({ index: 0, offset: 0, archives: 1 });
      expect(segs[0]!.length).toBeLessThanOrEqual(f.early.length);
      expect(f.early.subarray(segs[0]!.length).every((b) => b === 0)).toBe(true);
      const mainAt = f.early.length + 512 + ((4 - (f.early.length % 4)) % 4);
      expect(segs[1]).toMatchObject({ index: 1, offset: mainAt, length: f.bytes.length - mainAt, cpioLength: f.main.length, archives: 1 });

      // GNU cpio -t on each archive, in order.
      const tNames = (archive: Buffer) => sh('cpio', ['-t', '--quiet'], { input: archive }).toString('latin1').split('\n').filter(Boolean);
      expect(namesOf(segs[0]!)).toEqual(tNames(f.early));
      expect(namesOf(segs[1]!)).toEqual(tNames(f.main));
      expect(namesOf(segs[0]!)).toContain('kernel/x86/microcode/GenuineIntel.bin');

      const rows = listSegments(segs);
      if (judgeAvailable(hasTool('lsinitramfs') ? undefined : 'no lsinitramfs (apt: initramfs-tools-core)', 'lsinitramfs oracle')) {
        const ref = parseLongListing(sh('lsinitramfs', ['-l', f.file]));
        expect(asLong(rows)).toEqual(ref);
      }
      // Same data through GNU cpio -tv of the raw archives.
      const tv = [...parseLongListing(sh('cpio', ['-tv', '--quiet'], { input: f.early })), ...parseLongListing(sh('cpio', ['-tv', '--quiet'], { input: f.main }))];
      expect(asLong(rows)).toEqual(tv);
    });
  }

  for (const codec of CODECS) {
    it(`${codec}: a compressed segment followed by zeros and an uncompressed one; two archives in one stream`, async (ctx) => {
      requireJudge(ctx, missingFixtureTools(codec), `initrd ${codec} fixture`);
      const f = fixtures.get(codec)!;
      const z = compress(codec, f.main);
      const pad = Buffer.alloc(64 + ((4 - (z.length % 4)) % 4));
      const data = Buffer.concat([z, pad, f.early]);
      const segs = await scanSegments(data, 'x');
      expect(segs.map((s) => [s.compression, s.offset])).toEqual([
        [codec, 0],
        ['none', z.length + pad.length],
      ]);
      expect(segs[0]!.length).toBeGreaterThanOrEqual(z.length);
      expect(segs[1]!.length).toBe(segs[0]!.length === z.length ? segs[1]!.length : segs[1]!.length);
      expect(f.early.subarray(segs[1]!.length).every((b) => b === 0)).toBe(true);

      const both = await scanSegments(compress(codec, Buffer.concat([f.early, Buffer.alloc(16), f.main])), 'x');
      expect(both).toHaveLength(1);
      expect(both[0]!.archives).toBe(2);
      expect(namesOf(both[0]!)).toEqual([...namesOf(segs[1]!), ...namesOf(segs[0]!)]);
    });
  }

  it('an lzma segment with a small dictionary (magic 5d 00 10): the kernel needs only 5d 00', async (ctx) => {
    requireJudge(ctx, missingFixtureTools('lzma'), 'initrd lzma fixture');
    const f = fixtures.get('lzma')!;
    const z = sh('xz', ['--format=lzma', '--lzma1=dict=4KiB', '-c'], { input: f.main });
    expect([...z.subarray(0, 3)]).toEqual([0x5d, 0x00, 0x10]);
    const segs = await scanSegments(Buffer.concat([f.early, z]), 'x');
    expect(segs.map((s) => s.compression)).toEqual(['none', 'lzma']);
    expect(namesOf(segs[1]!)).toEqual(namesOf((await scanSegments(Buffer.concat([f.early, compress('lzma', f.main)]), 'y'))[1]!));
  });

  it('extimg initrd ls: text and --json, segment by segment', async (ctx) => {
    requireJudge(ctx, missingFixtureTools('gzip'), 'initrd gzip fixture');
    const f = fixtures.get('gzip')!;
    const rows = listSegments(await scanSegments(f.bytes, f.file));
    const json = await cli(['initrd', 'ls', f.file, '--json']);
    expect(json.status).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(rows);
    const text = await cli(['initrd', 'ls', f.file]);
    expect(text.stdout.split('\n').filter(Boolean)).toEqual(rows.map(formatEntry));
    expect(text.stdout).toContain('0 none - 0644 0 0 5000 kernel/x86/microcode/GenuineIntel.bin\n');
    expect(text.stdout).toContain('1 gzip l 0777 0 0 7 bin -> usr/bin\n');
    expect(text.stdout).toContain('1 gzip - 0644 0 0 15 etc/latin1-\\xff\\xfe.txt\n');
    expect(text.stdout).toContain('1 gzip - 4755 ');
    const latin = rows.find((r) => r.name.startsWith('etc/latin1-'))!;
    expect(latin.nameHex).toBe(Buffer.from('etc/latin1-\xff\xfe.txt', 'latin1').toString('hex'));
    expect(rows.find((r) => r.name.endsWith('.conf'))!.name).toBe('etc/modprobe.d/caf\u00e9 \u2603.conf');
    if (process.getuid?.() === 0) expect(text.stdout).toContain('1 gzip c 0600 0 0 5,1 dev/console\n');
  });
});

describe('initrd scanSegments: refusals are one line with the offset', () => {
  const early = writeNewc([
    { name: 'kernel', mode: 0o40755 },
    { name: 'kernel/x86/microcode/GenuineIntel.bin', mode: 0o100644, data: new Uint8Array(1000).fill(7) },
  ]);
  const main = writeNewc([{ name: 'init', mode: 0o100755, data: new TextEncoder().encode('#!/bin/sh\n') }]);
  const gz = gzipSync(main);
  const good = Buffer.concat([early, Buffer.alloc(12), gz]);

  it('reads the hand-made initrd', async () => {
    const segs = await scanSegments(good, 'initrd.img');
    expect(segs.map((s) => [s.compression, s.offset, s.length])).toEqual([
      ['none', 0, early.length],
      ['gzip', early.length + 12, gz.length],
    ]);
  });

  it('a compressed segment may end between entries (the kernel is in its Reset state there)', async () => {
    const all = writeNewc([
      { name: 'a', mode: 0o100644, data: new Uint8Array(3000).fill(1) },
      { name: 'b', mode: 0o100644, data: new Uint8Array(5).fill(2) },
      { name: 'c', mode: 0o100644, data: new Uint8Array(70).fill(3) },
    ]);
    const cut = [...(await scanSegments(gzipSync(all), 'x'))[0]!.entries][2]!.offset; // where 'c' starts
    // Two gzip members cut there: one segment, as gzip -d reads them.
    const members = Buffer.concat([gzipSync(all.subarray(0, cut)), gzipSync(all.subarray(cut))]);
    const one = await scanSegments(members, 'x');
    expect(one.map((s) => [s.compression, s.length, s.archives])).toEqual([['gzip', members.length, 1]]);
    expect(one[0]!.entries.map((e) => Buffer.from(e.name).toString())).toEqual(['a', 'b', 'c', 'TRAILER!!!']);
    // A gzip member cut there, then the rest as a zstd stream: two segments, every entry read.
    const mixed = Buffer.concat([gzipSync(all.subarray(0, cut)), await compressZstd(all.subarray(cut))]);
    const two = await scanSegments(mixed, 'x');
    expect(two.map((s) => [s.compression, s.archives])).toEqual([
      ['gzip', 0],
      ['zstd', 1],
    ]);
    expect(two.flatMap((s) => s.entries.map((e) => Buffer.from(e.name).toString()))).toEqual(['a', 'b', 'c', 'TRAILER!!!']);
    // Cut inside an entry: refused as truncated, with the offset.
    const bad = Buffer.concat([gzipSync(all.subarray(0, cut - 2)), gzipSync(all.subarray(cut - 2))]);
    expect((await scanError(bad)).code).toBe('ECORRUPT');
    expect((await scanError(gzipSync(all.subarray(0, cut - 2)))).message).toMatch(/ends inside a cpio entry/);
    // zstd frames are taken one at a time as well (pzstd and `cat a.zst b.zst` cut anywhere).
    const z1 = await compressZstd(all.subarray(0, cut - 2));
    const frames = Buffer.concat([z1, await compressZstd(all.subarray(cut - 2))]);
    const zerr = await scanError(frames);
    expect(zerr.message).toMatch(new RegExp(`the zstd stream at offset 0 ends inside a cpio entry .* at offset ${z1.length}$`));
    const zok = Buffer.concat([await compressZstd(all.subarray(0, cut)), await compressZstd(all.subarray(cut))]);
    expect((await scanSegments(zok, 'x')).map((s) => [s.compression, s.length, s.entries.length])).toEqual([['zstd', zok.length, 4]]);
    // A first stream that does not parse as cpio: its own error, not "ends inside an entry".
    const junk = Buffer.concat([gzipSync(Buffer.from('not cpio at all')), gzipSync(all)]);
    expect((await scanError(junk)).message).not.toMatch(/ends inside/);
    // Ending exactly between entries, with nothing after: accepted (so is the kernel).
    expect((await scanSegments(gzipSync(all.subarray(0, cut)), 'x'))[0]!.entries).toHaveLength(2);
  });

  it('truncated anywhere inside a segment', async () => {
    const inside = [1, 6, 109, 110, 200, early.length - 1, early.length + 12 + 1, early.length + 12 + 10, good.length - 8, good.length - 1];
    for (const cut of inside) {
      const e = await scanError(good.subarray(0, cut));
      expectOneLine(e);
      expect(e.code).toBe('ECORRUPT');
    }
  });

  it('garbage: junk, junk after a segment, unaligned cpio, odc, lz4 frame format, lzo, empty', async () => {
    const cases: Array<[Uint8Array, RegExp]> = [
      [new TextEncoder().encode('hello world, not an initrd'), /neither a cpio archive nor a compressed stream \(68 65 6c 6c\) at offset 0$/],
      [Buffer.concat([good, Buffer.from('junk')]), new RegExp(`at offset ${good.length}$`)],
      [Buffer.concat([Buffer.alloc(2), early]), /not 4-byte aligned at offset 2$/],
      [Buffer.concat([early, Buffer.from('07070')]), /at offset \d+$/],
      [Buffer.from('070707000000000000000000000000000000000000000000000000000000000000000000000000'), /kernel reads only newc/],
      [Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x64, 0x40, 0xa7, 0, 0, 0, 0]), /legacy format \(lz4 -l\) at offset 0$/],
      [Buffer.from([0x89, 0x4c, 0x5a, 0x4f, 0, 0, 0, 0]), /lzo/],
      [new Uint8Array(0), /empty initrd at offset 0$/],
      [new Uint8Array(64), /only zero bytes at offset 64$/],
      [gzipSync(Buffer.from('not a cpio archive at all')), /in the gzip data of segment 0 at offset 0$/],
      [gzipSync(Buffer.concat([main, Buffer.from('xyz')])), /junk after a cpio trailer at offset \d+ in the gzip data/],
      [gzipSync(main.subarray(0, 130)), /gzip data of segment 0 at offset 0$/],
    ];
    for (const [data, re] of cases) {
      const e = await scanError(data);
      expectOneLine(e);
      expect(e.message).toMatch(re);
    }
  });

  it('the CLI prints one line and exits 1', async () => {
    const path = `${work.dir}/bad.img`;
    (await import('node:fs')).writeFileSync(path, good.subarray(0, good.length - 3));
    const r = await cli(['initrd', 'ls', path]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^extimg: ${path}: truncated gzip stream at offset \\d+\\n$`));
  });

  /** Resolves to data or ExtimgError, within a time bound. */
  async function total(data: Uint8Array): Promise<void> {
    const t0 = performance.now();
    try {
      await scanSegments(data, 'fuzz');
    } catch (e) {
      if (!(e instanceof ExtimgError)) throw e;
      expect(e.message).not.toContain('\n');
    }
    expect(performance.now() - t0).toBeLessThan(5000);
  }

  it('a name with a newline or other control bytes stays one line in the message (escaped), raw in data', async () => {
    // Found by the mutation fuzz below (seed 1142071762): an inserted "\n" in a name, then a cut.
    const cpio = writeNewc([{ name: 'conf/a\nb\x01', mode: 0o100644, data: new Uint8Array(100) }]);
    let err: unknown;
    try {
      await scanSegments(cpio.subarray(0, 140), 'cut.cpio');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ExtimgError);
    const e = err as ExtimgError;
    expect(e.message).not.toMatch(/[\x00-\x1f\x7f]/);
    expect(e.message).toContain("(entry 'conf/a\\nb\\x01')");
    expect(e.data['entry']).toBe('conf/a\nb\x01');
  });

  const runs = IN_CI ? 400 : 150;
  it('fuzz: random bytes, with and without magics', async () => {
    const magics = [[], [0x30, 0x37, 0x30, 0x37, 0x30, 0x31], [0x1f, 0x8b, 8], [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0], [0x28, 0xb5, 0x2f, 0xfd], [0x02, 0x21, 0x4c, 0x18], [0x42, 0x5a, 0x68, 0x39], [0x5d, 0, 0, 0x80, 0]];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...magics), fc.nat(16), fc.uint8Array({ maxLength: 2048 }), async (magic, zeros, body) => {
        await total(Buffer.concat([Buffer.alloc(zeros), Buffer.from(magic), body]));
      }),
      { numRuns: runs },
    );
  });

  it('fuzz: mutated initrds (flip, insert, delete, truncate, duplicate)', async () => {
    const bases: Uint8Array[] = [good, Buffer.concat([gz, Buffer.alloc(3), early])];
    for (const codec of CODECS) if (missingFixtureTools(codec) === undefined) bases.push(Buffer.concat([early, compress(codec, main)]));
    const mutation = fc.oneof(
      fc.record({ op: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
      fc.record({ op: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 8 }) }),
      fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ op: fc.constant('dup' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 64 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 4 }), async (which, muts) => {
        let d = Buffer.from(bases[which % bases.length]!);
        for (const m of muts) {
          const at = d.length ? m.at % d.length : 0;
          if (m.op === 'flip') d[at] = m.value;
          else if (m.op === 'insert') d = Buffer.concat([d.subarray(0, at), m.bytes, d.subarray(at)]);
          else if (m.op === 'delete') d = Buffer.concat([d.subarray(0, at), d.subarray(at + m.n)]);
          else if (m.op === 'truncate') d = d.subarray(0, at);
          else d = Buffer.concat([d.subarray(0, at + m.n), d.subarray(at)]);
        }
        await total(d);
      }),
      { numRuns: runs },
    );
  });
});

describe("initrd scanSegments: Debian's own initrd", () => {
  it('lists like lsinitramfs -l', async (ctx) => {
    const b = bootEnv();
    requireJudge(ctx, b.reason, "Debian initrd (fixtures/out/boot/env)");
    requireJudge(ctx, hasTool('lsinitramfs') ? undefined : 'no lsinitramfs (apt: initramfs-tools-core)', 'lsinitramfs oracle');
    const bytes = (await import('node:fs')).readFileSync(b.env!.initrd);
    const segs = await scanSegments(bytes, b.env!.initrd);
    expect(segs.length).toBeGreaterThan(0);
    const rows = listSegments(segs);
    expect(rows.some((r) => r.name === 'init' && r.type === '-')).toBe(true);
    const ref = parseLongListing(sh('lsinitramfs', ['-l', b.env!.initrd]));
    expect(asLong(rows)).toEqual(ref);
  });
});
