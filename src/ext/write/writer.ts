import { ExtimgError } from '../../errors.js';
import type { ImageSink } from '../../io/sink.js';
import type { Timestamp } from '../../tree/node.js';
import type { Tree } from '../../tree/tree.js';
import { inodeChecksumSeed, setDirBlockChecksum, setDxNodeChecksum, uuidChecksumSeed } from '../checksum.js';
import { EXT2_JOURNAL_INO, EXT2_RESIZE_INO, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG, S_IFSOCK } from '../constants.js';
import { packDirectory } from '../directory.js';
import { typeOfFeatures } from '../features.js';
import type { Geometry } from '../geometry.js';
import { encodeHtree } from '../htree.js';
import { EXT4_EXTENTS_FL, EXT4_INDEX_FL, encodeDevice, type InodeFields } from '../inode.js';
import type { BuildOptions, BuildResult } from '../options.js';
import { derivedUuid, formatUuid, randomUuid } from '../uuid.js';
import { resolveConfig, type Config } from './config.js';
import { finishImage } from './finish.js';
import { InodeTable } from './inode-table.js';
import { emitMapping } from './emit.js';
import { writeJournal } from './journal.js';
import { writeResizeInode } from './resize-inode.js';
import { writeXattrBlocks } from './xattr-blocks.js';
import { BlockOutput } from './output.js';
import type { Mapping, Placement, XattrBlock } from './place.js';
import { FAST_SYMLINK_MAX, planTree, type PlannedInode, type TreePlan } from './plan.js';
import { chooseSizing, type Sizing } from './size.js';

const MIB = 1024 * 1024;
/** How much file data the writer copies between two pauses of buildImageAsync. */
const YIELD_BYTES = 32 * MIB;

/**
 * Build an ext2/3/4 image: resolve the options (config.ts), plan the tree (plan.ts), choose the
 * size by placing every block (size.ts, place.ts), then write: the resize inode and journal,
 * each inode's data, directories and map blocks, the xattr blocks, and finally bitmaps, inode
 * tables, descriptors and superblocks (finish.ts). Nothing reaches the sink before sizing is
 * done, so a refused build writes nothing.
 */
function startBuild(tree: Tree, sink: ImageSink, options: BuildOptions): Generator<void, BuildResult> {
  const cfg = resolveConfig(tree, options);
  const plan = planTree(tree, { blockSize: cfg.blockSize, inodeSize: cfg.inodeSize, features: cfg.features, htree: cfg.htree, hashSeed: cfg.hashSeed });
  const sizing = chooseSizing({
    plan,
    features: cfg.features,
    blockSize: cfg.blockSize,
    inodeSize: cfg.inodeSize,
    journalBlocks: options.journalBlocks,
    size: options.size,
    inodes: options.inodes,
    headroom: cfg.headroom,
  });
  const geo = sizing.geometry;
  const seed = `${cfg.fsTime}\0${cfg.type}\0${cfg.blockSize}\0${cfg.inodeSize}\0${geo.blocksCount}\0${geo.inodesCount}\0${cfg.labelText}`;
  const uuid = cfg.uuidOption ?? (cfg.reproducible ? derivedUuid(`uuid\0${seed}`) : randomUuid());
  const imageBytes = options.size ?? geo.blocksCount * cfg.blockSize;
  sink.setSize(imageBytes);
  return new ImageWriter(geo, plan, sizing, cfg, sink, uuid, options.onProgress).write(imageBytes);
}

