import * as fs from 'node:fs';
import { ExtimgError } from '../errors.js';
import { Excludes } from '../edit/glob.js';
import { fsError } from '../io/fs-error.js';
import { addHostDirectory, type HostDirectoryOptions } from '../ingest/hostdir.js';
import type { Prepared } from '../ingest/archive.js';
import type { ArchiveOptions } from '../ingest/options.js';
import type { Tree } from '../tree/tree.js';
import { usageError } from './usage.js';

/**
 * One INPUT: `SRC` or `SRC:/DEST` on the command line (DEST absolute, inside the image), or an
 * entry of a recipe's `inputs`. SRC is a host directory or an archive file (the archive module
 * sniffs the format from the bytes, not the name).
 */
export interface InputSpec {
  /** The argument as given, for messages. */
  arg: string;
  source: string;
  dest: string;
  /** Patterns for this input only (a recipe's per-input `exclude`), on top of --exclude. */
  exclude?: string[];
  /** Owner for this input only (a recipe's per-input `owner`), instead of --owner. */
  owner?: { uid: number; gid: number };
}

export type ResolvedInput = InputSpec & { kind: 'dir' | 'archive' };

/**
 * Split `SRC:/DEST`. A path that exists as given is taken literally (host names may contain
 * ':'); otherwise the split is at a ':/' whose left side exists, else at the last ':/'.
 */
export function parseInputSpec(arg: string, exists: (p: string) => boolean = hostExists, option?: string): InputSpec {
  if (arg === '') throw usageError(option ? `${option}: empty argument` : 'empty INPUT argument', 'build');
  if (exists(arg)) return { arg, source: arg, dest: '/' };
  const splits: number[] = [];
  for (let i = arg.indexOf(':/'); i !== -1; i = arg.indexOf(':/', i + 1)) splits.push(i);
  if (splits.length === 0) return { arg, source: arg, dest: '/' };
  const at = splits.find((i) => i > 0 && exists(arg.slice(0, i))) ?? splits[splits.length - 1]!;
  return { arg, source: arg.slice(0, at), dest: arg.slice(at + 1) };
}

/** Check that the source is usable and say what it is, before anything is built. */
export function resolveInput(spec: InputSpec): ResolvedInput {
  let st: fs.Stats;
  try {
    st = fs.statSync(spec.source);
  } catch (e) {
    throw fsError(spec.source, e);
  }
  if (st.isDirectory()) return { ...spec, kind: 'dir' };
  if (st.isFile()) return { ...spec, kind: 'archive' };
  throw new ExtimgError('EINVAL', `${spec.source}: neither a directory nor an archive file`, { path: spec.source });
}

type ArchiveModule = typeof import('../ingest/archive.js');
let archiveModule: Promise<ArchiveModule> | undefined;

/** The archive readers, loaded on first use: a build from directories never loads the codecs. */
function loadArchiveModule(): Promise<ArchiveModule> {
  return (archiveModule ??= import('../ingest/archive.js'));
}

export interface ApplyInputsOptions {
  owner?: { uid: number; gid: number };
  /** Patterns for every input (--exclude and the recipe's). */
  exclude: readonly string[];
  oneFileSystem?: boolean;
  onWarning: (message: string) => void;
}

/**
 * Read every input (archives decompressed in parallel up front) and apply them in order; then
 * name each exclude pattern that matched nothing in any input (a typo must not pass silently).
 */
export async function applyInputs(tree: Tree, inputs: readonly ResolvedInput[], o: ApplyInputsOptions): Promise<void> {
  const exclude = new Excludes(o.exclude);
  const options: ApplyOptions = { exclude, onWarning: o.onWarning };
  if (o.owner) options.owner = o.owner;
  if (o.oneFileSystem) options.oneFileSystem = true;
  const prepared = await prepareInputs(inputs);
  for (const [k, input] of inputs.entries()) {
    await applyInput(tree, input, options, prepared.get(k));
    prepared.delete(k);
  }
  for (const pattern of exclude.unmatched()) o.onWarning(`exclude pattern '${pattern}' matched nothing in any input`);
}

