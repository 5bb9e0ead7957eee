/**
 * Node adapter: how many cores, and starting worker threads with the parent's Node options
 * (shared by the decompression pool, the part encoders and the write-behind thread).
 */
import { availableParallelism, cpus } from 'node:os';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** Cores this process may use (1 when Node cannot tell). */
export function cores(): number {
  try {
    return availableParallelism();
  } catch {
    return cpus().length || 1;
  }
}

/** Node options a Worker refused with ERR_WORKER_INVALID_EXEC_ARGV in this process. */
const refusedArgs = new Set<string>();

/**
 * The parent's Node options for a worker, minus those a worker cannot take: `--input-type`
 * (it only applies to code given with -e or on stdin, and a worker given it dies) and the ones
 * a Worker constructor refused before (V8 and per-process options such as
 * `--max-old-space-size=4096`, `--stack-size`, `--trace-gc`).
 */
export function workerExecArgv(): string[] {
  return process.execArgv.filter((a) => !a.startsWith('--input-type') && !refusedArgs.has(a));
}

/**
 * A worker for `url` with the parent's Node options it can take. Node refuses V8 options in an
 * explicit execArgv and names them in its message; those are left out and the worker started
 * again (with no options at all if the message cannot be read). Other failures are thrown.
 */
export function startWorker(url: URL, options: Omit<WorkerOptions, 'execArgv'> = {}): Worker {
  for (let attempt = 0; ; attempt++) {
    try {
      return new Worker(url, { ...options, execArgv: workerExecArgv() });
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV' || attempt >= 2) throw e;
      const named = /flags: (.+)$/.exec((e as Error).message)?.[1]?.split(', ') ?? [];
      const known = attempt === 0 ? named.filter((a) => process.execArgv.includes(a)) : [];
      for (const a of known.length > 0 ? known : process.execArgv) refusedArgs.add(a);
    }
  }
}

/**
 * Worker threads started ahead of need for one worker module (the decompression pool's and the
 * part encoders' warm sets): unref'd until taken, so an unused set never keeps the process
 * alive; a worker that fails or exits before it is taken is only marked (an 'error' without a
 * listener would be thrown in this thread) and never handed out.
 */
export class WarmWorkers {
  private workers: { worker: Worker; dead: boolean }[] = [];

  private constructor(readonly url: string) {}

  /** Up to `size` workers for `url` (fewer when the thread limit stops them); `onDied` counts deaths. */
  static start(url: URL, size: number, onDied?: () => void): WarmWorkers {
    const set = new WarmWorkers(url.href);
    for (let i = 0; i < size; i++) {
      let worker: Worker;
      try {
        worker = startWorker(url);
      } catch {
        break;
      }
      const w = { worker, dead: false };
      worker.unref();
      const died = (): void => {
        if (w.dead) return;
        w.dead = true;
        onDied?.();
      };
      worker.on('error', died);
      worker.on('exit', died);
      set.workers.push(w);
    }
    return set;
  }

  /** The workers started (live or not), for messages sent before any is taken. */
  get all(): readonly Worker[] {
    return this.workers.map((w) => w.worker);
  }

  /** How many are still alive. */
  get live(): number {
    return this.workers.filter((w) => !w.dead).length;
  }

  /** Up to `size` live workers, ref'd and without this set's listeners; the rest stay. */
  take(size: number): Worker[] {
    const live = this.workers.filter((w) => !w.dead);
    this.workers = live.slice(size);
    const taken = live.slice(0, size).map((w) => w.worker);
    for (const w of taken) {
      w.removeAllListeners('error');
      w.removeAllListeners('exit');
      w.ref();
    }
    return taken;
  }

  /** Stop every worker not taken. */
  drop(): void {
    for (const w of this.workers) void w.worker.terminate();
    this.workers = [];
  }
}
