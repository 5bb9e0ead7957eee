import { ExtimgError } from '../../errors.js';
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG, S_IFSOCK } from '../../tree/mode.js';
import type { Timestamp } from '../../tree/node.js';
import { formatUuid } from '../uuid.js';
import {
  dirBlockChecksum,
  dxNodeChecksum,
  extentBlockChecksum,
  fsChecksumSeed,
  groupDescChecksum,
  groupDescCrc16,
  hasDirEntryTail,
  inodeChecksumSeed,
  inodeChecksumStored,
  storedDirBlockChecksum,
  storedDxNodeChecksum,
  storedExtentBlockChecksum,
  storedInodeChecksum,
  superblockChecksum,
  dxCountOffset,
  dxTailOffset,
  storedXattrBlockChecksum,
  xattrBlockChecksum,
} from '../checksum.js';
import { EXT4_EXT_MAGIC, EXT4_MAX_EXTENT_DEPTH } from '../extents.js';
import { featureNamesOf } from '../features.js';
import { EXTENT, EXTENT_HEADER, EXTENT_IDX, GROUP_DESC_64, IN, INODE_LARGE, SUPERBLOCK } from '../struct.js';
import { replayJournal } from './journal-replay.js';

/**
 * The ext2/3/4 reader: an image (any random-access bytes: a file, a partition, a qcow2 disk)
 * opened read-only and decoded on the same struct tables the writer encodes with. Nothing is
 * trusted: every block number is checked against the filesystem, every walk is bounded (extent
 * trees by depth and by blocks seen once, directories by their size), metadata_csum is verified
 * where the kernel verifies it, and a journal that needs recovery is replayed in memory first.
 * Errors are ExtimgError('ECORRUPT' | 'EFORMAT') naming the image and the inode or block.
 */

/** Random access to the bytes of a filesystem (structurally: io FileSource, disk partitions, qcow2). */
export interface ReadAt {
  readonly size: number;
  /** Fill `into` completely with the bytes at `position`. */
  read(position: number, into: Uint8Array): void;
}

export interface OpenOptions {
  /** The image as messages name it. */
  origin: string;
  /** Recoverable oddities (a journal replayed, checksums not verifiable). */
  onWarning?: (message: string) => void;
}

const S_IFMT = 0o170000;

const EXT4_EXTENTS_FL = 0x00080000;
const EXT4_INLINE_DATA_FL = 0x10000000;
const EXT4_EA_INODE_FL = 0x00200000;
const EXT4_HUGE_FILE_FL = 0x00040000;
const EXT4_INDEX_FL = 0x00001000;
const EXT4_ENCRYPT_FL = 0x00000800;

const ROOT_INO = 2;
const JOURNAL_INO = 8;

/** Incompatible features this reader understands; any other bit is refused by name. */
const INCOMPAT_READ =
  0x0002 /* filetype */ | 0x0004 /* needs_recovery */ | 0x0010 /* meta_bg */ | 0x0040 /* extent */ | 0x0080 /* 64bit */ |
  0x0100 /* mmp */ | 0x0200 /* flex_bg */ | 0x0400 /* ea_inode */ | 0x2000 /* csum_seed */ | 0x4000 /* large_dir */ |
  0x8000 /* inline_data */ | 0x20000; /* casefold: names are stored as given */
/** Read-only-compatible features that change how blocks are addressed: refused by name. */
const RO_COMPAT_REFUSED = 0x0200; /* bigalloc */
const RO_COMPAT_GDT_CSUM = 0x0010;
const RO_COMPAT_METADATA_CSUM = 0x0400;
const RO_COMPAT_HUGE_FILE = 0x0008;
const INCOMPAT_RECOVER = 0x0004;
const INCOMPAT_META_BG = 0x0010;
const INCOMPAT_64BIT = 0x0080;
const INCOMPAT_FILETYPE = 0x0002;
const INCOMPAT_EXTENT = 0x0040;
const INCOMPAT_INLINE_DATA = 0x8000;
const COMPAT_HAS_JOURNAL = 0x0004;

/** A run of blocks: logical file blocks [logical, logical + count) at physical [physical, ...). */
export interface Run {
  logical: number;
  physical: number;
  count: number;
}

export interface DirEntry {
  name: Uint8Array;
  ino: number;
  /** The dirent's file type (1 reg, 2 dir, 3 chr, 4 blk, 5 fifo, 6 sock, 7 symlink; 0 unknown). */
  fileType: number;
}

export interface Inode {
  readonly ino: number;
  /** i_mode: type and permission bits. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly links: number;
  readonly flags: number;
  readonly generation: number;
  readonly atime: Timestamp;
  readonly ctime: Timestamp;
  readonly mtime: Timestamp;
  readonly crtime?: Timestamp;
  /** i_blocks in 512-byte units (huge_file already applied). */
  readonly blocks512: number;
  readonly fileAcl: number;
  /** The 60 bytes of i_block. */
  readonly iBlock: Uint8Array;
  /** The whole on-disk record (s_inode_size bytes). */
  readonly raw: Uint8Array;
  readonly extraIsize: number;
}

export function fileKind(mode: number): 'file' | 'dir' | 'symlink' | 'chr' | 'blk' | 'fifo' | 'socket' | undefined {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return 'file';
    case S_IFDIR:
      return 'dir';
    case S_IFLNK:
      return 'symlink';
    case S_IFCHR:
      return 'chr';
    case S_IFBLK:
      return 'blk';
    case S_IFIFO:
      return 'fifo';
    case S_IFSOCK:
      return 'socket';
    default:
      return undefined;
  }
}

