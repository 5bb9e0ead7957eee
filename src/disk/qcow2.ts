/**
 * A qcow2 image (v2 and v3, qemu's docs/interop/qcow2.txt) read as its virtual disk: guest
 * offset -> L1 table -> L2 table (one cluster) -> data cluster. Unallocated and zero clusters
 * read as zeros; compressed clusters are inflated (deflate or zstd); extended L2 entries
 * (subclusters) are read. What we cannot read faithfully is refused by name: a backing file,
 * an external data file, encryption, the corrupt bit, unknown incompatible features.
 *
 * Every offset an image gives is checked against the file before it is read, and memory stays
 * bounded: the L1 table (at most 32 MiB, qemu's own limit, and never more than the file holds),
 * a few L2 tables and the last few decompressed clusters.
 */
import { ClusterDecodeError, inflateRawCluster, zstdCluster } from '../compress/cluster.js';
import { ExtimgError } from '../errors.js';
import { checkRange, readBytes, type RandomAccess } from './random-access.js';

/** "QFI\xfb", the first four bytes. */
export const QCOW2_MAGIC = 0x514649fb;
const CLUSTER_BITS_MIN = 9;
/** qemu's limit (2 MiB clusters): larger ones it refuses to open. */
const CLUSTER_BITS_MAX = 21;
/** qemu's QCOW_MAX_L1_SIZE. */
const L1_MAX_BYTES = 32 << 20;
/** Bytes of L2 tables kept (at least two tables). */
const L2_CACHE_BYTES = 4 << 20;
const DECODED_CACHE = 4;

/** QCowHeader (qcow2.txt "Header"), byte offsets, big-endian: the reader's and the writer's. */
export const QCOW2_HEADER = {
  magic: 0,
  version: 4,
  backing_file_offset: 8,
  backing_file_size: 16,
  cluster_bits: 20,
  size: 24,
  crypt_method: 32,
  l1_size: 36,
  l1_table_offset: 40,
  refcount_table_offset: 48,
  refcount_table_clusters: 56,
  nb_snapshots: 60,
  snapshots_offset: 64,
  /** v3 from here. */
  incompatible_features: 72,
  compatible_features: 80,
  autoclear_features: 88,
  refcount_order: 96,
  header_length: 100,
  compression_type: 104,
} as const;
const H = QCOW2_HEADER;
const V2_HEADER_LENGTH = 72;
const V3_HEADER_MIN = 104;

/** incompatible_features bits. */
const INCOMPAT_DIRTY = 0;
const INCOMPAT_CORRUPT = 1;
const INCOMPAT_DATA_FILE = 2;
const INCOMPAT_COMPRESSION = 3;
const INCOMPAT_EXTL2 = 4;
const INCOMPAT_KNOWN = [INCOMPAT_DIRTY, INCOMPAT_CORRUPT, INCOMPAT_DATA_FILE, INCOMPAT_COMPRESSION, INCOMPAT_EXTL2];

/** Header extension types. */
const EXT_END = 0;
const EXT_FEATURE_NAMES = 0x6803f857;
const EXT_DATA_FILE = 0x44415441;

export interface Qcow2Header {
  version: 2 | 3;
  clusterBits: number;
  /** Virtual disk size in bytes. */
  size: number;
  l1Size: number;
  l1TableOffset: number;
  incompatibleFeatures: bigint;
  compressionType: 'deflate' | 'zstd';
  extendedL2: boolean;
  /** Refcounts may be stale (qemu crashed with lazy refcounts): harmless for reading. */
  dirty: boolean;
  /** Internal snapshots (nb_snapshots): not read here, and not carried by a rewrite. */
  snapshots: number;
  /** Persistent dirty bitmaps (autoclear bit 0, v3): the same. */
  bitmaps: boolean;
}

/** A 64-bit field as a number, or Infinity past 2^53 (no offset or size here may be that large). */
function u64(dv: DataView, at: number): number {
  const v = dv.getUint32(at) * 2 ** 32 + dv.getUint32(at + 4);
  return Number.isSafeInteger(v) ? v : Infinity;
}

