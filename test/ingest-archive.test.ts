import * as fs from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { addArchive, applyPrepared, prepareArchive } from '../src/ingest/archive.js';
import { writeNewc } from '../src/ingest/cpio.js';
import { addPacman, isPacmanPackage, PACMAN_METADATA } from '../src/ingest/pacman.js';
import { sniffArchive } from '../src/ingest/sniff.js';
import { Tree } from '../src/tree/tree.js';
import { buildAndRead, expectImageMatchesDir, extimgErrorAsync, makeSourceTree, readBytes, run } from './helpers/archives.js';
import { missingTools, requireJudge } from './helpers/env.js';
import { workDir } from './helpers/image.js';
import { manifestFromTree } from './helpers/manifest.js';
import { member, tar } from './helpers/tar-writer.js';

const work = workDir('ingest-archive');
afterAll(() => work.cleanup());

const T0 = { sec: 1_000_000_000, nsec: 0 };
const enc = new TextEncoder();

describe('sniffArchive', () => {
  it('knows each format by its magic', () => {
    const ustar = tar(member({ name: 'a' }, 'a'));
    const v7 = tar(member({ name: 'a', magic: 'v7' }, 'a'));
    expect(sniffArchive(ustar)).toBe('tar');
    expect(sniffArchive(tar(member({ name: 'a', magic: 'gnu' }, 'a')))).toBe('tar');
    expect(sniffArchive(v7)).toBe('tar');
    expect(sniffArchive(new Uint8Array(10240))).toBe('tar'); // an empty tar: end marker only
    expect(sniffArchive(writeNewc([]))).toBe('cpio');
    expect(sniffArchive(enc.encode('070707000000'))).toBe('cpio');
    expect(sniffArchive(enc.encode('!<arch>\ndebian-binary   '))).toBe('deb');
    expect(sniffArchive(enc.encode('!<arch>\nlibfoo.o/       '))).toBeUndefined();
    expect(sniffArchive(Uint8Array.from([0xed, 0xab, 0xee, 0xdb, 3, 0]))).toBe('rpm');
    expect(sniffArchive(Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]))).toBeUndefined();
    expect(sniffArchive(new Uint8Array(0))).toBeUndefined();
    const badV7 = v7.slice();
    badV7[0] ^= 1;
    expect(sniffArchive(badV7)).toBeUndefined();
  });
});

describe('addArchive / prepareArchive', () => {
  it('not an archive: one EFORMAT naming the input and its first bytes', async () => {
    const elf = Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, ...new Uint8Array(600)]);
    const e = await extimgErrorAsync(() => addArchive(new Tree(), elf, { origin: '/bin/true' }));
    expect([e.code, e.message]).toEqual(['EFORMAT', '/bin/true: not a tar, cpio, .deb, .rpm or pacman archive (starts with 7f 45 4c 46)']);
    const gz = new Uint8Array(gzipSync(enc.encode('just text, compressed')));
    const e2 = await extimgErrorAsync(() => addArchive(new Tree(), gz, { origin: 'notes.gz' }));
    expect(e2.message).toBe('notes.gz: not a tar, cpio, .deb, .rpm or pacman archive (gzip data that starts with 6a 75 73 74 once decompressed)');
    const e3 = await extimgErrorAsync(() => addArchive(new Tree(), new Uint8Array(0), { origin: 'empty' }));
    expect(e3.message).toBe('empty: not a tar, cpio, .deb, .rpm or pacman archive (it is empty)');
  });

  it('tar.gz and cpio.gz, with dest; reports kind and codec', async () => {
    const t = new Tree({ time: T0 });
    const tgz = new Uint8Array(gzipSync(tar(member({ name: 'etc/hostname' }, 'box\n'))));
    expect(await addArchive(t, tgz, { origin: 'a.tar.gz', dest: '/srv' })).toEqual({ kind: 'tar', codec: 'gzip' });
    const cgz = new Uint8Array(gzipSync(writeNewc([{ name: 'init', mode: 0o100755, data: enc.encode('#!/bin/sh\n') }])));
    expect(await addArchive(t, cgz, { origin: 'initrd.gz' })).toEqual({ kind: 'cpio', codec: 'gzip' });
    expect(await addArchive(t, tar(member({ name: 'x' }, 'x')), { origin: 'x.tar' })).toEqual({ kind: 'tar' });
    expect(t.get('srv/etc/hostname')?.kind).toBe('file');
    expect(t.get('init')?.meta.mode).toBe(0o755);
  });

  it('Prepared is plain data: it survives structuredClone (a worker boundary) and applies the same', async () => {
    const bytes = new Uint8Array(gzipSync(tar(member({ name: 'a/b' }, 'b'), member({ name: 'a/c', type: '2', linkname: 'b' }))));
    const p = await prepareArchive(bytes, 'p.tgz');
    const cloned = structuredClone(p);
    const t1 = new Tree({ time: T0 });
    const t2 = new Tree({ time: T0 });
    applyPrepared(t1, p, { origin: 'p.tgz' });
    applyPrepared(t2, cloned, { origin: 'p.tgz' });
    expect(manifestFromTree(t2)).toEqual(manifestFromTree(t1));
  });
});

