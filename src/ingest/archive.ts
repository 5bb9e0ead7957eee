import { ExtimgError } from '../errors.js';
import type { Tree } from '../tree/tree.js';
import { ascii, firstNonZero, hexStart } from './bytes.js';
import { decompress, decompressAuto, decompressMany, type Codec } from '../compress/index.js';
import { addCpio, readCpio, writeNewc } from './cpio.js';
import { unwrapDeb } from './deb.js';
import type { ArchiveOptions } from './options.js';
import { addPacman, isPacmanPackage } from './pacman.js';
import { applyRpmOwners, unwrapRpm, type OwnerFixup, type RpmOwner } from './rpm.js';
import { identifyImage, sniffArchive } from './sniff.js';
import { addTar } from './tar.js';

export type ArchiveKind = 'tar' | 'cpio' | 'deb' | 'rpm' | 'pacman';

/**
 * An archive made ready to apply: decompressed and unwrapped. Pure data (structured-clone
 * safe), so the slow half can run in a worker and the tree half on the main thread.
 */
export interface Prepared {
  kind: ArchiveKind;
  /** How the payload is laid out. */
  format: 'tar' | 'cpio';
  /** The compression of the payload: the input's own, or a .deb/.rpm member's. */
  codec?: Codec;
  /** The member the payload came from (a .deb's "data.tar.xz", an rpm's "payload"). */
  member?: string;
  /** The decompressed tar or cpio bytes. */
  payload: Uint8Array;
  /** rpm: owner names per path (keys as byte strings without a leading '/'). */
  owners?: Map<string, RpmOwner>;
}

/**
 * The cheap, synchronous half of preparing: sniff the (outer-decompressed) bytes and unwrap a
 * .deb or .rpm container. A payload still compressed is returned as `pending` for the caller to
 * decompress (in a worker when there are several inputs).
 */
interface Staged {
  prepared: Prepared;
  pending?: { data: Uint8Array; codec: Codec; origin: string };
}

function stage(data: Uint8Array, outerCodec: Codec | undefined, bytesLength: number, origin: string): Staged {
  const kind = sniffArchive(data);
  switch (kind) {
    case 'tar':
      return { prepared: withCodec({ kind: isPacmanPackage(data) ? 'pacman' : 'tar', format: 'tar', payload: data }, outerCodec) };
    case 'cpio':
      return { prepared: withCodec({ kind: 'cpio', format: 'cpio', payload: data }, outerCodec) };
    case 'deb': {
      const deb = unwrapDeb(data, origin);
      const prepared = withCodec({ kind: 'deb', format: 'tar', member: deb.member, payload: deb.payload }, deb.codec);
      return deb.codec ? { prepared, pending: { data: deb.payload, codec: deb.codec, origin: `${origin}: ${deb.member}` } } : { prepared };
    }
    case 'rpm': {
      const rpm = unwrapRpm(data, origin);
      // A payload that is plain cpio already (rare, but rpm can write one) needs no codec.
      const plain = ascii(rpm.payload, 0, 5) === '07070';
      const codec = plain ? undefined : rpm.codec;
      const prepared = withCodec({ kind: 'rpm', format: 'cpio', member: 'payload', payload: rpm.payload, owners: rpm.owners }, codec);
      return codec ? { prepared, pending: { data: rpm.payload, codec, origin: `${origin}: payload` } } : { prepared };
    }
    case undefined: {
      const image = identifyImage(data);
      if (image) {
        throw new ExtimgError('EFORMAT', `${origin}: ${outerCodec ? `${outerCodec} data holding ${image}` : image}; reading images is not supported yet`, {
          archive: origin,
          image,
          ...(outerCodec ? { codec: outerCodec } : {}),
        });
      }
      const what =
        bytesLength === 0
          ? 'it is empty'
          : outerCodec
            ? `${outerCodec} data that ${startText(data)} once decompressed`
            : startText(data);
      throw new ExtimgError('EFORMAT', `${origin}: not a tar, cpio, .deb, .rpm or pacman archive (${what})`, {
        archive: origin,
        ...(outerCodec ? { codec: outerCodec } : {}),
      });
    }
  }
}

/**
 * An uncompressed cpio archive followed by more data is an initrd with an early (microcode)
 * segment: unpack every segment in the kernel's order and join their entries into one cpio
 * stream, so the whole initrd becomes the tree (later entries replace earlier ones).
 */
