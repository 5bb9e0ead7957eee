import * as fs from 'node:fs';
import { ExtimgError } from '../errors.js';
import { Excludes } from '../edit/glob.js';
import { fsError } from '../io/fs-error.js';
import type { ExtImage } from '../ext/read/image.js';
import { addHostDirectory, type HostDirectoryOptions } from '../ingest/hostdir.js';
import type { Prepared, PrepareOptions } from '../ingest/archive.js';
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
  /** A container image input: the image with this ref (`SRC@REF`, a recipe's `ref`), instead of --ref. */
  ref?: string;
  /** A container image input: the platform (a recipe's `platform`), instead of --platform. */
  platform?: string;
}

/**
 * What an input is: a host directory, an OCI image layout directory, an archive file, or a
 * stream (standard input, a pipe).
 */
export type ResolvedInput = InputSpec & { kind: 'dir' | 'image-dir' | 'archive' | 'stdin' };

/** `-` (or `-:/DEST`): an archive read from standard input. */
export const STDIN = '-';

/**
 * `-:/DEST` looks like an option to parseArgs: hide it behind a NUL (which no argument can hold)
 * before parsing; parseInputSpec reads it back.
 */
export function protectStdinArgs(args: readonly string[]): string[] {
  return args.map((a) => (a.startsWith(`${STDIN}:/`) ? `\0${a}` : a));
}

/**
 * Split `SRC:/DEST`. A path that exists as given is taken literally (host names may contain
 * ':'); otherwise the split is at a ':/' whose left side exists, else at the last ':/'. `-` is
 * standard input (a file named `-` is `./-`).
 */
export function parseInputSpec(arg: string, exists: (p: string) => boolean = hostExists, option?: string): InputSpec {
  if (arg === '') throw usageError(option ? `${option}: empty argument` : 'empty INPUT argument', 'build');
  if (arg === STDIN) return { arg, source: STDIN, dest: '/' };
  if (arg.startsWith(`\0${STDIN}:/`)) arg = arg.slice(1);
  if (arg.startsWith(`${STDIN}:/`)) return { arg, source: STDIN, dest: arg.slice(2) };
  if (exists(arg)) return { arg, source: arg, dest: '/' };
  const splits: number[] = [];
  for (let i = arg.indexOf(':/'); i !== -1; i = arg.indexOf(':/', i + 1)) splits.push(i);
  const at = splits.find((i) => i > 0 && (exists(arg.slice(0, i)) || existsWithRef(arg.slice(0, i), exists))) ?? splits[splits.length - 1];
  const spec: InputSpec = at === undefined ? { arg, source: arg, dest: '/' } : { arg, source: arg.slice(0, at), dest: arg.slice(at + 1) };
  // IMAGE@REF: a container image and the ref of the image to take from it.
  if (!exists(spec.source)) {
    const ref = splitRef(spec.source, exists);
    if (ref) {
      spec.source = ref.source;
      spec.ref = ref.ref;
    }
  }
  return spec;
}

/** `SRC@REF` where SRC exists (split at the last '@' that leaves an existing path). */
function splitRef(s: string, exists: (p: string) => boolean): { source: string; ref: string } | undefined {
  for (let i = s.lastIndexOf('@'); i > 0; i = s.lastIndexOf('@', i - 1)) {
    if (i < s.length - 1 && exists(s.slice(0, i))) return { source: s.slice(0, i), ref: s.slice(i + 1) };
  }
  return undefined;
}

function existsWithRef(s: string, exists: (p: string) => boolean): boolean {
  return splitRef(s, exists) !== undefined;
}

