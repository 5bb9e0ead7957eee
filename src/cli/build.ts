import { parseArgs } from 'node:util';
import type { BuildOptions, BuildResult } from '../ext/options.js';
import { buildToFile } from '../io/build.js';
import { Tree } from '../tree/tree.js';
import type { CliContext } from './context.js';
import { BUILD_HELP } from './help.js';
import { applyInput, parseInputSpec, resolveInput } from './inputs.js';
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
  owner: { type: 'string' },
  timestamp: { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parse>['values'];

function parse(args: string[]) {
  return parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
}

export interface BuildPlan {
  output: string;
  inputs: string[];
  options: BuildOptions;
  owner?: { uid: number; gid: number };
  json: boolean;
  quiet: boolean;
}

/** Turn validated option values into BuildOptions; every bad value is a usage error naming its option. */
export function planBuild(values: Values, positionals: string[], env: NodeJS.ProcessEnv): BuildPlan {
  if (values.output === undefined) throw usageError('missing -o/--output FILE', CMD);
  if (values.output === '-') throw usageError('-o/--output: cannot write an image to stdout (it needs seeking); give a file name', CMD);
  const o: BuildOptions = {};
  const type = parseChoice('--type', values.type ?? 'ext3', ['ext2', 'ext3'] as const, CMD);
  o.type = type;
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
    if (type !== 'ext3') throw usageError('--journal-blocks: only ext3 has a journal', CMD);
    // The range mke2fs accepts (figure_journal_size in misc/util.c).
    o.journalBlocks = parseInteger('--journal-blocks', values['journal-blocks'], 1024, 10_240_000, CMD);
  }
  if (values['no-resize-inode']) o.resizeInode = false;
  const timestamp = parseTimestamp(values.timestamp, env, CMD);
  if (timestamp !== undefined) o.timestamp = timestamp;
  const plan: BuildPlan = {
    output: values.output,
    inputs: positionals,
    options: o,
    json: values.json ?? false,
    quiet: values.quiet ?? false,
  };
  if (values.owner !== undefined) plan.owner = parseOwner('--owner', values.owner, CMD);
  return plan;
}

export function buildCommand(args: string[], ctx: CliContext): number {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (e) {
    throw parseArgsError(e, CMD);
  }
  const { values, positionals } = parsed;
  if (values.debug) ctx.debug = true;
  if (values.help) {
    ctx.stdout.write(BUILD_HELP);
    return 0;
  }
  const plan = planBuild(values, positionals, ctx.env);
  // Check every input before reading any, so a typo in the last one fails fast.
  const inputs = plan.inputs.map((arg) => resolveInput(parseInputSpec(arg)));

  const ts = plan.options.timestamp;
  const tree = new Tree({
    ...(ts !== undefined ? { time: { sec: ts, nsec: 0 } } : {}),
    ...(plan.owner ?? {}),
  });
  const onWarning = (message: string): void => {
    ctx.stderr.write(`extimg: warning: ${message}\n`);
  };
  for (const input of inputs) {
    applyInput(tree, input, { ...(plan.owner ? { owner: plan.owner } : {}), onWarning });
  }

  const options: BuildOptions = { ...plan.options };
  if (!plan.quiet && ctx.stderr.isTTY) {
    const progress = new Progress(ctx.stderr, 'extimg: writing');
    options.onProgress = (done, total) => progress.update(done, total);
    ctx.cleanup.push(() => progress.clear());
  }
  const result = buildToFile(tree, plan.output, options);
  ctx.runCleanup();

  if (plan.json) ctx.stdout.write(`${JSON.stringify({ output: plan.output, ...result }, null, 2)}\n`);
  if (!plan.quiet && !plan.json) ctx.stderr.write(`${summary(plan.output, result)}\n`);
  return 0;
}

export function summary(output: string, r: BuildResult): string {
  return (
    `${output}: ${r.type}, ${formatBytes(r.bytes)}, ` +
    `blocks ${r.usedBlocks}/${r.blocksCount} used (${r.blockSize} bytes each), ` +
    `inodes ${r.inodesCount - r.freeInodes}/${r.inodesCount} used`
  );
}
