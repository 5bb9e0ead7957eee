import { usageError } from './usage.js';

/**
 * Option value parsers. Each throws a usage error that names the option, so the user learns
 * which of their arguments was wrong.
 */

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** Bytes, or a number with a binary-unit suffix: 4096, 64M, 1.5G, 2GiB, 512k. */
export function parseSize(option: string, text: string, command?: string | null): number {
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*(?:([kmgt])(?:i?b)?|b)?$/i.exec(text.trim());
  const unit = m ? UNITS[(m[2] ?? '').toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw usageError(`${option} '${text}': not a size (bytes, or a number with K, M, G or T: 64M, 1.5G)`, command);
  }
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw usageError(`${option} '${text}': size out of range`, command);
  return bytes;
}

/** Extra room as a fraction: `20%` is 0.2; a bare number is a fraction and at most 1. */
export function parseHeadroom(option: string, text: string, command?: string | null): number {
  const t = text.trim();
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(t);
  if (pct) return Number(pct[1]) / 100;
  if (/^(\d+(?:\.\d+)?|\.\d+)$/.test(t)) {
    const v = Number(t);
    if (v <= 1) return v;
    throw usageError(`${option} '${text}': a fraction must be at most 1; for percent write '${t}%'`, command);
  }
  throw usageError(`${option} '${text}': give a percentage (20%) or a fraction (0.2)`, command);
}

export function parseInteger(option: string, text: string, min: number, max: number, command?: string | null): number {
  if (!/^-?\d+$/.test(text.trim())) throw usageError(`${option} '${text}': not an integer`, command);
  const v = Number(text.trim());
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    throw usageError(`${option} '${text}': must be between ${min} and ${max}`, command);
  }
  return v;
}

export function parseNumber(option: string, text: string, min: number, max: number, command?: string | null): number {
  const t = text.trim();
  if (!/^(\d+(?:\.\d+)?|\.\d+)$/.test(t)) throw usageError(`${option} '${text}': not a number`, command);
  const v = Number(t);
  if (v < min || v > max) throw usageError(`${option} '${text}': must be between ${min} and ${max}`, command);
  return v;
}

export function parseChoice<T extends string | number>(option: string, text: string, choices: readonly T[], command?: string | null): T {
  const found = choices.find((c) => String(c) === text.trim());
  if (found === undefined) throw usageError(`${option} '${text}': must be one of ${choices.join(', ')}`, command);
  return found;
}

/** UID:GID, both decimal 32-bit ids. */
export function parseOwner(option: string, text: string, command?: string | null): { uid: number; gid: number } {
  const m = /^(\d+):(\d+)$/.exec(text.trim());
  if (!m) throw usageError(`${option} '${text}': expected UID:GID (numbers, e.g. 0:0)`, command);
  const uid = Number(m[1]);
  const gid = Number(m[2]);
  if (uid > 0xffffffff || gid > 0xffffffff) throw usageError(`${option} '${text}': ids must be at most 4294967295`, command);
  return { uid, gid };
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function parseUuid(option: string, text: string, command?: string | null): string {
  if (!UUID_RE.test(text.trim())) throw usageError(`${option} '${text}': not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`, command);
  return text.trim().toLowerCase();
}

/** A volume label: s_volume_name holds 16 bytes. */
export function parseLabel(option: string, text: string, command?: string | null): string {
  const n = new TextEncoder().encode(text).length;
  if (n > 16) throw usageError(`${option} '${text}': label is ${n} bytes, at most 16 fit`, command);
  return text;
}

/**
 * The build time: --timestamp, else SOURCE_DATE_EPOCH (reproducible-builds.org: a malformed
 * value is an error; an empty one counts as unset).
 */
export function parseTimestamp(option: string | undefined, env: NodeJS.ProcessEnv, command?: string | null): number | undefined {
  if (option !== undefined) return parseInteger('--timestamp', option, -0x80000000, 0x3ffffffff - 0x80000000, command);
  const sde = env['SOURCE_DATE_EPOCH'];
  if (sde === undefined || sde === '') return undefined;
  if (!/^\d+$/.test(sde)) throw usageError(`SOURCE_DATE_EPOCH='${sde}': not a number of seconds`, command);
  const v = Number(sde);
  if (v > 0x3ffffffff - 0x80000000) throw usageError(`SOURCE_DATE_EPOCH='${sde}': beyond what ext can store`, command);
  return v;
}