async function joinInitrdSegments(p: Prepared, origin: string): Promise<void> {
  if (p.kind !== 'cpio' || p.codec) return;
  const it = readCpio(p.payload, origin);
  let r = it.next();
  while (!r.done) r = it.next();
  const end = r.value;
  let more = false;
  for (let i = end; i < p.payload.length; i++) {
    if (p.payload[i] !== 0) {
      more = true;
      break;
    }
  }
  if (!more) return;
  const { scanSegments } = await import('../initrd/segments.js');
  const parts = (await scanSegments(p.payload, origin)).map((seg) => writeNewc(seg.entries.filter((e) => !e.trailer)));
  const joined = new Uint8Array(parts.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of parts) {
    joined.set(b, at);
    at += b.length;
  }
  p.payload = joined;
}

function finish(staged: Staged, payload: Uint8Array | undefined, origin: string): Prepared {
  const p = staged.prepared;
  if (payload) p.payload = payload;
  if (p.kind === 'rpm' && ascii(p.payload, 0, 6) === '07070X') {
    throw new ExtimgError('EFORMAT', `${origin}: rpm payload in the stripped cpio format (files of 4 GiB or more) is not supported`, {
      archive: origin,
    });
  }
  return p;
}

/** Decompress and unwrap: everything but touching the tree. */
export async function prepareArchive(bytes: Uint8Array, origin: string): Promise<Prepared> {
  const outer = await decompressAuto(bytes, origin);
  const staged = stage(outer.data, outer.codec, bytes.length, origin);
  const inner = staged.pending ? await decompress(staged.pending.data, staged.pending.codec, staged.pending.origin) : undefined;
  const p = finish(staged, inner, origin);
  await joinInitrdSegments(p, origin);
  return p;
}

/**
 * Prepare several archives at once: their outer streams and then their .deb/.rpm payloads are
 * decompressed in parallel on worker threads (decompression is the slow part); the results come
 * back in input order, ready for applyPrepared. Input buffers are transferred to the workers.
 */
export async function prepareArchives(inputs: ReadonlyArray<{ bytes: Uint8Array; origin: string }>): Promise<Prepared[]> {
  const lengths = inputs.map((i) => i.bytes.length);
  const outer = await decompressMany(inputs.map((i) => ({ data: i.bytes, origin: i.origin })));
  const staged = outer.map((o, k) => stage(o.data, o.codec, lengths[k]!, inputs[k]!.origin));
  const pendingIdx = staged.flatMap((s, k) => (s.pending ? [k] : []));
  const inner = await decompressMany(pendingIdx.map((k) => ({ data: staged[k]!.pending!.data, origin: staged[k]!.pending!.origin })));
  const payloads = new Map<number, Uint8Array>();
  for (let j = 0; j < pendingIdx.length; j++) {
    const k = pendingIdx[j]!;
    const pending = staged[k]!.pending!;
    // The member's name promised a codec its magic did not show (an odd lzma header): decode
    // with the declared codec, which reports a corrupt stream properly if it is one.
    payloads.set(k, inner[j]!.codec ? inner[j]!.data : await decompress(inner[j]!.data, pending.codec, pending.origin));
  }
  const prepared = staged.map((s, k) => finish(s, payloads.get(k), inputs[k]!.origin));
  for (const [k, p] of prepared.entries()) await joinInitrdSegments(p, inputs[k]!.origin);
  return prepared;
}

/** Put a prepared archive into the tree (under opts.dest, with opts' owner, exclude, warnings). */
export function applyPrepared(tree: Tree, prepared: Prepared, opts: ArchiveOptions): void {
  const label = prepared.member ? `${opts.origin}: ${prepared.member}` : opts.origin;
  const o: ArchiveOptions = { ...opts, origin: label };
  switch (prepared.kind) {
    case 'tar':
    case 'deb':
      addTar(tree, prepared.payload, o);
      return;
    case 'pacman':
      addPacman(tree, prepared.payload, o);
      return;
    case 'cpio':
      addCpio(tree, prepared.payload, o);
      return;
    case 'rpm': {
      const owners = prepared.owners ?? new Map<string, RpmOwner>();
      const fixups: OwnerFixup[] = [];
      addCpio(tree, prepared.payload, o, {
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
function startText(data: Uint8Array): string {
  const nz = firstNonZero(data, 0);
  if (nz >= 512) return `starts with ${nz} zero bytes, then ${hexStart(data.subarray(nz))} at byte ${nz} (zeros alone would be an empty tar)`;
  return `starts with ${hexStart(data)}`;
}

function withCodec(p: Prepared, codec: Codec | undefined): Prepared {
  if (codec) p.codec = codec;
  return p;
}
