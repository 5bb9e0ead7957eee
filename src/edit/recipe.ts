import { ExtimgError } from '../errors.js';
import { checkFeatureNames } from '../ext/features.js';
import type { BuildOptions } from '../ext/options.js';
import {
  checkPlatform,
  parseChoice,
  parseHeadroom,
  parseInteger,
  parseLabel,
  parseNumber,
  parseOwner,
  parseSize,
  parseUuid,
} from './values.js';
import { checkObject, child, describe, invalid, isObject, optBoolean, optString, optStringArray, reqPath } from './check.js';
import { checkExcludePatterns } from './glob.js';
import { prepareEdit, type PreparedEdit } from './ops.js';

/**
 * A recipe: everything `extimg build` can be told, as one JSON file.
 *
 *   { "output": "root.img", "type": "ext3", "size": "512M", "owner": "0:0",
 *     "exclude": ["*.pyc"],
 *     "inputs": ["rootfs", { "path": "app.tar.xz", "dest": "/opt/app" }],
 *     "devices": "devtable.txt",
 *     "edits": [{ "op": "write", "path": "/etc/hostname", "content": "vm\n" }] }
 *
 * Host paths (output, inputs, devices, edits' `source`) are relative to the recipe's
 * directory. Validation is strict: an unknown key, a wrong type or a bad value is an error
 * naming the file and the key path (`image.json: edits[2].mdoe: unknown key`). Command-line
 * options given with `--recipe` override the recipe's values; inputs, excludes and edits from
 * the command line come after the recipe's.
 */
export interface RecipeInput {
  /** As written in the recipe, for messages. */
  arg: string;
  /** Host path, resolved against the recipe's directory. */
  source: string;
  dest: string;
  exclude?: string[];
  owner?: { uid: number; gid: number };
  /** A container image input: which image (a ref among several, a platform of an index). */
  ref?: string;
  platform?: string;
}

export interface Recipe {
  file: string;
  output?: string;
  options: BuildOptions;
  owner?: { uid: number; gid: number };
  exclude: string[];
  /** Host directory inputs stay on their own filesystem (-x). */
  oneFileSystem?: boolean;
  inputs: RecipeInput[];
  /** Device tables then edits, checked, in the order they apply. */
  edits: PreparedEdit[];
}

/** Top-level keys, in the order the README documents them. */
export const RECIPE_KEYS = [
  '$schema',
  'output',
  'type',
  'features',
  'blockSize',
  'inodeSize',
  'inodes',
  'size',
  'headroom',
  'label',
  'uuid',
  'hashSeed',
  'reservedPercent',
  'journalBlocks',
  'resizeInode',
  'owner',
  'timestamp',
  'exclude',
  'oneFileSystem',
  'inputs',
  'devices',
  'edits',
] as const;

export const RECIPE_INPUT_KEYS = ['path', 'dest', 'exclude', 'owner', 'ref', 'platform'] as const;

export interface ParseRecipeOptions {
  /** The recipe's directory: relative host paths are resolved against it. Default: none (kept as written). */
  baseDir?: string;
}

/** Parse and check a recipe's text. Errors are ExtimgError EUSAGE naming `file` and the key. */
export function parseRecipe(text: string, file: string, options: ParseRecipeOptions = {}): Recipe {
  return recipeFromJson(readRecipeJson(text, file), file, options);
}

/** A recipe's text as JSON; a syntax error is EUSAGE naming `file:LINE:COL`. */
export function readRecipeJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ExtimgError('EUSAGE', `${file}${jsonPosition(text, e)}: not valid JSON: ${jsonReason(e)}`, { file });
  }
}

/** Check an already parsed recipe (what parseRecipe does after JSON.parse). */
export function recipeFromJson(json: unknown, file: string, options: ParseRecipeOptions = {}): Recipe {
  try {
    return checkRecipe(json, file, options);
  } catch (e) {
    // A recipe is a command line in a file: its mistakes are usage errors (exit status 2).
    if (e instanceof ExtimgError && e.code === 'EINVAL') throw new ExtimgError('EUSAGE', e.message, e.data);
    throw e;
  }
}

