import { ExtimgError } from '../errors.js';
import { Sha256 } from '../compress/sha256.js';
import { bytesToKey, keyToBytes, keyToDisplay } from '../tree/names.js';
import type { Tree } from '../tree/tree.js';
import type { ArchiveOptions } from './options.js';
import type { ByteSource } from './source.js';
import { addTar, readTar } from './tar.js';

/**
 * Container images as inputs: an OCI image layout (a directory, or the same as a tar: an "OCI
 * archive"), and `docker save` output in both forms (the classic manifest.json with
 * `<id>/layer.tar`, and the OCI layout inside the tar that Docker 25+ writes beside it). This
 * module picks the image (a platform of an index, a ref among several), checks every blob it
 * reads against its digest, and applies layers with the OCI whiteout rules. Reading the files
 * and decoding the layers is the caller's (archive.ts: in memory; archive-file.ts: streams).
 *
 * Facts from the OCI image spec (image-layout.md, image-index.md, manifest.md, layer.md) and
 * Docker's image/spec/v1.2.md for manifest.json.
 */

export type ImageFormat = 'oci-layout' | 'oci-archive' | 'docker-save';

/** The files of an image by relative path: a layout directory, or an archive's members. */
export interface ImageFiles {
  /** undefined when there is no such file. */
  open(path: string): ByteSource | undefined;
}

export interface ImageSelect {
  /** `os/arch[/variant]`; default: linux/amd64 where an index offers several. */
  platform?: string;
  /** A ref (tag, ref.name annotation, RepoTag) among several images. */
  ref?: string;
}

/** A layer to decode and apply: its blob, and what it must hash to. */
export interface LayerPlan {
  /** Where it is among the image's files. */
  path: string;
  src: ByteSource;
  /** SHA-256 (hex) of the blob as stored, when the image names it. */
  digest?: string;
  /** SHA-256 (hex) of the uncompressed tar (the config's rootfs.diff_ids). */
  diffId?: string;
  /** The compression the media type declares (gzip, zstd) or 'none'; undefined when not said. */
  declared?: 'gzip' | 'zstd' | 'none';
  /** For messages: "layer 2 of 5 (sha256:0123abcd…)". */
  what: string;
}

export interface ImagePlan {
  format: ImageFormat;
  /** The ref of the image picked, when it has one. */
  ref?: string;
  /** The platform of the image picked, as os/arch[/variant], when known. */
  platform?: string;
  layers: LayerPlan[];
}

/** Manifests, indexes and configs are small; a larger one is hostile or broken. */
const MAX_JSON = 8 << 20;
/** Indexes that point to indexes: how deep we follow. */
const MAX_INDEX_DEPTH = 4;

const REF_NAME = 'org.opencontainers.image.ref.name';
const IMAGE_NAME = 'io.containerd.image.name';

const MEDIA = {
  index: ['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json'],
  manifest: ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json'],
};

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os?: string; architecture?: string; variant?: string };
  annotations?: Record<string, string>;
}

/** Whether `files` look like an image: an OCI layout, or docker save's manifest.json. */
export function imageFormatOf(files: ImageFiles, isArchive: boolean): ImageFormat | undefined {
  if (files.open('oci-layout') && files.open('index.json')) return isArchive ? 'oci-archive' : 'oci-layout';
  if (isArchive && files.open('manifest.json')) return 'docker-save';
  return undefined;
}

/**
 * Pick the image and list its layers, checking every manifest, index and config against its
 * digest on the way. `origin` names the input in messages.
 */
export function planImage(files: ImageFiles, format: ImageFormat, select: ImageSelect, origin: string): ImagePlan {
  const r = new ImageReader(files, origin);
  // Docker 25+ writes both an OCI layout and manifest.json: the layout is read (every blob
  // has a digest there); a tar with only manifest.json is the classic form.
  if (files.open('oci-layout') && files.open('index.json')) return r.oci(format, select);
  return r.dockerSave(select);
}

class ImageReader {
  constructor(
    private readonly files: ImageFiles,
    private readonly origin: string,
  ) {}

  fail(message: string, data: Record<string, unknown> = {}): never {
    throw new ExtimgError('EFORMAT', `${this.origin}: ${message}`, { archive: this.origin, ...data });
  }

