import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BuildOptions, BuildResult } from '../src/ext/options.js';
import { buildImage } from '../src/ext/write/writer.js';
import { MemorySink } from '../src/io/memory.js';
import { expectSameManifest } from './helpers/compare.js';
import { manifestFromDebugfs } from './helpers/debugfs.js';
import { dumpe2fs, expectClean } from './helpers/e2fsck.js';
import { missingTools, requireJudge } from './helpers/env.js';
import { breathe, workDir } from './helpers/image.js';
import { manifestFromTree } from './helpers/manifest.js';
import { awkwardTree } from './helpers/trees.js';

/**
 * Reproducible builds: the same tree and the same `timestamp` give the same bytes; another
 * timestamp gives another UUID; file times are clamped to the timestamp as the readers see them.
 */

const TS = 1_700_000_000;
const tools = missingTools();
const work = workDir('repro');
afterAll(() => work.cleanup());

function build(options: BuildOptions): { bytes: Uint8Array; result: BuildResult } {
  // A fresh tree each time: nothing may leak from one build into the next through shared state.
  const tree = awkwardTree({ blockSize: options.blockSize ?? 1024, inodeSize: options.inodeSize ?? 256, bigDir: 300, deep: 8 });
  const sink = new MemorySink();
  const result = buildImage(tree, sink, options);
  return { bytes: sink.bytes, result };
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** dumpe2fs prints times with ctime(3) in the local zone; ours runs with TZ=UTC. */
function ctimeUtc(sec: number): string {
  const d = new Date(sec * 1000);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]} ${months[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

describe('reproducible builds', () => {
  for (const type of ['ext2', 'ext3'] as const) {
    for (const blockSize of [1024, 4096] as const) {
      it(`${type} ${blockSize}: same timestamp → identical bytes`, async () => {
        const options: BuildOptions = { type, blockSize, timestamp: TS };
        const a = build(options);
        await breathe();
        const b = build(options);
        expect(a.bytes.length).toBe(b.bytes.length);
        if (sha(a.bytes) !== sha(b.bytes)) {
          let first = 0;
          while (a.bytes[first] === b.bytes[first]) first++;
          expect.fail(`two builds differ first at byte ${first} (block ${Math.floor(first / blockSize)}, offset ${first % blockSize})`);
        }
        expect(a.result).toEqual(b.result);
      });
    }
  }

  it('a different timestamp gives a different UUID and hash seed; both follow the options', async (ctx) => {
    const a = build({ timestamp: TS });
    const b = build({ timestamp: TS + 1 });
    expect(a.result.uuid).not.toBe(b.result.uuid);
    expect(sha(a.bytes)).not.toBe(sha(b.bytes));
    requireJudge(ctx, tools, 'reproducible (dumpe2fs)');
    const pa = join(work.dir, 'a.img');
    const pb = join(work.dir, 'b.img');
    writeFileSync(pa, a.bytes);
    writeFileSync(pb, b.bytes);
    await breathe();
    const sa = dumpe2fs(pa);
    const sb = dumpe2fs(pb);
    expect(sa.uuid).toBe(a.result.uuid);
    expect(sb.uuid).toBe(b.result.uuid);
    expect(sa.uuid).not.toBe(sb.uuid);
    const seedA = sa.fields.get('Directory Hash Seed');
    const seedB = sb.fields.get('Directory Hash Seed');
    if (seedA !== undefined || seedB !== undefined) expect(seedA).not.toBe(seedB);
  });

  it('explicit uuid and label are used as given', async (ctx) => {
    const uuid = '0b8e3f4a-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
    const a = build({ timestamp: TS, uuid, label: 'rootfs' });
    expect(a.result.uuid).toBe(uuid);
    requireJudge(ctx, tools, 'reproducible (dumpe2fs)');
    const p = join(work.dir, 'uuid.img');
    writeFileSync(p, a.bytes);
    await breathe();
    const s = dumpe2fs(p);
    expect(s.uuid).toBe(uuid);
    expect(s.label).toBe('rootfs');
  });

  it('two builds without a timestamp get different random UUIDs', () => {
    expect(build({}).result.uuid).not.toBe(build({}).result.uuid);
  });

  it('the timestamp sets the filesystem times and clamps file times, as e2fsck and debugfs see them', async (ctx) => {
    requireJudge(ctx, tools, 'reproducible (e2fsck, debugfs)');
    for (const inodeSize of [128, 256] as const) {
      const options: BuildOptions = { type: 'ext3', blockSize: 1024, inodeSize, timestamp: TS };
      const tree = awkwardTree({ blockSize: 1024, inodeSize, bigDir: 300, deep: 8 });
      const sink = new MemorySink();
      buildImage(tree, sink, options);
      const p = join(work.dir, `clamp-${inodeSize}.img`);
      writeFileSync(p, sink.bytes);
      await breathe();
      expectClean(p);
      const prevTz = process.env.TZ;
      process.env.TZ = 'UTC';
      try {
        const s = dumpe2fs(p);
        expect(s.fields.get('Filesystem created')).toBe(ctimeUtc(TS));
        expect(s.fields.get('Last write time')).toBe(ctimeUtc(TS));
      } finally {
        if (prevTz === undefined) delete process.env.TZ;
        else process.env.TZ = prevTz;
      }
      expectSameManifest(manifestFromTree(tree, { inodeSize, blockSize: 1024, timestamp: TS }), manifestFromDebugfs(p), `clamped times, ${inodeSize}-byte inodes`);
    }
  });
});
