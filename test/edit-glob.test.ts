import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { excludeMatcher, normalizePath } from '../src/edit/glob.js';
import { ExtimgError } from '../src/errors.js';
import { judgeAvailable } from './helpers/env.js';
import { workDir } from './helpers/image.js';

/** Paths of the oracle archive; directories end in '/'. Names with glob characters on purpose. */
const PATHS = [
  'a*b',
  'ab/xc',
  'we[ir]d',
  'weid',
  '.hidden/',
  '.hidden/file',
  'dir.d/.x',
  'dir.d/file1.txt',
  'dir.d/file22.txt',
  'doc/a.txt',
  'docs/b.txt',
  'etc/passwd',
  'etc/init.d/rc',
  'usr/share/doc/x.txt',
  'usr/share/doc/pkg/README',
  'usr/share/docs/y',
  'usr/lib/python/a.pyc',
  'usr/lib/python/a.py',
  'usr/lib/python/__pycache__/b.pyc',
  'x/y/z.pyc',
  'x/y/zz/',
  'space name/file 1',
  '9lives',
  'Upper/Case',
];

/** Patterns whose meaning GNU tar decides (unanchored; '/' and './' prefixes become --anchored). */
const PATTERNS = [
  '*.pyc',
  '*.py?',
  '*.py',
  'usr/share/doc',
  'share/doc',
  'doc',
  'doc*',
  '*/doc',
  'usr/*',
  'usr',
  'us?',
  '[ae]*',
  '[!ae]*',
  '[^u]*',
  '[a-c]*',
  '[]a]*',
  'a\\*b',
  'a*b',
  'we\\[ir\\]d',
  'we[ir]d',
  '*',
  '.hidden',
  '.*',
  '*/.*',
  'x/*/z.pyc',
  '**/z.pyc',
  'a*c',
  '[[:digit:]]*',
  '[[:upper:]]*',
  'file?.txt',
  'file*.txt',
  '*.d',
  'z.pyc',
  'y',
  'init.d',
  'space name',
  '* 1',
  'x/y',
  '/usr',
  '/doc',
  './doc',
  '/usr/share',
  '/*.txt',
  '/x/y',
  '/[ae]*',
  './etc/*',
];

describe('exclude patterns', () => {
  it.each<[string, string, boolean]>([
    ['*.pyc', 'usr/lib/a.pyc', true],
    ['*.pyc', '/usr/lib/a.pyc', true],
    ['*.pyc', './a.pyc', true],
    ['*.pyc', 'a.pyc/inside', true],
    ['*.pyc', 'a.pyco', false],
    ['usr/share/doc', 'usr/share/doc', true],
    ['usr/share/doc', 'usr/share/doc/', true],
    ['usr/share/doc', 'usr/share/doc/x/y', true],
    ['usr/share/doc', 'opt/usr/share/doc/x', true],
    ['usr/share/doc', 'usr/share/docs', false],
    ['/usr/share/doc', 'opt/usr/share/doc/x', false],
    ['/usr/share/doc', '/usr/share/doc/x', true],
    ['./usr', 'usr/bin', true],
    ['./usr', 'opt/usr', false],
    ['doc/', 'usr/share/doc/x', true], // a trailing '/' is ignored (tar matches nothing with it)
    ['doc/', 'usr/share/doc', true],
    ['a*c', 'ab/xc', true], // '*' crosses '/', as in tar
    ['?', 'a/b', true],
    ['\\*', '*', true],
    ['\\*', 'x', false],
    ['[', '[', true], // an unclosed '[' is literal
    ['a[', 'a[', true],
  ])('%j excludes %j: %s', (pattern, p, expected) => {
    expect(excludeMatcher([pattern])(p)).toBe(expected);
  });

  it('never excludes the root itself', () => {
    expect(excludeMatcher(['*'])('')).toBe(false);
    expect(excludeMatcher(['*'])('./')).toBe(false);
    expect(excludeMatcher(['*'])('/')).toBe(false);
  });

  it('any of several patterns', () => {
    const m = excludeMatcher(['*.pyc', 'usr/share/doc']);
    expect(m('usr/share/doc/README')).toBe(true);
    expect(m('lib/x.pyc')).toBe(true);
    expect(m('lib/x.py')).toBe(false);
    expect(excludeMatcher([])('anything')).toBe(false);
  });

  it.each(['', '/', './', '.', '//'])('refuses %j', (pattern) => {
    expect(() => excludeMatcher([pattern], '--exclude')).toThrow(ExtimgError);
  });

  it('refuses an invalid range with a message', () => {
    expect(() => excludeMatcher(['[z-a]'], '--exclude')).toThrow("--exclude: exclude pattern '[z-a]' has an invalid [...] range");
  });

  it('normalizes paths', () => {
    expect(normalizePath('./a//b/./c/')).toBe('a/b/c');
    expect(normalizePath('/')).toBe('');
  });

  describe('against GNU tar --exclude', () => {
    const work = workDir('glob');
    let archive = '';
    let tarOk = false;
    beforeAll(() => {
      const v = spawnSync('tar', ['--version'], { encoding: 'utf8' });
      tarOk = v.status === 0 && /GNU tar/.test(v.stdout);
      if (!tarOk) return;
      const root = path.join(work.dir, 'root');
      for (const p of PATHS) {
        const full = path.join(root, p);
        if (p.endsWith('/')) fs.mkdirSync(full, { recursive: true });
        else {
          fs.mkdirSync(path.dirname(full), { recursive: true });
          fs.writeFileSync(full, p);
        }
      }
      archive = path.join(work.dir, 'oracle.tar');
      const names = fs.readdirSync(root).sort();
      const r = spawnSync('tar', ['-C', root, '-cf', archive, ...names], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`tar -c: ${r.stderr}`);
    });
    afterAll(() => work.cleanup());

    function tarList(args: string[]): string[] {
      const r = spawnSync('tar', ['-tf', archive, '--quoting-style=literal', ...args], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`tar -t ${args.join(' ')}: ${r.stderr}`);
      return r.stdout
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.replace(/\/$/, ''));
    }

    it.each(PATTERNS)('%j keeps what tar keeps', (pattern) => {
      if (!judgeAvailable(tarOk ? undefined : 'GNU tar not found', 'exclude patterns vs GNU tar')) return;
      const all = tarList([]);
      expect(all.length).toBeGreaterThan(PATHS.length);
      // Our '/x' and './x' are tar's --anchored 'x'.
      const anchored = /^\.?\//.test(pattern);
      const tarPattern = anchored ? pattern.replace(/^\.?\//, '') : pattern;
      const expected = tarList(anchored ? ['--anchored', `--exclude=${tarPattern}`] : [`--exclude=${tarPattern}`]);
      const match = excludeMatcher([pattern]);
      expect(all.filter((p) => !match(p))).toEqual(expected);
    });
  });
});
