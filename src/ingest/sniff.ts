import { identifyDisk } from '../disk/identify.js';
import { identifyExt } from '../ext/identify.js';
import { ascii, firstNonZero, startsWith } from './bytes.js';
import { AR_MAGIC } from './ar.js';
import { cpioMagic } from './cpio.js';
import { RPM_LEAD_MAGIC } from './rpm.js';
import { MemorySource, type ByteSource } from './source.js';
import { isTarHeader } from './tar.js';

export type ArchiveFormat = 'tar' | 'cpio' | 'deb' | 'rpm';

/**
 * What kind of archive uncompressed bytes are (`data`: the bytes, or the head of `whole`), by their magic: an rpm lead, an ar archive
 * whose first member is debian-binary, a cpio header, or a tar header ("ustar" at 257, or a
 * valid header checksum for v7 tars). Zero bytes are an empty tar only when nothing but zeros
 * follows: an ext image, a disk or any file that merely starts with 1 KiB of zeros is not one.
 */
export function sniffArchive(data: Uint8Array, whole?: ByteSource): ArchiveFormat | undefined {
  if (startsWith(data, RPM_LEAD_MAGIC)) return 'rpm';
  if (startsWith(data, AR_MAGIC)) return ascii(data, 8, 13) === 'debian-binary' ? 'deb' : undefined;
  const cpio = cpioMagic(data);
  if (cpio !== undefined && (cpio !== 'bin' || plausibleBinCpio(data))) return 'cpio';
  if (data.length >= 512) {
    if (ascii(data, 257, 5) === 'ustar') return 'tar';
    if (isTarHeader(data.subarray(0, 512))) return 'tar';
    // `data` may be the head of a larger source: the zeros must go on to its very end.
    if (data.length >= 1024 && firstNonZero(data) === -1 && (whole ?? new MemorySource(data)).firstNonZero(0) === -1) return 'tar';
  }
  return undefined;
}

/**
 * What a file that is not an archive is, when it is a filesystem or disk image extimg can name
 * ("an ext4 filesystem image", "a qcow2 disk image"), else undefined.
 */
export function identifyImage(data: Uint8Array): string | undefined {
  const disk = identifyDisk(data);
  if (disk?.kind === 'qcow2') return `a qcow2 disk image (version ${disk.version})`;
  // GPT before ext (its signature is definitive); ext before MBR (a filesystem's first sector
  // may hold a boot loader that ends in 0x55AA, as extlinux installs one).
  if (disk?.kind === 'gpt') return 'a partitioned disk image (GPT)';
  const ext = identifyExt(data);
  if (ext === 'jbd2') return 'an ext3/ext4 external journal device';
  if (ext) return `an ${ext} filesystem image`;
  if (disk?.kind === 'mbr') return `a partitioned disk image (MBR, ${disk.partitions} partition${disk.partitions === 1 ? '' : 's'})`;
  if (ascii(data, 0, 4) === 'hsqs') return 'a squashfs filesystem image';
  if (ascii(data, 0x8001, 5) === 'CD001') return 'an ISO 9660 filesystem image';
  if (startsWith(data, [0xe2, 0xe1, 0xf5, 0xe0], 1024)) return 'an EROFS filesystem image';
  return undefined;
}

/** The old binary cpio magic is two bytes: also ask for a NUL-terminated name where the header says. */
function plausibleBinCpio(data: Uint8Array): boolean {
  if (data.length < 26) return false;
  const le = data[0] === 0xc7;
  const namesize = le ? data[20]! | (data[21]! << 8) : (data[20]! << 8) | data[21]!;
  return namesize > 0 && 26 + namesize <= data.length && data[26 + namesize - 1] === 0;
}
