/**
 * Writes a qcow2 v3 image (qemu's docs/interop/qcow2.txt) of a virtual disk that the image
 * writer fills through the ImageSink interface, in one pass and without reading the file back:
 *
 *   cluster 0            header (+ the end-of-extensions marker)
 *   clusters 1..D        data clusters, in the order writes first touch them
 *   then                 L2 tables (only those that map a data cluster), in guest order
 *   then                 the L1 table (at least one cluster)
 *   then                 the refcount table, then the refcount blocks
 *
 * A guest cluster gets its host cluster the first time a write with a non-zero byte touches it;
 * later writes to it go to the same host cluster at the same in-cluster offset, and parts never
 * written stay zero (holes in a file). Everything after the data is written by finish(), when
 * the number of data clusters is known. Every host cluster is referenced exactly once, so all
 * refcounts are 1 and every L1/L2 entry carries QCOW_OFLAG_COPIED, as qemu-img check expects.
 * The header's virtual size is the size given, rounded up to whole 512-byte sectors (qemu's unit).
 */
import { ExtimgError } from '../errors.js';
import type { ImageSink } from '../io/sink.js';
import { QCOW2_HEADER, QCOW2_MAGIC } from './qcow2.js';

export interface Qcow2WriteOptions {
  /** log2 of the cluster size, 9 (512 B) to 21 (2 MiB) as qemu allows. Default 16 (64 KiB), qemu's. */
  clusterBits?: number;
}

const VERSION = 3;
const CLUSTER_BITS_MIN = 9;
const CLUSTER_BITS_MAX = 21;
const DEFAULT_CLUSTER_BITS = 16;
const SECTOR = 512;
/** 16-bit refcounts, qemu's default. */
const REFCOUNT_ORDER = 4;
/** v3 header with the compression_type byte, padded to a multiple of 8 (qemu writes 112). */
const HEADER_LENGTH = 112;
/** qemu's QCOW_MAX_L1_SIZE and QCOW_MAX_REFTABLE_SIZE: larger tables it refuses to open. */
const L1_MAX_BYTES = 32 << 20;
const REFTABLE_MAX_BYTES = 8 << 20;
/** QCOW_OFLAG_COPIED (bit 63) as a bit of the high word: the cluster's refcount is exactly 1. */
const COPIED_HI = 0x80000000;
/** Guest clusters per chunk of the guest -> host map: the map grows by chunks that hold data. */
const MAP_CHUNK = 64;
/** Host cluster numbers are kept in Uint32Arrays (0 = unallocated; cluster 0 is the header). */
const HOST_CLUSTERS_MAX = 0xffffffff;

const H = QCOW2_HEADER;

export interface Qcow2WriteStats {
  /** Host clusters holding guest data. */
  dataClusters: number;
  /** Size of the qcow2 file. */
  fileBytes: number;
}

/** A 64-bit big-endian value below 2^53, with `hiFlags` or-ed into the high word. */
function setU64(dv: DataView, at: number, value: number, hiFlags = 0): void {
  dv.setUint32(at, (Math.floor(value / 2 ** 32) | hiFlags) >>> 0);
  dv.setUint32(at + 4, value >>> 0);
}

