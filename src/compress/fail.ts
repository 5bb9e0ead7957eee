import { ExtimgError } from '../errors.js';
import type { Codec } from './detect.js';

/**
 * The two ways a compressed stream is refused, as one-line ExtimgErrors that name the input
 * (`origin`) and, where known, the byte offset in the compressed input.
 */
export function corrupt(origin: string, codec: Codec, what: string, offset?: number): ExtimgError {
  const at = offset === undefined ? '' : ` at offset ${offset}`;
  return new ExtimgError('ECORRUPT', `${origin}: ${what}${at}`, { origin, codec, ...(offset === undefined ? {} : { offset }) });
}

export function truncated(origin: string, codec: Codec, offset: number): ExtimgError {
  return corrupt(origin, codec, `truncated ${codec} stream`, offset);
}

export function unsupported(origin: string, codec: Codec, what: string, offset?: number): ExtimgError {
  const at = offset === undefined ? '' : ` at offset ${offset}`;
  return new ExtimgError('EFORMAT', `${origin}: ${what}${at}`, { origin, codec, ...(offset === undefined ? {} : { offset }) });
}

/**
 * A decoder's internal refusal: what and where (offset in the compressed input). The decode
 * entry point turns it into an ExtimgError naming the input with fromDecodeError.
 */
export class DecodeError extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly kind: 'corrupt' | 'truncated' | 'unsupported' = 'corrupt',
  ) {
    super(message);
  }
}

export function fromDecodeError(e: DecodeError, origin: string, codec: Codec): ExtimgError {
  if (e.kind === 'truncated') return truncated(origin, codec, e.offset);
  if (e.kind === 'unsupported') return unsupported(origin, codec, e.message, e.offset);
  return corrupt(origin, codec, e.message, e.offset);
}

/** A little-endian u32 at `p`. */
export function u32le(d: Uint8Array, p: number): number {
  return (d[p]! | (d[p + 1]! << 8) | (d[p + 2]! << 16) | (d[p + 3]! << 24)) >>> 0;
}

/** One line from whatever a dependency threw: its message's first line, never a stack. */
export function describe(e: unknown): string {
  const text = e instanceof Error ? e.message : typeof e === 'string' ? e : String(e);
  const line = text.split('\n', 1)[0].trim();
  return line.length > 200 ? `${line.slice(0, 200)}...` : line || 'unknown error';
}
