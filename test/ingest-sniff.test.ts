import * as fs from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { identifyDisk } from '../src/disk/identify.js';
import { openDisk } from '../src/disk/open.js';
import { MemoryAccess } from '../src/disk/random-access.js';
import { ExtimgError } from '../src/errors.js';
import { identifyExt } from '../src/ext/identify.js';
import { addArchive } from '../src/ingest/archive.js';
import { identifyImage, sniffArchive } from '../src/ingest/sniff.js';
import { buildToBuffer } from '../src/ext/write/build.js';
import { Tree } from '../src/tree/tree.js';
import { extimgErrorAsync, readBytes, run } from './helpers/archives.js';
import { missingTools, requireJudge } from './helpers/env.js';
import { workDir } from './helpers/image.js';
import { member, tar } from './helpers/tar-writer.js';

// Issue #11: a file that merely starts with zeros (an ext image: 1 KiB of boot block) was read
// as an empty tar and gave an empty image without a word. Images are recognised by content and
// refused by name; zeros are an empty tar only when nothing else follows; an input that adds
// nothing is said.

const work = workDir('ingest-sniff');
afterAll(() => work.cleanup());
const T0 = { sec: 1_000_000_000, nsec: 0 };

async function addWithWarnings(bytes: Uint8Array, origin = 'in'): Promise<{ tree: Tree; warnings: string[] }> {
  const tree = new Tree({ time: T0 });
  const warnings: string[] = [];
  await addArchive(tree, bytes, { origin, onWarning: (m) => warnings.push(m) });
  return { tree, warnings };
}

function readAll(tree: Tree, path: string): Uint8Array {
  const node = tree.get(path);
  if (node?.kind !== 'file') throw new Error(`${path}: not a file`);
  const out = new Uint8Array(node.content.size);
  const r = node.content.open();
  r.read(0, out);
  r.close();
  return out;
}

function entryNames(tree: Tree): string[] {
  return [...tree.walk()].map(([k]) => k).filter((k) => k !== '');
}

function extImage(type: 'ext2' | 'ext3'): Uint8Array {
  const t = new Tree({ time: T0 });
  t.writeFile('/etc/hostname', 'vm\n');
  return buildToBuffer(t, { type, timestamp: T0.sec }).bytes;
}

