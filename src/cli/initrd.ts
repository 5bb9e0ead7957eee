import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { ExtimgError } from '../errors.js';
import { extractSegments } from '../initrd/extract.js';
import { formatEntry, listSegments } from '../initrd/list.js';
import { scanSegments, type Segment } from '../initrd/segments.js';
import type { CliContext } from './context.js';
import { INITRD_HELP } from './help.js';
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
  if (sub === undefined) throw usageError('initrd needs a subcommand: ls or extract', CMD);
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
