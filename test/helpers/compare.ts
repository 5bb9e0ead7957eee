import { showPath, type Entry, type Manifest } from './manifest.js';

export type Field = keyof Entry;

export interface CompareOptions {
  /** Fields not to compare at all (a reader that cannot see them, a producer that cannot keep them). */
  ignore?: readonly Field[];
  /** Paths (byte-string keys) to leave out on both sides. */
  skipPaths?: readonly string[];
  /** Compare mtime seconds only. */
  ignoreNsec?: boolean;
}

const FIELDS: readonly Field[] = [
  'type',
  'mode',
  'uid',
  'gid',
  'size',
  'digest',
  'target',
  'major',
  'minor',
  'mtime',
  'nlink',
  'inodeGroup',
  'allocatedBlocks',
];

function show(field: Field, v: unknown): string {
  if (v === undefined) return '(none)';
  if (field === 'mode' && typeof v === 'number') return `0${v.toString(8)}`;
  if (field === 'mtime') {
    const t = v as { sec: number; nsec?: number };
    if (t.nsec === undefined) return `${t.sec}`;
    // {sec: -1, nsec: 5e8} is -0.5 s: print it so it cannot be misread as -1.5.
    return t.sec < 0 && t.nsec > 0 ? `${t.sec}s+${t.nsec}ns` : `${t.sec}.${String(t.nsec).padStart(9, '0')}`;
  }
  if (field === 'target' && typeof v === 'string') {
    const text = Buffer.from(v, 'hex').toString('latin1');
    return `${showPath(text).slice(1)} (${v.length / 2} bytes)`;
  }
  if (field === 'inodeGroup' && typeof v === 'string') return showPath(v);
  if (field === 'digest' && typeof v === 'string') return v.slice(0, 16);
  return String(v);
}

function same(field: Field, a: unknown, b: unknown, opts: CompareOptions): boolean {
  if (field === 'mtime') {
    const x = a as { sec: number; nsec?: number };
    const y = b as { sec: number; nsec?: number };
    if (x.sec !== y.sec) return false;
    if (opts.ignoreNsec || x.nsec === undefined || y.nsec === undefined) return true;
    return x.nsec === y.nsec;
  }
  return a === b;
}

/**
 * Differences between what should be in an image and what a reader found, one readable line each:
 * `/path: field expected X, actual Y`. A field undefined on either side is not compared.
 */
export function compareManifests(expected: Manifest, actual: Manifest, opts: CompareOptions = {}): string[] {
  const ignore = new Set(opts.ignore ?? []);
  const skip = new Set(opts.skipPaths ?? []);
  const diffs: string[] = [];
  const keys = [...new Set([...expected.keys(), ...actual.keys()])].sort();
  for (const key of keys) {
    if (skip.has(key)) continue;
    const e = expected.get(key);
    const a = actual.get(key);
    if (!a) {
      diffs.push(`${showPath(key)}: missing (expected ${e!.type})`);
      continue;
    }
    if (!e) {
      diffs.push(`${showPath(key)}: unexpected ${a.type}`);
      continue;
    }
    if (a.error !== undefined) {
      diffs.push(`${showPath(key)}: unreadable: ${a.error}`);
      continue;
    }
    for (const f of FIELDS) {
      if (ignore.has(f)) continue;
      const x = e[f];
      const y = a[f];
      if (x === undefined || y === undefined) continue;
      if (!same(f, x, y, opts)) diffs.push(`${showPath(key)}: ${f} expected ${show(f, x)}, actual ${show(f, y)}`);
      if (f === 'type' && x !== y) break;
    }
  }
  return diffs;
}

/** Throw a readable error listing the differences (at most `limit`) unless the manifests agree. */
export function expectSameManifest(
  expected: Manifest,
  actual: Manifest,
  label: string,
  opts: CompareOptions & { limit?: number } = {},
): void {
  const diffs = compareManifests(expected, actual, opts);
  if (diffs.length === 0) return;
  const limit = opts.limit ?? 60;
  const shown = diffs.slice(0, limit).join('\n  ');
  const more = diffs.length > limit ? `\n  ... and ${diffs.length - limit} more` : '';
  throw new Error(`${label}: ${diffs.length} difference(s) (expected vs actual)\n  ${shown}${more}`);
}