const le16 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);
const le32 = (b: Uint8Array, o: number): number => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

/** ext4_decode_extra_time: a signed 32-bit base, two epoch bits and the nanoseconds in _extra. */
function decodeTime(base: number, extra: number | undefined): Timestamp {
  const signed = base | 0;
  if (extra === undefined) return { sec: signed, nsec: 0 };
  const nsec = extra >>> 2;
  return { sec: signed + (extra & 3) * 0x100000000, nsec: nsec < 1e9 ? nsec : 0 };
}

export class ExtImage {
  readonly origin: string;
  readonly sb: ReturnType<typeof SUPERBLOCK.decode>;
  /** The 1024 raw superblock bytes. */
  readonly sbBytes: Uint8Array;
  readonly blockSize: number;
  readonly blocksCount: number;
  readonly groupCount: number;
  readonly inodesPerGroup: number;
  readonly inodeSize: number;
  readonly inodesCount: number;
  readonly descSize: number;
  readonly metadataCsum: boolean;
  readonly csumSeed: number;
  readonly filetype: boolean;
  /** Group descriptors, raw (descSize bytes each). */
  private readonly descs: Uint8Array[] = [];
  /** Blocks the journal replay wrote (filesystem block -> contents). */
  private overlay = new Map<number, Uint8Array>();
  readonly journalReplayed: number = 0;
  private readonly warn: (m: string) => void;

  private constructor(
    readonly dev: ReadAt,
    opts: OpenOptions,
    sbBytes: Uint8Array,
  ) {
    this.origin = opts.origin;
    this.warn = opts.onWarning ?? (() => {});
    this.sbBytes = sbBytes;
    const sb = SUPERBLOCK.decode(sbBytes);
    this.sb = sb;
    const o = this.origin;
    if (sb.s_magic !== 0xef53) throw new ExtimgError('EFORMAT', `${o}: not an ext2/3/4 filesystem (no superblock magic at byte 1080)`, { path: o });
    const incompat = sb.s_feature_incompat;
    const roCompat = sb.s_feature_ro_compat;
    if (incompat & 0x0008) throw new ExtimgError('EFORMAT', `${o}: an ext3/ext4 external journal device, not a filesystem`, { path: o });
    const unknown = incompat & ~INCOMPAT_READ;
    if (unknown) throw new ExtimgError('EFORMAT', `${o}: uses feature${bits(unknown) > 1 ? 's' : ''} ${featureNamesOf('incompat', unknown).join(', ')}, which extimg cannot read`, { path: o });
    if (roCompat & RO_COMPAT_REFUSED) throw new ExtimgError('EFORMAT', `${o}: uses feature ${featureNamesOf('roCompat', roCompat & RO_COMPAT_REFUSED).join(', ')}, which extimg cannot read`, { path: o });
    if (sb.s_log_block_size > 6) throw corrupt(o, `superblock: block size 2^${10 + sb.s_log_block_size} is out of range`);
    this.blockSize = 1024 << sb.s_log_block_size;
    this.metadataCsum = (roCompat & RO_COMPAT_METADATA_CSUM) !== 0;
    if (this.metadataCsum && superblockChecksum(sbBytes) !== sb.s_checksum) throw corrupt(o, 'superblock checksum does not match (metadata_csum)');
    const is64 = (incompat & INCOMPAT_64BIT) !== 0;
    this.blocksCount = sb.s_blocks_count_lo + (is64 ? sb.s_blocks_count_hi * 0x100000000 : 0);
    const bpg = sb.s_blocks_per_group;
    const ipg = sb.s_inodes_per_group;
    if (bpg === 0 || bpg > this.blockSize * 8) throw corrupt(o, `superblock: ${bpg} blocks per group (at most ${this.blockSize * 8})`);
    if (ipg === 0 || ipg > this.blockSize * 8) throw corrupt(o, `superblock: ${ipg} inodes per group (at most ${this.blockSize * 8})`);
    if (sb.s_first_data_block >= this.blocksCount) throw corrupt(o, 'superblock: first data block past the end of the filesystem');
    this.groupCount = Math.ceil((this.blocksCount - sb.s_first_data_block) / bpg);
    this.inodesPerGroup = ipg;
    this.inodesCount = sb.s_inodes_count;
    if (this.groupCount * ipg !== this.inodesCount) throw corrupt(o, `superblock: ${this.inodesCount} inodes is not ${this.groupCount} groups of ${ipg}`);
    this.inodeSize = sb.s_rev_level === 0 ? 128 : sb.s_inode_size;
    if (this.inodeSize < 128 || this.inodeSize > this.blockSize || (this.inodeSize & (this.inodeSize - 1)) !== 0) {
      throw corrupt(o, `superblock: inode size ${this.inodeSize}`);
    }
    this.descSize = is64 ? sb.s_desc_size : 32;
    if (is64 && (this.descSize < 32 || this.descSize > 1024 || (this.descSize & (this.descSize - 1)) !== 0)) throw corrupt(o, `superblock: group descriptor size ${this.descSize}`);
    if (this.blocksCount * this.blockSize > dev.size) {
      throw new ExtimgError('ECORRUPT', `${o}: truncated: the filesystem is ${this.blocksCount * this.blockSize} bytes, the image ${dev.size}`, { path: o });
    }
    this.csumSeed = this.metadataCsum ? fsChecksumSeed(sbBytes) : 0;
    this.filetype = (incompat & INCOMPAT_FILETYPE) !== 0;
  }

