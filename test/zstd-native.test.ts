/**
 * The other zstd backend: under Node >= 22.15 extimg encodes and decodes zstd with node:zlib
 * (libzstd, multi-threaded) instead of its WebAssembly build. The machine's Node may be older,
 * so these tests run the compiled CLI and library under a second Node fetched from the npm
 * registry by fixtures/fetch-node.sh (CI runs it; locally they skip with the reason). Judged by
 * the zstd CLI (-t, the content size in the frame header) and lsinitramfs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hasTool } from './helpers/e2fsck.js';
import { requireJudge } from './helpers/env.js';
import { workDir } from './helpers/image.js';
import { ROOT } from './boot/env.js';
import { makeInitrd, missingFixtureTools, sh } from './initrd-fixtures.js';

const NODE = process.env.EXTIMG_NODE22 ?? join(ROOT, 'fixtures', 'out', 'node22', 'bin', 'node');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const work = workDir('zstd-native');
afterAll(() => work.cleanup());

function notReady(): string | undefined {
  if (!existsSync(NODE)) return `no Node >= 22.15 at ${NODE} (run fixtures/fetch-node.sh)`;
  if (!hasTool('zstd')) return 'missing host tool: zstd';
  return missingFixtureTools('zstd') ?? (hasTool('lsinitramfs') ? undefined : 'missing lsinitramfs (apt: initramfs-tools-core)');
}

function node(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(NODE, args, { encoding: 'utf8', input, maxBuffer: 1 << 28 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('zstd through node:zlib (Node >= 22.15)', () => {
  it('the library picks node:zlib, writes the content size, and zstd -d gives the input back', (ctx) => {
    requireJudge(ctx, notReady(), 'node:zlib zstd');
    const file = join(work.dir, 'data.bin');
    const data = Buffer.concat([Buffer.from('extimg '.repeat(200_000)), Buffer.alloc(1 << 20, 7), Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251))]);
    writeFileSync(file, data);
    const script = `
      const { encode, zstdEncoder, encodeZstdWasm } = await import(${JSON.stringify(join(ROOT, 'dist', 'compress', 'encode.js'))});
      const { zstdBackend, decodeZstd } = await import(${JSON.stringify(join(ROOT, 'dist', 'compress', 'zstd.js'))});
      const fs = await import('node:fs');
      const data = new Uint8Array(fs.readFileSync(${JSON.stringify(file)}));
      const a = await encode(data, 'zstd', 3);
      const b = await encode(data, 'zstd', 3);
      const w = await encodeZstdWasm(data, 3);
      fs.writeFileSync(${JSON.stringify(file + '.zst')}, a);
      const back = await decodeZstd(a, 'x');
      const backW = await decodeZstd(w, 'x', 'wasm');
      console.log(JSON.stringify({ encoder: zstdEncoder(), decoder: zstdBackend(), same: Buffer.from(a).equals(Buffer.from(b)),
        roundTrip: Buffer.from(back).equals(Buffer.from(data)), wasmRoundTrip: Buffer.from(backW).equals(Buffer.from(data)) }));
    `;
    const r = node(['--input-type=module', '-e', script]);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ encoder: 'node:zlib', decoder: 'node:zlib', same: true, roundTrip: true, wasmRoundTrip: true });
    const z = readFileSync(file + '.zst');
    sh('zstd', ['-t', '-q'], { input: z });
    expect(sh('zstd', ['-d', '-c'], { input: z }).equals(data)).toBe(true);
    // Frame_Header_Descriptor: Frame_Content_Size_flag (bits 7-6) or Single_Segment (bit 5).
    expect((z[4]! >> 6) !== 0 || (z[4]! & 0x20) !== 0).toBe(true);
    const list = spawnSync('zstd', ['-lv', file + '.zst'], { encoding: 'utf8' }).stdout;
    expect(list).toMatch(new RegExp(`Decompressed Size: .*\\(${data.length} B\\)`));
  });

  it('initrd rewrite under it: hook listed by lsinitramfs, early segment kept, reproducible', (ctx) => {
    requireJudge(ctx, notReady(), 'node:zlib zstd initrd rewrite');
    const f = makeInitrd(work.dir, 'native', 'zstd');
    const hook = join(work.dir, 'hook');
    writeFileSync(hook, '#!/bin/sh\necho native\n');
    const outs = ['a.img', 'b.img'].map((n) => join(f.dir, n));
    for (const out of outs) {
      const r = node([CLI, 'initrd', 'rewrite', f.file, '-o', out, '--add', `${hook}:/conf/conf.d/zz-native:0755`, '--timestamp', '1700000000']);
      expect(r.stderr).toMatch(/rebuilt segment/);
      expect(r.status).toBe(0);
    }
    const a = readFileSync(outs[0]!);
    expect(a.equals(readFileSync(outs[1]!))).toBe(true);
    expect(Buffer.compare(a.subarray(0, f.early.length), f.early)).toBe(0);
    const names = (file: string): string[] => sh('lsinitramfs', [file]).toString('latin1').split('\n').filter(Boolean).sort();
    expect(names(outs[0]!)).toEqual([...names(f.file), 'conf', 'conf/conf.d', 'conf/conf.d/zz-native'].sort());
    let main = f.early.length;
    while (a[main] === 0) main++; // the padding after the early archive
    sh('zstd', ['-t', '-q'], { input: a.subarray(main) });
  });
});
