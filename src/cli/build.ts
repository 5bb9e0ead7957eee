import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { parseArgs } from 'node:util';
import { checkExcludePatterns } from '../edit/glob.js';
import { checkPlatform } from '../edit/values.js';
import { applyPreparedEdit, type EditOptions, type PreparedEdit } from '../edit/ops.js';
import type { PasswordScheme } from '../edit/crypt.js';
import { parseRecipe, type Recipe, type RecipePartition } from '../edit/recipe.js';
import { resolveFeatures } from '../ext/features.js';
import { ExtimgError } from '../errors.js';
import type { ExtImage } from '../ext/read/image.js';
import { sourceIdentity } from '../ext/read/identity.js';
import type { BuildOptions, BuildResult } from '../ext/options.js';
import { buildDiskAsync, buildOutputAsync, checkDiskShape, type DiskBuildResult, type DiskOutputOptions, type DiskPartition, type MultiDiskResult } from '../disk/build.js';
import type { DiskLayout } from '../disk/layout.js';
import { checkTarget } from '../io/file.js';
import { FileSource } from '../io/file-source.js';
import { fsError } from '../io/fs-error.js';
import { Tree } from '../tree/tree.js';
import type { CliContext } from './context.js';
import { EDIT_OPTIONS, isEditOption, parseEditOption } from './edits.js';
import { BUILD_HELP } from './help.js';
import { nodeHostFiles } from './host.js';
import { applyInputs, parseInputSpec, protectStdinArgs, resolveInputs, type InputSpec } from './inputs.js';
import { formatBytes, Progress } from './progress.js';
import { parseArgsError, usageError } from './usage.js';
import {
  parseChoice,
  parseHeadroom,
  parseInteger,
  parseLabel,
  parseNumber,
  parseOwner,
  parseSize,
  parseTimestamp,
  parseUuid,
} from './values.js';

const CMD = 'build';