  /** Open the filesystem at the start of `dev`. */
  static open(dev: ReadAt, opts: OpenOptions): ExtImage {
    const o = opts.origin;
    if (dev.size < 2048) throw new ExtimgError('EFORMAT', `${o}: too small to hold an ext2/3/4 filesystem (${dev.size} bytes)`, { path: o });
    const sb = new Uint8Array(1024);
    dev.read(1024, sb);
    const img = new ExtImage(dev, opts, sb);
    img.loadDescriptors();
    img.recover();
    return img;
  }

  /** Whether the filesystem has a feature (by word and bit). */
  has(word: 'compat' | 'incompat' | 'roCompat', bit: number): boolean {
    const v = word === 'compat' ? this.sb.s_feature_compat : word === 'incompat' ? this.sb.s_feature_incompat : this.sb.s_feature_ro_compat;
    return (v & bit) !== 0;
  }

  // ---- blocks --------------------------------------------------------------------------------

  private checkBlock(n: number, what: string): void {
    if (!Number.isSafeInteger(n) || n < 0 || n >= this.blocksCount) throw corrupt(this.origin, `${what} points to block ${n}, past the end of the filesystem (${this.blocksCount} blocks)`);
  }

  /** One filesystem block (after journal replay). */
  readBlock(n: number, what = 'a reference'): Uint8Array {
    this.checkBlock(n, what);
    const replayed = this.overlay.get(n);
    if (replayed) return replayed.slice();
    const b = new Uint8Array(this.blockSize);
    this.dev.read(n * this.blockSize, b);
    return b;
  }

  /** Bytes at a block-relative byte position: `into` from block `physical`, `offset` bytes in. */
  readData(physical: number, offset: number, into: Uint8Array): void {
    const bs = this.blockSize;
    if (this.overlay.size === 0) {
      this.dev.read(physical * bs + offset, into);
      return;
    }
    let done = 0;
    while (done < into.length) {
      const blk = physical + Math.floor((offset + done) / bs);
      const within = (offset + done) % bs;
      const n = Math.min(bs - within, into.length - done);
      const replayed = this.overlay.get(blk);
      if (replayed) into.set(replayed.subarray(within, within + n), done);
      else this.dev.read(blk * bs + within, into.subarray(done, done + n));
      done += n;
    }
  }

  // ---- group descriptors ----------------------------------------------------------------------

  private hasSuper(group: number): boolean {
    if (group === 0) return true;
    if (this.has('compat', 0x0200 /* sparse_super2 */)) return group === this.sb.s_backup_bgs_0 || group === this.sb.s_backup_bgs_1;
    if (!this.has('roCompat', 0x0001 /* sparse_super */)) return true;
    if (group <= 1) return true;
    for (const p of [3, 5, 7]) {
      let x = p;
      while (x < group) x *= p;
      if (x === group) return true;
    }
    return false;
  }

  /** Where descriptor block `i` lives (ext2fs_descriptor_block_loc2). */
  private descriptorBlock(i: number, perBlock: number): number {
    const first = this.sb.s_first_data_block;
    if (!this.has('incompat', INCOMPAT_META_BG) || i < this.sb.s_first_meta_bg) return first + 1 + i;
    const g = i * perBlock;
    return first + g * this.sb.s_blocks_per_group + (this.hasSuper(g) ? 1 : 0);
  }

  private loadDescriptors(): void {
    const perBlock = this.blockSize / this.descSize;
    const nBlocks = Math.ceil(this.groupCount / perBlock);
    if (nBlocks > this.blocksCount) throw corrupt(this.origin, `superblock: ${this.groupCount} groups need more descriptor blocks than the filesystem has`);
    const gdtCsum = this.has('roCompat', RO_COMPAT_GDT_CSUM);
    const uuid = this.sbBytes.subarray(SUPERBLOCK.off.s_uuid, SUPERBLOCK.off.s_uuid + 16);
    for (let i = 0; i < nBlocks; i++) {
      const block = this.readBlock(this.descriptorBlock(i, perBlock), `group descriptor block ${i}`);
      for (let j = 0; j < perBlock && i * perBlock + j < this.groupCount; j++) {
        const g = i * perBlock + j;
        const d = block.subarray(j * this.descSize, (j + 1) * this.descSize);
        const stored = le16(d, GROUP_DESC_64.off.bg_checksum);
        if (this.metadataCsum && groupDescChecksum(this.csumSeed, g, d, this.descSize) !== stored) {
          throw corrupt(this.origin, `group descriptor ${g}: checksum does not match (metadata_csum)`);
        }
        if (!this.metadataCsum && gdtCsum && groupDescCrc16(uuid, g, d, this.descSize) !== stored) {
          throw corrupt(this.origin, `group descriptor ${g}: checksum does not match (uninit_bg)`);
        }
        this.descs.push(d);
      }
    }
  }

  private inodeTable(group: number): number {
    const d = this.descs[group]!;
    const lo = le32(d, GROUP_DESC_64.off.bg_inode_table_lo);
    const hi = this.descSize >= 64 ? le32(d, GROUP_DESC_64.off.bg_inode_table_hi) : 0;
    return hi * 0x100000000 + lo;
  }

  // ---- journal --------------------------------------------------------------------------------

