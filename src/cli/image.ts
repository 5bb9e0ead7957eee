import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { openDiskAsync, selectFilesystem, formatSize, type DiskInfo, type DiskPartition } from '../disk/open.js';
import { identifyDisk } from '../disk/identify.js';
import { ExtimgError } from '../errors.js';
import { identifyExt } from '../ext/identify.js';
import { cString, ExtImage, fileKind, type Inode } from '../ext/read/image.js';
import { openFilesystemIn } from '../ingest/fsimage-open.js';
import { escapeName, typeLetter } from '../initrd/list.js';
import { FileSource } from '../io/file-source.js';
import type { CliContext } from './context.js';
import { IMAGE_HELP } from './help.js';
import { extractImage } from './image-extract.js';
import { absolutePath, DirectoryWalkGuard, entryInode, resolveImagePath, sortedEntries } from './image-path.js';
import { parseArgsError, usageError } from './usage.js';

const CMD = 'image';

const OPTIONS = {
  recursive: { type: 'boolean', short: 'R' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `extimg image ls|cat|extract|info IMAGE ...`: look inside an ext2/3/4 image, a disk or a qcow2. */
export async function imageCommand(args: string[], ctx: CliContext): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw parseArgsError(e, CMD);
  }
  const { values, positionals } = parsed;
  if (values.debug) ctx.debug = true;
  if (values.help) {
    ctx.stdout.write(IMAGE_HELP);
    return 0;
  }
  const [sub, ...rest] = positionals;
  const only = (option: string, allowed: string[]): void => {
    if (sub !== undefined && !allowed.includes(sub)) throw usageError(`option '${option}' is for 'image ${allowed.join("' and 'image ")}'`, CMD);
  };
  if (values.recursive) only('--recursive', ['ls']);
  if (values.json) only('--json', ['ls', 'info']);
  if (values.quiet) only('--quiet', ['extract']);
  const onWarning = (m: string): void => {
    ctx.stderr.write(`extimg: warning: ${m}\n`);
  };
  switch (sub) {
    case 'ls': {
      if (rest.length < 1 || rest.length > 2) throw usageError('image ls takes IMAGE and an optional PATH', CMD);
      return withImage(rest[0]!, onWarning, (img) => {
        list(img, rest[1] ?? '/', { recursive: !!values.recursive, json: !!values.json }, ctx);
        return 0;
      });
    }
    case 'cat': {
      if (rest.length !== 2) throw usageError('image cat takes IMAGE and PATH', CMD);
      return withImage(rest[0]!, onWarning, async (img) => {
        await cat(img, rest[1]!, ctx);
        return 0;
      });
    }
    case 'extract': {
      if (rest.length < 2 || rest.length > 3) throw usageError('image extract takes IMAGE, DIR and an optional PATH', CMD);
      const [image, dir, path = '/'] = rest as [string, string, string?];
      return withImage(image, onWarning, (img) => {
        const from = resolveImagePath(img, path, true);
        // One non-directory goes into DIR under the name PATH gives it (a symlink's, not its target's).
        const given = path.split('/').filter((c) => c !== '').pop();
        if (fileKind(from.inode.mode) !== 'dir' && given !== undefined && given !== '.' && given !== '..') {
          from.comps = [...from.comps.slice(0, -1), new TextEncoder().encode(given)];
        }
        const r = extractImage(img, from, dir, { origin: img.origin, imagePath: path, onWarning });
        if (!values.quiet) ctx.stderr.write(`extimg: ${r.created} entries extracted to ${dir}, ${r.skipped} not created; manifest ${r.manifestPath}\n`);
        return 0;
      });
    }
    case 'info': {
      if (rest.length !== 1) throw usageError('image info takes one IMAGE', CMD);
      await info(rest[0]!, !!values.json, onWarning, ctx);
      return 0;
    }
    case undefined:
      throw usageError('image needs a subcommand: ls, cat, extract or info', CMD);
    default:
      throw usageError(`unknown image subcommand '${sub}'`, CMD);
  }
}

// ---- opening ------------------------------------------------------------------------------------

interface ImageArg {
  file: string;
  /** The partition named by `@N`. */
  ref?: string;
}

/**
 * IMAGE or IMAGE@REF, split as build inputs are (src/cli/inputs.ts): the whole argument when it
 * is an existing file, else at the last '@' that leaves one.
 */
