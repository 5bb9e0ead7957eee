import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { applyPreparedEdit, EDIT_KEYS, EDIT_OPS, type HostFiles } from '../src/edit/ops.js';
import { parseRecipe, RECIPE_INPUT_KEYS, RECIPE_KEYS, resolvePath } from '../src/edit/recipe.js';
import { EDIT_SCHEMAS, RECIPE_SCHEMA } from '../src/edit/recipe-schema.js';
import { ExtimgError } from '../src/errors.js';
import { BytesContent } from '../src/tree/content.js';
import { Tree } from '../src/tree/tree.js';
import { validate } from './helpers/json-schema.js';

const FULL = {
  $schema: './extimg-recipe.schema.json',
  output: 'root.img',
  type: 'ext3',
  blockSize: 4096,
  inodeSize: 256,
  inodes: 4096,
  size: '512M',
  headroom: '20%',
  label: 'rootfs',
  uuid: '01234567-89ab-cdef-0123-456789abcdef',
  hashSeed: 'fedcba98-7654-3210-fedc-ba9876543210',
  reservedPercent: 1,
  journalBlocks: 4096,
  resizeInode: false,
  owner: '0:0',
  timestamp: 1700000000,
  exclude: ['*.pyc', 'usr/share/doc'],
  inputs: ['rootfs', 'pkg.deb', { path: 'rootfs.tar.xz', dest: '/opt', exclude: ['*.a'], owner: '1000:1000' }, '/abs/dir'],
  devices: 'devtable.txt',
  edits: [
    { op: 'write', path: '/etc/hostname', content: 'vm\n' },
    { op: 'write', path: '/etc/motd', source: 'motd.txt', mode: '0644' },
    { op: 'mknod', path: '/dev/xvda', type: 'b', major: 220, minor: 0, mode: '0660' },
    { op: 'chmod', path: '/etc/shadow', mode: '0600' },
    { op: 'chown', path: '/home/user', owner: 'user:user' },
    { op: 'move', from: '/etc', to: '/old/etc' },
    { op: 'devices', source: 'more-devices.txt', dest: '/chroot' },
  ],
};

function error(f: () => unknown): ExtimgError {
  try {
    f();
  } catch (e) {
    if (e instanceof ExtimgError) return e;
    throw e;
  }
  throw new Error('expected an ExtimgError');
}

const parse = (v: unknown, file = 'image.json') => parseRecipe(JSON.stringify(v), file, { baseDir: '/work/recipes' });

