import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { checkEncodeCodec, checkEncodeLevel, levelRanges, type EncodeCodec } from '../compress/encode.js';
import type { PreparedEdit } from '../edit/ops.js';
import { rewriteInitrd } from '../initrd/rewrite.js';
import { createInitrd } from '../initrd/create.js';
import { parseInitrdRecipe, type InitrdRecipe, type InitrdRecipeCommand } from '../initrd/recipe.js';
import { fsError } from '../io/fs-error.js';
import { checkExcludePatterns } from '../edit/glob.js';
import { applyPreparedEdit } from '../edit/ops.js';
import { checkTarget } from '../io/file.js';
import { Tree } from '../tree/tree.js';
import { applyInputs, parseInputSpec, protectStdinArgs, resolveInputs } from './inputs.js';
import { withFileSink } from '../io/file.js';
import { EDIT_OPTIONS, isEditOption, parseEditOption } from './edits.js';
import { nodeHostFiles } from './host.js';
import { parseInteger, parseOwner, parseTimestamp } from './values.js';
import { parseArgs } from 'node:util';
import { ExtimgError } from '../errors.js';
import { extractSegments } from '../initrd/extract.js';
import { formatEntry, listSegments } from '../initrd/list.js';
import { scanSegments, type Segment } from '../initrd/segments.js';
import type { CliContext } from './context.js';
import { INITRD_HELP } from './help.js';
import { Progress } from './progress.js';
import { parseArgsError, usageError } from './usage.js';

const CMD = 'initrd';

