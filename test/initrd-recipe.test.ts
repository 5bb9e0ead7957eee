/**
 * `extimg initrd rewrite --recipe` and `initrd create --recipe`: the build recipe format without
 * the ext-only keys, plus compress/level. Results are judged by GNU cpio (-tv, -idm) and the
 * codecs' own CLIs; without them the CLI tests skip with a printed reason (a failure in CI).
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliContext } from '../src/cli/context.js';
import { INITRD_CREATE_HELP, INITRD_REWRITE_HELP } from '../src/cli/initrd.js';
import { run } from '../src/cli/run.js';
import { RECIPE_KEYS } from '../src/edit/recipe.js';
import { ExtimgError } from '../src/errors.js';
import * as api from '../src/index.js';
import { INITRD_CREATE_RECIPE_SCHEMA, INITRD_REWRITE_RECIPE_SCHEMA } from '../src/initrd/recipe-schema.js';
import { INITRD_RECIPE_KEYS, parseInitrdRecipe, refusedRecipeKey, type InitrdRecipeCommand } from '../src/initrd/recipe.js';
import { scanSegments } from '../src/initrd/segments.js';
import { hasTool } from './helpers/e2fsck.js';
import { requireJudge, type SkipContext } from './helpers/env.js';
import { workDir } from './helpers/image.js';
import { validate } from './helpers/json-schema.js';
import { makeInitrd, missingFixtureTools, parseLongListing, sh, T0, type InitrdFixture } from './initrd-fixtures.js';

const work = workDir('initrd-recipe');
afterAll(() => work.cleanup());
let n = 0;

function error(f: () => unknown): ExtimgError {
  try {
    f();
  } catch (e) {
    if (e instanceof ExtimgError) return e;
    throw e;
  }
  throw new Error('expected an ExtimgError');
}

const parse = (command: InitrdRecipeCommand, v: unknown, file = 'hook.json') => parseInitrdRecipe(JSON.stringify(v), file, { command, baseDir: '/r' });
const SCHEMAS = { rewrite: INITRD_REWRITE_RECIPE_SCHEMA, create: INITRD_CREATE_RECIPE_SCHEMA } as const;

describe('parseInitrdRecipe', () => {
  it('rewrite: output, compress, level, timestamp, devices and edits; paths relative to the recipe', () => {
    const r = parse('rewrite', {
      $schema: 'x.json',
      output: 'initrd.new',
      compress: 'same',
      level: 9,
      timestamp: 1700000000,
      devices: 'dev.txt',
      edits: [
        { op: 'write', path: '/conf/conf.d/zz-hook', source: 'hook', mode: '0644' },
        { op: 'remove', path: '/etc/motd' },
      ],
    });
    expect(r).toMatchObject({ file: 'hook.json', command: 'rewrite', output: '/r/initrd.new', compress: 'same', level: 9, timestamp: 1700000000, inputs: [], exclude: [] });
    expect(r.owner).toBeUndefined();
    expect(r.edits.map((e) => e.label)).toEqual(['hook.json: devices (dev.txt)', 'hook.json: edits[0] (write /conf/conf.d/zz-hook)', 'hook.json: edits[1] (remove /etc/motd)']);
    expect(parse('rewrite', {})).toEqual({ file: 'hook.json', command: 'rewrite', exclude: [], inputs: [], edits: [] });
  });

  it('create: inputs, exclude and owner as in build', () => {
    const r = parse('create', { output: 'i.img', compress: 'zstd', owner: '0:0', exclude: ['*.pyc'], inputs: ['root', { path: 'o.tar', dest: '/opt' }] });
    expect(r).toMatchObject({ output: '/r/i.img', compress: 'zstd', owner: { uid: 0, gid: 0 }, exclude: ['*.pyc'] });
    expect(r.inputs).toEqual([
      { arg: 'root', source: '/r/root', dest: '/' },
      { arg: 'o.tar', source: '/r/o.tar', dest: '/opt' },
    ]);
  });

  it('every build key is either taken or refused with a reason, per command; the schemas have the same keys', () => {
    for (const command of ['rewrite', 'create'] as const) {
      for (const key of RECIPE_KEYS) {
        const taken = INITRD_RECIPE_KEYS[command].includes(key);
        expect([command, key, refusedRecipeKey(command, key) === undefined]).toEqual([command, key, taken]);
      }
      expect(Object.keys(SCHEMAS[command].properties).sort()).toEqual([...INITRD_RECIPE_KEYS[command]].sort());
      // The build schema's definitions, unchanged where they are shared.
      expect(SCHEMAS[command].properties.edits).toEqual(api.RECIPE_SCHEMA.properties.edits);
    }
    expect(INITRD_RECIPE_KEYS.rewrite).not.toContain('inputs');
    expect(INITRD_RECIPE_KEYS.create).toContain('inputs');
  });

  it.each<[InitrdRecipeCommand, unknown, string]>([
    ['rewrite', { size: '64M', edits: [] }, "hook.json: size: not used by initrd rewrite (it sets the ext image's size)"],
    ['rewrite', { inputs: ['rootfs'] }, 'hook.json: inputs: not used by initrd rewrite (the initrd FILE on the command line is its only input)'],
    ['rewrite', { owner: '0:0' }, 'hook.json: owner: not used by initrd rewrite (it sets the owner of input entries; use a "chown" edit)'],
    ['rewrite', { exclude: ['*.pyc'] }, 'hook.json: exclude: not used by initrd rewrite (it filters inputs; use a "remove" edit)'],
    ['rewrite', { type: 'ext3' }, 'hook.json: type: not used by initrd rewrite (it chooses ext2, ext3 or ext4)'],
    ['create', { features: 'extent' }, "hook.json: features: not used by initrd create (it sets the ext image's features)"],
    ['rewrite', { journalBlocks: 4096 }, "hook.json: journalBlocks: not used by initrd rewrite (it sets the ext3 journal's size)"],
    // Refused whatever its value: the key is the mistake.
    ['create', { label: 12 }, "hook.json: label: not used by initrd create (it sets the ext image's volume label)"],
    ['create', { uuid: 'nope', inputs: ['x'] }, "hook.json: uuid: not used by initrd create (it sets the ext image's UUID)"],
    ['create', { blockSize: 4096 }, "hook.json: blockSize: not used by initrd create (it sets the ext image's block size)"],
    // The first wrong key in the file is the one named.
    ['rewrite', { outptu: 'x', size: 1 }, 'hook.json: outptu: unknown key'],
    ['create', { resizeInode: false, compres: 'gzip' }, "hook.json: resizeInode: not used by initrd create (it sets the ext image's resize inode)"],
    ['rewrite', { compress: 'brotli' }, "hook.json: compress: unknown compression 'brotli'"],
    ['create', { compress: 'same' }, "hook.json: compress: unknown compression 'same'"],
    ['rewrite', { compress: 3 }, 'hook.json: compress: expected a string, got number 3'],
    ['rewrite', { level: '9' }, 'hook.json: level: expected a number, got the string "9"'],
    ['create', { level: 20 }, "hook.json: level '20': must be between 0 and 19"],
    ['create', { level: 2.5 }, "hook.json: level '2.5': not an integer"],
    ['rewrite', { timestamp: 'now' }, 'hook.json: timestamp: expected a number, got the string "now"'],
    ['rewrite', { edits: [{ op: 'chmod', path: '/x', mdoe: '0600' }] }, 'hook.json: edits[0].mdoe: unknown key'],
    ['create', { inputs: [{ path: 'x', dest: 'opt' }] }, "hook.json: inputs[0].dest: 'opt' is not an absolute path in the image"],
    ['rewrite', [], 'hook.json: a recipe is a JSON object, got an array'],
  ])('%s refuses %j', (command, recipe, message) => {
    const e = error(() => parse(command, recipe));
    expect(e.code).toBe('EUSAGE');
    expect(e.message).toBe(message);
    // The schema refuses the same (it cannot see values such as the level's codec range).
    if (typeof recipe === 'object' && recipe !== null && !Array.isArray(recipe)) expect(validate(SCHEMAS[command], recipe)).not.toEqual([]);
  });

  it('says where JSON syntax errors are', () => {
    const e = error(() => parseInitrdRecipe('{\n  "output": "x"\n  "edits": []\n}\n', 'r.json', { command: 'rewrite' }));
    expect(e.code).toBe('EUSAGE');
    expect(e.message).toMatch(/^r\.json:3:3: not valid JSON: /);
  });

  it('is in the library API', () => {
    expect(api.parseInitrdRecipe).toBe(parseInitrdRecipe);
    expect(typeof api.rewriteInitrd).toBe('function');
    expect(typeof api.createInitrd).toBe('function');
    expect(api.INITRD_REWRITE_RECIPE_SCHEMA).toBe(INITRD_REWRITE_RECIPE_SCHEMA);
  });

  it('help texts name --recipe', () => {
    expect(INITRD_REWRITE_HELP).toMatch(/--recipe FILE/);
    expect(INITRD_CREATE_HELP).toMatch(/--recipe FILE/);
    for (const help of [INITRD_REWRITE_HELP, INITRD_CREATE_HELP]) for (const line of help.split('\n')) expect(line.length).toBeLessThanOrEqual(100);
  });
});

function readmeRecipe(): string {
  const readme = fs.readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('### initrd recipes'));
  return /```json\n([\s\S]*?)```/.exec(section)![1]!;
}

describe('the README', () => {
  it('initrd recipe example parses and fits the schema', () => {
    const json = readmeRecipe();
    const r = parseInitrdRecipe(json, 'add-hook.json', { command: 'rewrite', baseDir: '/r' });
    expect(r.edits).toHaveLength(3);
    expect(r.compress).toBe('zstd');
    expect(validate(INITRD_REWRITE_RECIPE_SCHEMA, JSON.parse(json))).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// The CLI, judged by GNU cpio and the codecs' CLIs.

async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ status: number; stderr: string }> {
  const err: string[] = [];
  const ctx = new CliContext({ write: () => true }, { write: (s) => (err.push(s), true) }, env);
  const status = await run(args, ctx);
  return { status, stderr: err.join('') };
}

const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');
const missing = (): string | undefined => missingFixtureTools('gzip') ?? (hasTool('zstd') ? undefined : 'missing host tool(s): zstd (apt: zstd)');
const judge = (ctx: SkipContext, what: string): void => requireJudge(ctx, missing(), what);

/** Files in `dir` whose name contains `name` (an output or its temp file). */
function named(dir: string, name: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.includes(name));
}

