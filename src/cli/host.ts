import * as fs from 'node:fs';
import { ExtimgError } from '../errors.js';
import type { HostFiles } from '../edit/ops.js';
import { HostFileContent } from '../ingest/hostdir.js';
import { fsError } from '../io/fs-error.js';

/** Host files for edits' `source` fields: regular files only (symlinks followed), read lazily. */
export const nodeHostFiles: HostFiles = {
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
