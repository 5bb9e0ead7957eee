/**
 * Worker-thread entry for pool.ts: decompresses one job per message and sends the bytes back
 * by transfer. Errors travel as { code, message, data } and are rebuilt as ExtimgError.
 */
import { parentPort } from 'node:worker_threads';
import { ExtimgError, isExtimgError } from '../errors.js';
import { decompressAuto } from './decompress.js';
import { describe } from './fail.js';
import type { JobRequest, JobResult } from './pool.js';
import { ownsBuffer } from './pool.js';

const port = parentPort;
if (port) {
  port.on('message', (msg: JobRequest) => {
    void run(msg).then((reply) => {
      if (reply.ok) {
        let data = reply.data;
        // A view into a shared allocation (a pooled small Buffer) is copied, not transferred.
        if (!ownsBuffer(data)) data = data.slice();
        port.postMessage({ ...reply, data }, [data.buffer as ArrayBuffer]);
      } else {
        port.postMessage(reply);
      }
    });
  });
}

async function run(msg: JobRequest): Promise<JobResult> {
  try {
    const r = await decompressAuto(msg.data, msg.origin);
    return { id: msg.id, ok: true, codec: r.codec, data: r.data };
  } catch (e) {
    // decompressAuto throws only ExtimgErrors; anything else is a bug reported on one line.
    const err = isExtimgError(e) ? e : new ExtimgError('EIO', `${msg.origin}: ${describe(e)}`, { origin: msg.origin });
    let data: Record<string, unknown> = {};
    try {
      data = structuredClone(err.data);
    } catch {
      data = {};
    }
    return { id: msg.id, ok: false, error: { code: err.code, message: err.message, data } };
  }
}
