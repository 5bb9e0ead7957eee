import { ExtimgError } from '../errors.js';
import { checkFeatureNames, resolveFeatures } from '../ext/features.js';
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
 *
 * With "disk", the recipe describes a partitioned disk instead (see RecipeDisk): each partition
 * holds a filesystem described by the same keys under its "filesystem", raw bytes from a file,
 * or nothing; the top level then keeps only output, timestamp and $schema.
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

/** What describes one filesystem: the top level of a recipe, or a partition's "filesystem". */
export interface RecipeFilesystem {
  options: BuildOptions;
  owner?: { uid: number; gid: number };
  exclude: string[];
  /** Host directory inputs stay on their own filesystem (-x). */
  oneFileSystem?: boolean;
  inputs: RecipeInput[];
  /** Device tables then edits, checked, in the order they apply. */
  edits: PreparedEdit[];
}

export interface Recipe extends RecipeFilesystem {
  file: string;
  output?: string;
  /** A partitioned disk: the filesystem keys above are then empty (they belong in partitions). */
  disk?: RecipeDisk;
}

/**
 * `"disk": { "table": "gpt", "size": "8G", "format": "qcow2", "partitions": [ ... ] }`: a
 * whole disk, its partitions in order.
 */
export interface RecipeDisk {
  table: 'gpt' | 'mbr';
  /** The whole disk in bytes; undefined: fitted to the partitions. */
  size?: number;
  format?: 'raw' | 'qcow2';
  partitions: RecipePartition[];
}

export interface RecipePartition {
  /** The key path messages name it by: `disk.json: disk.partitions[2]`. */
  at: string;
  /** Bytes; 'fit': the filesystem's fitted size or the raw file's; 'rest': what the disk has left. */
  size: number | 'fit' | 'rest';
  /** Bytes from the disk's start; by default the next 1 MiB boundary after the partition before. */
  start?: number;
  /** GPT: a type name or GUID; MBR: a name, a byte or hex text. */
  type?: string | number;
  /** GPT partition name. */
  label?: string;
  bootable?: boolean;
  /** One of these, or neither (an empty partition: zeros). */
  filesystem?: RecipeFilesystem;
  /** A host file (resolved against the recipe's directory) whose bytes fill the partition. */
  raw?: { arg: string; source: string };
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
  'disk',
] as const;

/** The keys that describe one filesystem: a partition's "filesystem" takes these. */
export const RECIPE_FILESYSTEM_KEYS = [
  'type',
  'features',
  'blockSize',
  'inodeSize',
  'inodes',
  'headroom',
  'label',
  'uuid',
  'hashSeed',
  'reservedPercent',
  'journalBlocks',
  'resizeInode',
  'owner',
  'exclude',
  'oneFileSystem',
  'inputs',
  'devices',
  'edits',
] as const;

/** Top-level keys a disk recipe keeps; the others describe a filesystem. */
const DISK_RECIPE_KEYS: readonly string[] = ['$schema', 'output', 'timestamp', 'disk'];

export const RECIPE_DISK_KEYS = ['table', 'size', 'format', 'partitions'] as const;
export const RECIPE_PARTITION_KEYS = ['size', 'start', 'type', 'label', 'bootable', 'filesystem', 'raw'] as const;

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
  const disk = o['disk'] !== undefined;
  if (disk) {
    // One line naming the first key that belongs elsewhere.
    for (const k of Object.keys(o)) {
      if (DISK_RECIPE_KEYS.includes(k)) continue;
      throw invalid(
        child(root, k),
        k === 'size' ? 'with "disk", the whole disk\'s size is disk.size (and each partition\'s its "size")' : 'with "disk", the keys of a filesystem belong in a partition\'s "filesystem" (disk.partitions[N].filesystem)',
      );
    }
  }

  const recipe: Recipe = { file, options: {}, exclude: [], inputs: [], edits: [] };
  const output = optString(o, 'output', root);
  if (output !== undefined) {
    if (output === '') throw invalid(child(root, 'output'), 'empty path');
    recipe.output = resolve(output);
  }
  const timestamp = numberText(o, 'timestamp', root);
  if (timestamp !== undefined) recipe.options.timestamp = parseInteger(child(root, 'timestamp'), timestamp, -0x80000000, 0x3ffffffff - 0x80000000);
  optString(o, '$schema', root);
  if (disk) {
    recipe.disk = checkDisk(o['disk'], child(root, 'disk'), resolve);
    return recipe;
  }
  const size = sizeText(o, 'size', root);
  if (size !== undefined) recipe.options.size = parseSize(child(root, 'size'), size);
  checkFilesystem(o, root, resolve, recipe);
  return recipe;
}

