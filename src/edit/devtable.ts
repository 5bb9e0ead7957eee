import { ExtimgError } from '../errors.js';
import { MAX_MAJOR, MAX_MINOR, type Node } from '../tree/node.js';
import type { Tree } from '../tree/tree.js';

/**
 * genext2fs device tables (`genext2fs -D FILE`, also makedevs in Buildroot/OpenWrt):
 *
 *   # name      type mode uid gid major minor start inc count
 *   /dev        d    755  0   0   -     -     -     -   -
 *   /dev/tty    c    666  0   0   4     0     0     1   6
 *   /dev/hda    b    640  0   0   3     1     1     1   16
 *
 * Types: f regular file, d directory, c/b character/block device, p FIFO, s socket, l symlink.
 * `mode` is octal, the rest decimal, `-` leaves a field at its default (uid/gid 0, major/minor
 * 0, start 0, inc 1, count 0). As in genext2fs's add2fs_from_file():
 * - a name that exists already only gets the mode, uid and gid (its type is kept); `f` and `l`
 *   never create anything, they fix up what an input brought;
 * - with count > 0 the names are `name<i>` for i from start to count-1 (count is an end, not a
 *   number of nodes) and the minor of `name<i>` is `minor + i*inc - start`: the man page's
 *   `/dev/hda b 640 0 0 3 1 1 1 16` makes /dev/hda1 .. /dev/hda15 with minors 1 .. 15. Buildroot's
 *   makedevs reads count as a number of nodes instead; tables that rely on that differ here.
 * Stricter than genext2fs, which skips bad lines with a message: a bad line is an error naming
 * FILE:LINE, devices need both numbers, and `count <= start` (which genext2fs turns into
 * nothing) is refused. Missing parent directories are created (genext2fs skips such lines).
 */

export type DeviceType = 'f' | 'd' | 'c' | 'b' | 'p' | 's' | 'l';

export interface DeviceEntry {
  /** 1-based line number in the table. */
  line: number;
  name: string;
  type: DeviceType;
  mode: number;
  uid: number;
  gid: number;
  major: number;
  minor: number;
  start: number;
  inc: number;
  count: number;
}

const TYPES: readonly DeviceType[] = ['f', 'd', 'c', 'b', 'p', 's', 'l'];
const FIELDS = ['name', 'type', 'mode', 'uid', 'gid', 'major', 'minor', 'start', 'inc', 'count'] as const;

function lineError(file: string, line: number, message: string, data: Record<string, unknown> = {}): ExtimgError {
  return new ExtimgError('EINVAL', `${file}:${line}: ${message}`, { file, line, ...data });
}

/** Parse a device table; every problem is an error naming `file` and the line. */
export function parseDeviceTable(text: string, file: string): DeviceEntry[] {
  const entries: DeviceEntry[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, index) => {
    const line = index + 1;
    const hash = raw.indexOf('#');
    const fields = (hash >= 0 ? raw.slice(0, hash) : raw).split(/\s+/).filter((f) => f !== '');
    if (fields.length === 0) return;
    if (fields.length < 3) {
      throw lineError(file, line, `expected 'name type mode [uid gid major minor start inc count]', got ${fields.length} field${fields.length === 1 ? '' : 's'}`);
    }
    if (fields.length > FIELDS.length) throw lineError(file, line, `${fields.length} fields, at most ${FIELDS.length}`);
    const [name, typeText, modeText] = fields as [string, string, string];
    if (typeText.length !== 1 || !TYPES.includes(typeText as DeviceType)) {
      throw lineError(file, line, `unknown type '${typeText}' (f, d, c, b, p, s or l)`);
    }
    const type = typeText as DeviceType;
    if (!/^[0-7]+$/.test(modeText) || parseInt(modeText, 8) > 0o7777) {
      throw lineError(file, line, `mode '${modeText}' is not an octal mode (0-7777)`);
    }
    const num = (i: number, max: number): number | undefined => {
      const f = fields[i];
      if (f === undefined || f === '-') return undefined;
      if (!/^\d+$/.test(f) || Number(f) > max) {
        throw lineError(file, line, `${FIELDS[i]} '${f}' is not a number${/^\d+$/.test(f) ? ` up to ${max}` : ''} (or '-')`);
      }
      return Number(f);
    };
    const uid = num(3, 0xffffffff) ?? 0;
    const gid = num(4, 0xffffffff) ?? 0;
    const major = num(5, MAX_MAJOR);
    const minor = num(6, MAX_MINOR);
    const start = num(7, 0xffffffff) ?? 0;
    const inc = num(8, 0xffffffff) ?? 1;
    const count = num(9, 0xffffffff) ?? 0;
    if ((type === 'c' || type === 'b') && (major === undefined || minor === undefined)) {
      throw lineError(file, line, `${name}: a ${type === 'c' ? 'character' : 'block'} device needs major and minor numbers`);
    }
    if (count > 0 && count <= start) {
      throw lineError(file, line, `${name}: count ${count} must be greater than start ${start} (the names run from ${name}${start} to ${name}<count-1>)`);
    }
    if (count > 0 && (type === 'c' || type === 'b')) {
      const last = minor! + (count - 1) * inc - start;
      if (minor! + start * inc - start < 0 || last > MAX_MINOR) {
        throw lineError(file, line, `${name}: minors run out of range (${minor! + start * inc - start} to ${last}; 0-${MAX_MINOR})`);
      }
    }
    entries.push({ line, name, type, mode: parseInt(modeText, 8), uid, gid, major: major ?? 0, minor: minor ?? 0, start, inc, count });
  });
  return entries;
}

