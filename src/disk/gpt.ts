/**
 * The GUID partition table (UEFI spec 5.3): a header at LBA 1 and a backup at the disk's last
 * LBA, each with a CRC32 of itself and of its partition entry array. A damaged primary is
 * replaced by the backup, and a warning says so (the kernel's find_valid_gpt() does the same).
 * Entries are numbered by their index + 1, as the kernel numbers them; unused entries (type GUID
 * zero) are skipped. Sectors of 512 bytes, or 4096 when the header stands at byte 4096.
 */
import { crc32 } from '../compress/crc.js';
import { ExtimgError } from '../errors.js';
import { readBytes, type RandomAccess } from './random-access.js';

export interface GptPartition {
  /** Entry index + 1. */
  number: number;
  firstLba: number;
  /** Inclusive. */
  lastLba: number;
  /** As sfdisk prints them: upper-case, mixed-endian (the first three fields little-endian). */
  typeGuid: string;
  uniqueGuid: string;
  attributes: bigint;
  name: string;
}

export interface GptTable {
  sectorSize: number;
  diskGuid: string;
  /** Which header the table was read from. */
  header: 'primary' | 'backup';
  firstUsableLba: number;
  lastUsableLba: number;
  partitions: GptPartition[];
}

const SIGNATURE = 'EFI PART';
/** HeaderSize may not be less (UEFI 5.3.2: 92 bytes, the rest of the block reserved). */
const HEADER_MIN = 92;
/** SizeOfPartitionEntry: 128 x 2^n. */
const ENTRY_MIN = 128;
/** Bounds on what a header may ask us to read: the kernel's GPT reader has 256 partitions at most. */
export const MAX_ENTRIES = 65536;
export const MAX_ENTRY_ARRAY = 8 << 20;

/** struct gpt_header (UEFI 5.3.2), byte offsets: the reader's and the writer's. */
export const GPT_HEADER = {
  Signature: 0,
  Revision: 8,
  HeaderSize: 12,
  HeaderCRC32: 16,
  Reserved: 20,
  MyLBA: 24,
  AlternateLBA: 32,
  FirstUsableLBA: 40,
  LastUsableLBA: 48,
  DiskGUID: 56,
  PartitionEntryLBA: 72,
  NumberOfPartitionEntries: 80,
  SizeOfPartitionEntry: 84,
  PartitionEntryArrayCRC32: 88,
} as const;

/** struct gpt_entry (UEFI 5.3.3), byte offsets: the reader's and the writer's. */
export const GPT_ENTRY = {
  PartitionTypeGUID: 0,
  UniquePartitionGUID: 16,
  StartingLBA: 32,
  EndingLBA: 40,
  Attributes: 48,
  PartitionName: 56,
  /** 36 UTF-16LE code units. */
  PartitionNameBytes: 72,
} as const;
const H = GPT_HEADER;
const E = GPT_ENTRY;

function u64(dv: DataView, at: number): number {
  return dv.getUint32(at + 4, true) * 2 ** 32 + dv.getUint32(at, true);
}

/** A GUID as text: the first three fields little-endian, the last two as stored. */
export function guidText(b: Uint8Array, at = 0): string {
  const hex = (i: number): string => b[at + i]!.toString(16).padStart(2, '0');
  const s = [3, 2, 1, 0, -1, 5, 4, -1, 7, 6, -1, 8, 9, -1, 10, 11, 12, 13, 14, 15].map((i) => (i < 0 ? '-' : hex(i))).join('');
  return s.toUpperCase();
}

function isZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

function hasSignatureAt(disk: RandomAccess, at: number): boolean {
  if (disk.size < at + 8) return false;
  return new TextDecoder('latin1').decode(readBytes(disk, at, 8)) === SIGNATURE;
}

/** The sector size a GPT header at LBA 1 shows: 512, 4096, or undefined when there is none. */
export function gptSectorSize(disk: RandomAccess): 512 | 4096 | undefined {
  if (hasSignatureAt(disk, 512)) return 512;
  if (hasSignatureAt(disk, 4096)) return 4096;
  return undefined;
}

