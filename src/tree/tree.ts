import { ExtimgError } from '../errors.js';
import { BytesContent, type FileContent } from './content.js';
import {
  cloneMeta,
  MAX_MAJOR,
  MAX_MINOR,
  type DeviceNode,
  type DirNode,
  type FileNode,
  type Metadata,
  type Node,
  type SpecialNode,
  type SymlinkNode,
  type Timestamp,
} from './node.js';
import { bytesToKey, checkName, keyToDisplay, pathToKey, splitPath } from './names.js';

export type PathLike = string | Uint8Array;

/** Linux follows at most 40 symlinks while resolving one path (MAXSYMLINKS). */
const MAX_SYMLINKS = 40;

export interface TreeDefaults {
  uid: number;
  gid: number;
  dirMode: number;
  fileMode: number;
  /** Time given to nodes created without explicit times (and to the root). */
  time: Timestamp;
}

export interface MetaInput {
  mode?: number;
  uid?: number;
  gid?: number;
  atime?: Timestamp;
  mtime?: Timestamp;
  ctime?: Timestamp;
  xattrs?: Map<string, Uint8Array>;
}

interface Located {
  /** The directory that holds (or would hold) the last component. */
  parent: DirNode;
  /** The last component as a byte string; '' for the root itself. */
  name: string;
  /** The node under that name, not followed if it is a symlink. */
  node: Node | undefined;
}

/**
 * The virtual file tree. Paths resolve with chroot semantics: absolute symlink targets are
 * relative to the tree's root and `..` never rises above it, so nothing an archive says can reach
 * outside the image.
 */
export class Tree {
  readonly root: DirNode;
  readonly defaults: TreeDefaults;

  constructor(defaults: Partial<TreeDefaults> = {}) {
    this.defaults = {
      uid: defaults.uid ?? 0,
      gid: defaults.gid ?? 0,
      dirMode: defaults.dirMode ?? 0o755,
      fileMode: defaults.fileMode ?? 0o644,
      time: defaults.time ?? { sec: Math.floor(Date.now() / 1000), nsec: 0 },
    };
    this.root = { kind: 'dir', meta: this.meta(this.defaults.dirMode, {}), entries: new Map() };
  }

  /** Build a full Metadata from defaults plus what the caller gave. */
  meta(defaultMode: number, input: MetaInput = {}): Metadata {
    const t = this.defaults.time;
    const mtime = input.mtime ?? t;
    const atime = input.atime ?? mtime;
    const ctime = input.ctime ?? mtime;
    // Copies as literals, not spreads, and no Map built from an empty array: this runs for
    // every node of a tree (8,000 on a base system), mostly before V8 has optimized it.
    const meta: Metadata = {
      mode: input.mode ?? defaultMode,
      uid: input.uid ?? this.defaults.uid,
      gid: input.gid ?? this.defaults.gid,
      atime: { sec: atime.sec, nsec: atime.nsec },
      mtime: { sec: mtime.sec, nsec: mtime.nsec },
      ctime: { sec: ctime.sec, nsec: ctime.nsec },
      xattrs: input.xattrs ? new Map(input.xattrs) : new Map(),
    };
    checkMeta(meta);
    return meta;
  }

  // ---- lookup -----------------------------------------------------------------------------

  /** The node at `path`; symlinks in the middle are followed, the last one only if `follow`. */
  get(path: PathLike, follow = false): Node | undefined {
    const loc = this.locate(path, { follow, create: false });
    return loc?.node;
  }

  exists(path: PathLike): boolean {
    return this.get(path) !== undefined;
  }