describe('images are recognised by content and read (issue 14), never taken for an empty tar', () => {
  it("extimg's own ext2 and ext3 images are read back, plain and gzip-compressed", async () => {
    for (const type of ['ext2', 'ext3'] as const) {
      const img = extImage(type);
      expect(identifyExt(img)).toBe(type);
      expect(sniffArchive(img)).toBeUndefined();
      for (const [bytes, origin] of [[img, 'old.img'], [new Uint8Array(gzipSync(img)), 'old.img.gz']] as const) {
        const { tree, warnings } = await addWithWarnings(bytes, origin);
        expect(warnings).toEqual([]);
        expect(entryNames(tree).sort()).toEqual(['etc', 'etc/hostname', 'lost+found']);
        expect(new TextDecoder().decode(readAll(tree, '/etc/hostname'))).toBe('vm\n');
      }
    }
  });

  it('images made by mke2fs -t ext2, ext3, ext4 are read (their lost+found is their one entry)', async (ctx) => {
    requireJudge(ctx, missingTools(['mke2fs']), 'mke2fs images');
    for (const type of ['ext2', 'ext3', 'ext4'] as const) {
      const path = join(work.dir, `mke2fs-${type}.img`);
      run('mke2fs', ['-q', '-F', '-t', type, path, '4M']);
      const bytes = readBytes(path);
      expect(identifyExt(bytes)).toBe(type);
      const { tree } = await addWithWarnings(bytes, path);
      expect(entryNames(tree)).toEqual(['lost+found']);
    }
  });

  it('a GPT disk made by sfdisk, an MBR disk, a qcow2 made by qemu-img: no filesystem in them is said by name', async (ctx) => {
    requireJudge(ctx, missingTools(['sfdisk', 'qemu-img']), 'disk images from sfdisk and qemu-img');
    const gpt = join(work.dir, 'gpt.img');
    const mbr = join(work.dir, 'mbr.img');
    for (const [file, label] of [[gpt, 'gpt'], [mbr, 'dos']] as const) {
      fs.writeFileSync(file, '');
      fs.truncateSync(file, 8 << 20);
      run('sfdisk', ['-q', file], { input: `label: ${label}\nstart=2048, type=${label === 'gpt' ? 'L' : '83'}\n` });
    }
    expect(identifyDisk(readBytes(gpt))).toEqual({ kind: 'gpt' });
    expect(identifyDisk(readBytes(mbr))).toEqual({ kind: 'mbr', partitions: 1 });
    expect((await extimgErrorAsync(() => addArchive(new Tree(), readBytes(gpt), { origin: 'gpt.img' }))).message).toMatch(
      /^gpt\.img: none of its 1 partition holds an ext filesystem \(1: Linux filesystem [0-9.]+ MiB\)$/,
    );
    expect((await extimgErrorAsync(() => addArchive(new Tree(), readBytes(mbr), { origin: 'mbr.img' }))).message).toMatch(
      /^mbr\.img: none of its 1 partition holds an ext filesystem \(1: Linux [0-9.]+ MiB\)$/,
    );
    const qcow = join(work.dir, 'disk.qcow2');
    run('qemu-img', ['create', '-q', '-f', 'qcow2', qcow, '64M']);
    expect((await extimgErrorAsync(() => addArchive(new Tree(), readBytes(qcow), { origin: 'disk.qcow2' }))).message).toBe(
      'disk.qcow2: a qcow2 disk image with neither a partition table nor an ext filesystem',
    );
  });

  it('other filesystem images are refused by name', async () => {
    const sq = new Uint8Array(64 << 10);
    sq.set(new TextEncoder().encode('hsqs'));
    expect((await extimgErrorAsync(() => addArchive(new Tree(), sq, { origin: 'root.sqfs' }))).message).toBe(
      'root.sqfs: a squashfs filesystem image; extimg reads ext2/3/4 filesystems, raw, partitioned or in qcow2',
    );
  });

  it('an ext filesystem whose boot block looks like an MBR (0x55AA and a partition entry) opens as the filesystem', async () => {
    const img = extImage('ext2').slice();
    img[446 + 4] = 0x83; // a plausible entry: type 0x83, start 2048, 100 sectors
    new DataView(img.buffer).setUint32(446 + 8, 2048, true);
    new DataView(img.buffer).setUint32(446 + 12, 100, true);
    img[510] = 0x55;
    img[511] = 0xaa;
    expect(identifyDisk(img)).toEqual({ kind: 'mbr', partitions: 1 });
    const disk = openDisk(new MemoryAccess(img), 'boot.img');
    expect([disk.table, disk.fsKind]).toEqual(['none', 'ext2']);
    const { tree } = await addWithWarnings(img, 'boot.img');
    expect(entryNames(tree).sort()).toEqual(['etc', 'etc/hostname', 'lost+found']);
  });

  it('an ext filesystem whose first sector ends in 0x55AA (a boot loader) is still the filesystem', () => {
    const img = extImage('ext2').slice();
    img[510] = 0x55;
    img[511] = 0xaa;
    expect(identifyImage(img)).toBe('an ext2 filesystem image');
  });

  it('a boot sector with implausible partition entries is no MBR disk', () => {
    const b = new Uint8Array(4096);
    b[510] = 0x55;
    b[511] = 0xaa;
    expect(identifyDisk(b)).toBeUndefined(); // no partition type set
    b[446 + 4] = 0x83;
    expect(identifyDisk(b)).toEqual({ kind: 'mbr', partitions: 1 });
    b[446] = 0x12; // boot indicator neither 0x00 nor 0x80
    expect(identifyDisk(b)).toBeUndefined();
  });
});