function writeJson(dir: string, name: string, v: unknown): string {
  const file = join(dir, name);
  fs.writeFileSync(file, JSON.stringify(v, null, 2));
  return file;
}

/** The main (last) segment of an initrd, checked by its codec's CLI and decompressed by it. */
async function mainCpio(file: string, codec: 'gzip' | 'zstd' | 'none'): Promise<Buffer> {
  const bytes = fs.readFileSync(file);
  const segs = await scanSegments(bytes, file);
  const last = segs[segs.length - 1]!;
  expect(last.compression).toBe(codec);
  const stream = bytes.subarray(last.offset, last.offset + last.length);
  if (codec === 'none') return Buffer.from(stream);
  sh(codec, ['-t', '-q'], { input: stream });
  return sh(codec, ['-d', '-c', '-q'], { input: stream });
}

const cpioNames = (cpio: Buffer): string[] => lines(sh('cpio', ['-t', '--quiet'], { input: cpio }).toString('latin1')).sort();

/** `cpio -tv` as name -> line. */
function cpioLong(cpio: Buffer): Map<string, ReturnType<typeof parseLongListing>[number]> {
  return new Map(parseLongListing(sh('cpio', ['-tv', '--quiet', '-n'], { input: cpio })).map((l) => [l.name, l]));
}

