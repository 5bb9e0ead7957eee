import { ExtimgError } from '../errors.js';
import type { ImageSink } from '../io/sink.js';
import type { Timestamp } from '../tree/node.js';
import type { Tree } from '../tree/tree.js';
import { Bitmap } from './bitmap.js';
import { buildBlockMap, type Allocator, type BlockMap } from './blockmap.js';
import {
  COMPAT_DIR_INDEX,
  COMPAT_EXT_ATTR,
  COMPAT_HAS_JOURNAL,
  COMPAT_RESIZE_INODE,
  EXT2_DIND_BLOCK,
  EXT2_FIRST_INO,
  EXT2_JOURNAL_INO,
  EXT2_RESIZE_INO,
  EXT2_ROOT_INO,
  INCOMPAT_FILETYPE,
  RO_COMPAT_LARGE_FILE,
  RO_COMPAT_SPARSE_SUPER,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFREG,
  S_IFSOCK,
} from './constants.js';
import { packDirectory } from './directory.js';
import { backupGroups, type Geometry } from './geometry.js';
import { encodeDevice, writeInode, type InodeFields } from './inode.js';
import { journalSuperblock } from './journal.js';
import type { BuildOptions, BuildResult, FsType } from './options.js';
import { BlockOutput } from './output.js';
import { FAST_SYMLINK_MAX, planTree, type PlannedInode, type TreePlan } from './plan.js';
import { chooseSizing } from './sizing.js';
import { EXT2_EXT_ATTR_REFCOUNT_MAX } from './xattr.js';
import { encodeGroupDescriptors, encodeSuperblock, type SuperblockInput } from './superblock.js';
import { derivedUuid, formatUuid, parseUuid, randomUuid } from './uuid.js';

const MIB = 1024 * 1024;
/** How much file data the writer copies between two pauses of buildImageAsync. */
const YIELD_BYTES = 32 * MIB;

interface Resolved {
  type: FsType;
  inodeSize: 128 | 256;
  reservedPercent: number;
  headroom: number;
  label: Uint8Array;
  labelText: string;
  fsTime: number;
  reproducible: boolean;
  resizeInode: boolean;
}

function resolve(options: BuildOptions): Resolved {
  const type = options.type ?? 'ext3';
  if (type !== 'ext2' && type !== 'ext3') throw new ExtimgError('EUSAGE', `filesystem type '${String(type)}' is not supported (ext2 or ext3)`, { type });
  const inodeSize = options.inodeSize ?? 256;
  if (inodeSize !== 128 && inodeSize !== 256) throw new ExtimgError('EUSAGE', `inode size ${String(inodeSize)} is not supported (128 or 256)`, { inodeSize });
  const reservedPercent = options.reservedPercent ?? 5;
  if (!(reservedPercent >= 0 && reservedPercent <= 50)) {
    throw new ExtimgError('EUSAGE', `reserved blocks percentage ${reservedPercent} out of range (0-50)`, { reservedPercent });
  }
  const headroom = options.headroom ?? 0.05;
  if (!(headroom >= 0 && headroom <= 100)) throw new ExtimgError('EUSAGE', `headroom ${headroom} out of range`, { headroom });
  const labelText = options.label ?? '';
  const label = new TextEncoder().encode(labelText);
  if (label.length > 16) throw new ExtimgError('EUSAGE', `label '${labelText}' is ${label.length} bytes, at most 16`, { label: labelText });
  const reproducible = options.timestamp !== undefined;
  const fsTime = reproducible ? options.timestamp! : Math.floor(Date.now() / 1000);
  if (!Number.isInteger(fsTime) || fsTime < 0 || fsTime > 0xffffffff) {
    throw new ExtimgError('EUSAGE', `timestamp ${String(options.timestamp)} out of range (0-4294967295 seconds)`, { timestamp: options.timestamp });
  }
  if (options.size !== undefined && !(Number.isSafeInteger(options.size) && options.size > 0)) {
    throw new ExtimgError('EUSAGE', `image size ${options.size} is not a positive whole number of bytes`, { size: options.size });
  }
  if (options.inodes !== undefined && !(Number.isSafeInteger(options.inodes) && options.inodes > 0 && options.inodes <= 0xffffffff)) {
    throw new ExtimgError('EUSAGE', `inode count ${options.inodes} out of range`, { inodes: options.inodes });
  }
  if (options.journalBlocks !== undefined) {
    if (type !== 'ext3') throw new ExtimgError('EUSAGE', 'a journal size only applies to ext3', {});
    if (!(Number.isSafeInteger(options.journalBlocks) && options.journalBlocks >= 1024 && options.journalBlocks <= 10240000)) {
      throw new ExtimgError('EUSAGE', `journal size ${options.journalBlocks} blocks out of range (1024-10240000)`, { journalBlocks: options.journalBlocks });
    }
  }
  return { type, inodeSize, reservedPercent, headroom, label, labelText, fsTime, reproducible, resizeInode: options.resizeInode ?? true };
}

