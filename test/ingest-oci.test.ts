import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CliContext } from '../src/cli/context.js';
import { run as runCli } from '../src/cli/run.js';
import { addArchive } from '../src/ingest/archive.js';
import { Tree } from '../src/tree/tree.js';
import { extimgErrorAsync, isRoot, run } from './helpers/archives.js';
import { manifestFromDebugfs } from './helpers/debugfs.js';
import { expectClean } from './helpers/e2fsck.js';
import { expectSameManifest, type CompareOptions } from './helpers/compare.js';
import { missingTools, requireJudge } from './helpers/env.js';
import { workDir } from './helpers/image.js';
import type { Manifest } from './helpers/manifest.js';
import { manifestFromDir } from './helpers/mount.js';
import { applyLayersWithTarfile as applyLayersReference, dockerSave25, dockerSaveClassic, LayoutWriter, sha256, tarDir, writeLayout, type ImageSpec } from './helpers/oci.js';
import { member, pax, tar } from './helpers/tar-writer.js';

/**
 * Issue #13: container images as inputs. Each form (OCI layout directory, OCI archive, docker
 * save classic and Docker 25+) is built into an image that must be e2fsck-clean and read back by
 * debugfs equal to what umoci unpacks (umoci is the judge; images also made by skopeo and umoci
 * themselves) and to an independent application of the whiteout rules (each layer extracted by
 * Python's tarfile after its whiteouts: helpers/oci.ts). Hostile layers and images
 * are refused or contained, one test each.
 */

const work = workDir('ingest-oci');
afterAll(() => work.cleanup());
let counter = 0;
const fresh = (name: string): string => {
  const d = join(work.dir, `${name}-${counter++}`);
  fs.mkdirSync(d, { recursive: true });
  return d;
};

const T = 1_700_000_000;
const file = (name: string, data: string, extra: Partial<Parameters<typeof member>[0]> = {}): Uint8Array => member({ name, mtime: T, mode: 0o644, ...extra }, data);
const dir = (name: string, extra: Partial<Parameters<typeof member>[0]> = {}): Uint8Array => member({ name, type: '5', mtime: T, mode: 0o755, ...extra });
const wh = (name: string): Uint8Array => member({ name, mtime: 0, mode: 0 });

/** Three layers that use every rule: whiteouts, an opaque directory (marker last in its tar), replacements. */
function layers(): Uint8Array[] {
  const base = tar(
    dir('etc/'),
    file('etc/passwd', 'root:x:0:0::/root:/bin/sh\n'),
    file('etc/motd', 'old motd\n'),
    dir('usr/'),
    dir('usr/bin/'),
    file('usr/bin/ping', 'ELF ping', { mode: 0o4755 }),
    member({ name: 'bin', type: '2', linkname: 'usr/bin', mtime: T, mode: 0o777 }),
    dir('opt/'),
    dir('opt/app/'),
    file('opt/app/old1', 'one'),
    file('opt/app/old2', 'two'),
    dir('opt/gone/'),
    file('opt/gone/x', 'x'),
    dir('var/'),
    file('var/file-then-dir', 'was a file'),
    dir('var/dir-then-file/'),
    file('var/dir-then-file/inner', 'inner'),
    dir('dev/'),
    ...(isRoot ? [member({ name: 'dev/null', type: '3', devmajor: 1, devminor: 3, mtime: T, mode: 0o666 })] : []),
    file('home-user', 'owned', { uid: 1000, gid: 1000 }),
  );
  const middle = tar(
    dir('etc/'),
    wh('etc/.wh.motd'),
    dir('opt/'),
    wh('opt/.wh.gone'),
    dir('opt/app/'),
    file('opt/app/new', 'new in middle'),
    // The opaque marker after the layer's own entry: it still hides only the lower ones.
    wh('opt/app/.wh..wh..opq'),
    dir('var/'),
    dir('var/file-then-dir/'),
    file('var/file-then-dir/now', 'a dir now'),
    file('var/dir-then-file', 'a file now'),
    pax([['SCHILY.xattr.security.capability', new Uint8Array([1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])]]),
    file('usr/bin/ping2', 'ELF ping2', { mode: 0o755 }),
    file('usr/bin/hard', 'hard linked'),
    member({ name: 'usr/bin/hard2', type: '1', linkname: 'usr/bin/hard', mtime: T }),
  );
  const top = tar(dir('etc/'), file('etc/motd', 'new motd\n'), wh('.wh.home-user'), dir('opt/'), dir('opt/app/'), wh('opt/app/.wh.old1'));
  return [base, middle, top];
}