function checkRecipe(json: unknown, file: string, options: ParseRecipeOptions): Recipe {
  const root = `${file}:`;
  if (!isObject(json)) throw invalid(root, `a recipe is a JSON object, got ${describe(json)}`);
  const o = checkObject(json, root, RECIPE_KEYS);
  const resolve = (p: string): string => resolvePath(options.baseDir, p);
  const key = (k: string): string => `${file}: ${k}`;
  const text = (k: string): string | undefined => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    if (typeof v !== 'string') throw invalid(key(k), `expected a string or number, got ${describe(v)}`);
    return v;
  };

  const recipe: Recipe = { file, options: {}, exclude: [], inputs: [], edits: [] };
  const b = recipe.options;
  const s = (k: string): string | undefined => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw invalid(key(k), `expected a string, got ${describe(v)}`);
    return v;
  };
  const n = (k: string): string | undefined => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number') throw invalid(key(k), `expected a number, got ${describe(v)}`);
    return String(v);
  };

  const output = s('output');
  if (output !== undefined) {
    if (output === '') throw invalid(key('output'), 'empty path');
    recipe.output = resolve(output);
  }
  const type = s('type');
  if (type !== undefined) b.type = parseChoice(key('type'), type, ['ext2', 'ext3', 'ext4'] as const);
  const features = o['features'];
  if (features !== undefined) {
    const list = typeof features === 'string' ? [features] : Array.isArray(features) ? features : undefined;
    if (!list) throw invalid(key('features'), `expected a feature list ("extent,^resize_inode") or an array of them, got ${describe(features)}`);
    list.forEach((x, i) => {
      if (typeof x !== 'string') throw invalid(`${file}: features[${i}]`, `expected a feature list such as "extent,^resize_inode", got ${describe(x)}`);
    });
    checkFeatureNames(list as string[], key('features'));
    b.features = list as string[];
  }
  const blockSize = n('blockSize');
  if (blockSize !== undefined) b.blockSize = parseChoice(key('blockSize'), blockSize, [1024, 2048, 4096] as const);
  const inodeSize = n('inodeSize');
  if (inodeSize !== undefined) b.inodeSize = parseChoice(key('inodeSize'), inodeSize, [128, 256] as const);
  const inodes = n('inodes');
  if (inodes !== undefined) b.inodes = parseInteger(key('inodes'), inodes, 1, 0xffffffff);
  const size = text('size');
  if (size !== undefined) b.size = parseSize(key('size'), size);
  const headroom = text('headroom');
  if (headroom !== undefined) b.headroom = parseHeadroom(key('headroom'), headroom);
  const label = s('label');
  if (label !== undefined) b.label = parseLabel(key('label'), label);
  const uuid = s('uuid');
  if (uuid !== undefined) b.uuid = parseUuid(key('uuid'), uuid);
  const hashSeed = s('hashSeed');
  if (hashSeed !== undefined) b.hashSeed = parseUuid(key('hashSeed'), hashSeed);
  const reserved = n('reservedPercent');
  if (reserved !== undefined) b.reservedPercent = parseNumber(key('reservedPercent'), reserved, 0, 50);
  const journal = n('journalBlocks');
  if (journal !== undefined) b.journalBlocks = parseInteger(key('journalBlocks'), journal, 1024, 10_240_000);
  const resizeInode = optBoolean(o, 'resizeInode', root);
  if (resizeInode !== undefined) b.resizeInode = resizeInode;
  const timestamp = n('timestamp');
  if (timestamp !== undefined) b.timestamp = parseInteger(key('timestamp'), timestamp, -0x80000000, 0x3ffffffff - 0x80000000);
  const owner = s('owner');
  if (owner !== undefined) recipe.owner = parseOwner(key('owner'), owner);
  optString(o, '$schema', root);

  const exclude = optStringArray(o, 'exclude', root);
  if (exclude) {
    checkExcludePatterns(exclude, key('exclude'));
    recipe.exclude = exclude;
  }
  const oneFileSystem = optBoolean(o, 'oneFileSystem', root);
  if (oneFileSystem !== undefined) recipe.oneFileSystem = oneFileSystem;

  const inputs = o['inputs'];
  if (inputs !== undefined) {
    if (!Array.isArray(inputs)) throw invalid(key('inputs'), `expected an array, got ${describe(inputs)}`);
    recipe.inputs = inputs.map((item, i) => checkInput(item, `${file}: inputs[${i}]`, resolve));
  }

  const devices = o['devices'];
  if (devices !== undefined) {
    const list = typeof devices === 'string' ? [devices] : Array.isArray(devices) ? devices : undefined;
    if (!list) throw invalid(key('devices'), `expected a file name or an array of them, got ${describe(devices)}`);
    list.forEach((d, i) => {
      const at = typeof devices === 'string' ? key('devices') : `${file}: devices[${i}]`;
      if (typeof d !== 'string' || d === '') throw invalid(at, `expected a device table file name, got ${describe(d)}`);
      recipe.edits.push(prepareEdit({ op: 'devices', source: d }, at, { resolveHostPath: resolve, json: true }, `${at} (${d})`));
    });
  }

  const edits = o['edits'];
  if (edits !== undefined) {
    if (!Array.isArray(edits)) throw invalid(key('edits'), `expected an array of edits, got ${describe(edits)}`);
    edits.forEach((e, i) => recipe.edits.push(prepareEdit(e, `${file}: edits[${i}]`, { resolveHostPath: resolve, json: true })));
  }
  return recipe;
}

