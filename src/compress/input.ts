/**
 * Push decoding for the codecs written here (xz, lzma, bzip2, lz4): a decoder is a generator
 * that reads an InputBuffer and `yield`s when it needs more bytes than have arrived; the driver
 * (PushDecoder) resumes it after each push. The generator only yields between whole units (an
 * LZMA2 chunk, a bzip2 block, an lz4 block), so the hot loops never see the boundary and the
 * input held at any time is about one unit. A whole buffer pushed at once is read in place.
 */
import { DecodeError } from './fail.js';

export class InputBuffer {
  buf: Uint8Array = new Uint8Array(0);
  /** Next byte to read. */
  pos = 0;
  /** One past the last byte arrived. */
  end = 0;
  /** No more input will come. */
  eof = false;
  /** Offset in the whole compressed input of buf[0] (for messages). */
  base = 0;
  /** `buf` is the caller's array (a whole-buffer push), not ours to write into. */
  private borrowed = false;

  get available(): number {
    return this.end - this.pos;
  }

  /** The offset in the whole input of `p` (a position in buf). */
  offset(p = this.pos): number {
    return this.base + p;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.end === this.pos) {
      // Nothing pending: read the chunk where it is.
      this.base += this.pos;
      this.buf = chunk;
      this.pos = 0;
      this.end = chunk.length;
      this.borrowed = true;
      return;
    }
    const pending = this.end - this.pos;
    if (this.borrowed || this.pos + pending + chunk.length > this.buf.length) {
      // A borrowed chunk's length says nothing about what we need: start from 64 KiB.
      let cap = Math.max(this.borrowed ? 0 : this.buf.length, 1 << 16);
      while (cap < pending + chunk.length) cap *= 2;
      if (this.borrowed || cap > this.buf.length) {
        const next = new Uint8Array(cap);
        next.set(this.buf.subarray(this.pos, this.end), 0);
        this.buf = next;
      } else this.buf.copyWithin(0, this.pos, this.end);
      this.base += this.pos;
      this.pos = 0;
      this.end = pending;
      this.borrowed = false;
    }
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }
}

/** A decoder generator: reads `input`, yields to wait for more, returns at its end. */
export type DecoderGenerator = Generator<void, void, void>;

/**
 * Wait until `n` bytes are available at input.pos (the data then sits contiguously in
 * input.buf); at the end of the input that is truncation.
 */
export function* need(input: InputBuffer, n: number): Generator<void, void, void> {
  while (input.end - input.pos < n) {
    if (input.eof) throw new DecodeError('truncated', input.offset(input.end), 'truncated');
    yield;
  }
}

/** Wait for at least one more byte; false at the end of the input. */
export function* more(input: InputBuffer): Generator<void, boolean, void> {
  while (input.end === input.pos) {
    if (input.eof) return false;
    yield;
  }
  return true;
}

/** Runs a decoder generator as chunks arrive: push() as often as needed, then end(). */
export class PushDecoder {
  readonly input = new InputBuffer();
  private readonly gen: DecoderGenerator;
  private done = false;

  constructor(make: (input: InputBuffer) => DecoderGenerator) {
    this.gen = make(this.input);
  }

  push(chunk: Uint8Array): void {
    if (this.done) {
      if (chunk.some((b) => b !== 0)) throw new DecodeError('data after the end of the compressed stream', this.input.offset(this.input.end));
      return;
    }
    this.input.push(chunk);
    this.step();
  }

  end(): void {
    this.input.eof = true;
    this.step();
    if (!this.done) throw new DecodeError('truncated', this.input.offset(this.input.end), 'truncated');
  }

  private step(): void {
    while (!this.done) {
      const r = this.gen.next();
      if (r.done) this.done = true;
      else if (!this.input.eof) return;
    }
  }
}
