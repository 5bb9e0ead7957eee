import * as fs from 'node:fs';
import { ExtimgError } from '../errors.js';
import { ExtImage, fileKind, type Inode } from '../ext/read/image.js';
import { manifestPathFor, type ManifestRecord } from '../initrd/extract.js';
import { escapeName, typeLetter } from '../initrd/list.js';
import { HostDirWriter, replaceHostFile, type HostDir, type HostFile, type HostPath, type ParentProblem } from '../io/host-dir-writer.js';
import { DirectoryWalkGuard, entryInode, joinPath, sortedEntries, type Resolved } from './image-path.js';

/**
 * `extimg image extract IMAGE DIR [PATH]`: an image's tree (or the subtree at PATH) into a host
 * directory as an ordinary user can, by the rules of `initrd extract` (src/initrd/extract.ts):
 * nothing is ever written outside DIR (host calls through io/host-dir-writer.ts, which never
 * follows a symlink and checks every parent with lstat), files are created O_EXCL|O_NOFOLLOW
 * and streamed in 1 MiB chunks, hard links stay hard links, directories get their modes and
 * times last (deepest first). Device nodes, fifos, sockets, owners and xattrs, which an
 * ordinary user cannot create or set, go to the manifest beside DIR; owners are applied when
 * running as root.
 *
 * It lives in cli/ because it joins the ext reader to the host-directory sink, and no layer
 * below cli may import both (test/layers.test.ts: ext imports only errors and tree).
 */

export interface ImageExtractOptions {
  /** The image as messages name it (`disk.qcow2@2`). */
  origin: string;
  /** The image path extracted, as the user gave it ('/' for all). */
  imagePath: string;
  onWarning?(message: string): void;
}

/** A manifest record, with the entry's xattrs (name -> base64 value), which are not applied. */
export interface ImageManifestRecord extends ManifestRecord {
  xattrs?: Record<string, string>;
}

export interface ImageExtractResult {
  created: number;
  skipped: number;
  manifestPath: string;
  records: ImageManifestRecord[];
}

/** Bytes read and written per step: a file is never held whole. */
const CHUNK = 1 << 20;

export function extractImage(img: ExtImage, from: Resolved, dir: string, opts: ImageExtractOptions): ImageExtractResult {
  const out = HostDirWriter.open(dir);
  const x = new ImageExtraction(img, out, opts, Buffer.from(fs.realpathSync(dir)));
  x.run(from);
  const manifestPath = manifestPathFor(dir);
  const manifest = { origin: opts.origin, path: opts.imagePath, entries: x.records };
  replaceHostFile(manifestPath, `${JSON.stringify(manifest, null, 1)}\n`);
  return { created: x.created, skipped: x.skipped, manifestPath, records: x.records };
}

interface PendingDir {
  comps: Uint8Array[];
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  ino: number;
}

class ImageExtraction {
  readonly records: ImageManifestRecord[] = [];
  created = 0;
  skipped = 0;
  private readonly dirs: PendingDir[] = [];
  /** Image inode -> its first name in DIR and the host inode it became (hard links). */
  private readonly links = new Map<number, { comps: Uint8Array[]; hostIno: number }>();
  private readonly buf = new Uint8Array(CHUNK);

  constructor(
    private readonly img: ExtImage,
    private readonly out: HostDir,
    private readonly opts: ImageExtractOptions,
    /** DIR as HostDirWriter resolved it: for times before 1970 (see fixTime). */
    private readonly root: Buffer,
  ) {}

  /**
   * Node's utimes family takes a negative number of seconds as "now" (toUnixTimestamp in
   * lib/internal/fs/utils.js), so a time before 1970 is set again here as a Date, which it takes
   * as it is. lutimes never follows a symlink at `comps`; the parents were checked with lstat.
   */
  private fixTime(comps: HostPath, mtime: number): void {
    if (mtime >= 0) return;
    const when = new Date(mtime * 1000);
    fs.lutimesSync(Buffer.concat([this.root, ...comps.flatMap((c) => [Buffer.from('/'), c])]), when, when);
  }

  private warn(m: string): void {
    this.opts.onWarning?.(`${this.opts.origin}: ${m}`);
  }

