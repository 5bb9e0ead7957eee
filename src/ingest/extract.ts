import { ExtimgError } from '../errors.js';
import type { FileContent } from '../tree/content.js';
import { EMPTY_CONTENT } from '../tree/content.js';
import { bytesToKey, keyToBytes, keyToDisplay, pathToKey } from '../tree/names.js';
import type { DirNode, Node, Timestamp } from '../tree/node.js';
import { MAX_TIME, MIN_TIME, type MetaInput, type Tree } from '../tree/tree.js';
import { show } from './bytes.js';
import type { ArchiveOptions } from './options.js';

/**
 * Archive entries into the tree, with the extraction semantics of GNU tar and dpkg
 * (DESIGN.md): later entries replace earlier ones, directories merge, a symlink to a directory
 * is kept when a directory of that name arrives, hard links name earlier entries, and nothing
 * lands outside `dest`.
 */

export type EntryKind = 'file' | 'dir' | 'symlink' | 'chr' | 'blk' | 'fifo' | 'socket';

export interface EntryMeta {
  /** Permission bits; file type bits are masked off. */
  mode: number;
  uid: number;
  gid: number;
  mtime: Timestamp;
  atime?: Timestamp;
  ctime?: Timestamp;
  xattrs?: Map<string, Uint8Array>;
}

export interface ArchiveEntry {
  /** The member's path as the archive stores it (raw bytes). */
  path: Uint8Array;
  kind: EntryKind;
  meta: EntryMeta;
  /** Regular files. */
  content?: FileContent;
  /** Symlinks: the target bytes. */
  target?: Uint8Array;
  major?: number;
  minor?: number;
  /** Byte offset of the entry's header in the (decompressed) archive, for messages. */
  offset: number;
}

/** Namespaces ext can store (kernel ext4_xattr_handler_map); tar skips others with a warning too. */
const XATTR_PREFIXES = ['user.', 'trusted.', 'security.', 'system.'];

export class Extractor {
  /** Archive-relative directory key (components joined by '/', '' for dest) -> its tree node. */
  private readonly dirs = new Map<string, DirNode>();
  /** Exclusion decisions by archive-relative key, so directories take their contents along. */
  private readonly excludeCache = new Map<string, boolean>();
  /** Nodes of excluded entries, so a hard link to one still gets its data. */
  private readonly excludedNodes = new Map<string, Node>();
  private readonly warned = new Set<string>();
  private readonly destKey: string;

  constructor(
    readonly tree: Tree,
    readonly opts: ArchiveOptions,
  ) {
    const parts = pathToKey(opts.dest ?? '/')
      .split('/')
      .filter((p) => p !== '' && p !== '.');
    this.destKey = parts.join('/');
    this.riskySymlinks = opts.riskySymlinks ?? new Set<Node>();
  }

  /** Entries other than the top directory, and how many of them reached the tree (not excluded). */
  readonly counts = { entries: 0, placed: 0 };

  /**
   * After the last entry: an archive that added nothing is said (nothing is dropped silently: a
   * file of zeros reads as an empty tar, and a typo in an exclude can leave nothing).
   */
  reportEmpty(what = 'no entries'): void {
    const { entries, placed } = this.counts;
    if (placed > 0) return;
    const why = entries === 0 ? what : `all ${entries} entr${entries === 1 ? 'y was' : 'ies were'} excluded`;
    this.opts.onWarning?.(`${this.opts.origin}: ${why}; it adds nothing`);
  }

  /**
   * Symlinks this archive made whose target is absolute or contains '..' (for an image's layers:
   * made by any layer of the image, the set is shared).
   */
  private readonly riskySymlinks: Set<Node>;

  warn(kind: string, message: string): void {
    if (this.warned.has(kind)) return;
    this.warned.add(kind);
    this.opts.onWarning?.(`${this.opts.origin}: ${message}`);
  }

