import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliContext } from '../src/cli/context.js';
import { run } from '../src/cli/run.js';
import { encodeLzma2 } from '../src/compress/lzma-encode.js';
import { encodeParts } from '../src/compress/encode-parts.js';
import { parseStat, runDebugfs } from './helpers/debugfs.js';
import { e2fsck } from './helpers/e2fsck.js';
import { missingTools, requireJudge } from './helpers/env.js';
import { workDir } from './helpers/image.js';
import { makeInitrd, missingFixtureTools } from './initrd-fixtures.js';

// Issue #11: what a new user hit. One test (or more) per item of the issue.

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const main = path.join(root, 'dist', 'cli', 'main.js');
const work = workDir('cli-papercuts');
const tmp = work.dir;
afterAll(() => work.cleanup());
const isRoot = process.getuid?.() === 0;

function cli(args: string[], env: Record<string, string | undefined> = {}) {
  const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', cwd: tmp, env: { ...process.env, SOURCE_DATE_EPOCH: undefined, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function lines(s: string): string[] {
  return s.split('\n').filter((l) => l !== '');
}

function stat(image: string, p: string) {
  return parseStat(runDebugfs(image, [`stat ${p}`]).outputs[0]!, 0);
}

let src: string;
beforeAll(() => {
  src = path.join(tmp, 'rootfs');
  fs.mkdirSync(path.join(src, 'etc'), { recursive: true });
  fs.mkdirSync(path.join(src, 'proc'), { recursive: true });
  fs.writeFileSync(path.join(src, 'etc', 'hostname'), 'vm\n');
  fs.writeFileSync(path.join(src, 'etc', 'motd'), 'hi\n');
});

describe('1. no silently empty image', () => {
  it('an ext image as input is read (issue 14), never taken for an empty tar; initrd create takes it too', () => {
    const old = path.join(tmp, 'old.img');
    expect(cli(['build', '-q', '-o', old, src]).status).toBe(0);
    const r = cli(['build', '-q', '-o', 'new.img', old]);
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(runDebugfs(path.join(tmp, 'new.img'), ['cat /etc/hostname']).outputs[0]).toBe('vm\n');
    const r2 = cli(['initrd', 'create', '-o', 'new.initrd', old]);
    expect(r2.status).toBe(0);
    expect(lines(r2.stderr)).toEqual([expect.stringMatching(/^extimg: new\.initrd: \d+ bytes, gzip, \d+ entries/)]);
    expect(fs.existsSync(path.join(tmp, 'new.initrd'))).toBe(true);
    const ls = cli(['initrd', 'ls', 'new.initrd']);
    expect(ls.stdout).toMatch(/etc\/hostname/);
  });

  it('a file of zeros builds, with a warning that names it', () => {
    fs.writeFileSync(path.join(tmp, 'zeros.bin'), new Uint8Array(65536));
    const r = cli(['build', '-q', '-o', 'zeros.img', 'zeros.bin', src]);
    expect(r.status).toBe(0);
    expect(lines(r.stderr)).toEqual(['extimg: warning: zeros.bin: no entries (65536 zero bytes, read as an empty tar archive); it adds nothing']);
  });

  it('an empty host directory is named too', () => {
    fs.mkdirSync(path.join(tmp, 'empty-dir'), { recursive: true });
    const r = cli(['build', '-q', '-o', 'e.img', src, 'empty-dir:/opt']);
    expect(r.status).toBe(0);
    expect(lines(r.stderr)).toEqual(['extimg: warning: empty-dir: an empty directory; it adds nothing']);
  });
});

describe('2. npm', () => {
  it('package.json has no prepare script (it would run in every installing project) and the lock matches it', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    expect(pkg.scripts['prepare']).toBeUndefined();
    expect(pkg.scripts['prepack']).toBeDefined();
    type LockRoot = { dependencies?: Record<string, string>; devDependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockRoot> };
    // npm lists optional dependencies among the dependencies too.
    expect(lock.packages['']!.dependencies).toEqual({ ...pkg.dependencies, ...pkg.optionalDependencies });
    expect(lock.packages['']!.optionalDependencies).toEqual(pkg.optionalDependencies);
    expect(lock.packages['']!.devDependencies).toEqual(pkg.devDependencies);
    // The host xattr module's prebuilt binaries for the other platforms are in the lock too.
    const xattr = Object.keys(lock.packages).filter((k) => k.startsWith('node_modules/@napi-rs/xattr-'));
    expect(xattr).toContain('node_modules/@napi-rs/xattr-darwin-arm64');
    expect(xattr).toContain('node_modules/@napi-rs/xattr-freebsd-x64');
    // npm ci needs every optional platform package of rollup in the lock, not only this host's.
    const rollup = Object.keys(lock.packages).filter((k) => k.startsWith('node_modules/@rollup/rollup-'));
    expect(rollup).toContain('node_modules/@rollup/rollup-android-arm-eabi');
    expect(rollup).toContain('node_modules/@rollup/rollup-darwin-arm64');
  });
});

