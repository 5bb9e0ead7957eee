/**
 * Recipes for `extimg initrd rewrite` and `extimg initrd create`: the JSON recipe format of
 * `extimg build` (src/edit/recipe.ts: same keys, same checks, host paths relative to the recipe)
 * without the keys that only shape an ext image, plus the initrd's own `compress` and `level`.
 *
 *   { "output": "initrd.new", "compress": "zstd", "timestamp": 1700000000,
 *     "edits": [{ "op": "write", "path": "/conf/conf.d/zz-hook", "source": "hook", "mode": "0644" }] }
 *
 * A key that makes sense only for an ext image (or, for rewrite, only with inputs) is refused
 * with one line naming the file, the key and what it is for:
 * `hook.json: size: not used by initrd rewrite (it sets the ext image's size)`.
 */
import { checkEncodeCodec, type EncodeCodec } from '../compress/encode.js';
import { parseInteger } from '../edit/values.js';
import { describe, invalid, isObject } from '../edit/check.js';
import type { PreparedEdit } from '../edit/ops.js';
import { readRecipeJson, RECIPE_KEYS, recipeFromJson, type RecipeInput } from '../edit/recipe.js';
import { ExtimgError } from '../errors.js';

export type InitrdRecipeCommand = 'rewrite' | 'create';

export interface InitrdRecipe {
  file: string;
  command: InitrdRecipeCommand;
  /** Resolved against the recipe's directory. */
  output?: string;
  timestamp?: number;
  /** create only: owner of every input entry. */
  owner?: { uid: number; gid: number };
  /** create only. */
  exclude: string[];
  /** create only. */
  oneFileSystem?: boolean;
  /** create only. */
  inputs: RecipeInput[];
  /** Device tables then edits, checked, in the order they apply. */
  edits: PreparedEdit[];
  /** 'same' (keep the main segment's codec) only for rewrite. */
  compress?: 'same' | EncodeCodec;
  level?: number;
  /** rewrite only: append one segment instead of repacking (--append-segment). */
  appendSegment?: boolean;
}

export interface ParseInitrdRecipeOptions {
  command: InitrdRecipeCommand;
  /** The recipe's directory: relative host paths are resolved against it. Default: none (kept as written). */
  baseDir?: string;
}

type RecipeKey = (typeof RECIPE_KEYS)[number];

/** Build recipe keys every initrd recipe takes. */
const COMMON_KEYS = ['$schema', 'output', 'timestamp', 'devices', 'edits'] as const;
/** Build recipe keys about inputs: create takes them, rewrite has the initrd as its only input. */
const INPUT_KEYS = ['owner', 'exclude', 'oneFileSystem', 'inputs'] as const;
/** Keys of initrd recipes only. */
export const INITRD_ONLY_RECIPE_KEYS = ['compress', 'level', 'appendSegment'] as const;

/** Top-level keys each command takes, in the order the README documents them. */
export const INITRD_RECIPE_KEYS: Record<InitrdRecipeCommand, readonly string[]> = {
  rewrite: ['$schema', 'output', 'compress', 'level', 'appendSegment', 'timestamp', 'devices', 'edits'],
  create: ['$schema', 'output', 'compress', 'level', 'owner', 'timestamp', 'exclude', 'oneFileSystem', 'inputs', 'devices', 'edits'],
};

/** Why each ext-only build key is refused (tsc checks that every build key is placed). */
const EXT_ONLY: Record<Exclude<RecipeKey, (typeof COMMON_KEYS)[number] | (typeof INPUT_KEYS)[number]>, string> = {
  type: 'it chooses ext2, ext3 or ext4',
  features: "it sets the ext image's features",
  blockSize: "it sets the ext image's block size",
  inodeSize: "it sets the ext image's inode size",
  inodes: "it sets the ext image's inode count",
  size: "it sets the ext image's size",
  headroom: "it sets the ext image's free space",
  label: "it sets the ext image's volume label",
  uuid: "it sets the ext image's UUID",
  hashSeed: "it sets the ext image's directory hash seed",
  reservedPercent: "it sets the ext image's reserved blocks",
  journalBlocks: "it sets the ext3 journal's size",
  resizeInode: "it sets the ext image's resize inode",
  disk: 'it describes a partitioned disk of ext filesystems',
};