/** Check that the source is usable and say what it is, before anything is built. */
export function resolveInput(spec: InputSpec): ResolvedInput {
  if (spec.source === STDIN) return { ...spec, kind: 'stdin' };
  let st: fs.Stats;
  try {
    st = fs.statSync(spec.source);
  } catch (e) {
    throw fsError(spec.source, e);
  }
  if (st.isDirectory()) return { ...spec, kind: isImageLayout(spec.source) ? 'image-dir' : 'dir' };
  // Files, and what reads like one: a named pipe, /dev/stdin, a process substitution.
  if (st.isFile() || st.isFIFO() || st.isCharacterDevice()) return { ...spec, kind: st.isFile() ? 'archive' : 'stdin' };
  throw new ExtimgError('EINVAL', `${spec.source}: neither a directory nor an archive file`, { path: spec.source });
}

/** An OCI image layout: a directory with an `oci-layout` file (and index.json, blobs/). */
function isImageLayout(dir: string): boolean {
  try {
    return fs.statSync(`${dir}/oci-layout`).isFile();
  } catch {
    return false;
  }
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
  /** --no-package-db: .deb and pacman inputs are not recorded in /var/lib/dpkg, /var/lib/pacman. */
  packageDb?: boolean;
  onWarning: (message: string) => void;
  /** Where decompressed archives are spooled past the memory budget (the output's folder). */
  spoolDir: string;
  /** Standard input, for a `-` input. */
  stdin?: () => AsyncIterable<Uint8Array>;
  /** Input bytes read so far, of `total` (undefined when standard input is among them). */
  onInput?: (done: number, total: number | undefined) => void;
  /** Container image inputs: --platform and --ref (an input's own ref and platform win). */
  platform?: string;
  ref?: string;
}

/** What the tree still refers to after applyInputs: archive files and spools, open until closed. */
export interface OpenInputs {
  close(): Promise<void>;
  /** The first input, when it is an ext filesystem image (a plain rebuild keeps its identity). */
  firstFilesystem?: ExtImage;
}

/**
 * Read every input (archives decompressed in parallel up front, as streams) and apply them in
 * order; then name each exclude pattern that matched nothing in any input (a typo must not pass
 * silently). The tree refers to the archives' bytes: close() the result once the image is written.
 */
export async function applyInputs(tree: Tree, inputs: readonly ResolvedInput[], o: ApplyInputsOptions): Promise<OpenInputs> {
  const exclude = new Excludes(o.exclude);
  const options: ApplyOptions = { exclude, onWarning: o.onWarning };
  if (o.owner) options.owner = o.owner;
  if (o.oneFileSystem) options.oneFileSystem = true;
  if (o.packageDb === false) options.packageDb = false;
  const { prepared, open } = await prepareInputs(inputs, o);
  const first = prepared.get(0)?.filesystem;
  try {
    for (const [k, input] of inputs.entries()) {
      await applyInput(tree, input, options, prepared.get(k));
      prepared.delete(k);
    }
  } catch (e) {
    await open.close();
    throw e;
  }
  for (const pattern of exclude.unmatched()) o.onWarning(`exclude pattern '${pattern}' matched nothing in any input`);
  return first ? { close: () => open.close(), firstFilesystem: first } : open;
}

/** Check every input before any is applied. */
export function resolveInputs(specs: readonly InputSpec[]): ResolvedInput[] {
  const resolved = specs.map(resolveInput);
  const stdin = resolved.filter((r) => r.source === STDIN);
  if (stdin.length > 1) throw usageError(`standard input ('-') can be read once; it is given ${stdin.length} times`, 'build');
  return resolved;
}

export interface ApplyOptions {
  owner?: { uid: number; gid: number };
  /** --exclude patterns (every input, one set for all so unmatched ones can be named); an input's own are added. */
  exclude?: Excludes;
  /** Host directories: stay on one filesystem (-x). */
  oneFileSystem?: boolean;
  /** Record .deb and pacman inputs in the image's package databases (default true). */
  packageDb?: boolean;
  onWarning?: (message: string) => void;
}

const NOTHING_OPEN: OpenInputs = { close: async () => {} };

/**
 * Read and decompress every archive input up front, in parallel (the decode pool's worker
 * threads, streaming into spools): the slow half. Returns the prepared archives by input index
 * (applying them stays in order) and what to close once the image is written.
 */