  // ---- OCI layouts ------------------------------------------------------------------------

  oci(format: ImageFormat, select: ImageSelect): ImagePlan {
    const layout = this.json(this.files.open('oci-layout')!, 'oci-layout') as { imageLayoutVersion?: unknown };
    if (typeof layout?.imageLayoutVersion !== 'string' || !/^1\./.test(layout.imageLayoutVersion)) {
      this.fail(`oci-layout: imageLayoutVersion ${JSON.stringify(layout?.imageLayoutVersion)} is not 1.x`);
    }
    const index = this.json(this.files.open('index.json')!, 'index.json');
    const picked = this.pick(this.manifestsOf(index, 'index.json'), select, 0, 'index.json');
    const manifest = this.blobJson(picked.desc, `manifest ${short(picked.desc.digest)}`) as Record<string, unknown>;
    if (manifest.mediaType !== undefined && !MEDIA.manifest.includes(String(manifest.mediaType))) {
      this.fail(`manifest ${short(picked.desc.digest)} has media type '${String(manifest.mediaType)}', not an image manifest`);
    }
    const what = `manifest ${short(picked.desc.digest)}`;
    const configDesc = this.descriptor(manifest.config, `${what}: config`);
    const config = this.blobJson(configDesc, `config ${short(configDesc.digest)}`, what);
    const diffIds = this.diffIds(config, `config ${short(configDesc.digest)}`);
    const platform = picked.platform ?? platformOfConfig(config);
    if (select.platform && platform && !platformMatches(platform, select.platform)) {
      this.fail(`the image is for ${platform}, not ${select.platform}`);
    }
    if (!Array.isArray(manifest.layers)) this.fail(`${what}: no layers list`);
    const layers = (manifest.layers as unknown[]).map((l, i, all) => {
      const d = this.descriptor(l, `${what}: layer ${i + 1}`);
      const path = blobPath(d.digest, (m) => this.fail(`${what}: layer ${i + 1}: ${m}`));
      const src = this.files.open(path);
      if (!src) this.fail(`${what} names layer blob ${d.digest}, which is not in the image`, { blob: d.digest });
      if (src.size !== d.size) this.fail(`blob ${d.digest} is ${src.size} bytes; ${what} says ${d.size}`, { blob: d.digest });
      const plan: LayerPlan = { path, src, digest: hexOf(d.digest), what: `layer ${i + 1} of ${all.length} (${short(d.digest)})` };
      if (diffIds && diffIds[i] !== undefined) plan.diffId = diffIds[i]!;
      const declared = layerCompression(d.mediaType);
      if (declared === null) this.fail(`${what}: layer ${i + 1} has media type '${d.mediaType}', not a filesystem layer`);
      if (declared) plan.declared = declared;
      return plan;
    });
    if (diffIds && diffIds.length !== layers.length) {
      this.fail(`config ${short(configDesc.digest)} lists ${diffIds.length} diff_ids for ${layers.length} layers`);
    }
    const out: ImagePlan = { format, layers };
    if (picked.ref) out.ref = picked.ref;
    if (platform) out.platform = platform;
    return out;
  }

  private manifestsOf(index: unknown, what: string): Descriptor[] {
    const list = (index as { manifests?: unknown })?.manifests;
    if (!Array.isArray(list)) this.fail(`${what}: no manifests list`);
    return list.map((d, i) => this.descriptor(d, `${what}: manifests[${i}]`));
  }

