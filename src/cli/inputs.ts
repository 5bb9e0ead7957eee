import * as fs from 'node:fs';
import { ExtimgError } from '../errors.js';
import { fsError } from '../io/fs-error.js';
import { addHostDirectory } from '../ingest/hostdir.js';
import type { Tree } from '../tree/tree.js';
import { usageError } from './usage.js';

/**
 * One INPUT argument: `SRC` or `SRC:/DEST` (DEST absolute, inside the image). SRC is a host
 * directory now; archive files (sniffed by their magic bytes, not their names) come next and
 * will get their own `kind` here.
 */
export interface InputSpec {
  /** The argument as given, for messages. */
  arg: string;
  source: string;
  dest: string;
}

export type ResolvedInput = InputSpec & { kind: 'dir' };

/**
 * Split `SRC:/DEST`. A path that exists as given is taken literally (host names may contain
 * ':'); otherwise the split is at a ':/' whose left side exists, else at the last ':/'.
 */
export function parseInputSpec(arg: string, exists: (p: string) => boolean = hostExists): InputSpec {
  if (arg === '') throw usageError('empty INPUT argument', 'build');
  if (exists(arg)) return { arg, source: arg, dest: '/' };
  const splits: number[] = [];
  for (let i = arg.indexOf(':/'); i !== -1; i = arg.indexOf(':/', i + 1)) splits.push(i);
  if (splits.length === 0) return { arg, source: arg, dest: '/' };
  const at = splits.find((i) => i > 0 && exists(arg.slice(0, i))) ?? splits[splits.length - 1]!;
  return { arg, source: arg.slice(0, at), dest: arg.slice(at + 1) };
}

/** Check that the source is usable and say what it is, before anything is built. */
export function resolveInput(spec: InputSpec): ResolvedInput {
  let st: fs.Stats;
  try {
    st = fs.statSync(spec.source);
  } catch (e) {
    throw fsError(spec.source, e);
  }
  if (st.isDirectory()) return { ...spec, kind: 'dir' };
  throw new ExtimgError('EINVAL', `${spec.source}: not a directory; archive inputs are not supported yet`, {
    path: spec.source,
  });
}

export interface ApplyOptions {
  owner?: { uid: number; gid: number };
  onWarning?: (message: string) => void;
}

/** Add one input to the tree; later inputs replace earlier entries, directories merge. */
export function applyInput(tree: Tree, input: ResolvedInput, options: ApplyOptions): void {
  switch (input.kind) {
    case 'dir': {
      const opts: Parameters<typeof addHostDirectory>[2] = { dest: input.dest };
      if (options.owner) opts.owner = options.owner;
      if (options.onWarning) opts.onWarning = options.onWarning;
      addHostDirectory(tree, input.source, opts);
      return;
    }
  }
}

function hostExists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
