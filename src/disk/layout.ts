/**
 * A partitioned disk's layout: where each partition goes (planDisk) and the bytes of its
 * partition table (tableWrites), GPT or MBR, on 512-byte sectors. Partitions are placed in the
 * order given, each at the next multiple of the alignment (1 MiB by default, as sfdisk and
 * parted do), the first at 1 MiB; one of them may take the rest of the disk. Everything is decided
 * and checked before a byte is written, and a layout that does not fit is refused in one line
 * that says what would fit.
 *
 * GUIDs and the MBR disk signature are random, or derived from a seed (reproducible builds):
 * SHA-256 of the seed and the GUID's purpose, shaped as an RFC 4122 version 4 UUID.
 */
import { Sha256 } from '../compress/sha256.js';
import { ExtimgError } from '../errors.js';
import { ATTR_LEGACY_BIOS_BOOTABLE, BACKUP_SECTORS, encodeGpt, ENTRY_COUNT, FIRST_USABLE_LBA, NAME_UNITS, type GptEntry } from './gpt-write.js';
import { encodeMbr, encodeProtectiveMbr, TYPE_GPT_PROTECTIVE } from './mbr-write.js';
import { isExtendedType, SECTOR } from './mbr.js';
import { formatSize } from './open.js';

export type TableKind = 'gpt' | 'mbr';

export interface PartitionSpec {
  /**
   * Bytes, rounded up to whole 512-byte sectors; 'rest': the space left (at most one partition,
   * any position; it needs a disk size). 'fit' sizes are resolved by the caller.
   */
  size: number | 'rest';
  /**
   * Where the partition starts, in bytes (a multiple of 512); by default at the next multiple of
   * the alignment after the partition before it.
   */
  start?: number;
  /**
   * GPT: a type GUID, or a name of GPT_TYPES ('linux', the default: "Linux filesystem").
   * MBR: a byte, a name of MBR_TYPES, or hex text ('83', '0x83'); 0x83 by default.
   */
  type?: string | number;
  /** GPT partition name (UTF-16LE, at most 36 code units). */
  label?: string;
  /** GPT unique partition GUID; by default derived from the seed and the partition number. */
  guid?: string;
  /** MBR: the boot flag (0x80). GPT: the "legacy BIOS bootable" attribute (bit 2). */
  bootable?: boolean;
}

export interface LayoutOptions {
  table: TableKind;
  /** The whole disk in bytes (a multiple of 512); undefined: just big enough, rounded up to 1 MiB. */
  diskSize?: number;
  /** Partition alignment in bytes, 512 x 2^n; 1 MiB by default. */
  alignment?: number;
  /** Seed for the disk GUID, partition GUIDs and MBR disk signature; undefined: random. */
  seed?: Uint8Array;
  diskGuid?: string;
  /** MBR disk signature (bytes 440-443). */
  signature?: number;
}

export interface PlacedPartition {
  /** sdaN: GPT entry index + 1, MBR slot 1-4. */
  number: number;
  /** Bytes from the disk's start. */
  start: number;
  size: number;
  typeGuid?: string;
  typeByte?: number;
  name?: string;
  guid?: string;
  bootable?: boolean;
}

export interface DiskLayout {
  table: TableKind;
  diskSize: number;
  partitions: PlacedPartition[];
  diskGuid?: string;
  signature?: number;
}

/** GPT partition type names: the Discoverable Partitions Specification (UAPI group) GUIDs. */
export const GPT_TYPES: Readonly<Record<string, string>> = {
  linux: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', // SD_GPT_LINUX_GENERIC: "Linux filesystem"
  'root-x86-64': '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709',
  'root-arm64': 'B921B045-1DF0-41C3-AF44-4C6F280D3FAE',
  'root-x86': '44479540-F297-41B2-9AF7-D131D5F0458A',
  'root-arm': '69DAD710-2CE4-4E3C-B16C-21A1D49ABED3',
  'root-riscv64': '72EC70A6-CF74-40E6-BD49-4BDA08E8F224',
  'usr-x86-64': '8484680C-9521-48C6-9C11-B0720656F69E',
  'usr-arm64': 'B0E01050-EE5F-4390-949A-9101B17104E9',
  esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  xbootldr: 'BC13C2FF-59E6-4262-A352-B275FD6F7172',
  swap: '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F',
  home: '933AC7E1-2EB4-4F13-B844-0E14E2AEF915',
  srv: '3B8F8425-20E0-4F3B-907F-1A25A76F98E8',
  var: '4D21B016-B534-45C2-A9FB-5C16E091FD2D',
  tmp: '7EC6F557-3BC5-4ACA-B293-16EF5DF639D1',
};

