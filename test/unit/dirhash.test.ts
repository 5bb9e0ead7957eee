import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDirHasher,
  dirhash,
  DX_HASH_HALF_MD4,
  DX_HASH_HALF_MD4_UNSIGNED,
  DX_HASH_LEGACY,
  DX_HASH_LEGACY_UNSIGNED,
  DX_HASH_TEA,
  DX_HASH_TEA_UNSIGNED,
  effectiveHashVersion,
  EXT2_FLAGS_SIGNED_HASH,
  EXT2_FLAGS_UNSIGNED_HASH,
  hashSeedWords,
} from '../../src/ext/dirhash.js';
import { judgeAvailable, missingTools } from '../helpers/env.js';

/**
 * The oracle is e2fsprogs' own ext2fs_dirhash2 through `debugfs -R "dx_hash -h VERSION -s SEED
 * NAME"` (1.47.0: -h takes a name or a number, 3..5 being the unsigned variants; -s a UUID whose
 * 16 bytes are s_hash_seed as on disk; no -s means an all-zero seed, i.e. the default one).
 * Commands go through one `debugfs -f` file; names travel inside "..." (a quote doubled), so any
 * byte but NUL, '\n' and '\r' (which the command file cannot carry) can be tested.
 */

const VERSIONS = [DX_HASH_LEGACY, DX_HASH_HALF_MD4, DX_HASH_TEA, DX_HASH_LEGACY_UNSIGNED, DX_HASH_HALF_MD4_UNSIGNED, DX_HASH_TEA_UNSIGNED];
const WHAT = 'dirhash against debugfs dx_hash';
const notReady = missingTools(['debugfs', 'mke2fs']);

interface Query {
  name: Uint8Array;
  version: number;
  seed?: Uint8Array;
}

let tmp = '';
let image = '';