/** A string, or a number written as its text (sizes: 1048576 or "1M"). */
function sizeText(o: Record<string, unknown>, k: string, at: string): string | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v !== 'string') throw invalid(child(at, k), `expected a string or number, got ${describe(v)}`);
  return v;
}

function numberText(o: Record<string, unknown>, k: string, at: string): string | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'number') throw invalid(child(at, k), `expected a number, got ${describe(v)}`);
  return String(v);
}

/**
 * The keys that describe one filesystem (RECIPE_FILESYSTEM_KEYS), of the object `o` found at
 * `at` (`image.json:` or `image.json: disk.partitions[1].filesystem`), into `fs`.
 */
function checkFilesystem(o: Record<string, unknown>, at: string, resolve: (p: string) => string, fs: RecipeFilesystem): void {
  const key = (k: string): string => child(at, k);
  const b = fs.options;
  const type = optString(o, 'type', at);
  if (type !== undefined) b.type = parseChoice(key('type'), type, ['ext2', 'ext3', 'ext4'] as const);
  const features = o['features'];
  if (features !== undefined) {
    const list = typeof features === 'string' ? [features] : Array.isArray(features) ? features : undefined;
    if (!list) throw invalid(key('features'), `expected a feature list ("extent,^resize_inode") or an array of them, got ${describe(features)}`);
    list.forEach((x, i) => {
      if (typeof x !== 'string') throw invalid(`${key('features')}[${i}]`, `expected a feature list such as "extent,^resize_inode", got ${describe(x)}`);
    });
    checkFeatureNames(list as string[], key('features'));
    b.features = list as string[];
  }
  const blockSize = numberText(o, 'blockSize', at);
  if (blockSize !== undefined) b.blockSize = parseChoice(key('blockSize'), blockSize, [1024, 2048, 4096] as const);
  const inodeSize = numberText(o, 'inodeSize', at);
  if (inodeSize !== undefined) b.inodeSize = parseChoice(key('inodeSize'), inodeSize, [128, 256] as const);
  const inodes = numberText(o, 'inodes', at);
  if (inodes !== undefined) b.inodes = parseInteger(key('inodes'), inodes, 1, 0xffffffff);
  const headroom = sizeText(o, 'headroom', at);
  if (headroom !== undefined) b.headroom = parseHeadroom(key('headroom'), headroom);
  const label = optString(o, 'label', at);
  if (label !== undefined) b.label = parseLabel(key('label'), label);
  const uuid = optString(o, 'uuid', at);
  if (uuid !== undefined) b.uuid = parseUuid(key('uuid'), uuid);
  const hashSeed = optString(o, 'hashSeed', at);
  if (hashSeed !== undefined) b.hashSeed = parseUuid(key('hashSeed'), hashSeed);
  const reserved = numberText(o, 'reservedPercent', at);
  if (reserved !== undefined) b.reservedPercent = parseNumber(key('reservedPercent'), reserved, 0, 50);
  const journal = numberText(o, 'journalBlocks', at);
  if (journal !== undefined) b.journalBlocks = parseInteger(key('journalBlocks'), journal, 1024, 10_240_000);
  const resizeInode = optBoolean(o, 'resizeInode', at);
  if (resizeInode !== undefined) b.resizeInode = resizeInode;
  const owner = optString(o, 'owner', at);
  if (owner !== undefined) fs.owner = parseOwner(key('owner'), owner);

  const exclude = optStringArray(o, 'exclude', at);
  if (exclude) {
    checkExcludePatterns(exclude, key('exclude'));
    fs.exclude = exclude;
  }
  const oneFileSystem = optBoolean(o, 'oneFileSystem', at);
  if (oneFileSystem !== undefined) fs.oneFileSystem = oneFileSystem;

  const inputs = o['inputs'];
  if (inputs !== undefined) {
    if (!Array.isArray(inputs)) throw invalid(key('inputs'), `expected an array, got ${describe(inputs)}`);
    fs.inputs = inputs.map((item, i) => checkInput(item, `${key('inputs')}[${i}]`, resolve));
  }

  const devices = o['devices'];
  if (devices !== undefined) {
    const list = typeof devices === 'string' ? [devices] : Array.isArray(devices) ? devices : undefined;
    if (!list) throw invalid(key('devices'), `expected a file name or an array of them, got ${describe(devices)}`);
    list.forEach((d, i) => {
      const where = typeof devices === 'string' ? key('devices') : `${key('devices')}[${i}]`;
      if (typeof d !== 'string' || d === '') throw invalid(where, `expected a device table file name, got ${describe(d)}`);
      fs.edits.push(prepareEdit({ op: 'devices', source: d }, where, { resolveHostPath: resolve, json: true }, `${where} (${d})`));
    });
  }

  const edits = o['edits'];
  if (edits !== undefined) {
    if (!Array.isArray(edits)) throw invalid(key('edits'), `expected an array of edits, got ${describe(edits)}`);
    edits.forEach((e, i) => fs.edits.push(prepareEdit(e, `${key('edits')}[${i}]`, { resolveHostPath: resolve, json: true })));
  }
}

