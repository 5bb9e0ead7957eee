import type { CpioEntry } from '../ingest/cpio.js';
import { HostDirWriter, replaceHostFile, type HostDir, type HostFile, type ParentProblem } from '../io/host-dir-writer.js';
import { escapeName, typeLetter } from './list.js';
import type { Segment } from './segments.js';

/**
 * Extract an initrd's segments into a host directory without root, as `cpio -idm` would but
 * safely for untrusted archives: nothing is written outside DIR. Names with '..' are refused,
 * leading '/' is dropped (the kernel unpacks relative to the new root), parents are checked with
 * lstat (a symlink among them refuses the entry) and files are created with O_EXCL|O_NOFOLLOW
 * after the old name is removed, so no symlink is ever followed. Later entries replace earlier
 * ones, as in init/initramfs.c. Device nodes, fifos, sockets and ownership are recorded in a
 * manifest beside DIR (Node has no mknod; chown is applied when running as root).
 *
 * This file decides (what each entry becomes, what is refused and why, the manifest); the host
 * calls are made by the HostDir adapter (src/io/host-dir-writer.ts), so nothing here needs Node.
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
const DOT = 0x2e;

/** Where the manifest for DIR goes: beside it, never inside. */
export function manifestPathFor(dir: string): string {
  const trimmed = dir.length > 1 ? dir.replace(/\/+$/, '') : dir;
  return `${trimmed}.extimg-manifest.json`;
}

export function extractSegments(segments: Segment[], dir: string, opts: ExtractOptions): ExtractResult {
  const out = HostDirWriter.open(dir);
  const { created, skipped, records } = extractInto(segments, out, opts);
  const manifestPath = manifestPathFor(dir);
  replaceHostFile(manifestPath, manifestJson(segments, records, opts.origin));
  return { created, skipped, manifestPath, records };
}

/** The manifest written beside DIR: where the segments were and every entry's record. */
export function manifestJson(segments: Segment[], records: ManifestRecord[], origin: string): string {
  const manifest = {
    origin,
    segments: segments.map((s) => ({ index: s.index, offset: s.offset, length: s.length, compression: s.compression })),
    entries: records,
  };
  return `${JSON.stringify(manifest, null, 1)}\n`;
}

/** Every entry of `segments` into `out`, then the directories' metadata; no manifest. */
export function extractInto(segments: Segment[], out: HostDir, opts: ExtractOptions): Omit<ExtractResult, 'manifestPath'> {
  const x = new Extraction(out, opts);
  for (const seg of segments) {
    // Hard links refer to earlier entries of the same archive: a trailer ends their scope.
    let links = new Map<string, { comps: Uint8Array[]; ino: number }>();
    for (const e of seg.entries) {
      if (e.trailer) links = new Map();
      else x.entry(seg, e, links);
    }
  }
  x.finishDirectories();
  return { created: x.created, skipped: x.skipped, records: x.records };
}

interface Pending {
  comps: Uint8Array[];
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  ino: number;
}

type Links = Map<string, { comps: Uint8Array[]; ino: number }>;

class Extraction {
  readonly records: ManifestRecord[] = [];
  created = 0;
  skipped = 0;
  private readonly dirs = new Map<string, Pending>();

  constructor(
    private readonly out: HostDir,
    private readonly opts: ExtractOptions,
  ) {}

  private warn(m: string): void {
    this.opts.onWarning?.(`${this.opts.origin}: ${m}`);
  }

  entry(seg: Segment, e: CpioEntry, links: Links): void {
    const shown = escapeName(e.name);
    const type = typeLetter(e.mode);
    const mode = e.mode & 0o7777;
    const rec: ManifestRecord = { path: shown.text, type, mode: octalMode(mode), uid: e.uid, gid: e.gid, created: false, owned: false };
    if (!shown.valid) rec.pathHex = hex(e.name);
    if (type === 'c' || type === 'b') {
      rec.major = e.rdevmajor;
      rec.minor = e.rdevminor;
    }
    const refuse = (why: string): void => {
      this.skipped++;
      this.warn(`skipped '${shown.text}' (segment ${seg.index}, offset ${e.offset}): ${why}`);
    };
    const comps = components(e.name);
    if (typeof comps === 'string') {
      refuse(`${comps} would leave the target directory`);
      return;
    }
    this.records.push(rec);
    if (comps.length === 0) {
      // '.': the root itself.
      if (type === 'd') {
        this.dirs.set('', { comps, mode, uid: e.uid, gid: e.gid, mtime: e.mtime, ino: this.out.inode([]) });
        rec.path = '.';
        rec.created = true;
        rec.owned = this.out.canChown;
      } else {
        refuse('the root of the archive is not a directory');
      }
      return;
    }
    try {
      const bad = this.out.checkParents(comps, true);
      if (bad !== undefined) {
        refuse(parentReason(comps, bad));
        return;
      }
      let made: boolean;
      switch (type) {
        case 'd':
          made = this.directory(comps, e, mode);
          break;
        case '-':
          made = this.file(comps, e, mode, rec, links, refuse);
          break;
        case 'l':
          made = this.symlink(comps, e, rec);
          break;
        default:
          // c b p s (and unknown types): recorded only; the old name still goes (later entries replace).
          this.out.remove(comps);
          this.skipped++;
          made = false;
      }
      if (made) {
        this.created++;
        rec.created = true;
      }
    } catch (err) {
      refuse(`cannot create it (${errCode(err)})`);
    }
  }

