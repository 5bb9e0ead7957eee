import * as fs from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExtimgError } from '../src/errors.js';
import { readAr } from '../src/ingest/ar.js';
import { applyPrepared, prepareArchive } from '../src/ingest/archive.js';
import { addCpio, readCpio, writeNewc } from '../src/ingest/cpio.js';
import { unwrapDeb } from '../src/ingest/deb.js';
import { addPacman } from '../src/ingest/pacman.js';
import { unwrapRpm } from '../src/ingest/rpm.js';
import { sniffArchive } from '../src/ingest/sniff.js';
import { addTar, readTar } from '../src/ingest/tar.js';
import { Tree } from '../src/tree/tree.js';
import { IN_CI } from './helpers/env.js';
import { hasTool } from './helpers/e2fsck.js';
import { makeSourceTree, readBytes, run } from './helpers/archives.js';
import { workDir } from './helpers/image.js';
import { concat, member, pax, tar } from './helpers/tar-writer.js';

/**
 * Parsers of untrusted archives only ever return or throw ExtimgError, and quickly: random bytes,
 * and valid archives of each format with bytes flipped, cut, inserted or numbers rewritten.
 * Whatever they accept must also read back without a RangeError.
 */

const RUNS = Number(process.env.EXTIMG_FUZZ_RUNS) || (IN_CI ? 300 : 100);
const work = workDir('ingest-fuzz');
afterAll(() => work.cleanup());
const enc = new TextEncoder();

/** Seeds: made by hand always, by the real tools where present (GNU tar, cpio, dpkg-deb, rpmbuild). */
const seeds: Record<string, Uint8Array[]> = { tar: [], cpio: [], deb: [], rpm: [] };

beforeAll(() => {
  seeds.tar!.push(
    tar(
      pax([['path', 'long/'.repeat(30)], ['mtime', '-1.5'], ['SCHILY.xattr.user.x', 'v']]),
      member({ name: 'f' }, 'data'),
      member({ name: 'd/', type: '5' }),
      member({ name: 'l', type: '1', linkname: 'long/'.repeat(30) }),
      pax([['GNU.sparse.size', '9000'], ['GNU.sparse.map', '0,3,8000,2']]),
      member({ name: 's' }, 'abcde'),
      member({ name: 'big', magic: 'gnu', base256: ['uid', 'mtime'], uid: 5_000_000, mtime: -5 }, 'x'),
    ),
  );
  seeds.cpio!.push(
    writeNewc([
      { name: '.', mode: 0o40755 },
      { name: 'a', mode: 0o100644, ino: 4, nlink: 2, data: enc.encode('hello') },
      { name: 'b', mode: 0o100644, ino: 4, nlink: 2 },
      { name: 'l', mode: 0o120777, data: enc.encode('a') },
      { name: 'dev', mode: 0o20644, rdevmajor: 1, rdevminor: 3 },
    ]),
  );
  const deb = (data: Uint8Array): Uint8Array => {
    const h = (name: string, size: number): string => `${name.padEnd(16)}${'0'.padEnd(12)}${'0'.padEnd(6)}${'0'.padEnd(6)}${'100644'.padEnd(8)}${String(size).padEnd(10)}\`\n`;
    const parts = [enc.encode('!<arch>\n'), enc.encode(h('debian-binary', 4)), enc.encode('2.0\n'), enc.encode(h('control.tar', 0)), enc.encode(h('data.tar', data.length)), data];
    return concat(...parts, data.length % 2 ? enc.encode('\n') : new Uint8Array(0));
  };
  seeds.deb!.push(deb(seeds.tar![0]!));

  const dir = join(work.dir, 'seeds');
  const src = join(dir, 'src');
  fs.mkdirSync(src, { recursive: true });
  makeSourceTree(src, { sparse: true, awkwardNames: true });
  if (hasTool('tar')) {
    for (const f of ['gnu', 'posix', 'ustar', 'v7']) {
      const args = f === 'ustar' || f === 'v7' ? ['--exclude=./long-target', '--exclude=./usr/nnn*'] : ['--sparse'];
      try {
        seeds.tar!.push(new Uint8Array(run('tar', ['-c', `--format=${f}`, ...args, '-f', '-', '-C', src, 'etc', 'usr/lib', 'sparse.img', 'hl-a', 'hl-b', 'abs-link'])));
      } catch {
        // v7 cannot hold some members; the hand-made seeds remain
      }
    }
  }
  if (hasTool('cpio')) {
    const list = run('find', ['.', '-print0'], { cwd: join(src, 'etc') });
    for (const f of ['newc', 'crc', 'odc', 'bin']) seeds.cpio!.push(new Uint8Array(run('cpio', ['-o', '-0', '--quiet', '-H', f], { cwd: join(src, 'etc'), input: list })));
  }
  if (hasTool('dpkg-deb')) {
    const pkg = join(dir, 'pkg');
    fs.mkdirSync(join(pkg, 'DEBIAN'), { recursive: true });
    fs.writeFileSync(join(pkg, 'DEBIAN', 'control'), 'Package: f\nVersion: 1\nArchitecture: all\nMaintainer: f <f@f>\nDescription: f\n');
    fs.writeFileSync(join(pkg, 'file'), 'x');
    run('dpkg-deb', ['-Znone', '--build', pkg, join(dir, 'f.deb')]);
    seeds.deb!.push(readBytes(join(dir, 'f.deb')));
  }
  if (hasTool('rpmbuild')) {
    const spec = join(dir, 'f.spec');
    fs.writeFileSync(spec, 'Name: f\nVersion: 1\nRelease: 1\nSummary: f\nLicense: MIT\nBuildArch: noarch\n%description\nf\n%install\nmkdir -p %{buildroot}/etc\necho x > %{buildroot}/etc/f\n%files\n/etc/f\n');
    run('rpmbuild', ['-bb', '--quiet', '--define', `_topdir ${dir}/top`, '--define', '_binary_payload w1.gzdio', spec]);
    seeds.rpm!.push(readBytes(join(dir, 'top', 'RPMS', 'noarch', 'f-1-1.noarch.rpm')));
  }
});

