/**
 * Node adapter: a pool of decode workers taking RangeJobs as they come (the archives of a build,
 * then the .deb and .rpm payloads inside them), largest waiting job first (with ~100 packages on
 * two workers, in-order dispatch can leave the biggest for last while the other worker idles).
 * Results come back as spooled bytes: a transferred buffer, or a spool file's descriptor. With no
 * worker module (running from TypeScript sources) or one core, jobs run in this thread, one at a
 * time, through the same queue.
 *
 * Jobs on worker threads always spool to files. Jobs in this thread may keep their output in
 * memory, counted against one budget for the whole build: a job starts with the memory the
 * budget has left (at most its own limit), reserved while it runs; what it kept stays counted,
 * the rest of the reservation returns. Past the budget everything spools to files, so memory
 * stays bounded however many and however large the inputs are.
 */
import type { Worker } from 'node:worker_threads';
import { ExtimgError, type ErrorCode } from '../errors.js';
import { anonymousFile } from '../io/spool.js';
import { cores, startWorker } from '../io/threads.js';
import { decodeRange, type RangeJob, type RangeResult } from './decode-range.js';
import { describe } from './fail.js';

/** Messages between decode-pool.ts and worker.ts. */
export interface RangeRequest {
  kind: 'range';
  id: number;
  job: RangeJob;
}
export type RangeReply =
  | { kind: 'range'; id: number; progress: number }
  | { kind: 'range'; id: number; ok: true; result: RangeResult }
  | { kind: 'range'; id: number; ok: false; error: { code: ErrorCode; message: string; data: Record<string, unknown> } };

const MAX_WORKERS = 4;

/** Bytes of decompressed archives a build keeps in memory (the rest is spooled to files). */
export class MemoryBudget {
  /** Kept by finished jobs. */
  kept = 0;
  /** Reserved by running jobs. */
  reserved = 0;
  constructor(readonly total: number) {}

  /** Reserve up to `want` bytes for a job; returns what was granted (0 when the budget is spent). */
  reserve(want: number): number {
    const grant = Math.max(0, Math.min(want, this.total - this.kept - this.reserved));
    this.reserved += grant;
    return grant;
  }

  /** A job ended: its reservation returns, `keptBytes` of it stay counted. */
  settle(granted: number, keptBytes: number): void {
    this.reserved -= granted;
    this.kept += keptBytes;
  }
}

interface Waiting {
  id: number;
  job: RangeJob;
  resolve(r: RangeResult): void;
  reject(e: unknown): void;
  onInput?: (bytes: number) => void;
}

export interface DecodePoolOptions {
  /** Worker threads at most (default: cores, at most 4). 0 or 1: decode in this thread. */
  workers?: number;
  workerUrl?: URL;
  /** Shared by every job (default: unlimited, each job within its own spool.memoryLimit). */
  budget?: MemoryBudget;
}

const INLINE = Symbol('inline');
type Slot = Worker | typeof INLINE;

export class DecodePool {
  private readonly url: URL | undefined;
  private readonly size: number;
  private readonly queue: Waiting[] = [];
  private readonly busy = new Map<Slot, Waiting & { granted: number }>();
  /** Each slot's spool file and where its next job starts writing. Not closed by the pool: the spools are the caller's once returned. */
  private readonly spools = new Map<Slot, { fd: number; end: number }>();
  private readonly idle: Worker[] = [];
  private readonly workers: Worker[] = [];
  private nextId = 0;
  private closed = false;
  readonly budget: MemoryBudget;
  /** Jobs run on worker threads (for tests). */
  inWorkers = 0;

  constructor(options: DecodePoolOptions = {}) {
    const here = import.meta.url;
    this.url = options.workerUrl ?? (here.endsWith('.js') ? new URL('./worker.js', here) : undefined);
    this.size = Math.min(options.workers ?? MAX_WORKERS, MAX_WORKERS, cores());
    this.budget = options.budget ?? new MemoryBudget(Number.POSITIVE_INFINITY);
  }

