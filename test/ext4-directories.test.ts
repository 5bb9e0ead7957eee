import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BuildOptions } from '../src/ext/options.js';
import { BytesContent } from '../src/tree/content.js';
import { Tree } from '../src/tree/tree.js';
import { runDebugfs } from './helpers/debugfs.js';
import { e2fsck } from './helpers/e2fsck.js';
import { missingTools, mountAvailable, requireJudge } from './helpers/env.js';
import { breathe, buildImageFile, workDir } from './helpers/image.js';

// Issue #12: every directory over one block is an htree (ext3 and ext4), which debugfs reads as
// one and the kernel keeps writing into; past 65,000 subdirectories dir_nlink takes over.

const work = workDir('ext4-dirs');
afterAll(() => work.cleanup());
const T = { sec: 1_700_000_000, nsec: 0 };

function bigDirTree(files: number, nameLen = 12): Tree {
  const t = new Tree({ time: T });
  t.mkdir('/big');
  const pad = 'x'.repeat(Math.max(0, nameLen - 8));
  for (let i = 0; i < files; i++) t.writeFile(`/big/${pad}${i.toString(16).padStart(8, '0')}`, new BytesContent(new Uint8Array(0)));
  t.writeFile('/small', 'x');
  return t;
}

/** The names `htree_dump` lists in the leaves, and its index summary. */
function htreeDump(image: string, dir: string): { names: Set<string>; levels: number; ok: boolean; output: string } {
  const r = runDebugfs(image, [`htree_dump ${dir}`]);
  const out = r.outputs[0]!;
  const names = new Set<string>();
  // Leaf entries: "12 0x0abc-1234 (20) name", one a line, except that an entry the kernel
  // emptied (inode 0, first in its block) shares its line with the next one.
  for (const m of out.matchAll(/(\d+) 0x[0-9a-f]+-[0-9a-f]+ \(\d+\) (\S*)/g)) if (m[1] !== '0') names.add(m[2]!);
  const lv = /Indirect levels: (\d+)/.exec(out);
  return { names, levels: lv ? Number(lv[1]) : -1, ok: /Root node dump:/.test(out), output: out };
}

describe('hash-indexed directories', () => {
  const cases: Array<[string, BuildOptions, number, number]> = [
    ['ext4 4 KiB, one level', { type: 'ext4', blockSize: 4096 }, 20_000, 0],
    ['ext4 1 KiB, two levels', { type: 'ext4', blockSize: 1024 }, 60_000, 1],
    ['ext3 1 KiB, two levels', { type: 'ext3', blockSize: 1024 }, 60_000, 1],
    ['ext4 2 KiB without metadata_csum', { type: 'ext4', blockSize: 2048, features: ['^metadata_csum'] }, 30_000, 1],
  ];
  for (const [label, options, files, levels] of cases) {
    it(`${label}: ${files} entries, read by htree_dump, e2fsck-clean`, async (ctx) => {
      requireJudge(ctx, missingTools(['e2fsck', 'debugfs']), 'htree oracle');
      await breathe();
      const image = join(work.dir, `${label.replace(/\W+/g, '_')}.img`);
      buildImageFile(bigDirTree(files), image, { ...options, timestamp: T.sec }, false);
      const fsck = e2fsck(image);
      expect(fsck.code, fsck.output).toBe(0);
      const stat = runDebugfs(image, ['stat /big']).outputs[0]!;
      expect(stat).toMatch(/Flags: 0x[0-9a-f]*1[0-9a-f]{3}\b/); // EXT4_INDEX_FL (0x1000)
      const dump = htreeDump(image, '/big');
      expect(dump.ok, dump.output.slice(0, 400)).toBe(true);
      expect(dump.levels).toBe(levels);
      expect(dump.names.size).toBe(files);
      // One-block directories stay linear.
      expect(runDebugfs(image, ['stat /']).outputs[0]).not.toMatch(/Flags: 0x[0-9a-f]*1[0-9a-f]{3}\b/);
    });
  }

  it('ext2 keeps linear directories (its driver does not maintain indexes)', (ctx) => {
    requireJudge(ctx, missingTools(['e2fsck', 'debugfs']), 'htree oracle');
    const image = join(work.dir, 'ext2-linear.img');
    buildImageFile(bigDirTree(3000), image, { type: 'ext2', timestamp: T.sec }, true);
    expect(e2fsck(image).code).toBe(0);
    expect(runDebugfs(image, ['stat /big']).outputs[0]).toMatch(/Flags: 0x0\b/);
  });

  it('the kernel adds and removes entries in an htree mounted read-write; e2fsck stays clean', async (ctx) => {
    requireJudge(ctx, missingTools(['e2fsck', 'debugfs']), 'htree oracle');
    if (!mountAvailable('read-write kernel mount of an htree')) return;
    for (const type of ['ext4', 'ext3'] as const) {
      await breathe();
      const image = join(work.dir, `rw-${type}.img`);
      // Room for the kernel's new entries and files.
      buildImageFile(bigDirTree(8000), image, { type, blockSize: 1024, size: 64 << 20, timestamp: T.sec }, false);
      const mnt = mkdtempSync(join(tmpdir(), 'extimg-rw-'));
      const m = spawnSync('mount', ['-o', 'loop', '-t', 'ext4', image, mnt], { encoding: 'utf8' });
      expect(m.status, m.stderr).toBe(0);
      try {
        for (let i = 0; i < 3000; i++) writeFileSync(join(mnt, 'big', `new-${i}-${'y'.repeat(i % 40)}`), `${i}\n`);
        for (let i = 0; i < 8000; i += 7) spawnSync('rm', ['-f', join(mnt, 'big', `xxxx${i.toString(16).padStart(8, '0')}`)]);
        expect(readdirSync(join(mnt, 'big')).length).toBe(8000 - Math.ceil(8000 / 7) + 3000);
      } finally {
        const u = spawnSync('umount', [mnt], { encoding: 'utf8' });
        expect(u.status, u.stderr).toBe(0);
        rmdirSync(mnt);
      }
      const fsck = e2fsck(image);
      expect(fsck.code, `${type}: ${fsck.output}`).toBe(0);
      const dump = htreeDump(image, '/big');
      expect(dump.names.has('new-2999-' + 'y'.repeat(2999 % 40))).toBe(true);
      expect(dump.names.size).toBe(8000 - Math.ceil(8000 / 7) + 3000);
    }
  });
});

describe('dir_nlink', () => {
  it('a directory with 70,000 subdirectories: link count 1 on ext4, refused without dir_nlink', async (ctx) => {
    requireJudge(ctx, missingTools(['e2fsck', 'debugfs']), 'dir_nlink oracle');
    const t = new Tree({ time: T });
    t.mkdir('/many');
    for (let i = 0; i < 70_000; i++) t.mkdir(`/many/d${i}`);
    const image = join(work.dir, 'nlink.img');
    await breathe();
    buildImageFile(t, image, { type: 'ext4', blockSize: 4096, timestamp: T.sec }, false);
    const fsck = e2fsck(image);
    expect(fsck.code, fsck.output).toBe(0);
    expect(runDebugfs(image, ['stat /many']).outputs[0]).toMatch(/Links: 1\b/);
    expect(() => buildImageFile(t, join(work.dir, 'nlink3.img'), { type: 'ext3', blockSize: 4096, timestamp: T.sec }, false)).toThrow(
      /70000 subdirectories exceed the limit of 64998 without the dir_nlink feature/,
    );
  });
});
