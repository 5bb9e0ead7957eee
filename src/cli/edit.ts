import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { parseArgs } from 'node:util';
import { openDiskAsync, selectFilesystem, type DiskInfo } from '../disk/open.js';
import { OffsetSink, copyOutsideAsync } from '../disk/output.js';
import { Qcow2Sink } from '../disk/qcow2-write.js';
import { applyPreparedEdit, type PreparedEdit } from '../edit/ops.js';
import { ExtimgError } from '../errors.js';
import { identifyExt } from '../ext/identify.js';
import { sourceIdentity } from '../ext/read/identity.js';
import { ExtImage } from '../ext/read/image.js';
import type { BuildOptions, BuildResult } from '../ext/options.js';
import { buildImageAsync } from '../ext/write/writer.js';
import { addFilesystem } from '../ingest/fsimage.js';
import { FileSink } from '../io/file.js';
import { FileSource } from '../io/file-source.js';
import type { ImageSink } from '../io/sink.js';
import { Tree } from '../tree/tree.js';
import type { CliContext } from './context.js';
import { interruptible } from './build.js';
import { EDIT_OPTIONS, isEditOption, parseEditOption } from './edits.js';
import { EDIT_HELP } from './help.js';
import { nodeHostFiles } from './host.js';
import { applyInputs, parseInputSpec, resolveInputs } from './inputs.js';
import { formatBytes } from './progress.js';
import { parseArgsError, usageError } from './usage.js';
import { parseChoice, parseInteger, parseTimestamp } from './values.js';

const CMD = 'edit';

