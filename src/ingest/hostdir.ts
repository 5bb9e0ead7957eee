import * as fs from 'node:fs';
import { ExtimgError } from '../errors.js';
import { fsError } from '../io/fs-error.js';
import { hostXattrReader } from '../io/host-xattrs.js';
import type { ContentReader, FileContent } from '../tree/content.js';
import type { MetaInput, Tree } from '../tree/tree.js';
import type { DirNode, Node, Timestamp } from '../tree/node.js';

export interface HostDirectoryOptions {
  /** Where the host directory lands in the tree (created if missing, merged if present). Default '/'. */
  dest?: string | Uint8Array;
  /** Give every node this owner instead of the host's (like `mke2fs -d` run under fakeroot). */
  owner?: { uid: number; gid: number };
  /** Called for entries that are skipped (unknown file types). */
  onWarning?: (message: string) => void;
  /**
   * Leave out entries whose path relative to `hostDir` ('etc/passwd', no leading slash) matches;
   * an excluded directory is not descended into (tar --exclude).
   */
  exclude?: (relativePath: string) => boolean;
  /**
   * Stay on the top directory's filesystem (tar, cp and rsync `-x`): a directory on another
   * filesystem (a mount point) is copied as an empty directory and not read below.
   */
  oneFileSystem?: boolean;
  /**
   * Copy extended attributes (security.*, trusted.*, user.*, POSIX ACLs), as `mke2fs -d` does.
   * Default true; where the optional @napi-rs/xattr module cannot load, a warning says once
   * that none were read.
   */
  xattrs?: boolean;
}

const SLASH = Buffer.from('/');

/**
 * Copy a host directory into the tree, as `mke2fs -d` does: every node kind, lstat only (symlinks
 * are never followed below the top), names and symlink targets as raw bytes, nanosecond times,
 * hard links kept. File bytes are not read here; the writer reads them later through
 * HostFileContent.
 */
