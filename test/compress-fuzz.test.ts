/**
 * Hostile input for every codec: random bytes (with and without the codec's magic) and mutated
 * valid streams (flipped, inserted, deleted, duplicated, truncated bytes). Each input must
 * either decode or be refused with an ExtimgError whose message is one line — never a raw
 * exception, never a hang. The cases run on a worker thread over the compiled build with a
 * watchdog, so a decoder stuck in a loop fails the test instead of stalling the run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Codec, CODECS } from '../src/compress/index.js';
import { hasTool } from './helpers/e2fsck.js';
import { IN_CI, judgeAvailable } from './helpers/env.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist', 'compress', 'index.js');
const errorsEntry = join(root, 'dist', 'errors.js');
const NUM_RUNS = IN_CI ? 300 : 60;
/** Longest any single input may take before it counts as a hang. */
const WATCHDOG_MS = 10_000;

interface Outcome {
  kind: 'ok' | 'extimg' | 'raw' | 'timeout';
  code?: string;
  name?: string;
  message?: string;
  ms?: number;
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const mod = import(workerData.entry);
const errors = import(workerData.errors);
parentPort.on('message', async ({ id, codec, data }) => {
  const { decompress } = await mod;
  const { ExtimgError } = await errors;
  const t = Date.now();
  try {
    const out = await decompress(data, codec, 'fuzz-input');
    parentPort.postMessage({ id, kind: 'ok', ms: Date.now() - t, code: String(out.length) });
  } catch (e) {
    parentPort.postMessage({
      id,
      kind: e instanceof ExtimgError ? 'extimg' : 'raw',
      code: e && e.code,
      name: e && e.name,
      message: String(e && e.message),
      ms: Date.now() - t,
    });
  }
});
`;

/** Runs decompress() on a worker; a case over WATCHDOG_MS kills and replaces the worker. */
class Runner {
  private worker: Worker | undefined;
  private seq = 0;

  private spawn(): Worker {
    this.worker ??= new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { entry: pathToFileURL(entry).href, errors: pathToFileURL(errorsEntry).href },
    });
    return this.worker;
  }

  run(codec: Codec, data: Uint8Array): Promise<Outcome> {
    const worker = this.spawn();
    const id = ++this.seq;
    return new Promise<Outcome>((resolve) => {
      const timer = setTimeout(() => {
        worker.off('message', onMessage);
        void worker.terminate();
        this.worker = undefined;
        resolve({ kind: 'timeout' });
      }, WATCHDOG_MS);
      const onMessage = (m: Outcome & { id: number }): void => {
        if (m.id !== id) return;
        clearTimeout(timer);
        worker.off('message', onMessage);
        resolve(m);
      };
      worker.on('message', onMessage);
      worker.postMessage({ id, codec, data });
    });
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
    this.worker = undefined;
  }
}

const MAGIC: Record<Codec, number[]> = {
  gzip: [0x1f, 0x8b, 0x08],
  xz: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00],
  zstd: [0x28, 0xb5, 0x2f, 0xfd],
  bzip2: [0x42, 0x5a, 0x68, 0x39, 0x31, 0x41, 0x59, 0x26, 0x53, 0x59],
  lzma: [0x5d, 0x00, 0x00, 0x80, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  lz4: [0x02, 0x21, 0x4c, 0x18],
};

/** Valid streams to mutate, from the reference tools (several variants per codec). */
const COMMANDS: Record<Codec, string[][]> = {
  gzip: [['gzip', '-c', '-n']],
  xz: [['xz', '-c', '-T1'], ['xz', '-c', '-T1', '--check=crc32', '--x86'], ['xz', '-c', '-T1', '--delta=dist=2', '--check=sha256']],
  zstd: [['zstd', '-c', '-q'], ['sh', '-c', 'cat | zstd -c -q --no-check']],
  bzip2: [['bzip2', '-c', '-1']],
  lzma: [['xz', '-c', '--format=lzma']],
  lz4: [['lz4', '-c', '-l'], ['lz4', '-c', '-BD', '-BX', '--content-size']],
};

function content(seed: number): Uint8Array {
  const words = ['lib', 'usr', '\n', 'x86_64', '/', 'AAAA', '\0\0\0\0'];
  const out: number[] = [];
  let x = seed;
  while (out.length < 6000) {
    x = (x * 1103515245 + 12345) >>> 0;
    const w = words[x % words.length];
    for (const c of w) out.push(c.charCodeAt(0));
    if (x % 7 === 0) out.push(x >>> 24);
  }
  return Uint8Array.from(out.slice(0, 6000));
}

const samples = new Map<Codec, Uint8Array[]>();
const runner = new Runner();
let ready: string | undefined;

beforeAll(() => {
  if (!existsSync(entry) || !existsSync(errorsEntry)) ready = 'dist/compress not built (tsc failed?)';
  for (const codec of CODECS) {
    const list: Uint8Array[] = [];
    for (const [cmd, ...args] of COMMANDS[codec]) {
      if (!hasTool(cmd === 'sh' ? 'zstd' : cmd)) {
        ready ??= `missing host tool ${cmd}`;
        continue;
      }
      for (const seed of [1, 2]) {
        const r = spawnSync(cmd, args, { input: content(seed) });
        if (r.status === 0) list.push(new Uint8Array(r.stdout));
      }
    }
    samples.set(codec, list);
  }
});

afterAll(async () => {
  await runner.close();
});

type Mutation =
  | { kind: 'flip'; at: number; bits: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'duplicate'; at: number; length: number }
  | { kind: 'truncate'; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bits: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0, 0xff, 0x7f, 0x80, 1) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 256 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

function mutate(base: Uint8Array, ms: Mutation[]): Uint8Array {
  let b = base;
  for (const m of ms) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    const copy = b.slice();
    switch (m.kind) {
      case 'flip':
        copy[at] ^= m.bits;
        b = copy;
        break;
      case 'set':
        copy[at] = m.value;
        b = copy;
        break;
      case 'insert':
        b = concat(b.subarray(0, at), m.bytes, b.subarray(at));
        break;
      case 'delete':
        b = concat(b.subarray(0, at), b.subarray(at + m.length));
        break;
      case 'duplicate':
        b = concat(b.subarray(0, at + m.length), b.subarray(at));
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
    }
  }
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.subarray(0, 64)).toString('hex') + (b.length > 64 ? `... (${b.length} bytes)` : '');
}

/** The property every outcome must have. */
function acceptable(o: Outcome, input: Uint8Array, codec: Codec): boolean {
  const where = `${codec} input ${hex(input)}`;
  expect(o.kind, `${where}: ${o.kind === 'raw' ? `raw ${o.name}: ${o.message}` : o.kind}`).not.toMatch(/raw|timeout/);
  if (o.kind === 'extimg') {
    expect(['ECORRUPT', 'EFORMAT', 'ETOOBIG'], where).toContain(o.code);
    expect(o.message?.startsWith('fuzz-input: '), where).toBe(true);
    expect(o.message, where).not.toContain('\n');
  }
  return true;
}

function setupOk(ctx: { skip(note?: string): void }): boolean {
  if (!judgeAvailable(ready, 'compress fuzz')) {
    ctx.skip(ready);
    return false;
  }
  return true;
}

describe('compress fuzz', () => {
  it(`random bytes under every codec (${NUM_RUNS} runs)`, { timeout: 600_000 }, async (ctx) => {
    if (!setupOk(ctx)) return;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...CODECS), fc.boolean(), fc.uint8Array({ maxLength: 4096 }), async (codec, withMagic, bytes) => {
        const input = withMagic ? concat(Uint8Array.from(MAGIC[codec]), bytes) : bytes;
        return acceptable(await runner.run(codec, input), input, codec);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it(`mutated valid streams of every codec (${NUM_RUNS} runs each)`, { timeout: 900_000 }, async (ctx) => {
    if (!setupOk(ctx)) return;
    for (const codec of CODECS) {
      const list = samples.get(codec) ?? [];
      expect(list.length, `${codec} samples`).toBeGreaterThan(0);
      await fc.assert(
        fc.asyncProperty(fc.nat(list.length - 1), fc.array(mutation, { minLength: 1, maxLength: 4 }), async (which, ms) => {
          const input = mutate(list[which], ms);
          return acceptable(await runner.run(codec, input), input, codec);
        }),
        { numRuns: NUM_RUNS },
      );
    }
  });

  it('the unmutated samples decode (the mutations start from valid streams)', { timeout: 120_000 }, async (ctx) => {
    if (!setupOk(ctx)) return;
    for (const codec of CODECS) {
      for (const s of samples.get(codec) ?? []) {
        const o = await runner.run(codec, s);
        expect(o.kind, `${codec}: ${o.message}`).toBe('ok');
        expect(o.code).toBe('6000');
      }
    }
  });
});