beforeAll(() => {
  if (notReady) return;
  tmp = mkdtempSync(join(tmpdir(), 'extimg-dirhash-'));
  image = join(tmp, 'img');
  // dx_hash needs no filesystem in 1.47.0, but debugfs wants something to open.
  const r = spawnSync('mke2fs', ['-q', '-F', image, '256'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mke2fs failed: ${r.stderr}`);
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function uuidOf(seed: Uint8Array): string {
  const h = Array.from(seed, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Hashes of every query from one debugfs run, in order. */
function debugfsHashes(queries: readonly Query[]): Array<{ hash: number; minorHash: number }> {
  const lines: Buffer[] = [];
  for (const q of queries) {
    for (const b of q.name) if (b === 0 || b === 0x0a || b === 0x0d) throw new Error('name byte debugfs -f cannot carry');
    const quoted = Buffer.from(Array.from(q.name).flatMap((b) => (b === 0x22 ? [0x22, 0x22] : [b])));
    const seed = q.seed ? ` -s ${uuidOf(q.seed)}` : '';
    // `--` so that a name starting with '-' is not taken for an option.
    lines.push(Buffer.concat([Buffer.from(`dx_hash -h ${q.version}${seed} -- "`), quoted, Buffer.from('"\n')]));
  }
  const cmdfile = join(tmp, 'cmds');
  writeFileSync(cmdfile, Buffer.concat(lines));
  const r = spawnSync('debugfs', ['-f', cmdfile, image], { maxBuffer: 1 << 28, env: { ...process.env, DEBUGFS_PAGER: '__none__' } });
  if (r.status !== 0) throw new Error(`debugfs exited ${r.status}: ${r.stderr.toString('latin1')}`);
  const out: Array<{ hash: number; minorHash: number }> = [];
  for (const line of r.stdout.toString('latin1').split('\n')) {
    if (line.startsWith('debugfs: ')) continue; // the command echo
    const m = / is 0x([0-9a-f]+) \(minor 0x([0-9a-f]+)\)$/.exec(line);
    if (m) out.push({ hash: parseInt(m[1]!, 16), minorHash: parseInt(m[2]!, 16) });
  }
  const errors = r.stderr.toString('latin1').split('\n').filter((l) => l && !/^debugfs \d/.test(l));
  if (out.length !== queries.length) throw new Error(`debugfs answered ${out.length} of ${queries.length} dx_hash queries: ${errors.join('; ')}`);
  return out;
}

/** Compare every query against debugfs; report the first few mismatches with the name in hex. */
function expectSameAsDebugfs(queries: readonly Query[]): void {
  const want = debugfsHashes(queries);
  const bad: string[] = [];
  queries.forEach((q, i) => {
    const got = dirhash(q.name, q.version, q.seed);
    const w = want[i]!;
    if (got.hash !== w.hash || got.minorHash !== w.minorHash) {
      bad.push(
        `v${q.version} seed ${q.seed ? uuidOf(q.seed) : 'none'} name ${Buffer.from(q.name).toString('hex')}: ` +
          `got ${got.hash.toString(16)}/${got.minorHash.toString(16)}, debugfs ${w.hash.toString(16)}/${w.minorHash.toString(16)}`,
      );
    }
  });
  expect(bad.slice(0, 5), `${bad.length} of ${queries.length} differ`).toEqual([]);
}

/** Bytes debugfs -f can carry: anything but NUL, LF, CR (mapped onto other high/low bytes). */
const carryable = (b: number): number => (b === 0 ? 0x80 : b === 0x0a ? 0xff : b === 0x0d ? 0x7f : b);
/** Uniformly random lengths 1..255 (fast-check's default size would keep names short). */
const nameArb = fc
  .integer({ min: 1, max: 255 })
  .chain((len) => fc.uint8Array({ minLength: len, maxLength: len }))
  .map((a) => a.map(carryable));
const seedArb = fc.uint8Array({ minLength: 16, maxLength: 16 });

function ready(): boolean {
  return judgeAvailable(notReady, WHAT);
}

describe('dirhash (ext4fs_dirhash) against debugfs dx_hash', () => {
  it('agrees on every length 1..255 of a high-bit pattern, all six versions, zero and set seeds', () => {
    if (!ready()) return;
    const seed = Uint8Array.from({ length: 16 }, (_, i) => (i * 53 + 0xa7) & 0xff);
    const queries: Query[] = [];
    for (let len = 1; len <= 255; len++) {
      const name = Uint8Array.from({ length: len }, (_, i) => carryable((i * 37 + len * 11 + 0x61) & 0xff));
      for (const version of VERSIONS) {
        queries.push({ name, version });
        queries.push({ name, version, seed });
      }
    }
    expectSameAsDebugfs(queries);
  });

  it('agrees on edge names: all 0x80, all 0xff, quotes, leading dash, chunk boundaries', () => {
    if (!ready()) return;
    const names: Uint8Array[] = [
      new Uint8Array([0x2e]),
      new Uint8Array(255).fill(0x80),
      new Uint8Array(255).fill(0xff),
      new Uint8Array(17).fill(0xc3),
      Buffer.from('"quoted" "name"'),
      Buffer.from('-h'),
      Buffer.from('--'),
      Buffer.from('a b\tc'),
      ...[15, 16, 17, 31, 32, 33, 63, 64, 65].map((n) => Uint8Array.from({ length: n }, (_, i) => 0xf0 + (i % 16))),
    ];
    const queries: Query[] = [];
    for (const name of names) for (const version of VERSIONS) queries.push({ name, version });
    expectSameAsDebugfs(queries);
  });

  it('agrees on random names (fast-check) with random seeds', () => {
    if (!ready()) return;
    const seedNum = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
    const samples = fc.sample(fc.tuple(nameArb, fc.option(seedArb, { freq: 3 }), fc.constantFrom(...VERSIONS)), { numRuns: 3000, seed: seedNum });
    const queries = samples.map(([name, seed, version]) => (seed ? { name, version, seed } : { name, version }));
    try {
      expectSameAsDebugfs(queries);
    } catch (e) {
      throw new Error(`FC_SEED=${seedNum}: ${(e as Error).message}`);
    }
  });

  it('moves the end-of-directory hash aside as the kernel does (e2fsprogs does not)', () => {
    // "t\xc9!E" is a name whose signed legacy hash is 0xfffffffe = EXT4_HTREE_EOF_32BIT << 1
    // (found by inverting dx_hack_hash's last step over 3-byte prefixes). The kernel turns it
    // into 0xfffffffc; e2fsprogs' ext2fs_dirhash (and so debugfs) keeps 0xfffffffe.
    const name = Buffer.from([0x74, 0xc9, 0x21, 0x45]);
    expect(dirhash(name, DX_HASH_LEGACY).hash).toBe(0xfffffffc);
    if (!ready()) return;
    expect(debugfsHashes([{ name, version: DX_HASH_LEGACY }])[0]!.hash).toBe(0xfffffffe);
  });
});

describe('dirhash inputs', () => {
  it('takes a byte string or bytes alike', () => {
    fc.assert(
      fc.property(nameArb, fc.constantFrom(...VERSIONS), (name, version) => {
        const key = String.fromCharCode(...name);
        expect(dirhash(key, version)).toEqual(dirhash(name, version));
      }),
    );
  });

  it('reads s_hash_seed as four little-endian words; all zero means the default seed', () => {
    const bytes = Uint8Array.from([1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0x80]);
    expect(Array.from(hashSeedWords(bytes))).toEqual([1, 2, 3, 0x80000000]);
    expect(Array.from(hashSeedWords([1, 2, 3, 0x80000000]))).toEqual([1, 2, 3, 0x80000000]);
    const dflt = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
    expect(Array.from(hashSeedWords(new Uint8Array(16)))).toEqual(dflt);
    expect(Array.from(hashSeedWords())).toEqual(dflt);
    const h = createDirHasher(DX_HASH_TEA, dflt)('name');
    expect(createDirHasher(DX_HASH_TEA, new Uint8Array(16))('name')).toEqual(h);
    expect(createDirHasher(DX_HASH_TEA, bytes)('name')).not.toEqual(h);
    expect(() => hashSeedWords(new Uint8Array(15))).toThrow(RangeError);
  });

  it('picks the unsigned variant from s_flags', () => {
    expect(effectiveHashVersion(DX_HASH_HALF_MD4, EXT2_FLAGS_SIGNED_HASH)).toBe(DX_HASH_HALF_MD4);
    expect(effectiveHashVersion(DX_HASH_HALF_MD4, EXT2_FLAGS_UNSIGNED_HASH)).toBe(DX_HASH_HALF_MD4_UNSIGNED);
    expect(effectiveHashVersion(DX_HASH_LEGACY, EXT2_FLAGS_UNSIGNED_HASH)).toBe(DX_HASH_LEGACY_UNSIGNED);
    expect(effectiveHashVersion(DX_HASH_TEA, 0)).toBe(DX_HASH_TEA);
  });

  it('signed and unsigned agree on ASCII names and differ on high bytes', () => {
    for (const [s, u] of [[0, 3], [1, 4], [2, 5]] as const) {
      expect(dirhash('plain-ascii.txt', s)).toEqual(dirhash('plain-ascii.txt', u));
      expect(dirhash('caf\xc3\xa9', s)).not.toEqual(dirhash('caf\xc3\xa9', u));
    }
  });

  it('always clears the low bit and gives legacy no minor hash', () => {
    fc.assert(
      fc.property(nameArb, fc.constantFrom(...VERSIONS), (name, version) => {
        const h = dirhash(name, version);
        expect(h.hash & 1).toBe(0);
        if (version % 3 === 0) expect(h.minorHash).toBe(0);
      }),
    );
  });

  it('refuses unknown versions', () => {
    expect(() => createDirHasher(6)).toThrow(RangeError);
    expect(() => createDirHasher(-1)).toThrow(RangeError);
  });
});