function checkDisk(v: unknown, at: string, resolve: (p: string) => string): RecipeDisk {
  const o = checkObject(v, at, RECIPE_DISK_KEYS);
  const table = optString(o, 'table', at);
  if (table === undefined) throw invalid(at, "missing 'table' (\"gpt\" or \"mbr\")", { key: 'table' });
  const disk: RecipeDisk = { table: parseChoice(child(at, 'table'), table, ['gpt', 'mbr'] as const), partitions: [] };
  const size = sizeText(o, 'size', at);
  if (size !== undefined) disk.size = parseSize(child(at, 'size'), size);
  const format = optString(o, 'format', at);
  if (format !== undefined) disk.format = parseChoice(child(at, 'format'), format, ['raw', 'qcow2'] as const);
  const parts = o['partitions'];
  if (parts === undefined) throw invalid(at, "missing 'partitions'", { key: 'partitions' });
  if (!Array.isArray(parts) || parts.length === 0) throw invalid(child(at, 'partitions'), `expected an array of partitions, got ${Array.isArray(parts) ? 'an empty one' : describe(parts)}`);
  disk.partitions = parts.map((p, i) => checkPartition(p, `${child(at, 'partitions')}[${i}]`, resolve));
  return disk;
}

function checkPartition(v: unknown, at: string, resolve: (p: string) => string): RecipePartition {
  const o = checkObject(v, at, RECIPE_PARTITION_KEYS);
  const sizeValue = sizeText(o, 'size', at);
  if (sizeValue === undefined) throw invalid(at, 'missing \'size\' (bytes, "512M", "fit" or "rest")', { key: 'size' });
  const size = sizeValue === 'fit' || sizeValue === 'rest' ? sizeValue : parseSize(child(at, 'size'), sizeValue);
  const p: RecipePartition = { at, size };
  const start = sizeText(o, 'start', at);
  if (start !== undefined) p.start = parseSize(child(at, 'start'), start);
  const type = o['type'];
  if (type !== undefined) {
    if (typeof type === 'number' ? !Number.isInteger(type) || type < 1 || type > 0xff : typeof type !== 'string' || type === '') {
      throw invalid(child(at, 'type'), `expected a type name, a GUID or an MBR type byte (1-255), got ${describe(type)}`);
    }
    p.type = type as string | number;
  }
  const label = optString(o, 'label', at);
  if (label !== undefined) p.label = label;
  const bootable = optBoolean(o, 'bootable', at);
  if (bootable !== undefined) p.bootable = bootable;
  if (o['filesystem'] !== undefined && o['raw'] !== undefined) throw invalid(at, 'a partition holds a "filesystem" or "raw" bytes, not both');
  if (o['filesystem'] !== undefined) {
    const where = child(at, 'filesystem');
    const fo = checkObject(o['filesystem'], where, RECIPE_FILESYSTEM_KEYS);
    const fs: RecipeFilesystem = { options: {}, exclude: [], inputs: [], edits: [] };
    checkFilesystem(fo, where, resolve, fs);
    checkFeatures(fs.options, where);
    p.filesystem = fs;
  }
  const raw = o['raw'];
  if (raw !== undefined) {
    if (typeof raw !== 'string' || raw === '') throw invalid(child(at, 'raw'), `expected a host file name, got ${describe(raw)}`);
    p.raw = { arg: raw, source: resolve(raw) };
  }
  if (size === 'fit' && !p.filesystem && !p.raw) throw invalid(child(at, 'size'), '"fit" needs something to fit: a "filesystem" or "raw" bytes; an empty partition needs a size');
  return p;
}

/**
 * A partition's features and journal, checked here (the top level's are checked with the
 * command line's -O, which may add to them): nothing on the command line changes a partition.
 */
function checkFeatures(b: BuildOptions, at: string): void {
  const type = b.type ?? 'ext3';
  const features = resolveFeatures({ type, spec: b.features ?? [], ...(b.inodeSize !== undefined ? { inodeSize: b.inodeSize } : {}) }, child(at, 'features'));
  if (b.journalBlocks !== undefined && !features.has('has_journal')) throw invalid(child(at, 'journalBlocks'), 'only ext3 and ext4 (or features has_journal) have a journal');
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
