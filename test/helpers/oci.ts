/**
 * Container images for tests, written from the specs (OCI image-layout, image-index, manifest,
 * config; Docker's image/spec v1.2 for `docker save`), independent of src/ingest/oci.ts:
 * digests with node:crypto, gzip with node:zlib, zstd with the zstd tool, archives with GNU tar.
 * And a reference application of layers (Python's tarfile after the whiteout rules), beside
 * umoci's (the real judge).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { run } from './archives.js';

export interface LayerSpec {
  /** The uncompressed layer tar. */
  tar: Uint8Array;
  compress?: 'gzip' | 'zstd' | 'none';
  /** Override the media type (hostile cases). */
  mediaType?: string;
}

export interface ImageSpec {
  layers: LayerSpec[];
  /** The org.opencontainers.image.ref.name annotation in index.json. */
  ref?: string;
  platform?: { os: string; architecture: string; variant?: string };
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

const MT = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
};

function compressLayer(l: LayerSpec, scratch: string): { blob: Uint8Array; mediaType: string } {
  const c = l.compress ?? 'gzip';
  if (c === 'none') return { blob: l.tar, mediaType: l.mediaType ?? MT.layer };
  if (c === 'gzip') return { blob: new Uint8Array(gzipSync(l.tar)), mediaType: l.mediaType ?? `${MT.layer}+gzip` };
  const tmp = join(scratch, `.layer-${sha256(l.tar)}`);
  fs.writeFileSync(tmp, l.tar);
  const blob = new Uint8Array(run('zstd', ['-q', '-c', tmp]));
  fs.rmSync(tmp);
  return { blob, mediaType: l.mediaType ?? `${MT.layer}+zstd` };
}

/** An OCI image layout: blobs written by digest, index.json listing the images. */
export class LayoutWriter {
  readonly blobs: string;
  constructor(readonly dir: string) {
    this.blobs = join(dir, 'blobs', 'sha256');
    fs.mkdirSync(this.blobs, { recursive: true });
    fs.writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  }

  blob(bytes: Uint8Array, mediaType: string): Descriptor {
    const hex = sha256(bytes);
    fs.writeFileSync(join(this.blobs, hex), bytes);
    return { mediaType, digest: `sha256:${hex}`, size: bytes.length };
  }

  json(v: unknown, mediaType: string): Descriptor {
    return this.blob(new TextEncoder().encode(JSON.stringify(v)), mediaType);
  }

  /** An image manifest (and its config and layers); returns its descriptor. */
  image(spec: ImageSpec): Descriptor {
    const layers = spec.layers.map((l) => {
      const { blob, mediaType } = compressLayer(l, this.dir);
      return this.blob(blob, mediaType);
    });
    const platform = spec.platform ?? { os: 'linux', architecture: 'amd64' };
    const config = this.json(
      { ...platform, config: {}, rootfs: { type: 'layers', diff_ids: spec.layers.map((l) => `sha256:${sha256(l.tar)}`) }, history: [] },
      MT.config,
    );
    const m = this.json({ schemaVersion: 2, mediaType: MT.manifest, config, layers }, MT.manifest);
    if (spec.platform) m.platform = spec.platform;
    if (spec.ref) m.annotations = { 'org.opencontainers.image.ref.name': spec.ref };
    return m;
  }

  index(manifests: Descriptor[]): Descriptor {
    return this.json({ schemaVersion: 2, mediaType: MT.index, manifests }, MT.index);
  }

  writeIndex(manifests: Descriptor[]): void {
    fs.writeFileSync(join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MT.index, manifests }));
  }
}

/** A layout with the given images, each listed in index.json. */
export function writeLayout(dir: string, images: ImageSpec[]): LayoutWriter {
  const w = new LayoutWriter(dir);
  w.writeIndex(images.map((i) => w.image(i)));
  return w;
}

/** A tar of a directory's contents (what `skopeo copy ... oci-archive:` and docker write). */
export function tarDir(dir: string, file: string): void {
  run('tar', ['-c', '--sort=name', '--numeric-owner', '-f', file, '-C', dir, '.']);
}

/**
 * `docker save` before Docker 25: `<id>/layer.tar` (uncompressed), `<id>/json`, `<id>/VERSION`,
 * the config as `<sha256 of config>.json`, manifest.json and repositories.
 */