  /**
   * A member name as GNU tar's safer_name_suffix sees it: leading '/' removed, '.' and empty
   * components dropped; '..' resolved lexically and clamped at the archive's root, so it never
   * leaves `dest`. Returns byte-string components.
   */
  normalize(raw: Uint8Array): string[] {
    const key = bytesToKey(raw);
    if (key.charCodeAt(0) === 0x2f) this.warn('leading-slash', "removing leading '/' from member names");
    const out: string[] = [];
    for (const part of key.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        this.warn('dotdot', `member names with '..' are resolved inside the image (first: '${show(raw)}')`);
        out.pop();
        continue;
      }
      out.push(part);
    }
    return out;
  }

  /** Put one entry into the tree. Returns the node built (also when excluded), or undefined if skipped. */
  add(e: ArchiveEntry): Node | undefined {
    return this.guard(e.path, e.offset, () => {
      const comps = this.normalize(e.path);
      const node = this.makeNode(e);
      if (comps.length === 0) {
        if (node.kind !== 'dir') {
          this.warn(`root-${e.offset}`, `skipped a ${node.kind} named '${show(e.path)}' (it would be the top directory)`);
          return undefined;
        }
        const top = this.tree.mkdir(this.destKey === '' ? '/' : keyToBytes(this.destKey), metaInput(node));
        this.dirs.set('', top);
        return top;
      }
      this.counts.entries++;
      if (this.isExcluded(comps)) {
        if (node.kind !== 'dir') this.excludedNodes.set(comps.join('/'), node);
        return node;
      }
      this.counts.placed++;
      return this.place(comps, node);
    });
  }

  /** A tar hard link: `path` becomes another name of the earlier member `target`. */
  link(path: Uint8Array, target: Uint8Array, offset: number): void {
    this.guard(path, offset, () => {
      const comps = this.normalize(path);
      if (comps.length === 0) {
        this.warn(`root-${offset}`, `skipped a hard link named '${show(path)}' (it would be the top directory)`);
        return;
      }
      this.counts.entries++;
      if (this.isExcluded(comps)) return;
      const targetComps = this.normalize(target);
      this.checkNotThroughOwnSymlink(targetComps.slice(0, -1));
      const targetKey = targetComps.join('/');
      const node = this.excludedNodes.get(targetKey) ?? (targetComps.length ? this.tree.get(this.treePath(targetComps), false) : undefined);
      if (node === undefined) {
        throw new ExtimgError('ENOENT', `hard link to '${show(target)}', which is not in the archive before it`, {
          target: show(target),
        });
      }
      if (node.kind === 'dir') {
        throw new ExtimgError('EISDIR', `hard link to '${show(target)}', which is a directory`, { target: show(target) });
      }
      this.counts.placed++;
      this.place(comps, node);
    });
  }

  /** Another name for a node built earlier from this archive (cpio hard links). */
  share(path: Uint8Array, node: Node, offset: number): void {
    this.guard(path, offset, () => {
      const comps = this.normalize(path);
      if (comps.length === 0) return;
      this.counts.entries++;
      if (this.isExcluded(comps)) return;
      this.counts.placed++;
      this.place(comps, node);
    });
  }

  /** The archive-relative key an entry lands under ('' for the top), for callers' bookkeeping. */
  keyOf(path: Uint8Array): string {
    const comps: string[] = [];
    for (const part of bytesToKey(path).split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') comps.pop();
      else comps.push(part);
    }
    return comps.join('/');
  }

  private place(comps: string[], node: Node): Node {
    const parent = this.parentDir(comps);
    if (node.kind === 'symlink' && leavesItsDirectory(node.target)) this.riskySymlinks.add(node);
    const name = comps[comps.length - 1]!;
    const before = parent.entries.get(name);
    // A layer's entry replaces what lower layers left there (a directory only merges with one).
    if (this.opts.layer && before !== undefined && before !== node && !(before.kind === 'dir' && node.kind === 'dir')) parent.entries.delete(name);
    const placed = this.tree.addChild(parent, name, node, () => this.treePath(comps));
    // A directory or symlink replaced: cached directories may hang below it.
    if (before !== undefined && parent.entries.get(name) !== before && (before.kind === 'dir' || before.kind === 'symlink')) {
      this.dirs.clear();
    }
    if (placed.kind === 'dir') this.dirs.set(comps.join('/'), placed);
    return placed;
  }

  /**
   * GNU tar's rule (it defers such links to the end of the extraction): a later member may not
   * go through a symlink this same archive made whose target is absolute or climbs with '..'.
   * That is how an archive would plant files outside `dest`; refuse it instead.
   */
  private checkNotThroughOwnSymlink(dirComps: string[]): void {
    if (this.riskySymlinks.size === 0) return;
    for (let i = 1; i <= dirComps.length; i++) {
      const rel = dirComps.slice(0, i).join('/');
      const path = this.destKey === '' ? rel : `${this.destKey}/${rel}`;
      const node = this.tree.get(keyToBytes(path), false);
      if (node?.kind === 'symlink' && this.riskySymlinks.has(node)) {
        throw new ExtimgError(
          'EINVAL',
          `goes through '${keyToDisplay(rel)}', a symlink to '${keyToDisplay(bytesToKey(node.target))}' made by ${this.opts.layer ? 'a layer of this image' : 'this archive'} (refused, as GNU tar does: it could lead outside the target directory)`,
          { through: keyToDisplay(rel) },
        );
      }
      if (node === undefined || node.kind !== 'dir') return;
    }
  }

  /** The directory that holds the last component; missing ones are made (mkdir -p), symlinks followed. */
  private parentDir(comps: string[]): DirNode {
    const key = comps.length === 1 ? '' : comps.slice(0, -1).join('/');
    const cached = this.dirs.get(key);
    if (cached) return cached;
    this.checkNotThroughOwnSymlink(comps.slice(0, -1));
    const path = key === '' ? this.destKey : this.destKey === '' ? key : `${this.destKey}/${key}`;
    const bytes = path === '' ? '/' : keyToBytes(path);
    const existing = path === '' ? undefined : this.tree.get(bytes, false);
    if (existing?.kind === 'symlink') {
      const followed = this.tree.get(bytes, true);
      if (followed === undefined) {
        // A dangling symlink: make the directory it names (chroot semantics keep it inside), so
        // a `lib -> usr/lib` that arrives before usr/lib keeps the merged-/usr layout.
        const target = bytesToKey(existing.target);
        const slash = path.lastIndexOf('/');
        const at = target.startsWith('/') ? target : slash < 0 ? target : `${path.slice(0, slash)}/${target}`;
        this.tree.mkdir(keyToBytes(at));
      } else if (followed.kind !== 'dir') {
        this.warn(`replace-symlink-${key}`, `'${keyToDisplay(key)}' is a symlink to something that is no directory; it is replaced by one`);
      }
    }
    const dir = this.tree.mkdir(bytes);
    this.dirs.set(key, dir);
    return dir;
  }

  private treePath(comps: string[]): Uint8Array {
    const rel = comps.join('/');
    return keyToBytes(this.destKey === '' ? rel : `${this.destKey}/${rel}`);
  }

  private isExcluded(comps: string[]): boolean {
    const exclude = this.opts.exclude;
    if (!exclude) return false;
    let key = '';
    for (let i = 0; i < comps.length; i++) {
      key = i === 0 ? comps[0]! : `${key}/${comps[i]}`;
      let v = this.excludeCache.get(key);
      if (v === undefined) {
        v = exclude(keyToDisplay(key));
        this.excludeCache.set(key, v);
      }
      if (v) return true;
    }
    return false;
  }

  private makeNode(e: ArchiveEntry): Node {
    const m = e.meta;
    const input: MetaInput = {
      mode: m.mode & 0o7777,
      uid: this.opts.owner ? this.opts.owner.uid : m.uid,
      gid: this.opts.owner ? this.opts.owner.gid : m.gid,
      mtime: this.clampTime(m.mtime, e.path),
    };
    if (m.atime) input.atime = this.clampTime(m.atime, e.path);
    if (m.ctime) input.ctime = this.clampTime(m.ctime, e.path);
    if (m.xattrs && m.xattrs.size) {
      const x = new Map<string, Uint8Array>();
      for (const [name, value] of m.xattrs) {
        if (XATTR_PREFIXES.some((p) => name.startsWith(p))) x.set(name, value);
        else this.warn(`xattr-${name}`, `skipped extended attribute '${name}' of '${show(e.path)}': ext has no such namespace`);
      }
      input.xattrs = x;
    }
    const tree = this.tree;
    switch (e.kind) {
      case 'dir':
        return { kind: 'dir', meta: tree.meta(0o755, input), entries: new Map() };
      case 'file':
        return { kind: 'file', meta: tree.meta(0o644, input), content: e.content ?? EMPTY_CONTENT };
      case 'symlink': {
        const t = e.target ?? new Uint8Array(0);
        if (t.length === 0) throw new ExtimgError('EINVAL', 'symlink with an empty target');
        if (t.includes(0)) throw new ExtimgError('EINVAL', 'symlink target contains a NUL byte');
        return { kind: 'symlink', meta: tree.meta(0o777, input), target: t };
      }
      case 'chr':
      case 'blk': {
        const major = e.major ?? 0;
        const minor = e.minor ?? 0;
        if (!Number.isInteger(major) || !Number.isInteger(minor) || major < 0 || minor < 0 || major > 0xfff || minor > 0xfffff) {
          throw new ExtimgError('EINVAL', `device ${major}:${minor} out of range (major 0-4095, minor 0-1048575)`, { major, minor });
        }
        return { kind: e.kind, meta: tree.meta(0o644, input), major, minor };
      }
      case 'fifo':
      case 'socket':
        return { kind: e.kind, meta: tree.meta(0o644, input) };
    }
  }

  private clampTime(t: Timestamp, path: Uint8Array): Timestamp {
    if (t.sec >= MIN_TIME && t.sec <= MAX_TIME) return t;
    this.warn('time-range', `times outside what ext can store were clamped (first: '${show(path)}', ${t.sec} s)`);
    return t.sec < MIN_TIME ? { sec: MIN_TIME, nsec: 0 } : { sec: MAX_TIME, nsec: 0 };
  }

  /** Tree errors name the image path; prefix the archive and the entry so the user knows where. */
  private guard<T>(path: Uint8Array, offset: number, f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (!(e instanceof ExtimgError)) throw e;
      const entry = show(path);
      // Tree errors start with the image path: enough when it is the entry's own name.
      const treePath = typeof e.data.path === 'string' ? e.data.path : undefined;
      const same = treePath !== undefined && trimDots(treePath) === trimDots(entry) && e.message.startsWith(`${treePath}:`);
      const msg = same ? e.message : `${entry}: ${e.message}`;
      throw new ExtimgError(e.code, `${this.opts.origin}: ${msg}`, { ...e.data, archive: this.opts.origin, entry, offset });
    }
  }
}

function metaInput(node: Node): MetaInput {
  const m = node.meta;
  return { mode: m.mode, uid: m.uid, gid: m.gid, atime: m.atime, mtime: m.mtime, ctime: m.ctime, xattrs: m.xattrs };
}

function trimDots(p: string): string {
  return p.replace(/^(?:\.?\/)+/, '');
}

/** An absolute target, or one with a '..' component: may lead out of the directory it sits in. */
function leavesItsDirectory(target: Uint8Array): boolean {
  const t = bytesToKey(target);
  return t.startsWith('/') || t.split('/').includes('..');
}
