import { describe, expect, it } from 'vitest';
import { parseInputSpec } from '../src/cli/inputs.js';
import { Progress } from '../src/cli/progress.js';
import { parseArgsError } from '../src/cli/usage.js';
import { parseHeadroom, parseOwner, parseSize, parseTimestamp } from '../src/cli/values.js';
import { ExtimgError } from '../src/errors.js';
import { parseArgs } from 'node:util';

describe('parseSize', () => {
  it.each([
    ['4096', 4096],
    ['64M', 64 * 2 ** 20],
    ['64m', 64 * 2 ** 20],
    ['64MiB', 64 * 2 ** 20],
    ['1.5G', 1.5 * 2 ** 30],
    ['2T', 2 * 2 ** 40],
    ['512k', 512 * 1024],
    ['100b', 100],
    ['.5K', 512],
  ])('%s = %d', (text, bytes) => {
    expect(parseSize('--size', text)).toBe(bytes);
  });
  it.each(['', 'M', '12Q', '-1M', '1.2.3G', '0', '1e9', '64 MB extra'])('rejects %j', (text) => {
    expect(() => parseSize('--size', text)).toThrow(/--size/);
  });
});

describe('parseHeadroom', () => {
  it('reads percentages and fractions', () => {
    expect(parseHeadroom('--headroom', '20%')).toBeCloseTo(0.2);
    expect(parseHeadroom('--headroom', '150%')).toBeCloseTo(1.5);
    expect(parseHeadroom('--headroom', '0.2')).toBeCloseTo(0.2);
    expect(parseHeadroom('--headroom', '0')).toBe(0);
  });
  it('rejects a bare number above 1, suggesting a percentage', () => {
    expect(() => parseHeadroom('--headroom', '20')).toThrow(/20%/);
    expect(() => parseHeadroom('--headroom', 'lots')).toThrow(/--headroom 'lots'/);
  });
});

describe('parseOwner and parseTimestamp', () => {
  it('parses UID:GID', () => {
    expect(parseOwner('--owner', '1000:100')).toEqual({ uid: 1000, gid: 100 });
    expect(() => parseOwner('--owner', '1000')).toThrow(/UID:GID/);
    expect(() => parseOwner('--owner', '4294967296:0')).toThrow(/4294967295/);
  });
  it('prefers --timestamp, then SOURCE_DATE_EPOCH, empty counts as unset', () => {
    expect(parseTimestamp('5', { SOURCE_DATE_EPOCH: '7' })).toBe(5);
    expect(parseTimestamp(undefined, { SOURCE_DATE_EPOCH: '7' })).toBe(7);
    expect(parseTimestamp(undefined, { SOURCE_DATE_EPOCH: '' })).toBeUndefined();
    expect(parseTimestamp(undefined, {})).toBeUndefined();
    expect(parseTimestamp('-86400', {})).toBe(-86400);
    expect(() => parseTimestamp(undefined, { SOURCE_DATE_EPOCH: '1.5' })).toThrow(ExtimgError);
  });
});

describe('parseInputSpec', () => {
  const exists = (set: string[]) => (p: string) => set.includes(p);
  it('takes an existing path literally, even with a colon', () => {
    expect(parseInputSpec('a:/b', exists(['a:/b', 'a']))).toMatchObject({ source: 'a:/b', dest: '/' });
  });
  it('splits SRC:/DEST', () => {
    expect(parseInputSpec('rootfs:/opt/x', exists(['rootfs']))).toMatchObject({ source: 'rootfs', dest: '/opt/x' });
    expect(parseInputSpec('/abs/dir:/', exists([]))).toMatchObject({ source: '/abs/dir', dest: '/' });
    expect(parseInputSpec('we:ird:/x', exists(['we:ird']))).toMatchObject({ source: 'we:ird', dest: '/x' });
    expect(parseInputSpec('d:/x:/y', exists(['d:/x']))).toMatchObject({ source: 'd:/x', dest: '/y' });
  });
  it('leaves a plain path alone', () => {
    expect(parseInputSpec('some/dir', exists([]))).toMatchObject({ source: 'some/dir', dest: '/' });
    expect(parseInputSpec('c:relative', exists([]))).toMatchObject({ source: 'c:relative', dest: '/' });
  });
});

describe('parseArgsError', () => {
  const opts = { o: { type: 'string', short: 'o' }, j: { type: 'boolean' } } as const;
  const msg = (args: string[]): string => {
    try {
      parseArgs({ args, options: opts, allowPositionals: true, strict: true });
    } catch (e) {
      return (parseArgsError(e, 'build') as Error).message;
    }
    return '';
  };
  it('makes one line naming the option', () => {
    expect(msg(['--nope'])).toBe("unknown option '--nope' (see 'extimg build --help')");
    expect(msg(['-o'])).toBe("option '-o, --o' needs a value (see 'extimg build --help')");
    expect(msg(['-o', '-x'])).toMatch(/^option '-o' needs a value; write one that starts with '-' as --o=-VALUE \(see/);
    expect(msg(['--j=1'])).toMatch(/^option '--j' takes no value/);
  });
  it('passes other errors through', () => {
    const e = new Error('x');
    expect(parseArgsError(e)).toBe(e);
  });
});

describe('Progress', () => {
  it('throttles, always shows completion, and clears its line', () => {
    let out = '';
    let t = 0;
    const p = new Progress({ isTTY: true, write: (s) => ((out += s), true) }, 'writing', () => t);
    p.update(0, 100);
    t = 1000;
    p.update(10, 100);
    t = 1050;
    p.update(20, 100); // within 100 ms: skipped
    p.update(100, 100); // completion always shown
    p.clear();
    const frames = out.split('\r\x1b[K').filter((s) => s);
    expect(frames).toEqual(['writing 10% (10 bytes of 100 bytes)', 'writing 100% (100 bytes of 100 bytes)']);
    expect(out.endsWith('\r\x1b[K')).toBe(true);
  });
});
