/**
 * A disk image opened for reading, recognised by content: a qcow2 image is read as its virtual
 * disk first; then a GPT (protective MBR), an MBR, or no partition table at all. Partitions are
 * numbered as the Linux kernel numbers them (sda1, sda5), so `disk.img@N` names what a user sees
 * after attaching the disk; each is probed for an ext filesystem as blkid would.
 */
import { clusterDecodersReady, loadClusterDecoders } from '../compress/cluster.js';
import { ExtimgError } from '../errors.js';
import { identifyExt, type ExtKind } from '../ext/identify.js';
import { gptSectorSize, readGpt } from './gpt.js';
import { probeMbr, readMbr, SECTOR } from './mbr.js';
import { isQcow2, Qcow2Access, readQcow2Header, type Qcow2Header } from './qcow2.js';
import { readBytes, SliceAccess, type RandomAccess } from './random-access.js';

export interface DiskPartition {
  /** sdaN: GPT entry index + 1; MBR slot 1-4, logical partitions from 5. */
  number: number;
  /** Bytes from the start of the (virtual) disk. */
  start: number;
  size: number;
  /** A GPT type GUID (upper case) or an MBR type byte as `0xNN`. */
  type: string;
  /** What the type is called, when it is a well-known one. */
  typeName?: string;
  /** The GPT partition name. */
  name?: string;
  /** The ext filesystem the partition starts with, as blkid names it. */
  fsKind?: ExtKind;
  /** An MBR extended partition: a container of logical partitions, not a filesystem. */
  extended?: boolean;
}

export interface DiskInfo {
  /** The image as messages name it. */
  origin: string;
  container: 'raw' | 'qcow2';
  table: 'gpt' | 'mbr' | 'none';
  partitions: DiskPartition[];
  /** The disk as the guest sees it: the file itself, or a qcow2 image's virtual disk. */
  disk: RandomAccess;
  /** With no partition table: the ext filesystem the whole disk holds, if any. */
  fsKind?: ExtKind;
  qcow2?: Qcow2Header;
  gpt?: { diskGuid: string; sectorSize: number; header: 'primary' | 'backup' };
  /** Partition `n` (its number) as an access of its own; throws EUSAGE listing the partitions when there is none. */
  partition(n: number): RandomAccess;
}

export interface OpenDiskOptions {
  /** Recoverable damage (a GPT read from its backup) and oddities, one line each. */
  onWarning?(message: string): void;
}

const GPT_TYPES: Record<string, string> = {
  'C12A7328-F81F-11D2-BA4B-00A0C93EC93B': 'EFI System',
  '21686148-6449-6E6F-744E-656564454649': 'BIOS boot',
  '0FC63DAF-8483-4772-8E79-3D69D8477DE4': 'Linux filesystem',
  '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709': 'Linux root (x86-64)',
  'B921B045-1DF0-41C3-AF44-4C6F280D3FAE': 'Linux root (ARM-64)',
  '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F': 'Linux swap',
  'E6D6D379-F507-44C2-A23C-238F2A3DF928': 'Linux LVM',
  'A19D880F-05FC-4D3B-A006-743F0F84911E': 'Linux RAID',
  'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7': 'Microsoft basic data',
};

const MBR_TYPES: Record<number, string> = {
  0x05: 'Extended',
  0x07: 'HPFS/NTFS/exFAT',
  0x0b: 'W95 FAT32',
  0x0c: 'W95 FAT32 (LBA)',
  0x0f: "W95 Ext'd (LBA)",
  0x82: 'Linux swap',
  0x83: 'Linux',
  0x85: 'Linux extended',
  0x8e: 'Linux LVM',
  0xef: 'EFI (FAT-12/16/32)',
  0xfd: 'Linux raid autodetect',
};

/** The first bytes of a filesystem that identifyExt() reads. */
const PROBE = 2048;

