import * as fs from 'node:fs';
import { ExtimgError } from '../errors.js';
import type { HostFiles } from '../edit/ops.js';
import { decodeDev, HostFileContent } from '../ingest/hostdir.js';
import { fsError } from '../io/fs-error.js';

/**
 * Host files for edits' `source` fields: regular files (symlinks followed) read lazily; a device
 * node, FIFO or socket is reported by `special` so `--write` makes the same node.
 */
export const nodeHostFiles: HostFiles = {
  special(path: string) {
    let st: fs.BigIntStats;
    try {
      st = fs.statSync(path, { bigint: true });
    } catch (e) {
      throw fsError(path, e);
    }
    const kind = st.isCharacterDevice() ? 'chr' : st.isBlockDevice() ? 'blk' : st.isFIFO() ? 'fifo' : st.isSocket() ? 'socket' : undefined;
    if (kind === undefined) return undefined;
    const { major, minor } = kind === 'chr' || kind === 'blk' ? decodeDev(st.rdev) : { major: 0, minor: 0 };
    return { kind, major, minor, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid) };
  },
  file(path: string) {
    const st = statFile(path);
    return new HostFileContent(path, st.size, st.blocks * 512 < st.size);
  },
  readFile(path: string) {
    statFile(path);
    try {
      return fs.readFileSync(path);
    } catch (e) {
      throw fsError(path, e);
    }
  },
};

function statFile(path: string): fs.Stats {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (e) {
    throw fsError(path, e);
  }
  if (!st.isFile()) throw new ExtimgError(st.isDirectory() ? 'EISDIR' : 'EINVAL', `${path}: not a regular file`, { path });
  return st;
}