export function parseImageArg(arg: string): ImageArg {
  if (arg === '') throw usageError('empty IMAGE argument', CMD);
  const st = statOf(arg);
  if (st !== undefined) {
    if (st.isDirectory()) throw new ExtimgError('EINVAL', `${arg}: a directory, not an image`, { path: arg });
    return { file: arg };
  }
  for (let i = arg.lastIndexOf('@'); i > 0; i = arg.lastIndexOf('@', i - 1)) {
    const s = i < arg.length - 1 ? statOf(arg.slice(0, i)) : undefined;
    if (s !== undefined && !s.isDirectory()) return { file: arg.slice(0, i), ref: arg.slice(i + 1) };
  }
  throw new ExtimgError('ENOENT', `${arg}: no such file`, { path: arg });
}

function statOf(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}

/** Open IMAGE[@N]'s filesystem, run `f`, close the file. */
async function withImage(arg: string, onWarning: (m: string) => void, f: (img: ExtImage) => number | Promise<number>): Promise<number> {
  const { file, ref } = parseImageArg(arg);
  const src = FileSource.openFile(file);
  try {
    return await f(await openFilesystemIn(src, file, ref, onWarning));
  } finally {
    src.close();
  }
}

// ---- ls -----------------------------------------------------------------------------------------

interface Row {
  /** Absolute image path. */
  path: Uint8Array;
  /** What the text form shows: the name, the path as given, or (with -R) the path. */
  shown: Uint8Array;
  ino: number;
  inode: Inode;
}

function list(img: ExtImage, path: string, opts: { recursive: boolean; json: boolean }, ctx: CliContext): void {
  const at = resolveImagePath(img, path, false);
  const rows: Row[] = [];
  if (fileKind(at.inode.mode) !== 'dir') {
    rows.push({ path: absolutePath(at.comps), shown: new TextEncoder().encode(path), ino: at.ino, inode: at.inode });
  } else {
    const guard = new DirectoryWalkGuard(img);
    guard.enter(at.ino, path);
    const walk = (comps: Uint8Array[], dir: Inode): void => {
      for (const e of sortedEntries(img, dir)) {
        const sub = [...comps, e.name];
        const full = absolutePath(sub);
        const inode = entryInode(img, e.ino, escapeName(full).text);
        rows.push({ path: full, shown: opts.recursive ? full : e.name, ino: e.ino, inode });
        if (opts.recursive && fileKind(inode.mode) === 'dir') {
          guard.enter(e.ino, escapeName(full).text);
          walk(sub, inode);
        }
      }
    };
    walk(at.comps, at.inode);
  }
  if (opts.json) {
    ctx.stdout.write(`${JSON.stringify(rows.map((r) => jsonRow(img, r)), null, 1)}\n`);
    return;
  }
  const cols = rows.map((r) => textColumns(img, r));
  const width = [0, 0, 0, 0].map((_, k) => Math.max(0, ...cols.map((c) => c.numbers[k]!.length)));
  for (const c of cols) {
    const [links, uid, gid, size] = c.numbers.map((n, k) => n.padStart(width[k]!));
    ctx.stdout.write(`${c.mode} ${links} ${uid} ${gid} ${size} ${c.rest}\n`);
  }
}

/** `drwxr-xr-x`, `-rwsr-xr-x`, `drwxrwxrwt`, as ls -l. */
export function modeString(mode: number): string {
  const bit = (m: number, ch: string): string => (mode & m ? ch : '-');
  const special = (x: number, s: number, lower: string, upper: string): string => (mode & s ? (mode & x ? lower : upper) : mode & x ? 'x' : '-');
  return (
    typeLetter(mode) +
    bit(0o400, 'r') + bit(0o200, 'w') + special(0o100, 0o4000, 's', 'S') +
    bit(0o040, 'r') + bit(0o020, 'w') + special(0o010, 0o2000, 's', 'S') +
    bit(0o004, 'r') + bit(0o002, 'w') + special(0o001, 0o1000, 't', 'T')
  );
}

