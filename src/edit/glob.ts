import { ExtimgError } from '../errors.js';

/**
 * `--exclude PATTERN` as GNU tar applies it (its defaults for exclusion: wildcards, unanchored,
 * wildcards match '/'). tar calls gnulib's exclude_fnmatch(): fnmatch(3) without FNM_PATHNAME
 * and with FNM_LEADING_DIR, tried against the whole member name and against every suffix that
 * starts after a '/'. So:
 * - `*`, `?` and `[...]` match any character, '/' included; `\` quotes the next character;
 * - a pattern matches a path when it matches a run of whole trailing-or-inner components: `*.pyc`
 *   any name ending in .pyc at any depth, `usr/share/doc` that directory wherever it sits;
 * - whatever is below a matched path is matched too (FNM_LEADING_DIR): excluding a directory
 *   excludes its contents.
 * Two additions to tar: a pattern that starts with `/` or `./` is anchored at the input's root
 * (tar needs `--anchored` and names as stored), and a trailing `/` is ignored (in tar a pattern
 * ending in '/' never matches anything).
 */
export type PathMatcher = (path: string) => boolean;

/** One compiled pattern. */
interface Compiled {
  pattern: string;
  anchored: boolean;
  re: RegExp;
}

function compileOne(pattern: string, where: string): Compiled {
  if (pattern === '') throw new ExtimgError('EINVAL', `${where}: empty exclude pattern`, { pattern });
  let p = pattern;
  let anchored = false;
  for (;;) {
    if (p.startsWith('/')) p = p.slice(1);
    else if (p.startsWith('./')) p = p.slice(2);
    else break;
    anchored = true;
  }
  // A trailing '/' (not a quoted one) asks for a directory: the name itself is what matches.
  while (p.length > 1 && p.endsWith('/') && !p.endsWith('\\/')) p = p.slice(0, -1);
  if (p === '' || p === '/' || p === '.') {
    throw new ExtimgError('EINVAL', `${where}: exclude pattern '${pattern}' would exclude the whole input`, { pattern });
  }
  const body = globBody(p);
  // Unanchored: at the start or right after any '/'. `.*` may itself cross '/', which is exactly
  // "some suffix that starts after a '/'".
  let re: RegExp;
  try {
    re = new RegExp(`${anchored ? '^' : '(?:^|/)'}(?:${body})(?:/.*)?$`, 's');
  } catch {
    // A reversed range ([z-a]) and the like: fnmatch matches nothing with it; say so instead.
    throw new ExtimgError('EINVAL', `${where}: exclude pattern '${pattern}' has an invalid [...] range`, { pattern });
  }
  return { pattern, anchored, re };
}

/**
 * A matcher for a list of patterns: true when any of them excludes `path`. Paths may come with
 * or without a leading '/' or './' and a trailing '/'; they are taken relative to the input's
 * root.
 */
export function excludeMatcher(patterns: readonly string[], where = '--exclude'): PathMatcher {
  return new Excludes(patterns, where).test;
}

/**
 * A list of exclude patterns that remembers which of them ever matched, so that a pattern that
 * matched nothing (a typo such as `/prco` would copy all of /proc) can be named afterwards.
 * One set may serve several inputs.
 */
export class Excludes {
  private readonly compiled: Compiled[];
  private readonly hit: boolean[];
  private unhit: number;

  constructor(readonly patterns: readonly string[], where = '--exclude') {
    this.compiled = patterns.map((p) => compileOne(p, where));
    this.hit = this.compiled.map(() => false);
    this.unhit = this.compiled.length;
  }

  get size(): number {
    return this.compiled.length;
  }

  /** Whether a pattern excludes `path`; patterns that never matched yet are all tried. */
  readonly test = (path: string): boolean => {
    const compiled = this.compiled;
    if (compiled.length === 0) return false;
    const p = normalizePath(path);
    if (p === '') return false; // the input's root itself is never excluded
    let excluded = false;
    for (let i = 0; i < compiled.length; i++) {
      if (excluded && (this.unhit === 0 || this.hit[i])) continue;
      if (compiled[i]!.re.test(p)) {
        excluded = true;
        if (!this.hit[i]) {
          this.hit[i] = true;
          this.unhit--;
        }
      }
    }
    return excluded;
  };

  /** The patterns that have not matched any path so far, as given. */
  unmatched(): string[] {
    return this.compiled.filter((_, i) => !this.hit[i]).map((c) => c.pattern);
  }
}

/** Check patterns early (for usage errors) without building a matcher. */
export function checkExcludePatterns(patterns: readonly string[], where = '--exclude'): void {
  for (const p of patterns) compileOne(p, where);
}

/** Drop leading '/' and './', repeated '/', '.' components and a trailing '/'. */
export function normalizePath(path: string): string {
  const parts: string[] = [];
  for (const part of path.split('/')) if (part !== '' && part !== '.') parts.push(part);
  return parts.join('/');
}

/** fnmatch(3) pattern syntax to a RegExp source (no anchors). */
function globBody(p: string): string {
  let out = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*') {
      while (p[i + 1] === '*') i++; // '**' is '*' here: both already cross '/'
      out += '.*';
    } else if (c === '?') {
      out += '.';
    } else if (c === '\\' && i + 1 < p.length) {
      out += escapeRe(p[++i]!);
    } else if (c === '[') {
      const cls = bracket(p, i);
      if (cls) {
        out += cls.source;
        i = cls.end;
      } else {
        out += '\\[';
      }
    } else {
      out += escapeRe(c);
    }
  }
  return out;
}

const CLASSES: Record<string, string> = {
  alnum: 'a-zA-Z0-9',
  alpha: 'a-zA-Z',
  blank: ' \\t',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '\\x21-\\x7e',
  lower: 'a-z',
  print: '\\x20-\\x7e',
  punct: '!-\\/:-@\\[-`{-~',
  space: ' \\t\\n\\r\\f\\v',
  upper: 'A-Z',
  xdigit: '0-9A-Fa-f',
};

/**
 * A bracket expression at p[start] === '['. Returns undefined when it is not closed (fnmatch
 * then takes '[' literally). '!' or '^' first negates; ']' first is literal; `[:name:]`
 * classes as in the C locale.
 */
function bracket(p: string, start: number): { source: string; end: number } | undefined {
  let i = start + 1;
  let negate = false;
  if (p[i] === '!' || p[i] === '^') {
    negate = true;
    i++;
  }
  let body = '';
  let first = true;
  for (; i < p.length; i++) {
    const c = p[i]!;
    if (c === ']' && !first) return { source: `[${negate ? '^' : ''}${body}]`, end: i };
    first = false;
    if (c === '[' && p[i + 1] === ':') {
      const close = p.indexOf(':]', i + 2);
      const name = close > 0 ? p.slice(i + 2, close) : '';
      const cls = CLASSES[name];
      if (cls !== undefined) {
        body += cls;
        i = close + 1;
        continue;
      }
    }
    if (c === '\\' && i + 1 < p.length) {
      body += escapeClass(p[++i]!);
      continue;
    }
    if (c === '-' && body !== '' && p[i + 1] !== ']' && i + 1 < p.length) {
      body += '-';
      continue;
    }
    body += escapeClass(c);
  }
  return undefined;
}

function escapeRe(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

function escapeClass(c: string): string {
  return /[\]\\^\-[]/.test(c) ? `\\${c}` : c;
}
