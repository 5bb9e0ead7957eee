import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addTar, readTar } from '../src/ingest/tar.js';
import { BytesContent, SegmentedContent } from '../src/tree/content.js';
import { keyToBytes } from '../src/tree/names.js';
import type { FileNode, Node } from '../src/tree/node.js';
import { Tree } from '../src/tree/tree.js';
import {
  buildAndRead,
  expectImageMatchesDir,
  expectXattrsMatch,
  extimgError,
  isRoot,
  makeSourceTree,
  readBytes,
  run,
  type SourceOptions,
} from './helpers/archives.js';
import { missingTools, requireJudge } from './helpers/env.js';
import { workDir } from './helpers/image.js';
import { concat, END, header, member, pax, tar } from './helpers/tar-writer.js';

const work = workDir('ingest-tar');
afterAll(() => work.cleanup());

const T0 = { sec: 1_000_000_000, nsec: 0 };
let counter = 0;

function read(node: Node | undefined): string {
  expect(node?.kind).toBe('file');
  const c = (node as FileNode).content;
  const out = new Uint8Array(c.size);
  const r = c.open();
  r.read(0, out);
  r.close();
  return Buffer.from(out).toString('latin1');
}

/**
 * GNU tar makes the archive from a host tree, GNU tar extracts it again as the reference, and the
 * image built from our parse must read back (debugfs) like that extraction.
 */
function oracle(label: string, createArgs: string[], src: SourceOptions, extra: { xattrs?: string[] } = {}): { tree: Tree; data: Uint8Array; warnings: string[] } {
  const dir = join(work.dir, `${label}-${counter++}`);
  const srcDir = join(dir, 'src');
  const refDir = join(dir, 'ref');
  fs.mkdirSync(srcDir, { recursive: true });
  fs.mkdirSync(refDir);
  makeSourceTree(srcDir, src);
  const archive = join(dir, 'a.tar');
  run('tar', ['-c', '--numeric-owner', ...createArgs, '-f', archive, '-C', srcDir, '.']);
  run('tar', ['-x', '--numeric-owner', '--keep-directory-symlink', '--xattrs', '--xattrs-include=*', '-f', archive, '-C', refDir]);
  const tree = new Tree({ time: T0 });
  const warnings: string[] = [];
  const data = readBytes(archive);
  addTar(tree, data, { origin: archive, onWarning: (w) => warnings.push(w) });
  const { image, imagePath } = buildAndRead(tree, dir, label);
  expectImageMatchesDir(image, refDir, label);
  if (extra.xattrs) expectXattrsMatch(imagePath, refDir, extra.xattrs, label);
  return { tree, data, warnings };
}

/** The sparse fixture files came through as holes, not as zeros (the writer checks blocks via allocatedBlocks too). */
function expectSparse(tree: Tree, data: Uint8Array, typeflag: string, paxKey?: string): void {
  const sparse = tree.get('sparse.img') as FileNode;
  expect(sparse.content).toBeInstanceOf(SegmentedContent);
  expect(sparse.content.size).toBe(5 * 1024 * 1024 + 100);
  expect(sparse.content.dataRanges!.reduce((n, r) => n + r.length, 0)).toBeLessThan(64 * 1024);
  const hole = tree.get('all-hole') as FileNode;
  expect(hole.content.size).toBe(3 * 1024 * 1024);
  expect(hole.content.dataRanges).toEqual([]);
  const entry = [...readTar(data, 'x')].find((e) => Buffer.from(e.name).toString().endsWith('sparse.img'))!;
  expect(entry.typeflag).toBe(typeflag);
  if (paxKey) expect(Buffer.from(data).includes(paxKey)).toBe(true);
}