  /** A directory replaces a non-directory and merges into a directory; its metadata comes last. */
  private directory(comps: Uint8Array[], e: CpioEntry, mode: number): boolean {
    let st = this.out.lstat(comps);
    if (st !== undefined && st.type !== 'dir') {
      this.out.remove(comps);
      st = undefined;
    }
    if (st === undefined) this.out.mkdir(comps, 0o700);
    const ino = st?.ino ?? this.out.inode(comps);
    this.dirs.set(pathKey(comps), { comps, mode, uid: e.uid, gid: e.gid, mtime: e.mtime, ino });
    return true;
  }

  /** A regular file, or a later name of a hard-linked one. False when refused. */
  private file(comps: Uint8Array[], e: CpioEntry, mode: number, rec: ManifestRecord, links: Links, refuse: (why: string) => void): boolean {
    const key = e.nlink > 1 ? `${e.devmajor}:${e.devminor}:${e.ino}` : undefined;
    const first = key !== undefined ? links.get(key) : undefined;
    let file: HostFile;
    if (first !== undefined) {
      // A later name of a hard-linked file: link it, then write this entry's data, if any
      // (GNU cpio -H newc stores the data with the last name), as the kernel's maybe_link().
      const st = this.out.checkParents(first.comps, false) === undefined ? this.out.lstat(first.comps) : undefined;
      if (st === undefined || st.type !== 'file' || st.ino !== first.ino) {
        refuse('its hard link target was replaced or removed');
        return false;
      }
      this.out.remove(comps);
      this.out.link(first.comps, comps);
      if (e.data.length === 0) return true;
      file = this.out.openFile(comps);
    } else {
      this.out.remove(comps);
      file = this.out.createFile(comps, 0o600);
    }
    try {
      file.write(e.data);
      if (this.out.canChown) {
        file.chown(e.uid, e.gid);
        rec.owned = true;
      }
      file.chmod(mode); // after chown, which clears set-id bits
      file.setTimes(e.mtime);
      if (key !== undefined && first === undefined) links.set(key, { comps, ino: file.ino() });
    } finally {
      file.close();
    }
    return true;
  }

  private symlink(comps: Uint8Array[], e: CpioEntry, rec: ManifestRecord): boolean {
    this.out.remove(comps);
    const raw = e.data.length && e.data[e.data.length - 1] === 0 ? e.data.subarray(0, e.data.length - 1) : e.data;
    this.out.symlink(comps, raw);
    if (this.out.canChown) {
      this.out.chownSymlink(comps, e.uid, e.gid);
      rec.owned = true;
    }
    this.out.setSymlinkTimes(comps, e.mtime);
    return true;
  }

  /**
   * Directory metadata last, deepest first: creating entries changes a directory's mtime, and a
   * read-only directory would refuse its contents. A directory replaced since is left alone.
   */
  finishDirectories(): void {
    const pending = [...this.dirs.values()].sort((a, b) => b.comps.length - a.comps.length);
    for (const d of pending) {
      if (d.comps.length && this.out.checkParents(d.comps, false) !== undefined) continue;
      const st = this.out.lstat(d.comps);
      if (st === undefined || st.type !== 'dir' || st.ino !== d.ino) continue;
      try {
        this.out.setMeta(d.comps, d.mode, d.mtime, this.out.canChown ? { uid: d.uid, gid: d.gid } : undefined);
      } catch (err) {
        this.warn(`cannot set the mode or time of '${shownPath(d.comps)}' (${errCode(err)})`);
      }
    }
  }
}

/** Name bytes split into components, or a reason to refuse it. */
function components(name: Uint8Array): Uint8Array[] | string {
  const out: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i <= name.length; i++) {
    if (i === name.length || name[i] === SLASH) {
      const c = name.slice(start, i);
      start = i + 1;
      if (c.length === 0 || (c.length === 1 && c[0] === DOT)) continue;
      if (c.length === 2 && c[0] === DOT && c[1] === DOT) return "a '..' component";
      out.push(c);
    }
  }
  return out;
}

function parentReason(comps: Uint8Array[], bad: ParentProblem): string {
  if (bad.problem === 'missing') return 'a parent directory is missing';
  const parent = shownPath(comps.slice(0, bad.depth));
  return bad.problem === 'symlink' ? `'${parent}' is a symlink (never followed)` : `'${parent}' is not a directory`;
}

/** One string per path (components hold no '/'), for the map of pending directories. */
function pathKey(comps: Uint8Array[]): string {
  return comps.map((c) => Array.from(c, (b) => String.fromCharCode(b)).join('')).join('/');
}

function shownPath(comps: Uint8Array[]): string {
  const joined = new Uint8Array(comps.reduce((n, c) => n + c.length, 0) + Math.max(comps.length - 1, 0));
  let at = 0;
  comps.forEach((c, k) => {
    if (k) joined[at++] = SLASH;
    joined.set(c, at);
    at += c.length;
  });
  return escapeName(joined).text;
}

/** "0755", "4755": at least four digits, as recipes and `stat -c %04a` write modes. */
function octalMode(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function errCode(e: unknown): string {
  return (e as { code?: string }).code ?? 'error';
}
