import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildImage } from '../src/ext/write/writer.js';
import { MemorySink } from '../src/io/memory.js';
import { Tree } from '../src/tree/tree.js';

// Same size, type, block and inode size as mke2fs: the group layout, inode count and reserved
// GDT blocks that dumpe2fs reports must be the same for both.
const haveTools = spawnSync('mke2fs', ['-V']).status === 0 && spawnSync('dumpe2fs', ['-V']).status === 0;
if (!haveTools) {
  if (process.env.CI) throw new Error('mke2fs/dumpe2fs missing in CI');
  console.log('skipping geometry-vs-mke2fs: mke2fs or dumpe2fs not installed');
}
const dir = mkdtempSync(join(tmpdir(), 'extimg-geo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function layout(image: string): Record<string, string | string[]> {
  const out = execFileSync('dumpe2fs', [image], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  const pick = (k: string) => out.match(new RegExp(`^${k}:\\s+(.*)$`, 'm'))?.[1] ?? '';
  // The resize inode (7) as debugfs sees it: size and block count (not where its blocks are).
  const stat = execFileSync('debugfs', ['-R', 'stat <7>', image], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  return {
    resizeInode: `${stat.match(/Size: (\d+)/)?.[1] ?? '-'} bytes, ${stat.match(/Blockcount: (\d+)/)?.[1] ?? '-'} sectors`,
    inodes: pick('Inode count'),
    blocks: pick('Block count'),
    reservedGdt: pick('Reserved GDT blocks'),
    inodesPerGroup: pick('Inodes per group'),
    journalBlocks: pick('Total journal blocks'),
    features: pick('Filesystem features'),
    groups: out
      .split('\n')
      .filter((l) => /^\s+(Primary|Backup) superblock at|^\s+Block bitmap at|^\s+Inode table at|^\s+Reserved GDT/.test(l))
      .map((l) => l.trim().replace(/\s*csum 0x[0-9a-f]+/g, '')),
  };
}

const cases: Array<[string, number, 1024 | 2048 | 4096, 128 | 256]> = [
  ['ext2', 8 << 20, 1024, 128],
  ['ext3', 8 << 20, 1024, 256],
  ['ext3', 100 << 20, 1024, 256],
  ['ext2', 300 << 20, 2048, 256],
  ['ext3', 700 << 20, 4096, 256],
  ['ext3', 64 << 20, 4096, 128],
  // Under 16 MiB at 4 KiB blocks no GDT block is reserved: mke2fs keeps resize_inode anyway.
  ['ext2', 12 << 20, 4096, 256],
  ['ext4', 12 << 20, 4096, 256],
];

describe.skipIf(!haveTools)('geometry matches mke2fs', () => {
  for (const [type, size, bs, isz] of cases) {
    it(`${type} ${size >> 20} MiB, ${bs}-byte blocks, ${isz}-byte inodes`, () => {
      const ref = join(dir, `ref-${type}-${size}-${bs}-${isz}.img`);
      writeFileSync(ref, new Uint8Array(0));
      execFileSync('truncate', ['-s', String(size), ref]);
      execFileSync('mke2fs', ['-q', '-F', '-t', type, '-b', String(bs), '-I', String(isz), ref], {
        env: { ...process.env, MKE2FS_CONFIG: '/etc/mke2fs.conf' },
      });
      const want = layout(ref);
      const sink = new MemorySink();
      buildImage(new Tree({ time: { sec: 0, nsec: 0 } }), sink, {
        type: type as 'ext2' | 'ext3' | 'ext4',
        size,
        blockSize: bs,
        inodeSize: isz,
        inodes: Number(want.inodes),
        timestamp: 0,
      });
      const ours = join(dir, `ours-${type}-${size}-${bs}-${isz}.img`);
      writeFileSync(ours, sink.bytes);
      expect(layout(ours)).toEqual(want);
    });
  }
});
