import { ExtimgError } from '../errors.js';
import * as values from '../edit/values.js';
import { usageError } from './usage.js';

/**
 * Option value parsers: the library's (src/edit/values.ts, shared with recipes) plus the pointer
 * to `extimg COMMAND --help` that usageError adds. `command` null means no pointer (recipe values).
 */

function withHelp<T>(command: string | null | undefined, parse: () => T): T {
  if (command === null) return parse();
  try {
    return parse();
  } catch (e) {
    // The message is already escaped (escapeControls is idempotent), so it is passed on as is.
    if (e instanceof ExtimgError && e.code === 'EUSAGE') throw usageError(e.message, command);
    throw e;
  }
}

/** Bytes, or a number with a binary-unit suffix: 4096, 64M, 1.5G, 2GiB, 512k. */
export function parseSize(option: string, text: string, command?: string | null): number {
  return withHelp(command, () => values.parseSize(option, text));
}

/** Extra room as a fraction: `20%` is 0.2; a bare number is a fraction and at most 1. */
export function parseHeadroom(option: string, text: string, command?: string | null): number {
  return withHelp(command, () => values.parseHeadroom(option, text));
}

export function parseInteger(option: string, text: string, min: number, max: number, command?: string | null): number {
  return withHelp(command, () => values.parseInteger(option, text, min, max));
}

export function parseNumber(option: string, text: string, min: number, max: number, command?: string | null): number {
  return withHelp(command, () => values.parseNumber(option, text, min, max));
}

export function parseChoice<T extends string | number>(option: string, text: string, choices: readonly T[], command?: string | null): T {
  return withHelp(command, () => values.parseChoice(option, text, choices));
}

/** UID:GID, both decimal 32-bit ids. */
export function parseOwner(option: string, text: string, command?: string | null): { uid: number; gid: number } {
  return withHelp(command, () => values.parseOwner(option, text));
}

export function parseUuid(option: string, text: string, command?: string | null): string {
  return withHelp(command, () => values.parseUuid(option, text));
}

/** A volume label: s_volume_name holds 16 bytes. */
export function parseLabel(option: string, text: string, command?: string | null): string {
  return withHelp(command, () => values.parseLabel(option, text));
}

/** --timestamp, else SOURCE_DATE_EPOCH (a malformed value is an error; an empty one is unset). */
export function parseTimestamp(option: string | undefined, env: NodeJS.ProcessEnv, command?: string | null): number | undefined {
  return withHelp(command, () => values.parseTimestamp(option, env));
}
