import { ExtimgError } from '../errors.js';
import type { Node } from '../tree/node.js';
import type { Tree } from '../tree/tree.js';
import { ascii, hexStart } from './bytes.js';
import { decompress, decompressMany, type Codec } from '../compress/index.js';
import { DETECT_BYTES, detectCodec } from '../compress/detect.js';
import { addCpio, readCpio, writeNewc } from './cpio.js';
import { unwrapDeb, type DebPayload } from './deb.js';
import { readDebControl, type DebControl } from './deb-control.js';
import { recordDeb } from './dpkg-db.js';
import type { ArchiveOptions } from './options.js';
import { addPacman, isPacmanPackage } from './pacman.js';
import { recordPacman } from './pacman-db.js';
import { applyRpmOwners, unwrapRpm, type OwnerFixup, type RpmOwner } from './rpm.js';
import { identifyImage, sniffArchive } from './sniff.js';
import { applyLayer, imageFormatOf, planImage, type ImageFiles, type ImageFormat, type ImageSelect, type LayerPlan } from './oci.js';
import { Sha256 } from '../compress/sha256.js';
import { MemorySource, RangeSource, type ByteSource } from './source.js';
import { addTar, readTar } from './tar.js';
import type { ExtImage } from '../ext/read/image.js';
import { addFilesystem } from './fsimage.js';
import { isFilesystemContainer, openFilesystemIn } from './fsimage-open.js';

export type ArchiveKind = 'tar' | 'cpio' | 'deb' | 'rpm' | 'pacman' | 'image' | 'filesystem';

/**
 * An archive made ready to apply: decompressed (into memory or a spool file) and unwrapped. The
 * tree refers to its `source` for file contents until the image is written.
 */
export interface Prepared {
  kind: ArchiveKind;
  /** How the payload is laid out (a filesystem: an ext2/3/4 image, raw, partitioned or qcow2). */
  format: 'tar' | 'cpio' | 'filesystem';
  /** The compression of the payload: the input's own, or a .deb/.rpm member's. */
  codec?: Codec;
  /** The member the payload came from (a .deb's "data.tar.xz", an rpm's "payload"). */
  member?: string;
  /** The decompressed tar or cpio archive. */
  source?: ByteSource;
  /** The same as bytes in memory (library callers and tests may give this instead of `source`). */
  payload?: Uint8Array;
  /**
   * .deb: its control member read (control fields, maintainer scripts, md5sums, ...), or why it
   * could not be; recorded in /var/lib/dpkg when the package is applied (ingest/dpkg-db.ts).
   */
  deb?: DebControl | { error: string };
  /** rpm: owner names per path (keys as byte strings without a leading '/'). */
  owners?: Map<string, RpmOwner>;
  /** A container image: its layers (decompressed tars), applied in order with whiteouts. */
  image?: PreparedImage;
  /** An ext2/3/4 filesystem, opened (its partition picked, its journal replayed). */
  filesystem?: ExtImage;
  /** What preparing had to say (a journal replayed, a backup GPT used): said when applied. */
  warnings?: string[];
}

export interface PreparedImage {
  format: ImageFormat;
  ref?: string;
  platform?: string;
  layers: Array<{ what: string; codec?: Codec; source: ByteSource }>;
}

/** What a range must hash to (container image blobs). */
export interface RangeCheck {
  /** SHA-256 (hex) of the range as stored: the blob's digest. */
  sha256?: string;
  /** SHA-256 (hex) of the decoded bytes: a layer's diff_id. */
  decodedSha256?: string;
}

/** An archive prepared from bytes: its payload in memory, plain data (structuredClone-able). */
export type PreparedInMemory = Omit<Prepared, 'source'> & { payload: Uint8Array };

/**
 * How a compressed range of a source becomes a decompressed source: in memory for an archive
 * given as bytes; through the decode pool into a spool for files (ingest/archive-file.ts).
 */
export type DecodeRange = (codec: Codec | undefined, src: ByteSource, offset: number, size: number, origin: string, check?: RangeCheck) => Promise<ByteSource>;

/** Compare digests a decoder measured with what the image says; a mismatch is refused. */
export function checkDigests(check: RangeCheck | undefined, got: { sha256?: string | undefined; decodedSha256?: string | undefined }, origin: string): void {
  if (check?.sha256 !== undefined && got.sha256 !== check.sha256) {
    throw new ExtimgError('EFORMAT', `${origin}: blob sha256:${check.sha256} does not match its digest (its bytes hash to sha256:${got.sha256})`, {
      archive: origin,
      blob: `sha256:${check.sha256}`,
    });
  }
  if (check?.decodedSha256 !== undefined && got.decodedSha256 !== check.decodedSha256) {
    throw new ExtimgError(
      'EFORMAT',
      `${origin}: the layer does not match its diff_id sha256:${check.decodedSha256} (uncompressed, it hashes to sha256:${got.decodedSha256})`,
      { archive: origin, diffId: `sha256:${check.decodedSha256}` },
    );
  }
}