export function addHostDirectory(tree: Tree, hostDir: string, options: HostDirectoryOptions = {}): void {
  const owner = options.owner;
  // The top may be a symlink to a directory (like `tar -C`); everything below uses lstat.
  let top: fs.BigIntStats;
  try {
    top = fs.statSync(hostDir, { bigint: true });
  } catch (e) {
    throw hostError(hostDir, e);
  }
  if (!top.isDirectory()) {
    throw new ExtimgError('ENOTDIR', `${hostDir}: not a directory`, { path: hostDir });
  }

  const destBytes = trimSlashes(typeof options.dest === 'string' ? Buffer.from(options.dest) : Buffer.from(options.dest ?? '/'));
  const xattrs = options.xattrs === false ? undefined : new XattrCopier(options.onWarning);
  const topMeta = metaFromStat(top, owner);
  const topXattrs = xattrs?.read(hostDir);
  if (topXattrs?.size) topMeta.xattrs = topXattrs;
  const topDir = inTree(hostDir, () => tree.mkdir(destBytes.length ? destBytes : '/', topMeta));

  // (dev, ino) of multiply linked non-directories -> the node of the first name.
  const links = new Map<string, Node>();

  // Depth first, parents before children, names in byte order (stable output whatever the
  // host filesystem's readdir order is). An explicit stack: host trees can be deep. Each level
  // keeps its tree directory, so no path is resolved again from the root.
  const stack: Array<{ host: HostPath; dest: Buffer; dir: DirNode; rel: string }> = [
    { host: trimTrailingSlashesText(hostDir), dest: destBytes, dir: topDir, rel: '' },
  ];
  const exclude = options.exclude;
  let seen = 0;
  let placedCount = 0;
  const mountPoints: string[] = [];
  while (stack.length) {
    const dir = stack.pop()!;
    // Names read as latin1 are the tree's byte-string keys (one char per byte, any bytes kept),
    // and the default sort orders them by byte: no Buffer per name, no comparator calls.
    let keys: string[];
    try {
      keys = fs.readdirSync(dir.host, { encoding: 'latin1' });
    } catch (e) {
      throw hostError(dir.host, e);
    }
    keys.sort();
    const subdirs: Array<{ host: HostPath; dest: Buffer; dir: DirNode; rel: string }> = [];
    for (const key of keys) {
      seen++;
      const rel = exclude ? (dir.rel ? `${dir.rel}/${utf8Of(key)}` : utf8Of(key)) : '';
      if (exclude && exclude(rel)) continue;
      placedCount++;
      const host = childPath(dir.host, key);
      const dest = (): Buffer => Buffer.concat([dir.dest, SLASH, Buffer.from(key, 'latin1')]);
      let st: fs.BigIntStats;
      try {
        st = fs.lstatSync(host, { bigint: true });
      } catch (e) {
        throw hostError(host, e);
      }
      const meta = metaFromStat(st, owner);

      let linkKey: string | undefined;
      if (!st.isDirectory() && st.nlink > 1n) {
        linkKey = `${st.dev}:${st.ino}`;
        const first = links.get(linkKey);
        if (first) {
          try {
            tree.addChild(dir.dir, key, first, dest);
          } catch (e) {
            throw inTreeError(host, e);
          }
          continue;
        }
      }

      let node: Node;
      if (st.isDirectory()) {
        node = { kind: 'dir', meta: tree.meta(0o755, meta), entries: new Map() };
      } else if (st.isFile()) {
        const content = new HostFileContent(host, Number(st.size), st.blocks * 512n < st.size);
        node = { kind: 'file', meta: tree.meta(0o644, meta), content };
      } else if (st.isSymbolicLink()) {
        let target: Buffer;
        try {
          target = fs.readlinkSync(host, { encoding: 'buffer' });
        } catch (e) {
          throw hostError(host, e);
        }
        node = { kind: 'symlink', meta: tree.meta(0o777, meta), target: new Uint8Array(target) };
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const { major, minor } = decodeDev(st.rdev);
        node = { kind: st.isCharacterDevice() ? 'chr' : 'blk', meta: tree.meta(0o644, meta), major, minor };
      } else if (st.isFIFO()) {
        node = { kind: 'fifo', meta: tree.meta(0o644, meta) };
      } else if (st.isSocket()) {
        node = { kind: 'socket', meta: tree.meta(0o644, meta) };
      } else {
        options.onWarning?.(`${display(host)}: skipped: unknown file type (mode ${(Number(st.mode) >>> 12).toString(8)}xxxx)`);
        continue;
      }
      if (xattrs) {
        const x = xattrs.read(host);
        if (x.size) node.meta.xattrs = x;
      }
      let placed: Node;
      try {
        placed = tree.addChild(dir.dir, key, node, dest);
      } catch (e) {
        throw inTreeError(host, e);
      }
      if (placed.kind === 'dir') {
        if (options.oneFileSystem && st.dev !== top.dev) mountPoints.push(display(host));
        else subdirs.push({ host, dest: dest(), dir: placed, rel });
      }
      if (linkKey !== undefined) links.set(linkKey, node);
    }
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
  }
  if (mountPoints.length) {
    const shown = mountPoints.slice(0, 5).join(', ') + (mountPoints.length > 5 ? `, … (${mountPoints.length} in all)` : '');
    options.onWarning?.(`${hostDir}: --one-file-system: ${mountPoints.length === 1 ? 'a mount point' : `${mountPoints.length} mount points`} copied as ${mountPoints.length === 1 ? 'an empty directory' : 'empty directories'}: ${shown}`);
  }
  xattrs?.report(hostDir);
  if (placedCount === 0) {
    const why = seen === 0 ? 'an empty directory' : `all ${seen} entr${seen === 1 ? 'y was' : 'ies were'} excluded`;
    options.onWarning?.(`${hostDir}: ${why}; it adds nothing`);
  }
}

/**
 * A host file read at positions when the writer asks, so a multi-GiB tree costs no memory.
 * `size` is the lstat size at ingest time; a file that shrinks before the build is an error.
 */
