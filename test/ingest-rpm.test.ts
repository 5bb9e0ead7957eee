import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addArchive, applyPrepared, prepareArchive, type Prepared } from '../src/ingest/archive.js';
import { addCpio } from '../src/ingest/cpio.js';
import { unwrapRpm } from '../src/ingest/rpm.js';
import { Tree } from '../src/tree/tree.js';
import { buildAndRead, expectImageMatchesDir, extimgError, extimgErrorAsync, readBytes, run } from './helpers/archives.js';
import { missingTools, requireJudge } from './helpers/env.js';
import { workDir } from './helpers/image.js';
import { manifestFromTree } from './helpers/manifest.js';

const work = workDir('ingest-rpm');
afterAll(() => work.cleanup());

const T0 = { sec: 1_000_000_000, nsec: 0 };

const SPEC = `Name: extimg-test
Version: 1.0
Release: 1
Summary: extimg test package
License: MIT
BuildArch: noarch
%description
A package for extimg's tests.
%install
mkdir -p %{buildroot}/usr/bin %{buildroot}/etc/x %{buildroot}/var/lib/t %{buildroot}/usr/share/doc/t
printf 'tool\\n' > %{buildroot}/usr/bin/tool
printf 'conf\\n' > %{buildroot}/etc/x/conf
printf 'café\\n' > %{buildroot}/usr/share/doc/t/café.txt
ln -s ../bin/tool %{buildroot}/usr/bin/link
ln %{buildroot}/usr/bin/tool %{buildroot}/usr/bin/hard
%files
%attr(0755,daemon,users) /usr/bin/tool
%attr(0755,daemon,users) /usr/bin/hard
/usr/bin/link
%attr(0640,root,adm) /etc/x/conf
%dir %attr(0750,nobody,nogroup) /var/lib/t
/usr/share/doc/t
`;

const PAYLOADS: Record<string, { macro: string; tool: string[] }> = {
  gzip: { macro: 'w9.gzdio', tool: ['gzip', '-dc'] },
  xz: { macro: 'w2.xzdio', tool: ['xz', '-dc'] },
  zstd: { macro: 'w3.zstdio', tool: ['zstd', '-dcq'] },
  bzip2: { macro: 'w9.bzdio', tool: ['bzip2', '-dc'] },
  lzma: { macro: 'w2.lzdio', tool: ['xz', '--format=lzma', '-dc'] },
};

const built = new Map<string, string>();