  private recover(): void {
    if (!this.has('incompat', INCOMPAT_RECOVER)) return;
    const o = this.origin;
    if (!this.has('compat', COMPAT_HAS_JOURNAL) || this.sb.s_journal_inum === 0) {
      throw new ExtimgError('EFORMAT', `${o}: needs recovery from an external journal; run e2fsck -fy first`, { path: o });
    }
    const j = this.inode(this.sb.s_journal_inum);
    const runs = this.blockMap(j);
    const bs = this.blockSize;
    const blocks = Math.floor(j.size / bs);
    const lookup = (n: number): number => {
      for (const r of runs) if (n >= r.logical && n < r.logical + r.count) return r.physical + (n - r.logical);
      throw corrupt(o, `journal block ${n} is not mapped`);
    };
    const result = replayJournal(
      {
        blockSize: bs,
        blocks,
        read: (n: number): Uint8Array => {
          if (n < 0 || n >= blocks) throw corrupt(o, `journal: block ${n} is past the journal's end`);
          return this.readBlock(lookup(n), `journal block ${n}`);
        },
      },
      o,
    );
    for (const [blk] of result.blocks) this.checkBlock(blk, 'the journal');
    this.overlay = result.blocks;
    (this as { journalReplayed: number }).journalReplayed = result.transactions;
    if (result.transactions > 0) this.warn(`${o}: needs recovery: ${result.transactions} journal transaction${result.transactions === 1 ? '' : 's'} replayed in memory (the image is not changed)`);
    // The superblock itself may have been journalled.
    const sbBlock = this.overlay.get(this.blockSize === 1024 ? 1 : 0);
    if (sbBlock) {
      const fresh = sbBlock.slice(this.blockSize === 1024 ? 0 : 1024, this.blockSize === 1024 ? 1024 : 2048);
      if (le16(fresh, SUPERBLOCK.off.s_magic) === 0xef53) {
        const n = SUPERBLOCK.decode(fresh);
        if (n.s_blocks_count_lo !== this.sb.s_blocks_count_lo || n.s_blocks_count_hi !== this.sb.s_blocks_count_hi || n.s_inodes_count !== this.sb.s_inodes_count) {
          throw new ExtimgError('EFORMAT', `${o}: the journal holds a resize of the filesystem; needs recovery: run e2fsck -fy first`, { path: o });
        }
        this.sbBytes.set(fresh);
        (this as { sb: ReturnType<typeof SUPERBLOCK.decode> }).sb = SUPERBLOCK.decode(this.sbBytes);
      }
    }
    this.descs.length = 0;
    this.loadDescriptors();
  }

  // ---- inodes ---------------------------------------------------------------------------------

  /** Inode `ino`, decoded; its checksum verified with metadata_csum. */
  inode(ino: number): Inode {
    const o = this.origin;
    if (!Number.isSafeInteger(ino) || ino < 1 || ino > this.inodesCount) throw corrupt(o, `inode ${ino} is out of range (1..${this.inodesCount})`);
    const g = Math.floor((ino - 1) / this.inodesPerGroup);
    const index = (ino - 1) % this.inodesPerGroup;
    const byteInTable = index * this.inodeSize;
    const block = this.inodeTable(g) + Math.floor(byteInTable / this.blockSize);
    this.checkBlock(block, `inode ${ino}'s table`);
    const raw = new Uint8Array(this.inodeSize);
    this.readData(block, byteInTable % this.blockSize, raw);
    if (this.metadataCsum) {
      const stored = storedInodeChecksum(raw, this.inodeSize);
      const want = inodeChecksumStored(this.csumSeed, ino, raw, this.inodeSize);
      if (stored !== want && !raw.every((b) => b === 0)) throw corrupt(o, `inode ${ino}: checksum does not match (metadata_csum)`);
    }
    const extraIsize = this.inodeSize > 128 ? le16(raw, IN.i_extra_isize) : 0;
    if (this.inodeSize > 128 && (128 + extraIsize > this.inodeSize || extraIsize % 4 !== 0)) throw corrupt(o, `inode ${ino}: i_extra_isize ${extraIsize} is out of range`);
    const fits = (field: number, size = 4): boolean => this.inodeSize > 128 && field + size <= 128 + extraIsize;
    const t = (base: number, extra: number): Timestamp => decodeTime(le32(raw, base), fits(extra) ? le32(raw, extra) : undefined);
    const flags = le32(raw, IN.i_flags);
    let blocks512 = le32(raw, IN.i_blocks);
    if (this.has('roCompat', RO_COMPAT_HUGE_FILE)) {
      blocks512 += le16(raw, IN.l_i_blocks_hi) * 0x100000000;
      if (flags & EXT4_HUGE_FILE_FL) blocks512 *= this.blockSize / 512;
    }
    const inode: Inode = {
      ino,
      mode: le16(raw, IN.i_mode),
      uid: le16(raw, IN.i_uid) | (le16(raw, IN.l_i_uid_high) << 16),
      gid: le16(raw, IN.i_gid) | (le16(raw, IN.l_i_gid_high) << 16),
      size: le32(raw, IN.i_size) + le32(raw, IN.i_size_high) * 0x100000000,
      links: le16(raw, IN.i_links_count),
      flags,
      generation: le32(raw, IN.i_generation),
      atime: t(IN.i_atime, IN.i_atime_extra),
      ctime: t(IN.i_ctime, IN.i_ctime_extra),
      mtime: t(IN.i_mtime, IN.i_mtime_extra),
      ...(fits(IN.i_crtime_extra) ? { crtime: t(IN.i_crtime, IN.i_crtime_extra) } : {}),
      blocks512,
      fileAcl: le32(raw, IN.i_file_acl) + le16(raw, IN.l_i_file_acl_high) * 0x100000000,
      iBlock: raw.subarray(IN.i_block, IN.i_block + 60),
      raw,
      extraIsize,
    };
    (inode as { uid: number }).uid >>>= 0;
    (inode as { gid: number }).gid >>>= 0;
    if (!Number.isSafeInteger(inode.size) || inode.size > this.blocksCount * this.blockSize * 2 ** 20) throw corrupt(o, `inode ${ino}: size ${inode.size} is absurd`);
    if (flags & EXT4_ENCRYPT_FL) throw new ExtimgError('EFORMAT', `${o}: inode ${ino} is encrypted (fscrypt); extimg cannot read it`, { path: o });
    return inode;
  }

