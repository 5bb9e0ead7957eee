/**
 * Node adapter: decompress independent inputs in parallel on worker threads (one job a worker
 * at a time, min(availableParallelism, jobs, 4) workers), moving bytes by transfer rather than
 * copy. A single job, or a run from TypeScript sources (vitest), stays in this thread.
 *
 * Jobs are handed out largest input first: with ~100 packages on two workers, in-order
 * dispatch could leave the biggest (libperl, 4 MB of xz, ~2 s to decode) for the end, one
 * worker decoding it while the other idles; largest first ends the workers within one small
 * job of each other (LPT scheduling).
 */
import type { Worker } from 'node:worker_threads';
import { cores, startWorker, WarmWorkers } from '../io/threads.js';
import { type ErrorCode, ExtimgError } from '../errors.js';
import { type Codec, DETECT_BYTES, detectCodec } from './detect.js';
import { type Decompressed, decompressAuto } from './decompress.js';
import { describe } from './fail.js';

export interface DecompressJob {
  data: Uint8Array;
  /** Names the input in error messages (a path, or `pkg.deb:data.tar.xz`). */
  origin: string;
}

export interface DecompressManyOptions {
  /** Most worker threads to use; 0 decodes in this thread. Default min(cores, jobs, 4). */
  workers?: number;
  /**
   * Transfer each input's ArrayBuffer to its worker when the input spans all of it (inputs
   * become detached, length 0, in the caller). Default true; false copies them.
   */
  transferInputs?: boolean;
  /** The worker module (tests use one that dies); default worker.js beside this module. */
  workerUrl?: URL;
}

/** Messages between pool.ts and worker.ts. */
export interface JobRequest {
  id: number;
  data: Uint8Array;
  origin: string;
}
export type JobResult =
  | { id: number; ok: true; codec: Codec | undefined; data: Uint8Array }
  | { id: number; ok: false; error: { code: ErrorCode; message: string; data: Record<string, unknown> } };

const MAX_WORKERS = 4;

/**
 * Counters for tests and --debug output: how much work went to worker threads; warm workers
 * taken by a decompressMany and warm workers that died before anyone took them.
 */
export const poolStats = { workersStarted: 0, jobsInWorkers: 0, warmTaken: 0, warmDied: 0 };

/** True when the view spans its whole, unshared ArrayBuffer (so transferring it is safe). */
export function ownsBuffer(a: Uint8Array): boolean {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && !(typeof SharedArrayBuffer !== 'undefined' && a.buffer instanceof SharedArrayBuffer);
}

/** The compiled worker next to this module, or undefined when running from .ts sources. */
function workerUrl(): URL | undefined {
  const here = import.meta.url;
  if (!here.endsWith('.js')) return undefined;
  return new URL('./worker.js', here);
}

/**
 * Workers started ahead of need by warmDecoders: they load while the caller reads its input
 * files (one core is idle then), and the next decompressMany with this worker module takes them.
 */
let warm: WarmWorkers | undefined;

/**
 * Start the worker threads a coming decompressMany of about `jobs` inputs will use, now. Starts
 * none (and drops an earlier warm set) on one core, for fewer than two jobs, or when workers
 * cannot run (decompressMany then starts its own or decodes here, as without warming).
 */
export function warmDecoders(jobs: number, options: Pick<DecompressManyOptions, 'workers' | 'workerUrl'> = {}): void {
  const url = options.workerUrl ?? workerUrl();
  const size = Math.min(options.workers ?? MAX_WORKERS, cores(), jobs, MAX_WORKERS);
  if (url === undefined || size < 2) return dropWarmDecoders();
  if (warm && warm.url === url.href && warm.live >= size) return;
  dropWarmDecoders();
  warm = WarmWorkers.start(url, size, () => poolStats.warmDied++);
  poolStats.workersStarted += warm.all.length;
}

/** Stop warm decode workers nobody took (callers that warmed call it when done, also on errors). */
export function dropWarmDecoders(): void {
  warm?.drop();
  warm = undefined;
}

/**
 * Up to `size` live warm workers for this module. The others stay warm for a later call (a
 * .tar.xz and a .deb: the outer streams, then the payloads) until dropWarmDecoders.
 */
function takeWarm(url: URL, size: number): Worker[] {
  if (!warm || warm.url !== url.href) return [];
  const taken = warm.take(size);
  poolStats.warmTaken += taken.length;
  return taken;
}

/** Whether decompressMany can use worker threads in this build (false under vitest from src/). */
export function workersAvailable(): boolean {
  return workerUrl() !== undefined;
}


/**
 * Detect and decompress every job (like decompressAuto), in parallel when it pays. When no
 * worker thread can be started at all (thread limits), the jobs are decoded in this thread. Results are
 * in job order; inputs that are not compressed come back as they are without a trip to a
 * worker. When a job fails, jobs after it (in job order) are no longer started, those before it
 * still run, and the promise rejects with the ExtimgError of the first failed job in job
 * order: the same error a one-by-one run would report, whatever the dispatch order.
 */
