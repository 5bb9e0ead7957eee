import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliContext } from '../src/cli/context.js';
import { run } from '../src/cli/run.js';
import { RECIPE_SCHEMA } from '../src/edit/recipe-schema.js';
import { INITRD_CREATE_RECIPE_SCHEMA, INITRD_REWRITE_RECIPE_SCHEMA } from '../src/initrd/recipe-schema.js';
import { parseStat, runDebugfs, manifestFromDebugfs } from './helpers/debugfs.js';
import { e2fsck } from './helpers/e2fsck.js';
import { missingTools, requireJudge } from './helpers/env.js';
import { workDir } from './helpers/image.js';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const main = path.join(root, 'dist', 'cli', 'main.js');

const work = workDir('cli-edits');
const tmp = work.dir;
afterAll(() => work.cleanup());

function cli(args: string[], env: Record<string, string | undefined> = {}, cwd = tmp) {
  const r = spawnSync(process.execPath, [main, ...args], {
    encoding: 'utf8',
    cwd,
    env: { ...process.env, SOURCE_DATE_EPOCH: undefined, ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function lines(s: string): string[] {
  return s.split('\n').filter((l) => l !== '');
}

/** `stat` of each path, by path (debugfs quotes nothing; these names have no spaces). */
function stat(image: string, paths: string[]) {
  const r = runDebugfs(image, paths.map((p) => `stat ${p}`));
  return new Map(paths.map((p, i) => [p, parseStat(r.outputs[i]!, 0)]));
}

function cat(image: string, p: string): string {
  const r = spawnSync('debugfs', ['-R', `cat ${p}`, image], { encoding: 'utf8' });
  return r.stdout;
}

/** No image and no temp file named after `name` in `dir`. */
function nothingNamed(dir: string, name: string): string[] {
  return fs.readdirSync(dir).filter((n) => n.includes(name));
}

let src: string;
beforeAll(() => {
  src = path.join(tmp, 'rootfs');
  fs.mkdirSync(path.join(src, 'etc'), { recursive: true });
  fs.mkdirSync(path.join(src, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(src, 'home', 'user'), { recursive: true });
  fs.writeFileSync(path.join(src, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n');
  fs.writeFileSync(path.join(src, 'etc', 'group'), 'root:x:0:\ndisk:x:6:\nuser:x:1000:\n');
  fs.writeFileSync(path.join(src, 'etc', 'shadow'), 'root:*:1::::::\n');
  fs.writeFileSync(path.join(src, 'bin', 'busybox'), '#!busybox\n');
  fs.writeFileSync(path.join(tmp, 'fstab'), '/dev/xvda / ext3 defaults 0 1\n');
  fs.writeFileSync(path.join(tmp, 'more-hosts'), '10.0.0.2 db\n');
  fs.writeFileSync(path.join(tmp, 'devices.txt'), '# name type mode uid gid major minor start inc count\n/dev/tty c 620 0 5 4 0 0 1 4\n/dev/null c 666 0 0 1 3 0 0 -\n');
});

describe('extimg build edits', () => {
  it('help lists the edit options', () => {
    const r = cli(['build', '--help']);
    expect(r.status).toBe(0);
    for (const o of ['--write PATH=SRC', '--mknod PATH:TYPE:MAJOR:MINOR[:MODE]', '--chown PATH=OWNER', '--rm PATH', '--mv FROM=TO', '-D, --devices', '--exclude GLOB', '--recipe FILE']) {
      expect(r.stdout).toContain(o);
    }
  });

  it('mknod /dev/xvda b 220 0 and the other edits, checked by e2fsck and debugfs', (ctx) => {
    requireJudge(ctx, missingTools(), 'CLI edits read back');
    const out = path.join(tmp, 'edits.img');
    const r = cli([
      'build', '-q', '-o', out, '--owner', '0:0', src,
      '--mknod', '/dev/xvda:b:220:0:0660',
      '--chown', '/dev/xvda=root:disk',
      '--mknod', '/dev/console:c:5:1',
      '--mknod', '/run/initctl:p:0600',
      '--write', '/etc/fstab=fstab',
      '--write-text', '/etc/hostname=vm1\n',
      '--append-text', '/etc/hosts=127.0.0.1 localhost\n',
      '--append', '/etc/hosts=more-hosts',
      '--mkdir', '/tmp:1777',
      '--mkdir', '/var/lib/app',
      '--symlink', '/sbin/init=/bin/busybox',
      '--link', '/bin/sh=/bin/busybox',
      '--chmod', '/bin/busybox=u+s,a+rx',
      '--chmod', '/etc/shadow=0600',
      '--chown', '/home/user=user:user',
      '-D', 'devices.txt',
      '--rm', '/etc/group',
      '--mv', '/home=/old/home',
    ]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const fsck = e2fsck(out);
    expect(fsck.code, fsck.output).toBe(0);

    const s = stat(out, ['/dev/xvda', '/dev/console', '/run/initctl', '/tmp', '/bin/busybox', '/bin/sh', '/etc/shadow', '/old/home/user', '/dev/tty3', '/dev/null']);
    expect(s.get('/dev/xvda')).toMatchObject({ typeName: 'block special', perm: 0o660, uid: 0, gid: 6, major: 220, minor: 0 });
    expect(s.get('/dev/console')).toMatchObject({ typeName: 'character special', perm: 0o644, major: 5, minor: 1 });
    expect(s.get('/run/initctl')).toMatchObject({ typeName: 'FIFO', perm: 0o600 });
    expect(s.get('/tmp')).toMatchObject({ typeName: 'directory', perm: 0o1777 });
    expect(s.get('/bin/busybox')).toMatchObject({ perm: 0o4755, links: 2 });
    expect(s.get('/etc/shadow')!.perm).toBe(0o600);
    expect(s.get('/old/home/user')).toMatchObject({ typeName: 'directory', uid: 1000, gid: 1000 });
    expect(s.get('/dev/tty3')).toMatchObject({ typeName: 'character special', perm: 0o620, gid: 5, major: 4, minor: 3 });
    expect(s.get('/dev/null')).toMatchObject({ major: 1, minor: 3, perm: 0o666 });

    const m = manifestFromDebugfs(out);
    expect(m.get('bin/sh')!.inodeGroup).toBe(m.get('bin/busybox')!.inodeGroup);
    expect(m.get('sbin/init')).toMatchObject({ type: 'symlink', target: Buffer.from('/bin/busybox').toString('hex') });
    expect(m.has('etc/group')).toBe(false);
    expect(m.has('home')).toBe(false);
    expect(m.get('var/lib/app')).toMatchObject({ type: 'dir', mode: 0o755 });
    expect(cat(out, '/etc/hostname')).toBe('vm1\n');
    expect(cat(out, '/etc/hosts')).toBe('127.0.0.1 localhost\n10.0.0.2 db\n');
    expect(cat(out, '/etc/fstab')).toBe('/dev/xvda / ext3 defaults 0 1\n');
  });

  it('applies edits in command-line order', (ctx) => {
    requireJudge(ctx, missingTools(), 'CLI edit order');
    const out = path.join(tmp, 'order.img');
    const r = cli(['build', '-q', '-o', out, '--write-text', '/a=1', '--rm', '/a', '--mkdir', '/a', '--write-text', '/a/b=2', '--mv', '/a=/c']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(e2fsck(out).code).toBe(0);
    expect(cat(out, '/c/b')).toBe('2');
  });

  it('is reproducible with edits', () => {
    const outs = ['rep1.img', 'rep2.img'].map((n) => path.join(tmp, n));
    for (const out of outs) {
      const r = cli(['build', '-q', '-o', out, src, '--mknod', '/dev/xvda:b:220:0', '--write-text', '/etc/hostname=x', '-D', 'devices.txt'], {
        SOURCE_DATE_EPOCH: '1700000000',
      });
      expect(r.stderr).toBe('');
    }
    expect(fs.readFileSync(outs[0]!).equals(fs.readFileSync(outs[1]!))).toBe(true);
  });

  it.each([
    [['--mknod', '/dev/x:q:1:2'], /^extimg: --mknod '\/dev\/x:q:1:2': expected PATH:c\|b:MAJOR:MINOR\[:MODE\] or PATH:p\|s\[:MODE\]/],
    [['--mknod', '/dev/x:c:4096:0'], /--mknod '\/dev\/x:c:4096:0': major 4096 out of range \(0-4095\)/],
    [['--mknod', '/dev/x:b:1:2:999'], /--mknod '\/dev\/x:b:1:2:999': '999' is not an octal mode/],
    [['--chmod', '/x'], /--chmod '\/x': expected PATH=MODE/],
    [['--chmod', '/x=zz'], /--chmod '\/x=zz': 'zz' is not a mode \(octal like 0644, or symbolic like u\+x,go-w\)/],
    [['--chmod', '=0600'], /--chmod '=0600': empty PATH in PATH=MODE/],
    [['--chown', '/x=a b'], /--chown '\/x=a b': 'a b': 'a b' is neither an id nor a user or group name/],
    [['--write', '/x='], /--write '\/x=': empty SRC/],
    [['--symlink', '/x'], /--symlink '\/x': expected PATH=TARGET/],
    [['--mv', '/x='], /--mv '\/x=': empty TO/],
    [['--rm', ''], /--rm '': empty PATH/],
    [['--exclude', ''], /--exclude: empty exclude pattern/],
    [['--exclude', '[z-a]'], /--exclude: exclude pattern '\[z-a\]' has an invalid/],
    [['--recipe'], /option '--recipe' needs a value/],
  ])('usage error %j exits 2 with one line and no output', (args, pattern) => {
    const r = cli(['build', '-o', 'usage.img', ...args]);
    expect(r.stderr).toMatch(pattern);
    expect(r.status).toBe(2);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(nothingNamed(tmp, 'usage')).toEqual([]);
  });

  it.each([
    [['--chmod', '/etc/nope=600'], "extimg: --chmod '/etc/nope=600': no such file or directory"],
    [['--chown', '/etc/shadow=nobody'], "extimg: --chown '/etc/shadow=nobody': user 'nobody' not found in the image's /etc/passwd"],
    [['--link', '/x=/missing'], "extimg: --link '/x=/missing': /missing: hard link target does not exist"],
    [['--write', '/x=no-such-host-file'], "extimg: --write '/x=no-such-host-file': no-such-host-file: no such file or directory"],
    [['--mkdir', '/etc/passwd'], "extimg: --mkdir '/etc/passwd': exists and is not a directory (file)"],
    [['-D', 'bad-devices.txt'], "extimg: --devices 'bad-devices.txt': bad-devices.txt:2: /dev/x: a character device needs major and minor numbers"],
  ])('a failing edit %j exits 1, names the option, leaves no output', (args, message) => {
    fs.writeFileSync(path.join(tmp, 'bad-devices.txt'), '/dev d 755 0 0\n/dev/x c 600 0 0\n');
    const r = cli(['build', '-o', 'failed.img', src, ...args]);
    expect(lines(r.stderr)).toEqual([message]);
    expect(r.status).toBe(1);
    expect(nothingNamed(tmp, 'failed')).toEqual([]);
  });

  it('--exclude leaves out entries of directories and archives, as tar --exclude', (ctx) => {
    requireJudge(ctx, missingTools(), 'exclude read back');
    const tree = path.join(tmp, 'excl-src');
    for (const p of ['usr/share/doc/pkg/README', 'usr/lib/py/a.pyc', 'usr/lib/py/a.py', 'etc/keep', 'doc/top']) {
      fs.mkdirSync(path.dirname(path.join(tree, p)), { recursive: true });
      fs.writeFileSync(path.join(tree, p), p);
    }
    const tar = path.join(tmp, 'excl.tar');
    const t = spawnSync('tar', ['-C', tree, '-cf', tar, '.']);
    expect(t.status).toBe(0);
    const out = path.join(tmp, 'excl.img');
    const r = cli(['build', '-q', '-o', out, '--exclude', '*.pyc', '--exclude', 'usr/share/doc', '--exclude', '/doc', tree, `${tar}:/from-tar`]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const names = [...manifestFromDebugfs(out, { content: false }).keys()].filter((k) => k !== '' && !k.startsWith('lost+found')).sort();
    const kept = ['etc', 'etc/keep', 'usr', 'usr/lib', 'usr/lib/py', 'usr/lib/py/a.py', 'usr/share'];
    expect(names).toEqual([...kept, 'from-tar', ...kept.map((k) => `from-tar/${k}`)].sort());
  });

  it('extimg schema prints the recipe schema', () => {
    const r = cli(['schema']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(JSON.stringify(RECIPE_SCHEMA)));
    expect(cli(['help', 'schema']).stdout).toContain('Usage: extimg schema');
    expect(cli(['schema', 'x']).status).toBe(2);
    expect(cli(['schema', 'build', 'x']).status).toBe(2);
    expect(JSON.parse(cli(['schema', 'build']).stdout)).toEqual(JSON.parse(JSON.stringify(RECIPE_SCHEMA)));
    expect(JSON.parse(cli(['schema', 'initrd-rewrite']).stdout)).toEqual(JSON.parse(JSON.stringify(INITRD_REWRITE_RECIPE_SCHEMA)));
    expect(JSON.parse(cli(['schema', 'initrd-create']).stdout)).toEqual(JSON.parse(JSON.stringify(INITRD_CREATE_RECIPE_SCHEMA)));
  });
});

describe('extimg build --recipe', () => {
  let dir: string;
  beforeAll(() => {
    dir = path.join(tmp, 'recipes');
    fs.mkdirSync(path.join(dir, 'overlay', 'etc'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'overlay', 'etc', 'motd'), 'welcome\n');
    fs.writeFileSync(path.join(dir, 'issue.txt'), 'Debian\n');
    fs.writeFileSync(path.join(dir, 'dev.txt'), '/dev d 755 0 0\n/dev/hda b 640 0 6 3 1 1 1 4\n');
  });

  function writeRecipe(name: string, recipe: unknown): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, JSON.stringify(recipe, null, 2));
    return file;
  }

  it('builds from a recipe with paths relative to it; command-line options override it', (ctx) => {
    requireJudge(ctx, missingTools(), 'recipe build');
    const recipe = writeRecipe('image.json', {
      $schema: 'extimg-recipe.schema.json',
      output: 'from-recipe.img',
      type: 'ext2',
      label: 'recipe',
      owner: '0:0',
      timestamp: 1700000000,
      inputs: [src, { path: 'overlay', dest: '/opt/overlay' }],
      devices: 'dev.txt',
      edits: [
        { op: 'write', path: '/etc/issue', source: 'issue.txt', mode: '0600' },
        { op: 'mknod', path: '/dev/xvda', type: 'b', major: 220, minor: 0, mode: '0660', owner: 'root:disk' },
        { op: 'chown', path: '/home/user', owner: 'user:user' },
        { op: 'move', from: '/etc', to: '/old/etc' },
      ],
    });
    // Run from another directory: the recipe's paths are relative to the recipe, -o to the cwd.
    const r = cli(['build', '--recipe', recipe, '-L', 'override', '--json', '--mkdir', '/extra:0700'], {}, tmp);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout) as { output: string; type: string; label: string };
    expect(summary).toMatchObject({ output: path.join(dir, 'from-recipe.img'), type: 'ext2', label: 'override' });
    const out = summary.output;
    expect(e2fsck(out).code).toBe(0);
    const s = stat(out, ['/dev/xvda', '/dev/hda3', '/old/etc/issue', '/opt/overlay/etc/motd', '/extra', '/home/user']);
    expect(s.get('/dev/xvda')).toMatchObject({ typeName: 'block special', major: 220, minor: 0, perm: 0o660, gid: 6 });
    expect(s.get('/dev/hda3')).toMatchObject({ major: 3, minor: 3 });
    expect(s.get('/old/etc/issue')).toMatchObject({ perm: 0o600, size: 7 });
    expect(s.get('/opt/overlay/etc/motd')!.size).toBe(8);
    expect(s.get('/extra')!.perm).toBe(0o700);
    expect(s.get('/home/user')).toMatchObject({ uid: 1000, gid: 1000 });

    // -o on the command line wins over "output".
    const other = cli(['build', '-q', '--recipe', recipe, '-o', 'cli-output.img'], {}, tmp);
    expect(other.status).toBe(0);
    expect(fs.existsSync(path.join(tmp, 'cli-output.img'))).toBe(true);
  });

  it('recipe mistakes are usage errors naming the file and key', () => {
    const recipe = writeRecipe('bad.json', {
      output: 'bad.img',
      edits: [{ op: 'mkdir', path: '/a' }, { op: 'mkdir', path: '/b' }, { op: 'chmod', path: '/x', mdoe: '0600' }],
    });
    const r = cli(['build', '--recipe', recipe]);
    expect(lines(r.stderr)).toEqual([`extimg: ${recipe}: edits[2].mdoe: unknown key`]);
    expect(r.status).toBe(2);
    fs.writeFileSync(path.join(dir, 'syntax.json'), '{ "output": "x.img", }');
    const s = cli(['build', '--recipe', path.join(dir, 'syntax.json')]);
    expect(s.status).toBe(2);
    expect(lines(s.stderr)).toHaveLength(1);
    expect(s.stderr).toMatch(/syntax\.json:1:\d+: not valid JSON/);
    const missing = cli(['build', '--recipe', path.join(dir, 'nope.json')]);
    expect(missing.status).toBe(1);
    expect(lines(missing.stderr)).toEqual([`extimg: ${path.join(dir, 'nope.json')}: no such file or directory`]);
  });

  it('a failing recipe edit names its position and leaves no output', () => {
    fs.writeFileSync(path.join(dir, 'recipe.json'), JSON.stringify({
      output: 'failing.img',
      inputs: ['overlay'],
      edits: [
        { op: 'mkdir', path: '/a' },
        { op: 'mkdir', path: '/b' },
        { op: 'write', path: '/c', content: '' },
        { op: 'chmod', path: '/etc/shadow', mode: '0600' },
      ],
    }));
    const r = cli(['build', '--recipe', 'recipe.json'], {}, dir);
    expect(lines(r.stderr)).toEqual(['extimg: recipe.json: edits[3] (chmod /etc/shadow): no such file or directory']);
    expect(r.status).toBe(1);
    expect(nothingNamed(dir, 'failing')).toEqual([]);
  });

  it('needs an output from somewhere', () => {
    const recipe = writeRecipe('no-output.json', { inputs: [] });
    const r = cli(['build', '--recipe', recipe]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`missing -o/--output FILE (or "output" in ${recipe})`);
  });
});

describe('run() in-process', () => {
  it('returns a promise of the exit status; a failed build leaves no output', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const ctx = new CliContext({ write: (s) => (out.push(s), true) }, { write: (s) => (err.push(s), true) }, {});
    const target = path.join(tmp, 'inproc.img');
    const status = await run(['build', '-o', target, '--chmod', '/missing=600'], ctx);
    expect(status).toBe(1);
    expect(err.join('')).toBe("extimg: --chmod '/missing=600': no such file or directory\n");
    expect(nothingNamed(tmp, 'inproc')).toEqual([]);
    expect(await run(['build', '-q', '-o', target, '--mkdir', '/x'], ctx)).toBe(0);
    expect(fs.existsSync(target)).toBe(true);
  });
});