function isZero(bytes: Uint8Array): boolean {
  let i = 0;
  const n = bytes.length;
  if (bytes.byteOffset % 4 === 0 && n >= 16) {
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, n >>> 2);
    for (let w = 0; w < words.length; w++) if (words[w] !== 0) return false;
    i = words.length << 2;
  }
  for (; i < n; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * An ImageSink that writes a qcow2 v3 image of the virtual disk into `file`. `file` must take
 * writes at any offset before its setSize (which this calls once, in finish(), with the final
 * file size) and read as zero where nothing was written: a FileSink does (pwrite extends the
 * temp file, ftruncate sets its size); a MemorySink does not (its setSize allocates a new buffer).
 */
export class Qcow2Sink implements ImageSink {
  private readonly clusterBits: number;
  private readonly clusterSize: number;
  /** Entries of one L2 table (8-byte entries, no extended L2). */
  private readonly l2Entries: number;
  /** The size given to setSize: writes must stay below it. */
  private virtualSize = -1;
  /** The size in the header: virtualSize rounded up to whole 512-byte sectors. */
  private headerSize = 0;
  private l1Size = 0;
  /** Guest cluster >> log2(MAP_CHUNK) -> host cluster numbers of MAP_CHUNK guest clusters. */
  private readonly map = new Map<number, Uint32Array>();
  /** L1 indices whose L2 table maps at least one cluster. */
  private readonly tables = new Set<number>();
  /** The next free host cluster (cluster 0 is the header). */
  private nextHost = 1;
  private finished = false;

  constructor(
    private readonly file: ImageSink,
    options: Qcow2WriteOptions = {},
  ) {
    const bits = options.clusterBits ?? DEFAULT_CLUSTER_BITS;
    if (!Number.isInteger(bits) || bits < CLUSTER_BITS_MIN || bits > CLUSTER_BITS_MAX) {
      throw new ExtimgError('EINVAL', `qcow2 cluster_bits ${bits} out of range (${CLUSTER_BITS_MIN}-${CLUSTER_BITS_MAX}: 512 B to 2 MiB clusters)`, { clusterBits: bits });
    }
    this.clusterBits = bits;
    this.clusterSize = 2 ** bits;
    this.l2Entries = this.clusterSize / 8;
  }

  /** The largest virtual size this cluster size allows (qemu's L1 table limit), in whole sectors below 2^53. */
  static maxVirtualSize(clusterBits = DEFAULT_CLUSTER_BITS): number {
    return Math.min(Math.floor(Number.MAX_SAFE_INTEGER / SECTOR) * SECTOR, (L1_MAX_BYTES / 8) * 2 ** (2 * clusterBits - 3));
  }

  setSize(virtualBytes: number): void {
    if (this.virtualSize >= 0) throw new ExtimgError('EINVAL', `qcow2 output: the virtual size is already set (${this.virtualSize} bytes)`, { size: this.virtualSize });
    if (!Number.isSafeInteger(virtualBytes) || virtualBytes < 0) {
      throw new ExtimgError('EINVAL', `qcow2 output: bad virtual size ${virtualBytes}`, { size: virtualBytes });
    }
    const max = Qcow2Sink.maxVirtualSize(this.clusterBits);
    if (Math.ceil(virtualBytes / SECTOR) * SECTOR > max) {
      throw new ExtimgError('ETOOBIG', `qcow2 output: a ${virtualBytes}-byte disk needs an L1 table larger than qemu allows with ${this.clusterSize}-byte clusters (at most ${max} bytes)`, {
        size: virtualBytes,
        max,
        clusterBits: this.clusterBits,
      });
    }
    this.virtualSize = virtualBytes;
    // qemu counts a disk in 512-byte sectors and drops a partial last one (qcow2_open:
    // total_sectors = size / 512); rounded up, as qemu itself sizes an odd raw file, it keeps
    // every byte and the tail reads as zeros.
    this.headerSize = Math.ceil(virtualBytes / SECTOR) * SECTOR;
    this.l1Size = Math.ceil(Math.ceil(this.headerSize / this.clusterSize) / this.l2Entries);
  }

  write(offset: number, data: Uint8Array): void {
    this.checkOpen();
    if (this.virtualSize < 0) throw new ExtimgError('EINVAL', 'qcow2 output: write before the virtual size is set', { offset });
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + data.length > this.virtualSize) {
      throw new ExtimgError('EINVAL', `qcow2 output: write of ${data.length} bytes at offset ${offset} passes the end of the virtual disk (${this.virtualSize} bytes)`, {
        offset,
        length: data.length,
        size: this.virtualSize,
      });
    }
    const cs = this.clusterSize;
    // Pieces that land next to each other in the host file go out as one write.
    let runHost = -1;
    let runFrom = 0;
    let runLength = 0;
    let done = 0;
    while (done < data.length) {
      const at = offset + done;
      const within = at % cs;
      const n = Math.min(cs - within, data.length - done);
      const guest = Math.floor(at / cs);
      let host = this.hostOf(guest);
      if (host === 0) {
        // Unallocated clusters read as zero: zeros need no cluster.
        if (isZero(data.subarray(done, done + n))) {
          done += n;
          continue;
        }
        host = this.allocate(guest);
      }
      const hostAt = host * cs + within;
      // Contiguous in the host file and in `data` (a skipped zero piece ends a run).
      if (runLength > 0 && runHost + runLength === hostAt && runFrom + runLength === done) {
        runLength += n;
      } else {
        if (runLength > 0) this.file.write(runHost, data.subarray(runFrom, runFrom + runLength));
        runHost = hostAt;
        runFrom = done;
        runLength = n;
      }
      done += n;
    }
    if (runLength > 0) this.file.write(runHost, data.subarray(runFrom, runFrom + runLength));
  }

  /**
   * Write the L2 tables, the L1 table, the refcount structures and the header, and set the
   * file's size. Call once after the last write, before the file is committed.
   */
  finish(): Qcow2WriteStats {
    this.checkOpen();
    if (this.virtualSize < 0) throw new ExtimgError('EINVAL', 'qcow2 output: finish() before the virtual size is set');
    this.finished = true;
    const cs = this.clusterSize;
    const dataClusters = this.nextHost - 1;
    const tables = [...this.tables].sort((a, b) => a - b);
    const l2Start = this.nextHost;
    const l1Start = l2Start + tables.length;
    const l1Clusters = Math.max(1, Math.ceil((this.l1Size * 8) / cs));
    const metaEnd = l1Start + l1Clusters;

    // The refcount blocks count every host cluster, themselves and the refcount table included:
    // grow both until they cover the whole file (qcow2.txt "Host cluster management").
    const perBlock = cs / 2 ** (REFCOUNT_ORDER - 3); // 16-bit refcounts
    let blocks = 1;
    let tableClusters = 1;
    for (;;) {
      const total = metaEnd + tableClusters + blocks;
      const needBlocks = Math.max(blocks, Math.ceil(total / perBlock));
      const needTable = Math.max(tableClusters, Math.ceil((needBlocks * 8) / cs));
      if (needBlocks === blocks && needTable === tableClusters) break;
      blocks = needBlocks;
      tableClusters = needTable;
    }
    if (tableClusters * cs > REFTABLE_MAX_BYTES) {
      throw new ExtimgError('ETOOBIG', `qcow2 output: a refcount table of ${tableClusters * cs} bytes is larger than qemu allows (${REFTABLE_MAX_BYTES} bytes); use larger clusters`, {
        clusterBits: this.clusterBits,
      });
    }
    const reftableStart = metaEnd;
    const blocksStart = reftableStart + tableClusters;
    const totalClusters = blocksStart + blocks;
    if (totalClusters > HOST_CLUSTERS_MAX) throw this.tooManyClusters();
    const fileBytes = totalClusters * cs;
    this.file.setSize(fileBytes);

    this.writeL2Tables(tables, l2Start);
    this.writeL1(tables, l2Start, l1Start, l1Clusters);
    this.writeRefcounts(reftableStart, tableClusters, blocksStart, blocks, totalClusters);
    this.writeHeader(l1Start * cs, reftableStart * cs, tableClusters);
    return { dataClusters, fileBytes };
  }

  private checkOpen(): void {
    if (this.finished) throw new ExtimgError('EINVAL', 'qcow2 output: already finished');
  }

  private hostOf(guest: number): number {
    const chunk = this.map.get(Math.floor(guest / MAP_CHUNK));
    return chunk === undefined ? 0 : chunk[guest % MAP_CHUNK]!;
  }

  private allocate(guest: number): number {
    const key = Math.floor(guest / MAP_CHUNK);
    let chunk = this.map.get(key);
    if (chunk === undefined) {
      chunk = new Uint32Array(MAP_CHUNK);
      this.map.set(key, chunk);
    }
    // Leave room for the tables after the data: they must fit the Uint32 numbering too.
    if (this.nextHost >= HOST_CLUSTERS_MAX - (1 << 22)) throw this.tooManyClusters();
    const host = this.nextHost++;
    chunk[guest % MAP_CHUNK] = host;
    this.tables.add(Math.floor(guest / this.l2Entries));
    return host;
  }

  private tooManyClusters(): ExtimgError {
    return new ExtimgError('ETOOBIG', `qcow2 output: more than ${HOST_CLUSTERS_MAX} host clusters of ${this.clusterSize} bytes; use larger clusters`, { clusterBits: this.clusterBits });
  }

  /** One L2 table per entry of `tables`, in that order from host cluster `l2Start`. */
  private writeL2Tables(tables: readonly number[], l2Start: number): void {
    const cs = this.clusterSize;
    const table = new Uint8Array(cs);
    const dv = new DataView(table.buffer);
    for (let i = 0; i < tables.length; i++) {
      table.fill(0);
      const firstGuest = tables[i]! * this.l2Entries;
      for (let g = firstGuest; g < firstGuest + this.l2Entries; ) {
        const chunk = this.map.get(Math.floor(g / MAP_CHUNK));
        const chunkEnd = Math.min(firstGuest + this.l2Entries, (Math.floor(g / MAP_CHUNK) + 1) * MAP_CHUNK);
        if (chunk !== undefined) {
          for (; g < chunkEnd; g++) {
            const host = chunk[g % MAP_CHUNK]!;
            if (host !== 0) setU64(dv, (g - firstGuest) * 8, host * cs, COPIED_HI);
          }
        }
        g = chunkEnd;
      }
      this.file.write((l2Start + i) * cs, table);
    }
  }

  private writeL1(tables: readonly number[], l2Start: number, l1Start: number, l1Clusters: number): void {
    const cs = this.clusterSize;
    // Written a cluster at a time: the L1 table may be up to 32 MiB, mostly zeros.
    const part = new Uint8Array(cs);
    const dv = new DataView(part.buffer);
    const perCluster = cs / 8;
    let i = 0;
    for (let c = 0; c < l1Clusters; c++) {
      const first = c * perCluster;
      if (i >= tables.length || tables[i]! >= first + perCluster) continue; // stays zero
      part.fill(0);
      for (; i < tables.length && tables[i]! < first + perCluster; i++) setU64(dv, (tables[i]! - first) * 8, (l2Start + i) * cs, COPIED_HI);
      this.file.write((l1Start + c) * cs, part);
    }
  }

  /** Every host cluster below `totalClusters` is in use exactly once. */
  private writeRefcounts(reftableStart: number, tableClusters: number, blocksStart: number, blocks: number, totalClusters: number): void {
    const cs = this.clusterSize;
    const table = new Uint8Array(tableClusters * cs);
    const tdv = new DataView(table.buffer);
    for (let b = 0; b < blocks; b++) setU64(tdv, b * 8, (blocksStart + b) * cs);
    this.file.write(reftableStart * cs, table);

    const perBlock = cs / 2;
    const block = new Uint8Array(cs);
    const bdv = new DataView(block.buffer);
    for (let b = 0; b < blocks; b++) {
      const used = Math.min(perBlock, totalClusters - b * perBlock);
      block.fill(0);
      for (let e = 0; e < used; e++) bdv.setUint16(e * 2, 1);
      this.file.write((blocksStart + b) * cs, block);
    }
  }

  private writeHeader(l1TableOffset: number, refcountTableOffset: number, refcountTableClusters: number): void {
    // The header, then an empty end-of-extensions marker (type 0, length 0).
    const header = new Uint8Array(HEADER_LENGTH + 8);
    const dv = new DataView(header.buffer);
    dv.setUint32(H.magic, QCOW2_MAGIC);
    dv.setUint32(H.version, VERSION);
    setU64(dv, H.backing_file_offset, 0);
    dv.setUint32(H.backing_file_size, 0);
    dv.setUint32(H.cluster_bits, this.clusterBits);
    setU64(dv, H.size, this.headerSize);
    dv.setUint32(H.crypt_method, 0);
    dv.setUint32(H.l1_size, this.l1Size);
    setU64(dv, H.l1_table_offset, l1TableOffset);
    setU64(dv, H.refcount_table_offset, refcountTableOffset);
    dv.setUint32(H.refcount_table_clusters, refcountTableClusters);
    dv.setUint32(H.nb_snapshots, 0);
    setU64(dv, H.snapshots_offset, 0);
    setU64(dv, H.incompatible_features, 0);
    setU64(dv, H.compatible_features, 0);
    setU64(dv, H.autoclear_features, 0);
    dv.setUint32(H.refcount_order, REFCOUNT_ORDER);
    dv.setUint32(H.header_length, HEADER_LENGTH);
    header[H.compression_type] = 0; // deflate; no compressed clusters are written
    this.file.write(0, header);
  }
}
