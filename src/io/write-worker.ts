/**
 * Worker-thread entry for write-behind.ts: claims the ring (unless the writer thread already
 * took it back), then writes slot after slot in order until asked to stop. A failed write is
 * reported on the port and ends the worker; the writer thread throws it.
 */
import { workerData } from 'node:worker_threads';
import { C, writeAll, type WriteFailure, type WriteWorkerData } from './write-ring.js';

const d = workerData as WriteWorkerData | undefined;
if (d) {
  const control = new Int32Array(d.control);
  const meta = new Float64Array(d.meta);
  const data = new Uint8Array(d.data);
  if (Atomics.compareExchange(control, C.OWNER, 0, 1) === 0) {
    Atomics.notify(control, C.OWNER);
    let tail = 0;
    try {
      for (;;) {
        // Read the bell before looking: a slot or stop request after this read changes it, so
        // the wait below returns at once instead of sleeping through it.
        const bell = Atomics.load(control, C.BELL);
        if (Atomics.load(control, C.STOP) !== 0) break;
        const head = Atomics.load(control, C.HEAD);
        if (tail === head) {
          Atomics.wait(control, C.BELL, bell, 1000);
          continue;
        }
        const slot = tail % d.slots;
        const at = slot * d.slotBytes;
        writeAll(d.fd, data.subarray(at, at + meta[slot * 2 + 1]!), meta[slot * 2]!);
        tail++;
        Atomics.store(control, C.TAIL, tail);
        Atomics.notify(control, C.TAIL);
      }
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const failure: WriteFailure = { message: err?.message ?? String(e), ...(err?.code ? { code: err.code } : {}) };
      try {
        d.port.postMessage(failure);
      } finally {
        Atomics.store(control, C.FAILED, 1);
      }
      Atomics.notify(control, C.TAIL);
    } finally {
      Atomics.store(control, C.STOPPED, 1);
      Atomics.notify(control, C.STOPPED);
    }
  }
}