const OPTIONS = {
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `extimg initrd ls FILE [--json]` and `extimg initrd extract FILE DIR`. */
export async function initrdCommand(args: string[], ctx: CliContext): Promise<number> {
  if (args[0] === 'rewrite') return rewriteCommand(args.slice(1), ctx);
  if (args[0] === 'create') return createCommand(args.slice(1), ctx);
  let parsed;
  try {
    parsed = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw parseArgsError(e, CMD);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    ctx.stdout.write(INITRD_HELP);
    return 0;
  }
  const [sub, ...rest] = positionals;
  if (sub === 'rewrite') throw usageError("give 'rewrite' first: extimg initrd rewrite FILE -o OUT", CMD);
  if (sub === 'create') throw usageError("give 'create' first: extimg initrd create -o OUT INPUT...", CMD);
  if (sub === 'ls') {
    if (rest.length !== 1) throw usageError('initrd ls takes one FILE', CMD);
    const segments = await readSegments(rest[0]!);
    const rows = listSegments(segments);
    if (values.json) ctx.stdout.write(`${JSON.stringify(rows, null, 1)}\n`);
    else for (const r of rows) ctx.stdout.write(`${formatEntry(r)}\n`);
    return 0;
  }
  if (sub === 'extract') {
    if (rest.length !== 2) throw usageError('initrd extract takes FILE and DIR', CMD);
    if (values.json) throw usageError("option '--json' is for 'initrd ls'", CMD);
    const segments = await readSegments(rest[0]!);
    const r = extractSegments(segments, rest[1]!, {
      origin: rest[0]!,
      onWarning: (m) => ctx.stderr.write(`extimg: warning: ${m}\n`),
    });
    if (!values.quiet) {
      ctx.stderr.write(`extimg: ${r.created} entries extracted to ${rest[1]}, ${r.skipped} not created; manifest ${r.manifestPath}\n`);
    }
    return 0;
  }
  if (sub === undefined) throw usageError('initrd needs a subcommand: ls, extract, rewrite or create', CMD);
  throw usageError(`unknown initrd subcommand '${sub}'`, CMD);
}

async function readSegments(file: string): Promise<Segment[]> {
  let data: Uint8Array;
  try {
    data = fs.readFileSync(file);
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new ExtimgError(code === 'ENOENT' ? 'ENOENT' : 'EIO', `${file}: cannot read (${code ?? 'error'})`, { path: file });
  }
  return scanSegments(data, file);
}

/**
 * --level, else the recipe's `level`, with where it came from; checked against `codec` before
 * any work ('same' is checked by rewriteInitrd once the input's codec is known).
 */
function levelOption(option: string | undefined, recipe: { file: string; level?: number } | undefined, codec: EncodeCodec | 'same', cmd: string): { level?: number; levelOrigin: string } {
  const levelOrigin = option !== undefined ? '--level' : `${recipe?.file}: level`;
  const level = option !== undefined ? parseInteger('--level', option, 0, 19, cmd) : recipe?.level;
  if (level !== undefined && codec !== 'same') {
    try {
      checkEncodeLevel(codec, level, levelOrigin);
    } catch (e) {
      throw usageError((e as Error).message, cmd);
    }
  }
  return level !== undefined ? { level, levelOrigin } : { levelOrigin };
}

/** The --level line of the help texts, wrapped under its option. */
const LEVELS_HELP = levelRanges()
  .split(', ')
  .reduce<string[]>((lines, part) => {
    const last = lines[lines.length - 1];
    if (last !== undefined && last.length + part.length + 2 <= 56) lines[lines.length - 1] = `${last}, ${part}`;
    else lines.push(part);
    return lines;
  }, [])
  .join(',\n                            ');

export const INITRD_REWRITE_HELP = `Usage: extimg initrd rewrite FILE -o OUT [edits] [--compress C] [--level N]
                             [--append-segment] [--timestamp S] [--recipe FILE]

Apply edits to an initrd's main (last compressed) segment and write it back: early segments
(microcode) stay byte for byte unless an edit names a path only they hold. With
--append-segment the input is kept byte for byte and one small segment with the added or
replaced files is appended (the kernel and 'extimg initrd ls' see it; Debian's lsinitramfs
and unmkinitramfs do not).

Edits (in command-line order, as for 'extimg build'):
  --add SRC:DEST[:MODE]     host file SRC as DEST (--write DEST=SRC, then --chmod DEST=MODE)
  --write PATH=SRC  --write-text PATH=TEXT  --append PATH=SRC  --append-text PATH=TEXT
  --mkdir PATH[:MODE]  --symlink PATH=TARGET  --link PATH=EXISTING
  --mknod PATH:c|b:MAJ:MIN[:MODE]  --chmod PATH=MODE  --chown PATH=OWNER  -D/--devices TABLE
  --rm PATH  --rm-f PATH  --mv FROM=TO (these three not with --append-segment)

Options:
  -o, --output OUT          the new initrd (written to a temp file, renamed into place)
      --compress C          same (default: the main segment's codec), none, gzip, zstd,
                            xz (CRC32 check, as the kernel wants), lz4 (legacy frame, as
                            'lz4 -l'), bzip2, lzma
      --level N             ${LEVELS_HELP}
      --single-stream       one compressed stream, not ~4 MiB parts compressed in parallel
                            (for unpackers that stop after the first stream)
      --append-segment      append a segment instead of repacking (was --append
                            before 0.2.0; --append PATH=SRC is the edit, as in build)
      --timestamp S         clamp mtimes to S (default SOURCE_DATE_EPOCH): reproducible output
      --recipe FILE         output, compress, level, timestamp, devices and edits from a JSON
                            recipe (the 'extimg build --recipe' format; ext-only keys and
                            inputs are refused): its edits apply first, options given here win
  -q, --quiet               no summary line
`;

const RW = 'initrd rewrite';
const REWRITE_OPTIONS = {
  output: { type: 'string', short: 'o' },
  compress: { type: 'string' },
  level: { type: 'string' },
  'single-stream': { type: 'boolean' },
  'append-segment': { type: 'boolean' },
  timestamp: { type: 'string' },
  recipe: { type: 'string' },
  add: { type: 'string', multiple: true },
  ...EDIT_OPTIONS,
  quiet: { type: 'boolean', short: 'q' },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `extimg initrd rewrite FILE -o OUT [edits] [--compress C] [--level N] [--append-segment] [--timestamp S] [--recipe FILE]`. */
export async function rewriteCommand(args: string[], ctx: CliContext): Promise<number> {
  refuseOldAppend(args);
  let parsed;
  try {
    parsed = parseArgs({ args, options: REWRITE_OPTIONS, allowPositionals: true, strict: true, tokens: true });
  } catch (e) {
    throw parseArgsError(e, RW);
  }
  const { values, positionals } = parsed;
  if (values.debug) ctx.debug = true;
  if (values.help) {
    ctx.stdout.write(INITRD_REWRITE_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw usageError('initrd rewrite takes one FILE', RW);
  const input = positionals[0]!;
  const recipe = values.recipe !== undefined ? loadInitrdRecipe(values.recipe, 'rewrite') : undefined;
  const output = values.output ?? recipe?.output;
  if (output === undefined) throw usageError(missingOutput(recipe), RW);
  if (output === '-') throw usageError('-o/--output: give a file name', RW);
  let compress: 'same' | EncodeCodec = 'same';
  if (values.compress !== undefined && values.compress !== 'same') {
    try {
      compress = checkEncodeCodec(values.compress, '--compress');
    } catch (e) {
      throw usageError((e as Error).message, RW);
    }
  }
  if (values.compress === undefined && recipe?.compress !== undefined) compress = recipe.compress;
  const { level, levelOrigin } = levelOption(values.level, recipe, compress, RW);
  const timestamp = recipeTimestamp(values.timestamp, recipe, ctx.env, RW);
  // The recipe's device tables and edits, then the command line's.
  const edits: PreparedEdit[] = [...(recipe?.edits ?? [])];
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== 'option') continue;
    if (token.name === 'add') edits.push(...parseAdd(token.value ?? ''));
    else if (isEditOption(token.name)) edits.push(parseEditOption(token.name, token.value ?? ''));
  }
  const appendSegment = values['append-segment'] ?? recipe?.appendSegment ?? false;
  const data = readInput(input);
  const progress = compressProgress(ctx, values.quiet);
  const r = await rewriteInitrd(data, {
    origin: input,
    edits,
    editOptions: { host: nodeHostFiles },
    compress,
    ...(level !== undefined ? { level, levelOrigin } : {}),
    appendSegment,
    parts: { ...(values['single-stream'] ? { partBytes: Infinity } : {}), ...progress.option },
    ...(timestamp !== undefined ? { timestamp } : {}),
    onWarning: (m) => ctx.stderr.write(`extimg: warning: ${m}\n`),
  });
  progress.done();
  withFileSink(output, (sink) => {
    let pos = 0;
    for (const c of r.chunks) {
      sink.write(pos, c);
      pos += c.length;
    }
  });
  if (!values.quiet) {
    const what = appendSegment ? `appended a ${r.codec} segment of ${r.entries} entries` : `rebuilt segment(s) ${r.rebuilt.join(', ')} (${r.codec}, ${r.entries} entries)`;
    ctx.stderr.write(`extimg: ${output}: ${r.bytes} bytes, ${what}\n`);
  }
  return 0;
}

/**
 * Before 0.2.0 `initrd rewrite --append` was the segment mode; it is the append edit now, as in
 * build. An `--append` without PATH=SRC after it is almost surely the old flag: say so.
 */
function refuseOldAppend(args: string[]): void {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--') return;
    if (args[i] !== '--append') continue;
    const next = args[i + 1];
    if (next === undefined || next.startsWith('-') || !next.includes('=')) {
      throw usageError("--append takes PATH=SRC (append a host file, as in 'extimg build'); to append a segment, use --append-segment", RW);
    }
  }
}

/**
 * A progress line while an initrd is compressed (xz of Debian's initrd takes ~12 s), on a
 * terminal only and not with --quiet; cleared before the summary or an error.
 */
function compressProgress(ctx: CliContext, quiet: boolean | undefined, codec?: string): { option: { onProgress?: (done: number, total: number) => void }; done(): void } {
  if (quiet || !ctx.stderr.isTTY) return { option: {}, done() {} };
  const progress = new Progress(ctx.stderr, `extimg: compressing${codec ? ` (${codec})` : ''}`);
  ctx.cleanup.push(() => progress.clear());
  return { option: { onProgress: (done, total) => progress.update(done, total) }, done: () => progress.clear() };
}

/** `--add SRC:DEST[:MODE]`: --write DEST=SRC, then --chmod DEST=MODE. DEST has no ':'. */
function parseAdd(value: string): PreparedEdit[] {
  const m = /^(.+):([^:]+):([0-7]{3,4})$/.exec(value) ?? /^(.+):([^:]+)$/.exec(value);
  if (!m) throw usageError(`--add '${value}': expected SRC:DEST[:MODE] (e.g. ./hook:/scripts/init-top/hook:0755)`, RW);
  const out = [parseEditOption('write', `${m[2]}=${m[1]}`)];
  if (m[3] !== undefined) out.push(parseEditOption('chmod', `${m[2]}=${m[3]}`));
  return out;
}

/** Read and check an initrd recipe; its relative host paths are resolved against its directory. */
function loadInitrdRecipe(file: string, command: InitrdRecipeCommand): InitrdRecipe {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw fsError(file, e);
  }
  return parseInitrdRecipe(text, file, { command, baseDir: nodePath.dirname(file) });
}

