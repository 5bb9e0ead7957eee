import * as fs from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CliContext } from '../src/cli/context.js';
import { run } from '../src/cli/run.js';
import { encodeLz4Legacy, lz4CompressBlock } from '../src/compress/encode.js';
import { decodeLz4 } from '../src/compress/lz4.js';
import { scanSegments } from '../src/initrd/segments.js';
import { hasTool } from './helpers/e2fsck.js';
import { workDir } from './helpers/image.js';
import { makeInitrd, missingFixtureTools, sh, type FixtureCodec } from './initrd-fixtures.js';
import { judgeAvailable } from './helpers/env.js';

const work = workDir('initrd-rewrite');
afterAll(() => work.cleanup());
let n = 0;

async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ status: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const ctx = new CliContext({ write: (s) => (out.push(s), true) }, { write: (s) => (err.push(s), true) }, env);
  const status = await run(args, ctx);
  return { status, stdout: out.join(''), stderr: err.join('') };
}

const HOOK = '#!/bin/sh\necho extimg hook\n';

function hookFile(): string {
  const p = join(work.dir, 'zz-extimg');
  if (!fs.existsSync(p)) fs.writeFileSync(p, HOOK);
  return p;
}

/** Names listed by a reader, sorted (lines as latin1). */
function names(out: Buffer): string[] {
  return out
    .toString('latin1')
    .split('\n')
    .filter((l) => l !== '')
    .sort();
}

/** `cpio -t` of every segment: lsinitramfs without -l prints names only. */
function lsinit(file: string): string[] {
  return names(sh('lsinitramfs', [file]));
}

/** Each codec's own tester: `-t` on the stream (xz: also the CRC32 check the kernel needs). */
const TESTERS: Record<FixtureCodec, [string, string[]]> = {
  gzip: ['gzip', ['-t']],
  zstd: ['zstd', ['-t', '-q']],
  lz4: ['lz4', ['-t']],
  xz: ['xz', ['-t']],
  lzma: ['xz', ['-t', '--format=lzma']],
  bzip2: ['bzip2', ['-t']],
};
/** Each codec's decompressor to stdout. */
const DECODERS: Record<FixtureCodec, [string, string[]]> = {
  gzip: ['gzip', ['-d', '-c']],
  zstd: ['zstd', ['-d', '-c']],
  lz4: ['lz4', ['-d', '-c']],
  xz: ['xz', ['-d', '-c']],
  lzma: ['xz', ['-d', '-c', '--format=lzma']],
  bzip2: ['bzip2', ['-d', '-c']],
};

function checkCodec(codec: FixtureCodec, stream: Uint8Array): void {
  const [cmd, args] = TESTERS[codec];
  sh(cmd, args, { input: stream });
  if (codec === 'xz') {
    // Stream flags byte 7: check type 1 = CRC32.
    expect(stream[7]).toBe(1);
  }
}

function decode(codec: FixtureCodec, stream: Uint8Array): Buffer {
  const [cmd, args] = DECODERS[codec];
  return sh(cmd, args, { input: stream });
}

const CODECS: FixtureCodec[] = ['gzip', 'zstd', 'lz4', 'xz', 'lzma', 'bzip2'];
const tools = missingFixtureTools() ?? (hasTool('lsinitramfs') ? undefined : 'missing lsinitramfs (apt: initramfs-tools-core)');

// A missing judge skips locally (said once) and fails in CI.
const judged = judgeAvailable(tools, 'initrd rewrite judged by lsinitramfs and cpio');