describe('tar: GNU tar archives read back like GNU tar extracts them', () => {
  const full: SourceOptions = { devices: isRoot, owners: isRoot ? 'big' : undefined, negativeTimes: true, sparse: true, awkwardNames: true };

  it('--format=gnu (long names, base-256 ids and times, old GNU sparse)', (ctx) => {
    requireJudge(ctx, missingTools(), 'tar oracle');
    const { tree, data } = oracle('gnu', ['--format=gnu', '--sparse'], full);
    expectSparse(tree, data, 'S');
  });

  it('--format=gnu without --sparse (holes stored as zeros)', (ctx) => {
    requireJudge(ctx, missingTools(), 'tar oracle');
    const { tree } = oracle('gnu-nosparse', ['--format=gnu'], { sparse: true, devices: isRoot });
    expect((tree.get('sparse.img') as FileNode).content).toBeInstanceOf(BytesContent);
  });

  for (const v of ['0.0', '0.1', '1.0']) {
    it(`--format=posix --sparse-version=${v} with xattrs and nanoseconds`, (ctx) => {
      requireJudge(ctx, missingTools(), 'tar oracle');
      const { tree, data } = oracle(`posix-${v}`, ['--format=posix', '--sparse', `--sparse-version=${v}`, '--xattrs', '--xattrs-include=*'], { ...full, nanoseconds: true, xattrs: true }, {
        xattrs: ['etc/passwd', 'etc/sub', 'usr/lib/big.bin'],
      });
      expectSparse(tree, data, '0', { '0.0': 'GNU.sparse.numbytes', '0.1': 'GNU.sparse.map', '1.0': 'GNU.sparse.major' }[v]);
      expect((tree.get('etc/passwd') as FileNode).meta.mtime).toEqual({ sec: 1_600_000_000, nsec: 123_456_789 });
    });
  }

  it('--format=ustar (prefix field for long paths)', (ctx) => {
    requireJudge(ctx, missingTools(), 'tar oracle');
    // ustar holds neither link targets over 100 bytes nor paths over 255: leave those out.
    const { data } = oracle('ustar', ['--format=ustar', '--exclude=./long-target'], { devices: isRoot, owners: isRoot ? 'small' : undefined });
    expect([...readTar(data, 'x')].some((e) => e.name.length > 100)).toBe(true);
  });

  it('--format=v7 (directories by trailing slash, no magic)', (ctx) => {
    requireJudge(ctx, missingTools(), 'tar oracle');
    const dir = join(work.dir, 'v7');
    const src = join(dir, 'src');
    const ref = join(dir, 'ref');
    fs.mkdirSync(join(src, 'a', 'b'), { recursive: true });
    fs.mkdirSync(ref);
    fs.writeFileSync(join(src, 'a', 'b', 'f'), 'v7 file\n');
    fs.symlinkSync('b/f', join(src, 'a', 'l'));
    fs.linkSync(join(src, 'a', 'b', 'f'), join(src, 'a', 'hard'));
    const archive = join(dir, 'a.tar');
    run('tar', ['-c', '--format=v7', '--numeric-owner', '-f', archive, '-C', src, '.']);
    run('tar', ['-x', '--numeric-owner', '-f', archive, '-C', ref]);
    const data = readBytes(archive);
    expect(Buffer.from(data.subarray(257, 262)).toString('latin1')).not.toBe('ustar');
    const tree = new Tree({ time: T0 });
    addTar(tree, data, { origin: archive });
    const { image } = buildAndRead(tree, dir, 'v7');
    expectImageMatchesDir(image, ref, 'v7');
  });
});

