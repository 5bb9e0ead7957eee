/**
 * Node adapter: pwrite()s done by a helper thread while the writer goes on filling the next
 * window ("write-behind"). The kernel's copy into the page cache is a fifth to half of an image
 * build's main-thread time; on a second core it overlaps the writer's own work.
 *
 * Writes are copied into a ring of shared slots and written by one worker, strictly in the
 * order given (the image writer rewrites some regions: the same bytes must win as with plain
 * pwrite). The writer thread blocks (Atomics.wait) only when the ring is full. The worker must
 * claim the ring before it writes anything; if it has not done so when the ring fills or when
 * the caller drains (a small image, a slow thread start, no worker module), this thread takes
 * the ring back and writes everything itself, synchronously, from then on. Errors (ENOSPC, EIO)
 * come back through a message port read synchronously and are thrown by the next call.
 */
import { MessageChannel, receiveMessageOnPort, type MessagePort, type Worker } from 'node:worker_threads';
import { startWorker } from './threads.js';
import { C, CONTROL_WORDS, writeAll, type WriteFailure, type WriteWorkerData } from './write-ring.js';

export interface WriteBehindOptions {
  /** Slots in the ring (default 4). */
  slots?: number;
  /**
   * Bytes a slot holds; longer writes take several (default 8 MiB). The image writer hands over
   * 1 MiB windows, so only a slot's first MiB is ever touched (resident).
   */
  slotBytes?: number;
  /** The worker module (tests use one that never claims the ring). */
  workerUrl?: URL;
}


/** The compiled worker beside this module, or undefined when running from .ts sources. */
function defaultWorkerUrl(): URL | undefined {
  return import.meta.url.endsWith('.js') ? new URL('./write-worker.js', import.meta.url) : undefined;
}

/** How long a full ring waits, once, for a worker that has not claimed it yet. */
const CLAIM_WAIT_MS = 250;

export class WriteBehind {
  private readonly control: Int32Array;
  /** Per slot: file offset, byte length. */
  private readonly meta: Float64Array;
  private readonly data: Uint8Array;
  private readonly slots: number;
  private readonly slotBytes: number;
  private readonly port: MessagePort;
  private worker: Worker | undefined;
  private head = 0;
  /** This thread took the ring back: plain synchronous writes. */
  private direct = false;
  private closed = false;
  private failure: Error | undefined;
  private waitedForClaim = false;

  /** Undefined when no helper thread can be had (from .ts sources, thread limits). */
  static start(fd: number, options: WriteBehindOptions = {}): WriteBehind | undefined {
    const url = options.workerUrl ?? defaultWorkerUrl();
    if (url === undefined) return undefined;
    try {
      return new WriteBehind(fd, url, options);
    } catch {
      return undefined;
    }
  }

  private constructor(
    private readonly fd: number,
    url: URL,
    options: WriteBehindOptions,
  ) {
    this.slots = options.slots ?? 4;
    this.slotBytes = options.slotBytes ?? 8 << 20;
    const control = new SharedArrayBuffer(CONTROL_WORDS * 4);
    const meta = new SharedArrayBuffer(this.slots * 2 * 8);
    const data = new SharedArrayBuffer(this.slots * this.slotBytes);
    this.control = new Int32Array(control);
    this.meta = new Float64Array(meta);
    this.data = new Uint8Array(data);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.port.unref();
    const workerData: WriteWorkerData = { fd, control, meta, data, slots: this.slots, slotBytes: this.slotBytes, port: port2 };
    this.worker = startWorker(url, { workerData, transferList: [port2] });
    this.worker.unref();
    // A worker that fails to load never claims the ring; this thread then writes (see take()).
    this.worker.on('error', () => {});
  }

  /** Whether the helper thread has the writes (false once this thread took them back). */
  get threaded(): boolean {
    return Atomics.load(this.control, C.OWNER) === 1;
  }