const OPTIONS = {
  ...EDIT_OPTIONS,
  partition: { type: 'string', short: 'p' },
  'password-scheme': { type: 'string' },
  timestamp: { type: 'string' },
  exclude: { type: 'string', multiple: true },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * `extimg edit IMAGE [--partition N] [SRC:/PATH...] EDITS...`: what users do with mount, a few
 * commands and umount, without root. The filesystem (a bare image, or one partition of a raw or
 * qcow2 disk) is read, the inputs and edits applied, and the filesystem written anew with the
 * source's identity (type, features, UUID, label, hash seed, geometry, size) into a new file
 * renamed over IMAGE: the partition table and every other partition are copied byte for byte, and
 * a failure leaves IMAGE as it was.
 */
export async function editCommand(args: string[], ctx: CliContext): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true, tokens: true });
  } catch (e) {
    throw parseArgsError(e, CMD);
  }
  const { values, positionals } = parsed;
  if (values.debug) ctx.debug = true;
  if (values.help) {
    ctx.stdout.write(EDIT_HELP);
    return 0;
  }
  const [target, ...inputArgs] = positionals;
  if (target === undefined) throw usageError('missing IMAGE (the image or disk to edit)', CMD);
  const { path, ref } = splitPartition(target);
  let partition = ref;
  if (values.partition !== undefined) {
    const n = parseInteger('--partition', values.partition, 1, 9999, CMD);
    if (partition !== undefined && partition !== n) throw usageError(`${target}: names partition ${partition}, --partition says ${n}`, CMD);
    partition = n;
  }
  const edits: PreparedEdit[] = [];
  for (const token of parsed.tokens ?? []) {
    if (token.kind === 'option' && isEditOption(token.name)) edits.push(parseEditOption(token.name, token.value ?? ''));
  }
  const inputs = resolveInputs(inputArgs.map((a) => parseInputSpec(a)));
  if (edits.length === 0 && inputs.length === 0) throw usageError('nothing to do: give edit options (--write, --rm, --chmod, ...) or inputs (SRC:/PATH)', CMD);
  const timestamp = parseTimestamp(values.timestamp, ctx.env, CMD);

  const st = statTarget(path);
  // The new file replaces the image itself, not a symlink to it: resolve the link first.
  const real = fs.realpathSync(path);
  if (st.nlink > 1) {
    throw new ExtimgError('EINVAL', `${path}: has ${st.nlink} hard links; edit writes a new file and renames it over this name, which would split them (edit a copy, or remove the other links)`, { path });
  }
  const source = FileSource.openFile(real);
  const onWarning = (m: string): void => {
    ctx.stderr.write(`extimg: warning: ${m}\n`);
  };
  let openInputs: { close(): Promise<void> } | undefined;
  try {
    const where = await locate(source, path, partition, onWarning);
    const img = ExtImage.open(where.fs, { origin: where.origin, onWarning });
    const { options: identity, notKept } = sourceIdentity(img);
    if (notKept.length) onWarning(`${where.origin}: the edit does not keep ${notKept.join(', ')} (extimg does not write ${notKept.length === 1 ? 'it' : 'them'})`);
    const tree = new Tree(timestamp !== undefined ? { time: { sec: timestamp, nsec: 0 } } : {});
    addFilesystem(tree, img, { origin: where.origin, onWarning });
    openInputs = await applyInputs(tree, inputs, {
      exclude: values.exclude ?? [],
      onWarning,
      spoolDir: nodePath.dirname(nodePath.resolve(path)),
      stdin: ctx.stdin,
    });
    const scheme = values['password-scheme'] !== undefined ? parseChoice('--password-scheme', values['password-scheme'], ['yescrypt', 'sha512crypt', 'sha256crypt'] as const, CMD) : undefined;
    for (const edit of edits) {
      applyPreparedEdit(tree, edit, { host: nodeHostFiles, onWarning, ...(timestamp !== undefined ? { timestamp } : {}), ...(scheme ? { passwordScheme: scheme } : {}) });
    }

    const options: BuildOptions = { ...identity, ...(timestamp !== undefined ? { timestamp } : {}) };
    let result: BuildResult;
    try {
      result = await interruptible(path, ctx, (signal) => writeEdited(tree, real, where, options, st, signal));
    } catch (e) {
      // The writer's "--size" hint is for build; an edit keeps the size, so say what it needs.
      if (e instanceof ExtimgError && e.code === 'ENOSPC' && typeof e.data.fits === 'number') {
        const room = where.disk ? ` (its partition has ${formatBytes(where.size)})` : '';
        throw new ExtimgError('ENOSPC', `${where.origin}: the edited filesystem does not fit its size of ${formatBytes(options.size ?? 0)}: it needs ${e.data.fits} bytes (${formatBytes(e.data.fits)})${room}; nothing was changed`, { ...e.data, path });
      }
      throw e;
    }
    if (values.json) ctx.stdout.write(`${JSON.stringify({ image: path, partition: where.partition, ...result }, null, 2)}\n`);
    else if (!values.quiet) {
      ctx.stderr.write(`extimg: ${where.origin}: ${result.type}, ${formatBytes(result.bytes)}, ${result.usedBlocks}/${result.blocksCount} blocks used, UUID ${result.uuid} kept\n`);
    }
    return 0;
  } finally {
    await openInputs?.close();
    source.close();
  }
}

interface Located {
  /** The filesystem's bytes. */
  fs: import('../disk/random-access.js').RandomAccess;
  origin: string;
  /** The disk around it (undefined for a bare filesystem image). */
  disk?: DiskInfo;
  /** The partition's number, start and size when on a disk. */
  partition?: number;
  start: number;
  size: number;
  /** The file is qcow2 (the virtual disk or filesystem inside is what is edited). */
  qcow2?: { clusterBits: number };
}