describe('tar: format details', () => {
  it('pax global headers apply to later members; a member record overrides and an empty one unsets', () => {
    const data = tar(
      pax([['uid', '4242'], ['mtime', '1234567890.5'], ['SCHILY.xattr.user.g', 'global']], 'g'),
      member({ name: 'a', uid: 1 }, 'A'),
      pax([['uid', '7'], ['SCHILY.xattr.user.g', '']]),
      member({ name: 'b', uid: 1 }, 'B'),
      member({ name: 'c', uid: 1 }, 'C'),
    );
    const t = new Tree({ time: T0 });
    addTar(t, data, { origin: 'g.tar' });
    expect(t.get('a')?.meta).toMatchObject({ uid: 4242, mtime: { sec: 1234567890, nsec: 500_000_000 } });
    expect(t.get('a')?.meta.xattrs.get('user.g')).toEqual(new TextEncoder().encode('global'));
    expect(t.get('b')?.meta.uid).toBe(7);
    expect(t.get('b')?.meta.xattrs.has('user.g')).toBe(false);
    expect(t.get('c')?.meta.uid).toBe(4242);
  });

  it('pax: negative fractional times, binary xattr values, LIBARCHIVE.xattr (base64), long path and linkpath, size', () => {
    const value = Uint8Array.from([0, 10, 0x3d, 255, 32]);
    const long = `${'d'.repeat(120)}/${'f'.repeat(200)}`;
    const data = tar(
      pax([
        ['path', long],
        ['mtime', '-1.25'],
        ['atime', '5.000000001'],
        ['SCHILY.xattr.user.bin', value],
        ['LIBARCHIVE.xattr.user.%C3%A9t%C3%A9', Buffer.from('summer').toString('base64')],
        ['size', '3'],
      ]),
      member({ name: 'short', size: 0 }, ''),
      new Uint8Array(512).fill(0x41, 0, 3),
      pax([['linkpath', `/${'t'.repeat(300)}`]]),
      member({ name: 'sym', type: '2' }),
    );
    // The header says size 0 but pax says 3: the data block after it belongs to the member.
    const t = new Tree({ time: T0 });
    addTar(t, data, { origin: 'p.tar' });
    const f = t.get(long)!;
    expect(read(f)).toBe('AAA');
    expect(f.meta.mtime).toEqual({ sec: -2, nsec: 750_000_000 });
    expect(f.meta.atime).toEqual({ sec: 5, nsec: 1 });
    expect(f.meta.xattrs.get('user.bin')).toEqual(value);
    expect(Buffer.from(f.meta.xattrs.get('user.été')!).toString()).toBe('summer');
    const s = t.get('sym');
    expect(s?.kind === 'symlink' && Buffer.from(s.target).toString()).toBe(`/${'t'.repeat(300)}`);
  });

  it('GNU base-256 numbers, negative times, signed checksums, GNU long names', () => {
    const longName = `${'x'.repeat(150)}/${'y'.repeat(150)}`;
    const data = tar(
      member({ name: 'big-ids', magic: 'gnu', uid: 3_000_000_000, gid: 2 ** 32 - 1, mtime: -86_400, base256: ['uid', 'gid', 'mtime'] }, 'b'),
      member({ name: 'ÿsigned', magic: 'gnu', signedChecksum: true }, 's'),
      member({ name: '././@LongLink', type: 'L', magic: 'gnu' }, `${longName}\0`),
      member({ name: 'truncated-name', magic: 'gnu' }, 'long'),
      member({ name: '././@LongLink', type: 'K', magic: 'gnu' }, `${'z'.repeat(200)}\0`),
      member({ name: 'hard', type: '1', magic: 'gnu', linkname: 'short' }),
    );
    const t = new Tree({ time: T0 });
    // The hard link names a missing target: everything before it is in, then one error.
    const err = extimgError(() => addTar(t, data, { origin: 'gnu.tar' }));
    expect(err.code).toBe('ENOENT');
    expect(err.message).toMatch(/^gnu\.tar: hard: hard link to 'z{200}', which is not in the archive before it$/);
    expect(t.get('big-ids')?.meta).toMatchObject({ uid: 3_000_000_000, gid: 2 ** 32 - 1, mtime: { sec: -86_400, nsec: 0 } });
    expect(read(t.get('ÿsigned'))).toBe('s');
    expect(read(t.get(longName))).toBe('long');
  });

  it('hard links share the node; a link to a symlink links the symlink', () => {
    const data = tar(
      member({ name: 'dir/', type: '5', mode: 0o750 }),
      member({ name: 'dir/f', mode: 0o640 }, 'data'),
      member({ name: 'other/g', type: '1', linkname: './dir/f' }),
      member({ name: 'ln', type: '2', linkname: 'dir/f' }),
      member({ name: 'ln2', type: '1', linkname: 'ln' }),
    );
    const t = new Tree({ time: T0 });
    addTar(t, data, { origin: 'h.tar' });
    expect(t.get('other/g')).toBe(t.get('dir/f'));
    expect(t.get('ln2')).toBe(t.get('ln'));
    expect(t.get('dir')?.meta.mode).toBe(0o750);
  });

  it('directories merge and keep an existing symlink to a directory (merged /usr)', () => {
    const t = new Tree({ time: T0 });
    t.mkdir('usr/lib');
    t.symlink('lib', 'usr/lib');
    t.writeFile('usr/lib/old', 'old');
    const data = tar(member({ name: 'lib/', type: '5', mode: 0o700, mtime: 5 }), member({ name: 'lib/new' }, 'new'), member({ name: 'usr/', type: '5', mode: 0o711 }));
    addTar(t, data, { origin: 'm.tar' });
    expect(t.get('lib')?.kind).toBe('symlink');
    expect(read(t.get('usr/lib/new'))).toBe('new');
    expect(read(t.get('usr/lib/old'))).toBe('old');
    expect(t.get('usr/lib')?.meta.mode).toBe(0o755); // tar --keep-directory-symlink leaves the target alone
    expect(t.get('usr')?.meta.mode).toBe(0o711);
  });

  it('dest, owner and exclude (an excluded directory takes its contents; a link to an excluded file keeps the data)', () => {
    const data = tar(
      member({ name: './', type: '5', mode: 0o700 }),
      member({ name: './doc/', type: '5' }),
      member({ name: './doc/readme', uid: 5 }, 'r'),
      member({ name: './doc/sub/x' }, 'x'),
      member({ name: './keep', uid: 5 }, 'k'),
      member({ name: './keep-link', type: '1', linkname: './doc/readme' }),
    );
    const t = new Tree({ time: T0 });
    const seen: string[] = [];
    addTar(t, data, {
      origin: 'd.tar',
      dest: '/opt/pkg',
      owner: { uid: 1000, gid: 100 },
      exclude: (p) => {
        seen.push(p);
        return p === 'doc';
      },
    });
    expect(t.get('opt/pkg')?.meta.mode).toBe(0o700);
    expect(t.get('opt/pkg/doc')).toBeUndefined();
    expect(read(t.get('opt/pkg/keep-link'))).toBe('r');
    expect(t.get('opt/pkg/keep')?.meta).toMatchObject({ uid: 1000, gid: 100 });
    expect(seen).toEqual(['doc', 'keep', 'keep-link']);
  });

  it('no end marker at a block boundary is accepted with a warning; a lone zero block ends the archive', () => {
    const w: string[] = [];
    const t = new Tree({ time: T0 });
    addTar(t, member({ name: 'a' }, 'a'), { origin: 'n.tar', onWarning: (m) => w.push(m) });
    expect(read(t.get('a'))).toBe('a');
    expect(w.join('\n')).toMatch(/no end-of-archive marker/);
    const w2: string[] = [];
    addTar(t, concat(member({ name: 'b' }, 'b'), new Uint8Array(512), member({ name: 'c' }, 'c')), { origin: 'z.tar', onWarning: (m) => w2.push(m) });
    expect(t.get('c')).toBeUndefined();
    expect(w2.join('\n')).toMatch(/a lone zero block at byte 1024/);
  });

  it('readTar gives offsets, typeflags, names and owner names', () => {
    const data = tar(pax([['path', 'p'], ['uname', 'ünï']]), member({ name: 'x' }, 'xx'), member({ name: 'd/', type: '5' }));
    const entries = [...readTar(data, 'r.tar')];
    expect(entries.map((e) => [e.offset, e.start, e.typeflag, Buffer.from(e.name).toString(), e.kind, e.size, e.uname])).toEqual([
      [1024, 0, '0', 'p', 'file', 2, 'ünï'],
      [2048, 2048, '5', 'd/', 'dir', 0, ''],
    ]);
  });
});