interface Header {
  lba: number;
  alternateLba: number;
  firstUsableLba: number;
  lastUsableLba: number;
  diskGuid: string;
  entryLba: number;
  entryCount: number;
  entrySize: number;
  entries: Uint8Array;
}

/**
 * The header at `lba` and its entry array, or why it is not valid (is_gpt_valid() in the
 * kernel's efi.c, plus bounds on what it makes us read).
 */
function readHeader(disk: RandomAccess, lba: number, sectorSize: number, lastLba: number): Header | { bad: string; alternateLba?: number } {
  if (lba < 1 || lba > lastLba) return { bad: `LBA ${lba} is not on the disk` };
  const block = readBytes(disk, lba * sectorSize, sectorSize);
  const dv = new DataView(block.buffer, block.byteOffset, block.length);
  if (new TextDecoder('latin1').decode(block.subarray(0, 8)) !== SIGNATURE) return { bad: 'no "EFI PART" signature' };
  const headerSize = dv.getUint32(H.HeaderSize, true);
  if (headerSize < HEADER_MIN || headerSize > sectorSize) return { bad: `header size ${headerSize} out of range` };
  const stored = dv.getUint32(H.HeaderCRC32, true);
  const copy = block.slice(0, headerSize);
  copy.fill(0, H.HeaderCRC32, H.HeaderCRC32 + 4);
  if (crc32(copy) !== stored) return { bad: 'header CRC32 mismatch' };
  const alternateLba = u64(dv, H.AlternateLBA);
  const myLba = u64(dv, H.MyLBA);
  if (myLba !== lba) return { bad: `header says it is at LBA ${myLba}`, alternateLba };
  const firstUsableLba = u64(dv, H.FirstUsableLBA);
  const lastUsableLba = u64(dv, H.LastUsableLBA);
  if (firstUsableLba > lastUsableLba + 1 || lastUsableLba > lastLba) {
    return { bad: `usable LBAs ${firstUsableLba}-${lastUsableLba} are not on the disk (last LBA ${lastLba})`, alternateLba };
  }
  const entryCount = dv.getUint32(H.NumberOfPartitionEntries, true);
  const entrySize = dv.getUint32(H.SizeOfPartitionEntry, true);
  if (entrySize < ENTRY_MIN || (entrySize & (entrySize - 1)) !== 0) return { bad: `partition entry size ${entrySize} is not 128 x 2^n`, alternateLba };
  if (entryCount > MAX_ENTRIES || entryCount * entrySize > MAX_ENTRY_ARRAY) {
    return { bad: `${entryCount} partition entries of ${entrySize} bytes are more than we read (${MAX_ENTRIES} entries, ${MAX_ENTRY_ARRAY >> 20} MiB)`, alternateLba };
  }
  const entryLba = u64(dv, H.PartitionEntryLBA);
  const arrayBytes = entryCount * entrySize;
  const arrayEnd = entryLba + Math.ceil(arrayBytes / sectorSize);
  if (entryLba < 1 || arrayEnd > lastLba + 1) return { bad: `partition entry array (LBA ${entryLba}, ${arrayBytes} bytes) is not on the disk`, alternateLba };
  const entries = readBytes(disk, entryLba * sectorSize, arrayBytes);
  if (crc32(entries) !== dv.getUint32(H.PartitionEntryArrayCRC32, true)) return { bad: 'partition entry array CRC32 mismatch', alternateLba };
  return { lba, alternateLba, firstUsableLba, lastUsableLba, diskGuid: guidText(block, H.DiskGUID), entryLba, entryCount, entrySize, entries };
}

function gptError(origin: string, what: string, data: Record<string, unknown> = {}): ExtimgError {
  return new ExtimgError('ECORRUPT', `${origin}: ${what}`, { origin, ...data });
}

/**
 * Read the GPT of `disk`. `onWarning` hears of a damaged primary (the backup is used), a
 * damaged backup, and a backup away from the disk's end (a resized disk).
 */
