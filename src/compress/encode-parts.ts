/**
 * Compress a large buffer as independent parts — concatenated gzip members, zstd frames or
 * bzip2 streams, or the blocks of one xz stream — cut only where the caller allows (for an
 * initrd: between cpio entries, where the kernel's unpacker may start a new compressed segment)
 * and encoded on worker threads when several cores and parts are there.
 *
 * The cut points depend only on the input, the codec and PART_BYTES, never on the number of
 * threads, so the output is the same bytes on any number of cores (for one Node version: zstd is
 * one native multi-threaded frame on Node >= 22.15); parts run in this thread when no worker can
 * be started or one dies (and from TypeScript sources, as under vitest).
 */
import { Worker } from 'node:worker_threads';
import { ExtimgError } from '../errors.js';
import { type EncodeCodec, checkEncodeLevel, encode, encodeGzip, encodeZstdWasm, levelFor, zstdEncoder } from './encode.js';
import { describe } from './fail.js';
import { cores, startWorker, WarmWorkers } from '../io/threads.js';
import { concatBytes } from './sink.js';
import type { XzBlock } from './xz-encode.js';

/** Parts but the last hold at least this many bytes (more when an entry is larger); the last at least half. */
export const PART_BYTES = 4 << 20;
const MAX_WORKERS = 4;

/** Counters for tests: parts encoded on worker threads, warm workers taken by an encode. */
export const partStats = { inWorkers: 0, warmTaken: 0 };

export type PartCodec = 'gzip' | 'zstd' | 'bzip2' | 'xz';

/** What one part becomes: a whole stream, or (xz) a block for the shared container. */
export type EncodedPart = { kind: 'stream'; data: Uint8Array } | { kind: 'xz-block'; block: XzBlock };

/** Encode one part; the same function runs in this thread and in encode-worker.ts. */
export async function encodePart(codec: PartCodec, level: number | undefined, data: Uint8Array): Promise<EncodedPart> {
  switch (codec) {
    case 'gzip':
      return { kind: 'stream', data: encodeGzip(data, level) };
    case 'zstd':
      return { kind: 'stream', data: await encodeZstdWasm(data, level) };
    case 'bzip2':
      return { kind: 'stream', data: await encode(data, 'bzip2', level) };
    case 'xz': {
      const { xzBlock } = await import('./xz-encode.js');
      return { kind: 'xz-block', block: xzBlock(data, { level: levelFor('xz', level) }) };
    }
  }
}

/**
 * Where to cut: the first allowed boundary at or past each PART_BYTES, as long as what is left
 * is at least half a part. Returns [0, cut..., length].
 */
export function cutPoints(length: number, boundaries: readonly number[], partBytes = PART_BYTES): number[] {
  const cuts = [0];
  for (const b of boundaries) {
    const last = cuts[cuts.length - 1]!;
    if (b - last >= partBytes && length - b >= partBytes / 2) cuts.push(b);
  }
  cuts.push(length);
  return cuts;
}

/** Whether `codec` is written in parts here (native zstd already uses every core itself). */
export function splits(codec: EncodeCodec): codec is PartCodec {
  if (codec === 'zstd') return zstdEncoder() === 'wasm';
  return codec === 'gzip' || codec === 'bzip2' || codec === 'xz';
}

/**
 * Workers started ahead of need by warmEncoders (their start-up and the codec's WebAssembly
 * set-up overlap the caller's decoding), taken by the next inWorkers for the same codec.
 */
let warm: { codec: PartCodec; workers: WarmWorkers } | undefined;

/** The default worker module, or undefined when running from .ts sources (vitest). */
function defaultWorkerUrl(): URL | undefined {
  return import.meta.url.endsWith('.js') ? new URL('./encode-worker.js', import.meta.url) : undefined;
}

/**
 * Start the worker threads a coming encodeParts(…, codec) will use, now: a rewrite knows its
 * codec before it decodes the input, and one core is idle while it does. Starts none (and drops
 * an earlier warm set) for codecs that are not split, on one core, or when workers cannot run
 * (the encode then starts its own or runs here, as without warming).
 */
export function warmEncoders(codec: EncodeCodec, options: Pick<EncodePartsOptions, 'workers' | 'workerUrl'> = {}): void {
  const url = options.workerUrl ?? defaultWorkerUrl();
  const size = Math.min(options.workers ?? MAX_WORKERS, MAX_WORKERS, cores());
  if (!splits(codec) || url === undefined || size < 2) return dropWarm();
  if (warm && warm.codec === codec && warm.workers.url === url.href && warm.workers.live >= size) return;
  dropWarm();
  const workers = WarmWorkers.start(url, size);
  const hello: WarmRequest = { warm: codec };
  for (const w of workers.all) w.postMessage(hello);
  warm = { codec, workers };
}

/** Stop warm workers nobody took (callers that warmed call it when they are done, also on errors). */
export function dropWarm(): void {
  warm?.workers.drop();
  warm = undefined;
}

/** Up to `size` live warm workers for this codec and module (the rest stay until dropWarm). */
function takeWarm(codec: PartCodec, url: URL, size: number): Worker[] {
  if (!warm || warm.codec !== codec || warm.workers.url !== url.href) {
    dropWarm();
    return [];
  }
  const taken = warm.workers.take(size);
  partStats.warmTaken += taken.length;
  return taken;
}

