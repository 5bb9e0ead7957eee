/**
 * Writing an MBR sector: the classic table of four primary partitions (read back by mbr.ts), and
 * the protective MBR in front of a GPT (UEFI spec 5.2.3). Addresses are written the way
 * util-linux's libfdisk (sfdisk) writes them for a disk image, so that the sector is byte for
 * byte what `sfdisk` makes from the same script: CHS in its default geometry of 255 heads and 63
 * sectors per track, 0xFEFFFF once past cylinder 1023.
 */
import { SECTOR } from './mbr.js';

/** struct dos_partition (16 bytes), byte offsets. */
const P = {
  boot_ind: 0,
  bh: 1, // start head
  bs: 2, // start sector (bits 0-5) and cylinder bits 8-9 (bits 6-7)
  bc: 3, // start cylinder bits 0-7
  sys_ind: 4,
  eh: 5,
  es: 6,
  ec: 7,
  start_sect: 8,
  nr_sects: 12,
  size: 16,
} as const;

/** Offsets in sector 0. */
const MBR = {
  disk_signature: 440,
  table: 0x1be,
  magic: 510,
} as const;

/** The geometry libfdisk assumes for an image file (no HDIO_GETGEO). */
const HEADS = 255;
const SECTORS_PER_TRACK = 63;

export const TYPE_GPT_PROTECTIVE = 0xee;

export interface MbrSlot {
  /** 512-byte sectors from the disk's start. */
  startSector: number;
  sectors: number;
  type: number;
  bootable?: boolean;
}

/**
 * The CHS triple of `lba` as stored (head, sector | cylinder high bits, cylinder low bits):
 * libfdisk's long2chs() plus the 1023/254/63 clamp of set_partition() in dos.c.
 */
export function chsBytes(lba: number): [number, number, number] {
  const cylinder = Math.floor(lba / (HEADS * SECTORS_PER_TRACK));
  if (cylinder > 1023) return [0xfe, 0xff, 0xff];
  const head = Math.floor(lba / SECTORS_PER_TRACK) % HEADS;
  const sector = (lba % SECTORS_PER_TRACK) + 1;
  return [head, sector | ((cylinder >> 2) & 0xc0), cylinder & 0xff];
}

function putSlot(sector0: Uint8Array, index: number, slot: MbrSlot, chs: { start: [number, number, number]; end: [number, number, number] }): void {
  const at = MBR.table + index * P.size;
  const dv = new DataView(sector0.buffer, sector0.byteOffset, sector0.length);
  sector0[at + P.boot_ind] = slot.bootable ? 0x80 : 0;
  sector0.set(chs.start, at + P.bh);
  sector0[at + P.sys_ind] = slot.type;
  sector0.set(chs.end, at + P.eh);
  dv.setUint32(at + P.start_sect, slot.startSector, true);
  dv.setUint32(at + P.nr_sects, slot.sectors, true);
}

/** Sector 0 of an MBR disk: up to four primary partitions (a slot of 0 sectors stays zero), the disk signature, 0x55AA. */
export function encodeMbr(slots: readonly MbrSlot[], signature: number): Uint8Array {
  if (slots.length > 4) throw new RangeError(`an MBR has 4 slots, not ${slots.length}`);
  const sector0 = new Uint8Array(SECTOR);
  new DataView(sector0.buffer).setUint32(MBR.disk_signature, signature >>> 0, true);
  slots.forEach((s, i) => {
    if (s.sectors > 0) putSlot(sector0, i, s, { start: chsBytes(s.startSector), end: chsBytes(s.startSector + s.sectors - 1) });
  });
  sector0[MBR.magic] = 0x55;
  sector0[MBR.magic + 1] = 0xaa;
  return sector0;
}

/**
 * The protective MBR of a GPT disk (UEFI 5.2.3): one partition of type 0xEE from LBA 1 over the
 * whole disk (capped at 0xFFFFFFFF sectors), starting CHS 0/0/2; the ending CHS written as
 * 0xFFFFFF, as libfdisk's gpt.c does whatever the size; no disk signature.
 */
export function encodeProtectiveMbr(diskSectors: number): Uint8Array {
  const sector0 = new Uint8Array(SECTOR);
  const slot: MbrSlot = { startSector: 1, sectors: Math.min(diskSectors - 1, 0xffffffff), type: TYPE_GPT_PROTECTIVE };
  putSlot(sector0, 0, slot, { start: [0x00, 0x02, 0x00], end: [0xff, 0xff, 0xff] });
  sector0[MBR.magic] = 0x55;
  sector0[MBR.magic + 1] = 0xaa;
  return sector0;
}