export class HostFileContent implements FileContent {
  readonly sparse?: boolean;

  constructor(
    readonly path: string | Buffer,
    readonly size: number,
    sparse = false,
  ) {
    if (sparse) this.sparse = true;
  }

  /** The path for messages: decoded only when one is written (not for every file of a tree). */
  get origin(): string {
    return display(this.path);
  }

  open(): ContentReader {
    let fd: number;
    try {
      fd = fs.openSync(this.path, 'r');
    } catch (e) {
      throw hostError(this.path, e);
    }
    return new HostFileReader(this.path, fd);
  }
}

/** An open host file (a class, not a closure pair: one small object per file read). */
class HostFileReader implements ContentReader {
  constructor(
    private readonly path: string | Buffer,
    private fd: number | undefined,
  ) {}

  read(position: number, into: Uint8Array): void {
    const fd = this.fd;
    if (fd === undefined) throw new ExtimgError('EIO', `${display(this.path)}: read after close`, { path: display(this.path) });
    let done = 0;
    while (done < into.length) {
      let n: number;
      try {
        n = fs.readSync(fd, into, done, into.length - done, position + done);
      } catch (e) {
        throw hostError(this.path, e);
      }
      if (n === 0) {
        const origin = display(this.path);
        throw new ExtimgError('EIO', `${origin}: file shrank while building (read ${position + done} bytes of ${position + into.length})`, {
          path: origin,
        });
      }
      done += n;
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    const f = this.fd;
    this.fd = undefined;
    fs.closeSync(f);
  }
}

/**
 * Device numbers from a Linux dev_t, as glibc's gnu_dev_major/gnu_dev_minor
 * (bits/sysmacros.h): major = bits 8-19 and 44-63, minor = bits 0-7 and 20-43.
 */
export function decodeDev(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev & 0xfff00n) >> 8n) | ((rdev & 0xfffff00000000000n) >> 32n);
  const minor = (rdev & 0xffn) | ((rdev & 0xffffff00000n) >> 12n);
  return { major: Number(major), minor: Number(minor) };
}

function metaFromStat(st: fs.BigIntStats, owner: HostDirectoryOptions['owner']): MetaInput {
  return {
    mode: Number(st.mode & 0o7777n),
    uid: owner ? owner.uid : Number(st.uid),
    gid: owner ? owner.gid : Number(st.gid),
    atime: fromNs(st.atimeNs),
    mtime: fromNs(st.mtimeNs),
    ctime: fromNs(st.ctimeNs),
  };
}

/** Nanoseconds since the epoch to {sec, nsec} with nsec in [0, 1e9), also before 1970. */
function fromNs(ns: bigint): Timestamp {
  let sec = ns / 1_000_000_000n;
  let nsec = ns % 1_000_000_000n;
  if (nsec < 0n) {
    nsec += 1_000_000_000n;
    sec -= 1n;
  }
  return { sec: Number(sec), nsec: Number(nsec) };
}

/** Namespaces ext stores (the kernel's ext4 xattr handlers): others are said and left out. */
function storable(name: string): boolean {
  return name.startsWith('user.') || name.startsWith('trusted.') || name.startsWith('security.') || name === 'system.posix_acl_access' || name === 'system.posix_acl_default';
}

/** Callers already told that host xattrs cannot be read (one warning per build, not per input). */
const toldUnavailable = new WeakSet<(message: string) => void>();

/**
 * Reads each entry's extended attributes, and afterwards says what it could not: the module
 * missing (once), paths the module cannot take (not UTF-8), read errors, namespaces ext lacks.
 */
class XattrCopier {
  private readonly reader = hostXattrReader();
  private readonly failed: string[] = [];
  private readonly skippedNames = new Map<string, string>();

  constructor(private readonly onWarning: ((message: string) => void) | undefined) {
    if (!this.reader.ok && onWarning && !toldUnavailable.has(onWarning)) {
      toldUnavailable.add(onWarning);
      onWarning(`host extended attributes (security.capability, ACLs, SELinux labels) were not read: ${this.reader.why}`);
    }
  }

