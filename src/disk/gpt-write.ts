/**
 * Writing a GUID partition table (UEFI spec 5.3) on 512-byte sectors: a header at LBA 1 with
 * its 128-entry array at LBA 2-33, the same array at LBA last-32 and the backup header at the
 * last LBA (MyLBA and AlternateLBA swapped, PartitionEntryLBA pointing at its own array), both
 * headers with the CRC32 of themselves and of the array. Read back by gpt.ts.
 */
import { crc32 } from '../compress/crc.js';
import { GPT_ENTRY, GPT_HEADER } from './gpt.js';
import { SECTOR } from './mbr.js';

/** GPT header revision 1.0. */
const REVISION = 0x00010000;
/** HeaderSize: the defined part of the header; the rest of its sector is zero. */
const HEADER_SIZE = 92;
export const ENTRY_SIZE = 128;
export const ENTRY_COUNT = 128;
/** 16 KiB: 32 sectors. */
export const ENTRY_ARRAY_SECTORS = (ENTRY_COUNT * ENTRY_SIZE) / SECTOR;
/** Protective MBR, header, entry array. */
export const FIRST_USABLE_LBA = 2 + ENTRY_ARRAY_SECTORS;
/** Sectors at the end: the backup entry array and header. */
export const BACKUP_SECTORS = ENTRY_ARRAY_SECTORS + 1;
/** PartitionName: 36 UTF-16LE code units. */
export const NAME_UNITS = 36;
/** Attributes bit 2: Legacy BIOS bootable (UEFI 5.3.3, table 5-8). */
export const ATTR_LEGACY_BIOS_BOOTABLE = 1n << 2n;

const H = GPT_HEADER;
const E = GPT_ENTRY;

export interface GptEntry {
  /** Entry index + 1 (1..128). */
  number: number;
  firstLba: number;
  /** Inclusive. */
  lastLba: number;
  typeGuid: string;
  uniqueGuid: string;
  attributes?: bigint;
  name?: string;
}

/**
 * The 16 bytes of a GUID given as text: the first three fields stored little-endian, the last
 * two as written (UEFI appendix A, EFI_GUID); the inverse of gpt.ts guidText().
 */
export function guidBytes(text: string): Uint8Array {
  const hex = text.replace(/-/g, '');
  const b = new Uint8Array(16);
  for (let i = 0; i < 16; i++) b[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  const swap = (i: number, j: number): void => {
    const t = b[i]!;
    b[i] = b[j]!;
    b[j] = t;
  };
  swap(0, 3);
  swap(1, 2);
  swap(4, 5);
  swap(6, 7);
  return b;
}

function putU64(dv: DataView, at: number, v: number): void {
  dv.setUint32(at, v % 2 ** 32, true);
  dv.setUint32(at + 4, Math.floor(v / 2 ** 32), true);
}

/** The 16 KiB entry array. */
export function encodeEntries(entries: readonly GptEntry[]): Uint8Array {
  const array = new Uint8Array(ENTRY_COUNT * ENTRY_SIZE);
  const dv = new DataView(array.buffer);
  for (const e of entries) {
    if (e.number < 1 || e.number > ENTRY_COUNT) throw new RangeError(`GPT entry number ${e.number} is not 1-${ENTRY_COUNT}`);
    const at = (e.number - 1) * ENTRY_SIZE;
    array.set(guidBytes(e.typeGuid), at + E.PartitionTypeGUID);
    array.set(guidBytes(e.uniqueGuid), at + E.UniquePartitionGUID);
    putU64(dv, at + E.StartingLBA, e.firstLba);
    putU64(dv, at + E.EndingLBA, e.lastLba);
    dv.setBigUint64(at + E.Attributes, e.attributes ?? 0n, true);
    const name = e.name ?? '';
    if (name.length > NAME_UNITS) throw new RangeError(`GPT partition name of ${name.length} UTF-16 code units (at most ${NAME_UNITS})`);
    for (let i = 0; i < name.length; i++) dv.setUint16(at + E.PartitionName + 2 * i, name.charCodeAt(i), true);
  }
  return array;
}

interface HeaderFields {
  myLba: number;
  alternateLba: number;
  firstUsableLba: number;
  lastUsableLba: number;
  diskGuid: string;
  entryLba: number;
  entryArrayCrc: number;
}

function encodeHeader(h: HeaderFields): Uint8Array {
  const sector = new Uint8Array(SECTOR);
  const dv = new DataView(sector.buffer);
  sector.set(new TextEncoder().encode('EFI PART'), H.Signature);
  dv.setUint32(H.Revision, REVISION, true);
  dv.setUint32(H.HeaderSize, HEADER_SIZE, true);
  putU64(dv, H.MyLBA, h.myLba);
  putU64(dv, H.AlternateLBA, h.alternateLba);
  putU64(dv, H.FirstUsableLBA, h.firstUsableLba);
  putU64(dv, H.LastUsableLBA, h.lastUsableLba);
  sector.set(guidBytes(h.diskGuid), H.DiskGUID);
  putU64(dv, H.PartitionEntryLBA, h.entryLba);
  dv.setUint32(H.NumberOfPartitionEntries, ENTRY_COUNT, true);
  dv.setUint32(H.SizeOfPartitionEntry, ENTRY_SIZE, true);
  dv.setUint32(H.PartitionEntryArrayCRC32, h.entryArrayCrc, true);
  // HeaderCRC32 over HeaderSize bytes with the field itself zero (UEFI 5.3.2).
  dv.setUint32(H.HeaderCRC32, crc32(sector, 0, HEADER_SIZE), true);
  return sector;
}

/** Where the pieces of a GPT go on a disk of `diskSectors` sectors, and their bytes. */
export function encodeGpt(diskSectors: number, diskGuid: string, entries: readonly GptEntry[]): Array<{ lba: number; bytes: Uint8Array }> {
  const lastLba = diskSectors - 1;
  const backupEntryLba = lastLba - ENTRY_ARRAY_SECTORS;
  const lastUsableLba = lastLba - BACKUP_SECTORS;
  if (lastUsableLba < FIRST_USABLE_LBA) throw new RangeError(`a disk of ${diskSectors} sectors has no room for a GPT`);
  const array = encodeEntries(entries);
  const common = { firstUsableLba: FIRST_USABLE_LBA, lastUsableLba, diskGuid, entryArrayCrc: crc32(array) };
  return [
    { lba: 1, bytes: encodeHeader({ ...common, myLba: 1, alternateLba: lastLba, entryLba: 2 }) },
    { lba: 2, bytes: array },
    { lba: backupEntryLba, bytes: array },
    { lba: lastLba, bytes: encodeHeader({ ...common, myLba: lastLba, alternateLba: 1, entryLba: backupEntryLba }) },
  ];
}