  private inodeSeed(i: Inode): number {
    return inodeChecksumSeed(this.csumSeed, i.ino, i.generation);
  }

  // ---- block maps -----------------------------------------------------------------------------

  /**
   * Where inode `i`'s blocks are, in logical order (holes and uninitialized extents left out).
   * Only blocks below the file's size are returned for block-mapped files.
   */
  blockMap(i: Inode): Run[] {
    if (i.flags & EXT4_INLINE_DATA_FL) return [];
    return i.flags & EXT4_EXTENTS_FL ? this.extentMap(i) : this.indirectMap(i);
  }

  private extentMap(i: Inode): Run[] {
    const o = this.origin;
    const out: Run[] = [];
    const seen = new Set<number>();
    const seed = this.metadataCsum ? this.inodeSeed(i) : 0;
    let next = 0; // the first logical block the next extent may start at
    const walk = (node: Uint8Array, depthWanted: number | undefined, where: string): void => {
      const h = EXTENT_HEADER.decode(node);
      if (h.eh_magic !== EXT4_EXT_MAGIC) throw corrupt(o, `inode ${i.ino}: ${where}: no extent header magic`);
      const capacity = Math.floor((node.length - EXTENT_HEADER.size) / EXTENT.size);
      if (h.eh_max > capacity || h.eh_entries > h.eh_max) throw corrupt(o, `inode ${i.ino}: ${where}: ${h.eh_entries} of ${h.eh_max} extents do not fit`);
      if (h.eh_depth > EXT4_MAX_EXTENT_DEPTH || (depthWanted !== undefined && h.eh_depth !== depthWanted)) throw corrupt(o, `inode ${i.ino}: ${where}: extent tree depth ${h.eh_depth} is wrong`);
      const dv = new DataView(node.buffer, node.byteOffset, node.byteLength);
      for (let k = 0; k < h.eh_entries; k++) {
        const at = EXTENT_HEADER.size + k * EXTENT.size;
        if (h.eh_depth === 0) {
          const logical = EXTENT.get(dv, at, 'ee_block');
          let len = EXTENT.get(dv, at, 'ee_len');
          const uninit = len > 32768;
          if (uninit) len -= 32768;
          const physical = EXTENT.get(dv, at, 'ee_start_hi') * 0x100000000 + EXTENT.get(dv, at, 'ee_start_lo');
          if (len === 0 || logical < next) throw corrupt(o, `inode ${i.ino}: ${where}: extent ${k} (logical ${logical}) overlaps or is out of order`);
          if (physical + len > this.blocksCount || physical === 0) throw corrupt(o, `inode ${i.ino}: ${where}: extent ${k} points to blocks ${physical}..${physical + len - 1}, past the end of the filesystem`);
          next = logical + len;
          if (!uninit) {
            const last = out[out.length - 1];
            if (last && last.logical + last.count === logical && last.physical + last.count === physical) last.count += len;
            else out.push({ logical, physical, count: len });
          }
        } else {
          const leaf = EXTENT_IDX.get(dv, at, 'ei_leaf_hi') * 0x100000000 + EXTENT_IDX.get(dv, at, 'ei_leaf_lo');
          if (seen.has(leaf)) throw corrupt(o, `inode ${i.ino}: extent tree block ${leaf} is referenced twice (a loop)`);
          seen.add(leaf);
          const child = this.readBlock(leaf, `inode ${i.ino}'s extent tree`);
          if (this.metadataCsum) {
            const ch = EXTENT_HEADER.decode(child);
            if (ch.eh_magic === EXT4_EXT_MAGIC && ch.eh_max <= capacityOf(child) && extentBlockChecksum(seed, child) !== storedExtentBlockChecksum(child)) {
              throw corrupt(o, `inode ${i.ino}: extent tree block ${leaf}: checksum does not match (metadata_csum)`);
            }
          }
          walk(child, h.eh_depth - 1, `extent tree block ${leaf}`);
        }
      }
    };
    walk(i.iBlock, undefined, 'extent root');
    return out;
  }

  private indirectMap(i: Inode): Run[] {
    const o = this.origin;
    const bs = this.blockSize;
    const per = bs / 4;
    const want = Math.ceil(i.size / bs);
    const out: Run[] = [];
    const seen = new Set<number>();
    const push = (logical: number, physical: number): void => {
      if (physical === 0) return;
      this.checkBlock(physical, `inode ${i.ino}'s block ${logical}`);
      const last = out[out.length - 1];
      if (last && last.logical + last.count === logical && last.physical + last.count === physical) last.count++;
      else out.push({ logical, physical, count: 1 });
    };
    for (let k = 0; k < 12 && k < want; k++) push(k, le32(i.iBlock, k * 4));
    const level = (ptr: number, depth: number, first: number, span: number): void => {
      if (ptr === 0 || first >= want) return;
      if (seen.has(ptr)) throw corrupt(o, `inode ${i.ino}: indirect block ${ptr} is referenced twice (a loop)`);
      seen.add(ptr);
      const b = this.readBlock(ptr, `inode ${i.ino}'s indirect block`);
      const sub = span / per;
      for (let k = 0; k < per; k++) {
        const logical = first + k * sub;
        if (logical >= want) break;
        const p = le32(b, k * 4);
        if (depth === 1) push(logical, p);
        else level(p, depth - 1, logical, sub);
      }
    };
    level(le32(i.iBlock, 48), 1, 12, per);
    level(le32(i.iBlock, 52), 2, 12 + per, per * per);
    level(le32(i.iBlock, 56), 3, 12 + per + per * per, per * per * per);
    return out;
  }

