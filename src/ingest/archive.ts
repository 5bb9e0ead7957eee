import { ExtimgError } from '../errors.js';
import type { Tree } from '../tree/tree.js';
import { ascii, hexStart } from './bytes.js';
import { decompress, decompressMany, type Codec } from '../compress/index.js';
import { DETECT_BYTES, detectCodec } from '../compress/detect.js';
import { addCpio, readCpio, writeNewc } from './cpio.js';
import { unwrapDeb } from './deb.js';
import type { ArchiveOptions } from './options.js';
import { addPacman, isPacmanPackage } from './pacman.js';
import { applyRpmOwners, unwrapRpm, type OwnerFixup, type RpmOwner } from './rpm.js';
import { identifyImage, sniffArchive } from './sniff.js';
import { MemorySource, RangeSource, type ByteSource } from './source.js';
import { addTar } from './tar.js';

export type ArchiveKind = 'tar' | 'cpio' | 'deb' | 'rpm' | 'pacman';

/**
 * An archive made ready to apply: decompressed (into memory or a spool file) and unwrapped. The
 * tree refers to its `source` for file contents until the image is written.
 */
export interface Prepared {
  kind: ArchiveKind;
  /** How the payload is laid out. */
  format: 'tar' | 'cpio';
  /** The compression of the payload: the input's own, or a .deb/.rpm member's. */
  codec?: Codec;
  /** The member the payload came from (a .deb's "data.tar.xz", an rpm's "payload"). */
  member?: string;
  /** The decompressed tar or cpio archive. */
  source?: ByteSource;
  /** The same as bytes in memory (library callers and tests may give this instead of `source`). */
  payload?: Uint8Array;
  /** rpm: owner names per path (keys as byte strings without a leading '/'). */
  owners?: Map<string, RpmOwner>;
}

/** An archive prepared from bytes: its payload in memory, plain data (structuredClone-able). */
export type PreparedInMemory = Omit<Prepared, 'source'> & { payload: Uint8Array };

/**
 * How a compressed range of a source becomes a decompressed source: in memory for an archive
 * given as bytes; through the decode pool into a spool for files (ingest/archive-file.ts).
 */
export type DecodeRange = (codec: Codec, src: ByteSource, offset: number, size: number, origin: string) => Promise<ByteSource>;

/** What sniffing needs of the start of a source: its archive magic, an image's superblock, an ISO's descriptor. */
const SNIFF_BYTES = 40 << 10;

interface Staged {
  prepared: Prepared & { source: ByteSource };
  /** A payload still compressed: its range in `prepared.source` and codec. */
  pending?: { codec: Codec; offset: number; size: number; origin: string };
}

function stage(src: ByteSource, outerCodec: Codec | undefined, inputLength: number, origin: string): Staged {
  const head = src.bytes(0, SNIFF_BYTES);
  const kind = sniffArchive(head, src);
  switch (kind) {
    case 'tar':
      return { prepared: withCodec({ kind: isPacmanPackage(src) ? 'pacman' : 'tar', format: 'tar', source: src }, outerCodec) };
    case 'cpio':
      return { prepared: withCodec({ kind: 'cpio', format: 'cpio', source: src }, outerCodec) };
    case 'deb': {
      const deb = unwrapDeb(src, origin);
      const payload = new RangeSource(src, deb.offset, deb.size);
      const prepared = withCodec({ kind: 'deb', format: 'tar', member: deb.member, source: payload }, deb.codec);
      return deb.codec ? { prepared, pending: { codec: deb.codec, offset: deb.offset, size: deb.size, origin: `${origin}: ${deb.member}` } } : { prepared };
    }
    case 'rpm': {
      const rpm = unwrapRpm(src, origin);
      const size = src.size - rpm.offset;
      const payload = new RangeSource(src, rpm.offset, size);
      // A payload that is plain cpio already (rare, but rpm can write one) needs no codec.
      const plain = ascii(payload.bytes(0, 5), 0, 5) === '07070';
      const codec = plain ? undefined : rpm.codec;
      const prepared = withCodec({ kind: 'rpm', format: 'cpio', member: 'payload', source: payload, owners: rpm.owners }, codec);
      return codec ? { prepared, pending: { codec, offset: rpm.offset, size, origin: `${origin}: payload` } } : { prepared };
    }
    case undefined: {
      const image = identifyImage(head);
      if (image) {
        throw new ExtimgError('EFORMAT', `${origin}: ${outerCodec ? `${outerCodec} data holding ${image}` : image}; reading images is not supported yet`, {
          archive: origin,
          image,
          ...(outerCodec ? { codec: outerCodec } : {}),
        });
      }
      const what =
        inputLength === 0
          ? 'it is empty'
          : outerCodec
            ? `${outerCodec} data that ${startText(src, head)} once decompressed`
            : startText(src, head);
      throw new ExtimgError('EFORMAT', `${origin}: not a tar, cpio, .deb, .rpm or pacman archive (${what})`, {
        archive: origin,
        ...(outerCodec ? { codec: outerCodec } : {}),
      });
    }
  }
}

