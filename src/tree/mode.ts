import type { NodeKind } from './node.js';

/**
 * The file-type bits of a mode (POSIX st_mode; ext's i_mode and newc's c_mode use the same
 * values). They belong to the tree, which both the ext writer and the initrd code read from;
 * src/ext/constants.ts re-exports them beside the other on-disk constants.
 */
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

/** The i_mode (and cpio c_mode) type bits of each node kind. */
export const S_IF_OF: Readonly<Record<NodeKind, number>> = {
  file: S_IFREG,
  dir: S_IFDIR,
  symlink: S_IFLNK,
  chr: S_IFCHR,
  blk: S_IFBLK,
  fifo: S_IFIFO,
  socket: S_IFSOCK,
};