function missingOutput(recipe: InitrdRecipe | undefined): string {
  return `missing -o/--output OUT${recipe ? ` (or "output" in ${recipe.file})` : ''}`;
}

/** As 'extimg build': --timestamp, then the recipe's, then SOURCE_DATE_EPOCH. */
function recipeTimestamp(option: string | undefined, recipe: InitrdRecipe | undefined, env: NodeJS.ProcessEnv, command: string): number | undefined {
  if (option === undefined && recipe?.timestamp !== undefined) return recipe.timestamp;
  return parseTimestamp(option, env, command);
}

function readInput(file: string): Uint8Array {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new ExtimgError(code === 'ENOENT' ? 'ENOENT' : 'EIO', `${file}: cannot read (${code ?? 'error'})`, { path: file });
  }
}

export const INITRD_CREATE_HELP = `Usage: extimg initrd create -o OUT [--compress C] [--level N]
                            [--timestamp S] [--owner UID:GID] [--exclude PAT] [edits] INPUT...
       extimg initrd create --recipe FILE [options] [edits] [INPUT...]

Build an initramfs from INPUTs exactly as 'extimg build' reads them (host directories and
archives: tar, cpio, deb, rpm, initrds; SRC:/DEST puts one under DEST; later inputs win), apply
the edits, and write one newc cpio archive: the root as '.', parents before children, names in
byte order, inode numbers renumbered from 1, hard links kept (data on the last name, as GNU cpio).

Edits (in command-line order, as for 'extimg build'):
  --add SRC:DEST[:MODE]     host file SRC as DEST (--write DEST=SRC, then --chmod DEST=MODE)
  --write PATH=SRC  --write-text PATH=TEXT  --append PATH=SRC  --append-text PATH=TEXT
  --mkdir PATH[:MODE]  --symlink PATH=TARGET  --link PATH=EXISTING  --mknod PATH:c|b:MAJ:MIN[:MODE]
  --chmod PATH=MODE  --chown PATH=OWNER  --rm PATH  --rm-f PATH  --mv FROM=TO  -D/--devices TABLE

Options:
  -o, --output OUT          the initrd (written to a temp file, renamed into place)
      --compress C          gzip (default), zstd, xz (CRC32 check), lz4 (legacy frame, as
                            'lz4 -l'), bzip2, lzma, none
      --level N             ${LEVELS_HELP}
      --single-stream       one compressed stream, not ~4 MiB parts compressed in parallel
                            (for unpackers that stop after the first stream)
      --timestamp S         clamp mtimes to S and date new entries S (default
                            SOURCE_DATE_EPOCH): two runs give identical bytes
      --owner UID:GID       owner of every input entry
      --exclude PAT         leave out matching input paths (repeatable)
  -x, --one-file-system     host directory inputs: do not cross into other filesystems
      --recipe FILE         output, compress, level, owner, timestamp, exclude, inputs, devices
                            and edits from a JSON recipe (the 'extimg build --recipe' format;
                            ext-only keys are refused): its inputs, excludes and edits come
                            first, options given here win
  -q, --quiet               no summary line
`;