function probeExt(disk: RandomAccess, start: number, size: number): ExtKind | undefined {
  if (size < PROBE) return undefined;
  return identifyExt(readBytes(disk, start, PROBE));
}

/** Open `base` (a file, or bytes in memory) as a disk. Throws ExtimgError when it is damaged. */
export function openDisk(base: RandomAccess, origin: string, opts: OpenDiskOptions = {}): DiskInfo {
  const warn = opts.onWarning ?? ((): void => {});
  // Every read checked against the size before it reaches `base` (a FileSource throws RangeError).
  const file = new SliceAccess(base, 0, base.size, origin);
  let disk: RandomAccess = file;
  let qcow2: Qcow2Header | undefined;
  if (isQcow2(readBytes(file, 0, Math.min(4, file.size)))) {
    const q = new Qcow2Access(file, origin);
    disk = q;
    qcow2 = q.header;
  }
  const info: Omit<DiskInfo, 'partition'> = { origin, container: qcow2 ? 'qcow2' : 'raw', table: 'none', partitions: [], disk, ...(qcow2 ? { qcow2 } : {}) };
  // A filesystem's boot block may end in 0x55AA with what reads as partition entries (a boot
  // loader installed there): an ext superblock at byte 1080 decides, as blkid does.
  const whole = probeExt(disk, 0, disk.size);
  const probed = disk.size >= SECTOR ? probeMbr(readBytes(disk, 0, SECTOR)) : 'none';
  const mbr = probed === 'mbr' && whole ? 'none' : probed;
  const gptSector = mbr === 'protective' ? (gptSectorSize(disk) ?? SECTOR) : mbr === 'mbr' ? undefined : gptSectorSize(disk);
  if (gptSector !== undefined) {
    if (mbr !== 'protective') warn(`${origin}: has a GPT but no protective MBR; reading the GPT`);
    const gpt = readGpt(disk, origin, { sectorSize: gptSector, onWarning: warn });
    info.table = 'gpt';
    info.gpt = { diskGuid: gpt.diskGuid, sectorSize: gpt.sectorSize, header: gpt.header };
    for (const p of gpt.partitions) {
      const start = p.firstLba * gpt.sectorSize;
      const size = (p.lastLba - p.firstLba + 1) * gpt.sectorSize;
      const typeName = GPT_TYPES[p.typeGuid];
      info.partitions.push({ number: p.number, start, size, type: p.typeGuid, ...(typeName ? { typeName } : {}), ...(p.name ? { name: p.name } : {}) });
    }
  } else if (mbr === 'mbr') {
    info.table = 'mbr';
    for (const p of readMbr(disk, origin)) {
      const typeName = MBR_TYPES[p.type];
      info.partitions.push({
        number: p.number,
        start: p.startSector * SECTOR,
        size: p.sectors * SECTOR,
        type: `0x${p.type.toString(16).padStart(2, '0')}`,
        ...(typeName ? { typeName } : {}),
        ...(p.extended ? { extended: true } : {}),
      });
    }
  } else if (whole) info.fsKind = whole;
  for (const p of info.partitions) {
    if (p.extended) continue;
    const fsKind = probeExt(disk, p.start, p.size);
    if (fsKind) p.fsKind = fsKind;
  }
  const result: DiskInfo = {
    ...info,
    partition: (n: number): RandomAccess => {
      const p = findPartition(result, n);
      return new SliceAccess(disk, p.start, p.size, `${origin}@${n}`);
    },
  };
  return result;
}

/**
 * openDisk(), with the decoders it may need loaded first: a qcow2 image with zstd-compressed
 * clusters on a Node whose node:zlib has no zstd (< 22.15) needs zstd's WebAssembly decoder,
 * which loads asynchronously.
 */
export async function openDiskAsync(base: RandomAccess, origin: string, opts: OpenDiskOptions = {}): Promise<DiskInfo> {
  const file = new SliceAccess(base, 0, base.size, origin);
  if (isQcow2(readBytes(file, 0, Math.min(4, file.size))) && !clusterDecodersReady()) {
    if (readQcow2Header(file, origin).compressionType === 'zstd') await loadClusterDecoders();
  }
  return openDisk(base, origin, opts);
}