/** Initrds with several segments are read whole, as the kernel reads them: they are small. */
const INITRD_MAX = 512 << 20;

/**
 * An uncompressed cpio archive followed by more data is an initrd with an early (microcode)
 * segment: unpack every segment in the kernel's order and join their entries into one cpio
 * stream, so the whole initrd becomes the tree (later entries replace earlier ones).
 */
async function joinInitrdSegments(p: Prepared & { source: ByteSource }, origin: string): Promise<void> {
  if (p.kind !== 'cpio' || p.codec) return;
  const it = readCpio(p.source, origin);
  let r = it.next();
  while (!r.done) r = it.next();
  const end = r.value;
  if (p.source.firstNonZero(end) < 0) return;
  if (p.source.size > INITRD_MAX) {
    throw new ExtimgError('ETOOBIG', `${origin}: a cpio archive with more segments after it (an initrd) of ${p.source.size} bytes; initrds of at most ${INITRD_MAX} bytes are read`, { archive: origin });
  }
  const whole = p.source.bytes(0, p.source.size);
  const { scanSegments } = await import('../initrd/segments.js');
  const parts = (await scanSegments(whole, origin)).map((seg) => writeNewc(seg.entries.filter((e) => !e.trailer)));
  const joined = new Uint8Array(parts.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of parts) {
    joined.set(b, at);
    at += b.length;
  }
  p.source = new MemorySource(joined);
}

function finish(p: Prepared & { source: ByteSource }, origin: string): void {
  if (p.kind === 'rpm' && ascii(p.source.bytes(0, 6), 0, 6) === '07070X') {
    throw new ExtimgError('EFORMAT', `${origin}: rpm payload in the stripped cpio format (files of 4 GiB or more) is not supported`, {
      archive: origin,
    });
  }
}

/**
 * Decompress and unwrap a source with `decode` for what is compressed: everything but touching
 * the tree. `decodedFrom` says the source is an input's stream already decompressed (standard
 * input, decoded as it arrived) from that codec.
 */
export async function prepareSource(src: ByteSource, origin: string, decode: DecodeRange, decodedFrom?: Codec): Promise<Prepared & { source: ByteSource }> {
  const codec = decodedFrom ?? detectCodec(src.bytes(0, DETECT_BYTES));
  const outer = codec && !decodedFrom ? await decode(codec, src, 0, src.size, origin) : src;
  const staged = stage(outer, codec, decodedFrom ? -1 : src.size, origin);
  const p = staged.prepared;
  if (staged.pending) p.source = await decode(staged.pending.codec, outer, staged.pending.offset, staged.pending.size, staged.pending.origin);
  finish(p, origin);
  await joinInitrdSegments(p, origin);
  return p;
}

/**
 * An archive prepared in memory as plain data (its payload a view of the bytes, no source
 * object), so it crosses a worker boundary or structuredClone as it is.
 */
function inMemory(p: Prepared & { source: ByteSource }): PreparedInMemory {
  const { source, ...rest } = p;
  return { ...rest, payload: source instanceof MemorySource ? source.data : source.bytes(0, source.size) };
}

/** The in-memory decoder: the whole range decompressed at once (library callers with bytes). */
const decodeInMemory: DecodeRange = async (codec, src, offset, size, origin) => new MemorySource(await decompress(src.bytes(offset, size), codec, origin));

/** Decompress and unwrap archive bytes in memory: everything but touching the tree. */
export async function prepareArchive(bytes: Uint8Array, origin: string): Promise<PreparedInMemory> {
  return inMemory(await prepareSource(new MemorySource(bytes), origin, decodeInMemory));
}

