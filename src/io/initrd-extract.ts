import * as fs from 'node:fs';
import { ExtimgError } from '../errors.js';
import { escapeName, typeLetter } from '../initrd/list.js';
import type { Segment } from '../initrd/segments.js';

/**
 * Node adapter (host filesystem): extract an initrd's segments into a host directory without root, as `cpio -idm` would but
 * safely for untrusted archives: nothing is written outside DIR. Names with '..' are refused,
 * leading '/' is dropped (the kernel unpacks relative to the new root), parents are checked with
 * lstat (a symlink among them refuses the entry) and files are created with O_EXCL|O_NOFOLLOW
 * after the old name is removed, so no symlink is ever followed. Later entries replace earlier
 * ones, as in init/initramfs.c. Device nodes, fifos, sockets and ownership are recorded in a
 * manifest beside DIR (Node has no mknod; chown is applied when running as root).
 */

export interface ExtractOptions {
  origin: string;
  onWarning?(message: string): void;
}

export interface ManifestRecord {
  /** Path relative to DIR, escaped as `extimg initrd ls` shows names. */
  path: string;
  pathHex?: string;
  type: string;
  /** Permission bits as an octal string ("0755", "4755"), as recipes write modes. */
  mode: string;
  uid: number;
  gid: number;
  major?: number;
  minor?: number;
  /** The node exists in DIR (false for devices, fifos and sockets, and refused entries). */
  created: boolean;
  /** uid/gid were applied (running as root). */
  owned: boolean;
}

export interface ExtractResult {
  created: number;
  skipped: number;
  manifestPath: string;
  records: ManifestRecord[];
}

const SLASH = 0x2f;
const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_TRUNC } = fs.constants;

/** Where the manifest for DIR goes: beside it, never inside. */
export function manifestPathFor(dir: string): string {
  const trimmed = dir.length > 1 ? dir.replace(/\/+$/, '') : dir;
  return `${trimmed}.extimg-manifest.json`;
}

/** Name bytes split into components, or a reason to refuse it. */
function components(name: Uint8Array): Buffer[] | string {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= name.length; i++) {
    if (i === name.length || name[i] === SLASH) {
      const c = Buffer.from(name.subarray(start, i));
      start = i + 1;
      if (c.length === 0 || (c.length === 1 && c[0] === 0x2e)) continue;
      if (c.length === 2 && c[0] === 0x2e && c[1] === 0x2e) return "a '..' component";
      out.push(c);
    }
  }
  return out;
}