const OPTIONS = {
  output: { type: 'string', short: 'o' },
  type: { type: 'string', short: 't' },
  features: { type: 'string', short: 'O', multiple: true },
  'block-size': { type: 'string', short: 'b' },
  'inode-size': { type: 'string', short: 'I' },
  inodes: { type: 'string', short: 'N' },
  label: { type: 'string', short: 'L' },
  uuid: { type: 'string', short: 'U' },
  'hash-seed': { type: 'string' },
  'reserved-percent': { type: 'string', short: 'm' },
  size: { type: 'string' },
  headroom: { type: 'string' },
  'journal-blocks': { type: 'string' },
  'no-resize-inode': { type: 'boolean' },
  'password-scheme': { type: 'string' },
  'no-package-db': { type: 'boolean' },
  'partition-table': { type: 'string' },
  'partition-type': { type: 'string' },
  'partition-label': { type: 'string' },
  format: { type: 'string' },
  owner: { type: 'string' },
  timestamp: { type: 'string' },
  exclude: { type: 'string', multiple: true },
  'one-file-system': { type: 'boolean', short: 'x' },
  platform: { type: 'string' },
  ref: { type: 'string' },
  recipe: { type: 'string' },
  ...EDIT_OPTIONS,
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Parsed = ReturnType<typeof parse>;
type Values = Parsed['values'];

function parse(args: string[]) {
  return parseArgs({ args: protectStdinArgs(args), options: OPTIONS, allowPositionals: true, strict: true, tokens: true });
}

export interface BuildPlan {
  output: string;
  inputs: InputSpec[];
  options: BuildOptions;
  owner?: { uid: number; gid: number };
  exclude: string[];
  /** -x: host directory inputs stay on their own filesystem. */
  oneFileSystem: boolean;
  /** Container image inputs: --platform, --ref. */
  platform?: string;
  ref?: string;
  /** Device tables and edits in the order they apply: the recipe's, then the command line's. */
  edits: PreparedEdit[];
  json: boolean;
  quiet: boolean;
  /** -t, -b, -I, -U, -L or --hash-seed was given (command line or recipe): a rebuild keeps no identity. */
  formatGiven: boolean;
  /** The size was taken from this source image (a plain rebuild): dropped if the content does not fit. */
  sizeFromSource?: string;
  /** .deb and pacman inputs recorded in the image's package databases (--no-package-db: false). */
  packageDb: boolean;
  /** --password-scheme: for --password edits that name none. */
  passwordScheme?: PasswordScheme;
  /** How the filesystem is delivered: raw or qcow2, bare or in a partitioned disk. */
  delivery: DiskOutputOptions;
}

/**
 * Turn validated option values (and a recipe, if one was given) into a plan; every bad value is
 * a usage error naming its option or recipe key. Command-line values override the recipe's;
 * inputs, excludes and edits from the command line come after the recipe's.
 */
export function planBuild(parsed: Parsed, env: NodeJS.ProcessEnv, recipe?: Recipe): BuildPlan {
  const { values, positionals } = parsed;
  const output = values.output ?? recipe?.output;
  if (output === undefined) throw usageError(`missing -o/--output FILE${recipe ? ` (or "output" in ${recipe.file})` : ''}`, CMD);
  if (output === '-') throw usageError('-o/--output: cannot write an image to stdout (it needs seeking); give a file name', CMD);
  const o: BuildOptions = { ...(recipe?.options ?? {}) };
  const type = parseChoice('--type', values.type ?? o.type ?? 'ext3', ['ext2', 'ext3', 'ext4'] as const, CMD);
  o.type = type;
  // -O adds to (or with ^ removes from) the recipe's features, as a later -O does in mke2fs.
  if (values.features !== undefined) o.features = [...(o.features ?? []), ...values.features];
  if (o.features !== undefined) {
    try {
      resolveFeatures({ type, spec: o.features, ...(o.inodeSize !== undefined ? { inodeSize: o.inodeSize } : {}) }, values.features !== undefined ? '-O' : `${recipe!.file}: features`);
    } catch (e) {
      throw usageError((e as Error).message, CMD);
    }
  }
  if (values['block-size'] !== undefined) o.blockSize = parseChoice('--block-size', values['block-size'], [1024, 2048, 4096] as const, CMD);
  if (values['inode-size'] !== undefined) o.inodeSize = parseChoice('--inode-size', values['inode-size'], [128, 256] as const, CMD);
  if (values.inodes !== undefined) o.inodes = parseInteger('--inodes', values.inodes, 1, 0xffffffff, CMD);
  if (values.label !== undefined) o.label = parseLabel('--label', values.label, CMD);
  if (values.uuid !== undefined) o.uuid = parseUuid('--uuid', values.uuid, CMD);
  if (values['hash-seed'] !== undefined) o.hashSeed = parseUuid('--hash-seed', values['hash-seed'], CMD);
  if (values['reserved-percent'] !== undefined) {
    // mke2fs refuses more than 50%.
    o.reservedPercent = parseNumber('--reserved-percent', values['reserved-percent'], 0, 50, CMD);
  }
  if (values.size !== undefined) o.size = parseSize('--size', values.size, CMD);
  if (values.headroom !== undefined) o.headroom = parseHeadroom('--headroom', values.headroom, CMD);
  if (values['journal-blocks'] !== undefined) {
    // The range mke2fs accepts (figure_journal_size in misc/util.c).
    o.journalBlocks = parseInteger('--journal-blocks', values['journal-blocks'], 1024, 10_240_000, CMD);
  }
  if (o.journalBlocks !== undefined && !resolveFeatures({ type, spec: o.features ?? [] }).has('has_journal')) {
    const what = 'only ext3 and ext4 (or -O has_journal) have a journal';
    throw usageError(values['journal-blocks'] !== undefined ? `--journal-blocks: ${what}` : `${recipe!.file}: journalBlocks: ${what}`, CMD);
  }
  if (values['no-resize-inode']) o.resizeInode = false;
  // --timestamp, then the recipe's, then SOURCE_DATE_EPOCH.
  const timestamp = values.timestamp !== undefined || o.timestamp === undefined ? parseTimestamp(values.timestamp, env, CMD) : o.timestamp;
  if (timestamp !== undefined) o.timestamp = timestamp;

  const exclude = [...(recipe?.exclude ?? []), ...(values.exclude ?? [])];
  try {
    checkExcludePatterns(values.exclude ?? []);
  } catch (e) {
    throw usageError((e as Error).message, CMD);
  }

  const plan: BuildPlan = {
    output,
    inputs: [...(recipe?.inputs ?? []), ...positionals.map((arg) => parseInputSpec(arg))],
    options: o,
    exclude,
    oneFileSystem: values['one-file-system'] ?? recipe?.oneFileSystem ?? false,
    packageDb: !values['no-package-db'],
    edits: [...(recipe?.edits ?? []), ...cliEdits(parsed)],
    json: values.json ?? false,
    quiet: values.quiet ?? false,
    delivery: diskOutput(values, output),
    ...(values['password-scheme'] !== undefined ? { passwordScheme: parseChoice('--password-scheme', values['password-scheme'], ['yescrypt', 'sha512crypt', 'sha256crypt'] as const, CMD) } : {}),
    formatGiven:
      [values.type, values['block-size'], values['inode-size'], values.uuid, values.label, values['hash-seed']].some((v) => v !== undefined) ||
      (['type', 'blockSize', 'inodeSize', 'uuid', 'label', 'hashSeed'] as const).some((k) => recipe?.options?.[k] !== undefined),
  };
  const owner = values.owner !== undefined ? parseOwner('--owner', values.owner, CMD) : recipe?.owner;
  if (owner) plan.owner = owner;
  if (values.platform !== undefined) {
    const bad = checkPlatform(values.platform);
    if (bad) throw usageError(`--platform: ${bad}`, CMD);
    plan.platform = values.platform;
  }
  if (values.ref !== undefined) {
    if (values.ref === '') throw usageError('--ref: empty ref', CMD);
    plan.ref = values.ref;
  }
  return plan;
}

/** How edits apply: host files, warnings, the build's time (shadow days, derived salts), --password-scheme. */
function editOptions(plan: BuildPlan, onWarning: (message: string) => void): EditOptions {
  return {
    host: nodeHostFiles,
    onWarning,
    ...(plan.options.timestamp !== undefined ? { timestamp: plan.options.timestamp } : {}),
    ...(plan.passwordScheme ? { passwordScheme: plan.passwordScheme } : {}),
  };
}

/** --format (or a .qcow2 output name), --partition-table, --partition-type, --partition-label. */
function diskOutput(values: Values, output: string): DiskOutputOptions {
  const o: DiskOutputOptions = {};
  const format = values.format ?? (/\.qcow2$/i.test(output) ? 'qcow2' : 'raw');
  o.format = parseChoice('--format', format, ['raw', 'qcow2'] as const, CMD);
  if (values['partition-table'] !== undefined) o.partitionTable = parseChoice('--partition-table', values['partition-table'], ['gpt', 'mbr'] as const, CMD);
  if (values['partition-type'] !== undefined) o.partitionType = values['partition-type'];
  if (values['partition-label'] !== undefined) o.partitionLabel = values['partition-label'];
  if (!o.partitionTable && (o.partitionType !== undefined || o.partitionLabel !== undefined)) {
    throw usageError(`--partition-${o.partitionType !== undefined ? 'type' : 'label'} needs --partition-table gpt|mbr`, CMD);
  }
  if (o.partitionLabel !== undefined && o.partitionTable === 'mbr') throw usageError('--partition-label: MBR partitions have no names (use --partition-table gpt)', CMD);
  return o;
}

/** The edit options in command-line order (parseArgs groups `multiple` values per option). */
function cliEdits(parsed: Parsed): PreparedEdit[] {
  const edits: PreparedEdit[] = [];
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== 'option' || !isEditOption(token.name)) continue;
    edits.push(parseEditOption(token.name, token.value ?? ''));
  }
  return edits;
}