/** The top and lost+found are the build's, timed when it runs: not part of what an image brings. */
const BUILT_BY_US: CompareOptions = { skipPaths: ['', 'lost+found'] };

/** umoci's unpack of a layout (as root it keeps owners; rootless otherwise). */
function umociUnpack(layout: string, ref: string, into: string): string {
  run('umoci', ['unpack', ...(isRoot ? [] : ['--rootless']), '--image', `${layout}:${ref}`, into]);
  return join(into, 'rootfs');
}

async function cli(args: string[]): Promise<{ status: number; stderr: string }> {
  let stderr = '';
  const ctx = new CliContext({ write: () => true }, { write: (s: string) => ((stderr += s), true) }, {});
  const status = await runCli(args, ctx);
  return { status, stderr };
}

/** Build `input` with the CLI, check it with e2fsck, read it back with debugfs. */
async function buildImage(input: string, name: string, extra: string[] = []): Promise<{ image: Manifest; path: string }> {
  const path = join(work.dir, `${name}-${counter++}.img`);
  const r = await cli(['build', '-q', '-t', 'ext4', '-o', path, ...extra, input]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expectClean(path);
  return { image: manifestFromDebugfs(path), path };
}

/** The image must hold exactly the reference directory (what a judge unpacked). */
function expectMatches(image: Manifest, refDir: string, label: string, symlinkTimes = true): void {
  const ref = manifestFromDir(refDir, { blocks: false });
  const img = new Map(image);
  for (const m of [ref, img]) for (const e of m.values()) delete e.allocatedBlocks;
  // Directory times: the judges touch directories as they write into them. Python's tarfile
  // sets no symlink times.
  for (const m of [ref, img]) for (const e of m.values()) if (e.type === 'dir' || (!symlinkTimes && e.type === 'symlink')) delete e.mtime;
  const opts: CompareOptions = { skipPaths: ['', 'lost+found'], ...(isRoot ? {} : { ignore: ['uid', 'gid', 'type'] }) };
  expectSameManifest(ref, img, `${label}: ${refDir} vs image`, opts);
}

function judges(ctx: { skip(note?: string): void }, tools: string[] = ['umoci', 'tar']): void {
  requireJudge(ctx, missingTools(['e2fsck', 'debugfs', ...tools]), 'OCI image judges');
}

describe('container images: every form reads back as the judges unpack it', () => {
  it('OCI layout directory (gzip, zstd and plain layers): equal to umoci unpack and to tar + whiteout rules', async (ctx) => {
    judges(ctx, ['umoci', 'tar', 'zstd']);
    const ls = layers();
    const layout = fresh('layout');
    writeLayout(layout, [{ ref: 'latest', layers: [{ tar: ls[0]!, compress: 'gzip' }, { tar: ls[1]!, compress: 'gzip' }, { tar: ls[2]!, compress: 'none' }] }]);
    const { image, path } = await buildImage(layout, 'layout');
    expectMatches(image, umociUnpack(layout, 'latest', join(fresh('umoci'), 'b')), 'umoci');
    const ref = fresh('tarref');
    applyLayersReference(ref, ls, fresh('scratch'));
    expectMatches(image, ref, 'tar + whiteouts', false);
    // zstd layers (Debian's umoci reads no zstd: the tar reference judges them).
    const zlayout = fresh('layout-zstd');
    writeLayout(zlayout, [{ layers: [{ tar: ls[0]!, compress: 'zstd' }, { tar: ls[1]!, compress: 'zstd' }, { tar: ls[2]!, compress: 'gzip' }] }]);
    expectMatches((await buildImage(zlayout, 'zstd')).image, ref, 'zstd layers vs tar + whiteouts', false);
    // What the rules say, spelled out: whiteouts and opaque markers never reach the image.
    for (const p of ['etc/.wh.motd', 'opt/gone', 'opt/app/old1', 'opt/app/old2', 'home-user']) expect(image.has(p), p).toBe(false);
    expect(image.has('opt/app/new')).toBe(true);
    expect(image.get('usr/bin/ping')?.mode).toBe(0o4755);
    expect(image.get('var/dir-then-file')?.type).toBe('file');
    expect(image.get('var/file-then-dir/now')?.type).toBe('file');
    expect(image.get('usr/bin/hard')?.inodeGroup).toBe(image.get('usr/bin/hard2')?.inodeGroup);
    expect(run('debugfs', ['-R', 'ea_get /usr/bin/ping2 security.capability', path]).toString()).toMatch(/01 00 00 02 20/);
  });

  it('OCI archive, docker save (classic and Docker 25+): the same image as the layout', async (ctx) => {
    judges(ctx);
    const ls = layers();
    const layout = fresh('layout');
    writeLayout(layout, [{ ref: 'v1', layers: ls.map((t) => ({ tar: t, compress: 'gzip' as const })) }]);
    const want = (await buildImage(layout, 'want')).image;
    const ociArchive = join(fresh('oa'), 'image.oci.tar');
    tarDir(layout, ociArchive);
    const classic = join(fresh('dc'), 'classic.tar');
    dockerSaveClassic(classic, work.dir, ls, ['example/app:v1']);
    const d25 = join(fresh('d25'), 'd25.tar');
    dockerSave25(d25, work.dir, ls, 'app:v1');
    for (const input of [ociArchive, classic, d25]) {
      expectSameManifest(want, (await buildImage(input, 'form')).image, input, BUILT_BY_US);
    }
    // Compressed as a whole, too (the archive is decompressed, then its layers).
    const gz = `${ociArchive}.gz`;
    fs.writeFileSync(gz, run('gzip', ['-c', ociArchive]));
    expectSameManifest(want, (await buildImage(gz, 'gz')).image, gz, BUILT_BY_US);
  });

  it('images made by umoci and skopeo (docker-archive, oci-archive) read back as umoci unpacks them', async (ctx) => {
    judges(ctx, ['umoci', 'skopeo', 'tar']);
    const d = fresh('tools');
    const L = join(d, 'L');
    run('umoci', ['init', '--layout', L]);
    run('umoci', ['new', '--image', `${L}:latest`]);
    const b1 = join(d, 'b1');
    run('umoci', ['unpack', ...(isRoot ? [] : ['--rootless']), '--image', `${L}:latest`, b1]);
    const r1 = join(b1, 'rootfs');
    fs.mkdirSync(join(r1, 'etc'), { recursive: true });
    fs.writeFileSync(join(r1, 'etc', 'motd'), 'hello\n');
    fs.mkdirSync(join(r1, 'opt', 'keep'), { recursive: true });
    fs.writeFileSync(join(r1, 'opt', 'keep', 'a'), 'a');
    fs.symlinkSync('usr/bin', join(r1, 'bin'));
    fs.mkdirSync(join(r1, 'usr', 'bin'), { recursive: true });
    fs.writeFileSync(join(r1, 'usr', 'bin', 'tool'), 'tool', { mode: 0o755 });
    run('umoci', ['repack', '--image', `${L}:latest`, b1]);
    // A second layer that deletes: umoci writes the whiteouts.
    const b2 = join(d, 'b2');
    run('umoci', ['unpack', ...(isRoot ? [] : ['--rootless']), '--image', `${L}:latest`, b2]);
    fs.rmSync(join(b2, 'rootfs', 'etc', 'motd'));
    fs.rmSync(join(b2, 'rootfs', 'opt', 'keep'), { recursive: true });
    fs.writeFileSync(join(b2, 'rootfs', 'etc', 'new'), 'new\n');
    run('umoci', ['repack', '--image', `${L}:latest`, b2]);
    const ref = umociUnpack(L, 'latest', join(d, 'ref'));
    expectMatches((await buildImage(L, 'umoci')).image, ref, 'umoci layout');
    const docker = join(d, 'docker.tar');
    run('skopeo', ['copy', '-q', `oci:${L}:latest`, `docker-archive:${docker}:example/tools:v2`]);
    expectMatches((await buildImage(`${docker}@v2`, 'skopeo-docker')).image, ref, 'skopeo docker-archive');
    const oa = join(d, 'oa.tar');
    run('skopeo', ['copy', '-q', `oci:${L}:latest`, `oci-archive:${oa}:latest`]);
    expectMatches((await buildImage(oa, 'skopeo-oci')).image, ref, 'skopeo oci-archive');
    // A layout skopeo makes from a docker-archive (as users turn `docker save` output into one),
    // judged by umoci's unpack of that same layout.
    const fromDocker = join(d, 'from-docker');
    run('skopeo', ['copy', '-q', `docker-archive:${docker}`, `oci:${fromDocker}:v2`]);
    expectMatches((await buildImage(fromDocker, 'skopeo-layout')).image, umociUnpack(fromDocker, 'v2', join(d, 'ref2')), 'skopeo layout from docker-archive');
  });
});

describe('picking the image: platforms and refs', () => {
  function multi(): string {
    const layout = fresh('multi');
    const w = new LayoutWriter(layout);
    const mk = (arch: string, variant?: string): ImageSpec => ({
      platform: { os: 'linux', architecture: arch, ...(variant ? { variant } : {}) },
      layers: [{ tar: tar(file('arch', `${arch}${variant ?? ''}\n`)) }],
    });
    // A nested index with platforms (as docker buildx pushes), plus an attestation manifest.
    const nested = w.index([w.image(mk('arm64', 'v8')), w.image(mk('amd64')), w.image(mk('s390x'))]);
    nested.annotations = { 'org.opencontainers.image.ref.name': 'multi' };
    const single = w.image({ ref: 'solo', layers: [{ tar: tar(file('arch', 'solo\n')) }] });
    w.writeIndex([nested, single]);
    return layout;
  }

  it('linux/amd64 by default, --platform otherwise, refs by INPUT@REF or --ref', async (ctx) => {
    judges(ctx, []);
    const layout = multi();
    const arch = async (args: string[], input: string): Promise<string> => {
      const path = join(work.dir, `pick-${counter++}.img`);
      const r = await cli(['build', '-q', '-o', path, ...args, input]);
      expect(r.stderr).toBe('');
      return run('debugfs', ['-R', 'cat /arch', path]).toString();
    };
    expect(await arch([], `${layout}@multi`)).toBe('amd64\n');
    expect(await arch(['--platform', 'linux/arm64'], `${layout}@multi`)).toBe('arm64v8\n');
    expect(await arch(['--platform', 'linux/arm64/v8', '--ref', 'multi'], layout)).toBe('arm64v8\n');
    expect(await arch([], `${layout}@solo`)).toBe('solo\n');
    const none = await cli(['build', '-o', join(work.dir, 'x.img'), layout]);
    expect(none.stderr).toBe(`extimg: ${layout}: holds 2 images (refs: multi, solo); pick one with INPUT@REF or --ref\n`);
    const noPlatform = await cli(['build', '-o', join(work.dir, 'x.img'), '--platform', 'linux/riscv64', `${layout}@multi`]);
    expect(noPlatform.stderr).toBe(`extimg: ${layout}: no image for linux/riscv64 (platforms: linux/arm64/v8, linux/amd64, linux/s390x)\n`);
    const badRef = await cli(['build', '-o', join(work.dir, 'x.img'), `${layout}@nope`]);
    expect(badRef.stderr).toBe(`extimg: ${layout}: no image with ref 'nope' (refs: multi, solo)\n`);
    const badPlatform = await cli(['build', '-o', join(work.dir, 'x.img'), '--platform', 'amd64', layout]);
    expect(badPlatform.status).toBe(2);
    expect(badPlatform.stderr).toMatch(/^extimg: --platform: 'amd64' is not os\/arch\[\/variant\]/);
  });

  it('@REF on an archive that is no image is an error', async (ctx) => {
    judges(ctx, []);
    const t = join(fresh('plain'), 'plain.tar');
    fs.writeFileSync(t, tar(file('a', 'a')));
    const r = await cli(['build', '-o', join(work.dir, 'x.img'), `${t}@latest`]);
    expect(r.stderr).toBe(`extimg: ${t}: @latest picks an image of a container image; this is a tar archive\n`);
  });
});

describe('hostile images and layers', () => {
  async function refused(spec: (layout: LayoutWriter) => void, expected: RegExp): Promise<void> {
    const layout = fresh('hostile');
    spec(new LayoutWriter(layout));
    const out = join(work.dir, `hostile-${counter++}.img`);
    const r = await cli(['build', '-o', out, layout]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(expected);
    expect(r.stderr.split('\n').length).toBe(2);
    expect(fs.existsSync(out)).toBe(false);
  }

  it('a whiteout of ".." (or "." or nothing) is refused', async () => {
    for (const name of ['etc/.wh...', 'etc/.wh..', '.wh.']) {
      await refused((w) => w.writeIndex([w.image({ layers: [{ tar: tar(dir('etc/'), file('etc/a', 'a')) }, { tar: tar(wh(name)) }] })]), /whiteout '.*' names '\.{0,2}'; refused/);
    }
  });

  it('a whiteout through a symlink is refused, and removes nothing it points at', async () => {
    await refused(
      (w) =>
        w.writeIndex([
          w.image({
            layers: [
              { tar: tar(dir('etc/'), file('etc/passwd', 'root\n'), member({ name: 'link', type: '2', linkname: '/etc', mtime: T })) },
              { tar: tar(wh('link/.wh.passwd')) },
            ],
          }),
        ]),
      /whiteout 'link\/\.wh\.passwd' reaches through 'link', a symlink; refused/,
    );
  });

  it('a layer whose bytes do not match its digest is refused, naming the blob', async () => {
    const layout = fresh('mismatch');
    const w = new LayoutWriter(layout);
    const m = w.image({ layers: [{ tar: tar(file('a', 'original')) }] });
    w.writeIndex([m]);
    // Replace the layer blob's bytes, keep its name and size.
    const manifest = JSON.parse(fs.readFileSync(join(w.blobs, m.digest.slice(7)), 'utf8')) as { layers: Array<{ digest: string }> };
    const blob = join(w.blobs, manifest.layers[0]!.digest.slice(7));
    const bytes = fs.readFileSync(blob);
    bytes[bytes.length - 5] ^= 0xff;
    fs.writeFileSync(blob, bytes);
    const r = await cli(['build', '-o', join(work.dir, 'x.img'), layout]);
    expect(r.stderr).toMatch(new RegExp(`^extimg: ${layout}: layer 1 of 1 \\(sha256:[0-9a-f]{12}…\\): (blob ${manifest.layers[0]!.digest} does not match its digest|.*corrupt|.*gzip)`));
    // A layer with valid gzip but other contents than the digest says.
    const w2 = new LayoutWriter(fresh('mismatch2'));
    const m2 = w2.image({ layers: [{ tar: tar(file('a', 'original')) }] });
    w2.writeIndex([m2]);
    const man2 = JSON.parse(fs.readFileSync(join(w2.blobs, m2.digest.slice(7)), 'utf8')) as { layers: Array<{ digest: string }> };
    const other = run('gzip', ['-c'], { input: tar(file('a', 'tampered')) });
    fs.writeFileSync(join(w2.blobs, man2.layers[0]!.digest.slice(7)), other);
    // The size changes too: refused for its size or its digest, naming the blob either way.
    const r2 = await cli(['build', '-o', join(work.dir, 'x.img'), w2.dir]);
    expect(r2.stderr).toContain(man2.layers[0]!.digest);
  });

  it('a config or manifest that does not match its digest is refused', async () => {
    const layout = fresh('cfg');
    const w = new LayoutWriter(layout);
    const m = w.image({ layers: [{ tar: tar(file('a', 'a')) }] });
    w.writeIndex([m]);
    const path = join(w.blobs, m.digest.slice(7));
    const text = fs.readFileSync(path, 'utf8').replace('"schemaVersion":2', '"schemaVersion":3');
    fs.writeFileSync(path, text);
    const r = await cli(['build', '-o', join(work.dir, 'x.img'), layout]);
    expect(r.stderr).toBe(`extimg: ${layout}: blob ${m.digest} does not match its digest (its bytes hash to sha256:${sha256(new TextEncoder().encode(text))})\n`);
  });

  it('a manifest naming a missing blob is refused', async () => {
    const layout = fresh('missing');
    const w = new LayoutWriter(layout);
    const m = w.image({ layers: [{ tar: tar(file('a', 'a')) }, { tar: tar(file('b', 'b')) }] });
    w.writeIndex([m]);
    const manifest = JSON.parse(fs.readFileSync(join(w.blobs, m.digest.slice(7)), 'utf8')) as { layers: Array<{ digest: string }> };
    fs.rmSync(join(w.blobs, manifest.layers[1]!.digest.slice(7)));
    const r = await cli(['build', '-o', join(work.dir, 'x.img'), layout]);
    expect(r.stderr).toBe(`extimg: ${layout}: manifest ${m.digest.slice(0, 19)}… names layer blob ${manifest.layers[1]!.digest}, which is not in the image\n`);
    fs.rmSync(join(w.blobs, m.digest.slice(7)));
    const r2 = await cli(['build', '-o', join(work.dir, 'x.img'), layout]);
    expect(r2.stderr).toBe(`extimg: ${layout}: index.json names blob ${m.digest}, which is not in the image\n`);
  });

  it('a layer whose diff_id does not match its uncompressed bytes is refused', async () => {
    const layout = fresh('diffid');
    const w = new LayoutWriter(layout);
    const good = tar(file('a', 'a'));
    const layer = w.blob(new Uint8Array(run('gzip', ['-c'], { input: good })), 'application/vnd.oci.image.layer.v1.tar+gzip');
    const config = w.json({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(tar(file('a', 'b')))}`] } }, 'application/vnd.oci.image.config.v1+json');
    w.writeIndex([w.json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [layer] }, 'application/vnd.oci.image.manifest.v1+json')]);
    const r = await cli(['build', '-o', join(work.dir, 'x.img'), layout]);
    expect(r.stderr).toMatch(/: layer 1 of 1 \(sha256:[0-9a-f]{12}…\): the layer does not match its diff_id sha256:[0-9a-f]{64} \(uncompressed, it hashes to sha256:[0-9a-f]{64}\)\n$/);
  });

  it('a docker save manifest naming a layer outside the archive, or a missing one, is refused', async () => {
    const d = fresh('dsbad');
    const good = join(d, 'good.tar');
    dockerSaveClassic(good, d, [tar(file('a', 'a'))], ['x:1']);
    const inner = fresh('dsbad-x');
    run('tar', ['-x', '-f', good, '-C', inner]);
    const m = JSON.parse(fs.readFileSync(join(inner, 'manifest.json'), 'utf8')) as Array<{ Layers: string[] }>;
    m[0]!.Layers = ['../../etc/passwd'];
    fs.writeFileSync(join(inner, 'manifest.json'), JSON.stringify(m));
    const bad = join(d, 'bad.tar');
    tarDir(inner, bad);
    const r = await cli(['build', '-o', join(work.dir, 'x.img'), bad]);
    expect(r.stderr).toBe(`extimg: ${bad}: manifest.json: Layers[0]: '../../etc/passwd' leads outside the image\n`);
    m[0]!.Layers = ['nothere/layer.tar'];
    fs.writeFileSync(join(inner, 'manifest.json'), JSON.stringify(m));
    tarDir(inner, bad);
    const r2 = await cli(['build', '-o', join(work.dir, 'x.img'), bad]);
    expect(r2.stderr).toBe(`extimg: ${bad}: manifest.json names layer 'nothere/layer.tar', which is not in the archive\n`);
  });

  it("a layer's entries cannot leave the image or a --dest, even with '..' and absolute symlinks", async (ctx) => {
    judges(ctx, []);
    const layout = fresh('escape');
    const w = new LayoutWriter(layout);
    w.writeIndex([
      w.image({
        layers: [
          { tar: tar(member({ name: 'esc', type: '2', linkname: '/', mtime: T }), file('../../outside', 'o')) },
          { tar: tar(file('esc/etc/planted', 'p')) },
        ],
      }),
    ]);
    const out = join(work.dir, `escape-${counter++}.img`);
    const r = await cli(['build', '-q', '-o', out, `${layout}:/srv/img`]);
    // '../../outside' stays inside (resolved as GNU tar does, said once); going through the
    // lower layer's symlink to '/' is refused as GNU tar refuses it within one archive.
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^extimg: warning: .*: layer 1 of 2 \(sha256:[0-9a-f]{12}…\): member names with '\.\.' are resolved inside the image \(first: '\.\.\/\.\.\/outside'\)$/);
    expect(lines[1]).toMatch(/^extimg: .*: layer 2 of 2 \(sha256:[0-9a-f]{12}…\): esc\/etc\/planted: goes through 'esc', a symlink to '\/' made by a layer of this image \(refused, as GNU tar does/);
    expect(r.status).toBe(1);
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe('in memory (the library)', () => {
  it('addArchive reads an OCI archive given as bytes, checking digests in TypeScript', async (ctx) => {
    judges(ctx, ['tar']);
    const layout = fresh('mem');
    writeLayout(layout, [{ layers: layers().map((t) => ({ tar: t, compress: 'gzip' as const })) }]);
    const archive = join(fresh('mem-a'), 'a.tar');
    tarDir(layout, archive);
    const t = new Tree();
    expect(await addArchive(t, new Uint8Array(fs.readFileSync(archive)), { origin: 'a.tar' })).toEqual({ kind: 'image' });
    expect(t.get('opt/app/new')?.kind).toBe('file');
    expect(t.get('opt/app/old2')).toBeUndefined();
    const bytes = new Uint8Array(fs.readFileSync(archive));
    // Flip a byte inside the first gzip layer's data: digest (or gzip) refuses it.
    const at = Buffer.from(bytes).indexOf(Buffer.from([0x1f, 0x8b]));
    bytes[at + 40] ^= 0xff;
    const e = await extimgErrorAsync(() => addArchive(new Tree(), bytes, { origin: 'a.tar' }));
    expect(e.message).toMatch(/^a\.tar: /);
  });
});