/** "0755", "4755": at least four digits, as recipes and `stat -c %04a` write modes. */
function octalMode(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

function errCode(e: unknown): string {
  return (e as { code?: string }).code ?? 'error';
}

interface Pending {
  comps: Buffer[];
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  ino: number;
}

export function extractSegments(segments: Segment[], dir: string, opts: ExtractOptions): ExtractResult {
  const warn = (m: string): void => opts.onWarning?.(`${opts.origin}: ${m}`);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new ExtimgError('EIO', `${dir}: cannot create the directory (${errCode(e)})`, { path: dir });
  }
  if (!fs.statSync(dir).isDirectory()) throw new ExtimgError('ENOTDIR', `${dir}: not a directory`, { path: dir });
  const root = Buffer.from(fs.realpathSync(dir));
  const isRoot = typeof process.geteuid === 'function' && process.geteuid() === 0;
  const join = (comps: Buffer[]): Buffer => Buffer.concat([root, ...comps.flatMap((c) => [Buffer.from('/'), c])]);

  /** Walk the parents of `comps`: each must be a real directory (created when `create`). */
  const parents = (comps: Buffer[], create: boolean): string | undefined => {
    for (let i = 0; i < comps.length - 1; i++) {
      const p = join(comps.slice(0, i + 1));
      const st = fs.lstatSync(p, { throwIfNoEntry: false });
      if (st === undefined) {
        if (!create) return 'a parent directory is missing';
        fs.mkdirSync(p, 0o755);
      } else if (st.isSymbolicLink()) {
        return `'${shownPath(comps.slice(0, i + 1))}' is a symlink (never followed)`;
      } else if (!st.isDirectory()) {
        return `'${shownPath(comps.slice(0, i + 1))}' is not a directory`;
      }
    }
    return undefined;
  };

  /** Remove whatever is at `p` (never following a symlink). */
  const clear = (p: Buffer): fs.Stats | undefined => {
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    if (st === undefined) return undefined;
    if (st.isDirectory()) fs.rmSync(p, { recursive: true, force: true });
    else fs.unlinkSync(p);
    return st;
  };

  const records: ManifestRecord[] = [];
  const dirs = new Map<string, Pending>();
  let created = 0;
  let skipped = 0;

  for (const seg of segments) {
    let links = new Map<string, { comps: Buffer[]; ino: number }>();
    for (const e of seg.entries) {
      if (e.trailer) {
        links = new Map();
        continue;
      }
      const shown = escapeName(e.name);
      const type = typeLetter(e.mode);
      const mode = e.mode & 0o7777;
      const rec: ManifestRecord = { path: shown.text, type, mode: octalMode(mode), uid: e.uid, gid: e.gid, created: false, owned: false };
      if (!shown.valid) rec.pathHex = Buffer.from(e.name).toString('hex');
      if (type === 'c' || type === 'b') {
        rec.major = e.rdevmajor;
        rec.minor = e.rdevminor;
      }
      const refuse = (why: string): void => {
        skipped++;
        warn(`skipped '${shown.text}' (segment ${seg.index}, offset ${e.offset}): ${why}`);
      };
      const comps = components(e.name);
      if (typeof comps === 'string') {
        refuse(`${comps} would leave the target directory`);
        continue;
      }
      records.push(rec);
      if (comps.length === 0) {
        // '.': the root itself.
        if (type === 'd') {
          const st = fs.lstatSync(root);
          dirs.set('', { comps, mode, uid: e.uid, gid: e.gid, mtime: e.mtime, ino: st.ino });
          rec.path = '.';
          rec.created = true;
          rec.owned = isRoot;
        } else {
          refuse('the root of the archive is not a directory');
        }
        continue;
      }
      try {
        const bad = parents(comps, true);
        if (bad !== undefined) {
          refuse(bad);
          continue;
        }
        const full = join(comps);
        switch (type) {
          case 'd': {
            let st = fs.lstatSync(full, { throwIfNoEntry: false });
            if (st !== undefined && !st.isDirectory()) {
              clear(full);
              st = undefined;
            }
            if (st === undefined) {
              fs.mkdirSync(full, 0o700);
              st = fs.lstatSync(full);
            }
            dirs.set(full.toString('latin1'), { comps, mode, uid: e.uid, gid: e.gid, mtime: e.mtime, ino: st.ino });
            break;
          }
          case '-': {
            const key = e.nlink > 1 ? `${e.devmajor}:${e.devminor}:${e.ino}` : undefined;
            const first = key !== undefined ? links.get(key) : undefined;
            let fd: number;
            if (first !== undefined) {
              // A later name of a hard-linked file: link it, then write this entry's data, if any
              // (GNU cpio -H newc stores the data with the last name), as the kernel's maybe_link().
              const from = join(first.comps);
              const st = parents(first.comps, false) === undefined ? fs.lstatSync(from, { throwIfNoEntry: false }) : undefined;
              if (st === undefined || !st.isFile() || st.ino !== first.ino) {
                refuse('its hard link target was replaced or removed');
                continue;
              }
              clear(full);
              fs.linkSync(from, full);
              if (e.data.length === 0) {
                created++;
                rec.created = true;
                continue;
              }
              fd = openForWrite(full, O_WRONLY | O_TRUNC | O_NOFOLLOW);
            } else {
              clear(full);
              fd = fs.openSync(full, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
            }
            try {
              writeAll(fd, e.data);
              if (isRoot) {
                fs.fchownSync(fd, e.uid, e.gid);
                rec.owned = true;
              }
              fs.fchmodSync(fd, mode); // after chown, which clears set-id bits
              fs.futimesSync(fd, e.mtime, e.mtime);
              if (key !== undefined && first === undefined) links.set(key, { comps, ino: fs.fstatSync(fd).ino });
            } finally {
              fs.closeSync(fd);
            }
            break;
          }
          case 'l': {
            clear(full);
            const raw = e.data.length && e.data[e.data.length - 1] === 0 ? e.data.subarray(0, e.data.length - 1) : e.data;
            fs.symlinkSync(Buffer.from(raw), full);
            if (isRoot) {
              fs.lchownSync(full, e.uid, e.gid);
              rec.owned = true;
            }
            fs.lutimesSync(full, e.mtime, e.mtime);
            break;
          }
          default:
            // c b p s (and unknown types): recorded only; the old name still goes (later entries replace).
            clear(full);
            skipped++;
            continue;
        }
        created++;
        rec.created = true;
      } catch (err) {
        refuse(`cannot create it (${errCode(err)})`);
      }
    }
  }

  // Directory metadata last, deepest first: creating entries changes a directory's mtime, and a
  // read-only directory would refuse its contents.
  const pending = [...dirs.values()].sort((a, b) => b.comps.length - a.comps.length);
  for (const d of pending) {
    const p = d.comps.length ? join(d.comps) : root;
    if (d.comps.length && parents(d.comps, false) !== undefined) continue;
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    if (st === undefined || !st.isDirectory() || st.ino !== d.ino) continue;
    try {
      if (isRoot) fs.chownSync(p, d.uid, d.gid);
      fs.chmodSync(p, d.mode);
      fs.utimesSync(p, d.mtime, d.mtime);
    } catch (err) {
      warn(`cannot set the mode or time of '${shownPath(d.comps)}' (${errCode(err)})`);
    }
  }

  const manifestPath = manifestPathFor(dir);
  const manifest = {
    origin: opts.origin,
    segments: segments.map((s) => ({ index: s.index, offset: s.offset, length: s.length, compression: s.compression })),
    entries: records,
  };
  const tmp = `${manifestPath}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, `${JSON.stringify(manifest, null, 1)}\n`);
  fs.renameSync(tmp, manifestPath);
  return { created, skipped, manifestPath, records };
}

/** Open an existing file for writing; a read-only mode (as non-root) is lifted for the write. */
function openForWrite(p: Buffer, flags: number): number {
  try {
    return fs.openSync(p, flags);
  } catch (e) {
    if (errCode(e) !== 'EACCES') throw e;
    fs.chmodSync(p, 0o600);
    return fs.openSync(p, flags);
  }
}

function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
}

function shownPath(comps: Buffer[]): string {
  return escapeName(Buffer.concat(comps.flatMap((c, k) => (k ? [Buffer.from('/'), c] : [c])))).text;
}