describe.runIf(judged)('extimg initrd rewrite (judged by lsinitramfs, cpio, and each codec tester)', () => {
  for (const codec of CODECS) {
    describe(codec, () => {
      const fx = () => makeInitrd(work.dir, `rw-${codec}-${n++}`, codec);

      it('adds a hook: listing = original + hook, early segment byte-identical, stream valid', async () => {
        const f = fx();
        const out = join(f.dir, 'out.img');
        const r = await cli(['initrd', 'rewrite', f.file, '-o', out, '--add', `${hookFile()}:/conf/conf.d/zz-extimg:0755`, '--timestamp', '1000000000']);
        expect(r.stderr).toMatch(/rebuilt segment/);
        expect(r.status).toBe(0);
        const bytes = fs.readFileSync(out);
        // The early microcode archive and its padding: byte for byte.
        expect(Buffer.compare(bytes.subarray(0, f.early.length), f.early)).toBe(0);
        const before = lsinit(f.file);
        const after = lsinit(out);
        const want = [...before, 'conf', 'conf/conf.d', 'conf/conf.d/zz-extimg'].sort();
        expect(after).toEqual(want);
        // lsinitramfs -l: the hook's mode and size.
        const long = sh('lsinitramfs', ['-l', out]).toString('latin1');
        expect(long).toMatch(/-rwxr-xr-x\s+1\s+root\s+root\s+\d+ .* conf\/conf\.d\/zz-extimg/);
        // The new main segment alone, through the codec's own CLI and GNU cpio.
        const segs = await scanSegments(bytes, out);
        expect(segs.map((s) => s.compression)).toEqual(['none', codec]);
        const main = bytes.subarray(segs[1]!.offset, segs[1]!.offset + segs[1]!.length);
        checkCodec(codec, main);
        const dec = decode(codec, main);
        const cpioNames = names(sh('cpio', ['-t', '--quiet'], { input: dec }));
        const origNames = names(sh('cpio', ['-t', '--quiet'], { input: f.main }));
        expect(cpioNames).toEqual([...origNames, 'conf', 'conf/conf.d', 'conf/conf.d/zz-extimg'].sort());
        // Hard links kept: busybox, sh and ls share an inode, data once.
        const tv = sh('cpio', ['-tv', '--quiet'], { input: dec }).toString('latin1');
        // GNU cpio's way: the data on the last name (byte order: busybox, ls, sh), size 0 before.
        expect(tv).toMatch(/-rwxr-xr-x\s+3\s+\S+\s+\S+\s+0 .* usr\/bin\/busybox\n/);
        expect(tv).toMatch(/-rwxr-xr-x\s+3\s+\S+\s+\S+\s+70000 .* usr\/bin\/sh\n/);
        fs.mkdirSync(join(f.dir, 'x'));
        sh('cpio', ['-idm', '--quiet', '--no-absolute-filenames'], { cwd: join(f.dir, 'x'), input: dec });
        expect(fs.readFileSync(join(f.dir, 'x/conf/conf.d/zz-extimg'), 'utf8')).toBe(HOOK);
        expect(fs.statSync(join(f.dir, 'x/usr/bin/sh')).ino).toBe(fs.statSync(join(f.dir, 'x/usr/bin/busybox')).ino);
        expect(fs.readFileSync(join(f.dir, 'x/usr/bin/ls'))).toEqual(fs.readFileSync(join(f.mainDir, 'usr/bin/busybox')));
      });

      it('--append-segment keeps the input byte for byte and appends one segment', async () => {
        const f = fx();
        const out = join(f.dir, 'app.img');
        const r = await cli(['initrd', 'rewrite', f.file, '-o', out, '--append-segment', '--add', `${hookFile()}:/conf/conf.d/zz-extimg:0755`]);
        expect(r.stderr).toMatch(/appended/);
        expect(r.status).toBe(0);
        const bytes = fs.readFileSync(out);
        expect(Buffer.compare(bytes.subarray(0, f.bytes.length), f.bytes)).toBe(0);
        // The appended stream (no padding before a compressed one); our scanner reads it too.
        const last = bytes.subarray(f.bytes.length);
        expect(last.length).toBeLessThan(2000);
        const segs = await scanSegments(bytes, out);
        expect(segs[segs.length - 1]!.compression).toBe(codec);
        expect(segs.flatMap((s) => s.entries.map((e) => Buffer.from(e.name).toString('latin1')))).toContain('conf/conf.d/zz-extimg');
        checkCodec(codec, last);
        const dec = decode(codec, last);
        expect(names(sh('cpio', ['-t', '--quiet'], { input: dec }))).toEqual(['conf', 'conf/conf.d', 'conf/conf.d/zz-extimg']);
        // unmkinitramfs decompresses everything after the early archive as one stream and has
        // cpio read its first archive only: it still lists the original without an error, but
        // not the appended files (the kernel does unpack them: unpack_to_rootfs goes on).
        expect(lsinit(out)).toEqual(lsinit(f.file));
      });
    });
  }

  it('--compress gzip of a zstd input; --timestamp twice gives identical bytes', async () => {
    const f = makeInitrd(work.dir, `rw-conv-${n++}`, 'zstd');
    const a = join(f.dir, 'a.img');
    const b = join(f.dir, 'b.img');
    const args = (o: string) => ['initrd', 'rewrite', f.file, '-o', o, '--compress', 'gzip', '--write-text', '/conf/conf.d/zz-extimg=x=1', '--timestamp', '1700000000'];
    expect((await cli(args(a))).status).toBe(0);
    expect((await cli(args(b))).status).toBe(0);
    const A = fs.readFileSync(a);
    expect(A.equals(fs.readFileSync(b))).toBe(true);
    const segs = await scanSegments(A, a);
    expect(segs.map((s) => s.compression)).toEqual(['none', 'gzip']);
    checkCodec('gzip', A.subarray(segs[1]!.offset, segs[1]!.offset + segs[1]!.length));
    expect(lsinit(a)).toEqual([...lsinit(f.file), 'conf', 'conf/conf.d', 'conf/conf.d/zz-extimg'].sort());
    // SOURCE_DATE_EPOCH does the same as --timestamp.
    const c = join(f.dir, 'c.img');
    const r = await cli(args(c).slice(0, -2), { SOURCE_DATE_EPOCH: '1700000000' });
    expect(r.status).toBe(0);
    expect(fs.readFileSync(c).equals(A)).toBe(true);
  });

  it('refuses --rm with --append-segment, lzo output, a bad level, and leaves no output on failure', async () => {
    const f = makeInitrd(work.dir, `rw-err-${n++}`, 'gzip');
    const out = join(f.dir, 'bad.img');
    const r1 = await cli(['initrd', 'rewrite', f.file, '-o', out, '--append-segment', '--rm', '/etc/fstab']);
    expect(r1.status).not.toBe(0);
    expect(r1.stderr).toMatch(/--append.*cannot delete/);
    expect(r1.stderr.trim().split('\n')).toHaveLength(1);
    const r2 = await cli(['initrd', 'rewrite', f.file, '-o', out, '--compress', 'lzo']);
    expect(r2.status).toBe(2);
    expect(r2.stderr).toMatch(/writing lzo compression is not supported/);
    const r4 = await cli(['initrd', 'rewrite', f.file, '-o', out, '--compress', 'bzip2', '--level', '0']);
    expect(r4.status).not.toBe(0);
    expect(r4.stderr).toMatch(/bzip2 takes 1-9/);
    expect(r4.status).toBe(2);
    // With 'same' the codec is known once the input is read: still refused before any output,
    // as a usage error naming --level.
    const r5 = await cli(['initrd', 'rewrite', f.file, '-o', out, '--level', '12', '--add', `${hookFile()}:/x`]);
    expect(r5.stderr).toMatch(/^extimg: --level 12: gzip takes 1-9/);
    expect(r5.status).toBe(2);
    const r3 = await cli(['initrd', 'rewrite', f.file, '-o', out, '--rm', '/no/such']);
    expect(r3.status).not.toBe(0);
    expect(fs.readdirSync(f.dir).filter((x) => x.includes('bad.img'))).toEqual([]);
  });

  it('--level applies to the main segment only: an edit rebuilding the early segment still works', async () => {
    const f = makeInitrd(work.dir, `rw-lvl-${n++}`, 'zstd');
    const out = join(f.dir, 'lvl.img');
    const r = await cli(['initrd', 'rewrite', f.file, '-o', out, '--level', '19', '--chmod', 'kernel/x86/microcode/GenuineIntel.bin=0600']);
    expect(r.stderr).toMatch(/rebuilt segment/);
    expect(r.status).toBe(0);
    const long = sh('lsinitramfs', ['-l', out]).toString('latin1');
    expect(long).toMatch(/-rw-------\s+1\s+root\s+root\s+\d+ .* kernel\/x86\/microcode\/GenuineIntel\.bin/);
  });

  it('--rm and --mv in the main segment', async () => {
    const f = makeInitrd(work.dir, `rw-rm-${n++}`, 'gzip');
    const out = join(f.dir, 'rm.img');
    const r = await cli(['initrd', 'rewrite', f.file, '-o', out, '--rm', '/etc/big', '--mv', '/init=/init.orig']);
    expect(r.status).toBe(0);
    const after = lsinit(out);
    expect(after).not.toContain('etc/big');
    expect(after).not.toContain('init');
    expect(after).toContain('init.orig');
  });
});