  /**
   * Resolve `path` to its parent directory and last name. Intermediate symlinks are followed
   * (chroot semantics), missing directories are created when `create` is set.
   * Returns undefined when an intermediate component is missing and `create` is not set.
   */
  private locate(path: PathLike, opts: { follow: boolean; create: boolean }): Located | undefined {
    const display = typeof path === 'string' ? path : keyToDisplay(bytesToKey(path));
    const pending = splitPath(pathToKey(path)).reverse(); // a stack: next component last
    let stack: DirNode[] = [this.root];
    let links = 0;
    for (;;) {
      const cur = stack[stack.length - 1]!;
      if (pending.length === 0) {
        // The path named a directory we walked into (the root, or through '..').
        const parent = stack.length > 1 ? stack[stack.length - 2]! : cur;
        return { parent, name: stack.length > 1 ? findName(parent, cur) : '', node: cur };
      }
      const name = pending.pop()!;
      if (name === '..') {
        if (stack.length > 1) stack.pop();
        continue;
      }
      const last = pending.length === 0;
      let node = cur.entries.get(name);
      if (node === undefined) {
        if (last) {
          checkName(name, display);
          return { parent: cur, name, node: undefined };
        }
        if (!opts.create) return undefined;
        checkName(name, display);
        node = { kind: 'dir', meta: this.meta(this.defaults.dirMode), entries: new Map() };
        cur.entries.set(name, node);
      }
      if (node.kind === 'symlink' && (!last || opts.follow)) {
        if (++links > MAX_SYMLINKS) {
          throw new ExtimgError('ELOOP', `${display}: too many levels of symbolic links`, { path: display });
        }
        const target = bytesToKey(node.target);
        if (target.startsWith('/')) stack = [this.root];
        const parts = splitPath(target);
        for (let i = parts.length - 1; i >= 0; i--) pending.push(parts[i]!);
        continue;
      }
      if (last) return { parent: cur, name, node };
      if (node.kind !== 'dir') {
        throw new ExtimgError('ENOTDIR', `${display}: '${keyToDisplay(name)}' is not a directory`, { path: display });
      }
      stack.push(node);
    }
  }

  private locateForCreate(path: PathLike, parents: boolean): Located {
    const display = displayPath(path);
    const loc = this.locate(path, { follow: false, create: parents });
    if (!loc) throw new ExtimgError('ENOENT', `${display}: parent directory does not exist`, { path: display });
    if (loc.name === '') throw new ExtimgError('EEXIST', `${display}: is the root directory`, { path: display });
    return loc;
  }

  /** Put `node` under the located name, replacing what is there unless it is a directory. */
  private place(loc: Located, node: Node, path: PathLike, replace: boolean): void {
    const existing = loc.node;
    if (existing) {
      const display = displayPath(path);
      if (!replace) throw new ExtimgError('EEXIST', `${display}: already exists`, { path: display });
      if (existing.kind === 'dir' && existing.entries.size > 0) {
        throw new ExtimgError('EISDIR', `${display}: is a non-empty directory and cannot be replaced by a ${node.kind}`, {
          path: display,
        });
      }
    }
    loc.parent.entries.set(loc.name, node);
  }

  // ---- edits ------------------------------------------------------------------------------

  /**
   * mkdir -p. An existing directory is kept and merged: its metadata is updated with what is
   * given. An existing symlink that leads to a directory is kept (dpkg, tar
   * --keep-directory-symlink), so merged-/usr layouts survive.
   */
  mkdir(path: PathLike, meta?: MetaInput, opts: { replace?: boolean } = {}): DirNode {
    const loc = this.locate(path, { follow: false, create: true })!;
    if (loc.name === '') {
      if (meta) Object.assign(this.root.meta, this.meta(this.root.meta.mode, { ...metaOf(this.root.meta), ...meta }));
      return this.root;
    }
    const existing = loc.node;
    if (existing?.kind === 'dir') {
      if (meta) existing.meta = this.meta(existing.meta.mode, { ...metaOf(existing.meta), ...meta });
      return existing;
    }
    if (existing?.kind === 'symlink') {
      const target = this.get(path, true);
      if (target?.kind === 'dir') return target;
      if (target === undefined) {
        // A dangling symlink (`lib -> usr/lib` before usr/lib exists): keep it and make the
        // directory it names, as dpkg does with a merged-/usr base.
        const key = pathToKey(path).replace(/\/+$/, '');
        const t = bytesToKey(existing.target);
        const at = t.startsWith('/') ? t : `${key.slice(0, key.lastIndexOf('/') + 1)}${t}`;
        return this.mkdir(at, meta);
      }
    }
    const dir: DirNode = { kind: 'dir', meta: this.meta(this.defaults.dirMode, meta), entries: new Map() };
    this.place(loc, dir, path, opts.replace ?? true);
    return dir;
  }

