/**
 * Node adapter: decompress a byte range of an open file (an input archive, a .deb's data
 * member, an image layer) into a spool, as a stream: the file is read in 1 MiB chunks and the
 * decoded bytes go to the spool as they come, so neither the compressed nor the decompressed
 * archive is ever held whole. The same pass can take the SHA-256 of what it reads and of what it
 * decodes (OCI blob digests and layer diff_ids); with no codec it only hashes. Runs in a decode
 * worker (compress/worker.ts) or, without workers, in this thread.
 */
import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import { ExtimgError } from '../errors.js';
import { SpoolWriter, type SpoolOptions, type Spooled } from '../io/spool.js';
import type { Codec } from './detect.js';
import { decodeStream, releasesChunks } from './stream.js';

export interface RangeJob {
  /** An open descriptor (descriptors are shared by all threads of the process). */
  fd: number;
  offset: number;
  size: number;
  /** Undefined: nothing to decode, the range is only hashed. */
  codec?: Codec | undefined;
  /** Names the input in messages ("pkg.deb: data.tar.xz"). */
  origin: string;
  spool: SpoolOptions;
  /** Take the SHA-256 of the range as read (`input`) and of the decoded bytes (`output`). */
  digests?: { input?: boolean; output?: boolean };
}

export interface RangeResult {
  /** Where the decoded bytes are (absent when the job had no codec). */
  spooled?: Spooled;
  /** Lowercase hex SHA-256 digests, as asked for. */
  inputSha256?: string;
  outputSha256?: string;
}

const READ_CHUNK = 1 << 20;

/**
 * The range as chunks. Fresh arrays each time where the decoder may keep one (node:zlib queues
 * them); otherwise two arrays in turn (the decoder copies what it keeps of a chunk when the next
 * arrives), so a long stream leaves no megabytes of dead buffers waiting for the collector.
 */
function* fileChunks(job: RangeJob, onInput?: (bytes: number) => void): Generator<Uint8Array> {
  // The thread's pair when free (a thread runs one decode job at a time; a second at once,
  // which the pool never starts, would take fresh arrays).
  // Hashing alone consumes each chunk at once.
  const spare = (!job.codec || releasesChunks(job.codec)) && !readPair.busy ? readPair : undefined;
  if (spare) spare.busy = true;
  try {
    yield* readRange(job, spare?.bufs, onInput);
  } finally {
    if (spare) spare.busy = false;
  }
}

/** Two read buffers per thread, reused by job after job. */
const readPair = { busy: false, bufs: [new Uint8Array(0), new Uint8Array(0)] as [Uint8Array, Uint8Array] };

function* readRange(job: RangeJob, pair: [Uint8Array, Uint8Array] | undefined, onInput?: (bytes: number) => void): Generator<Uint8Array> {
  let done = 0;
  for (let k = 0; done < job.size; k++) {
    const n = Math.min(READ_CHUNK, job.size - done);
    if (pair && pair[k & 1].length < n) pair[k & 1] = new Uint8Array(READ_CHUNK);
    const buf = pair ? pair[k & 1].subarray(0, n) : new Uint8Array(n);
    let got = 0;
    while (got < n) {
      let r: number;
      try {
        r = fs.readSync(job.fd, buf, got, n - got, job.offset + done + got);
      } catch (e) {
        throw new ExtimgError('EIO', `${job.origin}: read failed (${(e as { code?: string }).code ?? 'error'})`, { origin: job.origin });
      }
      if (r === 0) throw new ExtimgError('EIO', `${job.origin}: the file shrank while it was read`, { origin: job.origin });
      got += r;
    }
    done += n;
    onInput?.(n);
    yield buf;
  }
}

export async function decodeRange(job: RangeJob, onInput?: (bytes: number) => void): Promise<RangeResult> {
  const inHash = job.digests?.input ? createHash('sha256') : undefined;
  const outHash = job.digests?.output ? createHash('sha256') : undefined;
  const hashed = (h: Hash | undefined): string | undefined => h?.digest('hex');
  if (!job.codec) {
    for (const chunk of fileChunks(job, onInput)) {
      inHash?.update(chunk);
      outHash?.update(chunk);
    }
    return digests({}, hashed(inHash), hashed(outHash));
  }
  const chunks = inHash ? tee(fileChunks(job, onInput), inHash) : fileChunks(job, onInput);
  const spooled = await decodeToSpool(job.codec, chunks, job.origin, job.spool, outHash ? (b) => outHash.update(b) : undefined);
  return digests({ spooled }, hashed(inHash), hashed(outHash));
}

function digests(r: RangeResult, input: string | undefined, output: string | undefined): RangeResult {
  if (input !== undefined) r.inputSha256 = input;
  if (output !== undefined) r.outputSha256 = output;
  return r;
}

function* tee(chunks: Iterable<Uint8Array>, hash: Hash): Generator<Uint8Array> {
  for (const c of chunks) {
    hash.update(c);
    yield c;
  }
}

/** Decode a compressed stream given as chunks (stdin, a range in memory) into a spool. */
export async function decodeToSpool(
  codec: Codec,
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  origin: string,
  options: SpoolOptions,
  /** Sees every decoded chunk too (a digest). */
  also?: (bytes: Uint8Array) => void,
): Promise<Spooled> {
  const spool = new SpoolWriter(options, origin);
  try {
    await decodeStream(codec, chunks, origin, also ? (b) => (also(b), spool.write(b)) : (b) => spool.write(b));
    return spool.finish();
  } catch (e) {
    spool.abort();
    throw e;
  }
}
