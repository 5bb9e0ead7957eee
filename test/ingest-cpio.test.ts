import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addCpio, readCpio, writeNewc, type CpioEntry } from '../src/ingest/cpio.js';
import type { FileNode, Node } from '../src/tree/node.js';
import { Tree } from '../src/tree/tree.js';
import { buildAndRead, expectImageMatchesDir, extimgError, isRoot, makeSourceTree, readBytes, run, type SourceOptions } from './helpers/archives.js';
import { missingTools, requireJudge } from './helpers/env.js';
import { workDir } from './helpers/image.js';

const work = workDir('ingest-cpio');
afterAll(() => work.cleanup());

const T0 = { sec: 1_000_000_000, nsec: 0 };
const enc = new TextEncoder();
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

/** GNU cpio writes the archive (`find . | cpio -o -H FORMAT`) and extracts it (`cpio -idm`) as the reference. */
function makeArchive(format: string, src: SourceOptions): { dir: string; archive: string; refDir: string } {
  const dir = join(work.dir, `${format}-${counter++}`);
  const srcDir = join(dir, 'src');
  const refDir = join(dir, 'ref');
  fs.mkdirSync(srcDir, { recursive: true });
  fs.mkdirSync(refDir);
  makeSourceTree(srcDir, src);
  const archive = join(dir, 'a.cpio');
  const list = run('find', ['.', '-print0'], { cwd: srcDir });
  fs.writeFileSync(archive, run('cpio', ['-o', '-0', '--quiet', '-H', format], { cwd: srcDir, input: list }));
  run('cpio', ['-i', '-d', '-m', '--quiet', '--no-absolute-filenames', '-F', archive], { cwd: refDir });
  return { dir, archive, refDir };
}

function cpioTool(ctx: { skip(note?: string): void }): void {
  requireJudge(ctx, missingTools(['e2fsck', 'debugfs', 'cpio']), 'cpio oracle (apt: cpio)');
}

describe('cpio: GNU cpio archives read back like cpio -idm extracts them', () => {
  const cases: Array<[string, SourceOptions]> = [
    ['newc', { devices: isRoot, socket: true, owners: isRoot ? 'big' : undefined, awkwardNames: true, sparse: true }],
    ['crc', { devices: isRoot, socket: true, owners: isRoot ? 'big' : undefined, awkwardNames: true }],
    ['odc', { devices: isRoot ? 'small' : undefined, socket: true, owners: isRoot ? 'small' : undefined, awkwardNames: true }],
    ['bin', { devices: isRoot ? 'small' : undefined, socket: true, owners: isRoot ? 'tiny' : undefined, awkwardNames: true }],
  ];
  for (const [format, src] of cases) {
    it(`-H ${format}`, (ctx) => {
      cpioTool(ctx);
      const { dir, archive, refDir } = makeArchive(format, src);
      const tree = new Tree({ time: T0 });
      const data = readBytes(archive);
      const warnings: string[] = [];
      addCpio(tree, data, { origin: archive, onWarning: (w) => warnings.push(w) });
      expect(warnings).toEqual([]);
      expect(tree.get('hl-b')).toBe(tree.get('hl-a'));
      expect(tree.get('etc/sub/hl-c')).toBe(tree.get('hl-a'));
      expect(read(tree.get('hl-a'))).toBe('shared\n');
      expect(read(tree.get('usr/big-link.bin')).length).toBe(1 << 20);
      const { image } = buildAndRead(tree, dir, format);
      // GNU cpio restores no symlink times, and sets a directory's time before its contents change it.
      expectImageMatchesDir(image, refDir, `cpio -H ${format}`, { symlinkTimes: false, dirTimes: false });
      expect([...readCpio(data, archive)].every((e) => e.format === format)).toBe(true);
    });
  }

  it('readCpio + writeNewc give back the bytes of a GNU cpio newc archive', (ctx) => {
    cpioTool(ctx);
    const { archive } = makeArchive('newc', { awkwardNames: true });
    const data = readBytes(archive);
    const entries = [...readCpio(data, archive)];
    const last = entries[entries.length - 1]!;
    expect(last.trailer).toBe(true);
    const again = writeNewc(entries);
    expect(Buffer.from(again).equals(Buffer.from(data.subarray(0, last.end)))).toBe(true);
    // GNU cpio pads to 512-byte blocks with zeros after the trailer.
    expect(data.subarray(last.end).every((b) => b === 0)).toBe(true);
  });

  it('writeNewc output reads back with GNU cpio, UTF-8 and raw names intact', (ctx) => {
    cpioTool(ctx);
    const dir = join(work.dir, `write-${counter++}`);
    fs.mkdirSync(dir);
    const raw = Uint8Array.from([0x62, 0x61, 0x64, 0xff, 0xfe]);
    const bytes = writeNewc([
      { name: 'd', mode: 0o40755, mtime: 1_000_000 },
      { name: 'd/café.txt', mode: 0o100640, uid: 0, gid: 0, mtime: 2_000_000, data: enc.encode('naïve\n') },
      { name: raw, mode: 0o100600, data: enc.encode('raw') },
      { name: 'd/link', mode: 0o120777, data: enc.encode('café.txt') },
    ]);
    const archive = join(dir, 'w.cpio');
    fs.writeFileSync(archive, bytes);
    const listing = run('cpio', ['-t', '--quiet', '-F', archive]);
    expect(listing.equals(Buffer.concat([Buffer.from('d\nd/café.txt\n'), Buffer.from(raw), Buffer.from('\nd/link\n')]))).toBe(true);
    const out = join(dir, 'x');
    fs.mkdirSync(out);
    run('cpio', ['-i', '-d', '-m', '--quiet', '-F', archive], { cwd: out });
    expect(fs.readFileSync(join(out, 'd', 'café.txt'), 'utf8')).toBe('naïve\n');
    expect(fs.statSync(join(out, 'd', 'café.txt')).mtimeMs).toBe(2_000_000_000);
    expect(fs.readlinkSync(join(out, 'd', 'link'))).toBe('café.txt');
    expect(fs.readFileSync(Buffer.concat([Buffer.from(`${out}/`), Buffer.from(raw)]), 'latin1')).toBe('raw');
  });
});

