/**
 * Recognise disk images by their headers: qcow2 (`QFI\xfb`, qemu docs/interop/qcow2.txt), a GPT
 * ("EFI PART" at LBA 1, for 512- and 4096-byte sectors, UEFI spec 5.3) and an MBR partition
 * table (0x55AA at byte 510 with four plausible entries, as the kernel's msdos partition parser
 * checks the boot indicators).
 */

export type DiskKind = { kind: 'qcow2'; version: number } | { kind: 'gpt' } | { kind: 'mbr'; partitions: number };

const QCOW2_MAGIC = [0x51, 0x46, 0x49, 0xfb];
const GPT_SIGNATURE = [0x45, 0x46, 0x49, 0x20, 0x50, 0x41, 0x52, 0x54]; // "EFI PART"

function at(data: Uint8Array, offset: number, magic: readonly number[]): boolean {
  if (data.length < offset + magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (data[offset + i] !== magic[i]) return false;
  return true;
}

export function identifyDisk(data: Uint8Array): DiskKind | undefined {
  if (at(data, 0, QCOW2_MAGIC) && data.length >= 8) {
    const version = ((data[4]! << 24) | (data[5]! << 16) | (data[6]! << 8) | data[7]!) >>> 0;
    return { kind: 'qcow2', version };
  }
  if (at(data, 512, GPT_SIGNATURE) || at(data, 4096, GPT_SIGNATURE)) return { kind: 'gpt' };
  if (data.length >= 512 && data[510] === 0x55 && data[511] === 0xaa) {
    // msdos_partition(): every boot indicator is 0x00 or 0x80; a table names at least one type.
    let partitions = 0;
    for (let i = 0; i < 4; i++) {
      const e = 446 + 16 * i;
      const boot = data[e]!;
      if (boot !== 0 && boot !== 0x80) return undefined;
      if (data[e + 4] !== 0) partitions++;
    }
    if (partitions > 0) return { kind: 'mbr', partitions };
  }
  return undefined;
}