  /**
   * The one image manifest `select` picks among `descs` (indexes followed): by ref first, then
   * by platform (linux/amd64 when not given and there is a choice).
   */
  private pick(descs: Descriptor[], select: ImageSelect, depth: number, what: string): { desc: Descriptor; ref?: string; platform?: string } {
    // Candidates: image manifests, with indexes below them expanded (their refs carry down).
    type Candidate = { desc: Descriptor; top: number; names: string[]; platform?: string };
    const candidates: Candidate[] = [];
    for (const [top, d] of descs.entries()) {
      const names = [d.annotations?.[REF_NAME], d.annotations?.[IMAGE_NAME]].filter((n): n is string => !!n);
      if (MEDIA.index.includes(d.mediaType)) {
        if (depth >= MAX_INDEX_DEPTH) this.fail(`${what}: indexes nested more than ${MAX_INDEX_DEPTH} deep`);
        const inner = this.blobJson(d, `index ${short(d.digest)}`, what);
        for (const c of this.manifestsOf(inner, `index ${short(d.digest)}`)) {
          if (!MEDIA.manifest.includes(c.mediaType) && !MEDIA.index.includes(c.mediaType)) continue;
          if (MEDIA.index.includes(c.mediaType)) {
            const sub = this.pick([c], {}, depth + 1, `index ${short(d.digest)}`);
            candidates.push({ desc: sub.desc, top, names, ...(sub.platform ? { platform: sub.platform } : {}) });
          } else candidates.push({ desc: c, top, names, ...(c.platform ? { platform: platformString(c.platform) } : {}) });
        }
      } else if (MEDIA.manifest.includes(d.mediaType)) {
        candidates.push({ desc: d, top, names, ...(d.platform ? { platform: platformString(d.platform) } : {}) });
      }
      // Anything else (artifacts, attestations, signatures) is not an image to unpack.
    }
    if (candidates.length === 0) this.fail(`${what} lists no image manifest`);
    let pool = candidates;
    if (select.ref !== undefined) {
      const ref = select.ref;
      pool = candidates.filter((c) => c.names.some((n) => refMatches(n, ref)));
      if (pool.length === 0) this.fail(`no image with ref '${ref}' (refs: ${refList(candidates)})`, { ref });
    }
    // Several entries of the index that are images of their own (tags; an index of platforms
    // is one): which one is the user's to say. Platforms of the same entry are ours to pick.
    const tops = new Set(pool.map((c) => c.top));
    if (tops.size > 1 && new Set(pool.map((c) => c.desc.digest)).size > 1) {
      this.fail(`holds ${tops.size} images (refs: ${refList(pool)}); pick one with INPUT@REF or --ref`);
    }
    // Attestation manifests say unknown/unknown: never an image to pick.
    const real = pool.filter((c) => c.platform !== 'unknown/unknown');
    if (real.length > 0) pool = real;
    if (select.platform !== undefined) {
      const want = select.platform;
      const matching = pool.filter((c) => c.platform === undefined || platformMatches(c.platform, want));
      if (matching.length === 0) this.fail(`no image for ${want} (platforms: ${platformList(pool)})`, { platform: want });
      pool = matching;
    } else if (new Set(pool.map((c) => c.platform)).size > 1) {
      const amd64 = pool.filter((c) => c.platform !== undefined && platformMatches(c.platform, 'linux/amd64'));
      if (amd64.length === 0) this.fail(`holds images for ${platformList(pool)}; pick one with --platform`);
      pool = amd64;
    }
    if (new Set(pool.map((c) => c.desc.digest)).size > 1) {
      this.fail(`holds ${pool.length} images for ${platformList(pool)}; pick one with --platform`);
    }
    const c = pool[0]!;
    const out: { desc: Descriptor; ref?: string; platform?: string } = { desc: c.desc };
    const ref = c.names[0];
    if (ref) out.ref = ref;
    if (c.platform) out.platform = c.platform;
    return out;
  }