describe('cpio: format details', () => {
  it('writeNewc: 110-byte header, namesize counts bytes with the NUL, padding to 4, TRAILER!!! last', () => {
    const out = writeNewc([{ name: 'é', mode: 0o100644, data: enc.encode('abcde'), ino: 5, mtime: 0x1234 }]);
    const text = Buffer.from(out).toString('latin1');
    expect(text.slice(0, 6)).toBe('070701');
    expect(text.slice(6, 14)).toBe('00000005');
    expect(text.slice(38, 46)).toBe('00000001'); // nlink
    expect(text.slice(94, 102)).toBe('00000003'); // namesize: 2 bytes of UTF-8 + NUL
    expect(text.slice(54, 62)).toBe('00000005'); // filesize
    expect(out.length % 4).toBe(0);
    const entries = [...readCpio(out, 'w')];
    expect(entries.map((e) => [Buffer.from(e.name).toString(), e.dataOffset % 4, e.data.length, e.trailer])).toEqual([
      ['é', 0, 5, false],
      ['TRAILER!!!', 0, 0, true],
    ]);
  });

  it('concatenated archives with zero padding: later entries replace earlier ones; links do not cross archives', () => {
    const a = writeNewc([
      { name: 'etc', mode: 0o40755 },
      { name: 'etc/conf', mode: 0o100644, data: enc.encode('first'), ino: 9, nlink: 2 },
      { name: 'etc/conf2', mode: 0o100644, data: enc.encode('first'), ino: 9, nlink: 2 },
    ]);
    const b = writeNewc([{ name: 'etc/conf', mode: 0o100600, data: enc.encode('second'), ino: 9, nlink: 2 }, { name: 'etc/other', mode: 0o100644, ino: 9, nlink: 2 }]);
    const data = new Uint8Array(a.length + 512 + b.length);
    data.set(a);
    data.set(b, a.length + 512);
    const t = new Tree({ time: T0 });
    addCpio(t, data, { origin: 'initrd' });
    expect(read(t.get('etc/conf'))).toBe('second');
    expect(read(t.get('etc/conf2'))).toBe('first');
    expect(t.get('etc/other')).toBe(t.get('etc/conf'));
    const it = readCpio(data, 'initrd');
    let r = it.next();
    let n = 0;
    while (!r.done) {
      n++;
      r = it.next();
    }
    expect([n, r.value]).toEqual([7, data.length]);
  });

  it('hard link data on the first name (odc style) or the last (newc style)', () => {
    const first = writeNewc([
      { name: 'a', mode: 0o100644, ino: 3, nlink: 2, data: enc.encode('data') },
      { name: 'b', mode: 0o100644, ino: 3, nlink: 2 },
    ]);
    const last = writeNewc([
      { name: 'a', mode: 0o100644, ino: 3, nlink: 2 },
      { name: 'b', mode: 0o100644, ino: 3, nlink: 2, data: enc.encode('data') },
    ]);
    for (const data of [first, last]) {
      const t = new Tree({ time: T0 });
      addCpio(t, data, { origin: 'l.cpio' });
      expect(t.get('a')).toBe(t.get('b'));
      expect(read(t.get('a'))).toBe('data');
    }
  });

  it('stops after a trailer at bytes that are not cpio (an initramfs goes on compressed) and says where', () => {
    const a = writeNewc([{ name: 'x', mode: 0o100644, data: enc.encode('x') }]);
    const data = new Uint8Array(a.length + 8 + 4);
    data.set(a);
    data.set([0x1f, 0x8b, 8, 0], a.length + 8);
    const it = readCpio(data, 'i');
    let r = it.next();
    while (!r.done) r = it.next();
    expect(r.value).toBe(a.length + 8);
    const w: string[] = [];
    addCpio(new Tree(), data, { origin: 'i', onWarning: (m) => w.push(m) });
    expect(w).toEqual([`i: 4 bytes after the cpio trailer at byte ${a.length + 8} ignored`]);
  });

  it('device numbers, FIFOs, sockets, symlink targets as data, "." as the top directory', () => {
    const data = writeNewc([
      { name: '.', mode: 0o40700, mtime: 77 },
      { name: 'dev/sda', mode: 0o60660, rdevmajor: 8, rdevminor: 0 },
      { name: 'dev/big', mode: 0o20600, rdevmajor: 4095, rdevminor: 1048575 },
      { name: 'run/fifo', mode: 0o10644 },
      { name: 'run/sock', mode: 0o140755 },
      { name: 'lnk', mode: 0o120777, data: enc.encode('/dev/sda') },
    ]);
    const t = new Tree({ time: T0 });
    addCpio(t, data, { origin: 'd.cpio' });
    expect(t.root.meta).toMatchObject({ mode: 0o700, mtime: { sec: 77, nsec: 0 } });
    expect(t.get('dev/sda')).toMatchObject({ kind: 'blk', major: 8, minor: 0, meta: { mode: 0o660 } });
    expect(t.get('dev/big')).toMatchObject({ kind: 'chr', major: 4095, minor: 1048575 });
    expect(t.get('run/fifo')?.kind).toBe('fifo');
    expect(t.get('run/sock')?.kind).toBe('socket');
    const l = t.get('lnk');
    expect(l?.kind === 'symlink' && Buffer.from(l.target).toString()).toBe('/dev/sda');
  });
});