  run(from: Resolved): void {
    if (fileKind(from.inode.mode) !== 'dir') {
      // One file (or link, or node): into DIR under its own name.
      this.entry([from.comps[from.comps.length - 1]!], from.ino, from.inode);
      return;
    }
    const guard = new DirectoryWalkGuard(this.img);
    guard.enter(from.ino, this.opts.imagePath);
    const rec = this.record([], from.inode);
    rec.created = true;
    rec.owned = this.out.canChown;
    this.pendDir([], from.inode, this.out.inode([]));
    const stack: Array<{ comps: Uint8Array[]; inode: Inode }> = [{ comps: [], inode: from.inode }];
    while (stack.length > 0) {
      const d = stack.pop()!;
      const subdirs: typeof stack = [];
      for (const e of sortedEntries(this.img, d.inode)) {
        const comps = [...d.comps, e.name];
        const inode = entryInode(this.img, e.ino, shownPath(comps));
        if (fileKind(inode.mode) === 'dir') guard.enter(e.ino, shownPath(comps));
        if (this.entry(comps, e.ino, inode) && fileKind(inode.mode) === 'dir') subdirs.push({ comps, inode });
      }
      // Depth first, in name order.
      for (let k = subdirs.length - 1; k >= 0; k--) stack.push(subdirs[k]!);
    }
    this.finishDirectories();
  }

  private record(comps: Uint8Array[], inode: Inode): ImageManifestRecord {
    const shown = escapeName(joinPath(comps));
    const rec: ImageManifestRecord = {
      path: comps.length ? shown.text : '.',
      type: typeLetter(inode.mode),
      mode: (inode.mode & 0o7777).toString(8).padStart(4, '0'),
      uid: inode.uid,
      gid: inode.gid,
      created: false,
      owned: false,
    };
    if (!shown.valid) rec.pathHex = hex(joinPath(comps));
    const kind = fileKind(inode.mode);
    if (kind === 'chr' || kind === 'blk') {
      const dev = this.img.device(inode);
      rec.major = dev.major;
      rec.minor = dev.minor;
    }
    const xattrs = this.img.xattrs(inode);
    if (xattrs.size > 0) rec.xattrs = Object.fromEntries([...xattrs].map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
    this.records.push(rec);
    return rec;
  }

  /** One entry; true when it exists in DIR afterwards. Image errors propagate, host errors skip it. */
  private entry(comps: Uint8Array[], ino: number, inode: Inode): boolean {
    const rec = this.record(comps, inode);
    const refuse = (why: string): boolean => {
      this.skipped++;
      this.warn(`skipped '${rec.path}': ${why}`);
      return false;
    };
    let made = false;
    try {
      const bad = this.out.checkParents(comps, true);
      if (bad !== undefined) return refuse(parentReason(comps, bad));
      switch (fileKind(inode.mode)) {
        case 'dir':
          made = this.directory(comps, inode);
          rec.owned = this.out.canChown; // applied with its mode, at the end
          break;
        case 'file':
          made = this.file(comps, ino, inode, rec, refuse);
          break;
        case 'symlink':
          made = this.symlink(comps, inode, rec);
          break;
        default:
          // chr blk fifo socket: recorded only (Node has no mknod); an old name there still goes.
          this.out.remove(comps);
          this.skipped++;
      }
    } catch (err) {
      if (err instanceof ExtimgError) throw err;
      return refuse(`cannot create it (${errCode(err)})`);
    }
    if (made) {
      this.created++;
      rec.created = true;
    }
    return made;
  }

  private pendDir(comps: Uint8Array[], inode: Inode, hostIno: number): void {
    this.dirs.push({ comps, mode: inode.mode & 0o7777, uid: inode.uid, gid: inode.gid, mtime: seconds(inode), ino: hostIno });
  }

  /** A directory merges into one already in DIR and replaces anything else; its metadata comes last. */
  private directory(comps: Uint8Array[], inode: Inode): boolean {
    let st = this.out.lstat(comps);
    if (st !== undefined && st.type !== 'dir') {
      this.out.remove(comps);
      st = undefined;
    }
    if (st === undefined) this.out.mkdir(comps, 0o700);
    this.pendDir(comps, inode, st?.ino ?? this.out.inode(comps));
    return true;
  }