export async function prepareInputs(
  inputs: readonly ResolvedInput[],
  o: Pick<ApplyInputsOptions, 'spoolDir' | 'stdin' | 'onInput' | 'platform' | 'ref'>,
): Promise<{ prepared: Map<number, Prepared>; open: OpenInputs }> {
  const idx = inputs.flatMap((input, k) => (input.kind !== 'dir' ? [k] : []));
  for (const input of inputs) {
    if (input.kind === 'dir' && (input.ref !== undefined || input.platform !== undefined)) {
      throw new ExtimgError('EINVAL', `${input.source}: a directory, not a container image: ${input.ref !== undefined ? `@${input.ref}` : 'platform'} does not apply`, { path: input.source });
    }
  }
  const prepared = new Map<number, Prepared>();
  if (idx.length === 0) return { prepared, open: NOTHING_OPEN };
  const { ArchiveFiles } = await import('../ingest/archive-file.js');
  const onInput = o.onInput;
  let total: number | undefined = 0;
  for (const k of idx) {
    const input = inputs[k]!;
    if (total === undefined || input.kind === 'stdin') total = undefined;
    else total += input.kind === 'image-dir' ? blobsSize(input.source) : fileSize(input.source);
  }
  let done = 0;
  const files = new ArchiveFiles({ spoolDir: o.spoolDir, ...(onInput ? { onInput: (n: number) => onInput((done += n), total) } : {}) });
  const results = await Promise.allSettled(
    idx.map((k) => {
      const input = inputs[k]!;
      const select: PrepareOptions = {};
      const platform = input.platform ?? o.platform;
      const ref = input.ref ?? o.ref;
      if (platform !== undefined) select.platform = platform;
      if (ref !== undefined) select.ref = ref;
      if (input.ref !== undefined) select.strictRef = true;
      if (input.source === STDIN) return files.prepareStream(o.stdin?.() ?? noInput(), 'standard input', select);
      if (input.kind === 'stdin') return files.prepareStream(fs.createReadStream(input.source), input.source, select);
      if (input.kind === 'image-dir') return files.prepareLayout(input.source, input.source, select);
      return files.prepareFile(input.source, input.source, select);
    }),
  );
  // The first failure in input order is the one reported (every read has ended by now).
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) {
    await files.close();
    throw failed.reason;
  }
  await files.stopWorkers();
  idx.forEach((k, j) => prepared.set(k, (results[j] as PromiseFulfilledResult<Prepared>).value));
  return { prepared, open: files };
}

function fileSize(p: string): number {
  try {
    return fs.statSync(p).size;
  } catch {
    return 0;
  }
}

/** The bytes of an OCI layout's blobs (what reading it reads, near enough, for progress). */
function blobsSize(dir: string): number {
  let n = 0;
  try {
    for (const name of fs.readdirSync(`${dir}/blobs/sha256`)) n += fileSize(`${dir}/blobs/sha256/${name}`);
  } catch {
    // No blobs folder: the layout is refused when it is read.
  }
  return n;
}

async function* noInput(): AsyncGenerator<Uint8Array> {
  // No standard input in this context: an empty stream.
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
    case 'archive':
    case 'image-dir':
    case 'stdin': {
      const mod = await loadArchiveModule();
      const opts: ArchiveOptions = { origin: input.source === STDIN ? 'standard input' : input.source, dest: input.dest };
      if (owner) opts.owner = owner;
      if (exclude) opts.exclude = exclude;
      if (options.onWarning) opts.onWarning = options.onWarning;
      if (options.packageDb === false) opts.packageDb = false;
      if (prepared) {
        mod.applyPrepared(tree, prepared, opts);
        return;
      }
      if (input.kind !== 'archive') throw new ExtimgError('EINVAL', `${opts.origin}: this input is read by applyInputs, not alone`, { path: input.source });
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