describe('cpio: hostile input gives one ExtimgError naming the input and where', () => {
  const good = writeNewc([
    { name: 'etc', mode: 0o40755 },
    { name: 'etc/passwd', mode: 0o100644, data: enc.encode('root:x:0:0::/:/bin/sh\n') },
  ]);

  it('truncated header', () => {
    const e = extimgError(() => addCpio(new Tree(), good.subarray(0, 116 + 50), { origin: 't.cpio' }));
    expect(e.code).toBe('ECORRUPT');
    expect(e.message).toBe('t.cpio: truncated cpio header (50 of 110 bytes) at byte 116');
  });

  it('truncated data', () => {
    const e = extimgError(() => addCpio(new Tree(), good.subarray(0, 116 + 124 + 5), { origin: 't.cpio' }));
    expect(e.code).toBe('ECORRUPT');
    expect(e.message).toBe("t.cpio: entry data runs past the end of the archive (size 22, 5 bytes left) at byte 116 (entry 'etc/passwd')");
  });

  it('crc checksum mismatch', () => {
    const data = Buffer.from(writeNewc([{ name: 'f', mode: 0o100644, data: enc.encode('abc') }]));
    data.write('070702', 0, 'latin1');
    data.write('00000010', 102, 'latin1'); // check
    const e = extimgError(() => addCpio(new Tree(), new Uint8Array(data), { origin: 'c.cpio' }));
    expect(e.code).toBe('ECORRUPT');
    expect(e.message).toBe("c.cpio: cpio crc checksum mismatch (recorded 16, computed 294) at byte 0 (entry 'f')");
    data.write('00000126', 102, 'latin1');
    addCpio(new Tree(), new Uint8Array(data), { origin: 'c.cpio' });
  });

  it('a size field that lies', () => {
    const data = Buffer.from(good);
    data.write('7fffffff', 116 + 54, 'latin1');
    const e = extimgError(() => addCpio(new Tree(), new Uint8Array(data), { origin: 'lie.cpio' }));
    expect(e.code).toBe('ECORRUPT');
    expect(e.message).toMatch(/^lie\.cpio: entry data runs past the end of the archive \(size 2147483647, \d+ bytes left\) at byte 116 \(entry 'etc\/passwd'\)$/);
    const small = Buffer.from(good);
    small.write('00000002', 116 + 54, 'latin1');
    const e2 = extimgError(() => addCpio(new Tree(), new Uint8Array(small), { origin: 'lie.cpio' }));
    expect(e2.message).toBe('lie.cpio: no cpio header where one should start at byte 244');
  });

  it('a bad header field', () => {
    const data = Buffer.from(good);
    data.write('zz', 116 + 14, 'latin1');
    const e = extimgError(() => addCpio(new Tree(), new Uint8Array(data), { origin: 'h.cpio' }));
    expect(e.message).toBe('h.cpio: cpio header field mode is not hexadecimal at byte 116');
  });

  it('a name component over 255 bytes', () => {
    const name = `d/${'n'.repeat(300)}`;
    const e = extimgError(() => addCpio(new Tree(), writeNewc([{ name, mode: 0o100644 }]), { origin: 'n.cpio' }));
    expect(e.code).toBe('ENAMETOOLONG');
    expect(e.message).toBe(`n.cpio: ${name}: name is 300 bytes, ext allows at most 255`);
    expect(e.data).toMatchObject({ archive: 'n.cpio', entry: name, offset: 0 });
  });

  it("absolute and '..' names stay inside; a file through the archive's own escaping symlink is refused", () => {
    const t = new Tree({ time: T0 });
    addCpio(
      t,
      writeNewc([
        { name: '/abs', mode: 0o100644, data: enc.encode('a') },
        { name: '../../up', mode: 0o100644, data: enc.encode('u') },
      ]),
      { origin: 'e.cpio', dest: '/in' },
    );
    expect(read(t.get('in/abs'))).toBe('a');
    expect(read(t.get('in/up'))).toBe('u');
    expect([...t.root.entries.keys()].sort()).toEqual(['in']);
    const esc = writeNewc([
      { name: 'esc', mode: 0o120777, data: enc.encode('../../../../tmp') },
      { name: 'esc/x', mode: 0o100644, data: enc.encode('x') },
    ]);
    const e = extimgError(() => addCpio(new Tree({ time: T0 }), esc, { origin: 'esc.cpio', dest: '/in' }));
    expect(e.code).toBe('EINVAL');
    expect(e.message).toMatch(/^esc\.cpio: esc\/x: goes through 'esc'/);
  });

  it('not a cpio archive', () => {
    const e = extimgError(() => addCpio(new Tree(), enc.encode('#!/bin/sh\necho hi\n'), { origin: 's.sh' }));
    expect(e.code).toBe('ECORRUPT');
    expect(e.message).toBe('s.sh: not a cpio archive (no cpio magic) at byte 0');
  });

  it('writeNewc refuses fields over 32 bits', () => {
    const e = extimgError(() => writeNewc([{ name: 'x', mode: 0o100644, uid: 2 ** 32 }]));
    expect(e.code).toBe('EINVAL');
  });

  it('entries carry offsets', () => {
    const entries: CpioEntry[] = [...readCpio(good, 'g')];
    expect(entries.map((e) => [e.offset, e.dataOffset, e.end])).toEqual([
      [0, 116, 116],
      [116, 240, 264],
      [264, 388, 388],
    ]);
  });
});