/** 512 MiB, 1.5 GiB, 300 KiB, 12 bytes. */
export function formatSize(bytes: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  if (bytes < 1024) return `${bytes} bytes`;
  let v = bytes;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number(v.toFixed(v < 10 ? 1 : 0))} ${units[u]}`;
}

/** `1: ext4 512 MiB, 2: Linux swap 1 GiB` */
export function describePartitions(partitions: readonly DiskPartition[]): string {
  return partitions.map((p) => `${p.number}: ${p.fsKind ?? p.typeName ?? p.type} ${formatSize(p.size)}`).join(', ');
}

function findPartition(info: Pick<DiskInfo, 'origin' | 'table' | 'partitions'>, n: number, origin = info.origin): DiskPartition {
  if (info.table === 'none') {
    throw new ExtimgError('EUSAGE', `${origin}: has no partition table, so no partition ${n}; name the whole disk as ${origin}`, { origin, partition: n });
  }
  const p = info.partitions.find((q) => q.number === n);
  if (p === undefined) {
    const list = info.partitions.length ? `its partitions: ${describePartitions(info.partitions)}` : 'its partition table is empty';
    throw new ExtimgError('EUSAGE', `${origin}: has no partition ${n} (${list})`, { origin, partition: n });
  }
  return p;
}

/** The filesystem selectFilesystem() chose: an access of its own (reads outside it refused). */
export interface SelectedFilesystem extends RandomAccess {
  /** `disk.qcow2@2`, or the disk's own name for a whole disk. */
  readonly origin: string;
  /** Undefined for a whole disk. */
  readonly partition?: DiskPartition;
}

function selected(disk: RandomAccess, origin: string, p?: DiskPartition): SelectedFilesystem {
  const access = p ? new SliceAccess(disk, p.start, p.size, origin) : new SliceAccess(disk, 0, disk.size, origin);
  return Object.assign(access, p ? { partition: p } : {});
}

/**
 * The filesystem to read from a disk: partition `n` when given; else the whole disk when it has
 * no partition table, or the one partition holding an ext filesystem. Anything else is refused
 * with the partitions listed, so the user can name one as `origin@N`.
 */
export function selectFilesystem(info: DiskInfo, n: number | undefined, origin = info.origin): SelectedFilesystem {
  if (n !== undefined) {
    const p = findPartition(info, n, origin);
    if (p.extended) {
      const logical = info.partitions.filter((q) => q.number >= 5 && q.start >= p.start && q.start < p.start + p.size).map((q) => q.number);
      const holds = logical.length ? ` (it holds logical partition${logical.length > 1 ? 's' : ''} ${logical.join(', ')})` : '';
      throw new ExtimgError('EUSAGE', `${origin}: partition ${n} is an extended partition, a container of logical partitions${holds}`, { origin, partition: n });
    }
    return selected(info.disk, `${origin}@${n}`, p);
  }
  if (info.table === 'none') return selected(info.disk, origin);
  const ext = info.partitions.filter((p) => p.fsKind !== undefined && p.fsKind !== 'jbd2');
  if (ext.length === 1) {
    const p = ext[0]!;
    return selected(info.disk, `${origin}@${p.number}`, p);
  }
  if (ext.length === 0) {
    const count = info.partitions.length;
    const list = count ? ` (${describePartitions(info.partitions)})` : '';
    throw new ExtimgError('EFORMAT', `${origin}: none of its ${count} partition${count === 1 ? '' : 's'} holds an ext filesystem${list}`, { origin });
  }
  throw new ExtimgError('EUSAGE', `${origin}: ${ext.length} partitions hold ext filesystems (${describePartitions(ext)}); name one as ${origin}@N`, {
    origin,
    partitions: ext.map((p) => p.number),
  });
}
