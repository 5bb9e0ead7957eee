import { ExtimgError } from '../errors.js';
import type { CliContext } from './context.js';
import { BUILD_HELP, EDIT_HELP, GLOBAL_HELP, IMAGE_HELP, INITRD_HELP, SCHEMA_HELP } from './help.js';
import { usageError } from './usage.js';
import { packageVersion } from './version.js';

type Command = (args: string[], ctx: CliContext) => number | Promise<number>;

// Each command's modules load only when it runs: start-up is paid per run (~0.1 s of module
// loading when every command was imported up front, as much as Node's own start).
const COMMANDS: Record<string, { load: () => Promise<Command>; help: string }> = {
  build: { load: async () => (await import('./build.js')).buildCommand, help: BUILD_HELP },
  schema: { load: async () => (await import('./schema.js')).schemaCommand, help: SCHEMA_HELP },
  initrd: { load: async () => (await import('./initrd.js')).initrdCommand, help: INITRD_HELP },
  image: { load: async () => (await import('./image.js')).imageCommand, help: IMAGE_HELP },
  edit: { load: async () => (await import('./edit.js')).editCommand, help: EDIT_HELP },
};

/**
 * Run the CLI and return the exit status: 0 done, 1 the build failed (bad input, no space,
 * I/O), 2 a bad command line. Every failure is one line `extimg: <message>` on stderr; the stack
 * only with --debug.
 */
export async function run(argv: string[], ctx: CliContext): Promise<number> {
  // --debug is honoured even when the rest of the line does not parse.
  if (argv.includes('--debug')) ctx.debug = true;
  try {
    return await dispatch(argv, ctx);
  } catch (e) {
    ctx.runCleanup();
    return report(e, ctx);
  }
}

async function dispatch(argv: string[], ctx: CliContext): Promise<number> {
  const args = argv.filter((a, i) => !(a === '--debug' && i < firstCommandIndex(argv)));
  const first = args[0];
  if (first === undefined) {
    ctx.stderr.write(GLOBAL_HELP);
    return 2;
  }
  if (first === '-h' || first === '--help') {
    ctx.stdout.write(GLOBAL_HELP);
    return 0;
  }
  if (first === '-V' || first === '--version') {
    ctx.stdout.write(`extimg ${packageVersion()}\n`);
    return 0;
  }
  if (first === 'help') {
    const topic = args[1];
    if (topic === undefined) {
      ctx.stdout.write(GLOBAL_HELP);
      return 0;
    }
    const cmd = Object.hasOwn(COMMANDS, topic) ? COMMANDS[topic] : undefined;
    if (!cmd) throw usageError(`unknown command '${topic}'`);
    ctx.stdout.write(cmd.help);
    return 0;
  }
  if (first.startsWith('-')) throw usageError(`unknown option '${first}'; a command comes first`);
  const cmd = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined;
  if (!cmd) throw usageError(`unknown command '${first}'`);
  return (await cmd.load())(args.slice(1), ctx);
}

/** Leading --debug flags may precede the command. */
function firstCommandIndex(argv: string[]): number {
  let i = 0;
  while (argv[i] === '--debug') i++;
  return i;
}

function report(e: unknown, ctx: CliContext): number {
  const message = e instanceof Error ? e.message : String(e);
  ctx.stderr.write(`extimg: ${oneLine(message)}\n`);
  if (ctx.debug && e instanceof Error && e.stack) ctx.stderr.write(`${e.stack}\n`);
  if (ctx.debug && e instanceof ExtimgError && Object.keys(e.data).length) {
    ctx.stderr.write(`code ${e.code}, data ${safeJson(e.data)}\n`);
  }
  return e instanceof ExtimgError && e.code === 'EUSAGE' ? 2 : 1;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}
