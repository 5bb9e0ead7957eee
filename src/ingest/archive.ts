import { ExtimgError } from '../errors.js';
import type { Tree } from '../tree/tree.js';
import { ascii, hexStart } from './bytes.js';
import { decompress, decompressAuto, type Codec } from '../compress/index.js';
import { addCpio } from './cpio.js';
import { unwrapDeb } from './deb.js';
import type { ArchiveOptions } from './options.js';
import { addPacman, isPacmanPackage } from './pacman.js';
import { applyRpmOwners, unwrapRpm, type OwnerFixup, type RpmOwner } from './rpm.js';
import { sniffArchive } from './sniff.js';
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

/** Decompress and unwrap: everything but touching the tree. */
export async function prepareArchive(bytes: Uint8Array, origin: string): Promise<Prepared> {
  const outer = await decompressAuto(bytes, origin);
  const data = outer.data;
  const kind = sniffArchive(data);
  switch (kind) {
    case 'tar':
      return withCodec({ kind: isPacmanPackage(data) ? 'pacman' : 'tar', format: 'tar', payload: data }, outer.codec);
    case 'cpio':
      return withCodec({ kind: 'cpio', format: 'cpio', payload: data }, outer.codec);
    case 'deb': {
      const deb = unwrapDeb(data, origin);
      const label = `${origin}: ${deb.member}`;
      const payload = deb.codec ? await decompress(deb.payload, deb.codec, label) : deb.payload;
      return withCodec({ kind: 'deb', format: 'tar', member: deb.member, payload }, deb.codec);
    }
    case 'rpm': {
      const rpm = unwrapRpm(data, origin);
      const label = `${origin}: payload`;
      // A payload that is plain cpio already (rare, but rpm can write one) needs no codec.
      const plain = ascii(rpm.payload, 0, 5) === '07070';
      const codec = plain ? undefined : rpm.codec;
      const payload = codec ? await decompress(rpm.payload, codec, label) : rpm.payload;
      if (ascii(payload, 0, 6) === '07070X') {
        throw new ExtimgError('EFORMAT', `${origin}: rpm payload in the stripped cpio format (files of 4 GiB or more) is not supported`, {
          archive: origin,
        });
      }
      return withCodec({ kind: 'rpm', format: 'cpio', member: 'payload', payload, owners: rpm.owners }, codec);
    }
    case undefined: {
      const what = bytes.length === 0 ? 'it is empty' : outer.codec ? `${outer.codec} data that starts with ${hexStart(data)} once decompressed` : `starts with ${hexStart(data)}`;
      throw new ExtimgError('EFORMAT', `${origin}: not a tar, cpio, .deb, .rpm or pacman archive (${what})`, {
        archive: origin,
        ...(outer.codec ? { codec: outer.codec } : {}),
      });
    }
  }
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

function withCodec(p: Prepared, codec: Codec | undefined): Prepared {
  if (codec) p.codec = codec;
  return p;
}
