import * as fs from 'node:fs';
import { ExtimgError } from '../errors.js';

/**
 * Node adapter: an archive in a file (an input, or a spool file the decompressor wrote) read by
 * position. Header reads go through a small read-ahead window (a tar's headers come one after
 * another, 512 bytes each); content reads go straight to pread. The descriptor stays open while
 * the tree refers to it: close() when the build is done (closeAll() for every source opened).
 */
export class FileSource {
  /**
   * One read-ahead window for all sources: archives are parsed one at a time, and a window per
   * source (a build may hold hundreds: inputs and spools) would stay resident until the end.
   */
  private static window: { owner: FileSource; at: number; buf: Uint8Array } | undefined;
  private static readonly open = new Set<FileSource>();

  constructor(
    readonly fd: number,
    readonly size: number,
    /** The file as messages name it. */
    readonly origin: string,
    /** close() closes the descriptor (false: a view of a descriptor someone else closes, as a part of a shared spool file). */
    private readonly ownsFd = true,
  ) {
    FileSource.open.add(this);
  }

  /** Open a file for reading as a source. */
  static openFile(path: string): FileSource {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (e) {
      throw new ExtimgError('EIO', `${path}: cannot open (${(e as { code?: string }).code ?? 'error'})`, { path });
    }
    return new FileSource(fd, fs.fstatSync(fd).size, path);
  }

  /**
   * A regular file as a source, or undefined when there is none at `path` (or it is a directory).
   * `keep` receives the source (to close it with the others).
   */
  static openIfExists(path: string, keep: (s: FileSource) => FileSource): FileSource | undefined {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw new ExtimgError('EIO', `${path}: cannot open (${code ?? 'error'})`, { path });
    }
    const st = fs.fstatSync(fd);
    if (!st.isFile()) {
      fs.closeSync(fd);
      return undefined;
    }
    return keep(new FileSource(fd, st.size, path));
  }

  bytes(offset: number, length: number): Uint8Array {
    const n = Math.max(0, Math.min(length, this.size - offset));
    if (n === 0) return new Uint8Array(0);
    const win = FileSource.window;
    if (win && win.owner === this && offset >= win.at && offset + n <= win.at + win.buf.length) {
      return win.buf.slice(offset - win.at, offset - win.at + n);
    }
    if (n >= WINDOW) {
      const out = new Uint8Array(n);
      this.read(offset, out);
      return out;
    }
    const buf = win && win.buf.length === WINDOW ? win.buf : new Uint8Array(WINDOW);
    const filled = Math.min(WINDOW, this.size - offset);
    this.read(offset, buf.subarray(0, filled));
    FileSource.window = { owner: this, at: offset, buf: filled === WINDOW ? buf : buf.subarray(0, filled) };
    return buf.slice(0, n);
  }

  read(position: number, into: Uint8Array): void {
    if (position < 0 || position + into.length > this.size) throw new RangeError('read past the end of the archive');
    let done = 0;
    while (done < into.length) {
      let n: number;
      try {
        n = fs.readSync(this.fd, into, done, into.length - done, position + done);
      } catch (e) {
        throw new ExtimgError('EIO', `${this.origin}: read failed at offset ${position + done} (${(e as { code?: string }).code ?? 'error'})`, { path: this.origin });
      }
      if (n === 0) throw new ExtimgError('EIO', `${this.origin}: file shrank while reading (offset ${position + done} of ${this.size})`, { path: this.origin });
      done += n;
    }
  }

  firstNonZero(from: number, end = this.size): number {
    const stop = Math.min(end, this.size);
    const chunk = new Uint8Array(Math.min(1 << 20, Math.max(0, stop - from)));
    for (let at = from; at < stop; at += chunk.length) {
      const part = chunk.subarray(0, Math.min(chunk.length, stop - at));
      this.read(at, part);
      for (let i = 0; i < part.length; i++) if (part[i] !== 0) return at + i;
    }
    return -1;
  }

  close(): void {
    if (FileSource.window?.owner === this) FileSource.window = undefined;
    if (!FileSource.open.delete(this) || !this.ownsFd) return;
    try {
      fs.closeSync(this.fd);
    } catch {
      // Already closed: nothing to do.
    }
  }

  /** Close every source still open (the end of a build, or of a test). */
  static closeAll(): void {
    for (const s of [...FileSource.open]) s.close();
  }
}

const WINDOW = 256 << 10;