  // ---- contents -------------------------------------------------------------------------------

  /** A file's bytes [position, position + into.length), holes as zeros. */
  readFile(i: Inode, runs: readonly Run[], position: number, into: Uint8Array): void {
    if (i.flags & EXT4_INLINE_DATA_FL) {
      const data = this.inlineData(i);
      into.fill(0);
      into.set(data.subarray(Math.min(position, data.length), Math.min(position + into.length, data.length)));
      return;
    }
    into.fill(0);
    const bs = this.blockSize;
    const end = position + into.length;
    for (const r of runs) {
      const a = Math.max(position, r.logical * bs);
      const b = Math.min(end, (r.logical + r.count) * bs);
      if (a >= b) continue;
      this.readData(r.physical, a - r.logical * bs, into.subarray(a - position, b - position));
    }
  }

  /** The whole (small) content of an inode: symlink targets, directories, xattr inodes. */
  contents(i: Inode, limit: number, what: string): Uint8Array {
    if (i.size > limit) throw corrupt(this.origin, `inode ${i.ino}: ${what} of ${i.size} bytes is larger than ${limit}`);
    const out = new Uint8Array(i.size);
    this.readFile(i, this.blockMap(i), 0, out);
    return out;
  }

  /** Inline data: the 60 bytes of i_block, then the system.data xattr's value. */
  inlineData(i: Inode): Uint8Array {
    const extra = this.ibodyXattrs(i).find((x) => x.index === 7 && x.name.length === 4 && String.fromCharCode(...x.name) === 'data');
    const head = i.iBlock;
    const all = new Uint8Array(60 + (extra?.value.length ?? 0));
    all.set(head);
    if (extra) all.set(extra.value, 60);
    return all.subarray(0, Math.min(all.length, i.size));
  }

  /** A symlink's target. */
  readLink(i: Inode): Uint8Array {
    const o = this.origin;
    if (i.size === 0) throw corrupt(o, `inode ${i.ino}: a symlink with an empty target`);
    if (i.flags & EXT4_INLINE_DATA_FL) return this.inlineData(i).slice();
    const eaBlocks = i.fileAcl ? this.blockSize / 512 : 0;
    if (!(i.flags & EXT4_EA_INODE_FL) && i.blocks512 - eaBlocks === 0) {
      if (i.size >= 60) throw corrupt(o, `inode ${i.ino}: a fast symlink of ${i.size} bytes (at most 59)`);
      return i.iBlock.slice(0, i.size);
    }
    return this.contents(i, this.blockSize, 'symlink target');
  }

  /** Device numbers of a character or block device (old 8:8 in i_block[0], else new in i_block[1]). */
  device(i: Inode): { major: number; minor: number } {
    const old = le32(i.iBlock, 0);
    if (old !== 0) return { major: (old >>> 8) & 0xff, minor: old & 0xff };
    const n = le32(i.iBlock, 4);
    return { major: (n & 0xfff00) >>> 8, minor: (n & 0xff) | ((n >>> 12) & 0xfff00) };
  }

  // ---- directories ----------------------------------------------------------------------------

  /**
   * A directory's entries other than '.' and '..', in on-disk order. `claimed`: blocks earlier
   * directories of the same walk used; a block used twice (extents of a hostile image pointing
   * at the same blocks again and again) is refused rather than read into millions of entries.
   */
  readDir(i: Inode, claimed?: Set<number>): DirEntry[] {
    const o = this.origin;
    const out: DirEntry[] = [];
    if (i.flags & EXT4_INLINE_DATA_FL) {
      const data = this.inlineData(i);
      // The parent's inode number, then entries in the rest of i_block and in system.data.
      this.parseDirents(i, data.subarray(4, Math.min(60, data.length)), out, 'inline data');
      if (data.length > 60) this.parseDirents(i, data.subarray(60), out, 'inline data (system.data)');
      return out;
    }
    const bs = this.blockSize;
    if (i.size % bs !== 0) throw corrupt(o, `inode ${i.ino}: a directory of ${i.size} bytes (not whole blocks)`);
    if (i.size > 0x80000000) throw corrupt(o, `inode ${i.ino}: a directory of ${i.size} bytes`);
    const runs = this.blockMap(i);
    const seed = this.metadataCsum ? this.inodeSeed(i) : 0;
    const indexed = (i.flags & EXT4_INDEX_FL) !== 0;
    for (const r of runs) {
      for (let k = 0; k < r.count; k++) {
        const logical = r.logical + k;
        if (logical * bs >= i.size) break;
        const physical = r.physical + k;
        if (claimed) {
          if (claimed.has(physical)) throw corrupt(o, `directory inode ${i.ino}: block ${physical} belongs to another directory too (or twice to this one)`);
          claimed.add(physical);
        }
        const block = this.readBlock(physical, `directory inode ${i.ino}`);
        const where = `directory inode ${i.ino}, block ${physical}`;
        const dxNode = indexed && (logical === 0 || (le32(block, 0) === 0 && recLenAt(block, 0) === bs));
        if (this.metadataCsum) {
          if (dxNode) {
            // An htree node's tail follows its dx entries; the bytes at the block's end may be a
            // stale dirent tail from before the directory was indexed (the kernel leaves it).
            const c = dxCountOffset(block);
            if (c + 4 <= bs && dxTailOffset(block, c) + 8 <= bs && dxNodeChecksum(seed, block, c) !== storedDxNodeChecksum(block, c)) {
              throw corrupt(o, `${where}: htree node checksum does not match (metadata_csum)`);
            }
          } else if (hasDirEntryTail(block) && direntsEndAtTail(block)) {
            if (dirBlockChecksum(seed, block) !== storedDirBlockChecksum(block)) throw corrupt(o, `${where}: checksum does not match (metadata_csum)`);
          }
        }
        this.parseDirents(i, block, out, `block ${physical}`);
      }
    }
    return out;
  }