  /** Decode a range; `onInput` hears compressed bytes read as the job goes. */
  submit(job: RangeJob, onInput?: (bytes: number) => void): Promise<RangeResult> {
    if (this.closed) return Promise.reject(new Error('decode pool closed'));
    return new Promise<RangeResult>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, job, resolve, reject, ...(onInput ? { onInput } : {}) });
      this.dispatch();
    });
  }

  private get threaded(): boolean {
    return this.url !== undefined && this.size >= 2;
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let slot: Slot | undefined;
      if (this.threaded) {
        slot = this.idle.pop();
        if (!slot && this.workers.length < this.size) {
          try {
            slot = this.spawn();
          } catch {
            // No thread could start: with none running, jobs run here.
            if (this.workers.length === 0) slot = this.busy.has(INLINE) ? undefined : INLINE;
          }
        }
      } else if (!this.busy.has(INLINE)) slot = INLINE;
      if (slot === undefined) return;
      // Largest waiting job first.
      let best = 0;
      for (let i = 1; i < this.queue.length; i++) if (this.queue[i]!.job.size > this.queue[best]!.job.size) best = i;
      const q = this.queue.splice(best, 1)[0]!;
      // Jobs on workers spool to files: memory a worker allocates and hands over stays mixed
      // with its freed buffers in the worker's malloc arena, so every byte kept cost two of
      // RSS (measured: 64 MiB kept, +125 MB); the page cache serves the spool as well.
      const granted = slot === INLINE ? this.budget.reserve(q.job.spool.memoryLimit) : 0;
      const job: RangeJob = { ...q.job, spool: { ...q.job.spool, memoryLimit: granted } };
      // A job in this thread that may keep its output in memory makes a spool file only if it
      // spills (rare: it is granted up to its own limit).
      if (job.codec && !(slot === INLINE && granted > 0)) {
        // The slot's spool file, opened here (descriptors a worker opens close when it ends);
        // its jobs fill it one after another.
        let file = this.spools.get(slot);
        if (!file) {
          try {
            file = { fd: anonymousFile(job.spool.dir, job.origin), end: 0 };
          } catch (e) {
            this.budget.settle(granted, 0);
            if (slot !== INLINE) this.idle.push(slot);
            q.reject(e);
            continue;
          }
          this.spools.set(slot, file);
        }
        job.spool.fd = file.fd;
        job.spool.at = file.end;
      }
      this.busy.set(slot, { ...q, granted });
      if (slot === INLINE) {
        decodeRange(job, q.onInput).then(
          (r) => this.done(INLINE, r),
          (e: unknown) => this.failed(INLINE, e),
        );
      } else {
        const msg: RangeRequest = { kind: 'range', id: q.id, job };
        slot.postMessage(msg);
      }
    }
  }

  private done(slot: Slot, result: RangeResult): void {
    const q = this.busy.get(slot)!;
    this.busy.delete(slot);
    const s = result.spooled;
    this.budget.settle(q.granted, s?.kind === 'memory' ? s.held : 0);
    const file = this.spools.get(slot);
    if (file && s?.kind === 'file' && s.fd === file.fd) file.end = s.offset + s.size;
    if (slot !== INLINE) {
      this.inWorkers++;
      this.idle.push(slot);
    }
    q.resolve(result);
    this.dispatch();
  }

  private failed(slot: Slot, e: unknown): void {
    const q = this.busy.get(slot);
    this.busy.delete(slot);
    if (q) {
      this.budget.settle(q.granted, 0);
      q.reject(e);
    }
    if (!this.closed) this.dispatch();
  }

  private spawn(): Worker {
    const w = startWorker(this.url!);
    this.workers.push(w);
    w.on('message', (r: RangeReply) => {
      const q = this.busy.get(w);
      if (!q || r.id !== q.id) return;
      if ('progress' in r) {
        q.onInput?.(r.progress);
        return;
      }
      if (r.ok) this.done(w, r.result);
      else {
        this.idle.push(w);
        this.failed(w, new ExtimgError(r.error.code, r.error.message, r.error.data));
      }
    });
    const crashed = (reason: string): void => {
      const i = this.workers.indexOf(w);
      if (i >= 0) this.workers.splice(i, 1);
      const j = this.idle.indexOf(w);
      if (j >= 0) this.idle.splice(j, 1);
      const q = this.busy.get(w);
      if (!q) {
        if (!this.closed) this.dispatch();
        return;
      }
      const oom = /memory/i.test(reason);
      this.failed(w, new ExtimgError(oom ? 'ETOOBIG' : 'EIO', `${q.job.origin}: ${oom ? 'decompression ran out of memory' : `decompression worker failed: ${reason}`}`, { origin: q.job.origin }));
    };
    w.on('error', (e) => crashed(describe(e)));
    w.on('exit', (code) => {
      if (!this.closed) crashed(`exited with code ${code}`);
    });
    return w;
  }

  /**
   * The spool files the pool made (the caller closes them when done with the bytes in them; a
   * spool that received nothing is closed by closeUnusedSpools).
   */
  spoolFiles(): number[] {
    return [...this.spools.values()].map((f) => f.fd);
  }

  /** Stop the workers (jobs still waiting are refused). */
  async close(): Promise<void> {
    this.closed = true;
    for (const q of this.queue.splice(0)) q.reject(new Error('decode pool closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
    this.idle.length = 0;
  }
}
