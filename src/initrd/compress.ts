/**
 * Compress a newc archive for the kernel. Large archives are cut between entries into parts of
 * about 4 MiB (PART_BYTES), each its own gzip member, zstd frame or bzip2 stream (or xz block), compressed
 * in parallel: init/initramfs.c unpacks each compressed stream as a segment and is in its
 * "Reset" state after every whole entry, so a segment may end between entries (only the last
 * one needs the trailer), while zstd -d, gzip -d, bzip2 -d and xz -d — which lsinitramfs runs —
 * read the concatenation back as the one archive it was.
 */
import { type EncodeCodec } from '../compress/encode.js';
import { encodeParts, type EncodePartsOptions } from '../compress/encode-parts.js';
import { readCpio } from '../ingest/cpio.js';

/** Offsets where an entry header starts, after the first: where a part may begin. */
export function entryStarts(cpio: Uint8Array): number[] {
  const out: number[] = [];
  for (const e of readCpio(cpio, 'newc')) if (e.offset > 0) out.push(e.offset);
  return out;
}

export function compressArchive(cpio: Uint8Array, codec: EncodeCodec, level?: number, options: EncodePartsOptions = {}): Promise<Uint8Array> {
  return encodeParts(cpio, entryStarts(cpio), codec, level, options);
}
