import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHUNK, digestBytes, digestSparse } from './digest.js';
import { assignInodeGroups, bytesToHex, joinKey, modeType, showPath, type Entry, type Manifest } from './manifest.js';

/**
 * The image as debugfs (e2fsprogs) reads it. Everything is addressed by inode number (`<ino>`),
 * so names with spaces, quotes, newlines or invalid UTF-8 never pass through debugfs's command
 * parser; names come back raw from `ls -p` (which cannot contain '/', so its
 * `/ino/mode/uid/gid/name/size/` lines parse without ambiguity even when a name holds '\n').
 * Commands are batched: one debugfs run per directory level, one for all `stat`s, one (or a few)
 * for all `cat`s.
 */

/** Files larger than this are read through their block map (stat BLOCKS + raw block reads). */
const CAT_LIMIT = 64 * 1024 * 1024;

export interface DebugfsRun {
  /** Output of each command (stdout, decoded latin1 so each char is one byte), in order. */
  outputs: string[];
  /** debugfs's stderr without its version banner. */
  errors: string;
}

const debugfsEnv = { ...process.env, DEBUGFS_PAGER: '__none__', PAGER: '__none__' };

/** Run `commands` in one debugfs process (`-f cmdfile`); raw stdout and filtered stderr. */
export function runDebugfsRaw(image: string, commands: readonly string[], writable = false): { stdout: Buffer; errors: string } {
  for (const c of commands) if (c.includes('\n')) throw new Error(`debugfs command contains a newline: ${JSON.stringify(c)}`);
  const dir = mkdtempSync(join(tmpdir(), 'extimg-debugfs-cmd-'));
  try {
    const cmdfile = join(dir, 'cmds');
    writeFileSync(cmdfile, `${commands.join('\n')}\n`);
    const args = writable ? ['-w', '-f', cmdfile, image] : ['-f', cmdfile, image];
    const r = spawnSync('debugfs', args, { maxBuffer: 2 ** 31 - 1, env: debugfsEnv });
    if (r.error) throw new Error(`debugfs could not run: ${r.error.message}`);
    const errors = r.stderr
      .toString('latin1')
      .split('\n')
      .filter((l) => l !== '' && !/^debugfs \d/.test(l))
      .join('\n');
    if (r.status !== 0) throw new Error(`debugfs ${args.join(' ')} exited ${r.status}: ${errors}`);
    return { stdout: r.stdout, errors };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Run `commands` in one debugfs process and split stdout per command at debugfs's command echo. */
export function runDebugfs(image: string, commands: readonly string[], writable = false): DebugfsRun {
  if (commands.length === 0) return { outputs: [], errors: '' };
  const { stdout: raw, errors } = runDebugfsRaw(image, commands, writable);
  const stdout = raw.toString('latin1');
  const outputs: string[] = [];
  let pos = 0;
  for (let i = 0; i < commands.length; i++) {
    const echo = `debugfs: ${commands[i]}\n`;
    const at = stdout.indexOf(echo, pos);
    if (at < 0) throw new Error(`debugfs output lost track at command ${i} (${commands[i]}); stderr: ${errors}`);
    if (i > 0) outputs.push(stdout.slice(pos, at));
    pos = at + echo.length;
  }
  outputs.push(stdout.slice(pos));
  return { outputs, errors };
}

/**
 * `cat` many inodes in one debugfs run. Each output is exactly i_size bytes, so the stream is cut
 * by size (file content may contain anything, including debugfs's echo text); a content whose
 * length disagrees with i_size is reported as an Error in its slot.
 */
export function catInodes(image: string, items: ReadonlyArray<{ ino: number; size: number }>): { contents: Array<Buffer | Error>; errors: string } {
  const contents: Array<Buffer | Error> = [];
  let errors = '';
  // Batches of at most ~256 MiB of output.
  let start = 0;
  while (start < items.length) {
    let end = start;
    let total = 0;
    while (end < items.length && (end === start || total + items[end]!.size <= 256 * 1024 * 1024)) total += items[end++]!.size;
    const batch = items.slice(start, end);
    const commands = batch.map((it) => `cat <${it.ino}>`);
    const run = runDebugfsRaw(image, commands);
    if (run.errors) errors += run.errors;
    const out = run.stdout;
    let pos = 0;
    batch.forEach((it, i) => {
      const echo = Buffer.from(`debugfs: ${commands[i]}\n`, 'latin1');
      if (!out.subarray(pos, pos + echo.length).equals(echo)) {
        const at = out.indexOf(echo, pos);
        if (at < 0) throw new Error(`debugfs cat output lost track at <${it.ino}>; stderr: ${run.errors}`);
        contents[contents.length - 1] = new Error(`cat <${batch[i - 1]?.ino}> gave ${at - pos} bytes more than i_size`);
        pos = at;
      }
      pos += echo.length;
      const nextEcho = i + 1 < batch.length ? Buffer.from(`debugfs: ${commands[i + 1]}\n`, 'latin1') : undefined;
      const content = out.subarray(pos, pos + it.size);
      const follows = nextEcho ? out.subarray(pos + it.size, pos + it.size + nextEcho.length).equals(nextEcho) : pos + it.size === out.length;
      if (content.length === it.size && follows) {
        contents.push(content);
        pos += it.size;
      } else {
        const at = nextEcho ? out.indexOf(nextEcho, pos) : out.length;
        contents.push(new Error(`cat <${it.ino}> gave ${at < 0 ? 'unknown' : at - pos} bytes, i_size is ${it.size}`));
        pos = at < 0 ? out.length : at;
      }
    });
    start = end;
  }
  return { contents, errors };
}

export interface LsEntry {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  /** Name as a byte string. */
  name: string;
  /** Empty for directories. */
  size: string;
}

const LS_LINE = /\/(\d+)\/([0-7]+)\/(-?\d+)\/(-?\d+)\/([^/]*)\/(\d*)\/\n/y;

/** Parse `ls -p` output: `/ino/mode/uid/gid/name/size/` lines, then a blank line. */
export function parseLsP(out: string, where: string): LsEntry[] {
  const entries: LsEntry[] = [];
  LS_LINE.lastIndex = 0;
  let pos = 0;
  while (pos < out.length && out[pos] === '/') {
    LS_LINE.lastIndex = pos;
    const m = LS_LINE.exec(out);
    if (!m) throw new Error(`${where}: cannot parse debugfs ls -p output at ${JSON.stringify(out.slice(pos, pos + 200))}`);
    entries.push({
      ino: Number(m[1]),
      mode: parseInt(m[2]!, 8),
      uid: Number(m[3]) >>> 0,
      gid: Number(m[4]) >>> 0,
      name: m[5]!,
      size: m[6]!,
    });
    pos = LS_LINE.lastIndex;
  }
  if (out.slice(pos).trim() !== '') {
    throw new Error(`${where}: unexpected debugfs ls -p output ${JSON.stringify(out.slice(pos, pos + 200))}`);
  }
  return entries;
}

export interface StatInfo {
  ino: number;
  typeName: string;
  perm: number;
  uid: number;
  gid: number;
  size: number;
  links: number;
  /** i_blocks in 512-byte units. */
  blockcount: number;
  mtime: { sec: number; nsec: number };
  major?: number;
  minor?: number;
  /** Fast symlink target (byte string), exactly `size` bytes. */
  fastLink?: string;
  /** Block map: logical block -> physical block (data blocks only). */
  blocks?: Map<number, number>;
  /** Number of IND/DIND/TIND blocks listed. */
  metaBlocks?: number;
}

function field(out: string, re: RegExp, what: string, ino: number): string {
  const m = re.exec(out);
  if (!m) throw new Error(`debugfs stat <${ino}>: no ${what} in ${JSON.stringify(out.slice(0, 400))}`);
  return m[1]!;
}

/** Decode an on-disk time: signed 32-bit seconds, plus the ext4 extra field (epoch bits, nsec << 2). */
function decodeTime(lo: string, extra: string | undefined): { sec: number; nsec: number } {
  const base = parseInt(lo, 16) | 0;
  if (extra === undefined) return { sec: base, nsec: 0 };
  const x = parseInt(extra, 16) >>> 0;
  return { sec: base + (x & 3) * 2 ** 32, nsec: x >>> 2 };
}

export function parseStat(out: string, ino: number): StatInfo {
  const typeName = field(out, /Type: ([A-Za-z ]+?)\s+Mode:/, 'Type', ino);
  const perm = parseInt(field(out, /Mode:\s+([0-7]+)/, 'Mode', ino), 8);
  const uid = Number(field(out, /User:\s+(-?\d+)/, 'User', ino)) >>> 0;
  const gid = Number(field(out, /Group:\s+(-?\d+)/, 'Group', ino)) >>> 0;
  const size = Number(field(out, /Group:\s+-?\d+\s+(?:Project:\s+\d+\s+)?Size: (\d+)/, 'Size', ino));
  const links = Number(field(out, /Links: (\d+)/, 'Links', ino));
  const blockcount = Number(field(out, /Blockcount: (\d+)/, 'Blockcount', ino));
  const mt = /^\s*mtime: 0x([0-9a-f]+)(?::([0-9a-f]+))? --/m.exec(out);
  if (!mt) throw new Error(`debugfs stat <${ino}>: no mtime`);
  const info: StatInfo = { ino, typeName, perm, uid, gid, size, links, blockcount, mtime: decodeTime(mt[1]!, mt[2]) };
  const dev = /Device major\/minor number: (\d+):(\d+)/.exec(out);
  if (dev) {
    info.major = Number(dev[1]);
    info.minor = Number(dev[2]);
  }
  const fl = out.indexOf('Fast link dest: "');
  if (fl >= 0) {
    const start = fl + 'Fast link dest: "'.length;
    info.fastLink = out.slice(start, start + size);
    if (out[start + size] !== '"') {
      // debugfs prints strnlen(i_block) bytes: a shorter string means a NUL inside the target.
      info.fastLink = out.slice(start, out.indexOf('"\n', start));
    }
  }
  // Block maps list BLOCKS: "(0-11):100-111, (IND):112, ..."; extent-mapped inodes list
  // EXTENTS: "(ETB0):300, (0-4095):16385-20480, ..." (ETBn: an extent tree block at level n).
  const bl = out.indexOf('\nBLOCKS:\n');
  const ex = out.indexOf('\nEXTENTS:\n');
  if (bl >= 0 || ex >= 0) {
    const from = bl >= 0 ? bl + 9 : ex + 10;
    const end = bl >= 0 ? out.indexOf('\nTOTAL:', bl) : out.indexOf('\n\n', from);
    const list = out.slice(from, end < 0 ? undefined : end).replace(/\n/g, ' ');
    const blocks = new Map<number, number>();
    let metaBlocks = 0;
    for (const item of list.split(/,\s*/)) {
      const s = item.trim();
      if (s === '') continue;
      let m = /^\((\d+)(?:-(\d+))?\):(\d+)(?:-(\d+))?$/.exec(s);
      if (m) {
        const l0 = Number(m[1]);
        const l1 = m[2] ? Number(m[2]) : l0;
        const p0 = Number(m[3]);
        for (let l = l0; l <= l1; l++) blocks.set(l, p0 + (l - l0));
        continue;
      }
      m = /^\((IND|DIND|TIND|ETB\d+)\):(\d+)$/.exec(s);
      if (m) {
        metaBlocks++;
        continue;
      }
      throw new Error(`debugfs stat <${ino}>: cannot parse block list item ${JSON.stringify(s)}`);
    }
    info.blocks = blocks;
    info.metaBlocks = metaBlocks;
  }
  return info;
}

const TYPE_NAMES: Record<string, Entry['type']> = {
  directory: 'dir',
  regular: 'file',
  symlink: 'symlink',
  'character special': 'chr',
  'block special': 'blk',
  FIFO: 'fifo',
  socket: 'socket',
};

export interface DebugfsManifestOptions {
  /** Hash file content (default true). */
  content?: boolean;
}

/** Superblock facts debugfs needs here (block size for raw reads). */
function blockSizeOf(image: string): number {
  const fd = openSync(image, 'r');
  try {
    const sb = Buffer.alloc(1024);
    readSync(fd, sb, 0, 1024, 1024);
    if (sb.readUInt16LE(0x38) !== 0xef53) throw new Error(`${image}: no ext superblock magic`);
    return 1024 << sb.readUInt32LE(0x18);
  } finally {
    closeSync(fd);
  }
}

/** Walk the whole image with debugfs and return what it sees. */
export function manifestFromDebugfs(image: string, opts: DebugfsManifestOptions = {}): Manifest {
  const withContent = opts.content ?? true;
  const paths = new Map<string, LsEntry>(); // path -> the ls -p entry naming it
  const identity = new Map<string, number>();
  const seenDirs = new Set<number>([2]);
  const problems: string[] = [];

  // 1. Directory structure, one debugfs run per level.
  let level: Array<{ ino: number; path: string }> = [{ ino: 2, path: '' }];
  while (level.length) {
    const run = runDebugfs(image, level.map((d) => `ls -p <${d.ino}>`));
    if (run.errors) problems.push(`ls: ${run.errors}`);
    const next: Array<{ ino: number; path: string }> = [];
    level.forEach((d, i) => {
      const entries = parseLsP(run.outputs[i]!, `ls -p ${showPath(d.path)}`);
      let dot = 0;
      let dotdot = 0;
      for (const e of entries) {
        // ls includes empty slots (inode 0: an unused directory block, as in lost+found).
        if (e.ino === 0) continue;
        if (e.name === '.') {
          dot++;
          if (e.ino !== d.ino) problems.push(`${showPath(d.path)}: '.' is inode ${e.ino}, expected ${d.ino}`);
          continue;
        }
        if (e.name === '..') {
          dotdot++;
          continue;
        }
        const path = joinKey(d.path, e.name);
        if (paths.has(path)) problems.push(`${showPath(path)}: name appears twice in its directory`);
        paths.set(path, e);
        identity.set(path, e.ino);
        if ((e.mode & 0o170000) === 0o040000) {
          if (seenDirs.has(e.ino)) {
            problems.push(`${showPath(path)}: directory inode ${e.ino} is reachable by two names`);
            continue;
          }
          seenDirs.add(e.ino);
          next.push({ ino: e.ino, path });
        }
      }
      if (dot !== 1 || dotdot !== 1) problems.push(`${showPath(d.path)}: has ${dot} '.' and ${dotdot} '..' entries`);
    });
    level = next;
  }

  // 2. stat every inode once.
  const inodes = [...new Set([2, ...identity.values()])];
  const statRun = runDebugfs(image, inodes.map((ino) => `stat <${ino}>`));
  if (statRun.errors) problems.push(`stat: ${statRun.errors}`);
  const stats = new Map<number, StatInfo>();
  inodes.forEach((ino, i) => stats.set(ino, parseStat(statRun.outputs[i]!, ino)));

  // 3. Content: cat regular files and slow symlinks; read huge files by block map.
  const digests = new Map<number, string>();
  const slowLinks = new Map<number, string>();
  const cats: Array<{ ino: number; size: number }> = [];
  const huge: number[] = [];
  for (const [ino, st] of stats) {
    if (st.typeName === 'regular' && withContent) {
      if (st.size > CAT_LIMIT) huge.push(ino);
      else cats.push({ ino, size: st.size });
    } else if (st.typeName === 'symlink' && st.fastLink === undefined) cats.push({ ino, size: st.size });
  }
  const catRun = catInodes(image, cats);
  if (catRun.errors) problems.push(`cat: ${catRun.errors}`);
  cats.forEach(({ ino }, i) => {
    const st = stats.get(ino)!;
    const c = catRun.contents[i]!;
    if (c instanceof Error) {
      problems.push(`inode ${ino}: ${c.message}`);
      if (st.typeName !== 'symlink') digests.set(ino, `unreadable: ${c.message}`);
    } else if (st.typeName === 'symlink') slowLinks.set(ino, c.toString('latin1'));
    else digests.set(ino, digestBytes(c));
  });
  if (huge.length) {
    const bs = blockSizeOf(image);
    const fd = openSync(image, 'r');
    try {
      for (const ino of huge) digests.set(ino, digestByBlockMap(fd, stats.get(ino)!, bs));
    } finally {
      closeSync(fd);
    }
  }

  // 4. Assemble.
  const m: Manifest = new Map();
  const all: Array<[string, number, LsEntry | undefined]> = [['', 2, undefined]];
  for (const [path, e] of paths) all.push([path, e.ino, e]);
  for (const [path, ino, ls] of all) {
    const st = stats.get(ino)!;
    const type = TYPE_NAMES[st.typeName];
    if (!type) {
      problems.push(`${showPath(path)}: inode ${ino} has type '${st.typeName}'`);
      continue;
    }
    if (ls && modeType(ls.mode) !== type) {
      problems.push(`${showPath(path)}: ls -p mode 0${ls.mode.toString(8)} disagrees with stat type ${st.typeName}`);
    }
    const e: Entry = { type, mode: st.perm, uid: st.uid, gid: st.gid, mtime: st.mtime, nlink: st.links };
    if (type === 'file') {
      e.size = st.size;
      if (withContent) e.digest = digests.get(ino);
      e.allocatedBlocks = st.blockcount;
    } else if (type === 'symlink') {
      const target = st.fastLink ?? slowLinks.get(ino);
      if (target === undefined) problems.push(`${showPath(path)}: symlink target unreadable`);
      else {
        e.target = bytesToHex(Buffer.from(target, 'latin1'));
        if (target.length !== st.size) problems.push(`${showPath(path)}: symlink i_size ${st.size} but target has ${target.length} bytes`);
      }
    } else if (type === 'chr' || type === 'blk') {
      e.major = st.major;
      e.minor = st.minor;
    }
    m.set(path, e);
  }
  assignInodeGroups(m, identity);
  if (problems.length) throw new Error(`debugfs walk of ${image} found problems:\n  ${problems.join('\n  ')}`);
  return m;
}

/** Digest a file from the block map debugfs printed, reading the mapped blocks from the image. */
function digestByBlockMap(fd: number, st: StatInfo, bs: number): string {
  const map = st.blocks ?? new Map<number, number>();
  const candidates = new Set<number>();
  for (const l of map.keys()) if (l * bs < st.size) candidates.add(Math.floor((l * bs) / CHUNK));
  const sorted = [...candidates].sort((a, b) => a - b);
  const block = Buffer.alloc(bs);
  return digestSparse(st.size, sorted, (i) => {
    const start = i * CHUNK;
    const out = new Uint8Array(Math.min(CHUNK, st.size - start));
    for (let off = 0; off < out.length; off += bs) {
      const l = Math.floor((start + off) / bs);
      const p = map.get(l);
      if (p === undefined) continue;
      const n = readSync(fd, block, 0, bs, p * bs);
      if (n !== bs) throw new Error(`short read of block ${p}`);
      out.set(block.subarray(0, Math.min(bs, out.length - off)), off);
    }
    return out;
  });
}