export async function buildCommand(args: string[], ctx: CliContext): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parse(args);
  } catch (e) {
    throw parseArgsError(e, CMD);
  }
  const values: Values = parsed.values;
  if (values.debug) ctx.debug = true;
  if (values.help) {
    ctx.stdout.write(BUILD_HELP);
    return 0;
  }
  const recipe = values.recipe !== undefined ? loadRecipe(values.recipe) : undefined;
  if (recipe?.disk) return buildDisk(parsed, ctx, recipe);
  const plan = planBuild(parsed, ctx.env, recipe);
  // Check every input before reading any, so a typo in the last one fails fast.
  const inputs = resolveInputs(plan.inputs);

  const ts = plan.options.timestamp;
  const tree = new Tree({
    ...(ts !== undefined ? { time: { sec: ts, nsec: 0 } } : {}),
    ...(plan.owner ?? {}),
  });
  const onWarning = (message: string): void => {
    ctx.stderr.write(`extimg: warning: ${message}\n`);
  };
  // Fail on an unusable output before the slow part, not after it.
  checkTarget(plan.output);
  const showProgress = !plan.quiet && ctx.stderr.isTTY === true;
  const reading = showProgress ? new Progress(ctx.stderr, 'extimg: reading inputs') : undefined;
  if (reading) ctx.cleanup.push(() => reading.clear());
  // The tree refers to the archives' bytes (files, spools) until the image is written.
  const open = await applyInputs(tree, inputs, {
    ...(plan.owner ? { owner: plan.owner } : {}),
    exclude: plan.exclude,
    oneFileSystem: plan.oneFileSystem,
    ...(plan.packageDb ? {} : { packageDb: false }),
    onWarning,
    spoolDir: nodePath.dirname(nodePath.resolve(plan.output)),
    stdin: ctx.stdin,
    ...(plan.platform !== undefined ? { platform: plan.platform } : {}),
    ...(plan.ref !== undefined ? { ref: plan.ref } : {}),
    ...(reading ? { onInput: (done: number, total: number | undefined) => reading.update(done, total) } : {}),
  });
  try {
    reading?.clear();
    if (open.firstFilesystem && !plan.formatGiven) keepIdentity(plan, open.firstFilesystem, onWarning);
    return await writeImage(tree, plan, ctx, onWarning);
  } finally {
    await open.close();
  }
}