/** rpmbuild a package whose payload uses `codec`; cached per codec. */
function buildRpm(codec: string): string {
  const have = built.get(codec);
  if (have) return have;
  const dir = join(work.dir, `rpm-${codec}`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(join(dir, 't.spec'), SPEC);
  run('rpmbuild', ['-bb', '--quiet', '--define', `_topdir ${dir}/top`, '--define', `_binary_payload ${PAYLOADS[codec]!.macro}`, join(dir, 't.spec')], { env: { ...process.env, LC_ALL: 'C.UTF-8' } });
  const rpm = join(dir, 'top', 'RPMS', 'noarch', 'extimg-test-1.0-1.noarch.rpm');
  built.set(codec, rpm);
  return rpm;
}

function rpmTools(ctx: { skip(note?: string): void }, codec = 'gzip'): void {
  requireJudge(ctx, missingTools(['e2fsck', 'debugfs', 'rpmbuild', 'rpm2cpio', 'cpio', PAYLOADS[codec]!.tool[0]!]), 'rpm oracle (apt: rpm, cpio)');
}

/** Payload decompressed by the codec's own tool (the codecs are src/compress's business). */
function preparedWithTool(rpm: string, codec: string): Prepared {
  const u = unwrapRpm(readBytes(rpm), rpm);
  expect(u.codec).toBe(codec);
  const payload = new Uint8Array(run(PAYLOADS[codec]!.tool[0]!, PAYLOADS[codec]!.tool.slice(1), { input: u.payload }));
  return { kind: 'rpm', format: 'cpio', codec: u.codec!, member: 'payload', payload, owners: u.owners };
}

describe('rpm: rpmbuild packages read back like rpm2cpio | cpio -idm extracts them', () => {
  for (const codec of Object.keys(PAYLOADS)) {
    it(`payload compressed with ${codec}`, async (ctx) => {
      rpmTools(ctx, codec);
      const rpm = buildRpm(codec);
      const dir = join(work.dir, `check-${codec}`);
      const ref = join(dir, 'ref');
      fs.mkdirSync(ref, { recursive: true });
      run('cpio', ['-i', '-d', '-m', '--quiet'], { cwd: ref, input: run('rpm2cpio', [rpm]) });
      const tree = new Tree({ time: T0 });
      const warnings: string[] = [];
      applyPrepared(tree, preparedWithTool(rpm, codec), { origin: rpm, onWarning: (w) => warnings.push(w) });
      // No /etc/passwd in the image: the named owners stay root, with one warning per name.
      expect(warnings.sort()).toEqual([
        `${rpm}: group 'adm' is not in the image's /etc/group; its files stay owned by gid 0`,
        `${rpm}: group 'nogroup' is not in the image's /etc/group; its files stay owned by gid 0`,
        `${rpm}: group 'users' is not in the image's /etc/group; its files stay owned by gid 0`,
        `${rpm}: user 'daemon' is not in the image's /etc/passwd; its files stay owned by uid 0`,
        `${rpm}: user 'nobody' is not in the image's /etc/passwd; its files stay owned by uid 0`,
      ]);
      expect(tree.get('usr/bin/hard')).toBe(tree.get('usr/bin/tool'));
      // The whole pipeline (src/compress decoding the payload) gives the same tree.
      const viaPipeline = new Tree({ time: T0 });
      expect(await addArchive(viaPipeline, readBytes(rpm), { origin: rpm, onWarning: () => {} })).toEqual({ kind: 'rpm', codec });
      expect(manifestFromTree(viaPipeline)).toEqual(manifestFromTree(tree));
      const { image } = buildAndRead(tree, dir, `rpm-${codec}`);
      expectImageMatchesDir(image, ref, `rpm ${codec}`, { symlinkTimes: false, dirTimes: false });
    });
  }

  it('owner names map to the ids of the image /etc/passwd and /etc/group', (ctx) => {
    rpmTools(ctx);
    const rpm = buildRpm('gzip');
    const u = unwrapRpm(readBytes(rpm), rpm);
    expect(Object.fromEntries(u.owners)).toMatchObject({
      'usr/bin/tool': { user: 'daemon', group: 'users' },
      'etc/x/conf': { user: 'root', group: 'adm' },
      'var/lib/t': { user: 'nobody', group: 'nogroup' },
      'usr/bin/link': { user: 'root', group: 'root' },
    });
    const tree = new Tree({ time: T0 });
    tree.writeFile('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1::/:/bin/false\nnobody:x:65534:65534::/:/bin/false\n');
    tree.writeFile('etc/group', 'root:x:0:\nadm:x:4:\nusers:x:100:\nnogroup:x:65534:\n');
    applyPrepared(tree, preparedWithTool(rpm, 'gzip'), { origin: rpm });
    expect(tree.get('usr/bin/tool')?.meta).toMatchObject({ uid: 1, gid: 100, mode: 0o755 });
    expect(tree.get('usr/bin/hard')).toBe(tree.get('usr/bin/tool'));
    expect(tree.get('etc/x/conf')?.meta).toMatchObject({ uid: 0, gid: 4, mode: 0o640 });
    expect(tree.get('var/lib/t')?.meta).toMatchObject({ uid: 65534, gid: 65534, mode: 0o750 });
    // An explicit owner wins over names.
    const t2 = new Tree({ time: T0 });
    t2.writeFile('etc/passwd', 'daemon:x:1:1::/:/bin/false\n');
    applyPrepared(t2, preparedWithTool(rpm, 'gzip'), { origin: rpm, owner: { uid: 7, gid: 7 } });
    expect(t2.get('usr/bin/tool')?.meta).toMatchObject({ uid: 7, gid: 7 });
  });

  it('prepareArchive unwraps a gzip payload end to end', async (ctx) => {
    rpmTools(ctx);
    const rpm = buildRpm('gzip');
    const p = await prepareArchive(readBytes(rpm), rpm);
    expect(p).toMatchObject({ kind: 'rpm', format: 'cpio', codec: 'gzip', member: 'payload' });
    const t = new Tree({ time: T0 });
    addCpio(t, p.payload, { origin: rpm });
    expect(t.get('usr/share/doc/t/café.txt')?.kind).toBe('file');
  });

  it('hostile packages give one ExtimgError naming the package and where', async (ctx) => {
    rpmTools(ctx);
    const bytes = readBytes(buildRpm('gzip'));
    const lead = extimgError(() => unwrapRpm(bytes.subarray(0, 50), 'x.rpm'));
    expect([lead.code, lead.message]).toEqual(['ECORRUPT', 'x.rpm: truncated rpm lead at byte 0']);
    const sig = extimgError(() => unwrapRpm(bytes.subarray(0, 120), 'x.rpm'));
    expect(sig.code).toBe('ECORRUPT');
    expect(sig.message).toMatch(/^x\.rpm: rpm header of \d+ entries and \d+ bytes runs past the end of the package at byte 96 \(entry 'signature header'\)$/);
    const bad = bytes.slice();
    bad[96] = 0;
    const magic = extimgError(() => unwrapRpm(bad, 'x.rpm'));
    expect(magic.message).toBe("x.rpm: no rpm header magic (8e ad e8 01) at byte 96 (entry 'signature header')");
    // A payload cut short: the gzip stream is broken.
    const e = await extimgErrorAsync(() => prepareArchive(bytes.subarray(0, bytes.length - 100), 'x.rpm'));
    expect(e.code).toBe('ECORRUPT');
    expect(e.message).toMatch(/^x\.rpm: payload: /);
  });
});