  private descriptor(v: unknown, what: string): Descriptor {
    const d = v as Partial<Descriptor> | null;
    if (typeof d !== 'object' || d === null) this.fail(`${what}: not a descriptor`);
    if (typeof d.digest !== 'string') this.fail(`${what}: descriptor without a digest`);
    if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) this.fail(`${what}: descriptor ${d.digest} without a valid size`);
    if (typeof d.mediaType !== 'string') this.fail(`${what}: descriptor ${d.digest} without a media type`);
    return d as Descriptor;
  }

  /** A JSON blob by descriptor: present, of its size, matching its digest. */
  private blobJson(d: Descriptor, what: string, namedBy?: string): unknown {
    const path = blobPath(d.digest, (m) => this.fail(`${what}: ${m}`));
    const src = this.files.open(path);
    if (!src) this.fail(`${namedBy ?? 'index.json'} names blob ${d.digest}, which is not in the image`, { blob: d.digest });
    if (src.size !== d.size) this.fail(`blob ${d.digest} is ${src.size} bytes; its descriptor says ${d.size}`, { blob: d.digest });
    return this.json(src, what, hexOf(d.digest), d.digest);
  }

  private json(src: ByteSource, what: string, sha256?: string, digest?: string): unknown {
    if (src.size > MAX_JSON) this.fail(`${what} is ${src.size} bytes; more than the ${MAX_JSON} a manifest may have`);
    const bytes = src.bytes(0, src.size);
    if (sha256 !== undefined) {
      const got = new Sha256().update(bytes).hex();
      if (got !== sha256) this.fail(`blob ${digest} does not match its digest (its bytes hash to sha256:${got})`, { blob: digest });
    }
    try {
      return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    } catch (e) {
      return this.fail(`${what} is not valid JSON (${(e as Error).message})`);
    }
  }

  private diffIds(config: unknown, what: string): string[] | undefined {
    const ids = (config as { rootfs?: { diff_ids?: unknown } })?.rootfs?.diff_ids;
    if (ids === undefined) return undefined;
    if (!Array.isArray(ids)) this.fail(`${what}: rootfs.diff_ids is not a list`);
    return ids.map((id, i) => {
      if (typeof id !== 'string') this.fail(`${what}: rootfs.diff_ids[${i}] is not a digest`);
      return hexOf(id, (m) => this.fail(`${what}: rootfs.diff_ids[${i}]: ${m}`));
    });
  }

  // ---- docker save ------------------------------------------------------------------------

  dockerSave(select: ImageSelect): ImagePlan {
    const list = this.json(this.files.open('manifest.json')!, 'manifest.json');
    if (!Array.isArray(list) || list.length === 0) this.fail('manifest.json lists no images');
    type Entry = { Config?: unknown; RepoTags?: unknown; Layers?: unknown };
    const entries = list as Entry[];
    const tagsOf = (e: Entry): string[] => (Array.isArray(e.RepoTags) ? e.RepoTags.filter((t): t is string => typeof t === 'string') : []);
    let pool = entries;
    if (select.ref !== undefined) {
      const ref = select.ref;
      pool = entries.filter((e) => tagsOf(e).some((t) => refMatches(t, ref)));
      if (pool.length === 0) this.fail(`no image with ref '${ref}' (refs: ${entries.flatMap(tagsOf).join(', ') || 'none'})`, { ref });
    }
    if (pool.length > 1) this.fail(`holds ${pool.length} images (refs: ${pool.flatMap(tagsOf).join(', ') || 'none'}); pick one with INPUT@REF or --ref`);
    const e = pool[0]!;
    if (typeof e.Config !== 'string') this.fail('manifest.json: an image without a Config');
    if (!Array.isArray(e.Layers) || e.Layers.some((l) => typeof l !== 'string')) this.fail('manifest.json: an image without a Layers list');
    const configPath = cleanPath(e.Config, (m) => this.fail(`manifest.json: Config: ${m}`));
    const configSrc = this.files.open(configPath);
    if (!configSrc) this.fail(`manifest.json names config '${configPath}', which is not in the archive`, { path: configPath });
    // Config names are their digest ("<hex>.json", "blobs/sha256/<hex>").
    const configHex = digestInPath(configPath);
    const config = this.json(configSrc, configPath, configHex, configHex ? `sha256:${configHex}` : undefined);
    const diffIds = this.diffIds(config, configPath);
    const platform = platformOfConfig(config);
    if (select.platform && platform && !platformMatches(platform, select.platform)) this.fail(`the image is for ${platform}, not ${select.platform}`);
    const layerPaths = e.Layers as string[];
    if (!diffIds) this.fail(`${configPath}: no rootfs.diff_ids to check the layers against`);
    if (diffIds.length !== layerPaths.length) this.fail(`${configPath} lists ${diffIds.length} diff_ids for ${layerPaths.length} layers`);
    const layers = layerPaths.map((p, i) => {
      const path = cleanPath(p, (m) => this.fail(`manifest.json: Layers[${i}]: ${m}`));
      const src = this.files.open(path);
      if (!src) this.fail(`manifest.json names layer '${path}', which is not in the archive`, { path });
      const plan: LayerPlan = { path, src, diffId: diffIds[i]!, what: `layer ${i + 1} of ${layerPaths.length} (${path})` };
      // Docker 25+ and skopeo name layers by digest: check the blob as stored too.
      const hex = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(path)?.[1];
      if (hex) plan.digest = hex;
      return plan;
    });
    const tags = tagsOf(e);
    const out: ImagePlan = { format: 'docker-save', layers };
    if (tags[0]) out.ref = tags[0];
    if (platform) out.platform = platform;
    return out;
  }
}

