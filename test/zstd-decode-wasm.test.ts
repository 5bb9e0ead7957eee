/**
 * The streaming WebAssembly zstd decoder (src/compress/zstd-decode-wasm.ts), which decodes zstd
 * on Node < 22.15: its own loop around ZSTD_decompressStream must report zstd's errors, stop on
 * truncated or stuck input instead of spinning, and survive the module's memory growing. Judged
 * by the zstd CLI, which writes the frames.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ExtimgError } from '../src/errors.js';
import { decodeFrameStreaming, ZstdOutOfMemory, zstdStreamDecoder } from '../src/compress/zstd-decode-wasm.js';
import { decodeZstd } from '../src/compress/zstd.js';
import { hasTool } from './helpers/e2fsck.js';
import { requireJudge } from './helpers/env.js';

function zstd(input: Uint8Array, args: string[] = []): Uint8Array {
  const r = spawnSync('zstd', ['-c', '-q', ...args], { input, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`zstd ${args.join(' ')}: ${r.stderr.toString()}`);
  return new Uint8Array(r.stdout);
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const missing = (): string | undefined => (hasTool('zstd') ? undefined : 'missing host tool: zstd (apt: zstd)');

/** Text that compresses well, with some variety. */
function text(n: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = 1;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = (s >>> 24) < 200 ? 97 + ((s >>> 16) % 20) : 32;
  }
  return out;
}