  private file(comps: Uint8Array[], ino: number, inode: Inode, rec: ImageManifestRecord, refuse: (why: string) => boolean): boolean {
    const first = inode.links > 1 ? this.links.get(ino) : undefined;
    if (first !== undefined) {
      const st = this.out.checkParents(first.comps, false) === undefined ? this.out.lstat(first.comps) : undefined;
      if (st === undefined || st.type !== 'file' || st.ino !== first.hostIno) return refuse('its hard link target was replaced or removed');
      this.out.remove(comps);
      this.out.link(first.comps, comps);
      rec.owned = this.out.canChown;
      return true;
    }
    this.out.remove(comps);
    const f = this.out.createFile(comps, 0o600);
    try {
      this.copyContent(inode, f);
      if (this.out.canChown) {
        f.chown(inode.uid, inode.gid);
        rec.owned = true;
      }
      f.chmod(inode.mode & 0o7777); // after chown, which clears set-id bits
      f.setTimes(seconds(inode));
      this.fixTime(comps, seconds(inode));
      if (inode.links > 1) this.links.set(ino, { comps, hostIno: f.ino() });
    } finally {
      f.close();
    }
    return true;
  }

  /**
   * The file's bytes, CHUNK at a time: the blocks the image maps are written where they belong
   * and the rest stays a hole, so a sparse file stays sparse (inline data is written whole).
   */
  private copyContent(inode: Inode, f: HostFile): void {
    const runs = this.img.blockMap(inode);
    const inline = (inode.flags & 0x10000000) !== 0;
    const bs = this.img.blockSize;
    const ranges = inline ? [{ from: 0, to: inode.size }] : runs.map((r) => ({ from: r.logical * bs, to: Math.min(inode.size, (r.logical + r.count) * bs) }));
    for (const { from, to } of ranges) {
      for (let pos = from; pos < to; pos += CHUNK) {
        const part = this.buf.subarray(0, Math.min(CHUNK, to - pos));
        this.img.readFile(inode, runs, pos, part);
        f.writeAt(pos, part);
      }
    }
    f.setSize(inode.size);
  }

  private symlink(comps: Uint8Array[], inode: Inode, rec: ImageManifestRecord): boolean {
    const target = this.img.readLink(inode);
    this.out.remove(comps);
    this.out.symlink(comps, target);
    if (this.out.canChown) {
      this.out.chownSymlink(comps, inode.uid, inode.gid);
      rec.owned = true;
    }
    this.out.setSymlinkTimes(comps, seconds(inode));
    this.fixTime(comps, seconds(inode));
    return true;
  }

  /**
   * Directory metadata last, deepest first: creating entries changes a directory's mtime, and a
   * read-only directory would refuse its contents. A directory replaced since is left alone.
   */
  private finishDirectories(): void {
    const pending = [...this.dirs].sort((a, b) => b.comps.length - a.comps.length);
    for (const d of pending) {
      if (d.comps.length && this.out.checkParents(d.comps, false) !== undefined) continue;
      const st = this.out.lstat(d.comps);
      if (st === undefined || st.type !== 'dir' || st.ino !== d.ino) continue;
      try {
        this.out.setMeta(d.comps, d.mode, d.mtime, this.out.canChown ? { uid: d.uid, gid: d.gid } : undefined);
        this.fixTime(d.comps, d.mtime);
      } catch (err) {
        this.warn(`cannot set the mode or time of '${shownPath(d.comps) || '.'}' (${errCode(err)})`);
      }
    }
  }
}

/**
 * mtime as fractional seconds, as utimes takes it: a double holds today's times to ~0.2 us, so
 * nanoseconds are cut to microseconds first (x.999999999 would round up into the next second).
 */
function seconds(inode: Inode): number {
  return inode.mtime.sec + Math.floor(inode.mtime.nsec / 1000) / 1e6;
}

function parentReason(comps: HostPath, bad: ParentProblem): string {
  if (bad.problem === 'missing') return 'a parent directory is missing';
  const parent = shownPath(comps.slice(0, bad.depth));
  return bad.problem === 'symlink' ? `'${parent}' is a symlink (never followed)` : `'${parent}' is not a directory`;
}

function shownPath(comps: HostPath): string {
  return escapeName(joinPath(comps)).text;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function errCode(e: unknown): string {
  return (e as { code?: string }).code ?? 'error';
}