describe('pacman and Frugalware packages', () => {
  /** A package as makepkg lays it out: metadata files first, then the files. */
  function makePkg(dir: string, meta: string[]): string {
    const root = join(dir, 'pkg');
    fs.mkdirSync(root, { recursive: true });
    for (const m of meta) fs.writeFileSync(join(root, m), `${m} contents\n`);
    makeSourceTree(root, { sparse: false });
    const rest = fs.readdirSync(root).filter((n) => !meta.includes(n)).sort();
    const archive = join(dir, 'p.pkg.tar');
    run('tar', ['-c', '--format=gnu', '--numeric-owner', '-f', archive, '-C', root, ...meta, ...rest]);
    return archive;
  }

  it('metadata stays out of the image; the rest reads back like GNU tar extracts it without it', (ctx) => {
    requireJudge(ctx, missingTools(), 'pacman oracle');
    const dir = join(work.dir, 'pacman');
    const meta = ['.PKGINFO', '.BUILDINFO', '.MTREE', '.INSTALL'];
    const archive = makePkg(dir, meta);
    const data = readBytes(archive);
    expect(isPacmanPackage(data)).toBe(true);
    const ref = join(dir, 'ref');
    fs.mkdirSync(ref);
    run('tar', ['-x', '--numeric-owner', ...[...PACMAN_METADATA].map((m) => `--exclude=./${m}`), ...[...PACMAN_METADATA].map((m) => `--exclude=${m}`), '-f', archive, '-C', ref]);
    const tree = new Tree({ time: T0 });
    addPacman(tree, data, { origin: archive });
    for (const m of meta) expect(tree.get(m)).toBeUndefined();
    const { image } = buildAndRead(tree, dir, 'pacman');
    expectImageMatchesDir(image, ref, 'pacman', { dirTimes: false });
  });

  it('recognised through addArchive, compressed (gz) or zstd-decompressed; Frugalware .FILELIST/.CHANGELOG too', async (ctx) => {
    requireJudge(ctx, missingTools(['zstd']), 'pacman zstd');
    const dir = join(work.dir, 'fpm');
    const archive = makePkg(dir, ['.PKGINFO', '.FILELIST', '.CHANGELOG']);
    const data = readBytes(archive);
    const t = new Tree({ time: T0 });
    expect(await addArchive(t, new Uint8Array(gzipSync(data)), { origin: 'p.fpm' })).toEqual({ kind: 'pacman', codec: 'gzip' });
    expect(t.get('.FILELIST')).toBeUndefined();
    expect(t.get('.CHANGELOG')).toBeUndefined();
    expect(t.get('etc/passwd')?.kind).toBe('file');
    const zst = run('zstd', ['-q', '-c'], { input: data });
    const plain = new Uint8Array(run('zstd', ['-dq', '-c'], { input: zst }));
    expect((await prepareArchive(plain, 'p.pkg.tar')).kind).toBe('pacman');
    // .PKGINFO deeper in the archive, or not at the root, is no pacman package.
    expect(isPacmanPackage(tar(member({ name: 'usr/.PKGINFO' }, 'x')))).toBe(false);
    const late = tar(...Array.from({ length: 9 }, (_, i) => member({ name: `f${i}` }, 'x')), member({ name: '.PKGINFO' }, 'x'));
    expect(isPacmanPackage(late)).toBe(false);
    // A plain tar that ships a .PKGINFO deeper keeps it.
    const t2 = new Tree({ time: T0 });
    await addArchive(t2, tar(member({ name: 'usr/.PKGINFO' }, 'x')), { origin: 'u.tar' });
    expect(t2.get('usr/.PKGINFO')?.kind).toBe('file');
  });
});