describe('streaming WebAssembly zstd decoder', () => {
  it('loads without going through fetch, and leaves the global fetch as it was', async () => {
    // The first load in this file (each test file runs in a fresh module graph).
    const original = Object.getOwnPropertyDescriptor(globalThis, 'fetch');
    let calls = 0;
    const spy = (): never => {
      calls++;
      throw new Error('fetch called');
    };
    Object.defineProperty(globalThis, 'fetch', { value: spy, configurable: true, writable: true, enumerable: true });
    try {
      const before = Object.getOwnPropertyDescriptor(globalThis, 'fetch');
      const x = await zstdStreamDecoder();
      expect(typeof x.ZSTD_decompressStream).toBe('function');
      expect(calls).toBe(0);
      expect(Object.getOwnPropertyDescriptor(globalThis, 'fetch')).toEqual(before);
    } finally {
      if (original) Object.defineProperty(globalThis, 'fetch', original);
    }
  });

  it('decodes what zstd writes: with and without content size and checksum, several MiB', async (ctx) => {
    requireJudge(ctx, missing(), 'zstd decoder');
    const x = await zstdStreamDecoder();
    const data = text(5 << 20);
    for (const args of [[], ['--no-check'], ['-19']]) {
      const frame = zstd(data, args);
      expect(sha(decodeFrameStreaming(x, frame, data.length)), args.join(' ')).toBe(sha(data));
    }
    // Through a pipe: no content size; the caller's capacity is a bound, the result its front.
    const piped = new Uint8Array(spawnSync('sh', ['-c', 'cat | zstd -c -q'], { input: data, maxBuffer: 1 << 28 }).stdout);
    const out = decodeFrameStreaming(x, piped, data.length + 300_000);
    expect(out.length).toBe(data.length);
    expect(sha(out)).toBe(sha(data));
  });

  it('a window over the streaming limit (zstd --long=28 through a pipe) decodes in one call', async (ctx) => {
    requireJudge(ctx, missing(), 'zstd decoder');
    const x = await zstdStreamDecoder();
    const data = text(2 << 20);
    const frame = new Uint8Array(spawnSync('sh', ['-c', 'cat | zstd --long=28 -c -q'], { input: data, maxBuffer: 1 << 28 }).stdout);
    expect(frame[5]! >> 3).toBe(28 - 10); // Window_Descriptor: 2^28 bytes, over the 2^27 default
    expect(sha(decodeFrameStreaming(x, frame, data.length + 200_000))).toBe(sha(data));
    expect(sha(await decodeZstd(frame, 'long.zst', 'wasm'))).toBe(sha(data));
  });

  it('an input larger than its memory: the module grows and the loop follows the new buffer', async (ctx) => {
    requireJudge(ctx, missing(), 'zstd decoder');
    const x = await zstdStreamDecoder();
    // Random bytes do not compress: the frame itself is 40 MiB, copied into the module's heap.
    const data = new Uint8Array(randomBytes(40 << 20));
    const frame = zstd(data, ['-1']);
    expect(frame.length).toBeGreaterThan(40 << 20);
    expect(sha(decodeFrameStreaming(x, frame, data.length))).toBe(sha(data));
    // Growth in the middle of the decode: the module's memory grows (detaching the buffer the
    // loop holds a view of) inside every ZSTD_decompressStream call.
    const small = text(3 << 20);
    const growing = { ...x, ZSTD_decompressStream: (d: number, o: number, i: number): number => {
      (x.memory as unknown as { grow(pages: number): number }).grow(1);
      return x.ZSTD_decompressStream(d, o, i);
    } };
    expect(sha(decodeFrameStreaming(growing, zstd(small), small.length))).toBe(sha(small));
  });

  it('out of memory is its own error, and what was allocated is freed', async () => {
    const x = await zstdStreamDecoder();
    const freed: number[] = [];
    let mallocs = 0;
    const starving = { ...x,
      malloc: (n: number): number => (++mallocs === 3 ? 0 : x.malloc(n)),
      free: (p: number): void => { freed.push(p); x.free(p); } };
    expect(() => decodeFrameStreaming(starving, new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]), 100)).toThrow(ZstdOutOfMemory);
    expect(freed.length).toBe(2);
  });

  it("reports zstd's own reasons: a changed checksum, corrupt blocks, a cut frame — none spins", async (ctx) => {
    requireJudge(ctx, missing(), 'zstd decoder');
    const x = await zstdStreamDecoder();
    const data = text(3 << 20);
    const frame = zstd(data);
    const bad = frame.slice();
    bad[bad.length - 1] ^= 0xff; // the XXH64 checksum's last byte
    expect(() => decodeFrameStreaming(x, bad, data.length)).toThrow('checksum mismatch');
    // Corrupt bytes in the block data: an error of zstd's (which one depends on where), or the
    // checksum at the end; never a hang and never success.
    for (const at of [20, 1000, frame.length >> 1, frame.length - 40]) {
      const c = frame.slice();
      for (let i = 0; i < 8; i++) c[at + i] ^= 0x5a;
      const t = Date.now();
      expect(() => decodeFrameStreaming(x, c, data.length), `flipped at ${at}`).toThrow(/./);
      expect(Date.now() - t).toBeLessThan(5000);
    }
    // Cut short (walkFrame finds this first in decodeZstd; the loop must stop by itself too).
    for (const keep of [3, 10, 100, frame.length >> 1, frame.length - 1]) {
      expect(() => decodeFrameStreaming(x, frame.subarray(0, keep), data.length), `cut at ${keep}`).toThrow(/^truncated$/);
    }
    // Bytes after the frame are not part of it.
    expect(() => decodeFrameStreaming(x, new Uint8Array([...frame, 1, 2, 3]), data.length)).toThrow(`frame ends after ${frame.length} of its ${frame.length + 3} bytes`);
    // More output than the caller allows.
    expect(() => decodeFrameStreaming(x, frame, data.length - 1)).toThrow('output larger than its blocks allow');
  });

  it('decodeZstd under it: one-line ECORRUPT naming the file and the frame offset', async (ctx) => {
    requireJudge(ctx, missing(), 'zstd decoder');
    const data = text(1 << 20);
    const one = zstd(data);
    const bad = one.slice();
    bad[bad.length - 2] ^= 1;
    const two = new Uint8Array([...one, ...bad]);
    const e = await decodeZstd(two, 'two.zst', 'wasm').then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(ExtimgError);
    expect((e as ExtimgError).code).toBe('ECORRUPT');
    expect((e as ExtimgError).message).toBe(`two.zst: corrupt zstd frame: checksum mismatch at offset ${one.length}`);
  });
});