function corrupt(origin: string, what: string, data: Record<string, unknown> = {}): ExtimgError {
  return new ExtimgError('ECORRUPT', `${origin}: ${what}`, { origin, ...data });
}

function unsupported(origin: string, what: string, data: Record<string, unknown> = {}): ExtimgError {
  return new ExtimgError('EFORMAT', `${origin}: ${what}`, { origin, ...data });
}

export function isQcow2(first: Uint8Array): boolean {
  return first.length >= 4 && new DataView(first.buffer, first.byteOffset, 4).getUint32(0) === QCOW2_MAGIC;
}

interface Extensions {
  featureNames: Map<number, string>;
  dataFile?: string;
}

/** The header extensions after the header, within the first cluster. */
function readExtensions(file: RandomAccess, origin: string, from: number, clusterSize: number): Extensions {
  const out: Extensions = { featureNames: new Map() };
  const end = Math.min(clusterSize, file.size);
  let at = from;
  while (at + 8 <= end) {
    const head = new DataView(readBytes(file, at, 8).buffer);
    const type = head.getUint32(0);
    const length = head.getUint32(4);
    if (type === EXT_END) break;
    const dataEnd = at + 8 + length;
    if (dataEnd > end) throw corrupt(origin, `qcow2 header extension 0x${type.toString(16)} at offset ${at} passes the end of the first cluster`, { offset: at });
    if (type === EXT_FEATURE_NAMES) {
      const table = readBytes(file, at + 8, length);
      for (let i = 0; i + 48 <= length; i += 48) {
        if (table[i] !== 0) continue; // 0: incompatible features
        let n = 2;
        while (n < 48 && table[i + n] !== 0) n++;
        out.featureNames.set(table[i + 1]!, new TextDecoder().decode(table.subarray(i + 2, i + n)));
      }
    } else if (type === EXT_DATA_FILE) {
      out.dataFile = new TextDecoder().decode(readBytes(file, at + 8, Math.min(length, 4096)));
    }
    at = dataEnd + ((8 - (length % 8)) % 8);
  }
  return out;
}

