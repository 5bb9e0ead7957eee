import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const main = path.join(root, 'dist', 'cli', 'main.js');

function findTool(name: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(':'), '/sbin', '/usr/sbin'];
  for (const d of dirs) {
    const p = path.join(d, name);
    if (d && fs.existsSync(p)) return p;
  }
  return undefined;
}
const e2fsck = findTool('e2fsck');

let tmp: string;

function cli(args: string[], env: Record<string, string | undefined> = {}) {
  const r = spawnSync(process.execPath, [main, ...args], {
    encoding: 'utf8',
    cwd: tmp,
    env: { ...process.env, SOURCE_DATE_EPOCH: undefined, ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function lines(s: string): string[] {
  return s.split('\n').filter((l) => l !== '');
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'extimg-cli-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('extimg CLI', () => {
  it('dist compiled without type errors', () => {
    expect(inject('tscErrors')).toBe('');
  });

  it('prints global help', () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const r = cli(args);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('Usage: extimg COMMAND');
      expect(r.stdout).toContain('build');
      expect(r.stderr).toBe('');
    }
  });

  it('prints build help', () => {
    for (const args of [['build', '--help'], ['build', '-h'], ['help', 'build']]) {
      const r = cli(args);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('Usage: extimg build -o OUTPUT');
      expect(r.stdout).toContain('--block-size');
    }
  });

  it('prints the version from package.json', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = cli([flag]);
      expect(r.status).toBe(0);
      expect(r.stdout.trim()).toBe(`extimg ${pkg.version}`);
    }
  });

  it('without arguments shows help on stderr and exits 2', () => {
    const r = cli([]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('Usage:');
  });

  it.each([
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['--bogus'], /unknown option '--bogus'/],
    [['build', '-o', 'x.img', '--bogus', '.'], /unknown option '--bogus'.*extimg build --help/],
    [['build', '.'], /missing -o\/--output/],
    [['build', '-o'], /option '-o, --output' needs a value/],
    [['build', '-o', 'x.img', '-b', '3000', '.'], /--block-size '3000': must be one of 1024, 2048, 4096/],
    [['build', '-o', 'x.img', '-t', 'ext5', '.'], /--type 'ext5': must be one of ext2, ext3, ext4/],
    [['build', '-o', 'x.img', '-t', 'ext4', '-O', 'inline_data', '.'], /-O: feature 'inline_data' is not supported by extimg yet/],
    [['build', '-o', 'x.img', '-t', 'ext3', '-O', 'extents,^nonsense', '.'], /-O: unknown feature 'nonsense'/],
    [['build', '-o', 'x.img', '-t', 'ext2', '-O', '64bit', '.'], /-O: 64bit needs extent/],
    [['build', '-o', 'x.img', '-I', '512', '.'], /--inode-size '512'/],
    [['build', '-o', 'x.img', '--size', '12Q', '.'], /--size '12Q'/],
    [['build', '-o', 'x.img', '--headroom', '20', '.'], /--headroom '20'.*20%/],
    [['build', '-o', 'x.img', '--owner', 'root', '.'], /--owner 'root'/],
    [['build', '-o', 'x.img', '-U', 'nope', '.'], /--uuid 'nope'/],
    [['build', '-o', 'x.img', '-L', 'a-label-longer-than-16', '.'], /--label .*16/],
    [['build', '-o', 'x.img', '--timestamp', 'yesterday', '.'], /--timestamp 'yesterday'/],
    [['build', '-o', 'x.img', '--json=yes', '.'], /option '--json' takes no value/],
    [['build', '-o', 'x.img', '-t', 'ext2', '--journal-blocks', '4096', '.'], /--journal-blocks/],
  ])('usage error %j exits 2 with one line', (args, pattern) => {
    const r = cli(args);
    expect(r.status).toBe(2);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^extimg: /);
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr).toMatch(/--help/);
    expect(fs.existsSync(path.join(tmp, 'x.img'))).toBe(false);
  });

  it('rejects a malformed SOURCE_DATE_EPOCH as a usage error', () => {
    const r = cli(['build', '-o', 'x.img', '.'], { SOURCE_DATE_EPOCH: 'soon' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^extimg: SOURCE_DATE_EPOCH='soon'/);
  });

  it('a missing input exits 1 with one line and leaves no output', () => {
    const out = path.join(tmp, 'missing.img');
    const r = cli(['build', '-o', out, path.join(tmp, 'no-such-dir')]);
    expect(r.status).toBe(1);
    expect(lines(r.stderr)).toEqual([`extimg: ${path.join(tmp, 'no-such-dir')}: no such file or directory`]);
    expect(fs.readdirSync(tmp).filter((n) => n.includes('missing'))).toEqual([]);
  });

  it('a file input that is no archive exits 1 with one line and leaves no output', () => {
    const file = path.join(tmp, 'rootfs.tar');
    fs.writeFileSync(file, 'not really a tar');
    const r = cli(['build', '-o', path.join(tmp, 'tar.img'), file]);
    expect(r.status).toBe(1);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^extimg: .*rootfs\.tar: not a tar/);
    expect(fs.readdirSync(tmp).filter((n) => n.includes('tar.img'))).toEqual([]);
  });

  it('decodes on worker threads under node options a Worker refuses (--max-old-space-size, --stack-size)', () => {
    // Node refuses V8 options in a Worker's execArgv; they used to fail the build with "cannot
    // start a decompression worker". Two xz archives, so decompressMany uses the pool.
    const empty = path.join(tmp, 'v8opt-empty');
    fs.mkdirSync(empty, { recursive: true });
    const made = ['a', 'b'].map((n) => {
      const out = path.join(tmp, `v8opt-${n}.cpio.xz`);
      const r = cli(['initrd', 'create', '-o', out, '--compress', 'xz', '--write-text', `/etc/${n}=${n}\n`, empty]);
      expect(r.status, r.stderr).toBe(0);
      return out;
    });
    const flags = ['--max-old-space-size=512', '--stack-size=2000', '--no-warnings'];
    const run = (args: string[]) => spawnSync(process.execPath, [...flags, main, ...args], { encoding: 'utf8', cwd: tmp });
    const img = path.join(tmp, 'v8opt.img');
    const b = run(['build', '-q', '-o', img, ...made]);
    expect(b.stderr).toBe('');
    expect(b.status).toBe(0);
    // The same inputs through initrd create, whose output lists what the workers decoded.
    const joined = path.join(tmp, 'v8opt.cpio');
    const c = run(['initrd', 'create', '-o', joined, '--compress', 'none', ...made]);
    expect(c.status, c.stderr).toBe(0);
    const names = lines(cli(['initrd', 'ls', joined]).stdout).map((l) => l.split(' ').at(-1));
    expect(names.filter((n) => n?.startsWith('etc/'))).toEqual(['etc/a', 'etc/b']);
  });

  it('--debug adds the stack trace', () => {
    const r = cli(['build', '--debug', '-o', 'y.img', path.join(tmp, 'no-such-dir')]);
    expect(r.status).toBe(1);
    expect(lines(r.stderr).length).toBeGreaterThan(1);
    expect(r.stderr).toMatch(/\n\s+at /);
  });

  describe('building', () => {
    let src: string;
    beforeAll(() => {
      src = path.join(tmp, 'rootfs');
      fs.mkdirSync(path.join(src, 'etc'), { recursive: true });
      fs.writeFileSync(path.join(src, 'etc', 'hostname'), 'cli-test\n');
      fs.symlinkSync('etc/hostname', path.join(src, 'link'));
      fs.mkdirSync(path.join(tmp, 'extra'));
      fs.writeFileSync(path.join(tmp, 'extra', 'data.txt'), 'extra data\n');
    });

    it('builds an image that e2fsck accepts and prints a JSON summary', () => {
      const out = path.join(tmp, 'built.img');
      const r = cli(['build', '-o', out, '--json', '-L', 'clitest', '--owner', '0:0', src, `${path.join(tmp, 'extra')}:/opt/extra`], {
        SOURCE_DATE_EPOCH: '1700000000',
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const summary = JSON.parse(r.stdout) as { output: string; type: string; bytes: number; label: string };
      expect(summary).toMatchObject({ output: out, type: 'ext3', label: 'clitest' });
      expect(fs.statSync(out).size).toBe(summary.bytes);
      expect(fs.readdirSync(tmp).filter((n) => n.endsWith('.tmp'))).toEqual([]);
      if (!e2fsck) {
        console.log('cli.test: e2fsck not found, skipping the fsck of the built image');
        return;
      }
      const fsck = spawnSync(e2fsck, ['-fn', out], { encoding: 'utf8' });
      expect(fsck.status, `${fsck.stdout}${fsck.stderr}`).toBe(0);
    });

    it('builds an empty filesystem when there is no input', () => {
      const out = path.join(tmp, 'empty.img');
      const r = cli(['build', '-q', '-o', out]);
      expect(r.status).toBe(0);
      if (!e2fsck) return;
      const fsck = spawnSync(e2fsck, ['-fn', out], { encoding: 'utf8' });
      expect(fsck.status, `${fsck.stdout}${fsck.stderr}`).toBe(0);
    });

    it('is reproducible with SOURCE_DATE_EPOCH', () => {
      const a = path.join(tmp, 'a.img');
      const b = path.join(tmp, 'b.img');
      for (const out of [a, b]) {
        const r = cli(['build', '-q', '-o', out, src], { SOURCE_DATE_EPOCH: '1700000000' });
        expect(r.status).toBe(0);
        expect(r.stderr).toBe('');
      }
      expect(fs.readFileSync(a).equals(fs.readFileSync(b))).toBe(true);
    });

    it('prints a human summary to stderr', () => {
      const out = path.join(tmp, 'human.img');
      const r = cli(['build', '-t', 'ext2', '-o', out, src]);
      expect(r.status).toBe(0);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ext2, .*blocks \\d+/\\d+ used.*inodes \\d+/\\d+ used; free [\\d.]+ \\w+ and \\d+ inodes\\n$`));
    });

    it('ENOSPC from a too-small --size exits 1 and leaves no output', () => {
      const out = path.join(tmp, 'tiny.img');
      const r = cli(['build', '-o', out, '--size', '8K', src]);
      expect(r.status).toBe(1);
      expect(lines(r.stderr)).toHaveLength(1);
      expect(fs.readdirSync(tmp).filter((n) => n.includes('tiny'))).toEqual([]);
    });
  });
});