// ---- digests, refs, platforms -------------------------------------------------------------

function short(digest: string): string {
  return digest.length > 19 ? `${digest.slice(0, 19)}…` : digest;
}

/** The hex of a sha256 digest ("sha256:<64 hex>"); other algorithms are refused. */
function hexOf(digest: string, fail?: (m: string) => never): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (m) return m[1]!;
  const alg = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):/.exec(digest)?.[1];
  const why = alg && alg !== 'sha256' ? `digest algorithm '${alg}' is not supported (sha256 is)` : `'${digest}' is not a sha256 digest`;
  if (fail) return fail(why);
  throw new ExtimgError('EFORMAT', why);
}

function blobPath(digest: string, fail: (m: string) => never): string {
  return `blobs/sha256/${hexOf(digest, fail)}`;
}

function digestInPath(path: string): string | undefined {
  return /^(?:blobs\/sha256\/)?([0-9a-f]{64})(?:\.json)?$/.exec(path)?.[1];
}

/** A relative path inside the image: no leading '/', no '..'. */
function cleanPath(p: string, fail: (m: string) => never): string {
  const parts = p.split('/').filter((x) => x !== '' && x !== '.');
  if (parts.includes('..') || p.startsWith('/')) fail(`'${p}' leads outside the image`);
  return parts.join('/');
}

function refMatches(name: string, ref: string): boolean {
  if (name === ref) return true;
  // "docker.io/library/alpine:3.20" and "alpine:3.20" match "3.20"; "alpine:3.20" matches
  // "docker.io/library/alpine:3.20".
  const colon = name.lastIndexOf(':');
  const tag = colon > name.lastIndexOf('/') ? name.slice(colon + 1) : undefined;
  if (tag === ref) return true;
  return name.endsWith(`/${ref}`) || name.replace(/^docker\.io\/(library\/)?/, '') === ref;
}

function refList(cs: ReadonlyArray<{ names: string[] }>): string {
  const names = [...new Set(cs.flatMap((c) => c.names.slice(0, 1)))];
  return names.length ? names.join(', ') : 'none';
}

function platformList(cs: ReadonlyArray<{ platform?: string }>): string {
  return [...new Set(cs.map((c) => c.platform ?? 'unknown'))].join(', ');
}

function platformString(p: { os?: string; architecture?: string; variant?: string }): string {
  return [p.os ?? 'unknown', p.architecture ?? 'unknown', ...(p.variant ? [p.variant] : [])].join('/');
}

function platformOfConfig(config: unknown): string | undefined {
  const c = config as { os?: unknown; architecture?: unknown; variant?: unknown };
  if (typeof c?.os !== 'string' || typeof c.architecture !== 'string') return undefined;
  return platformString({ os: c.os, architecture: c.architecture, ...(typeof c.variant === 'string' ? { variant: c.variant } : {}) });
}

/** `have` (os/arch[/variant]) is what `want` asks for; a want without variant takes any. */
export function platformMatches(have: string, want: string): boolean {
  const [ho, ha, hv] = have.split('/');
  const [wo, wa, wv] = want.split('/');
  if (ho !== wo || normArch(ha) !== normArch(wa)) return false;
  return wv === undefined || (hv ?? defaultVariant(ha)) === wv;
}

function normArch(a: string | undefined): string | undefined {
  return a === 'x86_64' ? 'amd64' : a === 'aarch64' ? 'arm64' : a;
}

function defaultVariant(arch: string | undefined): string | undefined {
  return arch === 'arm64' ? 'v8' : undefined;
}

/** The compression a layer media type declares; null when it is not a filesystem layer. */
function layerCompression(mediaType: string): 'gzip' | 'zstd' | 'none' | undefined | null {
  const m = /^application\/vnd\.(?:oci\.image\.layer(?:\.nondistributable)?\.v1\.tar|docker\.image\.rootfs\.(?:foreign\.)?diff\.tar)(?:\+|\.)?(gzip|zstd)?$/.exec(mediaType);
  if (!m) return mediaType.startsWith('application/vnd.') ? null : undefined;
  return (m[1] as 'gzip' | 'zstd' | undefined) ?? 'none';
}