/** UID:GID of one entry, as `cpio -tvn NAME` shows it. */
function owner(cpio: Buffer, name: string): string {
  const line = sh('cpio', ['-tv', '--quiet', '-n', name], { input: cpio }).toString();
  return /^\S+\s+\d+\s+(\d+)\s+(\d+)\s/.exec(line)!.slice(1).join(':');
}

/** GNU cpio -idm into a fresh directory. */
function cpioExtract(cpio: Buffer, dir: string): string {
  fs.mkdirSync(dir);
  sh('cpio', ['-idm', '--quiet', '--no-absolute-filenames'], { cwd: dir, input: cpio });
  return dir;
}

describe('extimg initrd rewrite --recipe', () => {
  let f: InitrdFixture;
  let dir: string;
  const fixture = (): void => {
    if (f) return;
    f = makeInitrd(work.dir, `rw-${n++}`, 'gzip');
    dir = join(f.dir, 'recipes');
    fs.mkdirSync(dir);
    fs.writeFileSync(join(dir, 'hook.sh'), '#!/bin/sh\necho recipe hook\n');
    fs.writeFileSync(join(dir, 'dev.txt'), '/dev/hvc0 c 620 0 5 229 0 - - -\n');
  };

  it('adds a file, a symlink and a device, chmods and removes; paths relative to the recipe', async (ctx) => {
    judge(ctx, 'initrd rewrite --recipe');
    fixture();
    const recipe = writeJson(dir, 'hook.json', {
      output: 'rewritten.img',
      compress: 'zstd',
      level: 5,
      timestamp: 1_600_000_000,
      devices: 'dev.txt',
      edits: [
        { op: 'write', path: '/conf/conf.d/zz-hook', source: 'hook.sh', mode: '0755' },
        { op: 'symlink', path: '/sbin/hook', target: '/conf/conf.d/zz-hook' },
        { op: 'chmod', path: '/etc/fstab', mode: '0600' },
        { op: 'remove', path: '/etc/big' },
      ],
    });
    // From another directory: "output" and "source" are relative to the recipe, not the cwd.
    const r = await cli(['initrd', 'rewrite', f.file, '--recipe', recipe]);
    expect(r.stderr).toMatch(/rewritten\.img: \d+ bytes, rebuilt segment\(s\) 1 \(zstd, \d+ entries\)/);
    expect(r.status).toBe(0);
    const out = join(dir, 'rewritten.img');
    const bytes = fs.readFileSync(out);
    expect(Buffer.compare(bytes.subarray(0, f.early.length), f.early)).toBe(0);

    const cpio = await mainCpio(out, 'zstd');
    const before = cpioNames(f.main);
    expect(before).toContain('etc/big');
    expect(cpioNames(cpio)).toEqual([...before.filter((x) => x !== 'etc/big'), 'conf', 'conf/conf.d', 'conf/conf.d/zz-hook', 'dev/hvc0', 'sbin', 'sbin/hook'].sort());
    const long = cpioLong(cpio);
    expect(long.get('conf/conf.d/zz-hook')).toMatchObject({ perms: '-rwxr-xr-x', size: '27' });
    expect(long.get('sbin/hook')).toMatchObject({ perms: 'lrwxrwxrwx', target: '/conf/conf.d/zz-hook' });
    expect(long.get('etc/fstab')!.perms).toBe('-rw-------');
    expect(long.get('dev/hvc0')).toMatchObject({ perms: 'crw--w----', size: '229,0' });
    expect(long.get('init')!.perms).toBe('-rwxr-xr-x');

    const x = cpioExtract(cpio, join(f.dir, 'x1'));
    expect(fs.readFileSync(join(x, 'conf/conf.d/zz-hook'), 'utf8')).toBe('#!/bin/sh\necho recipe hook\n');
    expect(fs.readlinkSync(join(x, 'sbin/hook'))).toBe('/conf/conf.d/zz-hook');
    // The recipe's timestamp dates new entries and clamps (T0 is older, so kept).
    expect(fs.statSync(join(x, 'conf/conf.d/zz-hook')).mtimeMs / 1000).toBe(1_600_000_000);
    expect(fs.statSync(join(x, 'init')).mtimeMs / 1000).toBe(T0);
    if (process.getuid?.() === 0) expect(fs.statSync(join(x, 'dev/hvc0')).gid).toBe(5);
  });

  it('recipe edits first, then the command line; command-line options win', async (ctx) => {
    judge(ctx, 'initrd rewrite --recipe');
    fixture();
    const recipe = writeJson(dir, 'order.json', {
      output: 'order-recipe.img',
      compress: 'zstd',
      timestamp: 1_600_000_000,
      edits: [
        { op: 'write', path: '/etc/motd', content: 'from the recipe\n' },
        { op: 'chmod', path: '/init', mode: '0700' },
        { op: 'write', path: '/etc/recipe-only', content: 'r\n' },
      ],
    });
    const out = join(f.dir, 'order-cli.img');
    const r = await cli(
      ['initrd', 'rewrite', f.file, '--recipe', recipe, '-o', out, '--write-text', '/etc/motd=from the command line', '--chmod', '/init=0755', '--compress', 'gzip', '--timestamp', '1500000000'],
      { SOURCE_DATE_EPOCH: '1400000000' },
    );
    expect(r.status).toBe(0);
    expect(named(dir, 'order-recipe')).toEqual([]); // -o wins over "output"
    const cpio = await mainCpio(out, 'gzip'); // --compress wins over "compress"
    const x = cpioExtract(cpio, join(f.dir, 'x2'));
    expect(fs.readFileSync(join(x, 'etc/motd'), 'utf8')).toBe('from the command line');
    expect(fs.readFileSync(join(x, 'etc/recipe-only'), 'utf8')).toBe('r\n');
    expect(fs.statSync(join(x, 'init')).mode & 0o7777).toBe(0o755);
    expect(fs.statSync(join(x, 'etc/motd')).mtimeMs / 1000).toBe(1_500_000_000); // --timestamp wins

    // Without --timestamp the recipe's beats SOURCE_DATE_EPOCH, as in build.
    const r2 = await cli(['initrd', 'rewrite', f.file, '--recipe', recipe, '-q'], { SOURCE_DATE_EPOCH: '1400000000' });
    expect(r2.stderr).toBe('');
    expect(r2.status).toBe(0);
    const x2 = cpioExtract(await mainCpio(join(dir, 'order-recipe.img'), 'zstd'), join(f.dir, 'x3'));
    expect(fs.readFileSync(join(x2, 'etc/motd'), 'utf8')).toBe('from the recipe\n');
    expect(fs.statSync(join(x2, 'init')).mode & 0o7777).toBe(0o700);
    expect(fs.statSync(join(x2, 'etc/motd')).mtimeMs / 1000).toBe(1_600_000_000);
  });

  it('runs the README example', async (ctx) => {
    judge(ctx, 'initrd rewrite --recipe');
    fixture();
    fs.writeFileSync(join(dir, 'my-hook'), 'MY_HOOK=1\n');
    const recipe = join(dir, 'add-hook.json');
    fs.writeFileSync(recipe, readmeRecipe());
    const r = await cli(['initrd', 'rewrite', f.file, '--recipe', recipe, '-q']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const long = cpioLong(await mainCpio(join(dir, 'initrd.new'), 'zstd'));
    expect(long.get('conf/conf.d/zz-my-hook')).toMatchObject({ perms: '-rw-r--r--', size: '10' });
    expect(long.get('etc/my-hook.conf')).toMatchObject({ perms: '-rw-------', size: '10' });
  });

  it('refuses ext-only keys and inputs in one line, exit 2, nothing written', async (ctx) => {
    judge(ctx, 'initrd rewrite --recipe');
    fixture();
    for (const [key, value, why] of [
      ['size', '64M', "it sets the ext image's size"],
      ['inputs', ['rootfs'], 'the initrd FILE on the command line is its only input'],
    ] as const) {
      const recipe = writeJson(dir, `refused-${key}.json`, { output: `refused-${key}.img`, [key]: value, edits: [{ op: 'mkdir', path: '/x' }] });
      const r = await cli(['initrd', 'rewrite', f.file, '--recipe', recipe]);
      expect(lines(r.stderr)).toEqual([`extimg: ${recipe}: ${key}: not used by initrd rewrite (${why})`]);
      expect(r.status).toBe(2);
      expect(named(dir, `refused-${key}.img`)).toEqual([]);
    }
  });

  it('a bad recipe path, a syntax error, a missing output, --append with a recipe remove', async (ctx) => {
    judge(ctx, 'initrd rewrite --recipe');
    fixture();
    const nope = join(dir, 'nope.json');
    const r1 = await cli(['initrd', 'rewrite', f.file, '--recipe', nope, '-o', join(f.dir, 'bad1.img')]);
    expect(lines(r1.stderr)).toEqual([`extimg: ${nope}: no such file or directory`]);
    expect(r1.status).toBe(1);

    fs.writeFileSync(join(dir, 'syntax.json'), '{ "edits": [], }');
    const r2 = await cli(['initrd', 'rewrite', f.file, '--recipe', join(dir, 'syntax.json'), '-o', join(f.dir, 'bad2.img')]);
    expect(lines(r2.stderr)).toHaveLength(1);
    expect(r2.stderr).toMatch(/syntax\.json:1:\d+: not valid JSON/);
    expect(r2.status).toBe(2);

    const noOut = writeJson(dir, 'no-output.json', { edits: [] });
    const r3 = await cli(['initrd', 'rewrite', f.file, '--recipe', noOut]);
    expect(r3.stderr).toContain(`missing -o/--output OUT (or "output" in ${noOut})`);
    expect(r3.status).toBe(2);

    const rm = writeJson(dir, 'rm.json', { edits: [{ op: 'mkdir', path: '/x' }, { op: 'remove', path: '/etc/big' }] });
    const r4 = await cli(['initrd', 'rewrite', f.file, '--recipe', rm, '--append-segment', '-o', join(f.dir, 'bad4.img')]);
    expect(lines(r4.stderr)).toHaveLength(1);
    expect(r4.stderr).toContain(`${rm}: edits[1] (remove /etc/big): cannot be done with --append`);
    expect(r4.status).toBe(2);
    expect(named(f.dir, 'bad')).toEqual([]);
  });
});

describe('extimg initrd create --recipe', () => {
  let dir: string;
  beforeAll(() => {
    dir = join(work.dir, `create-${n++}`);
    fs.mkdirSync(join(dir, 'rootfs/bin'), { recursive: true });
    fs.mkdirSync(join(dir, 'rootfs/etc'));
    fs.writeFileSync(join(dir, 'rootfs/bin/busybox'), Buffer.alloc(5000, 'b'), { mode: 0o755 });
    fs.writeFileSync(join(dir, 'rootfs/etc/hostname'), 'rootfs\n');
    fs.writeFileSync(join(dir, 'rootfs/etc/cache.pyc'), 'x');
    fs.mkdirSync(join(dir, 'overlay/etc'), { recursive: true });
    fs.writeFileSync(join(dir, 'overlay/etc/hostname'), 'overlay\n');
    fs.mkdirSync(join(dir, 'cli-input/etc'), { recursive: true });
    fs.writeFileSync(join(dir, 'cli-input/etc/hostname'), 'command line\n');
    fs.writeFileSync(join(dir, 'init'), '#!/bin/sh\nexec sh\n');
  });

  const recipe = (name: string, extra: Record<string, unknown> = {}): string =>
    writeJson(dir, name, {
      output: `${name}.img`,
      compress: 'zstd',
      owner: '1000:1000',
      timestamp: 1_700_000_000,
      exclude: ['*.pyc'],
      inputs: ['rootfs', { path: 'overlay', dest: '/opt/overlay' }],
      edits: [
        { op: 'write', path: '/init', source: 'init', mode: '0755', owner: '0:0' },
        { op: 'mkdir', path: '/proc', mode: '0555' },
      ],
      ...extra,
    });

  it('takes inputs, exclude, owner, edits, output and compress from the recipe', async (ctx) => {
    judge(ctx, 'initrd create --recipe');
    const r = await cli(['initrd', 'create', '--recipe', recipe('made.json')]);
    expect(r.stderr).toMatch(/made\.json\.img: \d+ bytes, zstd, \d+ entries/);
    expect(r.status).toBe(0);
    const cpio = await mainCpio(join(dir, 'made.json.img'), 'zstd');
    expect(cpioNames(cpio)).toEqual(['.', 'bin', 'bin/busybox', 'etc', 'etc/hostname', 'init', 'opt', 'opt/overlay', 'opt/overlay/etc', 'opt/overlay/etc/hostname', 'proc']);
    const long = cpioLong(cpio);
    expect(owner(cpio, 'bin/busybox')).toBe('1000:1000');
    expect(owner(cpio, 'init')).toBe('0:0');
    expect(long.get('proc')!.perms).toBe('dr-xr-xr-x');
    const x = cpioExtract(cpio, join(dir, 'x1'));
    expect(fs.readFileSync(join(x, 'etc/hostname'), 'utf8')).toBe('rootfs\n');
    expect(fs.readFileSync(join(x, 'opt/overlay/etc/hostname'), 'utf8')).toBe('overlay\n');
    expect(fs.readFileSync(join(x, 'init'), 'utf8')).toBe('#!/bin/sh\nexec sh\n');
    expect(fs.statSync(join(x, 'init')).mtimeMs / 1000).toBe(1_700_000_000);
  });

  it('command-line INPUTs after the recipe\'s; excludes add up; options win', async (ctx) => {
    judge(ctx, 'initrd create --recipe');
    const out = join(dir, 'cli.img');
    const r = await cli(['initrd', 'create', '--recipe', recipe('both.json'), '-o', out, '--compress', 'gzip', '--owner', '0:0', '--exclude', 'busybox', join(dir, 'cli-input'), '--write-text', '/init=cli']);
    expect(r.status).toBe(0);
    expect(named(dir, 'both.json.img')).toEqual([]);
    const cpio = await mainCpio(out, 'gzip');
    const names = cpioNames(cpio);
    expect(names).not.toContain('bin/busybox');
    expect(names).not.toContain('etc/cache.pyc');
    const x = cpioExtract(cpio, join(dir, 'x2'));
    expect(fs.readFileSync(join(x, 'etc/hostname'), 'utf8')).toBe('command line\n');
    expect(fs.readFileSync(join(x, 'init'), 'utf8')).toBe('cli');
    expect(owner(cpio, 'opt/overlay/etc/hostname')).toBe('0:0'); // --owner wins over "owner"
  });

  it('refuses ext-only keys; needs inputs from somewhere', async (ctx) => {
    judge(ctx, 'initrd create --recipe');
    const bad = recipe('label.json', { label: 'rootfs' });
    const r = await cli(['initrd', 'create', '--recipe', bad]);
    expect(lines(r.stderr)).toEqual([`extimg: ${bad}: label: not used by initrd create (it sets the ext image's volume label)`]);
    expect(r.status).toBe(2);
    expect(named(dir, 'label.json.img')).toEqual([]);

    const empty = writeJson(dir, 'empty.json', { output: 'empty.img' });
    const r2 = await cli(['initrd', 'create', '--recipe', empty]);
    expect(r2.stderr).toContain(`needs at least one INPUT (a directory or an archive) (or "inputs" in ${empty})`);
    expect(r2.status).toBe(2);
    // A command-line INPUT is enough.
    const r3 = await cli(['initrd', 'create', '-q', '--recipe', empty, join(dir, 'cli-input')]);
    expect(r3.status).toBe(0);
    expect(cpioNames(await mainCpio(join(dir, 'empty.img'), 'gzip'))).toEqual(['.', 'etc', 'etc/hostname']);
  });
});