/** Read back every file the parse accepted (bounded: the first and last bytes of huge sparse ones). */
function readAll(tree: Tree): void {
  for (const [, node] of tree.walk()) {
    if (node.kind !== 'file') continue;
    const c = node.content;
    const r = c.open();
    try {
      if (c.size <= 1 << 20) r.read(0, new Uint8Array(c.size));
      else {
        r.read(0, new Uint8Array(4096));
        r.read(c.size - 4096, new Uint8Array(4096));
      }
    } finally {
      r.close();
    }
  }
}

/** Run one parser on `data`; anything but success or an ExtimgError fails, so does slowness. */
function only(parse: (data: Uint8Array) => void, data: Uint8Array): void {
  const start = performance.now();
  try {
    parse(data);
  } catch (e) {
    if (!(e instanceof ExtimgError)) throw new Error(`not an ExtimgError: ${e instanceof Error ? e.stack : String(e)}`);
    expect(e.message).toMatch(/^fuzz/);
  }
  expect(performance.now() - start).toBeLessThan(2000);
}

const PARSERS: Record<string, Array<(d: Uint8Array) => void>> = {
  tar: [
    (d) => {
      for (const e of readTar(d, 'fuzz')) void e;
    },
    (d) => {
      const t = new Tree();
      addTar(t, d, { origin: 'fuzz', exclude: (p) => p.endsWith('x') });
      readAll(t);
    },
    (d) => {
      const t = new Tree();
      addPacman(t, d, { origin: 'fuzz', dest: '/opt' });
      readAll(t);
    },
  ],
  cpio: [
    (d) => {
      for (const e of readCpio(d, 'fuzz')) void e;
    },
    (d) => {
      const t = new Tree();
      addCpio(t, d, { origin: 'fuzz' });
      readAll(t);
    },
  ],
  deb: [
    (d) => {
      for (const m of readAr(d, 'fuzz')) void m;
    },
    (d) => {
      const p = unwrapDeb(d, 'fuzz');
      if (!p.codec) {
        const t = new Tree();
        addTar(t, p.payload, { origin: 'fuzz: data.tar' });
        readAll(t);
      }
    },
  ],
  rpm: [(d) => void unwrapRpm(d, 'fuzz')],
};

