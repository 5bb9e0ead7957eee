/**
 * Create an initrd from a tree: one newc archive (the root as '.', parents before children,
 * names in byte order, inode numbers from 1 in that order, hard links kept), compressed with a
 * codec the kernel can unpack. With a timestamp the output is byte-for-byte reproducible.
 */
import type { EncodeCodec } from '../compress/encode.js';
import type { EncodePartsOptions } from '../compress/encode-parts.js';
import { compressArchive } from './compress.js';
import type { Tree } from '../tree/tree.js';
import { treeToNewc } from './rewrite.js';

export interface CreateOptions {
  compress?: EncodeCodec;
  level?: number;
  /** Clamp mtimes to this (SOURCE_DATE_EPOCH). */
  timestamp?: number;
  /** How a large archive is cut into parallel parts (tests use small parts). */
  parts?: EncodePartsOptions;
}

export interface CreateResult {
  data: Uint8Array;
  codec: EncodeCodec;
  /** Entries in the archive (the root included, the trailer not). */
  entries: number;
  /** Bytes of the uncompressed newc archive. */
  cpioBytes: number;
}

export async function createInitrd(tree: Tree, opts: CreateOptions = {}): Promise<CreateResult> {
  const codec = opts.compress ?? 'gzip';
  const cpio = treeToNewc(tree, { root: true, ...(opts.timestamp !== undefined ? { timestamp: opts.timestamp } : {}) });
  let entries = 0;
  for (const _ of tree.walk()) entries++;
  const data = await compressArchive(cpio, codec, opts.level, opts.parts);
  return { data, codec, entries, cpioBytes: cpio.length };
}
