/**
 * The MBR (msdos) partition table, read as the Linux kernel reads it (block/partitions/msdos.c):
 * four primary slots numbered 1-4 by position; an extended partition (0x05, 0x0f, 0x85) holds a
 * chain of EBRs, each with logical partitions (numbered from 5 in chain order) and a link to the
 * next EBR, relative to the extended partition's start. Where the kernel stops silently (a chain
 * of over 100 EBRs, a loop), we refuse with the place named: a disk we cannot read whole is not
 * guessed at.
 */
import { ExtimgError } from '../errors.js';
import { readBytes, type RandomAccess } from './random-access.js';

export const SECTOR = 512;

/** One MBR partition: a primary, an extended container or a logical partition. */
export interface MbrPartition {
  /** As the kernel numbers them: 1-4 the primary slots, 5... logical partitions in chain order. */
  number: number;
  /** First sector and count, in 512-byte sectors from the start of the disk. */
  startSector: number;
  sectors: number;
  /** The partition type byte (sys_ind). */
  type: number;
  bootable: boolean;
  /** An extended partition: a container of logical partitions, no filesystem of its own. */
  extended: boolean;
}

/** Most EBRs one chain may have (the kernel gives up after 100 without a partition). */
export const MAX_EBRS = 256;

const TABLE = 0x1be;
const TYPE_GPT_PROTECTIVE = 0xee;

export function isExtendedType(type: number): boolean {
  return type === 0x05 || type === 0x0f || type === 0x85;
}

interface Entry {
  boot: number;
  type: number;
  start: number;
  sectors: number;
}

function entries(sector: Uint8Array): Entry[] {
  const dv = new DataView(sector.buffer, sector.byteOffset, SECTOR);
  const out: Entry[] = [];
  for (let i = 0; i < 4; i++) {
    const e = TABLE + 16 * i;
    out.push({ boot: sector[e]!, type: sector[e + 4]!, start: dv.getUint32(e + 8, true), sectors: dv.getUint32(e + 12, true) });
  }
  return out;
}

function hasSignature(sector: Uint8Array): boolean {
  return sector[510] === 0x55 && sector[511] === 0xaa;
}

/**
 * Whether sector 0 holds a partition table, as msdos_partition() decides: the 0x55AA signature
 * and every boot indicator 0x00 or 0x80. 'protective' when a slot is of type 0xee (then the disk
 * is GPT, which the kernel leaves to efi.c); 'empty' when the table has no partition.
 */
export function probeMbr(sector0: Uint8Array): 'none' | 'protective' | 'empty' | 'mbr' {
  if (sector0.length < SECTOR || !hasSignature(sector0)) return 'none';
  const es = entries(sector0);
  if (es.some((e) => e.boot !== 0 && e.boot !== 0x80)) return 'none';
  if (es.some((e) => e.type === TYPE_GPT_PROTECTIVE)) return 'protective';
  return es.some((e) => e.sectors !== 0) ? 'mbr' : 'empty';
}

function corrupt(origin: string, what: string, data: Record<string, unknown> = {}): ExtimgError {
  return new ExtimgError('ECORRUPT', `${origin}: ${what}`, { origin, ...data });
}

/** Partitions must lie on the disk (the kernel truncates or drops them with a warning; we refuse). */
function checkOnDisk(origin: string, p: MbrPartition, diskSectors: number): void {
  if (p.startSector + p.sectors > diskSectors) {
    throw corrupt(origin, `MBR partition ${p.number} (sectors ${p.startSector}-${p.startSector + p.sectors - 1}) passes the end of the disk (${diskSectors} sectors)`, { partition: p.number });
  }
}

/** Read the MBR of `disk` (sector 0 already probed as 'mbr' or 'empty'). */
export function readMbr(disk: RandomAccess, origin: string): MbrPartition[] {
  const diskSectors = Math.floor(disk.size / SECTOR);
  const sector0 = readBytes(disk, 0, SECTOR);
  const partitions: MbrPartition[] = [];
  const extended: MbrPartition[] = [];
  entries(sector0).forEach((e, i) => {
    if (e.sectors === 0) return; // msdos_partition(): an empty slot is skipped, whatever its type
    const p: MbrPartition = { number: i + 1, startSector: e.start, sectors: e.sectors, type: e.type, bootable: e.boot === 0x80, extended: isExtendedType(e.type) };
    checkOnDisk(origin, p, diskSectors);
    partitions.push(p);
    if (p.extended) extended.push(p);
  });
  let next = 5;
  for (const x of extended) next = readLogical(disk, origin, x, next, diskSectors, partitions);
  return partitions;
}

/**
 * parse_extended(): walk the EBR chain of extended partition `x`. In each EBR, the data entries
 * are relative to that EBR, the link to the next EBR relative to the extended partition's start;
 * entries 3 and 4 count only when they lie inside the EBR's own extent (they "sometimes contain
 * random garbage"). Returns the next free partition number.
 */
function readLogical(disk: RandomAccess, origin: string, x: MbrPartition, next: number, diskSectors: number, out: MbrPartition[]): number {
  const first = x.startSector;
  const firstSize = x.sectors;
  let thisSector = first;
  let thisSize = firstSize;
  const seen = new Set<number>();
  for (;;) {
    if (seen.has(thisSector)) throw corrupt(origin, `EBR chain of partition ${x.number} loops back to sector ${thisSector}`, { sector: thisSector });
    if (seen.size >= MAX_EBRS) throw corrupt(origin, `EBR chain of partition ${x.number} is longer than ${MAX_EBRS} entries`, { sector: thisSector });
    seen.add(thisSector);
    if (thisSector < first || thisSector >= first + firstSize || thisSector >= diskSectors) {
      throw corrupt(origin, `EBR at sector ${thisSector} lies outside extended partition ${x.number} (sectors ${first}-${first + firstSize - 1}) or the disk (${diskSectors} sectors)`, { sector: thisSector });
    }
    const ebr = readBytes(disk, thisSector * SECTOR, SECTOR);
    if (!hasSignature(ebr)) return next; // the kernel ends the chain there ("goto done")
    const es = entries(ebr);
    es.forEach((e, i) => {
      if (e.sectors === 0 || isExtendedType(e.type)) return;
      const start = thisSector + e.start;
      if (i >= 2 && (e.start + e.sectors > thisSize || start + e.sectors > first + firstSize)) return;
      const p: MbrPartition = { number: next++, startSector: start, sectors: e.sectors, type: e.type, bootable: e.boot === 0x80, extended: false };
      if (p.startSector + p.sectors > first + firstSize) {
        throw corrupt(origin, `logical partition ${p.number} (sectors ${p.startSector}-${p.startSector + p.sectors - 1}, EBR at sector ${thisSector}) passes the end of extended partition ${x.number}`, { partition: p.number, sector: thisSector });
      }
      checkOnDisk(origin, p, diskSectors);
      out.push(p);
    });
    const link = es.find((e) => e.sectors !== 0 && isExtendedType(e.type));
    if (link === undefined) return next;
    thisSector = first + link.start;
    thisSize = link.sectors;
  }
}