/** Parse and check the header; refuses what this reader does not read. */
export function readQcow2Header(file: RandomAccess, origin: string): Qcow2Header {
  if (file.size < V2_HEADER_LENGTH) throw corrupt(origin, `truncated qcow2 header (${file.size} bytes)`);
  const first = readBytes(file, 0, Math.min(file.size, V3_HEADER_MIN + 8));
  const dv = new DataView(first.buffer);
  if (dv.getUint32(H.magic) !== QCOW2_MAGIC) throw unsupported(origin, 'not a qcow2 image');
  const version = dv.getUint32(H.version);
  if (version !== 2 && version !== 3) throw unsupported(origin, `qcow2 version ${version} is not supported (2 and 3 are)`, { version });
  const clusterBits = dv.getUint32(H.cluster_bits);
  if (clusterBits < CLUSTER_BITS_MIN || clusterBits > CLUSTER_BITS_MAX) throw corrupt(origin, `qcow2 cluster_bits ${clusterBits} out of range (${CLUSTER_BITS_MIN}-${CLUSTER_BITS_MAX})`);
  const clusterSize = 2 ** clusterBits;
  let headerLength = V2_HEADER_LENGTH;
  let incompatible = 0n;
  let compressionType = 0;
  if (version === 3) {
    if (file.size < V3_HEADER_MIN) throw corrupt(origin, `truncated qcow2 v3 header (${file.size} bytes)`);
    headerLength = dv.getUint32(H.header_length);
    if (headerLength < V3_HEADER_MIN || headerLength % 8 !== 0 || headerLength > clusterSize) throw corrupt(origin, `qcow2 header_length ${headerLength} out of range`);
    incompatible = dv.getBigUint64(H.incompatible_features);
    if (headerLength > H.compression_type) compressionType = first.length > H.compression_type ? first[H.compression_type]! : 0;
  }
  const ext = readExtensions(file, origin, headerLength, clusterSize);

  // Refusals, each by name, in the order a user can act on them.
  const backingOffset = u64(dv, H.backing_file_offset);
  if (backingOffset !== 0) {
    const length = Math.min(dv.getUint32(H.backing_file_size), 1023);
    const name = backingOffset + length <= file.size ? new TextDecoder().decode(readBytes(file, backingOffset, length)) : '(name outside the file)';
    throw unsupported(origin, `has a backing file '${name}'; reading qcow2 overlays is not supported (qemu-img convert -O qcow2 it into a standalone image first)`, { backingFile: name });
  }
  const crypt = dv.getUint32(H.crypt_method);
  if (crypt !== 0) throw unsupported(origin, `is encrypted (${crypt === 1 ? 'AES' : crypt === 2 ? 'LUKS' : `method ${crypt}`}); encrypted qcow2 images are not supported`, { cryptMethod: crypt });
  const bit = (n: number): boolean => ((incompatible >> BigInt(n)) & 1n) === 1n;
  const unknown: number[] = [];
  for (let n = 0; n < 64; n++) if (bit(n) && !INCOMPAT_KNOWN.includes(n)) unknown.push(n);
  if (unknown.length > 0) {
    const named = unknown.map((n) => (ext.featureNames.has(n) ? `${n} (${ext.featureNames.get(n)})` : `${n}`));
    throw unsupported(origin, `uses unknown qcow2 incompatible feature bit${unknown.length > 1 ? 's' : ''} ${named.join(', ')}`, { bits: unknown });
  }
  if (bit(INCOMPAT_CORRUPT)) throw corrupt(origin, 'is marked corrupt by qemu (incompatible feature bit 1); qemu-img check -r all repairs it');
  if (bit(INCOMPAT_DATA_FILE)) throw unsupported(origin, `keeps its data in an external data file${ext.dataFile ? ` '${ext.dataFile}'` : ''}; reading such qcow2 images is not supported`);
  if (bit(INCOMPAT_COMPRESSION) !== (compressionType !== 0)) {
    throw corrupt(origin, `qcow2 compression_type ${compressionType} disagrees with the compression type feature bit`);
  }
  if (compressionType > 1) throw unsupported(origin, `uses qcow2 compression type ${compressionType} (0 deflate and 1 zstd are known)`);
  const extendedL2 = bit(INCOMPAT_EXTL2);
  if (extendedL2 && clusterBits < 14) throw corrupt(origin, `qcow2 extended L2 entries need clusters of at least 16 KiB (cluster_bits ${clusterBits})`);

  const size = u64(dv, H.size);
  if (!Number.isFinite(size)) throw corrupt(origin, 'qcow2 virtual size is over 2^53 bytes');
  const l1Size = dv.getUint32(H.l1_size);
  const l1TableOffset = u64(dv, H.l1_table_offset);
  const l2Entries = clusterSize / (extendedL2 ? 16 : 8);
  const l1Needed = Math.ceil(size / clusterSize / l2Entries);
  if (l1Size * 8 > L1_MAX_BYTES) throw corrupt(origin, `qcow2 L1 table of ${l1Size} entries is larger than qemu allows (${L1_MAX_BYTES >> 20} MiB)`, { l1Size });
  if (l1Size < l1Needed) throw corrupt(origin, `qcow2 L1 table of ${l1Size} entries is too small for a ${size}-byte disk (${l1Needed} needed)`, { l1Size });
  if (l1Needed > 0 && (l1TableOffset % clusterSize !== 0 || l1TableOffset + l1Needed * 8 > file.size || l1TableOffset === 0)) {
    throw corrupt(origin, `qcow2 L1 table at offset ${l1TableOffset} (${l1Size} entries) is not cluster-aligned or not in the file (${file.size} bytes)`, { offset: l1TableOffset });
  }
  return {
    version: version as 2 | 3,
    clusterBits,
    size,
    l1Size,
    l1TableOffset,
    incompatibleFeatures: incompatible,
    compressionType: compressionType === 1 ? 'zstd' : 'deflate',
    extendedL2,
    dirty: bit(INCOMPAT_DIRTY),
    snapshots: dv.getUint32(H.nb_snapshots),
    bitmaps: version === 3 && (dv.getBigUint64(H.autoclear_features) & 1n) === 1n,
  };
}