describe('tar: hostile input gives one ExtimgError naming the input and where', () => {
  const good = tar(member({ name: 'etc/' , type: '5' }), member({ name: 'etc/passwd' }, 'root:x:0:0::/:/bin/sh\n'));

  it('truncated header', () => {
    const e = extimgError(() => addTar(new Tree(), good.subarray(0, 512 + 100), { origin: 'trunc.tar' }));
    expect(e.code).toBe('ECORRUPT');
    expect(e.message).toBe('trunc.tar: truncated header (100 of 512 bytes) at byte 512');
  });

  it('truncated data', () => {
    const e = extimgError(() => addTar(new Tree(), good.subarray(0, 1024 + 10), { origin: 'trunc.tar' }));
    expect(e.code).toBe('ECORRUPT');
    expect(e.message).toBe("trunc.tar: member data runs past the end of the archive (size 22, 10 bytes left) at byte 512 (entry 'etc/passwd')");
    expect(e.data).toMatchObject({ archive: 'trunc.tar', offset: 512, entry: 'etc/passwd' });
  });

  it('bad checksum', () => {
    const data = tar(member({ name: 'ok' }, 'x'), member({ name: 'evil', badChecksum: 1 }, 'y'));
    const e = extimgError(() => addTar(new Tree(), data, { origin: 'sum.tar' }));
    expect(e.code).toBe('ECORRUPT');
    expect(e.message).toMatch(/^sum\.tar: header checksum mismatch \(recorded 1, computed \d+\) at byte 1024 \(entry 'evil'\)$/);
  });

  it('a size field that lies: past the end, or into the next header', () => {
    const past = tar(member({ name: 'liar', size: 1 << 30 }, 'x'));
    const e = extimgError(() => addTar(new Tree(), past, { origin: 'lie.tar' }));
    expect(e.code).toBe('ECORRUPT');
    expect(e.message).toMatch(/^lie\.tar: member data runs past the end of the archive \(size 1073741824, 1536 bytes left\) at byte 0 \(entry 'liar'\)$/);
    const short = tar(member({ name: 'liar', size: 600 }, 'x'), member({ name: 'next' }, 'y'));
    const e2 = extimgError(() => addTar(new Tree(), short, { origin: 'lie.tar' }));
    expect(e2.code).toBe('ECORRUPT');
    expect(e2.message).toMatch(/^lie\.tar: .* at byte 1536/);
  });

  it('hard link to a missing target', () => {
    const e = extimgError(() => addTar(new Tree(), tar(member({ name: 'l', type: '1', linkname: 'nowhere' })), { origin: 'hl.tar' }));
    expect(e.code).toBe('ENOENT');
    expect(e.message).toBe("hl.tar: l: hard link to 'nowhere', which is not in the archive before it");
    expect(e.data).toMatchObject({ archive: 'hl.tar', entry: 'l', offset: 0 });
  });

  it('a name component over 255 bytes', () => {
    const name = `a/${'n'.repeat(256)}`;
    const e = extimgError(() => addTar(new Tree(), tar(pax([['path', name]]), member({ name: 'x' }, 'x')), { origin: 'long.tar' }));
    expect(e.code).toBe('ENAMETOOLONG');
    expect(e.message).toBe(`long.tar: ${name}: name is 256 bytes, ext allows at most 255`);
    expect(e.data).toMatchObject({ archive: 'long.tar', entry: name, offset: 1024 });
  });

  it("absolute and '..' names stay inside (dest too), with warnings", () => {
    const t = new Tree({ time: T0 });
    const w: string[] = [];
    const data = tar(
      member({ name: '/etc/abs' }, 'abs'),
      member({ name: '../../../../up' }, 'up'),
      member({ name: 'a/../../b/../../c' }, 'c'),
      member({ name: '..', type: '5', mode: 0o711 }),
    );
    addTar(t, data, { origin: 'dots.tar', dest: '/srv', onWarning: (m) => w.push(m) });
    expect(read(t.get('srv/etc/abs'))).toBe('abs');
    expect(read(t.get('srv/up'))).toBe('up');
    expect(read(t.get('srv/c'))).toBe('c');
    expect(t.get('srv')?.meta.mode).toBe(0o711);
    expect([...t.root.entries.keys()]).toEqual(['srv']);
    expect(w.join('\n')).toMatch(/removing leading '\/'/);
    expect(w.join('\n')).toMatch(/'\.\.' are resolved inside the image/);
  });

  it('a symlink, then a file through it, is refused: nothing lands outside dest', () => {
    const t = new Tree({ time: T0 });
    const data = tar(member({ name: 'evil', type: '2', linkname: '../../../../../etc' }), member({ name: 'evil/passwd' }, 'pwned'));
    const e = extimgError(() => addTar(t, data, { origin: 'sym.tar', dest: '/jail' }));
    expect(e.code).toBe('EINVAL');
    expect(e.message).toMatch(/^sym\.tar: evil\/passwd: goes through 'evil', a symlink to '\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/etc' made by this archive/);
    expect(t.get('etc/passwd')).toBeUndefined();
    // Same with an absolute target, and a hard link through one.
    const abs = tar(member({ name: 'abs', type: '2', linkname: '/' }), member({ name: 'abs/root-file' }, 'r'));
    expect(extimgError(() => addTar(new Tree({ time: T0 }), abs, { origin: 'abs.tar', dest: '/jail' })).code).toBe('EINVAL');
    const hl = tar(member({ name: 'l', type: '2', linkname: '/etc' }), member({ name: 'stolen', type: '1', linkname: 'l/shadow' }));
    const t2 = new Tree({ time: T0 });
    t2.writeFile('/etc/shadow', 's');
    expect(extimgError(() => addTar(t2, hl, { origin: 'hl.tar', dest: '/jail' })).code).toBe('EINVAL');
    // A relative symlink that stays inside is followed as usual (merged /usr).
    const ok = tar(member({ name: 'lib', type: '2', linkname: 'usr/lib' }), member({ name: 'lib/libc.so' }, 'c'));
    const t3 = new Tree({ time: T0 });
    addTar(t3, ok, { origin: 'ok.tar', dest: '/jail' });
    expect(read(t3.get('jail/usr/lib/libc.so'))).toBe('c');
  });

  it('not a tar at all', () => {
    const e = extimgError(() => addTar(new Tree(), new Uint8Array(2048).fill(0x7f), { origin: 'x.bin' }));
    expect(e.code).toBe('ECORRUPT');
    expect(e.message).toBe('x.bin: not a tar header (the checksum field is not a number) at byte 0');
  });

  it('a corrupt sparse map', () => {
    const data = tar(pax([['GNU.sparse.size', '100'], ['GNU.sparse.map', '50,10,40,5']]), member({ name: 's' }, 'x'.repeat(15)));
    const e = extimgError(() => addTar(new Tree(), data, { origin: 'sp.tar' }));
    expect(e.code).toBe('ECORRUPT');
    expect(e.message).toMatch(/^sp\.tar: sparse map entry 40\+5 overlaps, is unsorted or passes the size 100 at byte 1024 \(entry 's'\)$/);
  });

  it('an extended header with nothing after it', () => {
    const e = extimgError(() => addTar(new Tree(), tar(pax([['path', 'ghost']])), { origin: 'x.tar' }));
    expect(e.code).toBe('ECORRUPT');
    expect(e.message).toBe("x.tar: end of archive after an extended header, before its member at byte 1024 (entry 'ghost')");
  });

  it('keyToBytes round trip of a raw name through the tree', () => {
    const raw = Uint8Array.from([0x66, 0xff, 0x0a, 0x2e]);
    const t = new Tree({ time: T0 });
    addTar(t, tar(member({ name: raw }, 'raw')), { origin: 'raw.tar' });
    expect(read(t.get(keyToBytes('f\xff\n.')))).toBe('raw');
    expect(header({ name: 'x' }).length).toBe(512);
    expect(END.length).toBe(1024);
  });
});
