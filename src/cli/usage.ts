import { ExtimgError } from '../errors.js';

/**
 * A bad command line: exit status 2 and a pointer to the help of `command`. `null` means no
 * pointer (a recipe file's values: the help would not help).
 */
export function usageError(message: string, command?: string | null): ExtimgError {
  if (command === null) return new ExtimgError('EUSAGE', message, {});
  const help = command ? `extimg ${command} --help` : 'extimg --help';
  return new ExtimgError('EUSAGE', `${message} (see '${help}')`, { command });
}

/**
 * node:util parseArgs errors as one line naming the option (its own messages run to several
 * sentences and suggest `--` tricks).
 */
export function parseArgsError(e: unknown, command?: string): unknown {
  const err = e as { code?: unknown; message?: unknown };
  if (typeof err?.code !== 'string' || !err.code.startsWith('ERR_PARSE_ARGS_') || typeof err.message !== 'string') return e;
  const quoted = /'([^']+)'/.exec(err.message)?.[1];
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return usageError(`unknown option '${quoted ?? err.message}'`, command);
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const name = quoted?.replace(/ <value>$/, '') ?? '';
      if (/argument missing/.test(err.message)) return usageError(`option '${name}' needs a value`, command);
      if (/ambiguous/.test(err.message)) {
        const form = /'(--[^'=]+=)-XYZ'/.exec(err.message)?.[1] ?? '--option=';
        return usageError(`option '${name}' needs a value; write one that starts with '-' as ${form}-VALUE`, command);
      }
      if (/does not take an argument/.test(err.message)) return usageError(`option '${name}' takes no value`, command);
      return usageError(err.message.split('\n')[0]!, command);
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return usageError(`unexpected argument '${quoted ?? ''}'`, command);
    default:
      return usageError(err.message.split('\n')[0]!, command);
  }
}