/** Bits 9-55 of an L1 or standard L2 entry's high and low words: a host offset. */
function offsetOf(hi: number, lo: number): number {
  return (hi & 0x00ffffff) * 2 ** 32 + ((lo & 0xfffffe00) >>> 0);
}

/** The virtual disk of a qcow2 image. */
export class Qcow2Access implements RandomAccess {
  readonly header: Qcow2Header;
  readonly size: number;
  private readonly clusterSize: number;
  private readonly l2Entries: number;
  private readonly entryBytes: number;
  private readonly l1: DataView;
  /** L2 tables by host offset, least recently used first. */
  private readonly l2Cache = new Map<number, DataView>();
  private readonly l2CacheMax: number;
  /** Decompressed clusters by L2 entry (its two words), least recently used first. */
  private readonly decoded = new Map<string, Uint8Array>();

  constructor(
    readonly file: RandomAccess,
    /** The image as messages name it. */
    readonly origin: string,
    opts: { l2CacheBytes?: number } = {},
  ) {
    this.header = readQcow2Header(file, origin);
    const h = this.header;
    this.size = h.size;
    this.clusterSize = 2 ** h.clusterBits;
    this.entryBytes = h.extendedL2 ? 16 : 8;
    this.l2Entries = this.clusterSize / this.entryBytes;
    const l1Needed = Math.ceil(h.size / this.clusterSize / this.l2Entries);
    const l1 = l1Needed > 0 ? readBytes(file, h.l1TableOffset, l1Needed * 8) : new Uint8Array(0);
    this.l1 = new DataView(l1.buffer, l1.byteOffset, l1.length);
    this.l2CacheMax = Math.max(2, Math.floor((opts.l2CacheBytes ?? L2_CACHE_BYTES) / this.clusterSize));
  }

  read(position: number, into: Uint8Array): void {
    checkRange(this.origin, this.size, position, into.length);
    const cs = this.clusterSize;
    let done = 0;
    while (done < into.length) {
      const at = position + done;
      const within = at % cs;
      const n = Math.min(cs - within, into.length - done);
      this.readInCluster(Math.floor(at / cs), within, into.subarray(done, done + n));
      done += n;
    }
  }

  /** Bytes [within, within + into.length) of guest cluster `index`. */
  private readInCluster(index: number, within: number, into: Uint8Array): void {
    const l1Index = Math.floor(index / this.l2Entries);
    const l1hi = this.l1.getUint32(l1Index * 8);
    const l1lo = this.l1.getUint32(l1Index * 8 + 4);
    const l2Offset = offsetOf(l1hi, l1lo);
    if (l2Offset === 0) return void into.fill(0);
    const l2 = this.l2Table(l2Offset, l1Index);
    const e = (index % this.l2Entries) * this.entryBytes;
    const hi = l2.getUint32(e);
    const lo = l2.getUint32(e + 4);
    if (hi & 0x40000000) return void into.set(this.compressed(hi, lo, index).subarray(within, within + into.length));
    const host = offsetOf(hi, lo);
    if (!this.header.extendedL2) {
      // Bit 0: reads as zeros (v3); offset 0: unallocated, zeros too with no backing file.
      if ((lo & 1 && this.header.version === 3) || host === 0) return void into.fill(0);
      this.readData(host, index, within, into);
      return;
    }
    // Extended L2 entries: 32 subclusters, an allocated bit (0-31) and a zero bit (32-63) each.
    const bitmapHi = l2.getUint32(e + 8);
    const bitmapLo = l2.getUint32(e + 12);
    const sub = this.clusterSize / 32;
    let done = 0;
    while (done < into.length) {
      const at = within + done;
      const s = Math.floor(at / sub);
      const n = Math.min(sub - (at % sub), into.length - done);
      const part = into.subarray(done, done + n);
      const allocated = (bitmapLo >>> s) & 1;
      if (allocated && (bitmapHi >>> s) & 1) {
        throw corrupt(this.origin, `qcow2 guest cluster ${index}: subcluster ${s} is both allocated and zero`, { cluster: index });
      }
      if (allocated) {
        if (host === 0) throw corrupt(this.origin, `qcow2 guest cluster ${index} has allocated subclusters but no host offset`, { cluster: index });
        this.readData(host, index, at, part);
      } else {
        part.fill(0); // the zero bit, or unallocated with no backing file: zeros either way
      }
      done += n;
    }
  }

