import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildToBuffer } from '../src/ext/write/build.js';
import { addHostDirectory } from '../src/ingest/hostdir.js';
import { Tree } from '../src/tree/tree.js';
import { runDebugfs } from './helpers/debugfs.js';
import { dumpe2fs, e2fsck } from './helpers/e2fsck.js';
import { IN_CI, judgeAvailable, missingTools, mountAvailable, requireJudge } from './helpers/env.js';
import { breathe, buildImageFile, workDir } from './helpers/image.js';
import { awkwardTree } from './helpers/trees.js';

// Issue #12's "done means" for the e2fsprogs tools and the kernel: tune2fs -l and dumpe2fs -h
// read the features; resize2fs grows the image; after the kernel wrote to it, e2fsck -fn is
// still clean; a --size 20T image of a small tree is valid and sparse; two reproducible builds
// are the same bytes.

const work = workDir('ext4-tools');
afterAll(() => work.cleanup());
const T = 1_700_000_000;
const sample = (): Tree => {
  const t = new Tree({ time: { sec: T, nsec: 0 } });
  addHostDirectory(t, join(import.meta.dirname, '..', 'fixtures', 'sample-root'), { owner: { uid: 0, gid: 0 } });
  return t;
};

function run(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('ext4 and the e2fsprogs tools', () => {
  it('tune2fs -l and dumpe2fs -h list the features mke2fs -t ext4 sets', (ctx) => {
    requireJudge(ctx, missingTools(['tune2fs', 'dumpe2fs', 'mke2fs']), 'tune2fs');
    const ours = join(work.dir, 'features.img');
    buildImageFile(sample(), ours, { type: 'ext4', size: 64 << 20, timestamp: T }, true);
    const ref = join(work.dir, 'mke2fs.img');
    writeFileSync(ref, '');
    truncateSync(ref, 64 << 20);
    expect(run('mke2fs', ['-q', '-F', '-t', 'ext4', ref]).status).toBe(0);
    const features = (img: string): string => /Filesystem features:\s+(.*)/.exec(run('tune2fs', ['-l', img]).out)![1]!.trim();
    expect(features(ours)).toBe(features(ref));
    const sb = dumpe2fs(ours);
    for (const [k, v] of [
      ['Group descriptor size', '64'],
      ['Flex block group size', '16'],
      ['Checksum type', 'crc32c'],
      ['Required extra isize', '32'],
      ['Default directory hash', 'half_md4'],
      ['Filesystem state', 'clean'],
    ]) expect([k, sb.fields.get(k!)]).toEqual([k, v]);
  });

  it('resize2fs grows an ext4 and an ext3 image; e2fsck -fn is clean after', (ctx) => {
    requireJudge(ctx, missingTools(['resize2fs', 'e2fsck']), 'resize2fs');
    for (const type of ['ext4', 'ext3'] as const) {
      const img = join(work.dir, `grow-${type}.img`);
      buildImageFile(awkwardTree({ blockSize: 4096, bigDir: 2000 }), img, { type, blockSize: 4096, timestamp: T }, true);
      const before = statSync(img).size;
      truncateSync(img, before + (600 << 20));
      const r = run('resize2fs', [img]);
      expect(r.status, r.out).toBe(0);
      const fsck = e2fsck(img);
      expect(fsck.code, `${type} after resize2fs: ${fsck.output}`).toBe(0);
      expect(fsck.totalBlocks! * 4096).toBeGreaterThan(before + (500 << 20));
    }
  });

  it('the kernel writes to a mounted ext4 image: e2fsck -fn and tune2fs stay clean', async (ctx) => {
    requireJudge(ctx, missingTools(['e2fsck', 'tune2fs']), 'kernel read-write');
    if (!mountAvailable('read-write kernel mount')) return;
    await breathe();
    for (const blockSize of [1024, 4096] as const) {
      const img = join(work.dir, `rw-${blockSize}.img`);
      buildImageFile(awkwardTree({ blockSize, bigDir: 1500 }), img, { type: 'ext4', blockSize, size: 96 << 20, timestamp: T }, false);
      const mnt = mkdtempSync(join(tmpdir(), 'extimg-rw4-'));
      const m = run('mount', ['-o', 'loop', '-t', 'ext4', img, mnt]);
      expect(m.status, m.out).toBe(0);
      try {
        // New files (some large, through the extent code), a deep tree, deletions, appends,
        // a rename across directories, xattrs.
        writeFileSync(join(mnt, 'new-big'), new Uint8Array(5 << 20).fill(7));
        for (let i = 0; i < 200; i++) writeFileSync(join(mnt, 'bigdir', `k${i}`), `${i}`);
        expect(run('mkdir', ['-p', join(mnt, 'a/b/c/d')]).status).toBe(0);
        expect(run('sh', ['-c', `rm -rf '${mnt}/deep' && mv '${mnt}/new-big' '${mnt}/a/b/' && dd if=/dev/urandom bs=1k count=300 >> '${mnt}/a/b/new-big' 2>/dev/null`]).status).toBe(0);
        run('setfattr', ['-n', 'user.k', '-v', 'v', join(mnt, 'a')]);
        expect(run('sync', []).status).toBe(0);
      } finally {
        const u = run('umount', [mnt]);
        expect(u.status, u.out).toBe(0);
        rmdirSync(mnt);
      }
      const fsck = e2fsck(img);
      expect(fsck.code, `${blockSize}: ${fsck.output}`).toBe(0);
      expect(/Filesystem state:\s+(\S+)/.exec(run('tune2fs', ['-l', img]).out)![1]).toBe('clean');
      expect(runDebugfs(img, ['stat /a/b/new-big']).outputs[0]).toMatch(/Size: 5550080\b/);
    }
  });

  it('a --size 20T image of a small tree is sparse, e2fsck-clean and mountable', async (ctx) => {
    requireJudge(ctx, missingTools(['e2fsck', 'dumpe2fs']), '20 TiB image');
    // Host ext4 caps a file at 16 TiB; tmpfs (/dev/shm) holds a sparse 20 TiB file.
    const dir = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/extimg-20t-') : undefined;
    if (!dir) {
      judgeAvailable('no /dev/shm (tmpfs) to hold a 20 TiB sparse file (ext4 hosts cap files at 16 TiB)', '20 TiB image');
      return;
    }
    const img = join(dir, 'big.img');
    try {
      await breathe();
      const r = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'dist', 'cli', 'main.js'), 'build', '-q', '-t', 'ext4', '--size', '20T', '-o', img, join(import.meta.dirname, '..', 'fixtures', 'sample-root')], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const st = statSync(img);
      expect(st.size).toBe(20 * 2 ** 40);
      expect(st.blocks * 512).toBeLessThan(400 << 20); // metadata only: GDT copies, flex tables
      const sb = dumpe2fs(img);
      expect(sb.blockCount).toBe(5_368_709_120);
      expect(sb.features).toContain('64bit');
      const fsck = e2fsck(img);
      expect(fsck.code, fsck.output).toBe(0);
      if (mountAvailable('kernel mount of a 20 TiB image')) {
        const mnt = mkdtempSync(join(tmpdir(), 'extimg-20t-mnt-'));
        try {
          expect(run('mount', ['-o', 'loop,ro', img, mnt]).status).toBe(0);
          expect(readFileSync(join(mnt, 'etc', 'hostname'), 'utf8').length).toBeGreaterThan(0);
        } finally {
          run('umount', [mnt]);
          rmdirSync(mnt);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('two reproducible ext4 builds are the same bytes; a different timestamp is not', () => {
    const a = buildToBuffer(awkwardTree({ blockSize: 1024, bigDir: 3000 }), { type: 'ext4', timestamp: T }).bytes;
    const b = buildToBuffer(awkwardTree({ blockSize: 1024, bigDir: 3000 }), { type: 'ext4', timestamp: T }).bytes;
    expect(Buffer.compare(a, b)).toBe(0);
    const c = buildToBuffer(awkwardTree({ blockSize: 1024, bigDir: 3000 }), { type: 'ext4', timestamp: T + 1 }).bytes;
    expect(Buffer.compare(a, c)).not.toBe(0);
    if (IN_CI) expect(a.length).toBeGreaterThan(0);
  });
});