async function locate(source: FileSource, path: string, partition: number | undefined, onWarning: (m: string) => void): Promise<Located> {
  const disk = await openDiskAsync(source, path, { onWarning });
  // What the new file would not carry is refused by name, not dropped (a snapshot is often the
  // user's backup).
  const h = disk.qcow2;
  if (h && h.snapshots > 0) {
    throw new ExtimgError('EFORMAT', `${path}: a qcow2 image with ${h.snapshots} internal snapshot${h.snapshots === 1 ? '' : 's'}; edit writes a new image and would drop them (qemu-img snapshot -l lists them; qemu-img convert to a copy first)`, { path });
  }
  if (h?.bitmaps) throw new ExtimgError('EFORMAT', `${path}: a qcow2 image with persistent dirty bitmaps; edit writes a new image and would drop them`, { path });
  const qcow2 = h ? { clusterBits: h.clusterBits } : undefined;
  if (disk.table === 'none') {
    if (partition !== undefined) throw new ExtimgError('EUSAGE', `${path}: has no partition table, so no partition ${partition}`, { path });
    const start = new Uint8Array(Math.min(disk.disk.size, 8192));
    disk.disk.read(0, start);
    if (!identifyExt(start)) throw new ExtimgError('EFORMAT', `${path}: neither an ext2/3/4 filesystem nor a disk with a partition table`, { path });
    return { fs: disk.disk, origin: path, start: 0, size: disk.disk.size, ...(qcow2 ? { qcow2 } : {}) };
  }
  const fs = selectFilesystem(disk, partition, path);
  const p = fs.partition!;
  return { fs, origin: fs.origin, disk, partition: p.number, start: p.start, size: p.size, ...(qcow2 ? { qcow2 } : {}) };
}

/**
 * Write the edited filesystem where the old one was, into a new file renamed over `path`: a bare
 * image is the filesystem; a disk is copied outside the partition and the filesystem written into
 * it; a qcow2 stays qcow2 with the same cluster size.
 */
async function writeEdited(tree: Tree, path: string, where: Located, options: BuildOptions, st: fs.Stats, signal: AbortSignal): Promise<BuildResult> {
  let file: FileSink;
  try {
    file = new FileSink(path, { background: 'auto' });
  } catch (e) {
    if (e instanceof ExtimgError && e.code === 'EIO') {
      throw new ExtimgError('EIO', `${path}: cannot create a new file beside it (edit writes the result next to the image and renames it over; its directory must be writable): ${e.message.replace(/^.*?: /, '')}`, { path });
    }
    throw e;
  }
  const onAbort = (): void => file.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    // Private while it is written; the image's own mode and owner before it takes the name.
    fs.chmodSync(file.tempPath, 0o600);
    const qcow = where.qcow2 ? new Qcow2Sink(file, { clusterBits: where.qcow2.clusterBits }) : undefined;
    const outer: ImageSink = qcow ?? file;
    // The whole disk (or image file) is kept: everything outside the filesystem is copied, the
    // part of a partition (or file) after the filesystem included.
    const container = where.disk?.disk ?? where.fs;
    const fsSize = options.size ?? where.size;
    if (fsSize > where.size) throw new ExtimgError('ENOSPC', `${where.origin}: the filesystem (${fsSize} bytes) is larger than its partition (${where.size} bytes)`, { path });
    outer.setSize(container.size);
    await copyOutsideAsync(container, outer, where.start, fsSize, signal);
    const result = await buildImageAsync(tree, new OffsetSink(outer, where.start, fsSize, where.origin), options, signal);
    qcow?.finish();
    fs.chmodSync(file.tempPath, st.mode & 0o7777);
    try {
      fs.chownSync(file.tempPath, st.uid, st.gid);
    } catch {
      // Not root: the new file is the editor's, as any file they write.
    }
    file.commit();
    return result;
  } catch (e) {
    file.abort();
    throw e;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}


/** `disk.img@2` when the whole string is not an existing file. */
function splitPartition(target: string): { path: string; ref?: number } {
  const m = /^(.*)@([1-9][0-9]{0,3})$/.exec(target);
  if (m && !fs.existsSync(target) && fs.existsSync(m[1]!)) return { path: m[1]!, ref: Number(m[2]) };
  return { path: target };
}

function statTarget(path: string): fs.Stats {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new ExtimgError(code === 'ENOENT' ? 'ENOENT' : 'EIO', `${path}: ${code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? 'error'})`}`, { path });
  }
  if (!st.isFile()) throw new ExtimgError('EINVAL', `${path}: not a regular file (edit writes a new file and renames it over the old one)`, { path });
  return st;
}