export function dockerSaveClassic(file: string, scratch: string, layers: Uint8Array[], tags: string[]): void {
  const dir = join(scratch, `docker-save-${sha256(new TextEncoder().encode(file))}`);
  fs.mkdirSync(dir, { recursive: true });
  const config = new TextEncoder().encode(
    JSON.stringify({ os: 'linux', architecture: 'amd64', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${sha256(l)}`) } }),
  );
  const configName = `${sha256(config)}.json`;
  fs.writeFileSync(join(dir, configName), config);
  const paths: string[] = [];
  let parent = '';
  for (const l of layers) {
    const id = sha256(new TextEncoder().encode(`${parent}${sha256(l)}`));
    fs.mkdirSync(join(dir, id));
    fs.writeFileSync(join(dir, id, 'layer.tar'), l);
    fs.writeFileSync(join(dir, id, 'VERSION'), '1.0');
    fs.writeFileSync(join(dir, id, 'json'), JSON.stringify({ id, ...(parent ? { parent } : {}) }));
    paths.push(`${id}/layer.tar`);
    parent = id;
  }
  fs.writeFileSync(join(dir, 'manifest.json'), JSON.stringify([{ Config: configName, RepoTags: tags, Layers: paths }]));
  fs.writeFileSync(join(dir, 'repositories'), JSON.stringify({}));
  tarDir(dir, file);
}

/**
 * `docker save` since Docker 25: an OCI layout (uncompressed layers) with manifest.json beside
 * it naming the blobs by path.
 */
export function dockerSave25(file: string, scratch: string, layers: Uint8Array[], tag: string): void {
  const dir = join(scratch, `docker25-${sha256(new TextEncoder().encode(file))}`);
  const w = new LayoutWriter(dir);
  const m = w.image({ layers: layers.map((tar) => ({ tar, compress: 'none' })) });
  const name = `docker.io/library/${tag}`;
  m.annotations = { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': tag.split(':').pop()! };
  w.writeIndex([m]);
  const manifest = JSON.parse(fs.readFileSync(join(w.blobs, m.digest.slice(7)), 'utf8')) as { config: Descriptor; layers: Descriptor[] };
  fs.writeFileSync(
    join(dir, 'manifest.json'),
    JSON.stringify([{ Config: `blobs/sha256/${manifest.config.digest.slice(7)}`, RepoTags: [name], Layers: manifest.layers.map((d) => `blobs/sha256/${d.digest.slice(7)}`) }]),
  );
  fs.writeFileSync(join(dir, 'repositories'), JSON.stringify({}));
  tarDir(dir, file);
}

/**
 * The reference application of layers into `root` (run as root: owners and devices), in Python's
 * tarfile: for each layer, whiteouts first (`.wh.NAME` removes NAME, `.wh..wh..opq` empties its
 * directory), then each entry extracted over what is there (a directory merges into a
 * directory; anything else is replaced), as containerd and umoci apply layers.
 */
export function applyLayersWithTarfile(root: string, layers: Uint8Array[], scratch: string): void {
  fs.mkdirSync(root, { recursive: true });
  const files = layers.map((layer, i) => {
    const f = join(scratch, `ref-layer-${i}.tar`);
    fs.writeFileSync(f, layer);
    return f;
  });
  const script = `
import os, shutil, sys, tarfile
root = sys.argv[1]
def rm(p):
    if os.path.islink(p) or (os.path.exists(p) and not os.path.isdir(p)): os.unlink(p)
    elif os.path.isdir(p): shutil.rmtree(p)
for f in sys.argv[2:]:
    with tarfile.open(f) as t:
        members = t.getmembers()
        for m in members:
            parts = [p for p in m.name.split('/') if p not in ('', '.')]
            base = parts[-1] if parts else ''
            d = os.path.join(root, *parts[:-1])
            if base == '.wh..wh..opq':
                if os.path.isdir(d) and not os.path.islink(d):
                    for c in os.listdir(d): rm(os.path.join(d, c))
            elif base.startswith('.wh.'):
                rm(os.path.join(d, base[4:]))
        for m in members:
            parts = [p for p in m.name.split('/') if p not in ('', '.')]
            if not parts or parts[-1].startswith('.wh.'): continue
            p = os.path.join(root, *parts)
            if os.path.lexists(p) and not (m.isdir() and os.path.isdir(p) and not os.path.islink(p)): rm(p)
            kw = {'filter': 'fully_trusted'} if hasattr(tarfile, 'fully_trusted_filter') else {}
            t.extract(m, root, numeric_owner=True, **kw)
`;
  run('python3', ['-c', script, root, ...files]);
}