  private parseDirents(i: Inode, block: Uint8Array, out: DirEntry[], where: string): void {
    const o = this.origin;
    let at = 0;
    while (at < block.length) {
      if (block.length - at < 8) {
        if (block.subarray(at).every((b) => b === 0)) break;
        throw corrupt(o, `directory inode ${i.ino}, ${where}: a directory entry at byte ${at} is cut off`);
      }
      const ino = le32(block, at);
      const recLen = recLenAt(block, at);
      const nameLen = block[at + 6]!;
      const fileType = this.filetype ? block[at + 7]! : 0;
      if (recLen < 8 || recLen % 4 !== 0 || at + recLen > block.length || (ino !== 0 && 8 + nameLen > recLen)) {
        throw corrupt(o, `directory inode ${i.ino}, ${where}: directory entry at byte ${at} has rec_len ${recLen}`);
      }
      if (ino !== 0) {
        const name = block.slice(at + 8, at + 8 + nameLen);
        if (nameLen === 0) throw corrupt(o, `directory inode ${i.ino}, ${where}: an entry with an empty name`);
        const dot = nameLen === 1 && name[0] === 0x2e;
        const dotdot = nameLen === 2 && name[0] === 0x2e && name[1] === 0x2e;
        if (!dot && !dotdot) {
          if (name.includes(0x2f) || name.includes(0)) throw corrupt(o, `directory inode ${i.ino}, ${where}: an entry name contains '/' or NUL`);
          out.push({ name, ino, fileType });
        }
      }
      at += recLen;
    }
  }

  // ---- xattrs ---------------------------------------------------------------------------------

  private ibodyXattrs(i: Inode): RawXattr[] {
    if (this.inodeSize <= 128) return [];
    const start = 128 + i.extraIsize;
    if (start + 4 > this.inodeSize || le32(i.raw, start) !== 0xea020000) return [];
    return this.parseXattrEntries(i.raw.subarray(start + 4), 0, `inode ${i.ino}'s in-inode xattrs`, i.raw.subarray(start + 4));
  }

  private parseXattrEntries(region: Uint8Array, first: number, where: string, values: Uint8Array): RawXattr[] {
    const o = this.origin;
    const out: RawXattr[] = [];
    let at = first;
    while (at + 4 <= region.length && le32(region, at) !== 0) {
      if (at + 16 > region.length) throw corrupt(o, `${where}: an entry at byte ${at} is cut off`);
      const nameLen = region[at]!;
      const index = region[at + 1]!;
      const valueOffs = le16(region, at + 2);
      const valueInum = le32(region, at + 4);
      const valueSize = le32(region, at + 8);
      if (at + 16 + nameLen > region.length) throw corrupt(o, `${where}: an entry name at byte ${at} is cut off`);
      const name = region.slice(at + 16, at + 16 + nameLen);
      let value: Uint8Array;
      if (valueInum !== 0) {
        const vi = this.inode(valueInum);
        if (!(vi.flags & EXT4_EA_INODE_FL)) throw corrupt(o, `${where}: value inode ${valueInum} is not an xattr inode`);
        if (vi.size !== valueSize) throw corrupt(o, `${where}: value inode ${valueInum} holds ${vi.size} bytes, not ${valueSize}`);
        // XATTR_SIZE_MAX: the kernel's limit on a value, in an xattr inode or not.
        value = this.contents(vi, 65536, 'xattr value');
      } else {
        if (valueOffs + valueSize > values.length) throw corrupt(o, `${where}: a value at ${valueOffs} (${valueSize} bytes) is out of bounds`);
        value = values.slice(valueOffs, valueOffs + valueSize);
      }
      out.push({ index, name, value });
      at += (16 + nameLen + 3) & ~3;
    }
    return out;
  }

  private blockXattrs(i: Inode): RawXattr[] {
    if (i.fileAcl === 0) return [];
    const o = this.origin;
    const b = this.readBlock(i.fileAcl, `inode ${i.ino}'s xattr block`);
    const where = `inode ${i.ino}'s xattr block ${i.fileAcl}`;
    if (le32(b, 0) !== 0xea020000) throw corrupt(o, `${where}: no xattr header magic`);
    if (le32(b, 8) !== 1) throw corrupt(o, `${where}: h_blocks is ${le32(b, 8)}, not 1`);
    if (this.metadataCsum) {
      if (xattrBlockChecksum(this.csumSeed, i.fileAcl, b) !== storedXattrBlockChecksum(b)) throw corrupt(o, `${where}: checksum does not match (metadata_csum)`);
    }
    return this.parseXattrEntries(b, 32, where, b);
  }

