import { type Codec, decompress } from '../compress/index.js';
import { ExtimgError, isExtimgError } from '../errors.js';
import { cpioMagic, readCpio, type CpioEntry } from '../ingest/cpio.js';
import { concatBytes } from '../compress/sink.js';
import { gzipMemberEnd } from '../compress/gzip.js';
import { zstdFrameEnd } from '../compress/zstd.js';

/**
 * The segments of an initrd, found the way the kernel's init/initramfs.c unpack_to_rootfs()
 * walks its buffer: zero bytes between segments are skipped; a '0' at a 4-byte aligned offset
 * starts an uncompressed newc/crc archive that runs to its TRAILER!!!; anything else must start
 * with a compression magic (lib/decompress.c decompress_method()), and unpacking goes on after
 * the compressed stream. A decompressed stream may hold several archives, with zeros between.
 */

export type SegmentCompression = 'none' | Codec;

export interface Segment {
  /** 0, 1, ... in file order. */
  index: number;
  /** File offset of the segment's first byte (after any zero padding before it). */
  offset: number;
  /**
   * Bytes in the file. A compressed segment may include the zero padding after its stream (the
   * decoders take it as part of the stream); an uncompressed one ends after its TRAILER!!!.
   */
  length: number;
  compression: SegmentCompression;
  /** Bytes of cpio data: `length` for an uncompressed segment. */
  cpioLength: number;
  /** How many cpio archives (TRAILER!!! entries) the segment holds. */
  archives: number;
  /** Every entry, trailers included; offsets are relative to the segment's cpio data. */
  entries: CpioEntry[];
}

/** The kernel's decompress_method() magics (lib/decompress.c), lzo included to name it. */
function kernelCodec(data: Uint8Array, pos: number): Codec | 'lzo' | 'lz4-frame' | undefined {
  const b = (i: number): number => (pos + i < data.length ? data[pos + i]! : -1);
  if (b(0) === 0x1f && (b(1) === 0x8b || b(1) === 0x9e)) return 'gzip';
  if (b(0) === 0x42 && b(1) === 0x5a && b(2) === 0x68) return 'bzip2';
  // The kernel's lzma magic is two bytes (lib/decompress.c): the third is the dictionary size's
  // low byte, zero only for dictionaries of 64 KiB and more.
  if (b(0) === 0x5d && b(1) === 0x00) return 'lzma';
  if (b(0) === 0xfd && b(1) === 0x37 && b(2) === 0x7a && b(3) === 0x58 && b(4) === 0x5a && b(5) === 0x00) return 'xz';
  if (b(0) === 0x89 && b(1) === 0x4c && b(2) === 0x5a) return 'lzo';
  if (b(0) === 0x02 && b(1) === 0x21 && b(2) === 0x4c && b(3) === 0x18) return 'lz4';
  if (b(0) === 0x28 && b(1) === 0xb5 && b(2) === 0x2f && b(3) === 0xfd) return 'zstd';
  if (b(0) === 0x04 && b(1) === 0x22 && b(2) === 0x4d && b(3) === 0x18) return 'lz4-frame';
  return undefined;
}

/** Magics long enough that a shorter tail of the file can be a truncated one. */
const MAGICS: number[][] = [
  [0x1f, 0x8b],
  [0x42, 0x5a, 0x68],
  [0x5d, 0x00],
  [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00],
  [0x02, 0x21, 0x4c, 0x18],
  [0x28, 0xb5, 0x2f, 0xfd],
];

function hexAt(data: Uint8Array, pos: number, n = 4): string {
  return Array.from(data.subarray(pos, pos + n), (x) => x.toString(16).padStart(2, '0')).join(' ');
}

function fail(code: 'ECORRUPT' | 'EFORMAT', origin: string, what: string, offset: number, extra: Record<string, unknown> = {}): ExtimgError {
  return new ExtimgError(code, `${origin}: ${what} at offset ${offset}`, { origin, offset, ...extra });
}

/**
 * An error from readCpio or a decoder, whose offsets are relative to `base` in the file (or to
 * a decompressed stream), restated with the file offset: "origin: what at offset N".
 */
function relocate(e: unknown, origin: string, base: number, within?: { codec: Codec; segment: number }): unknown {
  if (!isExtimgError(e)) return e;
  const rel = typeof e.data.offset === 'number' ? e.data.offset : undefined;
  let what = e.message.startsWith(`${origin}: `) ? e.message.slice(origin.length + 2) : e.message;
  let entry = '';
  const m = / at (?:byte|offset) (\d+)( \(entry '.*'\))?$/.exec(what);
  if (m) {
    what = what.slice(0, m.index);
    entry = m[2] ?? '';
  }
  if (within) {
    const at = rel === undefined ? '' : ` at offset ${rel}`;
    return new ExtimgError(
      e.code,
      `${origin}: ${what}${at}${entry} in the ${within.codec} data of segment ${within.segment} at offset ${base}`,
      { ...e.data, origin, segmentOffset: base, codec: within.codec },
    );
  }
  const abs = base + (rel ?? 0);
  return new ExtimgError(e.code, `${origin}: ${what}${entry} at offset ${abs}`, { ...e.data, origin, offset: abs });
}