describe('recipes', () => {
  it('reads every key; host paths are relative to the recipe directory', () => {
    const r = parse(FULL);
    expect(r.output).toBe('/work/recipes/root.img');
    expect(r.options).toEqual({
      type: 'ext3',
      blockSize: 4096,
      inodeSize: 256,
      inodes: 4096,
      size: 512 * 2 ** 20,
      headroom: 0.2,
      label: 'rootfs',
      uuid: '01234567-89ab-cdef-0123-456789abcdef',
      hashSeed: 'fedcba98-7654-3210-fedc-ba9876543210',
      reservedPercent: 1,
      journalBlocks: 4096,
      resizeInode: false,
      timestamp: 1700000000,
    });
    expect(r.owner).toEqual({ uid: 0, gid: 0 });
    expect(r.exclude).toEqual(['*.pyc', 'usr/share/doc']);
    expect(r.inputs).toEqual([
      { arg: 'rootfs', source: '/work/recipes/rootfs', dest: '/' },
      { arg: 'pkg.deb', source: '/work/recipes/pkg.deb', dest: '/' },
      { arg: 'rootfs.tar.xz', source: '/work/recipes/rootfs.tar.xz', dest: '/opt', exclude: ['*.a'], owner: { uid: 1000, gid: 1000 } },
      { arg: '/abs/dir', source: '/abs/dir', dest: '/' },
    ]);
    // devices first, then the edits in order
    expect(r.edits.map((e) => e.label)).toEqual([
      'image.json: devices (devtable.txt)',
      'image.json: edits[0] (write /etc/hostname)',
      'image.json: edits[1] (write /etc/motd)',
      'image.json: edits[2] (mknod /dev/xvda)',
      'image.json: edits[3] (chmod /etc/shadow)',
      'image.json: edits[4] (chown /home/user)',
      'image.json: edits[5] (move /etc -> /old/etc)',
      'image.json: edits[6] (devices more-devices.txt)',
    ]);
    // Host paths are read resolved against the recipe's directory.
    const asked: string[] = [];
    const host: HostFiles = {
      file: (p) => (asked.push(p), new BytesContent(new Uint8Array(0))),
      readFile: (p) => (asked.push(p), new Uint8Array(0)),
    };
    const t = new Tree({ time: { sec: 0, nsec: 0 } });
    for (const i of [0, 2, 7]) applyPreparedEdit(t, r.edits[i]!, { host });
    expect(asked).toEqual(['/work/recipes/devtable.txt', '/work/recipes/motd.txt', '/work/recipes/more-devices.txt']);
  });

  it('numbers for size and headroom; a list of device tables', () => {
    const r = parse({ size: 1048576, headroom: 0.5, devices: ['a.txt', 'b.txt'] });
    expect(r.options).toEqual({ size: 1048576, headroom: 0.5 });
    expect(r.edits.map((e) => e.label)).toEqual(['image.json: devices[0] (a.txt)', 'image.json: devices[1] (b.txt)']);
    expect(parse({}).inputs).toEqual([]);
  });

  it.each<[unknown, string]>([
    [{ outptu: 'x' }, 'image.json: outptu: unknown key'],
    [{ edits: [{ op: 'mkdir', path: '/a' }, { op: 'mkdir', path: '/b' }, { op: 'chmod', path: '/x', mdoe: '0600' }] }, 'image.json: edits[2].mdoe: unknown key'],
    [{ edits: [{ op: 'chmod', path: '/x', mode: 644 }] }, 'image.json: edits[0].mode: write the mode as an octal string (644 is the decimal number, octal "01204"; did you mean "0644"?): JSON has no octal numbers'],
    [{ edits: {} }, 'image.json: edits: expected an array of edits, got an object'],
    [{ edits: ['mkdir /x'] }, 'image.json: edits[0]: expected an edit object ({"op": ..., ...}), got the string "mkdir /x"'],
    [{ inputs: 'rootfs' }, 'image.json: inputs: expected an array, got the string "rootfs"'],
    [{ inputs: [{ path: 'x', dest: 'opt' }] }, "image.json: inputs[0].dest: 'opt' is not an absolute path in the image"],
    [{ inputs: [{ path: 'x', dst: '/opt' }] }, 'image.json: inputs[0].dst: unknown key'],
    [{ inputs: [{ dest: '/opt' }] }, "image.json: inputs[0]: missing 'path'"],
    [{ inputs: [42] }, 'image.json: inputs[0]: expected a path or {"path": ..., "dest": ...}, got number 42'],
    [{ inputs: [''] }, 'image.json: inputs[0]: empty path'],
    [{ type: 'ext5' }, "image.json: type 'ext5': must be one of ext2, ext3, ext4"],
    [{ features: 'extent,^bogus' }, "image.json: features: unknown feature 'bogus'"],
    [{ features: [1] }, 'image.json: features[0]: expected a feature list such as "extent,^resize_inode", got number 1'],
    [{ type: 3 }, 'image.json: type: expected a string, got number 3'],
    [{ blockSize: '4096' }, 'image.json: blockSize: expected a number, got the string "4096"'],
    [{ blockSize: 3000 }, "image.json: blockSize '3000': must be one of 1024, 2048, 4096"],
    [{ size: '12Q' }, "image.json: size '12Q': not a size (bytes, or a number with K, M, G or T: 64M, 1.5G)"],
    [{ size: true }, 'image.json: size: expected a string or number, got boolean true'],
    [{ headroom: '20' }, "image.json: headroom '20': a fraction must be at most 1; for percent write '20%'"],
    [{ label: 'a-label-longer-than-16' }, "image.json: label 'a-label-longer-than-16': label is 22 bytes, at most 16 fit"],
    [{ uuid: 'nope' }, "image.json: uuid 'nope': not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"],
    [{ owner: 'root' }, "image.json: owner 'root': expected UID:GID (numbers, e.g. 0:0)"],
    [{ timestamp: 1.5 }, "image.json: timestamp '1.5': not an integer"],
    [{ resizeInode: 'no' }, 'image.json: resizeInode: expected true or false, got the string "no"'],
    [{ exclude: '*.pyc' }, 'image.json: exclude: expected an array of strings, got the string "*.pyc"'],
    [{ exclude: [1] }, 'image.json: exclude[0]: expected a string, got number 1'],
    [{ exclude: [''] }, 'image.json: exclude: empty exclude pattern'],
    [{ devices: 5 }, 'image.json: devices: expected a file name or an array of them, got number 5'],
    [{ devices: ['a', ''] }, 'image.json: devices[1]: expected a device table file name, got the string ""'],
    [{ output: '' }, 'image.json: output: empty path'],
    [[], 'image.json: a recipe is a JSON object, got an array'],
  ])('refuses %j', (recipe, message) => {
    const e = error(() => parse(recipe));
    expect(e.code).toBe('EUSAGE');
    expect(e.message).toBe(message);
  });

  it('says where JSON syntax errors are', () => {
    const e = error(() => parseRecipe('{\n  "output": "x.img",\n  "type": "ext3"\n  "size": "1M"\n}\n', 'r.json'));
    expect(e.code).toBe('EUSAGE');
    expect(e.message).toMatch(/^r\.json:4:3: not valid JSON: /);
    expect(e.message).not.toContain('\n');
  });

  it('resolves paths', () => {
    expect(resolvePath('/a/b', 'c')).toBe('/a/b/c');
    expect(resolvePath('/a/b/', 'c/d')).toBe('/a/b/c/d');
    expect(resolvePath('/', 'c')).toBe('/c');
    expect(resolvePath('.', 'c')).toBe('./c');
    expect(resolvePath('/a', '/abs')).toBe('/abs');
    expect(resolvePath(undefined, 'c')).toBe('c');
  });
});

