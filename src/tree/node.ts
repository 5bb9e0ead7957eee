import type { FileContent } from './content.js';

/** Seconds since the epoch (may be negative or beyond 2038) and nanoseconds. */
export interface Timestamp {
  sec: number;
  nsec: number;
}

export interface Metadata {
  /** Permission bits including setuid (0o4000), setgid (0o2000) and sticky (0o1000). */
  mode: number;
  uid: number;
  gid: number;
  atime: Timestamp;
  mtime: Timestamp;
  ctime: Timestamp;
  /** Extended attributes by full name ("user.foo", "security.capability"). */
  xattrs: Map<string, Uint8Array>;
}

export interface DirNode {
  kind: 'dir';
  meta: Metadata;
  /** Children keyed by their name as a byte string (see names.ts). */
  entries: Map<string, Node>;
}

export interface FileNode {
  kind: 'file';
  meta: Metadata;
  content: FileContent;
}

export interface SymlinkNode {
  kind: 'symlink';
  meta: Metadata;
  /** The target as raw bytes. */
  target: Uint8Array;
}

export interface DeviceNode {
  kind: 'chr' | 'blk';
  meta: Metadata;
  major: number;
  minor: number;
}

export interface SpecialNode {
  kind: 'fifo' | 'socket';
  meta: Metadata;
}

/**
 * A node is an inode: a hard link is the same node object under two names. Directories are
 * never hard linked.
 */
export type Node = DirNode | FileNode | SymlinkNode | DeviceNode | SpecialNode;
export type NodeKind = Node['kind'];

/** Largest device numbers the kernel's new_encode_dev() can store (12-bit major, 20-bit minor). */
export const MAX_MAJOR = 0xfff;
export const MAX_MINOR = 0xfffff;

export function cloneMeta(m: Metadata): Metadata {
  return {
    mode: m.mode,
    uid: m.uid,
    gid: m.gid,
    atime: { ...m.atime },
    mtime: { ...m.mtime },
    ctime: { ...m.ctime },
    xattrs: new Map(m.xattrs),
  };
}
