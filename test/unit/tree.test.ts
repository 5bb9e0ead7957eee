import { describe, expect, it } from 'vitest';
import { ExtimgError } from '../../src/errors.js';
import { bytesToKey, keyToBytes, pathToKey } from '../../src/tree/names.js';
import { Tree } from '../../src/tree/tree.js';

const T0 = { sec: 100, nsec: 0 };
const tree = () => new Tree({ time: T0 });

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof ExtimgError) return e.code;
    throw e;
  }
  return undefined;
}

describe('Tree', () => {
  it('mkdir -p creates parents with default metadata and merges existing directories', () => {
    const t = tree();
    t.mkdir('/a/b/c', { mode: 0o700, uid: 5 });
    expect(t.get('/a')?.meta.mode).toBe(0o755);
    expect(t.get('/a/b/c')?.meta).toMatchObject({ mode: 0o700, uid: 5 });
    t.writeFile('/a/b/c/f', 'x');
    t.mkdir('/a/b/c', { mode: 0o750 });
    const c = t.get('/a/b/c');
    expect(c?.kind === 'dir' && c.entries.size).toBe(1);
    expect(c?.meta).toMatchObject({ mode: 0o750, uid: 5 });
  });

  it('resolves with chroot semantics: absolute symlinks from the root, .. clamped', () => {
    const t = tree();
    t.mkdir('/usr/bin');
    t.symlink('/bin', '/usr/bin');
    t.writeFile('/bin/sh', 'sh'); // through the symlink
    expect(t.get('/usr/bin/sh')?.kind).toBe('file');
    expect(t.get('/bin')?.kind).toBe('symlink');
    t.symlink('/escape', '../../../../etc');
    t.writeFile('/escape/passwd', 'p'); // lands in /etc, never above the root
    expect(t.get('/etc/passwd')?.kind).toBe('file');
    expect(t.get('/../../etc/passwd')?.kind).toBe('file');
  });

  it('keeps a symlink to a directory when a directory of that name arrives (merged /usr)', () => {
    const t = tree();
    t.mkdir('/usr/lib');
    t.symlink('/lib', 'usr/lib');
    const d = t.mkdir('/lib', { mode: 0o755 });
    expect(t.get('/lib')?.kind).toBe('symlink');
    expect(d).toBe(t.get('/usr/lib'));
  });

  it('refuses bad names with one-line errors', () => {
    const t = tree();
    expect(code(() => t.writeFile('/' + 'x'.repeat(256), ''))).toBe('ENAMETOOLONG');
    expect(() => t.writeFile('/' + 'x'.repeat(255), '')).not.toThrow();
    // 255 bytes of UTF-8 is fine, 256 bytes is not, whatever the character count
    expect(() => t.writeFile('/' + 'é'.repeat(127) + 'a', '')).not.toThrow();
    expect(code(() => t.writeFile('/' + 'é'.repeat(128), ''))).toBe('ENAMETOOLONG');
    expect(code(() => t.writeFile(new Uint8Array([0x2f, 0x61, 0x00, 0x62]), ''))).toBe('EBADNAME');
    expect(code(() => t.symlink('/l', ''))).toBe('EINVAL');
    expect(code(() => t.mknod('/d', 'chr', 4096, 0))).toBe('EINVAL');
    expect(code(() => t.mknod('/d', 'blk', 1, 1 << 20))).toBe('EINVAL');
    expect(code(() => t.chown('/nope', 0, 0))).toBe('ENOENT');
    expect(code(() => t.chmod('/', 0o10000))).toBe('EINVAL');
  });

  it('detects symlink loops', () => {
    const t = tree();
    t.symlink('/a', 'b');
    t.symlink('/b', 'a');
    expect(code(() => t.writeFile('/a/x', ''))).toBe('ELOOP');
  });

  it('hard links share a node; directories cannot be linked', () => {
    const t = tree();
    const f = t.writeFile('/x/f', 'data');
    t.link('/x/f', '/y/g');
    expect(t.get('/y/g')).toBe(f);
    expect(code(() => t.link('/x', '/z'))).toBe('EISDIR');
    expect(code(() => t.link('/missing', '/z'))).toBe('ENOENT');
  });

  it('removes recursively only when asked, and renames like rename(2)', () => {
    const t = tree();
    t.writeFile('/etc/a', '1');
    t.writeFile('/bin/sh', '2');
    expect(code(() => t.remove('/etc'))).toBe('ENOTEMPTY');
    t.rename('/bin', '/usr/bin');
    expect(t.get('/usr/bin/sh')?.kind).toBe('file');
    expect(t.get('/bin')).toBeUndefined();
    expect(code(() => t.rename('/usr', '/usr/bin/inner'))).toBe('EINVAL');
    t.writeFile('/etc2/b', '3');
    expect(code(() => t.rename('/etc2', '/etc'))).toBe('ENOTEMPTY');
    t.remove('/etc', { recursive: true });
    expect(t.get('/etc')).toBeUndefined();
    expect(code(() => t.remove('/'))).toBe('EINVAL');
  });

  it('later wins: a file replaces a file or symlink, not a non-empty directory', () => {
    const t = tree();
    t.writeFile('/f', 'old');
    t.symlink('/f', 'target');
    expect(t.get('/f')?.kind).toBe('symlink');
    t.writeFile('/d/x', '');
    expect(code(() => t.writeFile('/d', 'no'))).toBe('EISDIR');
  });

  it('walks parents before children, names in byte order within a directory, the root first', () => {
    const t = tree();
    t.writeFile('/b/2', '');
    t.writeFile('/a', '');
    t.writeFile('/b/1', '');
    t.writeFile('/c', '');
    expect([...t.walk()].map(([p]) => p)).toEqual(['', 'a', 'b', 'c', 'b/1', 'b/2']);
  });

  it('keeps non-UTF-8 names as bytes', () => {
    const t = tree();
    const name = new Uint8Array([0x2f, 0xff, 0xfe, 0x41]);
    t.writeFile(name, 'x');
    const [[, root]] = [...t.walk()] as unknown as [[string, { kind: string; entries: Map<string, unknown> }]];
    const key = [...root.entries.keys()][0]!;
    expect([...keyToBytes(key)]).toEqual([0xff, 0xfe, 0x41]);
    expect(bytesToKey(keyToBytes(key))).toBe(key);
    expect(pathToKey('é')).toBe('\xc3\xa9');
  });
});

describe('Tree merged /usr', () => {
  it('keeps a dangling symlink to a directory and makes the directory it names', () => {
    const t = new Tree({ time: T0 });
    t.symlink('/lib', 'usr/lib');
    t.symlink('/bin', '/usr/bin');
    const lib = t.mkdir('/lib');
    const bin = t.mkdir('/bin/');
    expect(t.get('/lib')?.kind).toBe('symlink');
    expect(t.get('/bin')?.kind).toBe('symlink');
    expect(t.get('/usr/lib')).toBe(lib);
    expect(t.get('/usr/bin')).toBe(bin);
  });
});
