import * as fs from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { addArchive } from '../src/ingest/archive.js';
import { readAr } from '../src/ingest/ar.js';
import { unwrapDeb } from '../src/ingest/deb.js';
import { addTar } from '../src/ingest/tar.js';
import type { FileNode } from '../src/tree/node.js';
import { Tree } from '../src/tree/tree.js';
import { buildAndRead, expectImageMatchesDir, extimgError, extimgErrorAsync, isRoot, makeSourceTree, readBytes, run } from './helpers/archives.js';
import { missingTools, requireJudge } from './helpers/env.js';
import { workDir } from './helpers/image.js';
import { manifestFromTree } from './helpers/manifest.js';
import { member, tar } from './helpers/tar-writer.js';

const work = workDir('ingest-deb');
afterAll(() => work.cleanup());

const T0 = { sec: 1_000_000_000, nsec: 0 };
const enc = new TextEncoder();

const DECOMPRESS: Record<string, string[] | undefined> = {
  gzip: ['gzip', '-dc'],
  xz: ['xz', '-dc'],
  zstd: ['zstd', '-dcq'],
  bzip2: ['bzip2', '-dc'],
  lzma: ['xz', '--format=lzma', '-dc'],
};

/** A package tree: DEBIAN/control plus the usual fixture files (no socket: dpkg-deb's tar skips it). */
function makePackage(dir: string): string {
  const root = join(dir, 'pkg');
  fs.mkdirSync(join(root, 'DEBIAN'), { recursive: true });
  fs.writeFileSync(join(root, 'DEBIAN', 'control'), 'Package: extimg-test\nVersion: 1.0\nArchitecture: all\nMaintainer: T <t@example.org>\nDescription: test\n');
  fs.writeFileSync(join(root, 'DEBIAN', 'postinst'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  makeSourceTree(root, { devices: isRoot, owners: isRoot ? 'big' : undefined, sparse: true });
  return root;
}

describe('deb: dpkg-deb packages read back like dpkg-deb -x extracts them', () => {
  for (const z of ['gzip', 'xz', 'zstd', 'none']) {
    it(`dpkg-deb --build -Z${z}`, async (ctx) => {
      requireJudge(ctx, missingTools(['e2fsck', 'debugfs', 'dpkg-deb', ...(DECOMPRESS[z] ? [DECOMPRESS[z]![0]!] : [])]), 'deb oracle');
      const dir = join(work.dir, `deb-${z}`);
      fs.mkdirSync(dir);
      const pkg = makePackage(dir);
      const deb = join(dir, 'p.deb');
      run('dpkg-deb', [`-Z${z}`, '--build', pkg, deb]);
      const ref = join(dir, 'ref');
      fs.mkdirSync(ref);
      run('dpkg-deb', ['-x', deb, ref]);

      const bytes = readBytes(deb);
      const unwrapped = unwrapDeb(bytes, deb);
      const ext = { gzip: '.gz', xz: '.xz', zstd: '.zst', none: '' }[z];
      expect(unwrapped.member).toBe(`data.tar${ext}`);
      expect(unwrapped.codec).toBe(z === 'none' ? undefined : z);
      // Decompressed by the codec's own tool first: our tar parser on its own.
      const tarBytes = DECOMPRESS[z] ? new Uint8Array(run(DECOMPRESS[z]![0]!, DECOMPRESS[z]!.slice(1), { input: unwrapped.payload })) : unwrapped.payload;
      const tree = new Tree({ time: T0 });
      addTar(tree, tarBytes, { origin: deb });
      expect(tree.get('DEBIAN')).toBeUndefined();
      const { image } = buildAndRead(tree, dir, `deb-${z}`);
      // dpkg-deb -x runs `tar -x -p`, which sets a directory's time when it leaves it; a later
      // member below it (dpkg-deb sorts names, hard links may come late) changes it again.
      expectImageMatchesDir(image, ref, `dpkg-deb -Z${z}`, { dirTimes: false });
      // The same data through GNU tar with directory times restored last: times too.
      const ref2 = join(dir, 'ref2');
      fs.mkdirSync(ref2);
      run('tar', ['-x', '-p', '--numeric-owner', '--delay-directory-restore', '-f', '-', '-C', ref2], { input: run('dpkg-deb', ['--fsys-tarfile', deb]) });
      expectImageMatchesDir(image, ref2, `dpkg-deb --fsys-tarfile -Z${z} | tar -x`);

      // The whole pipeline (src/compress decoding) gives the same tree.
      const viaPipeline = new Tree({ time: T0 });
      // (The package database it also records is test/package-db.test.ts's.)
      expect(await addArchive(viaPipeline, bytes, { origin: deb, packageDb: false })).toEqual(z === 'none' ? { kind: 'deb' } : { kind: 'deb', codec: z });
      expect(manifestFromTree(viaPipeline)).toEqual(manifestFromTree(tree));
    });
  }
});

describe('deb: the ar container', () => {
  const arHeader = (name: string, size: number): string => `${name.padEnd(16)}${'0'.padEnd(12)}${'0'.padEnd(6)}${'0'.padEnd(6)}${'100644'.padEnd(8)}${String(size).padEnd(10)}\`\n`;
  const ar = (...members: Array<[string, Uint8Array | string]>): Uint8Array => {
    const parts: Buffer[] = [Buffer.from('!<arch>\n')];
    for (const [name, data] of members) {
      const d = Buffer.from(typeof data === 'string' ? enc.encode(data) : data);
      parts.push(Buffer.from(arHeader(name, d.length), 'latin1'), d);
      if (d.length % 2) parts.push(Buffer.from('\n'));
    }
    return new Uint8Array(Buffer.concat(parts));
  };
  const dataTar = tar(member({ name: './usr/', type: '5' }), member({ name: './usr/file' }, 'payload'));

  it('GNU names with a slash, BSD #1/N names, long-name tables, odd sizes padded, _members ignored', () => {
    const gz = new Uint8Array(gzipSync(dataTar));
    const deb = ar(['debian-binary/', '2.0\n'], ['_gpgorigin', 'sig'], ['control.tar.gz/', 'x'], ['#1/11', Buffer.concat([Buffer.from('data.tar.gz'), Buffer.from(gz)])]);
    const d = unwrapDeb(deb, 'p.deb');
    expect(d).toMatchObject({ codec: 'gzip', member: 'data.tar.gz' });
    expect(Buffer.from(d.payload).equals(Buffer.from(gz))).toBe(true);
    const gnuLong = Buffer.concat([
      Buffer.from('!<arch>\n'),
      Buffer.from(arHeader('//', 28), 'latin1'),
      Buffer.from('a-very-long-member-name.o/\n\n'),
      Buffer.from(arHeader('/0', 3), 'latin1'),
      Buffer.from('abc\n'),
    ]);
    expect([...readAr(new Uint8Array(gnuLong), 'lib.a')].map((m) => [m.name, Buffer.from(m.data).toString()])).toEqual([['a-very-long-member-name.o', 'abc']]);
  });

  it('a plain data.tar goes through addArchive', async () => {
    const deb = ar(['debian-binary', '2.0\n'], ['control.tar', tar()], ['data.tar', dataTar]);
    const t = new Tree({ time: T0 });
    expect(await addArchive(t, deb, { origin: 'p.deb' })).toEqual({ kind: 'deb' });
    const f = t.get('usr/file') as FileNode;
    expect(f.content.size).toBe(7);
  });

  it('hostile or unsupported packages: one ExtimgError naming the package', async () => {
    const cases: Array<[Uint8Array, string, RegExp]> = [
      [ar(['debian-binary', '3.0\n'], ['control.tar', 'x'], ['data.tar', dataTar]), 'EFORMAT', /^p\.deb: Debian package format "3\.0" is not supported \(only 2\.x\)$/],
      [ar(['control.tar', 'x'], ['data.tar', dataTar]), 'EFORMAT', /^p\.deb: ar member 'control\.tar' at byte 8: not a Debian package/],
      [ar(['debian-binary', '2.0\n'], ['control.tar', 'x']), 'EFORMAT', /^p\.deb: Debian package without a data\.tar member$/],
      [ar(['debian-binary', '2.0\n'], ['control.tar', 'x'], ['data.tar.foo', 'x']), 'EFORMAT', /^p\.deb: ar member 'data\.tar\.foo' at byte \d+: unknown compression/],
      [ar(['debian-binary', '2.0\n'], ['data.tar', dataTar]), 'EFORMAT', /data member before the control member/],
      [ar(['debian-binary', '2.0\n'], ['control.tar', 'x'], ['data.tar', dataTar]).subarray(0, 200), 'ECORRUPT', /^p\.deb: ar member data runs past the end of the archive \(size \d+, \d+ bytes left\) at byte \d+ \(entry 'data\.tar'\)$/],
    ];
    for (const [bytes, code, re] of cases) {
      const e = extimgError(() => unwrapDeb(bytes, 'p.deb'));
      expect([e.code, e.message]).toEqual([code, expect.stringMatching(re)]);
    }
    // A corrupt data.tar inside names the package and the member.
    const broken = ar(['debian-binary', '2.0\n'], ['control.tar', 'x'], ['data.tar', dataTar.subarray(0, 1027)]);
    const e = await extimgErrorAsync(() => addArchive(new Tree(), broken, { origin: 'p.deb' }));
    expect(e.code).toBe('ECORRUPT');
    expect(e.message).toBe("p.deb: data.tar: member data runs past the end of the archive (size 7, 3 bytes left) at byte 512 (entry './usr/file')");
  });
});