async function writeImage(tree: Tree, plan: BuildPlan, ctx: CliContext, onWarning: (message: string) => void): Promise<number> {
  for (const edit of plan.edits) applyPreparedEdit(tree, edit, editOptions(plan, onWarning));

  const options: BuildOptions = { ...plan.options };
  if (!plan.quiet && ctx.stderr.isTTY) {
    const progress = new Progress(ctx.stderr, 'extimg: writing');
    options.onProgress = (done, total) => progress.update(done, total);
    ctx.cleanup.push(() => progress.clear());
  }
  const result = await interruptible(plan.output, ctx, async (signal): Promise<DiskBuildResult> => {
    try {
      return await buildOutputAsync(tree, plan.output, { ...options, ...plan.delivery }, signal);
    } catch (e) {
      // The source's size is kept only when the content fits it.
      if (!(e instanceof ExtimgError && e.code === 'ENOSPC' && plan.sizeFromSource)) throw e;
      const kept = options.size ?? plan.delivery.filesystemSize;
      onWarning(`${plan.sizeFromSource}: the content does not fit the source's size (${kept} bytes) and inode count; the image is sized to fit`);
      delete options.size;
      delete options.inodes;
      const { filesystemSize: _dropped, ...delivery } = plan.delivery;
      return await buildOutputAsync(tree, plan.output, { ...options, ...delivery }, signal);
    }
  });
  ctx.runCleanup();

  if (plan.json) ctx.stdout.write(`${JSON.stringify({ output: plan.output, ...result }, null, 2)}\n`);
  if (!plan.quiet && !plan.json) ctx.stderr.write(`${summary(plan.output, result)}\n`);
  return 0;
}

/**
 * The only write to the output: `write` makes a temp file renamed into place, removed on any
 * error, and on Ctrl-C/SIGTERM/SIGHUP too (the writer pauses every few MiB so these handlers run).
 */
export async function interruptible<T>(output: string, ctx: CliContext, write: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const signals: Array<[NodeJS.Signals, number]> = [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]];
  const handlers = signals.map(([sig, status]) => {
    const h = (): void => {
      controller.abort();
      ctx.runCleanup();
      ctx.stderr.write(`extimg: ${output}: interrupted by ${sig}; nothing written\n`);
      process.exit(status);
    };
    process.once(sig, h);
    return [sig, h] as const;
  });
  try {
    return await write(controller.signal);
  } finally {
    for (const [sig, h] of handlers) process.removeListener(sig, h);
  }
}

/** Options that go with a disk recipe: they say where and how the disk is written, not what a filesystem holds. */
const DISK_RECIPE_OPTIONS: ReadonlySet<string> = new Set(['output', 'timestamp', 'format', 'quiet', 'json', 'debug', 'recipe', 'help']);

/** A partition's filesystem as planned: the build plan of its keys, as if its own recipe. */
interface PlannedPartition {
  part: RecipePartition;
  plan?: BuildPlan;
}

/**
 * `build --recipe` of a recipe with "disk": each partition's filesystem planned as a recipe of
 * its own (planBuild), the layout's shape checked, raw files opened, then every filesystem's
 * inputs read and edits applied, and the disk written by buildDiskAsync (which sizes, lays out
 * and checks everything before it creates the output).
 */