/**
 * Decompress the stream at the start of `data` and say how many bytes it took. The decoders
 * take a whole input and refuse bytes after the stream ("garbage after ..." at offset N); the
 * kernel instead goes on with the next segment there. So on such a refusal the prefix up to N
 * is decoded again and, when it decodes, that is the stream. (Costs a second decode only when
 * something follows a compressed segment, which initramfs-tools never writes.)
 */
export async function decompressPrefix(data: Uint8Array, codec: Codec, origin: string): Promise<{ data: Uint8Array; consumed: number }> {
  if (codec === 'gzip') {
    // node:zlib's gunzip reads on into whatever follows a member and refuses it without an
    // offset; the member's end is found by inflating its deflate data, as the kernel's
    // lib/decompress_inflate.c does for one member.
    const end = gzipMemberEnd(data);
    if (end !== undefined) return { data: await decompress(data.subarray(0, end), codec, origin), consumed: end };
  }
  try {
    return { data: await decompress(data, codec, origin), consumed: data.length };
  } catch (e) {
    const off = isExtimgError(e) && e.code === 'ECORRUPT' ? e.data.offset : undefined;
    if (typeof off !== 'number' || off <= 0 || off >= data.length) throw e;
    let out: Uint8Array;
    try {
      out = await decompress(data.subarray(0, off), codec, origin);
    } catch {
      throw e;
    }
    return { data: out, consumed: off };
  }
}

/** Every entry of the archives in `cpio` (a decompressed stream), which must end after a trailer. */
function readArchives(cpio: Uint8Array, origin: string, segment: number, base: number, codec: Codec): { entries: CpioEntry[]; archives: number } {
  const entries: CpioEntry[] = [];
  let archives = 0;
  const within = { codec, segment };
  try {
    const it = readCpio(cpio, origin);
    for (;;) {
      const r = it.next();
      if (r.done) {
        if (r.value < cpio.length) {
          // init/initramfs.c flush_buffer(): "junk within compressed archive".
          throw new ExtimgError('ECORRUPT', `${origin}: junk after a cpio trailer at offset ${r.value}`, { origin, offset: r.value });
        }
        break;
      }
      const e = r.value;
      checkKernelFormat(e, origin);
      entries.push(e);
      if (e.trailer) archives++;
    }
    if (entries.length === 0) throw new ExtimgError('ECORRUPT', `${origin}: no cpio archive in the decompressed data at offset 0`, { origin, offset: 0 });
    const last = entries[entries.length - 1]!;
    if (!last.trailer && last.end > cpio.length) {
      // Cut inside the padding after the last entry's data: the unpacker is not in Reset.
      throw new ExtimgError('ECORRUPT', `${origin}: the decompressed data ends inside a cpio entry at offset ${cpio.length}`, { origin, offset: cpio.length });
    }
    // Ending between two entries without a trailer is fine: init/initramfs.c is in its Reset
    // state after every whole entry (a cut inside one was refused above as truncation).
  } catch (e) {
    throw relocate(e, origin, base, within);
  }
  return { entries, archives };
}

/** The kernel reads newc and crc only (do_header(): "incorrect cpio method used: use -H newc option"). */
function checkKernelFormat(e: CpioEntry, origin: string): void {
  if (e.format !== 'newc' && e.format !== 'crc') {
    throw new ExtimgError('EFORMAT', `${origin}: cpio ${e.format} format, the kernel reads only newc (use cpio -H newc) at offset ${e.offset}`, {
      origin,
      offset: e.offset,
    });
  }
}

/**
 * How decompressed cpio data ends: after a trailer, between two entries, or inside one. Data
 * that does not parse counts as 'trailer': joining stops there and readArchives says why.
 */
function archiveEnd(cpio: Uint8Array): 'trailer' | 'boundary' | 'inside' {
  let last = false;
  let lastEnd = 0;
  try {
    const it = readCpio(cpio, '');
    for (;;) {
      const r = it.next();
      // The kernel's next_header includes the padding after the data: a stream cut inside it
      // leaves the unpacker in SkipIt, not Reset.
      if (r.done) return last ? 'trailer' : lastEnd === cpio.length ? 'boundary' : 'inside';
      last = r.value.trailer;
      lastEnd = r.value.end;
    }
  } catch {
    // Does not parse: stop joining here; readArchives reports what is wrong, and where.
    return 'trailer';
  }
}