describe('3. initrd rewrite: --append is the edit, --append-segment the mode', () => {
  it('--append PATH=SRC appends to a file; a bare --append says what changed; the recipe key appendSegment', (ctx) => {
    requireJudge(ctx, missingFixtureTools('gzip'), 'initrd fixtures');
    const f = makeInitrd(tmp, 'append', 'gzip');
    fs.writeFileSync(path.join(tmp, 'extra-line'), 'tmpfs /tmp tmpfs defaults 0 0\n');
    const out = path.join(tmp, 'append.out');
    const r = cli(['initrd', 'rewrite', f.file, '-o', out, '--append', '/etc/fstab=extra-line']);
    expect(r.stderr).toMatch(/rebuilt segment/);
    expect(r.status).toBe(0);
    const cat = cli(['initrd', 'ls', out]);
    expect(cat.status).toBe(0);
    const ex = path.join(tmp, 'append-x');
    expect(cli(['initrd', 'extract', '-q', out, ex]).status).toBe(0);
    expect(fs.readFileSync(path.join(ex, 'etc', 'fstab'), 'utf8')).toMatch(/tmpfs \/tmp tmpfs defaults 0 0\n$/);

    const bare = cli(['initrd', 'rewrite', f.file, '-o', out, '--append', '--write-text', '/x=y']);
    expect(bare.status).toBe(2);
    expect(lines(bare.stderr)).toEqual([
      "extimg: --append takes PATH=SRC (append a host file, as in 'extimg build'); to append a segment, use --append-segment (see 'extimg initrd rewrite --help')",
    ]);

    const recipe = path.join(tmp, 'seg.json');
    fs.writeFileSync(recipe, JSON.stringify({ appendSegment: true, edits: [{ op: 'write', path: '/etc/added', content: 'x\n' }] }));
    const seg = cli(['initrd', 'rewrite', f.file, '-o', path.join(tmp, 'seg.out'), '--recipe', recipe]);
    expect(seg.status).toBe(0);
    expect(seg.stderr).toMatch(/appended a gzip segment of \d+ entries/);
    const bad = path.join(tmp, 'seg-create.json');
    fs.writeFileSync(bad, JSON.stringify({ appendSegment: true, inputs: [] }));
    const r3 = cli(['initrd', 'create', '-o', 'x', '--recipe', bad, src]);
    expect(r3.status).toBe(2);
    expect(r3.stderr).toContain('appendSegment: not used by initrd create');
  });
});

