/**
 * What write-behind.ts and its worker (write-worker.ts) share: the control words of the ring
 * and the one pwrite loop. Kept apart so the worker loads nothing else.
 */
import * as fs from 'node:fs';
import type { MessagePort } from 'node:worker_threads';

/** Indices of the shared Int32 control words. */
export const C = {
  /** Slots filled by the writer thread (a counter; slot = count % slots). */
  HEAD: 0,
  /** Slots written by the worker (a counter). */
  TAIL: 1,
  /** 0: nobody yet; 1: the worker writes; 2: the writer thread writes (worker shut out). */
  OWNER: 2,
  /** 1: the worker is to stop before its next slot (the output is being closed or dropped). */
  STOP: 3,
  /** 1: the worker has stopped (asked to, or after a failed write). */
  STOPPED: 4,
  /** 1: a write failed; its error is waiting on the port. */
  FAILED: 5,
  /** Bumped by the writer thread on every new slot and on a stop request: the worker sleeps on it. */
  BELL: 6,
} as const;
export const CONTROL_WORDS = 8;

/** What the worker receives as workerData. */
export interface WriteWorkerData {
  fd: number;
  control: SharedArrayBuffer;
  /** Float64 per slot: file offset, byte length. */
  meta: SharedArrayBuffer;
  data: SharedArrayBuffer;
  slots: number;
  slotBytes: number;
  port: MessagePort;
}

/** A failed write as it crosses the port. */
export interface WriteFailure {
  code?: string;
  message: string;
}

/** pwrite all of `bytes` at `offset` (short writes continued). */
export function writeAll(fd: number, bytes: Uint8Array, offset: number): void {
  for (let done = 0; done < bytes.length; ) done += fs.writeSync(fd, bytes, done, bytes.length - done, offset + done);
}