  /** The inode's xattrs by full name (ACLs converted to the xattr form getfattr shows). */
  xattrs(i: Inode): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    for (const x of [...this.ibodyXattrs(i), ...this.blockXattrs(i)]) {
      const name = xattrName(x);
      if (name === undefined) {
        this.warn(`${this.origin}: inode ${i.ino}: xattr with name index ${x.index} ('${latin1(x.name)}') has no name extimg knows; left out`);
        continue;
      }
      if (name === 'system.data') continue; // inline data, not an attribute
      out.set(name, x.index === 2 || x.index === 3 ? aclFromDisk(x.value, `${this.origin}: inode ${i.ino}`) : x.value);
    }
    return out;
  }

  /** Free/used summary for `image info`. */
  summary(): Record<string, string | number> {
    const sb = this.sb;
    const s: Record<string, string | number> = {};
    s['Filesystem volume name'] = cString(sb.s_volume_name) || '<none>';
    s['Filesystem UUID'] = formatUuid(sb.s_uuid);
    s['Filesystem features'] = [
      ...featureNamesOf('compat', sb.s_feature_compat),
      ...featureNamesOf('incompat', sb.s_feature_incompat),
      ...featureNamesOf('roCompat', sb.s_feature_ro_compat),
    ].join(' ');
    s['Inode count'] = sb.s_inodes_count;
    s['Block count'] = this.blocksCount;
    s['Free blocks'] = sb.s_free_blocks_count_lo + (this.descSize >= 64 ? sb.s_free_blocks_count_hi * 0x100000000 : 0);
    s['Free inodes'] = sb.s_free_inodes_count;
    s['Block size'] = this.blockSize;
    s['Inode size'] = this.inodeSize;
    s['Blocks per group'] = sb.s_blocks_per_group;
    s['Inodes per group'] = sb.s_inodes_per_group;
    s['Group count'] = this.groupCount;
    s['Default directory hash'] = ['legacy', 'half_md4', 'tea'][sb.s_def_hash_version % 3] ?? String(sb.s_def_hash_version);
    s['Directory Hash Seed'] = formatUuid(sb.s_hash_seed);
    return s;
  }
}

interface RawXattr {
  index: number;
  name: Uint8Array;
  value: Uint8Array;
}

const XATTR_PREFIX: Readonly<Record<number, string>> = {
  1: 'user.',
  2: 'system.posix_acl_access',
  3: 'system.posix_acl_default',
  4: 'trusted.',
  6: 'security.',
  7: 'system.',
  8: 'system.richacl',
};

function latin1(b: Uint8Array): string {
  let s = '';
  for (const c of b) s += String.fromCharCode(c);
  return s;
}

function xattrName(x: RawXattr): string | undefined {
  const p = XATTR_PREFIX[x.index];
  if (p === undefined) return undefined;
  return p + new TextDecoder().decode(x.name);
}

/** ext4's compact ACL (version 1, 4-byte entries for the owner/group/mask/other tags) to the xattr form (version 2, 8-byte entries). */
export function aclFromDisk(v: Uint8Array, where: string): Uint8Array {
  if (v.length < 4 || le32(v, 0) !== 1) throw new ExtimgError('ECORRUPT', `${where}: a POSIX ACL that is not in ext4's form (version 1)`, {});
  const entries: Array<[number, number, number]> = [];
  let at = 4;
  while (at < v.length) {
    if (at + 4 > v.length) throw new ExtimgError('ECORRUPT', `${where}: a POSIX ACL entry is cut off`, {});
    const tag = le16(v, at);
    const perm = le16(v, at + 2);
    if (tag === 0x02 || tag === 0x08) {
      if (at + 8 > v.length) throw new ExtimgError('ECORRUPT', `${where}: a POSIX ACL entry is cut off`, {});
      entries.push([tag, perm, le32(v, at + 4)]);
      at += 8;
    } else {
      entries.push([tag, perm, 0xffffffff]);
      at += 4;
    }
  }
  const out = new Uint8Array(4 + 8 * entries.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 2, true);
  entries.forEach(([tag, perm, id], k) => {
    dv.setUint16(4 + 8 * k, tag, true);
    dv.setUint16(6 + 8 * k, perm, true);
    dv.setUint32(8 + 8 * k, id, true);
  });
  return out;
}

function recLenAt(block: Uint8Array, at: number): number {
  const len = le16(block, at + 4);
  if (block.length >= 65536 && (len === 65535 || len === 0)) return 65536;
  return len;
}

/** Whether walking the block's dirents lands exactly on the tail's place (e2fsprogs __get_dirent_tail). */
function direntsEndAtTail(block: Uint8Array): boolean {
  const end = block.length - 12;
  let at = 0;
  while (at < end) {
    const len = recLenAt(block, at);
    if (len < 8 || len % 4 !== 0) return false;
    at += len;
  }
  return at === end;
}

function capacityOf(block: Uint8Array): number {
  return Math.floor((block.length - EXTENT_HEADER.size) / EXTENT.size);
}

function bits(x: number): number {
  let n = 0;
  for (let v = x >>> 0; v; v &= v - 1) n++;
  return n;
}

function corrupt(origin: string, what: string): ExtimgError {
  return new ExtimgError('ECORRUPT', `${origin}: ${what}`, { path: origin });
}

export function cString(b: Uint8Array): string {
  const end = b.indexOf(0);
  return new TextDecoder().decode(end === -1 ? b : b.subarray(0, end));
}


export { ROOT_INO, JOURNAL_INO, INODE_LARGE };