/** Check every input before any is applied. */
export function resolveInputs(specs: readonly InputSpec[]): ResolvedInput[] {
  return specs.map(resolveInput);
}

export interface ApplyOptions {
  owner?: { uid: number; gid: number };
  /** --exclude patterns (every input, one set for all so unmatched ones can be named); an input's own are added. */
  exclude?: Excludes;
  /** Host directories: stay on one filesystem (-x). */
  oneFileSystem?: boolean;
  onWarning?: (message: string) => void;
}

/**
 * Read and decompress every archive input up front, in parallel (worker threads): the slow
 * half. Returns the prepared archives by input index; applying them stays in order.
 */
export async function prepareInputs(inputs: readonly ResolvedInput[]): Promise<Map<number, Prepared>> {
  const idx = inputs.flatMap((input, k) => (input.kind === 'archive' ? [k] : []));
  const out = new Map<number, Prepared>();
  if (idx.length === 0) return out;
  const [{ prepareArchives }, pool] = await Promise.all([loadArchiveModule(), import('../compress/pool.js')]);
  // The decompression workers load while this thread reads the files (none for one archive).
  pool.warmDecoders(idx.length);
  try {
    const files = await Promise.all(
      idx.map(async (k) => {
        const source = inputs[k]!.source;
        try {
          return { bytes: new Uint8Array(await fs.promises.readFile(source)), origin: source };
        } catch (e) {
          throw fsError(source, e);
        }
      }),
    );
    const prepared = await prepareArchives(files);
    idx.forEach((k, j) => out.set(k, prepared[j]!));
    return out;
  } finally {
    pool.dropWarmDecoders();
  }
}

/**
 * Add one input to the tree; later inputs replace earlier entries, directories merge. An
 * archive is applied from its prepared form when given (prepareInputs), else read here.
 */
export async function applyInput(tree: Tree, input: ResolvedInput, options: ApplyOptions, prepared?: Prepared): Promise<void> {
  const owner = input.owner ?? options.owner;
  const global = options.exclude?.size ? options.exclude : undefined;
  const own = input.exclude?.length ? new Excludes(input.exclude, `${input.arg}: exclude`) : undefined;
  const exclude = global && own ? (p: string) => own.test(p) || global.test(p) : (own ?? global)?.test;
  await applyOne(tree, input, options, owner, exclude, prepared);
  for (const pattern of own?.unmatched() ?? []) options.onWarning?.(`${input.arg}: exclude pattern '${pattern}' matched nothing in this input`);
}

async function applyOne(
  tree: Tree,
  input: ResolvedInput,
  options: ApplyOptions,
  owner: { uid: number; gid: number } | undefined,
  exclude: ((path: string) => boolean) | undefined,
  prepared: Prepared | undefined,
): Promise<void> {
  switch (input.kind) {
    case 'dir': {
      const opts: HostDirectoryOptions = { dest: input.dest };
      if (owner) opts.owner = owner;
      if (exclude) opts.exclude = exclude;
      if (options.oneFileSystem) opts.oneFileSystem = true;
      if (options.onWarning) opts.onWarning = options.onWarning;
      addHostDirectory(tree, input.source, opts);
      return;
    }
    case 'archive': {
      const mod = await loadArchiveModule();
      const opts: ArchiveOptions = { origin: input.source, dest: input.dest };
      if (owner) opts.owner = owner;
      if (exclude) opts.exclude = exclude;
      if (options.onWarning) opts.onWarning = options.onWarning;
      if (prepared) {
        mod.applyPrepared(tree, prepared, opts);
        return;
      }
      let bytes: Uint8Array;
      try {
        bytes = await fs.promises.readFile(input.source);
      } catch (e) {
        throw fsError(input.source, e);
      }
      await mod.addArchive(tree, bytes, opts);
      return;
    }
  }
}

function hostExists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
