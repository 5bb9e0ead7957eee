import * as fs from 'node:fs';
import { ExtimgError } from '../errors.js';

/**
 * Node adapter: a host directory as a sink for entries, written without ever following a
 * symlink below it. It is the writing twin of src/ingest/hostdir.ts (which reads host
 * directories) and lives in io/ because it is a sink and nothing more: it knows no archive
 * format, no initrd, no manifest and no policy. Callers (src/initrd/extract.ts) decide what each
 * entry becomes, what to refuse and what to tell the user; this file only does the host calls.
 *
 * Paths are components below the directory (`[]` is the directory itself), raw bytes, none of
 * them empty, '.' or '..' (the caller has checked). Parents are looked at with lstat
 * (checkParents), files are created with O_EXCL|O_NOFOLLOW and reopened with O_NOFOLLOW, and
 * ownership and times of symlinks are set with lchown/lutimes.
 */

export type HostPath = readonly Uint8Array[];

export interface HostEntry {
  type: 'dir' | 'file' | 'symlink' | 'other';
  ino: number;
}

/** Why a path's parents cannot take it: `depth` is how many components name the bad parent. */
export interface ParentProblem {
  problem: 'missing' | 'symlink' | 'not-dir';
  depth: number;
}

/** What src/initrd/extract.ts needs of a host directory (HostDirWriter; a fake in a test or browser). */
export interface HostDir {
  /** Running as root: chown is possible (and expected). */
  readonly canChown: boolean;
  lstat(path: HostPath): HostEntry | undefined;
  /** The inode number of `path` (lstat); throws when it is missing. */
  inode(path: HostPath): number;
  /** Each parent of `path` must be a real directory; missing ones are made (0755) when `create`. */
  checkParents(path: HostPath, create: boolean): ParentProblem | undefined;
  /** Remove whatever is at `path` (a directory with its contents), never following a symlink. */
  remove(path: HostPath): void;
  mkdir(path: HostPath, mode: number): void;
  link(existing: HostPath, path: HostPath): void;
  /** A new file (O_CREAT|O_EXCL|O_NOFOLLOW): `path` must not exist. */
  createFile(path: HostPath, mode: number): HostFile;
  /** An existing file, truncated (O_TRUNC|O_NOFOLLOW); a read-only mode (as non-root) is lifted. */
  openFile(path: HostPath): HostFile;
  symlink(path: HostPath, target: Uint8Array): void;
  /** Owner and times of a symlink itself (lchown, lutimes). */
  chownSymlink(path: HostPath, uid: number, gid: number): void;
  setSymlinkTimes(path: HostPath, mtime: number): void;
  /** chown (when `owner`), chmod, utimes, in that order (chown clears set-id bits). Follows a
   * symlink at `path`: for directories the caller has just checked with lstat. */
  setMeta(path: HostPath, mode: number, mtime: number, owner?: { uid: number; gid: number }): void;
}

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_TRUNC } = fs.constants;
const SLASH = Buffer.from('/');

function errCode(e: unknown): string {
  return (e as { code?: string }).code ?? 'error';
}

export class HostFile {
  constructor(private readonly fd: number) {}

  write(data: Uint8Array): void {
    let off = 0;
    while (off < data.length) off += fs.writeSync(this.fd, data, off, data.length - off);
  }

  /** Write at a position (what lies between writes stays a hole). */
  writeAt(position: number, data: Uint8Array): void {
    let off = 0;
    while (off < data.length) off += fs.writeSync(this.fd, data, off, data.length - off, position + off);
  }

  /** Set the file's length (a hole to the end when it grows). */
  setSize(bytes: number): void {
    fs.ftruncateSync(this.fd, bytes);
  }

  chown(uid: number, gid: number): void {
    fs.fchownSync(this.fd, uid, gid);
  }

  chmod(mode: number): void {
    fs.fchmodSync(this.fd, mode);
  }