export interface EncodePartsOptions {
  /** Part size (tests use small ones); default PART_BYTES. */
  partBytes?: number;
  /** Most worker threads; 0 encodes in this thread. Default min(cores, parts, 4). */
  workers?: number;
  /** The worker module (tests point it at a broken one); default encode-worker.js beside this. */
  workerUrl?: URL;
  /** Input bytes compressed so far, of `total`: after each part, and within a slow single stream. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * `data` compressed with `codec`, cut at some of `boundaries` (sorted offsets where a part may
 * start). Codecs that are not split, and inputs too small to split, are one encode() call.
 */
export async function encodeParts(data: Uint8Array, boundaries: readonly number[], codec: EncodeCodec, level?: number, options: EncodePartsOptions = {}): Promise<Uint8Array> {
  if (level !== undefined) checkEncodeLevel(codec, level);
  const cuts = cutPoints(data.length, boundaries, options.partBytes ?? PART_BYTES);
  const report = options.onProgress;
  const total = data.length;
  if (!splits(codec) || cuts.length <= 2) {
    const out = await encode(data, codec, level, report ? (done) => report(done, total) : undefined);
    report?.(total, total);
    return out;
  }
  const parts = cuts.slice(0, -1).map((start, i) => data.subarray(start, cuts[i + 1]));
  let done = 0;
  const partDone = report ? (n: number): void => report((done += n), total) : undefined;
  const url = options.workerUrl ?? defaultWorkerUrl();
  const workers = Math.min(options.workers ?? MAX_WORKERS, parts.length, MAX_WORKERS, cores());
  const encoded = url && workers > 1 ? await inWorkers(url, workers, codec, level, parts, partDone) : await inThread(codec, level, parts, partDone);
  if (codec === 'xz') {
    const { xzStream } = await import('./xz-encode.js');
    return xzStream(encoded.map((p) => (p.kind === 'xz-block' ? p.block : unreachable())));
  }
  return concatBytes(encoded.map((p) => (p.kind === 'stream' ? p.data : unreachable())));
}

function unreachable(): never {
  throw new Error('encode-parts: a part came back in the wrong form');
}


async function inThread(codec: PartCodec, level: number | undefined, parts: Uint8Array[], partDone?: (bytes: number) => void): Promise<EncodedPart[]> {
  const out: EncodedPart[] = [];
  for (const p of parts) {
    out.push(await encodePart(codec, level, p));
    partDone?.(p.length);
  }
  return out;
}

/** Messages between encode-parts.ts and encode-worker.ts. */
export interface PartRequest {
  id: number;
  codec: PartCodec;
  level: number | undefined;
  data: Uint8Array;
}
export type PartResult = { id: number; ok: true; part: EncodedPart } | { id: number; ok: false; message: string };
/** Sent by warmEncoders: load the codec (and, for WebAssembly, instantiate it) before any part. */
export interface WarmRequest {
  warm: PartCodec;
}

/**
 * Parts on `size` worker threads. A worker that cannot start or dies (a bundle without
 * encode-worker.js, resource limits) does not fail the encode: its part and every part not
 * handed out yet are encoded in this thread instead. An encoder error in a worker rejects.
 */
function inWorkers(
  url: URL,
  size: number,
  codec: PartCodec,
  level: number | undefined,
  parts: Uint8Array[],
  partDone?: (bytes: number) => void,
): Promise<EncodedPart[]> {
  return new Promise((resolve, reject) => {
    const results: (EncodedPart | undefined)[] = new Array<EncodedPart | undefined>(parts.length).fill(undefined); // no holes: every() skips them
    const pool = new Set<Worker>();
    let next = 0;
    let settled = false;
    let fallback = false;
    const end = (error?: unknown): void => {
      if (settled) return;
      settled = true;
      for (const w of pool) void w.terminate();
      pool.clear();
      if (error !== undefined) reject(error instanceof ExtimgError ? error : new ExtimgError('EIO', `${codec}: compression failed: ${describe(error)}`, { codec }));
      else resolve(results as EncodedPart[]);
    };
    const maybeDone = (): void => {
      if (!settled && results.every((r) => r !== undefined)) end();
    };
    // Everything not done yet, in this thread (once).
    const finishHere = (): void => {
      if (fallback || settled) return;
      fallback = true;
      for (const w of pool) void w.terminate();
      pool.clear();
      void (async () => {
        for (let i = 0; i < parts.length; i++) {
          if (results[i] !== undefined) continue;
          results[i] = await encodePart(codec, level, parts[i]!);
          partDone?.(parts[i]!.length);
        }
      })().then(() => end(), end);
    };
    const give = (w: Worker, busy: Map<Worker, number>): void => {
      if (settled || fallback || next >= parts.length) return;
      const id = next++;
      busy.set(w, id);
      try {
        // A copy: the parts are views into one buffer, which cannot be transferred piecewise.
        const data = parts[id]!.slice();
        const msg: PartRequest = { id, codec, level, data };
        w.postMessage(msg, [data.buffer as ArrayBuffer]);
      } catch {
        finishHere();
      }
    };
    const busy = new Map<Worker, number>();
    const warmed = takeWarm(codec, url, size);
    try {
      for (let i = 0; i < size; i++) {
        const w = warmed[i] ?? startWorker(url);
        pool.add(w);
        w.on('message', (r: PartResult) => {
          if (settled || fallback) return;
          if (!r.ok) return end(new ExtimgError('EIO', `${codec}: ${r.message}`, { codec }));
          results[r.id] = r.part;
          partStats.inWorkers++;
          partDone?.(parts[r.id]!.length);
          busy.delete(w);
          give(w, busy);
          maybeDone();
        });
        w.on('error', () => finishHere());
        w.on('exit', () => {
          if (!settled && !fallback && pool.has(w)) finishHere();
        });
        give(w, busy);
      }
    } catch {
      // No (further) worker could be started: the ones running go on; with none, all here.
      if (pool.size === 0) finishHere();
    }
  });
}