  /** Queue `bytes` for offset `offset` (copied: the caller may reuse its buffer at once). */
  write(offset: number, bytes: Uint8Array): void {
    this.check();
    if (this.direct) return writeAll(this.fd, bytes, offset);
    for (let done = 0; done < bytes.length; ) {
      const n = Math.min(this.slotBytes, bytes.length - done);
      if (!this.waitForSlot()) return writeAll(this.fd, bytes.subarray(done), offset + done);
      const slot = this.head % this.slots;
      this.data.set(bytes.subarray(done, done + n), slot * this.slotBytes);
      this.meta[slot * 2] = offset + done;
      this.meta[slot * 2 + 1] = n;
      this.head++;
      Atomics.store(this.control, C.HEAD, this.head);
      this.ring();
      done += n;
    }
  }

  /** Wait until every queued write is on the file (or has failed: thrown here). */
  drain(): void {
    this.check();
    if (this.direct || this.take(true)) return;
    for (;;) {
      const tail = Atomics.load(this.control, C.TAIL);
      if (tail === this.head) break;
      this.check();
      Atomics.wait(this.control, C.TAIL, tail, 50);
    }
    this.check();
  }

  private ring(): void {
    Atomics.add(this.control, C.BELL, 1);
    Atomics.notify(this.control, C.BELL);
  }

  /**
   * Stop the worker once it is done with the write in progress (never leave it writing to an fd
   * the caller is about to close). With `flush`, queued writes are written first; without, they
   * are dropped (the output is being thrown away).
   */
  close(flush: boolean): void {
    if (this.closed) return;
    try {
      if (flush) this.drain();
    } finally {
      this.closed = true;
      try {
        // Unflushed (the output is dropped): an unclaimed ring is taken back without writing it.
        if (!this.direct && !this.take(flush)) {
          Atomics.store(this.control, C.STOP, 1);
          this.ring();
          while (Atomics.load(this.control, C.STOPPED) === 0) Atomics.wait(this.control, C.STOPPED, 0, 50);
        }
      } finally {
        void this.worker?.terminate();
        this.worker = undefined;
        this.port.close();
      }
    }
  }

  /** Throw the worker's write error, if one came (and again on every later call). */
  private check(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new Error('write-behind used after close');
    if (Atomics.load(this.control, C.FAILED) === 0) {
      // A worker that stopped with writes outstanding and no error to show (it cannot, short of
      // a crash) must not leave us waiting for it.
      if (Atomics.load(this.control, C.STOPPED) === 0 || Atomics.load(this.control, C.TAIL) === this.head) return;
      this.failure = new Error('the write thread stopped before its writes were done');
      throw this.failure;
    }
    const m = receiveMessageOnPort(this.port)?.message as WriteFailure | undefined;
    const e = new Error(m?.message ?? 'write failed') as NodeJS.ErrnoException;
    if (m?.code) e.code = m.code;
    this.failure = e;
    throw e;
  }

  /**
   * If the worker has not claimed the ring yet, take it: write what is queued here (unless
   * `writeQueued` is false: the output is being dropped) and go direct. True when this thread
   * now owns the writes.
   */
  private take(writeQueued = true): boolean {
    const owner = Atomics.compareExchange(this.control, C.OWNER, 0, 2);
    if (owner === 1) return false;
    if (!this.direct) {
      this.direct = true;
      for (let i = Atomics.load(this.control, C.TAIL); writeQueued && i < this.head; i++) {
        const slot = i % this.slots;
        const n = this.meta[slot * 2 + 1]!;
        writeAll(this.fd, this.data.subarray(slot * this.slotBytes, slot * this.slotBytes + n), this.meta[slot * 2]!);
      }
      void this.worker?.terminate();
      this.worker = undefined;
    }
    return true;
  }

  /** Wait for a free slot; false when this thread took the ring back instead. */
  private waitForSlot(): boolean {
    for (;;) {
      const tail = Atomics.load(this.control, C.TAIL);
      if (this.head - tail < this.slots) return true;
      // Full before the worker claimed the ring: give a starting thread a moment (a Worker is
      // up in ~50 ms), then write here instead.
      if (!this.waitedForClaim && Atomics.load(this.control, C.OWNER) === 0) {
        this.waitedForClaim = true;
        Atomics.wait(this.control, C.OWNER, 0, CLAIM_WAIT_MS);
      }
      if (this.take()) return false;
      this.check();
      Atomics.wait(this.control, C.TAIL, tail, 50);
    }
  }
}