/** ISO 8601 UTC to the second: 2023-11-14T22:13:20Z. */
function isoTime(sec: number): string {
  const d = new Date(sec * 1000);
  return Number.isNaN(d.getTime()) ? String(sec) : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function textColumns(img: ExtImage, r: Row): { mode: string; numbers: string[]; rest: string } {
  const kind = fileKind(r.inode.mode);
  let size = String(r.inode.size);
  if (kind === 'chr' || kind === 'blk') {
    const dev = img.device(r.inode);
    size = `${dev.major}, ${dev.minor}`;
  }
  const target = kind === 'symlink' ? ` -> ${escapeName(img.readLink(r.inode)).text}` : '';
  return {
    mode: modeString(r.inode.mode),
    numbers: [String(r.inode.links), String(r.inode.uid), String(r.inode.gid), size],
    rest: `${isoTime(r.inode.mtime.sec)} ${escapeName(r.shown).text}${target}`,
  };
}

interface JsonRow {
  path: string;
  pathHex?: string;
  type: string;
  mode: string;
  uid: number;
  gid: number;
  size: number;
  mtime: { sec: number; nsec: number };
  links: number;
  ino: number;
  target?: string;
  targetHex?: string;
  major?: number;
  minor?: number;
  /** Name -> value in base64. */
  xattrs?: Record<string, string>;
}

function jsonRow(img: ExtImage, r: Row): JsonRow {
  const i = r.inode;
  const path = escapeName(r.path);
  const row: JsonRow = {
    path: path.text,
    type: typeLetter(i.mode),
    mode: (i.mode & 0o7777).toString(8).padStart(4, '0'),
    uid: i.uid,
    gid: i.gid,
    size: i.size,
    mtime: { sec: i.mtime.sec, nsec: i.mtime.nsec },
    links: i.links,
    ino: r.ino,
  };
  if (!path.valid) row.pathHex = hex(r.path);
  const kind = fileKind(i.mode);
  if (kind === 'symlink') {
    const raw = img.readLink(i);
    const t = escapeName(raw);
    row.target = t.text;
    if (!t.valid) row.targetHex = hex(raw);
  }
  if (kind === 'chr' || kind === 'blk') Object.assign(row, img.device(i));
  const x = img.xattrs(i);
  if (x.size > 0) row.xattrs = Object.fromEntries([...x].map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
  return row;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// ---- cat ----------------------------------------------------------------------------------------

/** What `cat` writes to: process.stdout (a Writable) in the CLI. */
interface ByteStream {
  write(chunk: Uint8Array): boolean;
  readonly destroyed?: boolean;
  once?(event: string, f: () => void): unknown;
  off?(event: string, f: () => void): unknown;
}

const CAT_CHUNK = 1 << 20;

async function cat(img: ExtImage, path: string, ctx: CliContext): Promise<void> {
  const at = resolveImagePath(img, path, true);
  const kind = fileKind(at.inode.mode);
  const where = `${img.origin}: ${path}`;
  if (kind === 'dir') throw new ExtimgError('EISDIR', `${where}: is a directory`, { path: img.origin, imagePath: path });
  if (kind !== 'file') throw new ExtimgError('EINVAL', `${where}: is a ${KIND_NAMES[kind ?? ''] ?? 'special file'}, not a regular file`, { path: img.origin, imagePath: path });
  const out = ctx.stdout as unknown as ByteStream;
  const runs = img.blockMap(at.inode);
  const size = at.inode.size;
  for (let pos = 0; pos < size; pos += CAT_CHUNK) {
    // A fresh buffer per chunk: a stream may still hold the last one when write() returns.
    const chunk = new Uint8Array(Math.min(CAT_CHUNK, size - pos));
    img.readFile(at.inode, runs, pos, chunk);
    if (!(await writeChunk(out, chunk))) return; // the reader went away (EPIPE): stop quietly, as cat does
  }
}

const KIND_NAMES: Record<string, string> = { chr: 'character device', blk: 'block device', fifo: 'fifo', socket: 'socket', symlink: 'symlink' };

/**
 * Write one chunk and wait until the stream wants more (backpressure); false once it is closed
 * or failed. Errors themselves are left to the stream's 'error' listener (src/cli/main.ts
 * ignores EPIPE). Yielding after each chunk lets a failed write's error arrive before the next.
 */
async function writeChunk(out: ByteStream, chunk: Uint8Array): Promise<boolean> {
  if (out.destroyed) return false;
  const more = out.write(chunk);
  if (!out.once || !out.off) return true;
  const once = out.once.bind(out);
  const off = out.off.bind(out);
  if (more) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    return !out.destroyed;
  }
  return new Promise<boolean>((resolve) => {
    const done = (ok: boolean): void => {
      off('drain', onDrain);
      off('close', onClose);
      off('error', onClose);
      resolve(ok);
    };
    const onDrain = (): void => done(true);
    const onClose = (): void => done(false);
    once('drain', onDrain);
    once('close', onClose);
    once('error', onClose);
  });
}

// ---- info ---------------------------------------------------------------------------------------

interface FilesystemInfo {
  /** The partition number, absent for a whole-disk filesystem. */
  partition?: number;
  origin: string;
  summary: Record<string, string | number>;
}

async function info(arg: string, json: boolean, onWarning: (m: string) => void, ctx: CliContext): Promise<void> {
  const { file, ref } = parseImageArg(arg);
  const src = FileSource.openFile(file);
  try {
    const head = new Uint8Array(Math.min(src.size, 8192));
    src.read(0, head);
    const kind = identifyDisk(head)?.kind;
    // A raw filesystem (its first sector may end in 0x55AA: ext before MBR, as blkid and openFilesystemIn do).
    if (identifyExt(head) && kind !== 'gpt' && kind !== 'qcow2') {
      const img = await openFilesystemIn(src, file, ref, onWarning);
      const fsInfo = { origin: img.origin, summary: summaryOf(img) };
      if (json) ctx.stdout.write(`${JSON.stringify({ origin: file, container: 'raw', table: 'none', size: src.size, partitions: [], filesystems: [fsInfo] }, null, 1)}\n`);
      else ctx.stdout.write(summaryText(fsInfo.summary));
      return;
    }
    const disk = await openDiskAsync(src, file, { onWarning });
    const filesystems: FilesystemInfo[] = [];
    let partitions = disk.partitions;
    if (ref !== undefined) {
      if (!/^[1-9][0-9]{0,3}$/.test(ref)) throw new ExtimgError('EUSAGE', `${file}: @${ref} does not name a partition (a disk's partitions are @1, @2, ... as the kernel numbers them)`, { path: file });
      const sel = selectFilesystem(disk, Number(ref), file);
      partitions = partitions.filter((p) => p.number === Number(ref));
      const img = ExtImage.open(sel, { origin: sel.origin, onWarning });
      filesystems.push({ partition: Number(ref), origin: img.origin, summary: summaryOf(img) });
    } else if (disk.table === 'none') {
      if (disk.fsKind && disk.fsKind !== 'jbd2') {
        const img = ExtImage.open(selectFilesystem(disk, undefined, file), { origin: file, onWarning });
        filesystems.push({ origin: img.origin, summary: summaryOf(img) });
      }
    } else {
      for (const p of disk.partitions) {
        if (p.fsKind === undefined || p.fsKind === 'jbd2') continue;
        const sel = selectFilesystem(disk, p.number, file);
        const img = ExtImage.open(sel, { origin: sel.origin, onWarning });
        filesystems.push({ partition: p.number, origin: img.origin, summary: summaryOf(img) });
      }
    }
    if (json) {
      ctx.stdout.write(`${JSON.stringify({ ...diskJson(disk), partitions: partitions.map(partitionJson), filesystems }, null, 1)}\n`);
      return;
    }
    ctx.stdout.write(diskText(disk, partitions));
    for (const f of filesystems) {
      ctx.stdout.write(`\n${f.partition !== undefined ? `Partition ${f.partition}` : 'Filesystem'} (${f.origin}):\n`);
      ctx.stdout.write(summaryText(f.summary));
    }
  } finally {
    src.close();
  }
}

function diskJson(disk: DiskInfo): Record<string, unknown> {
  return {
    origin: disk.origin,
    container: disk.container,
    table: disk.table,
    size: disk.disk.size,
    ...(disk.gpt ? { diskGuid: disk.gpt.diskGuid, sectorSize: disk.gpt.sectorSize, gptHeader: disk.gpt.header } : {}),
    ...(disk.fsKind ? { fsKind: disk.fsKind } : {}),
  };
}

function partitionJson(p: DiskPartition): Record<string, unknown> {
  return { ...p };
}

function diskText(disk: DiskInfo, partitions: readonly DiskPartition[]): string {
  const table = disk.table === 'gpt' ? `GPT, disk GUID ${disk.gpt?.diskGuid}${disk.gpt?.header === 'backup' ? ' (read from the backup header)' : ''}` : disk.table === 'mbr' ? 'MBR' : 'no partition table';
  let s = `Disk ${disk.origin}: ${disk.container === 'qcow2' ? 'qcow2, ' : ''}${formatSize(disk.disk.size)} (${disk.disk.size} bytes), ${table}\n`;
  if (disk.table === 'none') return s + (disk.fsKind ? `Filesystem: ${disk.fsKind} on the whole disk\n` : 'No ext filesystem on the whole disk\n');
  if (partitions.length === 0) return `${s}No partitions\n`;
  const rows = [
    ['Number', 'Start', 'Size', 'Type', 'Name', 'Filesystem'],
    ...partitions.map((p) => [
      String(p.number),
      String(p.start),
      formatSize(p.size),
      p.typeName ? `${p.typeName} (${p.type})` : p.type,
      p.name ?? '',
      p.extended ? 'extended' : (p.fsKind ?? '-'),
    ]),
  ];
  const width = rows[0]!.map((_, k) => Math.max(...rows.map((r) => r[k]!.length)));
  for (const r of rows) s += `${r.map((c, k) => (k === 0 || k === 1 ? c.padStart(width[k]!) : c.padEnd(width[k]!))).join('  ').trimEnd()}\n`;
  return s;
}

/** `Key:   value` lines in dumpe2fs -h's layout (the value at column 27). */
function summaryText(summary: Record<string, string | number>): string {
  return Object.entries(summary)
    .map(([k, v]) => `${`${k}:`.padEnd(25)} ${v}\n`)
    .join('');
}

const STATES = ['not clean', 'clean'];
const ERRORS: Record<number, string> = { 1: 'Continue', 2: 'Remount read-only', 3: 'Panic' };
const OS_TYPES: Record<number, string> = { 0: 'Linux', 1: 'Hurd', 2: 'Masix', 3: 'FreeBSD', 4: 'Lites' };

/**
 * img.summary() with the other superblock facts dumpe2fs -h shows, in its order and under its
 * names (times as ISO 8601 UTC rather than ctime(3) in local time).
 */
export function summaryOf(img: ExtImage): Record<string, string | number> {
  const base = img.summary();
  const sb = img.sb;
  const has = (word: 'compat' | 'incompat' | 'roCompat', bit: number): boolean => img.has(word, bit);
  const time = (lo: number, hi = 0): string => (lo === 0 && hi === 0 ? 'n/a' : isoTime(lo + hi * 0x100000000));
  const s: Record<string, string | number> = {};
  const take = (k: string): void => {
    if (k in base) s[k] = base[k]!;
  };
  take('Filesystem volume name');
  s['Last mounted on'] = cString(sb.s_last_mounted) || '<not available>';
  take('Filesystem UUID');
  s['Filesystem magic number'] = `0x${sb.s_magic.toString(16).toUpperCase()}`;
  s['Filesystem revision #'] = `${sb.s_rev_level} (${sb.s_rev_level === 0 ? 'original' : 'dynamic'})`;
  take('Filesystem features');
  s['Filesystem state'] = `${STATES[sb.s_state & 1]}${sb.s_state & 2 ? ' with errors' : ''}`;
  s['Errors behavior'] = ERRORS[sb.s_errors] ?? `Unknown (${sb.s_errors})`;
  s['Filesystem OS type'] = OS_TYPES[sb.s_creator_os] ?? `(unknown os ${sb.s_creator_os})`;
  take('Inode count');
  take('Block count');
  s['Reserved block count'] = sb.s_r_blocks_count_lo + (has('incompat', 0x0080) ? sb.s_r_blocks_count_hi * 0x100000000 : 0);
  take('Free blocks');
  take('Free inodes');
  s['First block'] = sb.s_first_data_block;
  take('Block size');
  if (has('incompat', 0x0080)) s['Group descriptor size'] = img.descSize;
  if (has('compat', 0x0010)) s['Reserved GDT blocks'] = sb.s_reserved_gdt_blocks;
  take('Blocks per group');
  take('Inodes per group');
  if (has('incompat', 0x0200)) s['Flex block group size'] = 2 ** sb.s_log_groups_per_flex;
  s['Filesystem created'] = time(sb.s_mkfs_time, sb.s_mkfs_time_hi);
  s['Last mount time'] = time(sb.s_mtime, sb.s_mtime_hi);
  s['Last write time'] = time(sb.s_wtime, sb.s_wtime_hi);
  s['Mount count'] = sb.s_mnt_count;
  s['Maximum mount count'] = (sb.s_max_mnt_count << 16) >> 16;
  s['First inode'] = sb.s_first_ino;
  take('Inode size');
  if (has('compat', 0x0004)) s['Journal inode'] = sb.s_journal_inum;
  take('Default directory hash');
  take('Directory Hash Seed');
  if (has('roCompat', 0x0400)) {
    s['Checksum type'] = sb.s_checksum_type === 1 ? 'crc32c' : `unknown (${sb.s_checksum_type})`;
    s['Checksum'] = `0x${sb.s_checksum.toString(16).padStart(8, '0')}`;
  }
  // Whatever else the reader's summary has (Group count), after dumpe2fs's fields.
  for (const [k, v] of Object.entries(base)) if (!(k in s)) s[k] = v;
  return s;
}

