import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { ExtimgError } from '../errors.js';

/**
 * Node adapter: where a decompressed archive goes while the tree refers to it. Small outputs
 * stay in memory (up to `memoryLimit`); past that everything goes to a spool file in `dir` (the
 * output's folder: the same filesystem, never elsewhere), which is unlinked the moment it is
 * created. The open descriptor is all that is left of it, so no exit path can leave it behind:
 * not an error, not Ctrl-C, not SIGKILL.
 */
export interface SpoolOptions {
  /** The folder the spool file is made in. */
  dir: string;
  /** Bytes kept in memory before spilling to the file. */
  memoryLimit: number;
  /**
   * A spool file made ahead (anonymousFile) to spill into, from byte `at` on: the decode pool
   * gives each worker one file that its jobs fill one after another (a build of thousands of
   * packages holds a few descriptors, not thousands), opened in the main thread (a worker's
   * own descriptors close when it ends).
   */
  fd?: number;
  at?: number;
}

/** Where spooled bytes are: memory blocks (in order), or `size` bytes at `offset` of a spool file. */
export type Spooled =
  /** `held`: the bytes of memory the chunks' buffers take (the last block is not trimmed). */
  | { kind: 'memory'; chunks: Uint8Array[]; size: number; held: number }
  | { kind: 'file'; fd: number; offset: number; size: number };

let counter = 0;

/** Close a descriptor, ignoring errors (cleanup paths). */
export function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Closed already.
  }
}

/** Create and unlink a temporary file in `dir`; returns its open descriptor. */
export function anonymousFile(dir: string, what: string): number {
  const name = path.join(dir, `.extimg-spool-${process.pid}-${counter++}-${randomBytes(4).toString('hex')}`);
  let fd: number;
  try {
    fd = fs.openSync(name, 'wx+', 0o600);
  } catch (e) {
    throw new ExtimgError('EIO', `${what}: cannot create a spool file in ${dir} (${(e as { code?: string }).code ?? 'error'})`, { path: dir });
  }
  try {
    fs.unlinkSync(name);
  } catch {
    // Unlinking an open file we just made cannot fail on Linux; if it did, it is removed at close.
  }
  return fd;
}

const WRITE_BATCH = 4 << 20;

/** Batch buffers of finished spools, for the next (a build spools hundreds of payloads). */
const freeBatches: Uint8Array[] = [];

function takeBatch(): Uint8Array {
  return freeBatches.pop() ?? new Uint8Array(WRITE_BATCH);
}

function returnBatch(b: Uint8Array | undefined): void {
  if (b && freeBatches.length < 4) freeBatches.push(b);
}

/** Memory blocks grow from 64 KiB to 1 MiB, never copied; the last is trimmed at the end. */
const FIRST_BLOCK = 64 << 10;
const MAX_BLOCK = 1 << 20;

export class SpoolWriter {
  private blocks: Uint8Array[] = [];
  /** Bytes used in the last block. */
  private lastLen = 0;
  private memLen = 0;
  private fd = -1;
  private fileSize = 0;
  /** Where in the spool file this writer's bytes start. */
  private base = 0;
  private batch: Uint8Array | undefined;
  private batchLen = 0;

  constructor(
    private readonly options: SpoolOptions,
    /** The input, for messages. */
    private readonly origin: string,
  ) {}

  /** Append a copy of `bytes`. */
  write(bytes: Uint8Array): void {
    if (this.fd < 0) {
      if (this.heldAfter(bytes.length) <= this.options.memoryLimit) {
        this.toMemory(bytes);
        return;
      }
      // Past the memory limit: from now on everything goes to the file.
      this.fd = this.options.fd ?? anonymousFile(this.options.dir, this.origin);
      this.base = this.options.fd !== undefined ? (this.options.at ?? 0) : 0;
      this.batch = takeBatch();
      for (const [i, b] of this.blocks.entries()) this.append(i === this.blocks.length - 1 ? b.subarray(0, this.lastLen) : b);
      this.blocks = [];
      this.memLen = 0;
    }
    this.append(bytes);
  }

  /** The memory the blocks would take with `n` more bytes. */
  private heldAfter(n: number): number {
    let held = 0;
    for (const b of this.blocks) held += b.length;
    const last = this.blocks[this.blocks.length - 1];
    let room = last ? last.length - this.lastLen : 0;
    let size = last ? last.length : FIRST_BLOCK / 2;
    while (room < n) {
      size = Math.min(MAX_BLOCK, size * 2);
      held += size;
      room += size;
    }
    return held;
  }

  private toMemory(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length) {
      let last = this.blocks[this.blocks.length - 1];
      if (!last || this.lastLen === last.length) {
        last = new Uint8Array(Math.min(MAX_BLOCK, last ? last.length * 2 : FIRST_BLOCK));
        this.blocks.push(last);
        this.lastLen = 0;
      }
      const n = Math.min(bytes.length - at, last.length - this.lastLen);
      last.set(bytes.subarray(at, at + n), this.lastLen);
      this.lastLen += n;
      at += n;
    }
    this.memLen += bytes.length;
  }

  private append(bytes: Uint8Array): void {
    const batch = this.batch!;
    if (bytes.length >= WRITE_BATCH) {
      this.flush();
      this.writeAll(bytes);
      return;
    }
    if (this.batchLen + bytes.length > WRITE_BATCH) this.flush();
    batch.set(bytes, this.batchLen);
    this.batchLen += bytes.length;
  }

  private flush(): void {
    if (this.batchLen === 0) return;
    this.writeAll(this.batch!.subarray(0, this.batchLen));
    this.batchLen = 0;
  }

  private writeAll(bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) {
      try {
        done += fs.writeSync(this.fd, bytes, done, bytes.length - done, this.base + this.fileSize + done);
      } catch (e) {
        const code = (e as { code?: string }).code ?? 'error';
        throw new ExtimgError(code === 'ENOSPC' ? 'ENOSPC' : 'EIO', `${this.origin}: cannot spool the decompressed archive to ${this.options.dir} (${code})`, {
          path: this.options.dir,
        });
      }
    }
    this.fileSize += bytes.length;
  }

  /** All written: where the bytes are now. */
  finish(): Spooled {
    if (this.fd < 0) {
      const chunks = this.blocks;
      const n = chunks.length;
      const held = chunks.reduce((sum, c) => sum + c.length, 0);
      // The last block is not trimmed (a copy, and garbage): it is at most twice what it holds.
      if (n > 0) chunks[n - 1] = chunks[n - 1]!.subarray(0, this.lastLen);
      this.blocks = [];
      return { kind: 'memory', chunks: chunks.filter((c) => c.length > 0), size: this.memLen, held };
    }
    this.flush();
    returnBatch(this.batch);
    this.batch = undefined;
    return { kind: 'file', fd: this.fd, offset: this.base, size: this.fileSize };
  }

  /** Give up (an error): close the spool file, if this writer made one. */
  abort(): void {
    // A descriptor given in the options is its giver's to close.
    if (this.fd >= 0 && this.fd !== this.options.fd) closeQuietly(this.fd);
    this.fd = -1;
    returnBatch(this.batch);
    this.batch = undefined;
    this.blocks = [];
  }
}