/**
 * Prepare several archives in memory at once: their outer streams and then their .deb/.rpm
 * payloads are decompressed in parallel on worker threads; results in input order.
 */
export async function prepareArchives(inputs: ReadonlyArray<{ bytes: Uint8Array; origin: string }>): Promise<PreparedInMemory[]> {
  // Outer streams in parallel, then the payloads in parallel (decompressMany keeps the order).
  const outer = await decompressMany(inputs.map((i) => ({ data: i.bytes, origin: i.origin })));
  const lengths = inputs.map((i) => i.bytes.length);
  const staged = outer.map((o, k) => stage(new MemorySource(o.data), o.codec, lengths[k]!, inputs[k]!.origin));
  const pendingIdx = staged.flatMap((s, k) => (s.pending ? [k] : []));
  const inner = await decompressMany(
    pendingIdx.map((k) => {
      const pend = staged[k]!.pending!;
      return { data: (staged[k]!.prepared.source as RangeSource).source.bytes(pend.offset, pend.size), origin: pend.origin };
    }),
  );
  for (let j = 0; j < pendingIdx.length; j++) {
    const k = pendingIdx[j]!;
    const pend = staged[k]!.pending!;
    // The member's name promised a codec its magic did not show (an odd lzma header): decode
    // with the declared codec, which reports a corrupt stream properly if it is one.
    const data = inner[j]!.codec ? inner[j]!.data : await decompress(inner[j]!.data, pend.codec, pend.origin);
    staged[k]!.prepared.source = new MemorySource(data);
  }
  const out: PreparedInMemory[] = [];
  for (const [k, s] of staged.entries()) {
    const p = s.prepared;
    finish(p, inputs[k]!.origin);
    await joinInitrdSegments(p, inputs[k]!.origin);
    out.push(inMemory(p));
  }
  return out;
}

/** Put a prepared archive into the tree (under opts.dest, with opts' owner, exclude, warnings). */
export function applyPrepared(tree: Tree, prepared: Prepared, opts: ArchiveOptions): void {
  const label = prepared.member ? `${opts.origin}: ${prepared.member}` : opts.origin;
  const o: ArchiveOptions = { ...opts, origin: label };
  const src = prepared.source ?? new MemorySource(prepared.payload ?? new Uint8Array(0));
  switch (prepared.kind) {
    case 'tar':
    case 'deb':
      addTar(tree, src, o);
      return;
    case 'pacman':
      addPacman(tree, src, o);
      return;
    case 'cpio':
      addCpio(tree, src, o);
      return;
    case 'rpm': {
      const owners = prepared.owners ?? new Map<string, RpmOwner>();
      const fixups: OwnerFixup[] = [];
      addCpio(tree, src, o, {
        onEntry(key, node, e) {
          const owner = owners.get(key);
          if (owner && !opts.owner) fixups.push({ node, owner, uid: e.uid, gid: e.gid });
        },
      });
      applyRpmOwners(tree, fixups, opts.origin, opts.onWarning);
      return;
    }
  }
}

/**
 * Add an archive file's bytes to the tree: compression detected by magic, .deb and .rpm
 * unwrapped (their payload decompressed too), pacman packages recognised by their .PKGINFO.
 */
export async function addArchive(tree: Tree, bytes: Uint8Array, opts: ArchiveOptions): Promise<{ kind: ArchiveKind; codec?: Codec }> {
  const prepared = await prepareArchive(bytes, opts.origin);
  applyPrepared(tree, prepared, opts);
  return prepared.codec ? { kind: prepared.kind, codec: prepared.codec } : { kind: prepared.kind };
}

/** How a file that is no archive starts, for the message: its first bytes, or where zeros end. */
function startText(src: ByteSource, head: Uint8Array): string {
  const nz = src.firstNonZero(0);
  if (nz >= 512) return `starts with ${nz} zero bytes, then ${hexStart(src.bytes(nz, 4))} at byte ${nz} (zeros alone would be an empty tar)`;
  return `starts with ${hexStart(head)}`;
}

function withCodec<P extends Prepared>(p: P, codec: Codec | undefined): P {
  if (codec) p.codec = codec;
  return p;
}
