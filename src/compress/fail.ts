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

/** One line from whatever a dependency threw: its message's first line, never a stack. */
export function describe(e: unknown): string {
  const text = e instanceof Error ? e.message : typeof e === 'string' ? e : String(e);
  const line = text.split('\n', 1)[0].trim();
  return line.length > 200 ? `${line.slice(0, 200)}...` : line || 'unknown error';
}