describe('4-6. --rm-f, unmatched excludes, -x', () => {
  it('--rm-f of a missing path is fine; --rm of one is an error', () => {
    expect(cli(['build', '-q', '-o', 'rmf.img', src, '--rm-f', '/etc/udev/rules.d/z25_persistent-net.rules', '--rm-f', '/etc/motd']).status).toBe(0);
    const r = cli(['build', '-q', '-o', 'rm.img', src, '--rm', '/etc/udev/rules.d/z25_persistent-net.rules']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('no such file or directory');
  });

  it('an exclude pattern that matched nothing in any input is named; one that matched is not', () => {
    const r = cli(['build', '-q', '-o', 'ex.img', src, '--exclude', '/prco', '--exclude', '/proc', '--exclude', '*.swp']);
    expect(r.status).toBe(0);
    expect(lines(r.stderr)).toEqual([
      "extimg: warning: exclude pattern '/prco' matched nothing in any input",
      "extimg: warning: exclude pattern '*.swp' matched nothing in any input",
    ]);
    // A recipe's per-input exclude is checked against its input.
    const recipe = path.join(tmp, 'ex.json');
    fs.writeFileSync(recipe, JSON.stringify({ inputs: [{ path: 'rootfs', exclude: ['etc/hostnme'] }] }));
    const r2 = cli(['build', '-q', '-o', 'ex2.img', '--recipe', recipe]);
    expect(r2.status).toBe(0);
    expect(lines(r2.stderr)).toEqual(["extimg: warning: rootfs: exclude pattern 'etc/hostnme' matched nothing in this input"]);
  });

  it('-x keeps a mount point as an empty directory and reads nothing below it', (ctx) => {
    requireJudge(ctx, isRoot ? missingTools(['mount', 'umount', 'debugfs']) : 'needs root to mount a tmpfs', '-x with a real mount point');
    const dir = path.join(tmp, 'xroot');
    fs.mkdirSync(path.join(dir, 'mnt'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'top'), 'top\n');
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0711', 'extimg-test', path.join(dir, 'mnt')], { encoding: 'utf8' });
    if (m.status !== 0) requireJudge(ctx, `mount -t tmpfs failed: ${m.stderr.trim()}`, '-x with a real mount point');
    try {
      fs.writeFileSync(path.join(dir, 'mnt', 'inside'), 'not copied\n');
      const r = cli(['build', '-q', '-o', 'x.img', '-x', dir]);
      expect(r.status).toBe(0);
      expect(lines(r.stderr)).toEqual([`extimg: warning: ${dir}: --one-file-system: a mount point copied as an empty directory: ${path.join(dir, 'mnt')}`]);
      const img = path.join(tmp, 'x.img');
      expect(e2fsck(img).code).toBe(0);
      expect(stat(img, '/mnt')).toMatchObject({ typeName: 'directory', perm: 0o711 });
      expect(runDebugfs(img, ['ls /mnt']).outputs[0]).not.toContain('inside');
      // Without -x the mount's contents come along.
      expect(cli(['build', '-q', '-o', 'nox.img', dir]).status).toBe(0);
      expect(runDebugfs(path.join(tmp, 'nox.img'), ['ls /mnt']).outputs[0]).toContain('inside');
    } finally {
      spawnSync('umount', [path.join(dir, 'mnt')]);
    }
  });
});

describe('7. a fitted image is usable as a root filesystem', () => {
  it('keeps at least 256 free inodes and says how much room is free', () => {
    const r = cli(['build', '-o', 'fit.img', '--json', src]);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as { freeInodes: number; inodesCount: number; freeBlocks: number; blockSize: number };
    expect(j.freeInodes).toBeGreaterThanOrEqual(256);
    const h = cli(['build', '-o', 'fit2.img', src]);
    expect(h.stderr).toMatch(/; free [\d.]+ (KiB|MiB) and \d+ inodes\n$/);
    // --headroom 0 asks for the tightest fit: no minimum then.
    const tight = JSON.parse(cli(['build', '-o', 'fit3.img', '--json', '--headroom', '0', src]).stdout) as { freeInodes: number };
    expect(tight.freeInodes).toBeLessThan(256);
  });
});

describe('8. --write of a host device node, FIFO or socket makes that node', () => {
  it('/dev/null and a FIFO, as cp -a would copy them', (ctx) => {
    requireJudge(ctx, missingTools(['debugfs', 'mkfifo']), '--write of special files');
    const fifo = path.join(tmp, 'a-fifo');
    spawnSync('mkfifo', ['-m', '0640', fifo]);
    const out = path.join(tmp, 'dev.img');
    const r = cli(['build', '-q', '-o', out, src, '--write', '/dev/null=/dev/null', '--write', '/run/fifo=a-fifo', '--write', '/dev/zero0=/dev/zero', '--chmod', '/dev/zero0=0600']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(e2fsck(out).code).toBe(0);
    const host = fs.statSync('/dev/null');
    expect(stat(out, '/dev/null')).toMatchObject({ typeName: 'character special', major: 1, minor: 3, perm: host.mode & 0o7777, uid: host.uid, gid: host.gid });
    expect(stat(out, '/run/fifo')).toMatchObject({ typeName: 'FIFO', perm: 0o640 });
    expect(stat(out, '/dev/zero0')).toMatchObject({ typeName: 'character special', major: 1, minor: 5, perm: 0o600 });
  });
});

describe('11. progress while a long initrd compression runs', () => {
  it('the encoders report progress: xz/lzma per MiB, parts per part', async () => {
    const data = new Uint8Array(3 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
    const seen: number[] = [];
    encodeLzma2(data, { level: 0, onProgress: (d) => seen.push(d) });
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    const parts: Array<[number, number]> = [];
    const bounds = Array.from({ length: 30 }, (_, i) => (i + 1) * 100_000);
    await encodeParts(data, bounds, 'gzip', 1, { partBytes: 512 << 10, workers: 0, onProgress: (d, t) => parts.push([d, t]) });
    expect(parts.length).toBeGreaterThan(2);
    expect(parts[parts.length - 1]).toEqual([data.length, data.length]);
  });

  it('initrd create on a terminal draws a progress line and clears it before the summary', async () => {
    let err = '';
    const ctx = new CliContext({ write: () => true }, { isTTY: true, write: (s: string) => ((err += s), true) }, { ...process.env, SOURCE_DATE_EPOCH: '1700000000' });
    const status = await run(['initrd', 'create', '-o', path.join(tmp, 'p.initrd'), '--compress', 'xz', src], ctx);
    expect(status).toBe(0);
    expect(err).toContain('\r\x1b[Kextimg: compressing (xz) ');
    expect(err).toMatch(/\r\x1b\[Kextimg: .*p\.initrd: \d+ bytes, xz/);
  });
});