describe('the README', () => {
  it("recipe example parses and fits the schema", () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('### Recipes'));
    const json = /```json\n([\s\S]*?)```/.exec(section)![1]!;
    const r = parseRecipe(json, 'README.md', { baseDir: '/r' });
    expect(r.inputs).toHaveLength(3);
    expect(r.edits).toHaveLength(7);
    expect(validate(RECIPE_SCHEMA, JSON.parse(json))).toEqual([]);
  });
});

describe('recipe JSON Schema', () => {
  it('has the keys parseRecipe accepts', () => {
    expect(Object.keys(RECIPE_SCHEMA.properties).sort()).toEqual([...RECIPE_KEYS].sort());
    const inputObject = RECIPE_SCHEMA.properties.inputs.items.oneOf[1] as { properties: object };
    expect(Object.keys(inputObject.properties).sort()).toEqual([...RECIPE_INPUT_KEYS].sort());
    expect(Object.keys(EDIT_SCHEMAS).sort()).toEqual([...EDIT_OPS].sort());
    for (const op of EDIT_OPS) expect(Object.keys(EDIT_SCHEMAS[op].properties).sort(), op).toEqual([...EDIT_KEYS[op]].sort());
  });

  it('accepts the full example and refuses what parseRecipe refuses structurally', () => {
    expect(validate(RECIPE_SCHEMA, FULL)).toEqual([]);
    expect(validate(RECIPE_SCHEMA, { inputs: ['a'], edits: [{ op: 'append', path: '/x', contentBase64: 'AA==' }] })).toEqual([]);
    const bad: unknown[] = [
      { outptu: 'x' },
      { edits: [{ op: 'chmod', path: '/x', mdoe: '0600' }] },
      { edits: [{ op: 'chmod', path: '/x', mode: 644 }] },
      { edits: [{ op: 'write', path: '/x' }] },
      { edits: [{ op: 'write', path: '/x', content: 'a', source: 'b' }] },
      { edits: [{ op: 'mknod', path: '/x', type: 'q' }] },
      { edits: [{ op: 'frob' }] },
      { inputs: [{ path: 'x', dest: 'opt' }] },
      { type: 'ext5' },
      { size: '12Q' },
      { blockSize: 3000 },
    ];
    for (const b of bad) {
      expect(validate(RECIPE_SCHEMA, b), JSON.stringify(b)).not.toEqual([]);
      expect(() => parse(b), JSON.stringify(b)).toThrow(ExtimgError);
    }
  });
});
