import { ExtimgError } from '../errors.js';

/**
 * Strict checks for values that come from JSON (recipes) or from callers in plain JS. Every
 * message names the key path as the user wrote it: `image.json: edits[2].mdoe: unknown key`.
 */

export function invalid(at: string, message: string, data: Record<string, unknown> = {}): ExtimgError {
  return new ExtimgError('EINVAL', `${at}${at.endsWith(':') ? ' ' : ': '}${message}`, { at, ...data });
}

/**
 * The key path of `key` inside `at`: `edits[2]` + `mode` is `edits[2].mode`. A document's root
 * is written `image.json:`, and its keys `image.json: output`.
 */
export function child(at: string, key: string): string {
  return at.endsWith(':') ? `${at} ${key}` : `${at}.${key}`;
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An object whose keys are all in `allowed`; the first unknown key is an error naming it. */
export function checkObject(v: unknown, at: string, allowed: readonly string[]): Record<string, unknown> {
  if (!isObject(v)) throw invalid(at, `expected an object, got ${describe(v)}`);
  for (const key of Object.keys(v)) {
    if (!allowed.includes(key)) throw invalid(child(at, key), 'unknown key', { key });
  }
  return v;
}

export function optString(o: Record<string, unknown>, key: string, at: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalid(child(at, key), `expected a string, got ${describe(v)}`);
  return v;
}

export function reqString(o: Record<string, unknown>, key: string, at: string): string {
  const v = optString(o, key, at);
  if (v === undefined) throw invalid(at, `missing '${key}'`, { key });
  return v;
}

/** A non-empty string (paths, names). */
export function reqPath(o: Record<string, unknown>, key: string, at: string): string {
  const v = reqString(o, key, at);
  if (v === '') throw invalid(child(at, key), 'empty path');
  return v;
}

export function optBoolean(o: Record<string, unknown>, key: string, at: string): boolean | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw invalid(child(at, key), `expected true or false, got ${describe(v)}`);
  return v;
}

export function optInteger(o: Record<string, unknown>, key: string, at: string, min: number, max: number): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(child(at, key), `expected an integer, got ${describe(v)}`);
  if (v < min || v > max) throw invalid(child(at, key), `${v} out of range (${min}-${max})`);
  return v;
}

export function reqInteger(o: Record<string, unknown>, key: string, at: string, min: number, max: number): number {
  const v = optInteger(o, key, at, min, max);
  if (v === undefined) throw invalid(at, `missing '${key}'`, { key });
  return v;
}

export function optStringArray(o: Record<string, unknown>, key: string, at: string): string[] | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw invalid(child(at, key), `expected an array of strings, got ${describe(v)}`);
  v.forEach((item, i) => {
    if (typeof item !== 'string') throw invalid(`${child(at, key)}[${i}]`, `expected a string, got ${describe(item)}`);
  });
  return v as string[];
}