function checkInput(item: unknown, at: string, resolve: (p: string) => string): RecipeInput {
  if (typeof item === 'string') {
    if (item === '') throw invalid(at, 'empty path');
    return { arg: item, source: resolve(item), dest: '/' };
  }
  if (!isObject(item)) throw invalid(at, `expected a path or {"path": ..., "dest": ...}, got ${describe(item)}`);
  const o = checkObject(item, at, RECIPE_INPUT_KEYS);
  const path = reqPath(o, 'path', at);
  const input: RecipeInput = { arg: path, source: resolve(path), dest: '/' };
  const dest = optString(o, 'dest', at);
  if (dest !== undefined) {
    if (!dest.startsWith('/')) throw invalid(child(at, 'dest'), `'${dest}' is not an absolute path in the image`);
    input.dest = dest;
  }
  const exclude = optStringArray(o, 'exclude', at);
  if (exclude) {
    checkExcludePatterns(exclude, child(at, 'exclude'));
    input.exclude = exclude;
  }
  const owner = optString(o, 'owner', at);
  if (owner !== undefined) input.owner = parseOwner(child(at, 'owner'), owner);
  const ref = optString(o, 'ref', at);
  if (ref !== undefined) {
    if (ref === '') throw invalid(child(at, 'ref'), 'empty ref');
    input.ref = ref;
  }
  const platform = optString(o, 'platform', at);
  if (platform !== undefined) {
    const bad = checkPlatform(platform);
    if (bad) throw invalid(child(at, 'platform'), bad);
    input.platform = platform;
  }
  return input;
}

/** `p` against `base` with '/' separators (recipes are read on POSIX hosts). */
export function resolvePath(base: string | undefined, p: string): string {
  if (base === undefined || p.startsWith('/')) return p;
  return `${base.replace(/\/+$/, '') || '/'}${base === '/' ? '' : '/'}${p}`;
}

function jsonReason(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.replace(/ in JSON at position \d+.*$/, '').replace(/^JSON\.parse: /, '');
}

/** ":LINE:COL" of a JSON.parse error, when the engine says where. */
function jsonPosition(text: string, e: unknown): string {
  const m = /at position (\d+)/.exec(e instanceof Error ? e.message : '');
  if (!m) return '';
  const pos = Math.min(Number(m[1]), text.length);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const col = pos - before.lastIndexOf('\n');
  return `:${line}:${col}`;
}