const REWRITE_INPUT_ONLY: Record<(typeof INPUT_KEYS)[number], string> = {
  inputs: 'the initrd FILE on the command line is its only input',
  exclude: 'it filters inputs; use a "remove" edit',
  oneFileSystem: 'it applies to host directory inputs',
  owner: 'it sets the owner of input entries; use a "chown" edit',
};

/** Why `key` is refused by `command`, or undefined when it is not a build key it refuses. */
export function refusedRecipeKey(command: InitrdRecipeCommand, key: string): string | undefined {
  if (Object.hasOwn(EXT_ONLY, key)) return EXT_ONLY[key as keyof typeof EXT_ONLY];
  if (command === 'rewrite' && Object.hasOwn(REWRITE_INPUT_ONLY, key)) return REWRITE_INPUT_ONLY[key as keyof typeof REWRITE_INPUT_ONLY];
  return undefined;
}

/** Parse and check an initrd recipe's text. Errors are ExtimgError EUSAGE naming `file` and the key. */
export function parseInitrdRecipe(text: string, file: string, options: ParseInitrdRecipeOptions): InitrdRecipe {
  return initrdRecipeFromJson(readRecipeJson(text, file), file, options);
}

/** Check an already parsed initrd recipe. */
export function initrdRecipeFromJson(json: unknown, file: string, options: ParseInitrdRecipeOptions): InitrdRecipe {
  const { command } = options;
  if (!isObject(json)) throw usage(invalid(`${file}:`, `a recipe is a JSON object, got ${describe(json)}`));
  const rest: Record<string, unknown> = {};
  let compress: InitrdRecipe['compress'];
  let level: number | undefined;
  let appendSegment: boolean | undefined;
  for (const [key, value] of Object.entries(json)) {
    const at = `${file}: ${key}`;
    if (key === 'compress') compress = checkCompress(value, at, command);
    else if (key === 'level') {
      if (typeof value !== 'number') throw usage(invalid(at, `expected a number, got ${describe(value)}`));
      level = parseInteger(at, String(value), 0, 19);
    } else if (key === 'appendSegment') {
      if (command !== 'rewrite') throw new ExtimgError('EUSAGE', `${at}: not used by initrd ${command} (it appends a segment to an existing initrd)`, { file, key });
      if (typeof value !== 'boolean') throw usage(invalid(at, `expected true or false, got ${describe(value)}`));
      appendSegment = value;
    } else {
      const why = refusedRecipeKey(command, key);
      if (why !== undefined) throw new ExtimgError('EUSAGE', `${at}: not used by initrd ${command} (${why})`, { file, key });
      if (!(RECIPE_KEYS as readonly string[]).includes(key)) throw usage(invalid(at, 'unknown key', { key }));
      rest[key] = value;
    }
  }

  const recipe = recipeFromJson(rest, file, options.baseDir !== undefined ? { baseDir: options.baseDir } : {});
  const out: InitrdRecipe = { file, command, exclude: recipe.exclude, inputs: recipe.inputs, edits: recipe.edits };
  if (recipe.output !== undefined) out.output = recipe.output;
  if (recipe.options.timestamp !== undefined) out.timestamp = recipe.options.timestamp;
  if (recipe.owner !== undefined) out.owner = recipe.owner;
  if (compress !== undefined) out.compress = compress;
  if (level !== undefined) out.level = level;
  if (appendSegment !== undefined) out.appendSegment = appendSegment;
  if (recipe.oneFileSystem !== undefined) out.oneFileSystem = recipe.oneFileSystem;
  return out;
}

/** The codecs --compress takes; 'same' only for rewrite. */
function checkCompress(value: unknown, at: string, command: InitrdRecipeCommand): 'same' | EncodeCodec {
  if (typeof value !== 'string') throw usage(invalid(at, `expected a string, got ${describe(value)}`));
  if (command === 'rewrite' && value === 'same') return 'same';
  try {
    return checkEncodeCodec(value, at);
  } catch (e) {
    throw usage(e);
  }
}

/** A recipe is a command line in a file: its mistakes are usage errors (exit status 2). */
function usage(e: unknown): unknown {
  if (e instanceof ExtimgError && e.code !== 'EUSAGE') return new ExtimgError('EUSAGE', e.message, e.data);
  return e;
}