  setTimes(mtime: number): void {
    fs.futimesSync(this.fd, mtime, mtime);
  }

  ino(): number {
    return fs.fstatSync(this.fd).ino;
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

export class HostDirWriter implements HostDir {
  private constructor(
    private readonly root: Buffer,
    readonly canChown: boolean,
  ) {}

  /** Create `dir` (with its parents) if missing; it must be a directory. */
  static open(dir: string): HostDirWriter {
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new ExtimgError('EIO', `${dir}: cannot create the directory (${errCode(e)})`, { path: dir });
    }
    if (!fs.statSync(dir).isDirectory()) throw new ExtimgError('ENOTDIR', `${dir}: not a directory`, { path: dir });
    const isRoot = typeof process.geteuid === 'function' && process.geteuid() === 0;
    return new HostDirWriter(Buffer.from(fs.realpathSync(dir)), isRoot);
  }

  private join(path: HostPath): Buffer {
    return Buffer.concat([this.root, ...path.flatMap((c) => [SLASH, c])]);
  }

  lstat(path: HostPath): HostEntry | undefined {
    const st = fs.lstatSync(this.join(path), { throwIfNoEntry: false });
    return st && entry(st);
  }

  inode(path: HostPath): number {
    return fs.lstatSync(this.join(path)).ino;
  }

  checkParents(path: HostPath, create: boolean): ParentProblem | undefined {
    for (let i = 0; i < path.length - 1; i++) {
      const p = this.join(path.slice(0, i + 1));
      const st = fs.lstatSync(p, { throwIfNoEntry: false });
      if (st === undefined) {
        if (!create) return { problem: 'missing', depth: i + 1 };
        fs.mkdirSync(p, 0o755);
      } else if (st.isSymbolicLink()) {
        return { problem: 'symlink', depth: i + 1 };
      } else if (!st.isDirectory()) {
        return { problem: 'not-dir', depth: i + 1 };
      }
    }
    return undefined;
  }

  remove(path: HostPath): void {
    const p = this.join(path);
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    if (st === undefined) return;
    if (st.isDirectory()) fs.rmSync(p, { recursive: true, force: true });
    else fs.unlinkSync(p);
  }

  mkdir(path: HostPath, mode: number): void {
    fs.mkdirSync(this.join(path), mode);
  }

  link(existing: HostPath, path: HostPath): void {
    fs.linkSync(this.join(existing), this.join(path));
  }

  createFile(path: HostPath, mode: number): HostFile {
    return new HostFile(fs.openSync(this.join(path), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode));
  }

  openFile(path: HostPath): HostFile {
    const p = this.join(path);
    const flags = O_WRONLY | O_TRUNC | O_NOFOLLOW;
    try {
      return new HostFile(fs.openSync(p, flags));
    } catch (e) {
      if (errCode(e) !== 'EACCES') throw e;
      fs.chmodSync(p, 0o600);
      return new HostFile(fs.openSync(p, flags));
    }
  }

  symlink(path: HostPath, target: Uint8Array): void {
    fs.symlinkSync(Buffer.from(target), this.join(path));
  }

  chownSymlink(path: HostPath, uid: number, gid: number): void {
    fs.lchownSync(this.join(path), uid, gid);
  }

  setSymlinkTimes(path: HostPath, mtime: number): void {
    fs.lutimesSync(this.join(path), mtime, mtime);
  }

  setMeta(path: HostPath, mode: number, mtime: number, owner?: { uid: number; gid: number }): void {
    const p = this.join(path);
    if (owner) fs.chownSync(p, owner.uid, owner.gid);
    fs.chmodSync(p, mode);
    fs.utimesSync(p, mtime, mtime);
  }
}

function entry(st: fs.Stats): HostEntry {
  const type = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : 'other';
  return { type, ino: st.ino };
}

/** Write `text` to `path` through a temp file beside it and a rename: readers never see half. */
export function replaceHostFile(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, path);
}