describe('zeros and empty archives', () => {
  it('a file of zeros is an empty tar, and the warning names it', async () => {
    const zeros = new Uint8Array(1 << 20);
    expect(sniffArchive(zeros)).toBe('tar');
    const { tree, warnings } = await addWithWarnings(zeros, 'zeros.bin');
    expect(entryNames(tree)).toEqual([]);
    expect(warnings).toEqual(['zeros.bin: no entries (1048576 zero bytes, read as an empty tar archive); it adds nothing']);
  });

  it('zeros followed by anything else are not a tar', async () => {
    const b = new Uint8Array(8192);
    b[4096] = 0x7f;
    expect(sniffArchive(b)).toBeUndefined();
    const e = await extimgErrorAsync(() => addArchive(new Tree(), b, { origin: 'odd.bin' }));
    expect(e.message).toBe(
      'odd.bin: not a tar, cpio, .deb, .rpm or pacman archive (starts with 4096 zero bytes, then 7f 00 00 00 at byte 4096 (zeros alone would be an empty tar))',
    );
  });

  it('a tar with data after its end-of-archive marker is refused, not cut short', async () => {
    const good = tar(member({ name: 'a' }, 'a'));
    const joined = new Uint8Array(good.length + 1024);
    joined.set(good);
    joined.set(tar(member({ name: 'b' }, 'b')).subarray(0, 1024), good.length);
    const e = await extimgErrorAsync(() => addArchive(new Tree(), joined, { origin: 'two.tar' }));
    expect(e.code).toBe('EFORMAT');
    expect(e.message).toMatch(/^two\.tar: data at byte \d+ after the tar end-of-archive marker \(two zero blocks at byte \d+\): not a tar archive, or several archives joined/);
  });

  it('an empty tar made by GNU tar, an empty cpio, a tar whose entries are all excluded', async () => {
    const empty = run('tar', ['-cf', '-', '--files-from', '/dev/null']);
    const r1 = await addWithWarnings(new Uint8Array(empty), 'empty.tar');
    expect(r1.warnings).toEqual([`empty.tar: no entries (${empty.length} zero bytes, read as an empty tar archive); it adds nothing`]);

    const cpio = run('cpio', ['-o', '-H', 'newc', '--quiet'], { input: '' });
    const r2 = await addWithWarnings(new Uint8Array(cpio), 'empty.cpio');
    expect(r2.warnings).toEqual(['empty.cpio: an empty cpio archive; it adds nothing']);

    const t = new Tree({ time: T0 });
    const warnings: string[] = [];
    await addArchive(t, tar(member({ name: 'doc/a' }, 'a'), member({ name: 'doc/b' }, 'b')), {
      origin: 'docs.tar',
      exclude: (p) => p.startsWith('doc'),
      onWarning: (m) => warnings.push(m),
    });
    expect(warnings).toEqual(['docs.tar: all 2 entries were excluded; it adds nothing']);

    // Something placed: no warning.
    const r3 = await addWithWarnings(tar(member({ name: 'x' }, 'x')), 'one.tar');
    expect(r3.warnings).toEqual([]);
  });
});

describe('fuzz: zero blocks sprinkled into a tar never lose entries silently', () => {
  const members = ['etc/passwd', 'etc/group', 'bin/sh', 'usr/lib/libc.so', 'var/log/x'];
  const base = tar(...members.map((name, i) => member({ name }, 'x'.repeat(100 + i * 700))));
  it('inserting or overwriting 512-byte zero blocks: an error, a warning, or every entry', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ at: fc.nat({ max: base.length / 512 }), count: fc.integer({ min: 1, max: 3 }), overwrite: fc.boolean() }), { minLength: 1, maxLength: 3 }),
        async (edits) => {
          let b = base;
          for (const { at, count, overwrite } of edits) {
            const pos = Math.min(at, b.length / 512) * 512;
            const zeros = new Uint8Array(512 * count);
            if (overwrite) {
              b = b.slice();
              b.set(zeros.subarray(0, Math.min(zeros.length, b.length - pos)), pos);
            } else {
              const nb = new Uint8Array(b.length + zeros.length);
              nb.set(b.subarray(0, pos));
              nb.set(b.subarray(pos), pos + zeros.length);
              b = nb;
            }
          }
          let result: { tree: Tree; warnings: string[] };
          try {
            result = await addWithWarnings(b, 'fuzz.tar');
          } catch (e) {
            expect(e).toBeInstanceOf(ExtimgError);
            return;
          }
          if (result.warnings.length > 0) return;
          const have = new Set(entryNames(result.tree));
          for (const m of members) expect(have.has(m), `${m} silently missing`).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('1 KiB of zeros in front of any bytes is never a silent empty image', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 4096 }), async (tail) => {
        const b = new Uint8Array(1024 + tail.length);
        b.set(tail, 1024);
        try {
          const r = await addWithWarnings(b, 'z');
          // Only zeros may read as an (announced) empty archive.
          expect(r.warnings.length).toBeGreaterThan(0);
          expect(tail.every((x) => x === 0)).toBe(true);
        } catch (e) {
          expect(e).toBeInstanceOf(ExtimgError);
        }
      }),
      { numRuns: 200 },
    );
  });
});
