import { ExtimgError } from '../errors.js';
import { decompress, type Codec } from '../compress/index.js';
import { bytesToKey } from '../tree/names.js';
import { readTar } from './tar.js';

/**
 * A .deb's control member (control.tar[.gz|.xz|.zst]) read whole in memory: it is small (the
 * control file, maintainer scripts, md5sums, conffiles, triggers, shlibs, symbols, templates).
 * Plain data, so a prepared archive carrying it still crosses a worker boundary.
 */
export interface DebControl {
  /** The control file's fields in their order, names as written, values without the leading space. */
  fields: Array<[name: string, value: string]>;
  /** Every control file other than `control` (dpkg installs them as info/PKG.NAME), in archive order. */
  files: Array<{ name: string; mode: number; data: Uint8Array }>;
}

/**
 * The control member decoded and read, or why it cannot be: a broken control member only
 * matters when the package is recorded in the database (ingest/dpkg-db.ts says so then).
 */
export async function readDebControl(member: Uint8Array, codec: Codec | undefined, origin: string): Promise<DebControl | { error: string }> {
  try {
    const tar = codec ? await decompress(member, codec, origin) : member;
    return parseControlTar(tar, origin);
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

/** Files whose names carry a dot or name a directory are not control files (dpkg's pkg_infodb_update). */
export function parseControlTar(tar: Uint8Array, origin: string): DebControl {
  let control: Uint8Array | undefined;
  const files: DebControl['files'] = [];
  for (const e of readTar(tar, origin)) {
    const name = bytesToKey(e.name).replace(/^(\.\/|\/)+/, '');
    if (e.kind !== 'file' || name === '' || name.includes('/') || name.includes('.')) continue;
    const data = readAll(e.content, e.size);
    if (name === 'control') control = data;
    else files.push({ name, mode: e.mode & 0o7777, data });
  }
  if (!control) throw new ExtimgError('EFORMAT', `${origin}: no control file in the control member`, { archive: origin });
  // Byte strings (one char per byte), as the tree keys paths: values go back out byte for byte.
  return { fields: parseStanza(bytesToKey(control), origin), files };
}

function readAll(content: { open(): { read(p: number, into: Uint8Array): void; close(): void } } | undefined, size: number): Uint8Array {
  const out = new Uint8Array(size);
  if (!content || size === 0) return out;
  const r = content.open();
  try {
    r.read(0, out);
  } finally {
    r.close();
  }
  return out;
}

/**
 * One deb822 stanza (deb-control(5)): `Name: value` lines, continuation lines starting with a
 * space or tab; '#' comment lines are dropped as dpkg-deb drops them.
 */
export function parseStanza(text: string, origin: string): Array<[string, string]> {
  const fields: Array<[string, string]> = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (fields.length) break;
      continue;
    }
    if (line.startsWith('#')) continue;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      const last = fields.at(-1);
      if (!last) throw new ExtimgError('EFORMAT', `${origin}: control file starts with a continuation line`, { archive: origin });
      last[1] += `\n${line}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new ExtimgError('EFORMAT', `${origin}: control file line without a field name: ${JSON.stringify(line.slice(0, 60))}`, { archive: origin });
    fields.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return fields;
}

/** A field's value by name (field names are case-insensitive). */
export function field(c: Pick<DebControl, 'fields'>, name: string): string | undefined {
  const n = name.toLowerCase();
  return c.fields.find(([k]) => k.toLowerCase() === n)?.[1];
}