/** mke2fs picks 1 KiB blocks below 512 MiB ("small" and "floppy" in mke2fs.conf), else 4 KiB. */
function defaultBlockSize(tree: Tree, options: BuildOptions): 1024 | 4096 {
  if (options.size !== undefined) return options.size < 512 * MIB ? 1024 : 4096;
  let bytes = 0;
  for (const [, node] of tree.walk()) bytes += node.kind === 'file' ? node.content.size + 1024 : 1024;
  return bytes < 448 * MIB ? 1024 : 4096;
}

/** The data area of every group, handed out front to back. */
class GroupAllocator implements Allocator {
  private g = 0;
  private next: number;
  constructor(
    private readonly geo: Geometry,
    private readonly bitmap: Bitmap,
  ) {
    this.next = geo.groups[0]!.dataStart;
  }
  allocate(max: number): { start: number; count: number } {
    const groups = this.geo.groups;
    while (this.next >= groups[this.g]!.end) {
      this.g++;
      if (this.g >= groups.length) throw new ExtimgError('ENOSPC', 'internal: ran out of blocks after sizing', {});
      this.next = groups[this.g]!.dataStart;
    }
    const start = this.next;
    const count = Math.min(max, groups[this.g]!.end - start);
    this.bitmap.setRange(start, count);
    this.next += count;
    return { start, count };
  }
}

/** Validate, plan and size, then hand back the writer's steps. */
function startBuild(tree: Tree, sink: ImageSink, options: BuildOptions): Generator<void, BuildResult> {
  const cfg = resolve(options);
  const blockSize = options.blockSize ?? defaultBlockSize(tree, options);
  if (![1024, 2048, 4096].includes(blockSize)) {
    throw new ExtimgError('EUSAGE', `block size ${String(blockSize)} is not supported (1024, 2048 or 4096)`, { blockSize });
  }
  const plan = planTree(tree, blockSize, options.inodeSize ?? 256);
  const sizing = chooseSizing({
    plan,
    blockSize,
    inodeSize: cfg.inodeSize,
    journal: cfg.type === 'ext3',
    journalBlocks: options.journalBlocks,
    resizeInode: cfg.resizeInode,
    size: options.size,
    inodes: options.inodes,
    headroom: cfg.headroom,
  });
  const geo = sizing.geometry;
  const resize = cfg.resizeInode && geo.reservedGdtBlocks > 0;

  const seed = `${cfg.fsTime}\0${cfg.type}\0${blockSize}\0${cfg.inodeSize}\0${geo.blocksCount}\0${geo.inodesCount}\0${cfg.labelText}`;
  const uuid = options.uuid ? parseUuid(options.uuid) : cfg.reproducible ? derivedUuid(`uuid\0${seed}`) : randomUuid();
  const hashSeed = options.hashSeed
    ? parseUuid(options.hashSeed, 'hash seed')
    : cfg.reproducible || options.uuid
      ? derivedUuid(`hash\0${seed}\0${formatUuid(uuid)}`)
      : randomUuid();

  const imageBytes = options.size ?? geo.blocksCount * blockSize;
  sink.setSize(imageBytes);

  const w = new ImageWriter(geo, plan, cfg, sink, options.onProgress);
  return w.write({ uuid, hashSeed, resize, journalBlocks: sizing.journalBlocks, imageBytes });
}