  /** Write a regular file (replacing what is there); parent directories are created. */
  writeFile(path: PathLike, content: Uint8Array | string | FileContent, meta?: MetaInput, opts: { replace?: boolean } = {}): FileNode {
    const loc = this.locateForCreate(path, true);
    const c: FileContent =
      typeof content === 'string'
        ? new BytesContent(new TextEncoder().encode(content))
        : content instanceof Uint8Array
          ? new BytesContent(content)
          : content;
    const node: FileNode = { kind: 'file', meta: this.meta(this.defaults.fileMode, meta), content: c };
    this.place(loc, node, path, opts.replace ?? true);
    return node;
  }

  symlink(path: PathLike, target: string | Uint8Array, meta?: MetaInput, opts: { replace?: boolean } = {}): SymlinkNode {
    const display = displayPath(path);
    const t = typeof target === 'string' ? new TextEncoder().encode(target) : target;
    if (t.length === 0) throw new ExtimgError('EINVAL', `${display}: empty symlink target`, { path: display });
    if (t.includes(0)) throw new ExtimgError('EINVAL', `${display}: symlink target contains a NUL byte`, { path: display });
    const loc = this.locateForCreate(path, true);
    const node: SymlinkNode = { kind: 'symlink', meta: this.meta(0o777, meta), target: t };
    this.place(loc, node, path, opts.replace ?? true);
    return node;
  }

  /**
   * Fast path for ingesters that walk a source tree and hold the parent directory already: put
   * `node` under `parent` by name with the rules of the path-based methods (later wins,
   * directories merge, a symlink to a directory is kept when a directory arrives). `path` is the
   * full path, for messages and to follow such a symlink. Returns the node now under the name:
   * for a directory, the one to descend into.
   */
  addChild(parent: DirNode, name: string, node: Node, pathOf: PathLike | (() => PathLike)): Node {
    const path = (): PathLike => (typeof pathOf === 'function' ? pathOf() : pathOf);
    const existing = parent.entries.get(name);
    if (existing === undefined) {
      if (name.length === 0 || name.length > 255 || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
        checkName(name, displayPath(path()));
      }
      parent.entries.set(name, node);
      return node;
    }
    if (node.kind === 'dir') {
      if (existing.kind === 'dir') {
        existing.meta = node.meta;
        return existing;
      }
      if (existing.kind === 'symlink') return this.mkdir(path(), node.meta);
    }
    if (existing === node) return node;
    this.place({ parent, name, node: existing }, node, path(), true);
    return node;
  }

  /** Hard link: `path` becomes another name for the node at `existing` (not followed). */
  link(existing: PathLike, path: PathLike, opts: { replace?: boolean } = {}): Node {
    const srcDisplay = displayPath(existing);
    const node = this.get(existing, false);
    if (!node) throw new ExtimgError('ENOENT', `${srcDisplay}: hard link target does not exist`, { path: srcDisplay });
    if (node.kind === 'dir') {
      throw new ExtimgError('EISDIR', `${srcDisplay}: cannot hard link a directory`, { path: srcDisplay });
    }
    const loc = this.locateForCreate(path, true);
    if (loc.node === node) return node;
    this.place(loc, node, path, opts.replace ?? true);
    return node;
  }

