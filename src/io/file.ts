import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { ExtimgError } from '../errors.js';
import { fsError } from './fs-error.js';
import type { ImageSink } from './sink.js';
import { WriteBehind } from './write-behind.js';
import { writeAll } from './write-ring.js';

export interface FileSinkOptions {
  /** fsync the image and its directory before the rename (slower; survives a power cut). */
  fsync?: boolean;
  /**
   * Write on a helper thread while the caller goes on (write-behind.ts). 'auto': only for
   * images of 1 GiB and more (setSize), where the kernel's copying is long enough to be worth a
   * thread (2 GiB tree: 1.5 s -> 1.3 s; a 263 MiB image: no gain, the thread's start-up
   * costs more). Default false here; buildToFile and buildToFileAsync use 'auto' on more than
   * one core.
   */
  background?: boolean | 'auto';
}

/** Image size from which background: 'auto' writes on a helper thread. */
export const BACKGROUND_MIN_BYTES = 1 << 30;

/**
 * Writes the image to a temp file beside the target (`.<name>.<pid>.<random>.tmp`, same
 * filesystem so the rename is atomic) and renames it into place on commit(). The temp is
 * ftruncate()d to the image size, so blocks never written stay holes.
 */
export class FileSink implements ImageSink {
  readonly path: string;
  readonly tempPath: string;
  private fd: number | undefined;
  private state: 'open' | 'committed' | 'aborted' = 'open';
  private readonly fsync: boolean;
  private behind: WriteBehind | undefined;
  private readonly background: boolean | 'auto';

  constructor(path: string, options: FileSinkOptions = {}) {
    this.path = path;
    this.fsync = options.fsync ?? false;
    const dir = nodePath.dirname(path);
    this.tempPath = nodePath.join(dir, `.${nodePath.basename(path)}.${process.pid}.${randomHex(4)}.tmp`);
    try {
      // 'wx': never clobber something that happens to have the temp's name.
      this.fd = fs.openSync(this.tempPath, 'wx', 0o666);
    } catch (e) {
      throw fileError(path, 'cannot create the output', e);
    }
    this.background = options.background ?? false;
    if (this.background === true) this.behind = WriteBehind.start(this.fd);
  }

  setSize(bytes: number): void {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`bad image size ${bytes}`);
    try {
      fs.ftruncateSync(this.openFd(), bytes);
    } catch (e) {
      throw fileError(this.path, `cannot make a ${bytes}-byte file`, e);
    }
    if (this.background === 'auto' && bytes >= BACKGROUND_MIN_BYTES && !this.behind) this.behind = WriteBehind.start(this.openFd());
  }

  write(offset: number, data: Uint8Array): void {
    const fd = this.openFd();
    try {
      if (this.behind) this.behind.write(offset, data);
      else writeAll(fd, data, offset);
    } catch (e) {
      throw fileError(this.path, 'write failed', e);
    }
  }

  /** Close and rename into place. On failure the temp is removed and the target left as it was. */
  commit(): void {
    const fd = this.openFd();
    try {
      this.behind?.close(true);
    } catch (e) {
      this.abort();
      throw fileError(this.path, 'write failed', e);
    }
    this.behind = undefined;
    try {
      if (this.fsync) fs.fsyncSync(fd);
      this.fd = undefined;
      fs.closeSync(fd);
      fs.renameSync(this.tempPath, this.path);
      this.state = 'committed';
    } catch (e) {
      this.abort();
      throw fileError(this.path, 'cannot finish the output', e);
    }
    if (this.fsync) syncDir(nodePath.dirname(this.path));
  }

  /** Close and delete the temp; idempotent and never throws, so it is safe in any catch. */
  abort(): void {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    // The helper thread stops before the fd it writes to is closed.
    try {
      this.behind?.close(false);
    } catch {
      // Failing already.
    }
    this.behind = undefined;
    if (this.fd !== undefined) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // Already failing; the unlink below matters more.
      }
      this.fd = undefined;
    }
    try {
      fs.unlinkSync(this.tempPath);
    } catch {
      // Nothing more can be done; the name says what it is.
    }
  }

  private openFd(): number {
    if (this.state !== 'open' || this.fd === undefined) throw new Error(`FileSink for ${this.path} is ${this.state === 'open' ? 'closed' : this.state}`);
    return this.fd;
  }
}

/**
 * Run `build` against a FileSink for `path`: commit on success, abort on any error, so neither a
 * partial image nor the temp survives a failure (an existing `path` is left untouched).
 */
export function withFileSink<T>(path: string, build: (sink: FileSink) => T, options: FileSinkOptions = {}): T {
  checkTarget(path);
  const sink = new FileSink(path, options);
  try {
    const result = build(sink);
    sink.commit();
    return result;
  } catch (e) {
    sink.abort();
    throw e;
  }
}

/** Fail before building when the target cannot be a file (rename would fail only at the end). */
/** Refuse an output path that cannot take the image (a directory, a device, a missing parent). */
export function checkTarget(path: string): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fileError(path, 'cannot use as output', e);
  }
  if (st?.isDirectory()) throw new ExtimgError('EISDIR', `${path}: is a directory`, { path });
  if (st && !st.isFile()) {
    // A block device would need in-place writes, not a rename over it.
    throw new ExtimgError('EINVAL', `${path}: output exists and is not a regular file`, { path });
  }
  const dir = nodePath.dirname(path);
  let dirSt: fs.Stats;
  try {
    dirSt = fs.statSync(dir);
  } catch (e) {
    throw fileError(path, 'output directory is not usable', e);
  }
  if (!dirSt.isDirectory()) throw new ExtimgError('ENOTDIR', `${path}: ${dir} is not a directory`, { path });
}

function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on a directory; the image itself is already synced.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * `bytes` random bytes as hex, from Web Crypto (what the UUIDs use too): importing node:crypto
 * only for this cost ~2.5 ms of every build's start-up.
 */
function randomHex(bytes: number): string {
  const b = globalThis.crypto.getRandomValues(new Uint8Array(bytes));
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

function fileError(path: string, what: string, e: unknown): ExtimgError {
  return fsError(path, e, what);
}