// ---- whiteouts and layers -----------------------------------------------------------------

const WH = '.wh.';
const OPAQUE = '.wh..wh..opq';

/**
 * Apply one layer (a decompressed tar) with the OCI whiteout rules: first every whiteout of the
 * layer takes away from what lower layers made (`.wh.NAME` removes NAME; `.wh..wh..opq` empties
 * its directory of lower layers' entries), wherever it stands in the layer's tar; then the
 * layer's entries are added, replacing what they meet. Whiteout files never reach the image.
 */
export function applyLayer(tree: Tree, src: ByteSource, opts: ArchiveOptions): void {
  const destParts = (opts.dest ?? '/').split('/').filter((p) => p !== '' && p !== '.');
  const removals: Array<{ parent: string[]; name?: string; entry: string }> = [];
  for (const e of readTar(src, opts.origin)) {
    const comps = normalized(bytesToKey(e.name));
    const base = comps[comps.length - 1];
    if (base === undefined || !base.startsWith(WH)) continue;
    const entry = keyToDisplay(comps.join('/'));
    const parent = comps.slice(0, -1);
    if (base === OPAQUE) {
      removals.push({ parent, entry });
      continue;
    }
    if (base.startsWith(`${WH}${WH}`)) {
      // aufs metadata (.wh..wh.plnk, .wh..wh.aufs): not whiteouts, never content.
      opts.onWarning?.(`${opts.origin}: skipped aufs metadata '${entry}'`);
      continue;
    }
    const name = base.slice(WH.length);
    if (name === '' || name === '.' || name === '..') {
      throw new ExtimgError('EFORMAT', `${opts.origin}: whiteout '${entry}' names '${name}'; refused`, { archive: opts.origin, entry });
    }
    removals.push({ parent, name, entry });
  }
  for (const r of removals) {
    const dir = lookupNoFollow(tree, destParts, r.parent, opts.origin, r.entry);
    if (dir === undefined) continue;
    const where = [...destParts, ...r.parent];
    if (r.name === undefined) {
      for (const child of [...dir.entries.keys()]) tree.remove(keyToBytes([...where, child].join('/')), { recursive: true });
    } else if (dir.entries.has(r.name)) {
      tree.remove(keyToBytes([...where, r.name].join('/')), { recursive: true });
    }
  }
  // Whiteouts never reach the image (nor anything below a name with the reserved prefix).
  addTar(tree, src, { ...opts, layer: true }, (key) => key.startsWith(WH) || key.includes(`/${WH}`));
}

/** Member name components as tar extraction normalises them ('..' clamped at the top). */
function normalized(key: string): string[] {
  const out: string[] = [];
  for (const part of key.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out;
}

/**
 * The directory at dest/parts, every component looked up without following symlinks. A
 * whiteout never reaches through a symlink (lower layers' symlinks would let a layer remove
 * files outside the directory it names): refused. Undefined when the path is not there.
 */
function lookupNoFollow(tree: Tree, dest: string[], parts: string[], origin: string, entry: string): import('../tree/node.js').DirNode | undefined {
  let cur = tree.get('/');
  if (cur?.kind !== 'dir') return undefined;
  // The destination itself is the user's: it may be reached through a symlink.
  if (dest.length) {
    const d = tree.get(keyToBytes(dest.join('/')), true);
    if (d?.kind !== 'dir') return undefined;
    cur = d;
  }
  for (const [i, p] of parts.entries()) {
    const next: import('../tree/node.js').Node | undefined = cur.entries.get(p);
    if (next === undefined) return undefined;
    if (next.kind === 'symlink') {
      throw new ExtimgError(
        'EFORMAT',
        `${origin}: whiteout '${entry}' reaches through '${keyToDisplay(parts.slice(0, i + 1).join('/'))}', a symlink; refused (a whiteout names a path as the layers lay it out)`,
        { archive: origin, entry },
      );
    }
    if (next.kind !== 'dir') return undefined;
    cur = next;
  }
  return cur;
}