const ALL = Object.values(PARSERS).flat();

/** A mutation of a seed: flips, cuts, inserts, deletes, or digits written over a header field. */
function mutated(seedsOf: () => Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const edit = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 600 }) }),
    fc.record({ kind: fc.constant('digits' as const), at: fc.nat(), text: fc.stringMatching(/^[0-9a-fA-F ]{1,12}$/) }),
  );
  return fc.tuple(fc.nat(), fc.array(edit, { minLength: 1, maxLength: 6 })).map(([pick, edits]) => {
    const list = seedsOf();
    let d: Uint8Array = list[pick % list.length]!.slice();
    for (const e of edits) {
      const at = d.length ? e.at % d.length : 0;
      switch (e.kind) {
        case 'flip':
          if (d.length) d[at] = e.value;
          break;
        case 'cut':
          d = d.slice(0, at);
          break;
        case 'insert':
          d = concat(d.subarray(0, at), e.bytes, d.subarray(at));
          break;
        case 'delete':
          d = concat(d.subarray(0, at), d.subarray(at + e.n));
          break;
        case 'digits':
          d.set(enc.encode(e.text).subarray(0, d.length - at), at);
          break;
      }
    }
    return d;
  });
}

describe('fuzz: archive parsers only return or throw ExtimgError', () => {
  it('random bytes, through every parser and sniffArchive', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (d) => {
        sniffArchive(d);
        for (const p of ALL) only(p, d);
      }),
      { numRuns: RUNS },
    );
  });

  it('random bytes behind a valid magic (ustar, cpio, ar, rpm)', () => {
    const magics = [
      (d: Uint8Array) => {
        const b = new Uint8Array(Math.max(512, d.length));
        b.set(d);
        b.set(enc.encode('ustar\u000000'), 257);
        return b;
      },
      (d: Uint8Array) => concat(enc.encode('070701'), d),
      (d: Uint8Array) => concat(enc.encode('070707'), d),
      (d: Uint8Array) => concat(enc.encode('!<arch>\ndebian-binary   '), d),
      (d: Uint8Array) => concat(Uint8Array.from([0xed, 0xab, 0xee, 0xdb]), new Uint8Array(92), Uint8Array.from([0x8e, 0xad, 0xe8, 1]), d),
    ];
    fc.assert(
      fc.property(fc.nat(), fc.uint8Array({ maxLength: 2048 }), (i, d) => {
        const data = magics[i % magics.length]!(d);
        for (const p of ALL) only(p, data);
      }),
      { numRuns: RUNS },
    );
  });

  for (const format of Object.keys(PARSERS)) {
    it(`mutated ${format} archives`, (ctx) => {
      if (seeds[format]!.length === 0) ctx.skip();
      fc.assert(
        fc.property(
          mutated(() => seeds[format]!),
          (d) => {
            for (const p of PARSERS[format]!) only(p, d);
          },
        ),
        { numRuns: RUNS },
      );
    });
  }

  it('the whole pipeline on mutated archives of every kind (prepare + apply)', async () => {
    await fc.assert(
      fc.asyncProperty(
        mutated(() => Object.values(seeds).flat()),
        async (d) => {
          try {
            const p = await prepareArchive(d, 'fuzz');
            const t = new Tree();
            applyPrepared(t, p, { origin: 'fuzz' });
            readAll(t);
          } catch (e) {
            if (!(e instanceof ExtimgError)) throw new Error(`not an ExtimgError: ${e instanceof Error ? e.stack : String(e)}`);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});