export function readGpt(disk: RandomAccess, origin: string, opts: { sectorSize?: number; onWarning?(message: string): void } = {}): GptTable {
  const sectorSize = opts.sectorSize ?? gptSectorSize(disk) ?? 512;
  const lastLba = Math.floor(disk.size / sectorSize) - 1;
  const warn = opts.onWarning ?? ((): void => {});
  if (lastLba < 2) throw gptError(origin, `too small for a GPT (${disk.size} bytes)`);
  const primary = readHeader(disk, 1, sectorSize, lastLba);
  let header: Header;
  let which: 'primary' | 'backup';
  if ('bad' in primary) {
    const places = [lastLba];
    if (primary.alternateLba !== undefined && primary.alternateLba !== lastLba && primary.alternateLba <= lastLba) places.push(primary.alternateLba);
    let backup: Header | undefined;
    let why = '';
    for (const lba of places) {
      const b = readHeader(disk, lba, sectorSize, lastLba);
      if (!('bad' in b)) {
        backup = b;
        break;
      }
      why ||= `${b.bad} at LBA ${lba}`;
    }
    if (backup === undefined) {
      throw gptError(origin, `both GPT headers are damaged (primary: ${primary.bad}; backup: ${why})`, { primary: primary.bad, backup: why });
    }
    warn(`${origin}: the primary GPT header is damaged (${primary.bad}); using the backup at LBA ${backup.lba}`);
    header = backup;
    which = 'backup';
  } else {
    header = primary;
    which = 'primary';
    const alt = primary.alternateLba;
    if (alt !== lastLba) warn(`${origin}: the backup GPT header is at LBA ${alt}, not at the end of the disk (LBA ${lastLba}): was the disk resized?`);
    if (alt <= lastLba && alt > 1) {
      const b = readHeader(disk, alt, sectorSize, lastLba);
      if ('bad' in b) warn(`${origin}: the backup GPT header at LBA ${alt} is damaged (${b.bad}); the primary is used`);
    }
  }
  return {
    sectorSize,
    diskGuid: header.diskGuid,
    header: which,
    firstUsableLba: header.firstUsableLba,
    lastUsableLba: header.lastUsableLba,
    partitions: readEntries(header, origin, lastLba),
  };
}

function readEntries(h: Header, origin: string, lastLba: number): GptPartition[] {
  const out: GptPartition[] = [];
  const utf16 = new TextDecoder('utf-16le');
  for (let i = 0; i < h.entryCount; i++) {
    const e = h.entries.subarray(i * h.entrySize, i * h.entrySize + ENTRY_MIN);
    if (isZero(e.subarray(E.PartitionTypeGUID, E.PartitionTypeGUID + 16))) continue;
    const dv = new DataView(e.buffer, e.byteOffset, e.length);
    const number = i + 1;
    const firstLba = u64(dv, E.StartingLBA);
    const lastLbaOfPart = u64(dv, E.EndingLBA);
    if (lastLbaOfPart < firstLba) throw gptError(origin, `GPT partition ${number} ends (LBA ${lastLbaOfPart}) before it starts (LBA ${firstLba})`, { partition: number });
    if (firstLba < 1 || lastLbaOfPart > lastLba) {
      throw gptError(origin, `GPT partition ${number} (LBA ${firstLba}-${lastLbaOfPart}) is not on the disk (last LBA ${lastLba})`, { partition: number });
    }
    const nameBytes = e.subarray(E.PartitionName, E.PartitionName + E.PartitionNameBytes);
    let end = 0;
    while (end < nameBytes.length && (nameBytes[end] !== 0 || nameBytes[end + 1] !== 0)) end += 2;
    out.push({
      number,
      firstLba,
      lastLba: lastLbaOfPart,
      typeGuid: guidText(e, E.PartitionTypeGUID),
      uniqueGuid: guidText(e, E.UniquePartitionGUID),
      attributes: dv.getBigUint64(E.Attributes, true),
      name: utf16.decode(nameBytes.subarray(0, end)),
    });
  }
  return out;
}