  read(path: HostPath): Map<string, Uint8Array> {
    const none = new Map<string, Uint8Array>();
    if (!this.reader.ok) return none;
    // The module takes paths as strings: raw bytes only when they are UTF-8.
    let p: string;
    if (typeof path === 'string') p = path;
    else {
      p = path.toString('utf8');
      if (!Buffer.from(p, 'utf8').equals(path)) {
        this.failed.push(`${display(path)} (the path is not UTF-8)`);
        return none;
      }
    }
    let all: Map<string, Uint8Array>;
    try {
      all = this.reader.read(p);
    } catch (e) {
      this.failed.push(`${p} (${(e as { code?: string }).code ?? 'error'})`);
      return none;
    }
    for (const name of all.keys()) {
      if (!storable(name)) {
        if (!this.skippedNames.has(name)) this.skippedNames.set(name, p);
        all.delete(name);
      }
    }
    return all;
  }

  report(hostDir: string): void {
    if (!this.onWarning) return;
    if (this.failed.length) {
      const shown = this.failed.slice(0, 3).join(', ') + (this.failed.length > 3 ? `, … (${this.failed.length} in all)` : '');
      this.onWarning(`${hostDir}: extended attributes not read for ${this.failed.length === 1 ? 'one entry' : `${this.failed.length} entries`}: ${shown}`);
    }
    for (const [name, first] of this.skippedNames) {
      this.onWarning(`${hostDir}: extended attribute '${name}' left out (ext stores user., trusted., security. and POSIX ACLs; first on ${first})`);
    }
  }
}

/**
 * A host path: a string while every name on the way is ASCII (the same bytes either way; Node
 * takes it without a Buffer per entry), else the raw bytes.
 */
type HostPath = string | Buffer;

/** `dir` + '/' + the name whose bytes are the chars of `key`. */
function childPath(dir: HostPath, key: string): HostPath {
  if (typeof dir === 'string' && isAscii(key)) return dir.length > 0 && dir[dir.length - 1] === '/' ? dir + key : `${dir}/${key}`;
  const base = typeof dir === 'string' ? Buffer.from(dir) : dir;
  const prefix = base[base.length - 1] === 0x2f ? base.length : base.length + 1;
  const out = Buffer.allocUnsafe(prefix + key.length);
  base.copy(out, 0);
  out[prefix - 1] = 0x2f;
  out.write(key, prefix, 'latin1');
  return out;
}

function isAscii(key: string): boolean {
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) > 0x7f) return false;
  return true;
}

function trimTrailingSlashesText(p: string): string {
  let end = p.length;
  while (end > 1 && p[end - 1] === '/') end--;
  return p.slice(0, end);
}

function trimSlashes(b: Buffer): Buffer {
  let start = 0;
  while (start < b.length && b[start] === 0x2f) start++;
  return trimTrailingSlashes(b.subarray(start));
}

function trimTrailingSlashes(b: Buffer): Buffer {
  let end = b.length;
  while (end > 1 && b[end - 1] === 0x2f) end--;
  return b.subarray(0, end);
}

/** A byte-string key's bytes decoded as UTF-8 (exclude patterns match text). */
function utf8Of(key: string): string {
  return Buffer.from(key, 'latin1').toString('utf8');
}

function display(path: string | Buffer): string {
  return typeof path === 'string' ? path : path.toString('utf8');
}

/** Tree errors name the image path; prefix the host path so the user knows which input it was. */
function inTree<T>(host: string | Buffer, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw inTreeError(host, e);
  }
}

function inTreeError(host: string | Buffer, e: unknown): unknown {
  if (!(e instanceof ExtimgError)) return e;
  const p = display(host);
  return new ExtimgError(e.code, `${p}: ${e.message}`, { ...e.data, hostPath: p });
}

function hostError(path: string | Buffer, e: unknown): ExtimgError {
  return fsError(display(path), e);
}
