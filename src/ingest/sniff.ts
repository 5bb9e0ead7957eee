import { ascii, startsWith } from './bytes.js';
import { AR_MAGIC } from './ar.js';
import { cpioMagic } from './cpio.js';
import { RPM_LEAD_MAGIC } from './rpm.js';
import { isTarHeader } from './tar.js';

export type ArchiveFormat = 'tar' | 'cpio' | 'deb' | 'rpm';

/**
 * What kind of archive uncompressed bytes are, by their magic: an rpm lead, an ar archive
 * whose first member is debian-binary, a cpio header, or a tar header ("ustar" at 257, or a
 * valid header checksum for v7 tars; two zero blocks are an empty tar).
 */
export function sniffArchive(data: Uint8Array): ArchiveFormat | undefined {
  if (startsWith(data, RPM_LEAD_MAGIC)) return 'rpm';
  if (startsWith(data, AR_MAGIC)) return ascii(data, 8, 13) === 'debian-binary' ? 'deb' : undefined;
  const cpio = cpioMagic(data);
  if (cpio !== undefined && (cpio !== 'bin' || plausibleBinCpio(data))) return 'cpio';
  if (data.length >= 512) {
    if (ascii(data, 257, 5) === 'ustar') return 'tar';
    if (isTarHeader(data.subarray(0, 512))) return 'tar';
    if (data.length >= 1024 && data.subarray(0, 1024).every((b) => b === 0)) return 'tar';
  }
  return undefined;
}

/** The old binary cpio magic is two bytes: also ask for a NUL-terminated name where the header says. */
function plausibleBinCpio(data: Uint8Array): boolean {
  if (data.length < 26) return false;
  const le = data[0] === 0xc7;
  const namesize = le ? data[20]! | (data[21]! << 8) : (data[20]! << 8) | data[21]!;
  return namesize > 0 && 26 + namesize <= data.length && data[26 + namesize - 1] === 0;
}