async function buildDisk(parsed: Parsed, ctx: CliContext, recipe: Recipe): Promise<number> {
  const disk = recipe.disk!;
  const { values } = parsed;
  for (const token of parsed.tokens ?? []) {
    if (token.kind === 'option' && !DISK_RECIPE_OPTIONS.has(token.name)) {
      throw usageError(`${token.rawName}: ${recipe.file} describes a disk: each filesystem is described in its partition's "filesystem" (with a disk recipe only -o, --timestamp, --format, -q, --json and --debug apply)`, CMD);
    }
    if (token.kind === 'positional') {
      throw usageError(`'${token.value}': ${recipe.file} describes a disk: inputs go in a partition's "filesystem" (disk.partitions[N].filesystem.inputs)`, CMD);
    }
  }
  const output = values.output ?? recipe.output;
  if (output === undefined) throw usageError(`missing -o/--output FILE (or "output" in ${recipe.file})`, CMD);
  if (output === '-') throw usageError('-o/--output: cannot write an image to stdout (it needs seeking); give a file name', CMD);
  const format = parseChoice('--format', values.format ?? disk.format ?? (/\.qcow2$/i.test(output) ? 'qcow2' : 'raw'), ['raw', 'qcow2'] as const, CMD);
  const recipeTime = recipe.options.timestamp;
  const timestamp = values.timestamp !== undefined || recipeTime === undefined ? parseTimestamp(values.timestamp, ctx.env, CMD) : recipeTime;
  const json = values.json ?? false;
  const quiet = values.quiet ?? false;

  // Each filesystem as if its own recipe; the disk's timestamp is every filesystem's.
  const planned: PlannedPartition[] = disk.partitions.map((part) => {
    if (!part.filesystem) return { part };
    const sub: Recipe = { file: recipe.file, output, ...part.filesystem, options: { ...part.filesystem.options } };
    const args = [`--output=${output}`, ...(timestamp !== undefined ? [`--timestamp=${timestamp}`] : [])];
    return { part, plan: planBuild(parse(args), {}, sub) };
  });
  // Check every input (standard input at most once in all) and raw file before reading any.
  const resolved = planned.map((p) => (p.plan ? resolveInputs(p.plan.inputs) : []));
  resolveInputs(planned.flatMap((p) => p.plan?.inputs ?? []));
  const raws: FileSource[] = [];
  const opened: Array<{ close(): Promise<void> }> = [];
  try {
    const parts: DiskPartition[] = planned.map(({ part }) => {
      const spec = {
        size: part.size,
        ...(part.start !== undefined ? { start: part.start } : {}),
        ...(part.type !== undefined ? { type: part.type } : {}),
        ...(part.label !== undefined ? { label: part.label } : {}),
        ...(part.bootable !== undefined ? { bootable: part.bootable } : {}),
      };
      let fill: DiskPartition['fill'];
      if (part.raw) {
        const source = FileSource.openIfExists(part.raw.source, (f) => (raws.push(f), f));
        if (!source) throw new ExtimgError('ENOENT', `${part.at}.raw: ${part.raw.source}: no such file`, { path: part.raw.source });
        fill = { raw: source, name: part.raw.arg };
      } else if (part.filesystem) fill = { tree: new Tree(), options: {} }; // filled below
      return { spec, fill, origin: part.at };
    });
    const diskOptions = { table: disk.table, format, origin: `${recipe.file}: disk`, ...(disk.size !== undefined ? { diskSize: disk.size } : {}), ...(timestamp !== undefined ? { timestamp } : {}) };
    // Fail fast: what the layout can be refused for before the inputs are read.
    checkDiskShape(parts, diskOptions);
    checkTarget(output);

    const onWarning = (message: string): void => {
      ctx.stderr.write(`extimg: warning: ${message}\n`);
    };
    for (const [i, { plan }] of planned.entries()) {
      if (!plan) continue;
      const tree = new Tree({ ...(timestamp !== undefined ? { time: { sec: timestamp, nsec: 0 } } : {}), ...(plan.owner ?? {}) });
      const open = await applyInputs(tree, resolved[i]!, {
        ...(plan.owner ? { owner: plan.owner } : {}),
        exclude: plan.exclude,
        oneFileSystem: plan.oneFileSystem,
        onWarning,
        spoolDir: nodePath.dirname(nodePath.resolve(output)),
        stdin: ctx.stdin,
      });
      opened.push(open);
      if (open.firstFilesystem && !plan.formatGiven) {
        // The rebuild rule, but the partition decides the size.
        keepIdentity(plan, open.firstFilesystem, onWarning);
        delete plan.options.size;
      }
      for (const edit of plan.edits) applyPreparedEdit(tree, edit, editOptions(plan, onWarning));
      parts[i]!.fill = { tree, options: plan.options };
    }
    const result = await interruptible(output, ctx, (signal) => buildDiskAsync(parts, output, diskOptions, signal));
    ctx.runCleanup();
    if (json) ctx.stdout.write(`${JSON.stringify({ output, ...result }, null, 2)}\n`);
    if (!quiet && !json) ctx.stderr.write(`${diskSummary(output, result)}\n`);
    return 0;
  } finally {
    for (const o of opened) await o.close();
    for (const r of raws) r.close();
  }
}

