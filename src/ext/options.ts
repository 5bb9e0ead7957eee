import type { FsType } from './features.js';

export type { FsType };

export interface BuildOptions {
  /** Default 'ext3' (ext2 plus an internal jbd2 journal). */
  type?: FsType;
  /**
   * Features to add or (with `^`) remove on top of the type's, as `mke2fs -O` takes them:
   * `['^resize_inode', 'metadata_csum']` or `['extent,^huge_file']`.
   */
  features?: readonly string[];
  /** 1024, 2048 or 4096. Default as mke2fs: 1024 below 512 MiB, else 4096. */
  blockSize?: 1024 | 2048 | 4096;
  /** 128 or 256 (default; adds nanosecond timestamps and crtime). */
  inodeSize?: 128 | 256;
  /** Total inode count (-N). Default: what the tree needs plus headroom, at least mke2fs's minimum. */
  inodes?: number;
  /** Volume label, at most 16 bytes. */
  label?: string;
  /** Filesystem UUID (RFC 4122 text). Default random, or derived from `timestamp` when reproducible. */
  uuid?: string;
  /** Directory hash seed (UUID text). Default like `uuid`. */
  hashSeed?: string;
  /** Reserved blocks for root, percent (-m). Default 5. */
  reservedPercent?: number;
  /** Image size in bytes. Default: fit the content (see `headroom`). */
  size?: number;
  /** Extra free room when fitting, as a fraction of the used blocks and inodes (default 0.05). */
  headroom?: number;
  /**
   * Build reproducibly as of this time (seconds since the epoch, like SOURCE_DATE_EPOCH):
   * the filesystem's own timestamps are set to it, file times are clamped to it, atime and
   * ctime follow mtime, and UUID and hash seed are derived from the options unless given.
   */
  timestamp?: number;
  /** Journal size in blocks (ext3). Default as mke2fs (ext2fs_default_journal_size). */
  journalBlocks?: number;
  /** Reserve GDT blocks for online growth (resize_inode feature). Default true, as mke2fs. */
  resizeInode?: boolean;
  /** Progress callback: bytes of file data written so far and in total. */
  onProgress?: (done: number, total: number) => void;
}

export interface BuildResult {
  /** ext2, ext3 or ext4 as blkid would name the image (from its features). */
  type: FsType;
  /** The features set, in dumpe2fs's order. */
  features: string[];
  blockSize: number;
  inodeSize: number;
  /** Image length in bytes. */
  bytes: number;
  blocksCount: number;
  freeBlocks: number;
  /** blocksCount - freeBlocks: what e2fsck reports as used. */
  usedBlocks: number;
  inodesCount: number;
  freeInodes: number;
  groups: number;
  journalBlocks: number;
  reservedGdtBlocks: number;
  uuid: string;
  label: string;
}