/**
 * Build an ext2/ext3 image of `tree` into `sink`. Everything is validated and sized before the
 * first byte goes to the sink.
 */
export function buildImage(tree: Tree, sink: ImageSink, options: BuildOptions = {}): BuildResult {
  const steps = startBuild(tree, sink, options);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * buildImage that lets the event loop run every few MiB written (a signal handler can then
 * abort the sink), and stops with the `signal`'s reason when it is aborted.
 */
export async function buildImageAsync(tree: Tree, sink: ImageSink, options: BuildOptions = {}, signal?: AbortSignal): Promise<BuildResult> {
  const steps = startBuild(tree, sink, options);
  for (;;) {
    signal?.throwIfAborted();
    const r = steps.next();
    if (r.done) return r.value;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

class ImageWriter {
  private readonly bs: number;
  private readonly apb: number;
  private readonly bitmap: Bitmap;
  private readonly alloc: GroupAllocator;
  private readonly out: BlockOutput;
  private readonly itable: Uint8Array;
  private readonly itableView: DataView;
  private readonly usedDirs: Uint32Array;
  private dataDone = 0;
  /** Shared xattr blocks by content: where, and how many inodes use it so far. */
  private readonly xattrBlocks = new Map<string, { physical: number; refcount: number; bytes: Uint8Array }>();
  private readonly xattrFull: Array<{ physical: number; refcount: number; bytes: Uint8Array }> = [];
  private lastProgress = 0;

  constructor(
    private readonly geo: Geometry,
    private readonly plan: TreePlan,
    private readonly cfg: Resolved,
    private readonly sink: ImageSink,
    private readonly onProgress?: (done: number, total: number) => void,
  ) {
    this.bs = geo.blockSize;
    this.apb = geo.blockSize / 4;
    this.bitmap = new Bitmap(geo.blocksCount - geo.firstDataBlock, geo.firstDataBlock);
    // Block 0 at 1 KiB blocks belongs to no group; mark group metadata in use.
    for (const g of geo.groups) this.bitmap.setRange(g.start, g.dataStart - g.start);
    this.alloc = new GroupAllocator(geo, this.bitmap);
    this.out = new BlockOutput(sink, this.bs);
    const inodesInUse = Math.max(plan.maxIno, EXT2_FIRST_INO);
    this.itable = new Uint8Array(inodesInUse * geo.inodeSize);
    this.itableView = new DataView(this.itable.buffer);
    this.usedDirs = new Uint32Array(geo.groupCount);
  }

  /**
   * Write the image. A generator: it pauses between inodes every YIELD_BYTES of data, so an
   * async caller can let the event loop run (signals, progress) during a long build; the sync
   * buildImage simply runs it to the end.
   */
  *write(p: { uuid: Uint8Array; hashSeed: Uint8Array; resize: boolean; journalBlocks: number; imageBytes: number }): Generator<void, BuildResult> {
    const { geo, cfg } = this;
    const fsTime: Timestamp = { sec: this.clampTime(cfg.fsTime), nsec: 0 };
    if (p.resize) this.writeResizeInode(fsTime);
    let jnlBlocks: Uint32Array | undefined;
    if (p.journalBlocks > 0) jnlBlocks = this.writeJournal(p.journalBlocks, p.uuid, fsTime);
    let nextYield = YIELD_BYTES;
    for (const ino of this.plan.inodes) {
      this.writeNode(ino, fsTime);
      if (this.dataDone >= nextYield) {
        nextYield = this.dataDone + YIELD_BYTES;
        yield;
      }
    }
    this.out.flush();
    this.writeXattrBlocks();

    // Per-group accounting from the bitmaps: the only source of truth for free counts.
    const ipg = geo.inodesPerGroup;
    const usedInodes = this.plan.maxIno;
    const freeBlocks: number[] = [];
    const freeInodes: number[] = [];
    for (const g of geo.groups) {
      freeBlocks.push(g.end - g.start - this.bitmap.countRange(g.start, g.end - g.start));
      const firstIno = g.index * ipg + 1;
      const usedHere = Math.max(0, Math.min(usedInodes, firstIno + ipg - 1) - firstIno + 1);
      freeInodes.push(ipg - usedHere);
    }
    this.writeBitmaps(usedInodes);
    this.writeInodeTables();

    const totalFreeBlocks = freeBlocks.reduce((a, b) => a + b, 0);
    const totalFreeInodes = freeInodes.reduce((a, b) => a + b, 0);
    const sb: SuperblockInput = {
      geo,
      freeBlocks: totalFreeBlocks,
      freeInodes: totalFreeInodes,
      reservedBlocks: Math.floor((geo.blocksCount * cfg.reservedPercent) / 100),
      time: fsTime.sec,
      uuid: p.uuid,
      hashSeed: p.hashSeed,
      label: cfg.label,
      compat: COMPAT_EXT_ATTR | COMPAT_DIR_INDEX | (p.resize ? COMPAT_RESIZE_INODE : 0) | (jnlBlocks ? COMPAT_HAS_JOURNAL : 0),
      incompat: INCOMPAT_FILETYPE,
      roCompat: RO_COMPAT_SPARSE_SUPER | RO_COMPAT_LARGE_FILE,
      reservedGdtBlocks: p.resize ? geo.reservedGdtBlocks : 0,
      journalInode: jnlBlocks ? EXT2_JOURNAL_INO : 0,
      jnlBlocks,
      journalBytes: p.journalBlocks * this.bs,
    };
    const gdt = encodeGroupDescriptors(geo, freeBlocks, freeInodes, this.usedDirs);
    for (const g of geo.groups) {
      if (!g.hasSuper) continue;
      const sbBytes = encodeSuperblock(sb, g.index);
      // The primary superblock is at byte 1024; backups start their group's first block.
      const sbOffset = g.index === 0 ? 1024 : g.start * this.bs;
      this.sink.write(sbOffset, sbBytes);
      this.sink.write(g.gdtStart * this.bs, gdt);
    }

    return {
      type: cfg.type,
      blockSize: this.bs,
      inodeSize: geo.inodeSize,
      bytes: p.imageBytes,
      blocksCount: geo.blocksCount,
      freeBlocks: totalFreeBlocks,
      usedBlocks: geo.blocksCount - totalFreeBlocks,
      inodesCount: geo.inodesCount,
      freeInodes: totalFreeInodes,
      groups: geo.groupCount,
      journalBlocks: p.journalBlocks,
      reservedGdtBlocks: p.resize ? geo.reservedGdtBlocks : 0,
      uuid: formatUuid(p.uuid),
      label: cfg.labelText,
    };
  }

  /** ext2/3 with 128-byte inodes keep 32-bit signed seconds; 256-byte ones up to 2446. */
  private clampTime(sec: number): number {
    if (this.geo.inodeSize === 128) return Math.max(-0x80000000, Math.min(0x7fffffff, sec));
    return Math.max(-0x80000000, Math.min(0x37fffffff, sec));
  }

  private time(t: Timestamp): Timestamp {
    if (this.geo.inodeSize > 128 && t.sec >= -0x80000000 && t.sec <= 0x37fffffff) return t;
    const sec = this.clampTime(t.sec);
    const nsec = this.geo.inodeSize === 128 || sec !== t.sec ? 0 : t.nsec;
    return { sec, nsec };
  }

  private putInode(ino: number, f: InodeFields): void {
    writeInode(this.itable, this.itableView, (ino - 1) * this.geo.inodeSize, this.geo.inodeSize, f);
  }

  /** Emit a block map's indirect blocks and hand each data run to `fill`, in disk order. */
  private emit(map: BlockMap, fill: (logical: number, physical: number, count: number) => void): void {
    const ind = map.indirect;
    let i = 0;
    const putIndirect = (blk: (typeof ind)[number]): void => {
      const dst = this.out.reserve(blk.physical, 1);
      const dv = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
      for (let k = 0; k < this.apb; k++) dv.setUint32(k * 4, blk.pointers[k]!, true);
    };
    for (const run of map.data) {
      while (i < ind.length && ind[i]!.physical < run.physical) putIndirect(ind[i++]!);
      fill(run.logical, run.physical, run.count);
    }
    while (i < ind.length) putIndirect(ind[i++]!);
  }

  private writeNode(p: PlannedInode, fsTime: Timestamp): void {
    const node = p.node;
    const meta = node.meta;
    let mtime = this.time(meta.mtime);
    let atime = this.time(meta.atime);
    let ctime = this.time(meta.ctime);
    if (this.cfg.reproducible) {
      // SOURCE_DATE_EPOCH: clamp, and derive atime/ctime so no host access time leaks in.
      if (mtime.sec > this.cfg.fsTime || (mtime.sec === this.cfg.fsTime && mtime.nsec > 0)) mtime = { sec: this.cfg.fsTime, nsec: 0 };
      atime = mtime;
      ctime = mtime;
    }
    // One fields object per node, filled in place (no spreads: this runs once per inode).
    const base: InodeFields = {
      mode: 0,
      uid: meta.uid,
      gid: meta.gid,
      size: p.size,
      atime,
      ctime,
      mtime,
      crtime: this.cfg.reproducible ? mtime : fsTime,
      links: p.links,
      // Every kind counts its blocks, the xattr block included: a fast symlink or a device with
      // an xattr block has i_blocks of exactly that block (ext4_inode_is_fast_symlink).
      blocks512: (p.blocks * this.bs) / 512,
      iBlock: undefined,
    };
    if (p.xattr) {
      base.xattrBody = p.xattr.inInode;
      if (p.xattr.block) base.fileAcl = this.shareXattrBlock(p.xattr.blockKey!, p.xattr.block);
    }
    const perm = meta.mode & 0o7777;
    const blocks512 = (p.blocks * this.bs) / 512;
    const group = Math.floor((p.ino - 1) / this.geo.inodesPerGroup);
    switch (node.kind) {
      case 'dir': {
        this.usedDirs[group]!++;
        const buf = new Uint8Array(p.dirBlocks! * this.bs);
        packDirectory(p.ino, p.parent!, p.entries!, this.bs, p.dirBlocks!, buf);
        const map = buildBlockMap(p.runs, this.apb, this.alloc);
        this.emit(map, (l, phys, n) => this.out.put(phys, buf.subarray(l * this.bs, (l + n) * this.bs)));
        base.mode = S_IFDIR | perm;
        base.blocks512 = blocks512;
        base.iBlock = map.iBlock;
        this.putInode(p.ino, base);
        break;
      }
      case 'file': {
        const map = buildBlockMap(p.runs, this.apb, this.alloc);
        if (map.data.length > 0) {
          const reader = node.content.open();
          try {
            this.emit(map, (l, phys, n) => this.copyData(reader, p, l, phys, n));
          } finally {
            reader.close();
          }
        } else this.emit(map, () => {});
        base.mode = S_IFREG | perm;
        base.blocks512 = blocks512;
        base.iBlock = map.iBlock;
        this.putInode(p.ino, base);
        break;
      }
      case 'symlink': {
        if (p.size <= FAST_SYMLINK_MAX) {
          const bytes = new Uint8Array(60);
          bytes.set(node.target);
          base.mode = S_IFLNK | 0o777;
          base.iBlockBytes = bytes;
          this.putInode(p.ino, base);
        } else {
          const map = buildBlockMap(p.runs, this.apb, this.alloc);
          this.emit(map, (_l, phys) => this.out.put(phys, node.target));
          base.mode = S_IFLNK | 0o777;
          base.blocks512 = blocks512;
          base.iBlock = map.iBlock;
          this.putInode(p.ino, base);
        }
        break;
      }
      case 'chr':
      case 'blk':
        base.mode = (node.kind === 'chr' ? S_IFCHR : S_IFBLK) | perm;
        base.iBlock = encodeDevice(node.major, node.minor);
        this.putInode(p.ino, base);
        break;
      case 'fifo':
      case 'socket':
        base.mode = (node.kind === 'fifo' ? S_IFIFO : S_IFSOCK) | perm;
        this.putInode(p.ino, base);
        break;
    }
  }

  /** The block for this xattr set: shared with earlier inodes, up to the kernel's refcount limit. */
  private shareXattrBlock(key: string, bytes: Uint8Array): number {
    let shared = this.xattrBlocks.get(key);
    if (!shared || shared.refcount >= EXT2_EXT_ATTR_REFCOUNT_MAX) {
      if (shared) this.xattrFull.push(shared);
      shared = { physical: this.alloc.allocate(1).start, refcount: 0, bytes };
      this.xattrBlocks.set(key, shared);
    }
    shared.refcount++;
    return shared.physical;
  }

  /** Written last: h_refcount is only known once every inode is placed. */
  private writeXattrBlocks(): void {
    for (const b of [...this.xattrFull, ...this.xattrBlocks.values()]) {
      const out = b.bytes.slice();
      new DataView(out.buffer).setUint32(4, b.refcount, true);
      this.sink.write(b.physical * this.bs, out);
    }
  }

  /** Copy logical blocks [l, l + n) of a file straight from its source into the output window. */
  private copyData(reader: { read(position: number, into: Uint8Array): void }, p: PlannedInode, l: number, phys: number, n: number): void {
    const bs = this.bs;
    const step = this.out.windowBlocks;
    for (let i = 0; i < n; i += step) {
      const c = Math.min(step, n - i);
      const dst = this.out.reserve(phys + i, c);
      const pos = (l + i) * bs;
      const len = Math.min(c * bs, p.size - pos);
      try {
        reader.read(pos, dst.subarray(0, len));
      } catch (e) {
        const origin = p.node.kind === 'file' ? (p.node.content.origin ?? p.path) : p.path;
        if (e instanceof ExtimgError) throw e;
        throw new ExtimgError('EIO', `${origin}: read failed at offset ${pos}: ${(e as Error).message}`, { path: p.path, offset: pos });
      }
      if (len < dst.length) dst.fill(0, len);
      this.dataDone += len;
      if (this.onProgress && this.dataDone - this.lastProgress >= 4 * MIB) {
        this.lastProgress = this.dataDone;
        this.onProgress(this.dataDone, this.plan.dataBytes);
      }
    }
  }

  private writeJournal(blocks: number, uuid: Uint8Array, fsTime: Timestamp): Uint32Array {
    const map = buildBlockMap([{ start: 0, count: blocks }], this.apb, this.alloc);
    const jsb = journalSuperblock(this.bs, blocks, uuid);
    // Only the journal superblock is non-zero; the rest stays a hole in the image file.
    this.emit(map, (l, phys) => {
      if (l === 0) this.out.put(phys, jsb);
    });
    this.putInode(EXT2_JOURNAL_INO, {
      mode: S_IFREG | 0o600,
      uid: 0,
      gid: 0,
      size: blocks * this.bs,
      atime: fsTime,
      ctime: fsTime,
      mtime: fsTime,
      crtime: fsTime,
      links: 1,
      blocks512: (map.totalBlocks * this.bs) / 512,
      iBlock: map.iBlock,
    });
    return map.iBlock;
  }

  /**
   * The resize inode (ext2fs_create_resize_inode): a DIND block whose slots, from desc_blocks
   * on, point at the reserved GDT blocks of group 0; each of those lists its copies in the
   * backup groups. Lets resize2fs grow the filesystem online.
   */
  private writeResizeInode(fsTime: Timestamp): void {
    const { geo, apb, bs } = this;
    const dind = this.alloc.allocate(1).start;
    const dindPtrs = new Uint32Array(apb);
    const backups = backupGroups(geo.groupCount);
    const sbBlock = geo.firstDataBlock;
    let count = 1;
    for (let r = 0; r < geo.reservedGdtBlocks; r++) {
      const gdtBlk = sbBlock + 1 + geo.descBlocks + r;
      dindPtrs[(geo.descBlocks + r) % apb] = gdtBlk;
      count++;
      const list = new Uint8Array(bs);
      const dv = new DataView(list.buffer);
      backups.forEach((g, k) => {
        dv.setUint32(k * 4, gdtBlk + g * geo.blocksPerGroup, true);
        count++;
      });
      this.sink.write(gdtBlk * bs, list);
    }
    const buf = new Uint8Array(bs);
    const dv = new DataView(buf.buffer);
    for (let k = 0; k < apb; k++) dv.setUint32(k * 4, dindPtrs[k]!, true);
    this.out.put(dind, buf);
    const iBlock = new Uint32Array(15);
    iBlock[EXT2_DIND_BLOCK] = dind;
    this.putInode(EXT2_RESIZE_INO, {
      mode: S_IFREG | 0o600,
      uid: 0,
      gid: 0,
      size: (apb * apb + apb + 12) * bs,
      atime: fsTime,
      ctime: fsTime,
      mtime: fsTime,
      crtime: fsTime,
      links: 1,
      blocks512: (count * bs) / 512,
      iBlock,
    });
  }

  private writeBitmaps(usedInodes: number): void {
    const { geo, bs } = this;
    const ipg = geo.inodesPerGroup;
    for (const g of geo.groups) {
      const bb = new Uint8Array(bs);
      const n = g.end - g.start;
      // Groups start on a byte boundary of the bitmap (it is based at s_first_data_block).
      const from = (g.start - geo.firstDataBlock) >> 3;
      bb.set(this.bitmap.bits.subarray(from, from + Math.ceil(n / 8)));
      // Bits past the end of a short last group are set, as e2fsck expects.
      for (let i = n; i < bs * 8; i++) bb[i >> 3]! |= 1 << (i & 7);
      this.sink.write(g.blockBitmap * bs, bb);

      const ib = new Uint8Array(bs);
      const first = g.index * ipg + 1;
      const usedHere = Math.max(0, Math.min(usedInodes, first + ipg - 1) - first + 1);
      for (let i = 0; i < usedHere; i++) ib[i >> 3]! |= 1 << (i & 7);
      for (let i = ipg; i < bs * 8; i++) ib[i >> 3]! |= 1 << (i & 7);
      this.sink.write(g.inodeBitmap * bs, ib);
    }
  }

  private writeInodeTables(): void {
    const { geo, bs } = this;
    const perGroupBytes = geo.inodesPerGroup * geo.inodeSize;
    for (const g of geo.groups) {
      const from = g.index * perGroupBytes;
      if (from >= this.itable.length) break;
      const slice = this.itable.subarray(from, Math.min(this.itable.length, from + perGroupBytes));
      // Whole blocks only; an unused tail of the table stays zero (a hole).
      const out = new Uint8Array(Math.ceil(slice.length / bs) * bs);
      out.set(slice);
      this.sink.write(g.inodeTable * bs, out);
    }
  }
}