  mknod(
    path: PathLike,
    kind: 'chr' | 'blk' | 'fifo' | 'socket',
    major = 0,
    minor = 0,
    meta?: MetaInput,
    opts: { replace?: boolean } = {},
  ): DeviceNode | SpecialNode {
    const display = displayPath(path);
    const loc = this.locateForCreate(path, true);
    let node: DeviceNode | SpecialNode;
    if (kind === 'chr' || kind === 'blk') {
      if (!Number.isInteger(major) || major < 0 || major > MAX_MAJOR || !Number.isInteger(minor) || minor < 0 || minor > MAX_MINOR) {
        throw new ExtimgError(
          'EINVAL',
          `${display}: device ${major}:${minor} out of range (major 0-${MAX_MAJOR}, minor 0-${MAX_MINOR})`,
          { path: display, major, minor },
        );
      }
      node = { kind, meta: this.meta(0o644, meta), major, minor };
    } else {
      node = { kind, meta: this.meta(0o644, meta) };
    }
    this.place(loc, node, path, opts.replace ?? true);
    return node;
  }

  /** chmod: permission bits only (0o7777); follows a final symlink unless `follow` is false. */
  chmod(path: PathLike, mode: number, follow = true): void {
    const node = this.mustGet(path, follow);
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
      throw new ExtimgError('EINVAL', `${displayPath(path)}: mode ${mode.toString(8)} out of range`, { mode });
    }
    node.meta.mode = mode;
  }

  chown(path: PathLike, uid: number | undefined, gid: number | undefined, follow = true): void {
    const node = this.mustGet(path, follow);
    if (uid !== undefined) node.meta.uid = checkId(uid, 'uid', path);
    if (gid !== undefined) node.meta.gid = checkId(gid, 'gid', path);
  }

  setTimes(path: PathLike, times: { atime?: Timestamp; mtime?: Timestamp; ctime?: Timestamp }, follow = true): void {
    const node = this.mustGet(path, follow);
    if (times.atime) node.meta.atime = { ...times.atime };
    if (times.mtime) node.meta.mtime = { ...times.mtime };
    if (times.ctime) node.meta.ctime = { ...times.ctime };
    checkMeta(node.meta);
  }

  setXattr(path: PathLike, name: string, value: Uint8Array, follow = true): void {
    this.mustGet(path, follow).meta.xattrs.set(name, value);
  }

  /** Remove a name; a non-empty directory only with `recursive`. Missing paths are an error. */
  remove(path: PathLike, opts: { recursive?: boolean; force?: boolean } = {}): void {
    const display = displayPath(path);
    const loc = this.locate(path, { follow: false, create: false });
    if (!loc || !loc.node) {
      if (opts.force) return;
      throw new ExtimgError('ENOENT', `${display}: no such file or directory`, { path: display });
    }
    if (loc.name === '') throw new ExtimgError('EINVAL', `${display}: cannot remove the root directory`, { path: display });
    if (loc.node.kind === 'dir' && loc.node.entries.size > 0 && !opts.recursive) {
      throw new ExtimgError('ENOTEMPTY', `${display}: directory not empty`, { path: display });
    }
    loc.parent.entries.delete(loc.name);
  }

  /**
   * rename(2): move the node at `from` to exactly `to`. A directory cannot move into itself;
   * an existing `to` is replaced if it is not a non-empty directory.
   */
  rename(from: PathLike, to: PathLike): void {
    const fromDisplay = displayPath(from);
    const toDisplay = displayPath(to);
    const src = this.locate(from, { follow: false, create: false });
    if (!src || !src.node) throw new ExtimgError('ENOENT', `${fromDisplay}: no such file or directory`, { path: fromDisplay });
    if (src.name === '') throw new ExtimgError('EINVAL', `${fromDisplay}: cannot move the root directory`, { path: fromDisplay });
    const node = src.node;
    const dst = this.locateForCreate(to, true);
    if (dst.node === node) return;
    if (node.kind === 'dir' && (dst.parent === node || this.isAncestor(node, dst.parent))) {
      throw new ExtimgError('EINVAL', `${fromDisplay}: cannot move a directory into itself (${toDisplay})`, {
        from: fromDisplay,
        to: toDisplay,
      });
    }
    if (dst.node?.kind === 'dir' && dst.node.entries.size > 0) {
      throw new ExtimgError('ENOTEMPTY', `${toDisplay}: directory not empty`, { path: toDisplay });
    }
    src.parent.entries.delete(src.name);
    dst.parent.entries.set(dst.name, node);
  }

  private isAncestor(dir: DirNode, candidate: DirNode): boolean {
    for (const child of dir.entries.values()) {
      if (child.kind !== 'dir') continue;
      if (child === candidate || this.isAncestor(child, candidate)) return true;
    }
    return false;
  }

  private mustGet(path: PathLike, follow: boolean): Node {
    const node = this.get(path, follow);
    if (!node) {
      const display = displayPath(path);
      throw new ExtimgError('ENOENT', `${display}: no such file or directory`, { path: display });
    }
    return node;
  }

  // ---- traversal --------------------------------------------------------------------------

  /**
   * Every node, depth first, parents before children, names in byte order. Paths are byte
   * strings without a leading '/'; the root itself is yielded first as ''.
   */
  *walk(): Generator<[path: string, node: Node, parent: DirNode | undefined]> {
    yield ['', this.root, undefined];
    const stack: Array<[string, DirNode]> = [['', this.root]];
    while (stack.length) {
      const [prefix, dir] = stack.pop()!;
      const names = [...dir.entries.keys()].sort(compareKeys);
      const subdirs: Array<[string, DirNode]> = [];
      for (const name of names) {
        const node = dir.entries.get(name)!;
        const path = prefix === '' ? name : `${prefix}/${name}`;
        yield [path, node, dir];
        if (node.kind === 'dir') subdirs.push([path, node]);
      }
      for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
    }
  }
}