describe('lz4 legacy encoder', () => {
  const lz4cli = judgeAvailable(hasTool('lz4') ? undefined : 'missing lz4', 'lz4 -d round trip');
  const arb = fc.oneof(
    fc.uint8Array({ maxLength: 2000 }),
    // Highly repetitive: a short pattern repeated, with some noise.
    fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.integer({ min: 0, max: 5000 }), fc.uint8Array({ maxLength: 30 })).map(([pat, reps, tail]) => {
      const out = new Uint8Array(pat.length * reps + tail.length);
      for (let i = 0; i < reps; i++) out.set(pat, i * pat.length);
      out.set(tail, pat.length * reps);
      return out;
    }),
    fc.array(fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.constantFrom(new Uint8Array(300), new TextEncoder().encode('abcabcabcabcabc'.repeat(20)))), { maxLength: 20 }).map((parts) => {
      const total = parts.reduce((s, p) => s + p.length, 0);
      const out = new Uint8Array(total);
      let o = 0;
      for (const p of parts) (out.set(p, o), (o += p.length));
      return out;
    }),
  );

  it('round-trips through our decoder (property)', () => {
    fc.assert(
      fc.property(arb, (data) => {
        const c = encodeLz4Legacy(data);
        expect(Buffer.from(decodeLz4(c, 'prop')).equals(Buffer.from(data))).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it.skipIf(!lz4cli)('round-trips through lz4 -d (property)', () => {
    fc.assert(
      fc.property(arb, (data) => {
        const c = encodeLz4Legacy(data);
        const d = sh('lz4', ['-d', '-c', '-q'], { input: c });
        expect(d.equals(Buffer.from(data))).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('compresses repetitive data, and splits into 8 MiB blocks', () => {
    const rep = new Uint8Array(100_000).fill(7);
    expect(lz4CompressBlock(rep).length).toBeLessThan(1000);
    const big = new Uint8Array((8 << 20) + 100);
    for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 27;
    const c = encodeLz4Legacy(big);
    expect(Buffer.from(decodeLz4(c, 'big')).equals(Buffer.from(big))).toBe(true);
    if (lz4cli) expect(sh('lz4', ['-d', '-c', '-q'], { input: c }).equals(Buffer.from(big))).toBe(true);
  });
});