/** The names (and minors) one entry stands for. */
export function expandEntry(e: DeviceEntry): Array<{ name: string; minor: number }> {
  if (e.count <= 0) return [{ name: e.name, minor: e.minor }];
  const out: Array<{ name: string; minor: number }> = [];
  for (let i = e.start; i < e.count; i++) out.push({ name: `${e.name}${i}`, minor: e.minor + i * e.inc - e.start });
  return out;
}

export interface DeviceTableOptions {
  /** Where the table's '/' is in the tree (genext2fs `-D FILE:PATH`). Default '/'. */
  dest?: string;
  /** Told about names that existed with another type (only their mode and owner changed). */
  onWarning?: (message: string) => void;
}

const KIND_OF: Record<DeviceType, Node['kind']> = { f: 'file', d: 'dir', c: 'chr', b: 'blk', p: 'fifo', s: 'socket', l: 'symlink' };

/** Apply parsed entries to the tree; errors name `file` and the entry's line. */
export function applyDeviceTable(tree: Tree, entries: readonly DeviceEntry[], file: string, options: DeviceTableOptions = {}): void {
  const dest = (options.dest ?? '/').replace(/\/+$/, '');
  for (const e of entries) {
    for (const { name, minor } of expandEntry(e)) {
      const path = isRoot(name) ? dest || '/' : `${dest}/${name.replace(/^\/+/, '')}`;
      try {
        applyOne(tree, e, path, name, minor, file, options);
      } catch (err) {
        if (!(err instanceof ExtimgError) || err.message.startsWith(`${file}:${e.line}:`)) throw err;
        throw new ExtimgError(err.code, `${file}:${e.line}: ${err.message}`, { ...err.data, file, line: e.line });
      }
    }
  }
}

function isRoot(name: string): boolean {
  return /^\/*$/.test(name) || /^(\/*\.\/*)+$/.test(name);
}

function applyOne(tree: Tree, e: DeviceEntry, path: string, name: string, minor: number, file: string, options: DeviceTableOptions): void {
  const meta = { mode: e.mode, uid: e.uid, gid: e.gid };
  if (isRoot(name) && e.type !== 'd') throw lineError(file, e.line, `the root must be a directory (type d), not '${e.type}'`);
  let existing = tree.get(path, false);
  let follow = false;
  if (existing?.kind === 'symlink' && e.type === 'd') {
    // A symlink to a directory stands for it (merged /usr): fix up the directory.
    const target = tree.get(path, true);
    if (target?.kind === 'dir') {
      existing = target;
      follow = true;
    }
  }
  if (existing) {
    const want = KIND_OF[e.type];
    const devMismatch =
      (existing.kind === 'chr' || existing.kind === 'blk') && existing.kind === want && (existing.major !== e.major || existing.minor !== minor);
    if (existing.kind !== want || devMismatch) {
      const what = existing.kind === 'chr' || existing.kind === 'blk' ? `${existing.kind} ${existing.major}:${existing.minor}` : existing.kind;
      options.onWarning?.(`${file}:${e.line}: ${path} exists as ${what}; only its mode and owner were changed`);
    }
    tree.chmod(path, e.mode, follow);
    tree.chown(path, e.uid, e.gid, follow);
    return;
  }
  switch (e.type) {
    case 'd':
      tree.mkdir(path, meta);
      return;
    case 'c':
    case 'b':
      tree.mknod(path, e.type === 'c' ? 'chr' : 'blk', e.major, minor, meta);
      return;
    case 'p':
      tree.mknod(path, 'fifo', 0, 0, meta);
      return;
    case 's':
      tree.mknod(path, 'socket', 0, 0, meta);
      return;
    case 'f':
    case 'l':
      throw new ExtimgError('ENOENT', `${path}: no such ${e.type === 'f' ? 'file' : 'symlink'} (type ${e.type} only changes what an input brought)`, {
        path,
      });
  }
}