/** MBR partition type names. */
export const MBR_TYPES: Readonly<Record<string, number>> = { linux: 0x83, swap: 0x82, esp: 0xef };

const MiB = 1 << 20;
const DEFAULT_ALIGNMENT = MiB;
/** The first partition starts at 1 MiB (or the next multiple of a larger alignment). */
const FIRST_START = MiB;
const MBR_MAX_SECTORS = 0xffffffff;
const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NIL_GUID = '00000000-0000-0000-0000-000000000000';

function sz(bytes: number): string {
  return bytes < 1024 ? `${bytes} bytes` : `${formatSize(bytes)} (${bytes} bytes)`;
}

function invalid(what: string, data: Record<string, unknown> = {}): ExtimgError {
  return new ExtimgError('EINVAL', what, data);
}

/** 16 bytes for `purpose`: SHA-256 over the seed's length, the seed and the purpose. */
function derive(seed: Uint8Array, purpose: string): Uint8Array {
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, seed.length, true);
  return new Sha256().update(len).update(seed).update(new TextEncoder().encode(`extimg disk: ${purpose}`)).digest().subarray(0, 16);
}

/** A GUID derived from the seed, with RFC 4122 version 4 and variant 1 bits (as uuid_generate() sets them). */
function derivedGuid(seed: Uint8Array, purpose: string): string {
  const b = derive(seed, purpose);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('').toUpperCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function checkGuid(text: string, what: string): string {
  if (!GUID_RE.test(text)) throw invalid(`${what} '${text}' is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`, { guid: text });
  if (text === NIL_GUID) throw invalid(`${what} may not be the zero GUID`, { guid: text });
  return text.toUpperCase();
}

function gptType(type: string | number | undefined, who: string): string {
  if (type === undefined) return GPT_TYPES.linux!;
  if (typeof type === 'number') throw invalid(`${who}: type ${type} is an MBR type byte; a GPT partition type is a GUID or one of ${Object.keys(GPT_TYPES).join(', ')}`, { type });
  const named = GPT_TYPES[type.toLowerCase()];
  if (named !== undefined) return named;
  if (GUID_RE.test(type)) return checkGuid(type, `${who}: type`);
  throw invalid(`${who}: unknown GPT partition type '${type}' (known: ${Object.keys(GPT_TYPES).join(', ')}; or a type GUID)`, { type });
}

function mbrType(type: string | number | undefined, who: string): number {
  let byte: number;
  if (type === undefined) return MBR_TYPES.linux!;
  if (typeof type === 'number') byte = type;
  else if (MBR_TYPES[type.toLowerCase()] !== undefined) byte = MBR_TYPES[type.toLowerCase()]!;
  else if (/^(0x)?[0-9a-f]{1,2}$/i.test(type)) byte = parseInt(type.replace(/^0x/i, ''), 16);
  else throw invalid(`${who}: unknown MBR partition type '${type}' (known: ${Object.entries(MBR_TYPES).map(([n, b]) => `${n} (0x${b.toString(16)})`).join(', ')}; or a byte such as 0x83)`, { type });
  if (!Number.isInteger(byte) || byte < 1 || byte > 0xff) throw invalid(`${who}: MBR partition type ${type} is not a byte 0x01-0xff`, { type });
  if (byte === TYPE_GPT_PROTECTIVE || isExtendedType(byte)) {
    throw invalid(`${who}: MBR partition type 0x${byte.toString(16)} is ${byte === TYPE_GPT_PROTECTIVE ? 'the GPT protective type' : 'an extended partition'}, which is not written here`, { type });
  }
  return byte;
}

function checkLabel(label: string, who: string): string {
  if (label.length > NAME_UNITS) throw invalid(`${who}: label '${label}' is ${label.length} UTF-16 code units long; a GPT partition name holds at most ${NAME_UNITS}`, { label });
  if (label.includes('\0')) throw invalid(`${who}: label contains a NUL character`, { label });
  return label;
}

/** A partition as messages name it: `partition 2 ("root")`. */
function partName(spec: PartitionSpec, index: number): string {
  return spec.label ? `partition ${index + 1} ("${spec.label}")` : `partition ${index + 1}`;
}

const alignUp = (v: number, a: number): number => Math.ceil(v / a) * a;
const alignDown = (v: number, a: number): number => Math.floor(v / a) * a;

function checkOptions(parts: readonly PartitionSpec[], o: LayoutOptions): { alignSectors: number; diskSectors?: number } {
  if (o.table !== 'gpt' && o.table !== 'mbr') throw invalid(`partition table '${String(o.table)}' is not gpt or mbr`, { table: o.table });
  const alignment = o.alignment ?? DEFAULT_ALIGNMENT;
  const a = alignment / SECTOR;
  if (!Number.isInteger(a) || a < 1 || (a & (a - 1)) !== 0 || a > 2 ** 30) {
    throw invalid(`partition alignment ${alignment} is not 512 bytes times a power of two`, { alignment });
  }
  let diskSectors: number | undefined;
  if (o.diskSize !== undefined) {
    if (!Number.isSafeInteger(o.diskSize) || o.diskSize <= 0 || o.diskSize % SECTOR !== 0) {
      throw invalid(`disk size ${o.diskSize} is not a positive multiple of 512 bytes`, { diskSize: o.diskSize });
    }
    diskSectors = o.diskSize / SECTOR;
  }
  const max = o.table === 'mbr' ? 4 : ENTRY_COUNT;
  if (parts.length > max) {
    throw invalid(
      o.table === 'mbr'
        ? `${parts.length} partitions do not go in an MBR: it holds 4 primary partitions (logical partitions are not written); use a GPT`
        : `${parts.length} partitions do not go in a GPT of ${ENTRY_COUNT} entries`,
      { partitions: parts.length },
    );
  }
  const rests = parts.flatMap((p, i) => (p.size === 'rest' ? [i + 1] : []));
  if (rests.length > 1) throw invalid(`partitions ${rests.join(' and ')} both ask for the rest of the disk; at most one may`, { partitions: rests });
  if (rests.length === 1 && diskSectors === undefined) {
    throw invalid(`partition ${rests[0]} asks for the rest of the disk, but no disk size is given`, { partition: rests[0] });
  }
  if (o.signature !== undefined && (!Number.isInteger(o.signature) || o.signature < 0 || o.signature > 0xffffffff)) {
    throw invalid(`MBR disk signature ${o.signature} is not a 32-bit number`, { signature: o.signature });
  }
  return { alignSectors: a, ...(diskSectors !== undefined ? { diskSectors } : {}) };
}

/** Sector counts of the partitions (undefined for 'rest'), sizes checked. */
function sectorCounts(parts: readonly PartitionSpec[]): Array<number | undefined> {
  return parts.map((p, i) => {
    if (p.size === 'rest') return undefined;
    if (!Number.isSafeInteger(p.size) || p.size < SECTOR) {
      throw invalid(`${partName(p, i)}: size ${p.size} is ${Number.isSafeInteger(p.size) ? 'smaller than one 512-byte sector' : 'not a whole number of bytes'}`, { partition: i + 1, size: p.size });
    }
    return Math.ceil(p.size / SECTOR);
  });
}

function explicitStart(p: PartitionSpec, i: number, firstUsable: number): number | undefined {
  if (p.start === undefined) return undefined;
  if (!Number.isSafeInteger(p.start) || p.start % SECTOR !== 0) throw invalid(`${partName(p, i)}: start ${p.start} is not a multiple of 512 bytes`, { partition: i + 1, start: p.start });
  if (p.start < firstUsable * SECTOR) {
    throw invalid(`${partName(p, i)}: start ${p.start} is inside the partition table (the first usable byte is ${firstUsable * SECTOR})`, { partition: i + 1, start: p.start });
  }
  return p.start / SECTOR;
}

/**
 * Where the 'rest' partition at `r` ends: at the start of the first later partition with a
 * fixed start (or the usable area's end), less the room the partitions between need when
 * placed aligned from an aligned point.
 */
function restEnd(parts: readonly PartitionSpec[], counts: ReadonlyArray<number | undefined>, r: number, usableEnd: number, a: number, firstUsable: number): number {
  let limit = usableEnd;
  let span = 0;
  for (let k = r + 1; k < parts.length; k++) {
    const s = explicitStart(parts[k]!, k, firstUsable);
    if (s !== undefined) {
      limit = s;
      break;
    }
    span = alignUp(span, a) + counts[k]!;
  }
  return span === 0 ? limit : alignDown(limit - span, a);
}

/** Place the partitions (aligned, in order), or throw ExtimgError (ENOSPC, EINVAL) saying what is wrong and what would fit. */
export function planDisk(parts: readonly PartitionSpec[], options: LayoutOptions): DiskLayout {
  const { alignSectors: a, diskSectors } = checkOptions(parts, options);
  const gpt = options.table === 'gpt';
  const counts = sectorCounts(parts);
  const firstUsable = gpt ? FIRST_USABLE_LBA : 1;
  const trailer = gpt ? BACKUP_SECTORS : 0;
  if (diskSectors !== undefined && diskSectors < firstUsable + trailer + 1) {
    throw new ExtimgError('ENOSPC', `a disk of ${sz(diskSectors * SECTOR)} is too small for a${gpt ? ' GPT' : 'n MBR'} (at least ${sz(alignUp(firstUsable + trailer + 1, 2048) * SECTOR)})`, { diskSize: options.diskSize });
  }
  const usableEnd = diskSectors === undefined ? Infinity : diskSectors - trailer; // exclusive
  const seed = options.seed ?? globalThis.crypto.getRandomValues(new Uint8Array(32));
  const placed: PlacedPartition[] = [];
  let cursor = alignUp(FIRST_START / SECTOR, a);
  let prev: { end: number; who: string } | undefined;
  parts.forEach((p, i) => {
    const who = partName(p, i);
    const fixed = explicitStart(p, i, firstUsable);
    const start = fixed ?? alignUp(cursor, a);
    if (prev !== undefined && start < prev.end) {
      throw invalid(`${who} (from byte ${start * SECTOR}) overlaps ${prev.who}, which ends at byte ${prev.end * SECTOR}`, { partition: i + 1, start: start * SECTOR, previousEnd: prev.end * SECTOR });
    }
    let sectors = counts[i];
    if (sectors === undefined) {
      const end = restEnd(parts, counts, i, usableEnd, a, firstUsable);
      if (end - start < 1) {
        throw new ExtimgError('ENOSPC', `${who}: no room is left for the rest of the disk (${sz(diskSectors! * SECTOR)}): it would start at byte ${start * SECTOR}, the partitions after it need the space from byte ${end * SECTOR}`, { partition: i + 1, diskSize: options.diskSize });
      }
      sectors = end - start;
    }
    const end = start + sectors;
    if (end > usableEnd) {
      const fits = Math.max(0, usableEnd - start) * SECTOR;
      const need = alignUp(end + trailer, 2048) * SECTOR;
      throw new ExtimgError(
        'ENOSPC',
        `${who} (${sz(sectors * SECTOR)} from byte ${start * SECTOR}) does not fit the disk of ${sz(diskSectors! * SECTOR)}: ${fits > 0 ? `at most ${sz(fits)} fit there` : 'no room is left for it'}; the disk needs at least ${sz(need)}`,
        { partition: i + 1, size: sectors * SECTOR, fits, diskSize: options.diskSize, needed: need },
      );
    }
    if (!gpt && (start > MBR_MAX_SECTORS || sectors > MBR_MAX_SECTORS)) {
      throw invalid(`${who} (${sz(sectors * SECTOR)} from byte ${start * SECTOR}) is beyond what an MBR addresses (2^32 sectors of 512 bytes); use a GPT`, { partition: i + 1 });
    }
    placed.push(resolvePartition(p, i, start, sectors, gpt, seed));
    prev = { end, who };
    cursor = end;
  });
  checkUniqueGuids(placed);
  const lastEnd = placed.reduce((m, p) => Math.max(m, (p.start + p.size) / SECTOR), firstUsable);
  const sectorsTotal = diskSectors ?? alignUp(lastEnd + trailer, 2048);
  const layout: DiskLayout = { table: options.table, diskSize: sectorsTotal * SECTOR, partitions: placed };
  if (gpt) layout.diskGuid = options.diskGuid !== undefined ? checkGuid(options.diskGuid, 'disk GUID') : derivedGuid(seed, 'disk GUID');
  else {
    const b = derive(seed, 'MBR disk signature');
    layout.signature = options.signature ?? new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
  }
  return layout;
}

function resolvePartition(p: PartitionSpec, i: number, start: number, sectors: number, gpt: boolean, seed: Uint8Array): PlacedPartition {
  const who = partName(p, i);
  const out: PlacedPartition = { number: i + 1, start: start * SECTOR, size: sectors * SECTOR };
  if (gpt) {
    out.typeGuid = gptType(p.type, who);
    if (p.label !== undefined) out.name = checkLabel(p.label, who);
    out.guid = p.guid !== undefined ? checkGuid(p.guid, `${who}: GUID`) : derivedGuid(seed, `partition ${i + 1} GUID`);
  } else {
    out.typeByte = mbrType(p.type, who);
    if (p.label !== undefined) throw invalid(`${who}: an MBR partition has no name (label '${p.label}'); use a GPT`, { partition: i + 1 });
    if (p.guid !== undefined) throw invalid(`${who}: an MBR partition has no GUID; use a GPT`, { partition: i + 1 });
  }
  if (p.bootable) out.bootable = true;
  return out;
}

function checkUniqueGuids(placed: readonly PlacedPartition[]): void {
  const seen = new Map<string, number>();
  for (const p of placed) {
    if (p.guid === undefined) continue;
    const other = seen.get(p.guid);
    if (other !== undefined) throw invalid(`partitions ${other} and ${p.number} have the same GUID ${p.guid}`, { guid: p.guid });
    seen.set(p.guid, p.number);
  }
}

/**
 * The partition table's bytes as (offset, bytes) pieces: the MBR sector; for GPT the protective
 * MBR, the primary header and entries (LBA 1, 2-33), the backup entries and header (the last 33
 * sectors). The rest of the disk is the caller's (zeros where nothing is written).
 */
export function tableWrites(layout: DiskLayout): Array<{ offset: number; bytes: Uint8Array }> {
  const diskSectors = layout.diskSize / SECTOR;
  if (!Number.isSafeInteger(diskSectors) || diskSectors < 1) throw invalid(`disk size ${layout.diskSize} is not a positive multiple of 512 bytes`, { diskSize: layout.diskSize });
  const gpt = layout.table === 'gpt';
  const firstUsable = gpt ? FIRST_USABLE_LBA : 1;
  const usableEnd = diskSectors - (gpt ? BACKUP_SECTORS : 0);
  const numbers = new Set<number>();
  for (const p of layout.partitions) {
    if (!Number.isInteger(p.number) || p.number < 1 || p.number > (gpt ? ENTRY_COUNT : 4) || numbers.has(p.number)) {
      throw invalid(`partition number ${p.number} is not a free ${gpt ? `GPT entry (1-${ENTRY_COUNT})` : 'MBR slot (1-4)'}`, { partition: p.number });
    }
    numbers.add(p.number);
    if (p.start % SECTOR !== 0 || p.size % SECTOR !== 0 || p.size < SECTOR || p.start / SECTOR < firstUsable || (p.start + p.size) / SECTOR > usableEnd) {
      throw invalid(`partition ${p.number} (${p.size} bytes from byte ${p.start}) is not whole sectors inside the usable area of the disk (${layout.diskSize} bytes)`, { partition: p.number });
    }
  }
  if (!gpt) {
    const slots: Array<{ startSector: number; sectors: number; type: number; bootable?: boolean }> = [];
    for (const p of layout.partitions) {
      if (p.typeByte === undefined) throw invalid(`partition ${p.number} has no MBR type byte`, { partition: p.number });
      while (slots.length < p.number - 1) slots.push({ startSector: 0, sectors: 0, type: 0 });
      slots[p.number - 1] = { startSector: p.start / SECTOR, sectors: p.size / SECTOR, type: p.typeByte, ...(p.bootable ? { bootable: true } : {}) };
    }
    return [{ offset: 0, bytes: encodeMbr(slots, layout.signature ?? 0) }];
  }
  if (layout.diskGuid === undefined) throw invalid('a GPT layout needs a disk GUID');
  const entries: GptEntry[] = layout.partitions.map((p) => {
    if (p.typeGuid === undefined || p.guid === undefined) throw invalid(`partition ${p.number} has no type GUID or partition GUID`, { partition: p.number });
    return {
      number: p.number,
      firstLba: p.start / SECTOR,
      lastLba: (p.start + p.size) / SECTOR - 1,
      typeGuid: p.typeGuid,
      uniqueGuid: p.guid,
      ...(p.bootable ? { attributes: ATTR_LEGACY_BIOS_BOOTABLE } : {}),
      ...(p.name !== undefined ? { name: p.name } : {}),
    };
  });
  return [
    { offset: 0, bytes: encodeProtectiveMbr(diskSectors) },
    ...encodeGpt(diskSectors, layout.diskGuid, entries).map((w) => ({ offset: w.lba * SECTOR, bytes: w.bytes })),
  ];
}