export async function decompressMany(jobs: readonly DecompressJob[], options: DecompressManyOptions = {}): Promise<Decompressed[]> {
  const results: Decompressed[] = new Array(jobs.length);
  const pending: number[] = [];
  jobs.forEach((job, i) => {
    if (detectCodec(job.data.subarray(0, DETECT_BYTES)) === undefined) results[i] = { codec: undefined, data: job.data };
    else pending.push(i);
  });
  const url = options.workerUrl ?? workerUrl();
  const size = Math.min(options.workers ?? MAX_WORKERS, cores(), pending.length, MAX_WORKERS);
  if (pending.length <= 1 || size < 1 || url === undefined) {
    for (const i of pending) results[i] = await decompressAuto(jobs[i].data, jobs[i].origin);
    return results;
  }
  // Largest first (stable for equal sizes); see the module comment.
  const order = pending.slice().sort((a, b) => jobs[b].data.length - jobs[a].data.length || a - b);
  if (await new WorkerPool(url, size, options.transferInputs ?? true, jobs, order, results).run()) return results;
  for (const i of pending) results[i] = await decompressAuto(jobs[i].data, jobs[i].origin);
  return results;
}

class WorkerPool {
  private readonly failures = new Map<number, ExtimgError>();
  private next = 0;
  private running = 0;
  private readonly sent = new Set<ArrayBufferLike>();
  private readonly started = new Set<number>();
  private resolve: () => void = () => {};

  constructor(
    private readonly url: URL,
    private readonly size: number,
    private readonly transferInputs: boolean,
    private readonly jobs: readonly DecompressJob[],
    /** Indices into jobs to decode, in dispatch order. */
    private readonly pending: readonly number[],
    private readonly results: Decompressed[],
  ) {}

  /** Decode every job on the workers; false when not one worker could be started. */
  async run(): Promise<boolean> {
    const done = new Promise<void>((resolve) => {
      this.resolve = resolve;
    });
    const workers: Worker[] = [];
    const warmed = takeWarm(this.url, this.size);
    for (let i = 0; i < this.size; i++) {
      try {
        workers.push(this.spawn(warmed[i]));
      } catch {
        // Thread limits: the workers started take all the jobs; with none, the caller decodes.
        if (workers.length === 0) return false;
        break;
      }
    }
    await done;
    await Promise.all(workers.map((w) => w.terminate()));
    // Every worker died with jobs left: those before the first failure (in job order) are
    // decoded here, so the error reported is still the one a one-by-one run would give.
    for (const id of [...this.pending].sort((a, b) => a - b)) {
      if (this.started.has(id)) continue;
      if (this.failures.size > 0 && id >= Math.min(...this.failures.keys())) break;
      try {
        this.results[id] = await decompressAuto(this.jobs[id].data, this.jobs[id].origin);
      } catch (e) {
        if (!(e instanceof ExtimgError)) throw e;
        this.failures.set(id, e);
      }
    }
    if (this.failures.size > 0) throw this.failures.get(Math.min(...this.failures.keys()));
    return true;
  }

  /** A worker (a warm one, or a new one) that takes jobs until none are left or one failed; a crash fails its job. */
  private spawn(warmed: Worker | undefined): Worker {
    const worker = warmed ?? startWorker(this.url);
    if (!warmed) poolStats.workersStarted++;
    let current = -1;
    const take = (): void => {
      current = -1;
      const id = this.nextJob();
      if (id < 0) return this.finishIfIdle();
      current = id;
      this.started.add(id);
      this.running++;
      const job = this.jobs[current];
      const data = this.prepare(job.data);
      const msg: JobRequest = { id: current, data, origin: job.origin };
      worker.postMessage(msg, [data.buffer as ArrayBuffer]);
    };
    worker.on('message', (r: JobResult) => {
      this.running--;
      poolStats.jobsInWorkers++;
      if (r.ok) this.results[r.id] = { codec: r.codec, data: r.data };
      else this.failures.set(r.id, new ExtimgError(r.error.code, r.error.message, r.error.data));
      take();
    });
    const crashed = (reason: string): void => {
      if (current < 0) return;
      const id = current;
      current = -1;
      this.running--;
      const origin = this.jobs[id].origin;
      const oom = /memory/i.test(reason);
      const message = oom ? 'decompressed data does not fit in memory' : `decompression worker failed: ${reason}`;
      this.failures.set(id, new ExtimgError(oom ? 'ETOOBIG' : 'EIO', `${origin}: ${message}`, { origin }));
      this.finishIfIdle();
    };
    worker.on('error', (e) => crashed(describe(e)));
    worker.on('exit', (code) => crashed(`exited with code ${code}`));
    take();
    return worker;
  }

  /** The next job to start, or -1: after a failure only jobs before it in job order still run. */
  private nextJob(): number {
    const limit = this.failures.size > 0 ? Math.min(...this.failures.keys()) : Infinity;
    while (this.next < this.pending.length) {
      const id = this.pending[this.next++];
      if (id < limit) return id;
    }
    return -1;
  }

  /** The bytes to send: the input itself when it may be transferred, else a copy of the view. */
  private prepare(data: Uint8Array): Uint8Array {
    if (this.transferInputs && ownsBuffer(data) && !this.sent.has(data.buffer)) {
      this.sent.add(data.buffer);
      return data;
    }
    return data.slice();
  }

  private finishIfIdle(): void {
    if (this.running > 0) return;
    this.resolve();
  }
}