/** What to take from a container image input (ignored for other archives unless `strict`). */
export interface PrepareOptions extends ImageSelect {
  /** The ref was given for this input (INPUT@REF): an input that is no image is an error. */
  strictRef?: boolean;
}

/** What sniffing needs of the start of a source: its archive magic, an image's superblock, an ISO's descriptor. */
const SNIFF_BYTES = 40 << 10;

interface Staged {
  prepared: Prepared & { source: ByteSource };
  /** A payload still compressed: its range in `prepared.source` and codec. */
  pending?: { codec: Codec; offset: number; size: number; origin: string };
  /** A .deb's control member, read in memory once staged. */
  control?: { bytes: Uint8Array; codec: Codec | undefined; origin: string };
}

/** Read a staged .deb's control member into `prepared.deb`. */
async function readControl(s: Staged): Promise<void> {
  if (s.control) s.prepared.deb = await readDebControl(s.control.bytes, s.control.codec, s.control.origin);
}

function controlOf(src: ByteSource, deb: DebPayload, origin: string): NonNullable<Staged['control']> {
  return { bytes: src.bytes(deb.control.offset, deb.control.size), codec: deb.control.codec, origin: `${origin}: ${deb.control.member}` };
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
      const control = controlOf(src, deb, origin);
      return deb.codec ? { prepared, control, pending: { codec: deb.codec, offset: deb.offset, size: deb.size, origin: `${origin}: ${deb.member}` } } : { prepared, control };
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
      if (isFilesystemContainer(head)) return { prepared: withCodec({ kind: 'filesystem', format: 'filesystem', source: src }, outerCodec) };
      const image = identifyImage(head);
      if (image) {
        throw new ExtimgError('EFORMAT', `${origin}: ${outerCodec ? `${outerCodec} data holding ${image}` : image}; extimg reads ext2/3/4 filesystems, raw, partitioned or in qcow2`, {
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
export async function prepareSource(
  src: ByteSource,
  origin: string,
  decode: DecodeRange,
  decodedFrom?: Codec,
  select: PrepareOptions = {},
): Promise<Prepared & { source: ByteSource }> {
  const codec = decodedFrom ?? detectCodec(src.bytes(0, DETECT_BYTES));
  const outer = codec && !decodedFrom ? await decode(codec, src, 0, src.size, origin) : src;
  const staged = stage(outer, codec, decodedFrom ? -1 : src.size, origin);
  const p = staged.prepared;
  await readControl(staged);
  if (staged.pending) p.source = await decode(staged.pending.codec, outer, staged.pending.offset, staged.pending.size, staged.pending.origin);
  finish(p, origin);
  await detectImage(p, origin, decode, select);
  await joinInitrdSegments(p, origin);
  return p;
}

/** A tar that is a container image (an OCI archive, docker save output) becomes its layers. */
async function detectImage(p: Prepared & { source: ByteSource }, origin: string, decode: DecodeRange, select: PrepareOptions): Promise<void> {
  if (p.kind === 'tar') {
    const files = imageTarFiles(p.source, origin);
    const format = files && imageFormatOf(files, true);
    if (files && format) {
      p.kind = 'image';
      p.image = await prepareImage(files, format, origin, decode, select);
    }
  }
  if (p.kind === 'filesystem') {
    const warnings: string[] = [];
    p.filesystem = await openFilesystemIn(p.source, origin, select.strictRef ? select.ref : undefined, (m) => warnings.push(m));
    if (warnings.length) p.warnings = warnings;
    return;
  }
  if (select.strictRef && p.kind !== 'image') {
    throw new ExtimgError('EINVAL', `${origin}: @${select.ref} picks an image of a container image; this is a ${p.kind} archive`, { archive: origin });
  }
}

/**
 * An image's layers made ready: picked (platform, ref), checked against their digests and
 * diff_ids, and decompressed, all in parallel through `decode`.
 */
export async function prepareImage(files: ImageFiles, format: ImageFormat, origin: string, decode: DecodeRange, select: ImageSelect = {}): Promise<PreparedImage> {
  const sel: ImageSelect = {};
  if (select.platform !== undefined) sel.platform = select.platform;
  if (select.ref !== undefined) sel.ref = select.ref;
  const plan = planImage(files, format, sel, origin);
  const layers = await Promise.all(plan.layers.map((l) => prepareLayer(l, origin, decode)));
  const out: PreparedImage = { format: plan.format, layers };
  if (plan.ref) out.ref = plan.ref;
  if (plan.platform) out.platform = plan.platform;
  return out;
}

async function prepareLayer(l: LayerPlan, origin: string, decode: DecodeRange): Promise<PreparedImage['layers'][number]> {
  const what = `${origin}: ${l.what}`;
  const codec = detectCodec(l.src.bytes(0, DETECT_BYTES));
  if (l.declared && l.declared !== (codec ?? 'none')) {
    throw new ExtimgError('EFORMAT', `${what}: its media type says ${l.declared === 'none' ? 'uncompressed' : l.declared}, its bytes are ${codec ?? 'not compressed'}`, {
      archive: origin,
    });
  }
  if (codec && codec !== 'gzip' && codec !== 'zstd') {
    throw new ExtimgError('EFORMAT', `${what}: compressed with ${codec}; layers are gzip, zstd or uncompressed`, { archive: origin });
  }
  const check: RangeCheck = {};
  if (l.digest !== undefined) check.sha256 = l.digest;
  if (l.diffId !== undefined) check.decodedSha256 = l.diffId;
  const source = await decode(codec, l.src, 0, l.src.size, what, check);
  return codec ? { what, codec, source } : { what, source };
}

/** Names an image archive starts with (after "./"): OCI layouts and docker save output. */
const IMAGE_FIRST = /^(?:blobs(?:\/|$)|oci-layout$|index\.json$|manifest\.json$|repositories$|[0-9a-f]{64}(?:\/|\.json$|\.tar$|$))/;

/**
 * The members of a tar that may hold a container image, by path, or undefined when its first
 * member shows it is no image (a rootfs tar is never scanned past its first header). Symlinked
 * members (docker save links layers that repeat) are resolved inside the archive.
 */
export function imageTarFiles(src: ByteSource, origin: string): ImageFiles | undefined {
  const files = new Map<string, ByteSource>();
  const links = new Map<string, string>();
  let first = true;
  for (const e of readTar(src, origin)) {
    const name = cleanName(bytesToText(e.name));
    if (name === '') continue;
    if (first) {
      if (!IMAGE_FIRST.test(name)) return undefined;
      first = false;
    }
    if (e.kind === 'file' && e.dataOffset !== undefined) files.set(name, new RangeSource(src, e.dataOffset, e.size));
    else if (e.kind === 'symlink' || e.kind === 'link') {
      const target = bytesToText(e.linkname);
      const base = e.kind === 'symlink' && !target.startsWith('/') ? name.split('/').slice(0, -1).concat(target).join('/') : target;
      links.set(name, cleanName(base));
    }
  }
  if (first) return undefined;
  return {
    open(path: string): ByteSource | undefined {
      let p = path;
      for (let hops = 0; hops < 8; hops++) {
        const f = files.get(p);
        if (f) return f;
        const next = links.get(p);
        if (next === undefined) return undefined;
        p = next;
      }
      return undefined;
    },
  };
}

function cleanName(name: string): string {
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out.join('/');
}

function bytesToText(b: Uint8Array): string {
  return new TextDecoder().decode(b);
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
const decodeInMemory: DecodeRange = async (codec, src, offset, size, origin, check) => {
  const input = src.bytes(offset, size);
  const out = codec ? await decompress(input, codec, origin) : input;
  if (check?.sha256 !== undefined || check?.decodedSha256 !== undefined) {
    const sha256 = check.sha256 !== undefined ? new Sha256().update(input).hex() : undefined;
    const decodedSha256 = check.decodedSha256 !== undefined ? (codec || sha256 === undefined ? new Sha256().update(out).hex() : sha256) : undefined;
    checkDigests(check, { sha256, decodedSha256 }, origin);
  }
  return codec ? new MemorySource(out) : new RangeSource(src, offset, size);
};

/** Decompress and unwrap archive bytes in memory: everything but touching the tree. */
export async function prepareArchive(bytes: Uint8Array, origin: string, select: PrepareOptions = {}): Promise<PreparedInMemory> {
  return inMemory(await prepareSource(new MemorySource(bytes), origin, decodeInMemory, undefined, select));
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
    await readControl(s);
    finish(p, inputs[k]!.origin);
    await detectImage(p, inputs[k]!.origin, decodeInMemory, {});
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
      addTar(tree, src, o);
      return;
    case 'deb':
      addTar(tree, src, o);
      if (opts.packageDb !== false) recordDeb(tree, src, prepared.deb, opts);
      return;
    case 'pacman':
      addPacman(tree, src, o);
      if (opts.packageDb !== false) recordPacman(tree, src, opts);
      return;
    case 'cpio':
      addCpio(tree, src, o);
      return;
    case 'filesystem': {
      for (const w of prepared.warnings ?? []) opts.onWarning?.(w);
      if (!prepared.filesystem) throw new ExtimgError('EINVAL', `${opts.origin}: a filesystem image must be prepared (prepareSource) before it is applied`, { path: opts.origin });
      addFilesystem(tree, prepared.filesystem, o);
      return;
    }
    case 'image': {
      // One set for all layers: a symlink out of the image made by a lower layer is not a way out for a higher one.
      const riskySymlinks = new Set<Node>();
      for (const layer of prepared.image?.layers ?? []) applyLayer(tree, layer.source, { ...o, origin: layer.what, riskySymlinks });
      return;
    }
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
export async function addArchive(tree: Tree, bytes: Uint8Array, opts: ArchiveOptions, select: PrepareOptions = {}): Promise<{ kind: ArchiveKind; codec?: Codec }> {
  const prepared = await prepareArchive(bytes, opts.origin, select);
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