const CR = 'initrd create';
const CREATE_OPTIONS = {
  output: { type: 'string', short: 'o' },
  compress: { type: 'string' },
  level: { type: 'string' },
  'single-stream': { type: 'boolean' },
  timestamp: { type: 'string' },
  owner: { type: 'string' },
  exclude: { type: 'string', multiple: true },
  'one-file-system': { type: 'boolean', short: 'x' },
  recipe: { type: 'string' },
  add: { type: 'string', multiple: true },
  ...EDIT_OPTIONS,
  quiet: { type: 'boolean', short: 'q' },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `extimg initrd create -o OUT [--compress C] [--level N] [--timestamp S] [--recipe FILE] [edits] INPUT...`. */
export async function createCommand(args: string[], ctx: CliContext): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: protectStdinArgs(args), options: CREATE_OPTIONS, allowPositionals: true, strict: true, tokens: true });
  } catch (e) {
    throw parseArgsError(e, CR);
  }
  const { values, positionals } = parsed;
  if (values.debug) ctx.debug = true;
  if (values.help) {
    ctx.stdout.write(INITRD_CREATE_HELP);
    return 0;
  }
  const recipe = values.recipe !== undefined ? loadInitrdRecipe(values.recipe, 'create') : undefined;
  const output = values.output ?? recipe?.output;
  if (output === undefined) throw usageError(missingOutput(recipe), CR);
  if (output === '-') throw usageError('-o/--output: give a file name', CR);
  if (positionals.length === 0 && !recipe?.inputs.length) {
    throw usageError(`initrd create needs at least one INPUT (a directory or an archive)${recipe ? ` (or "inputs" in ${recipe.file})` : ''}`, CR);
  }
  let compress: EncodeCodec = 'gzip';
  if (values.compress !== undefined) {
    try {
      compress = checkEncodeCodec(values.compress, '--compress');
    } catch (e) {
      throw usageError((e as Error).message, CR);
    }
  }
  if (values.compress === undefined && recipe?.compress !== undefined && recipe.compress !== 'same') compress = recipe.compress;
  const { level } = levelOption(values.level, recipe, compress, CR);
  const timestamp = recipeTimestamp(values.timestamp, recipe, ctx.env, CR);
  const owner = values.owner !== undefined ? parseOwner('--owner', values.owner, CR) : recipe?.owner;
  try {
    checkExcludePatterns(values.exclude ?? []);
  } catch (e) {
    throw usageError((e as Error).message, CR);
  }
  // As 'extimg build': the recipe's inputs, excludes and edits, then the command line's.
  const exclude = [...(recipe?.exclude ?? []), ...(values.exclude ?? [])];
  const edits: PreparedEdit[] = [...(recipe?.edits ?? [])];
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== 'option') continue;
    if (token.name === 'add') edits.push(...parseAdd(token.value ?? ''));
    else if (isEditOption(token.name)) edits.push(parseEditOption(token.name, token.value ?? ''));
  }
  // As 'extimg build': check every input first, decompress archives in parallel, apply in order.
  const inputs = resolveInputs([...(recipe?.inputs ?? []), ...positionals.map((arg) => parseInputSpec(arg))]);
  checkTarget(output);
  const tree = new Tree({ ...(timestamp !== undefined ? { time: { sec: timestamp, nsec: 0 } } : {}), ...(owner ?? {}) });
  const onWarning = (m: string): void => {
    ctx.stderr.write(`extimg: warning: ${m}\n`);
  };
  const open = await applyInputs(tree, inputs, {
    ...(owner ? { owner } : {}),
    exclude,
    oneFileSystem: values['one-file-system'] ?? recipe?.oneFileSystem ?? false,
    onWarning,
    spoolDir: nodePath.dirname(nodePath.resolve(output)),
    stdin: ctx.stdin,
  });
  let r: Awaited<ReturnType<typeof createInitrd>>;
  try {
    for (const edit of edits) applyPreparedEdit(tree, edit, { host: nodeHostFiles, onWarning });
    const progress = compressProgress(ctx, values.quiet, compress);
    r = await createInitrd(tree, {
      compress,
      ...(level !== undefined ? { level } : {}),
      ...(timestamp !== undefined ? { timestamp } : {}),
      parts: { ...(values['single-stream'] ? { partBytes: Infinity } : {}), ...progress.option },
    });
    progress.done();
  } finally {
    await open.close();
  }
  withFileSink(output, (sink) => sink.write(0, r.data));
  if (!values.quiet) ctx.stderr.write(`extimg: ${output}: ${r.data.length} bytes, ${r.codec}, ${r.entries} entries (${r.cpioBytes} bytes of newc)\n`);
  return 0;
}