/**
 * Build an ext2/ext3/ext4 image of `tree` into `sink`. Everything is validated and sized before
 * the first byte goes to the sink.
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
  private readonly out: BlockOutput;
  private readonly itable: InodeTable;
  private readonly usedDirs: Uint32Array;
  private readonly placement: Placement;
  /** metadata_csum: crc32c of the UUID, the seed of every checksum. */
  private readonly csumSeed: number | undefined;
  private readonly extentsFlag: number;
  private dataDone = 0;
  private lastProgress = 0;

  constructor(
    private readonly geo: Geometry,
    private readonly plan: TreePlan,
    private readonly sizing: Sizing,
    private readonly cfg: Config,
    private readonly sink: ImageSink,
    private readonly uuid: Uint8Array,
    private readonly onProgress?: (done: number, total: number) => void,
  ) {
    this.bs = geo.blockSize;
    this.out = new BlockOutput(sink, this.bs);
    this.itable = new InodeTable(geo, plan.maxIno);
    this.usedDirs = new Uint32Array(geo.groupCount);
    this.placement = sizing.placement;
    this.csumSeed = cfg.features.metadataCsum ? uuidChecksumSeed(uuid) : undefined;
    this.extentsFlag = cfg.features.mapping === 'extents' ? EXT4_EXTENTS_FL : 0;
  }

  /**
   * Write the image. A generator: it pauses between inodes every YIELD_BYTES of data, so an
   * async caller can let the event loop run (signals, progress) during a long build; the sync
   * buildImage simply runs it to the end.
   */
  *write(imageBytes: number): Generator<void, BuildResult> {
    const { geo, cfg, placement } = this;
    const fsTime: Timestamp = { sec: this.clampTime(cfg.fsTime), nsec: 0 };
    const system = (mode: number, size: number, blocks: number, iBlock: Uint8Array, flags = 0): InodeFields => ({
      mode,
      uid: 0,
      gid: 0,
      size,
      atime: fsTime,
      ctime: fsTime,
      mtime: fsTime,
      crtime: fsTime,
      links: 1,
      blocks512: (blocks * this.bs) / 512,
      iBlock,
      flags,
    });
    if (placement.resizeDind !== undefined) {
      const r = writeResizeInode(this.sink, this.out, geo, placement.resizeDind);
      this.itable.put(EXT2_RESIZE_INO, { ...system(S_IFREG | 0o600, ((this.bs / 4) ** 2 + this.bs / 4 + 12) * this.bs, r.blocks, r.iBlock) });
    }
    const journal = placement.journal;
    if (journal) {
      writeJournal(this.out, journal, this.bs, this.uuid, this.csumSeed !== undefined ? { seed: this.csumSeed } : undefined);
      this.itable.put(EXT2_JOURNAL_INO, system(S_IFREG | 0o600, this.sizing.journalBlocks * this.bs, journal.blocks, journal.iBlock, this.extentsFlag));
    }
    let nextYield = YIELD_BYTES;
    for (let i = 0; i < this.plan.inodes.length; i++) {
      this.writeNode(this.plan.inodes[i]!, placement.maps[i], placement.xattr[i], fsTime);
      if (this.dataDone >= nextYield) {
        nextYield = this.dataDone + YIELD_BYTES;
        yield;
      }
    }
    this.out.flush();
    writeXattrBlocks(this.sink, placement.xattrBlocks, this.bs, this.csumSeed);

    // resize_inode is kept as mke2fs keeps it (also with no GDT blocks reserved: a small image).
    const f = this.sizing.resize ? cfg.features : cfg.features.without('resize_inode');
    const done = finishImage(this.sink, {
      geo,
      features: f,
      space: placement.space,
      inodes: this.itable,
      usedDirs: this.usedDirs,
      csumSeed: this.csumSeed,
      superblock: {
        reservedBlocks: Math.floor((geo.blocksCount * cfg.reservedPercent) / 100),
        time: fsTime.sec,
        uuid: this.uuid,
        hashSeed: cfg.hashSeed,
        label: cfg.label,
        reservedGdtBlocks: this.sizing.resize ? geo.reservedGdtBlocks : 0,
        journalInode: journal ? EXT2_JOURNAL_INO : 0,
        ...(journal ? { jnlBlocks: journal.iBlock } : {}),
        journalBytes: this.sizing.journalBlocks * this.bs,
      },
    });

    return {
      type: typeOfFeatures(f),
      features: f.names(),
      blockSize: this.bs,
      inodeSize: geo.inodeSize,
      bytes: imageBytes,
      blocksCount: geo.blocksCount,
      freeBlocks: done.freeBlocks,
      usedBlocks: geo.blocksCount - done.freeBlocks,
      inodesCount: geo.inodesCount,
      freeInodes: done.freeInodes,
      groups: geo.groupCount,
      journalBlocks: this.sizing.journalBlocks,
      reservedGdtBlocks: this.sizing.resize ? geo.reservedGdtBlocks : 0,
      uuid: formatUuid(this.uuid),
      label: cfg.labelText,
    };
  }

  /** 128-byte inodes keep 32-bit signed seconds; 256-byte ones up to 2446. */
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

  /** The checksum context of an inode's blocks under metadata_csum. */
  private csumFor(ino: number): { seed: number; ino: number } | undefined {
    return this.csumSeed !== undefined ? { seed: this.csumSeed, ino } : undefined;
  }

  private writeNode(p: PlannedInode, map: Mapping | undefined, xattr: XattrBlock | undefined, fsTime: Timestamp): void {
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
    // Every kind counts its blocks, the xattr block included: a fast symlink or a device with
    // an xattr block has i_blocks of exactly that block (ext4_inode_is_fast_symlink).
    const blocks = (map?.blocks ?? 0) + (xattr ? 1 : 0);
    // Every field set here (one object shape for all inodes: writeInode stays monomorphic).
    const f: InodeFields = {
      mode: 0,
      uid: meta.uid,
      gid: meta.gid,
      size: p.size,
      atime,
      ctime,
      mtime,
      crtime: this.cfg.reproducible ? mtime : fsTime,
      links: p.links,
      blocks512: (blocks * this.bs) / 512,
      iBlock: map ? map.iBlock : undefined,
      flags: map ? this.extentsFlag : 0,
      fileAcl: xattr ? xattr.physical : 0,
      xattrBody: p.xattr?.inInode,
    };
    const perm = meta.mode & 0o7777;
    switch (node.kind) {
      case 'dir': {
        this.usedDirs[Math.floor((p.ino - 1) / this.geo.inodesPerGroup)]!++;
        const m = map!;
        if (m.data.length === 1 && !m.indirect?.length && !m.tree?.length && p.dirBlocks! <= this.out.windowBlocks) {
          // One run and no map blocks (most directories): packed straight into the output window.
          const dst = this.out.reserve(m.data[0]!.physical, p.dirBlocks!);
          dst.fill(0);
          this.directoryBlocks(p, dst);
        } else {
          const buf = this.directoryBlocks(p, new Uint8Array(p.dirBlocks! * this.bs));
          emitMapping(this.out, m, this.bs, this.csumFor(p.ino), (l, phys, n) => this.out.put(phys, buf.subarray(l * this.bs, (l + n) * this.bs)));
        }
        f.mode = S_IFDIR | perm;
        if (p.htree) f.flags = (f.flags ?? 0) | EXT4_INDEX_FL;
        break;
      }
      case 'file': {
        f.mode = S_IFREG | perm;
        if (!map) {
          // A file of holes only: extent-mapped files still get an (empty) extent root.
          break;
        }
        if (map.data.length > 0) {
          const reader = node.content.open();
          try {
            emitMapping(this.out, map, this.bs, this.csumFor(p.ino), (l, phys, n) => this.copyData(reader, p, l, phys, n));
          } finally {
            reader.close();
          }
        } else emitMapping(this.out, map, this.bs, this.csumFor(p.ino), () => {});
        break;
      }
      case 'symlink':
        f.mode = S_IFLNK | 0o777;
        if (p.size <= FAST_SYMLINK_MAX) {
          const bytes = new Uint8Array(60);
          bytes.set(node.target);
          f.iBlock = bytes;
          f.flags = 0;
        } else emitMapping(this.out, map!, this.bs, this.csumFor(p.ino), (_l, phys) => this.out.put(phys, node.target));
        break;
      case 'chr':
      case 'blk':
        f.mode = (node.kind === 'chr' ? S_IFCHR : S_IFBLK) | perm;
        f.iBlock = encodeDevice(node.major, node.minor);
        break;
      case 'fifo':
      case 'socket':
        f.mode = (node.kind === 'fifo' ? S_IFIFO : S_IFSOCK) | perm;
        break;
    }
    if (!map && node.kind === 'file' && this.extentsFlag) {
      // An empty (or all-hole) extent-mapped file: an extent root with no entries, as the kernel makes.
      f.iBlock = emptyExtentRoot();
      f.flags = this.extentsFlag;
    }
    this.itable.put(p.ino, f);
  }

  /**
   * A directory's blocks, into `buf` (zeroed, dirBlocks blocks): linear or htree, with leaf tails
   * and dx tails checksummed under metadata_csum.
   */
  private directoryBlocks(p: PlannedInode, buf: Uint8Array): Uint8Array {
    const bs = this.bs;
    const csum = this.csumSeed !== undefined ? inodeChecksumSeed(this.csumSeed, p.ino, 0) : undefined;
    if (p.htree) {
      encodeHtree(p.htree, buf);
      if (csum !== undefined) {
        const layout = p.htree;
        for (let b = layout.leafFirst; b < layout.leafFirst + layout.leafCount; b++) setDirBlockChecksum(csum, buf.subarray(b * bs, (b + 1) * bs));
        for (const d of layout.dxBlocks) setDxNodeChecksum(csum, buf.subarray(d.block * bs, (d.block + 1) * bs), d.countOffset);
      }
      return buf;
    }
    packDirectory(p.ino, p.parent!, p.entries!, bs, p.dirBlocks!, buf, csum !== undefined);
    if (csum !== undefined) for (let b = 0; b < p.dirBlocks!; b++) setDirBlockChecksum(csum, buf.subarray(b * bs, (b + 1) * bs));
    return buf;
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
}

/** i_block of an extent-mapped inode without blocks: a header with no entries, eh_max 4. */
function emptyExtentRoot(): Uint8Array {
  const b = new Uint8Array(60);
  b[0] = 0x0a; // eh_magic 0xf30a, little-endian
  b[1] = 0xf3;
  b[4] = 4; // eh_max
  return b;
}
