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
import { decodeRange } from './decode-range.js';
import type { RangeReply, RangeRequest } from './decode-pool.js';

const port = parentPort;
if (port) {
  port.on('message', (msg: JobRequest | RangeRequest) => {
    if ('kind' in msg) {
      void runRange(msg);
      return;
    }
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

/** A file range to decode into a spool (decode-pool.ts): progress every 8 MiB of input, then the result. */
async function runRange(msg: RangeRequest): Promise<void> {
  const p = port!;
  let pending = 0;
  try {
    const result = await decodeRange(msg.job, (n) => {
      pending += n;
      if (pending >= 8 << 20) {
        const reply: RangeReply = { kind: 'range', id: msg.id, progress: pending };
        p.postMessage(reply);
        pending = 0;
      }
    });
    if (pending) p.postMessage({ kind: 'range', id: msg.id, progress: pending } satisfies RangeReply);
    const reply: RangeReply = { kind: 'range', id: msg.id, ok: true, result };
    if (result.spooled?.kind === 'memory') {
      // Each chunk is a view of its own block (SpoolWriter.finish): the blocks move, uncopied.
      p.postMessage(reply, result.spooled.chunks.map((c) => c.buffer as ArrayBuffer));
    } else p.postMessage(reply);
  } catch (e) {
    const err = isExtimgError(e) ? e : new ExtimgError('EIO', `${msg.job.origin}: ${describe(e)}`, { origin: msg.job.origin });
    let data: Record<string, unknown> = {};
    try {
      data = structuredClone(err.data);
    } catch {
      data = {};
    }
    p.postMessage({ kind: 'range', id: msg.id, ok: false, error: { code: err.code, message: err.message, data } } satisfies RangeReply);
  }
}