/** The disk in a few lines: its table and size, then a line per partition. */
export function diskSummary(output: string, r: MultiDiskResult): string {
  const table = r.disk.table.toUpperCase();
  const qcow = r.format === 'qcow2' ? `qcow2 (${formatBytes(r.fileBytes ?? 0)} of file) of ` : '';
  const lines = [`${output}: ${qcow}${table === 'MBR' ? 'an' : 'a'} ${table} disk of ${formatBytes(r.disk.diskSize)}, ${r.partitions.length} partition${r.partitions.length === 1 ? '' : 's'}:`];
  for (const p of r.partitions) {
    const where = `${p.number}: ${formatBytes(p.size)} from ${formatBytes(p.start)}${p.name !== undefined ? ` ("${p.name}")` : ''}`;
    const b = p.build;
    const what =
      b ? `${b.type}, ${formatBytes(b.bytes)}, blocks ${b.usedBlocks}/${b.blocksCount} used, inodes ${b.inodesCount - b.freeInodes}/${b.inodesCount} used`
      : p.raw ? `raw, ${formatBytes(p.raw.bytes)} of ${p.raw.name}`
      : 'empty';
    lines.push(`  ${where}: ${what}`);
  }
  return lines.join('\n');
}

/**
 * The rebuild rule: the first input is an image and no format option was given, so the output
 * keeps the source's type, block size, inode size, UUID, label, hash seed and features (those
 * extimg writes), and its size when the content fits. -O adds to the source's features; --size
 * replaces its size.
 */
function keepIdentity(plan: BuildPlan, img: ExtImage, onWarning: (message: string) => void): void {
  const { options, notKept } = sourceIdentity(img);
  const o = plan.options;
  const features = [...(options.features ?? []), ...(o.features ?? [])];
  const size = o.size;
  Object.assign(o, options, { features });
  if (size !== undefined) o.size = size;
  else if (plan.delivery.partitionTable) {
    // With a partition table --size is the disk's: the disk is fitted around the kept filesystem.
    plan.delivery.filesystemSize = options.size!;
    delete o.size;
    plan.sizeFromSource = img.origin;
  } else plan.sizeFromSource = img.origin;
  if (notKept.length) onWarning(`${img.origin}: the rebuild does not keep ${notKept.join(', ')} (extimg does not write ${notKept.length === 1 ? 'it' : 'them'})`);
}

/** Read and check a recipe; its relative host paths are resolved against its directory. */
export function loadRecipe(file: string): Recipe {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw fsError(file, e);
  }
  return parseRecipe(text, file, { baseDir: nodePath.dirname(file) });
}

export function summary(output: string, r: BuildResult & { disk?: DiskLayout; format?: string; fileBytes?: number }): string {
  const table = r.disk ? r.disk.table.toUpperCase() : undefined;
  const around = r.disk ? `${table === 'MBR' ? "an" : "a"} ${table} disk of ${formatBytes(r.disk.diskSize)} holding in partition 1 ` : '';
  const qcow = r.format === 'qcow2' ? `qcow2 (${formatBytes(r.fileBytes ?? 0)} of file) of ` : '';
  return (
    `${output}: ${qcow}${around}${r.type}, ${formatBytes(r.bytes)}, ` +
    `blocks ${r.usedBlocks}/${r.blocksCount} used (${r.blockSize} bytes each), ` +
    `inodes ${r.inodesCount - r.freeInodes}/${r.inodesCount} used; ` +
    `free ${formatBytes(r.freeBlocks * r.blockSize)} and ${r.freeInodes} inodes`
  );
}