  private readData(host: number, index: number, within: number, into: Uint8Array): void {
    if (host % this.clusterSize !== 0) throw corrupt(this.origin, `qcow2 guest cluster ${index} maps to unaligned host offset ${host}`, { cluster: index, offset: host });
    if (host + within + into.length > this.file.size) {
      throw corrupt(this.origin, `qcow2 guest cluster ${index} maps to host offset ${host}, outside the file (${this.file.size} bytes)`, { cluster: index, offset: host });
    }
    this.file.read(host + within, into);
  }

  private l2Table(offset: number, l1Index: number): DataView {
    const hit = this.l2Cache.get(offset);
    if (hit) {
      this.l2Cache.delete(offset);
      this.l2Cache.set(offset, hit);
      return hit;
    }
    if (offset % this.clusterSize !== 0 || offset + this.clusterSize > this.file.size) {
      throw corrupt(this.origin, `qcow2 L1 entry ${l1Index} points to an L2 table at offset ${offset}, ${offset % this.clusterSize !== 0 ? 'not cluster-aligned' : `outside the file (${this.file.size} bytes)`}`, { l1Index, offset });
    }
    const bytes = readBytes(this.file, offset, this.clusterSize);
    const table = new DataView(bytes.buffer);
    if (this.l2Cache.size >= this.l2CacheMax) this.l2Cache.delete(this.l2Cache.keys().next().value as number);
    this.l2Cache.set(offset, table);
    return table;
  }

  /** A compressed cluster, decoded (qcow2.txt "Compressed Clusters Descriptor"). */
  private compressed(hi: number, lo: number, index: number): Uint8Array {
    const key = `${hi}:${lo}`;
    const hit = this.decoded.get(key);
    if (hit) {
      this.decoded.delete(key);
      this.decoded.set(key, hit);
      return hit;
    }
    const cb = this.header.clusterBits;
    // Bits 0..x-1 the host offset, x..61 the number of 512-byte sectors after the first.
    const x = 62 - (cb - 8);
    const descHi = hi & 0x3fffffff;
    const offset = (descHi % 2 ** (x - 32)) * 2 ** 32 + (lo >>> 0);
    const sectors = Math.floor(descHi / 2 ** (x - 32)) + 1;
    const length = sectors * 512 - (offset % 512);
    if (offset >= this.file.size) {
      throw corrupt(this.origin, `qcow2 compressed guest cluster ${index} is at host offset ${offset}, outside the file (${this.file.size} bytes)`, { cluster: index, offset });
    }
    // The last sector may pass the end of the file: qemu writes only the compressed bytes.
    const data = readBytes(this.file, offset, Math.min(length, this.file.size - offset));
    let out: Uint8Array;
    try {
      out = this.header.compressionType === 'zstd' ? zstdCluster(data, this.clusterSize) : inflateRawCluster(data, this.clusterSize);
    } catch (e) {
      if (!(e instanceof ClusterDecodeError)) throw e;
      if (e.notLoaded) throw unsupported(this.origin, `${e.message}: openDiskAsync() loads it`, { cluster: index });
      throw corrupt(this.origin, `qcow2 compressed guest cluster ${index} at host offset ${offset}: ${e.message}`, { cluster: index, offset });
    }
    if (this.decoded.size >= DECODED_CACHE) this.decoded.delete(this.decoded.keys().next().value as string);
    this.decoded.set(key, out);
    return out;
  }
}