/** Byte order of two byte strings (the same as comparing their UTF-16 units, all < 256). */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function findName(parent: DirNode, child: Node): string {
  for (const [name, node] of parent.entries) if (node === child) return name;
  return '';
}

function displayPath(path: PathLike): string {
  return typeof path === 'string' ? path : keyToDisplay(bytesToKey(path));
}

function metaOf(m: Metadata): MetaInput {
  return cloneMeta(m);
}

function checkId(id: number, what: string, path: PathLike): number {
  if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) {
    throw new ExtimgError('EINVAL', `${displayPath(path)}: ${what} ${id} out of range (0-4294967295)`, { [what]: id });
  }
  return id;
}

/** ext can store seconds in [-2^31, 2^34) with 256-byte inodes; reject what no inode can hold. */
export const MIN_TIME = -0x80000000;
export const MAX_TIME = 0x3ffffffff - 0x80000000;

function checkMeta(m: Metadata): void {
  if (!Number.isInteger(m.mode) || m.mode < 0 || m.mode > 0o7777) {
    throw new ExtimgError('EINVAL', `mode ${m.mode.toString(8)} out of range (0-7777)`, { mode: m.mode });
  }
  checkMetaId('uid', m.uid);
  checkMetaId('gid', m.gid);
  checkTime(m.atime);
  checkTime(m.mtime);
  checkTime(m.ctime);
}

function checkMetaId(what: 'uid' | 'gid', id: number): void {
  if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) {
    throw new ExtimgError('EINVAL', `${what} ${id} out of range (0-4294967295)`, { [what]: id });
  }
}

function checkTime(t: Timestamp): void {
  if (!Number.isInteger(t.sec) || !Number.isInteger(t.nsec) || t.nsec < 0 || t.nsec > 999_999_999) {
    throw new ExtimgError('EINVAL', `timestamp ${t.sec}.${t.nsec} is not valid`, { time: t });
  }
}