/** One uncompressed archive at `pos`, to its trailer. */
function readUncompressed(data: Uint8Array, pos: number, origin: string): { entries: CpioEntry[]; end: number } {
  const entries: CpioEntry[] = [];
  try {
    const it = readCpio(data.subarray(pos), origin);
    for (;;) {
      const r = it.next();
      if (r.done) break;
      checkKernelFormat(r.value, origin);
      entries.push(r.value);
      if (r.value.trailer) return { entries, end: pos + r.value.end };
    }
  } catch (e) {
    throw relocate(e, origin, pos);
  }
  throw fail('ECORRUPT', origin, 'truncated cpio archive (no TRAILER!!!)', data.length, { segmentOffset: pos });
}

/** Every segment of an initrd, in file order. */
export async function scanSegments(data: Uint8Array, origin: string, hooks: { onCompressed?: (codec: Codec) => void } = {}): Promise<Segment[]> {
  const segments: Segment[] = [];
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) {
      pos++;
      continue;
    }
    const index = segments.length;
    if (data[pos] === 0x30 && (pos & 3) === 0) {
      const magic = cpioMagic(data, pos);
      if (magic === 'odc' || magic === 'bin') {
        throw fail('EFORMAT', origin, `cpio ${magic} format, the kernel reads only newc (use cpio -H newc)`, pos);
      }
      if (magic !== 'newc' && magic !== 'crc') {
        const left = data.length - pos;
        if (left < 6 && '070701'.startsWith(String.fromCharCode(...data.subarray(pos)))) throw fail('ECORRUPT', origin, `truncated cpio header (${left} of 110 bytes)`, pos);
        throw fail('EFORMAT', origin, `no cpio magic (${hexAt(data, pos, 6)})`, pos);
      }
      const { entries, end } = readUncompressed(data, pos, origin);
      segments.push({ index, offset: pos, length: end - pos, compression: 'none', cpioLength: end - pos, archives: 1, entries });
      pos = end;
      continue;
    }
    const codec = kernelCodec(data, pos);
    if (codec === undefined) {
      const left = data.subarray(pos);
      if (left.length < 6 && MAGICS.some((m) => m.length > left.length && left.every((b, i) => b === m[i]))) {
        throw fail('ECORRUPT', origin, `truncated compressed stream (${left.length} bytes)`, pos);
      }
      const why = data[pos] === 0x30 ? 'a cpio archive not 4-byte aligned' : `neither a cpio archive nor a compressed stream (${hexAt(data, pos)})`;
      throw fail('EFORMAT', origin, why, pos);
    }
    if (codec === 'lzo') throw fail('EFORMAT', origin, 'lzo compression is not supported', pos, { codec });
    if (codec === 'lz4-frame') throw fail('EFORMAT', origin, 'lz4 frame format; the kernel reads only the legacy format (lz4 -l)', pos, { codec });
    hooks.onCompressed?.(codec);
    // A stream that stops between entries, directly followed by another of the same codec: the
    // archive goes on there (extimg writes large archives so, one gzip member / zstd frame /
    // bzip2 stream per part). The kernel unpacks each stream in turn with the same state; here
    // they are one segment, as `gzip -d` and friends read them.
    const pieces: Uint8Array[] = [];
    let consumed = 0;
    for (;;) {
      let out: { data: Uint8Array; consumed: number };
      try {
        // zstd: one frame at a time, as the kernel's unzstd takes them (our decoder would read on
        // through every frame, past a frame that ends inside an entry).
        const frameEnd = codec === 'zstd' ? zstdFrameEnd(data, pos + consumed) : undefined;
        out =
          frameEnd !== undefined
            ? { data: await decompress(data.subarray(pos + consumed, frameEnd), codec, origin), consumed: frameEnd - pos - consumed }
            : await decompressPrefix(data.subarray(pos + consumed), codec, origin);
      } catch (e) {
        throw relocate(e, origin, pos + consumed);
      }
      pieces.push(out.data);
      const at = pos + consumed;
      consumed += out.consumed;
      if (pos + consumed >= data.length || kernelCodec(data, pos + consumed) !== codec) break;
      const end = archiveEnd(out.data);
      if (end === 'trailer') break;
      if (end === 'inside') {
        // unpack_to_rootfs(): the state is not Reset when the stream ends ("junk in compressed archive").
        throw fail('ECORRUPT', origin, `the ${codec} stream at offset ${at} ends inside a cpio entry (the kernel refuses this)`, pos + consumed, { codec });
      }
    }
    const cpio = concatBytes(pieces);
    const { entries, archives } = readArchives(cpio, origin, index, pos, codec);
    segments.push({ index, offset: pos, length: consumed, compression: codec, cpioLength: cpio.length, archives, entries });
    pos += consumed;
  }
  if (segments.length === 0) {
    throw fail('ECORRUPT', origin, data.length === 0 ? 'empty initrd' : 'initrd holds only zero bytes', data.length);
  }
  return segments;
}
