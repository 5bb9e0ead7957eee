import { ExtimgError } from '../errors.js';

/**
 * Value parsers shared by recipes (src/edit/recipe.ts, src/initrd/recipe.ts) and the CLI's
 * options. `name` is where the value came from (`--size`, `recipe.json: size`) and leads every
 * message, so the user learns which of their values was wrong. They throw EUSAGE without a pointer
 * to `--help`: the library knows no commands; src/cli/values.ts adds the pointer for options.
 */

function bad(message: string): ExtimgError {
  return new ExtimgError('EUSAGE', message, {});
}

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** Bytes, or a number with a binary-unit suffix: 4096, 64M, 1.5G, 2GiB, 512k. */
export function parseSize(name: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*(?:([kmgt])(?:i?b)?|b)?$/i.exec(text.trim());
  const unit = m ? UNITS[(m[2] ?? '').toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw bad(`${name} '${text}': not a size (bytes, or a number with K, M, G or T: 64M, 1.5G)`);
  }
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw bad(`${name} '${text}': size out of range`);
  return bytes;
}

/** Extra room as a fraction: `20%` is 0.2; a bare number is a fraction and at most 1. */
export function parseHeadroom(name: string, text: string): number {
  const t = text.trim();
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(t);
  if (pct) return Number(pct[1]) / 100;
  if (/^(\d+(?:\.\d+)?|\.\d+)$/.test(t)) {
    const v = Number(t);
    if (v <= 1) return v;
    throw bad(`${name} '${text}': a fraction must be at most 1; for percent write '${t}%'`);
  }
  throw bad(`${name} '${text}': give a percentage (20%) or a fraction (0.2)`);
}

export function parseInteger(name: string, text: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(text.trim())) throw bad(`${name} '${text}': not an integer`);
  const v = Number(text.trim());
  if (!Number.isSafeInteger(v) || v < min || v > max) throw bad(`${name} '${text}': must be between ${min} and ${max}`);
  return v;
}

export function parseNumber(name: string, text: string, min: number, max: number): number {
  const t = text.trim();
  if (!/^(\d+(?:\.\d+)?|\.\d+)$/.test(t)) throw bad(`${name} '${text}': not a number`);
  const v = Number(t);
  if (v < min || v > max) throw bad(`${name} '${text}': must be between ${min} and ${max}`);
  return v;
}

export function parseChoice<T extends string | number>(name: string, text: string, choices: readonly T[]): T {
  const found = choices.find((c) => String(c) === text.trim());
  if (found === undefined) throw bad(`${name} '${text}': must be one of ${choices.join(', ')}`);
  return found;
}

/** UID:GID, both decimal 32-bit ids. */
export function parseOwner(name: string, text: string): { uid: number; gid: number } {
  const m = /^(\d+):(\d+)$/.exec(text.trim());
  if (!m) throw bad(`${name} '${text}': expected UID:GID (numbers, e.g. 0:0)`);
  const uid = Number(m[1]);
  const gid = Number(m[2]);
  if (uid > 0xffffffff || gid > 0xffffffff) throw bad(`${name} '${text}': ids must be at most 4294967295`);
  return { uid, gid };
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function parseUuid(name: string, text: string): string {
  if (!UUID_RE.test(text.trim())) throw bad(`${name} '${text}': not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`);
  return text.trim().toLowerCase();
}

/** A volume label: s_volume_name holds 16 bytes. */
export function parseLabel(name: string, text: string): string {
  const n = new TextEncoder().encode(text).length;
  if (n > 16) throw bad(`${name} '${text}': label is ${n} bytes, at most 16 fit`);
  return text;
}

/** What ext can store: a signed 32-bit seconds field plus two epoch bits (i_*time_extra). */
const MIN_TIMESTAMP = -0x80000000;
const MAX_TIMESTAMP = 0x3ffffffff - 0x80000000;

/**
 * The build time: `value` (named `name`), else SOURCE_DATE_EPOCH from `env`
 * (reproducible-builds.org: a malformed value is an error; an empty one counts as unset).
 */
export function parseTimestamp(value: string | undefined, env: Readonly<Record<string, string | undefined>>, name = '--timestamp'): number | undefined {
  if (value !== undefined) return parseInteger(name, value, MIN_TIMESTAMP, MAX_TIMESTAMP);
  const sde = env['SOURCE_DATE_EPOCH'];
  if (sde === undefined || sde === '') return undefined;
  if (!/^\d+$/.test(sde)) throw bad(`SOURCE_DATE_EPOCH='${sde}': not a number of seconds`);
  const v = Number(sde);
  if (v > MAX_TIMESTAMP) throw bad(`SOURCE_DATE_EPOCH='${sde}': beyond what ext can store`);
  return v;
}

/** A container image platform, os/arch[/variant]: undefined when well formed, else why not. */
export function checkPlatform(p: string): string | undefined {
  return /^[a-z0-9_.-]+\/[a-z0-9_.-]+(\/[a-z0-9_.-]+)?$/.test(p) ? undefined : `'${p}' is not os/arch[/variant] (like linux/amd64 or linux/arm64/v8)`;
}
