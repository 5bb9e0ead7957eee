import { ExtimgError } from '../errors.js';
import { ExtImage, fileKind, ROOT_INO, type DirEntry, type Inode } from '../ext/read/image.js';

/**
 * Paths inside an image, for `extimg image`: resolved from the root component by component with
 * chroot semantics (an absolute symlink target starts again at the image's root, '..' stops at
 * it), at most MAX_SYMLINKS symlinks followed (Linux's limit, then ELOOP), and directory walks
 * that refuse a directory met twice (a loop in a hostile image) instead of running forever.
 */

/** Linux's MAXSYMLINKS (fs/namei.c): more symlinks than this while resolving is ELOOP. */
export const MAX_SYMLINKS = 40;

const SLASH = 0x2f;

export interface Resolved {
  ino: number;
  inode: Inode;
  /** The path's components as resolved (symlinks replaced by their targets): [] is the root. */
  comps: Uint8Array[];
}

/**
 * Resolve `path` (an image path as the user wrote it; relative paths start at the root) to an
 * inode. Symlinks in intermediate components are always followed; the last one only when
 * `followLast` (cat, extract: yes; ls: no, as ls -l shows the link itself).
 */
export function resolveImagePath(img: ExtImage, path: string, followLast: boolean): Resolved {
  const shown = path;
  const fail = (code: 'ENOENT' | 'ENOTDIR' | 'ELOOP', what: string): ExtimgError =>
    new ExtimgError(code, `${img.origin}: ${shown}: ${what}`, { path: img.origin, imagePath: shown });
  // A trailing '/' (or '/.') asks for a directory: a symlink there is followed, as by the kernel.
  const wantDir = /\/\.?$/.test(path);
  const follow = followLast || wantDir;
  const root = img.inode(ROOT_INO);
  if (fileKind(root.mode) !== 'dir') throw new ExtimgError('ECORRUPT', `${img.origin}: the root inode is not a directory`, { path: img.origin });
  // The walk so far, root first; `todo` holds the components still to resolve, next one last.
  const stack: Array<{ ino: number; inode: Inode; name: Uint8Array }> = [{ ino: ROOT_INO, inode: root, name: new Uint8Array(0) }];
  const todo = splitPath(new TextEncoder().encode(path)).reverse();
  let hops = 0;
  while (todo.length > 0) {
    const name = todo.pop()!;
    if (isDot(name)) continue;
    if (isDotDot(name)) {
      if (stack.length > 1) stack.pop();
      continue;
    }
    const dir = stack[stack.length - 1]!;
    if (fileKind(dir.inode.mode) !== 'dir') throw fail('ENOTDIR', 'not a directory');
    const entry = lookup(img.readDir(dir.inode), name);
    if (entry === undefined) throw fail('ENOENT', 'no such file or directory');
    const inode = img.inode(entry.ino);
    const last = todo.every((c) => isDot(c));
    if (fileKind(inode.mode) === 'symlink' && (!last || follow)) {
      if (++hops > MAX_SYMLINKS) throw fail('ELOOP', `too many levels of symbolic links (more than ${MAX_SYMLINKS})`);
      const target = img.readLink(inode);
      if (target[0] === SLASH) stack.length = 1;
      todo.push(...splitPath(target).reverse());
      continue;
    }
    stack.push({ ino: entry.ino, inode, name });
  }
  const top = stack[stack.length - 1]!;
  if (wantDir && fileKind(top.inode.mode) !== 'dir') throw fail('ENOTDIR', 'not a directory');
  return { ino: top.ino, inode: top.inode, comps: stack.slice(1).map((s) => s.name) };
}

/** The entry called `name` (the first, should a damaged directory hold it twice). */
function lookup(entries: readonly DirEntry[], name: Uint8Array): DirEntry | undefined {
  return entries.find((e) => equalBytes(e.name, name));
}

/** A directory's entries sorted by name bytes (ls, extract); equal names keep on-disk order. */
export function sortedEntries(img: ExtImage, dir: Inode): DirEntry[] {
  return img.readDir(dir).sort((a, b) => compareBytes(a.name, b.name));
}

/** Components of a path's bytes ('' components dropped; '.' and '..' kept for the walk). */
function splitPath(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === SLASH) {
      if (i > start) out.push(bytes.slice(start, i));
      start = i + 1;
    }
  }
  return out;
}

function isDot(c: Uint8Array): boolean {
  return c.length === 1 && c[0] === 0x2e;
}

function isDotDot(c: Uint8Array): boolean {
  return c.length === 2 && c[0] === 0x2e && c[1] === 0x2e;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** Components joined with '/', absolute (`/etc/passwd`; [] is `/`). */
export function absolutePath(comps: readonly Uint8Array[]): Uint8Array {
  if (comps.length === 0) return Uint8Array.of(SLASH);
  return joinPath([new Uint8Array(0), ...comps]);
}

export function joinPath(comps: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(comps.reduce((n, c) => n + c.length, 0) + Math.max(comps.length - 1, 0));
  let at = 0;
  comps.forEach((c, k) => {
    if (k) out[at++] = SLASH;
    out.set(c, at);
    at += c.length;
  });
  return out;
}

/**
 * Guard for walks below a directory: a directory inode met a second time means a loop (or a
 * hard-linked directory) in a damaged image; refuse it rather than walk forever.
 */
export class DirectoryWalkGuard {
  private readonly seen = new Set<number>();
  constructor(private readonly img: ExtImage) {}

  enter(ino: number, shownPath: string): void {
    if (this.seen.has(ino)) {
      throw new ExtimgError('ECORRUPT', `${this.img.origin}: directory inode ${ino} appears twice (at '${shownPath}'): a directory loop`, { path: this.img.origin });
    }
    this.seen.add(ino);
  }
}

/** An entry's inode, refusing one that is not in use or has no known file type. */
export function entryInode(img: ExtImage, ino: number, shownPath: string): Inode {
  const inode = img.inode(ino);
  if (inode.links === 0 && inode.mode === 0) throw new ExtimgError('ECORRUPT', `${img.origin}: '${shownPath}' names inode ${ino}, which is not in use`, { path: img.origin });
  if (fileKind(inode.mode) === undefined) {
    throw new ExtimgError('ECORRUPT', `${img.origin}: '${shownPath}' (inode ${ino}) has an unknown file type (mode 0${inode.mode.toString(8)})`, { path: img.origin });
  }
  return inode;
}
