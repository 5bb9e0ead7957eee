import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { addArchive } from '../src/ingest/archive.js';
import type { FileNode } from '../src/tree/node.js';
import { Tree } from '../src/tree/tree.js';
import { readBytes, run } from './helpers/archives.js';
import { missingTools, requireJudge } from './helpers/env.js';
import { materializeTree } from './helpers/host.js';
import { breathe, workDir } from './helpers/image.js';
import { member, tar } from './helpers/tar-writer.js';

/**
 * The package databases (issue 16). Debian's required set (fixtures/fetch-debs.sh required,
 * ~96 real .debs) applied over merged-/usr symlinks as debootstrap's first stage lays them: the
 * host's dpkg, pointed at the tree's /var/lib/dpkg, lists every package `iU`, `--audit` says
 * only that they are unpacked and not configured, `dpkg-query -L` gives each package's data.tar
 * paths as `dpkg-deb -c` lists them, `dpkg --verify` finds every file's MD5 right, and the
 * status file's conffile hashes are the files' MD5s. Synthetic packages cover conflicts,
 * Replaces, Multi-Arch: same, packages without md5sums and `packageDb: false`. pacman packages
 * are judged by `pacman -Q` when pacman is installed, else by an independent reader of the
 * local database's files. The boot (`dpkg --configure -a` in the image) is test/boot-dpkg.test.ts.
 */

const DIR = fileURLToPath(new URL('../fixtures/out/debs/required', import.meta.url));
const work = workDir('package-db');
afterAll(() => work.cleanup());
const T0 = { sec: 1_000_000_000, nsec: 0 };

const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

function sh(cmd: string, args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 << 20, env: { ...process.env, LC_ALL: 'C' } });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** What `dpkg-deb -c` lists, as dpkg names the paths in PKG.list ("/." for "./", no trailing '/'). */
function debPaths(deb: string): string[] {
  const out = run('dpkg-deb', ['--fsys-tarfile', deb]);
  const listing = spawnSync('tar', ['-t', '-f', '-'], { input: out, maxBuffer: 64 << 20 }).stdout.toString('latin1');
  return listing
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const p = l.replace(/^\.\//, '').replace(/\/$/, '');
      return p === '' || p === '.' ? '/.' : `/${p}`;
    });
}

function fileContent(tree: Tree, path: string): Uint8Array {
  const n = tree.get(path, true) as FileNode | undefined;
  expect(n?.kind, path).toBe('file');
  const out = new Uint8Array(n!.content.size);
  const r = n!.content.open();
  r.read(0, out);
  r.close();
  return out;
}

/** A merged /usr as debootstrap makes it before unpacking anything. */
function mergedUsr(tree: Tree): void {
  for (const d of ['bin', 'sbin', 'lib', 'lib64']) {
    tree.mkdir(`usr/${d}`);
    tree.symlink(d, `usr/${d}`);
  }
}

describe('dpkg database: Debian required set', () => {
  it('dpkg -l, --audit, dpkg-query -L, dpkg --verify and conffile hashes agree', async (ctx) => {
    requireJudge(ctx, missingTools(['dpkg', 'dpkg-query', 'dpkg-deb', 'tar']), 'dpkg database judge');
    const debs = fs.existsSync(DIR) ? fs.readdirSync(DIR).filter((n) => n.endsWith('.deb')).sort() : [];
    requireJudge(ctx, debs.length ? undefined : `no packages in ${DIR} (run fixtures/fetch-debs.sh required)`, 'dpkg database judge');

    const tree = new Tree({ time: T0 });
    mergedUsr(tree);
    const warnings: string[] = [];
    const names = new Map<string, string>();
    for (const name of debs) {
      const path = join(DIR, name);
      await addArchive(tree, readBytes(path), { origin: path, onWarning: (m) => warnings.push(m) });
      names.set(run('dpkg-deb', ['-f', path, 'Package']).toString().trim(), path);
      await breathe();
    }
    // Debian's required set ships no path twice without Replaces.
    expect(warnings).toEqual([]);

    const root = join(work.dir, 'root');
    fs.mkdirSync(root);
    materializeTree(tree, root);
    const admin = join(root, 'var/lib/dpkg');
    expect(fs.readFileSync(join(admin, 'info/format'), 'utf8')).toBe('1\n');

    // dpkg -l: every package, desired install, state unpacked.
    const l = sh('dpkg', [`--admindir=${admin}`, '-l']);
    expect(l.code, l.err).toBe(0);
    const states = new Map(
      l.out
        .split('\n')
        .filter((line) => /^[a-z][A-Za-z] /.test(line))
        .map((line) => {
          const [state, pkg] = line.split(/\s+/);
          return [pkg!.replace(/:.*$/, ''), state!] as const;
        }),
    );
    expect([...states.keys()].sort()).toEqual([...names.keys()].sort());
    expect(new Set(states.values())).toEqual(new Set(['iU']));

    // --audit: unpacked and not configured, every package, and nothing else.
    const audit = sh('dpkg', [`--admindir=${admin}`, '--audit']);
    expect(audit.err).toBe('');
    // One explanation, then one line per package (" NAME  SUMMARY").
    const [explanation, ...rest] = audit.out.split(/\n(?= )/);
    expect(explanation).toMatch(/^The following packages have been unpacked but not yet configured\./);
    expect(explanation!.split('\n').every((line) => !line.startsWith(' '))).toBe(true);
    const listed = rest.map((line) => line.trim().split(/\s+/)[0]!.replace(/:.*$/, ''));
    expect(listed.sort()).toEqual([...names.keys()].sort());

    // dpkg-query -L: the data.tar's paths in its order.
    for (const [pkg, path] of names) {
      const q = sh('dpkg-query', [`--admindir=${admin}`, '-L', pkg]);
      expect(q.code, `${pkg}: ${q.err}`).toBe(0);
      expect(q.out.split('\n').filter((x) => x !== ''), pkg).toEqual(debPaths(path));
    }

    // dpkg --verify: every file's MD5 against the md5sums recorded (no output when all match).
    const verify = sh('dpkg', [`--root=${root}`, `--admindir=${admin}`, '--verify']);
    expect([verify.code, verify.out, verify.err]).toEqual([0, '', '']);

    // Conffiles in the status file carry the files' MD5s (the files are in place, not .dpkg-new).
    const status = fs.readFileSync(join(admin, 'status'), 'latin1');
    const conffiles = [...status.matchAll(/^ (\/\S+) ([0-9a-f]{32})$/gm)];
    expect(conffiles.length).toBeGreaterThan(20);
    for (const [, p, h] of conffiles) expect(md5(fileContent(tree, p!)), p).toBe(h);
    // Stanzas as dpkg writes them: sorted by name; the status file parses back as dpkg reads it.
    const pkgs = [...status.matchAll(/^Package: (\S+)$/gm)].map((m) => m[1]!);
    expect(pkgs).toEqual([...pkgs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    const bashStanza = status.split('\n\n').find((s) => s.startsWith('Package: bash\n'))!;
    expect(bashStanza.split('\n').filter((x) => /^[A-Z]/.test(x)).map((x) => x.split(':')[0])).toEqual([
      'Package', 'Essential', 'Status', 'Priority', 'Section', 'Installed-Size', 'Maintainer', 'Architecture', 'Multi-Arch', 'Source', 'Version',
      'Replaces', 'Depends', 'Pre-Depends', 'Recommends', 'Suggests', 'Conflicts', 'Conffiles', 'Description', 'Homepage',
    ]);
    const show = sh('dpkg-query', [`--admindir=${admin}`, '-W', '-f=${Package} ${Status} ${Version}\\n', 'bash']);
    expect(show.out).toMatch(/^bash install ok unpacked 5\.2/);

    // Multi-Arch: same packages have PKG:ARCH files; the trigger interests are registered.
    expect(fs.existsSync(join(admin, 'info/libc6:amd64.list'))).toBe(true);
    expect(fs.existsSync(join(admin, 'info/libc6:amd64.postinst'))).toBe(true);
    expect((fs.statSync(join(admin, 'info/libc6:amd64.postinst')).mode & 0o777).toString(8)).toBe('755');
    expect(fs.readFileSync(join(admin, 'triggers/ldconfig'), 'utf8')).toBe('libc-bin\n');
    expect(fs.readFileSync(join(admin, 'triggers/File'), 'utf8')).toBe('/usr/share/debianutils/shells.d debianutils/noawait\n');
    expect(fs.readFileSync(join(admin, 'arch'), 'utf8')).toBe('amd64\n');
    const s = sh('dpkg-query', [`--admindir=${admin}`, '-S', '/lib64']);
    expect(s.out).toMatch(/libc6:amd64: \/lib64/);

    // base-passwd's preinst, done at build time: /etc/passwd and /etc/group from its masters.
    for (const n of ['passwd', 'group']) {
      expect(Buffer.from(fileContent(tree, `etc/${n}`)).equals(Buffer.from(fileContent(tree, `usr/share/base-passwd/${n}.master`)))).toBe(true);
      expect((tree.get(`etc/${n}`) as FileNode).meta.mode).toBe(0o644);
    }
  }, 900_000);
});

/** A .deb made by dpkg-deb --build from a control file and files (dpkg-deb writes no md5sums). */
function makeDeb(dir: string, control: Record<string, string>, files: Record<string, string>, extra: Record<string, string> = {}): string {
  const root = join(dir, `${control.Package}-${control.Architecture ?? 'all'}-${Math.random().toString(36).slice(2)}`);
  fs.mkdirSync(join(root, 'DEBIAN'), { recursive: true });
  const fields = { Version: '1.0', Architecture: 'all', Maintainer: 'T <t@example.org>', Description: 'test package\n more text', ...control };
  fs.writeFileSync(join(root, 'DEBIAN/control'), `${Object.entries(fields).map(([k, v]) => `${k}: ${v}`).join('\n')}\n`);
  for (const [name, text] of Object.entries(extra)) fs.writeFileSync(join(root, 'DEBIAN', name), text, { mode: name.endsWith('inst') || name.endsWith('rm') ? 0o755 : 0o644 });
  for (const [p, text] of Object.entries(files)) {
    fs.mkdirSync(join(root, p, '..'), { recursive: true });
    fs.writeFileSync(join(root, p), text);
  }
  const deb = `${root}.deb`;
  run('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', root, deb]);
  return deb;
}

async function applyDebs(debs: string[], opts: { packageDb?: boolean } = {}): Promise<{ tree: Tree; warnings: string[]; admin: string }> {
  const tree = new Tree({ time: T0 });
  const warnings: string[] = [];
  for (const d of debs) await addArchive(tree, readBytes(d), { origin: d, onWarning: (m) => warnings.push(m), ...opts });
  const root = fs.mkdtempSync(join(work.dir, 'root-'));
  materializeTree(tree, root);
  return { tree, warnings, admin: join(root, 'var/lib/dpkg') };
}

describe('dpkg database: synthetic packages', () => {
  it('two packages shipping one file: one warning per pair naming both; Replaces quiets it; the file moves to the later list', async (ctx) => {
    requireJudge(ctx, missingTools(['dpkg', 'dpkg-query', 'dpkg-deb']), 'dpkg database judge');
    const dir = fs.mkdtempSync(join(work.dir, 'conflict-'));
    const a = makeDeb(dir, { Package: 'pkg-a' }, { 'usr/share/x/one': 'a1', 'usr/share/x/two': 'a2', 'usr/share/x/a-only': 'a' });
    const b = makeDeb(dir, { Package: 'pkg-b' }, { 'usr/share/x/one': 'b1', 'usr/share/x/two': 'b2' });
    const c = makeDeb(dir, { Package: 'pkg-c', Replaces: 'pkg-b (<< 2), other' }, { 'usr/share/x/one': 'c1' });
    const { warnings, admin } = await applyDebs([a, b, c]);
    expect(warnings.length, warnings.join('\n')).toBe(1);
    expect(warnings[0]).toContain('package pkg-b ships /usr/share/x/one and 1 more path, also in package pkg-a, and neither Replaces the other');
    expect(warnings[0]).toContain(b);
    const owner = (p: string): string => {
      const [pkgs, path] = sh('dpkg-query', [`--admindir=${admin}`, '-S', p]).out.trim().split(': ');
      return `${pkgs!.split(', ').sort().join(', ')}: ${path}`;
    };
    expect(owner('/usr/share/x/one')).toBe('pkg-c: /usr/share/x/one');
    expect(owner('/usr/share/x/two')).toBe('pkg-b: /usr/share/x/two');
    expect(owner('/usr/share/x/a-only')).toBe('pkg-a: /usr/share/x/a-only');
    // The shared directory stays in every list.
    expect(owner('/usr/share/x')).toBe('pkg-a, pkg-b, pkg-c: /usr/share/x');
    const audit = sh('dpkg', [`--admindir=${admin}`, '--audit']);
    expect(audit.out).not.toMatch(/missing|list file|md5sums/i);
  });

  it('no md5sums in the package: computed as dpkg does; conffiles, scripts and Multi-Arch: same recorded', async (ctx) => {
    requireJudge(ctx, missingTools(['dpkg', 'dpkg-query', 'dpkg-deb']), 'dpkg database judge');
    const dir = fs.mkdtempSync(join(work.dir, 'info-'));
    const deb = makeDeb(
      dir,
      { Package: 'libtest1', Architecture: 'amd64', 'Multi-Arch': 'same', Priority: 'optional', Section: 'libs', Homepage: 'https://example.org' },
      { 'etc/test.conf': 'setting=1\n', 'usr/lib/x86_64-linux-gnu/libtest.so.1': 'ELF-ish' },
      { conffiles: '/etc/test.conf\n', postinst: '#!/bin/sh\nexit 0\n', triggers: 'activate-noawait ldconfig\n' },
    );
    const { tree, admin } = await applyDebs([deb]);
    const info = (n: string): string => fs.readFileSync(join(admin, 'info', n), 'utf8');
    expect(info('libtest1:amd64.md5sums')).toBe(`${md5(Buffer.from('setting=1\n'))}  etc/test.conf\n${md5(Buffer.from('ELF-ish'))}  usr/lib/x86_64-linux-gnu/libtest.so.1\n`);
    expect(info('libtest1:amd64.conffiles')).toBe('/etc/test.conf\n');
    expect(info('libtest1:amd64.triggers')).toBe('activate-noawait ldconfig\n');
    expect((fs.statSync(join(admin, 'info/libtest1:amd64.postinst')).mode & 0o777).toString(8)).toBe('755');
    expect(fs.existsSync(join(admin, 'info/libtest1:amd64.control'))).toBe(false);
    const status = fs.readFileSync(join(admin, 'status'), 'utf8');
    expect(status).toBe(
      [
        'Package: libtest1',
        'Status: install ok unpacked',
        'Priority: optional',
        'Section: libs',
        'Maintainer: T <t@example.org>',
        'Architecture: amd64',
        'Multi-Arch: same',
        'Version: 1.0',
        'Conffiles:',
        ` /etc/test.conf ${md5(Buffer.from('setting=1\n'))}`,
        'Description: test package',
        ' more text',
        'Homepage: https://example.org',
        '',
        '',
      ].join('\n'),
    );
    const q = sh('dpkg-query', [`--admindir=${admin}`, '-L', 'libtest1:amd64']);
    expect(q.out.split('\n').filter(Boolean)).toEqual(debPaths(deb));
    const verify = sh('dpkg', [`--root=${join(admin, '../../..')}`, `--admindir=${admin}`, '--verify']);
    expect([verify.code, verify.out, verify.err]).toEqual([0, '', '']);
    expect(tree.exists('etc/passwd')).toBe(false);
  });

  it('packageDb: false leaves no database; a package given again replaces its record', async (ctx) => {
    requireJudge(ctx, missingTools(['dpkg', 'dpkg-query', 'dpkg-deb']), 'dpkg database judge');
    const dir = fs.mkdtempSync(join(work.dir, 'off-'));
    const v1 = makeDeb(dir, { Package: 'again' }, { 'usr/share/again/old': 'x', 'usr/share/again/both': '1' }, { postrm: '#!/bin/sh\n' });
    const v2 = makeDeb(dir, { Package: 'again', Version: '2.0' }, { 'usr/share/again/both': '2' });
    const off = await applyDebs([v1], { packageDb: false });
    expect(off.tree.exists('var/lib/dpkg')).toBe(false);
    expect(off.warnings).toEqual([]);
    const { admin, warnings } = await applyDebs([v1, v2]);
    expect(warnings).toEqual([]);
    expect(sh('dpkg-query', [`--admindir=${admin}`, '-W', 'again']).out).toBe('again\t2.0\n');
    expect(sh('dpkg-query', [`--admindir=${admin}`, '-L', 'again']).out.split('\n').filter(Boolean)).toEqual(debPaths(v2));
    expect(fs.existsSync(join(admin, 'info/again.postrm'))).toBe(false);
  });
});

/** A .deb assembled by hand (ar of debian-binary, control.tar, data.tar), for what dpkg-deb refuses to build. */
function handDeb(control: string, controlFiles: Record<string, string>, files: Record<string, string>): Uint8Array {
  const ctl = tar(member({ name: './control' }, control), ...Object.entries(controlFiles).map(([n, t]) => member({ name: `./${n}` }, t)));
  const data = tar(...Object.entries(files).map(([n, t]) => member({ name: `./${n}` }, t)));
  const parts: Buffer[] = [Buffer.from('!<arch>\n')];
  for (const [name, d] of [['debian-binary', Buffer.from('2.0\n')], ['control.tar', Buffer.from(ctl)], ['data.tar', Buffer.from(data)]] as const) {
    parts.push(Buffer.from(`${name.padEnd(16)}${'0'.padEnd(12)}${'0'.padEnd(6)}${'0'.padEnd(6)}${'100644'.padEnd(8)}${String(d.length).padEnd(10)}\`\n`, 'latin1'), d);
    if (d.length % 2) parts.push(Buffer.from('\n'));
  }
  return new Uint8Array(Buffer.concat(parts));
}

describe('dpkg database: hostile control data', () => {
  it('names that would leave info/ or triggers/ are not recorded; a package without a control file is said', async () => {
    const tree = new Tree({ time: T0 });
    const warnings: string[] = [];
    const add = (bytes: Uint8Array, origin: string): Promise<unknown> => addArchive(tree, bytes, { origin, onWarning: (m) => warnings.push(m) });
    await add(handDeb('Package: ../../../etc/evil\nVersion: 1\nArchitecture: all\n', {}, { 'usr/a': 'a' }), 'evil.deb');
    await add(handDeb('Package: ok\nVersion: 1\nArchitecture: all\n', { triggers: 'interest ../../../etc/evil2\ninterest-noawait good\n' }, { 'usr/b': 'b' }), 'ok.deb');
    const noControl = handDeb('Package: x\n', {}, { 'usr/c': 'c' });
    await add(noControl, 'no-version.deb');
    expect(warnings).toEqual([
      'evil.deb: package name "../../../etc/evil" or architecture "all" is not valid for dpkg; the package is not recorded in /var/lib/dpkg',
      'no-version.deb: the control file has no Version, Architecture; the package is not recorded in /var/lib/dpkg',
    ]);
    expect(tree.exists('etc')).toBe(false);
    expect(tree.exists('var/lib/dpkg/triggers/good')).toBe(true);
    expect(tree.exists('usr/a') && tree.exists('usr/b') && tree.exists('usr/c')).toBe(true);
    const status = new TextDecoder().decode(fileContent(tree, 'var/lib/dpkg/status'));
    expect([...status.matchAll(/^Package: (.*)$/gm)].map((m) => m[1])).toEqual(['ok']);
  });
});

/** A pacman package as makepkg lays it out: .PKGINFO, .MTREE (gzip), .INSTALL, then the files. */
function pacmanPackage(name: string, version: string, extra: string[] = []): Uint8Array {
  const pkginfo = [
    '# Generated by makepkg 6.0.2',
    `pkgname = ${name}`,
    `pkgbase = ${name}`,
    `pkgver = ${version}`,
    'pkgdesc = A test package',
    'url = https://example.org',
    'builddate = 1700000000',
    'packager = Test <t@example.org>',
    'size = 12345',
    'arch = x86_64',
    'license = MIT',
    'license = GPL',
    'depend = glibc',
    'depend = bash>=5',
    'backup = etc/demo.conf',
    ...extra,
    '',
  ].join('\n');
  return tar(
    member({ name: '.PKGINFO' }, pkginfo),
    member({ name: '.MTREE' }, gzipSync(Buffer.from('#mtree\n./usr/bin/demo time=1700000000.0 size=4 type=file\n'))),
    member({ name: '.INSTALL' }, 'post_install() { :; }\n'),
    member({ name: 'etc/', type: '5' }),
    member({ name: 'etc/demo.conf' }, 'conf=1\n'),
    member({ name: 'usr/', type: '5' }),
    member({ name: 'usr/bin/', type: '5' }),
    member({ name: 'usr/bin/demo' }, 'demo'),
  );
}

/** The local database's desc and files read back section by section (libalpm's reader's rules). */
function readSections(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let cur: string | undefined;
  for (const line of text.split('\n')) {
    if (/^%[A-Z]+%$/.test(line)) out.set((cur = line), []);
    else if (line === '') cur = undefined;
    else if (cur) out.get(cur)!.push(line);
  }
  return out;
}

describe('pacman local database', () => {
  it('local/NAME-VERSION/{desc,files,mtree,install} and ALPM_DB_VERSION; pacman -Q lists the packages', async () => {
    const tree = new Tree({ time: T0 });
    await addArchive(tree, pacmanPackage('demo', '1.0-1'), { origin: 'demo.pkg.tar' });
    await addArchive(tree, pacmanPackage('demo-libs', '2:3.1-2'), { origin: 'demo-libs.pkg.tar' });
    // The same package again, newer: one entry per name.
    await addArchive(tree, pacmanPackage('demo', '1.1-1'), { origin: 'demo.pkg.tar' });
    const root = fs.mkdtempSync(join(work.dir, 'pacman-'));
    materializeTree(tree, root);
    const local = join(root, 'var/lib/pacman/local');
    expect(fs.readdirSync(local).sort()).toEqual(['ALPM_DB_VERSION', 'demo-1.1-1', 'demo-libs-2:3.1-2']);
    expect(fs.readFileSync(join(local, 'ALPM_DB_VERSION'), 'utf8')).toBe('9\n');
    const desc = readSections(fs.readFileSync(join(local, 'demo-1.1-1/desc'), 'utf8'));
    expect(Object.fromEntries(desc)).toEqual({
      '%NAME%': ['demo'],
      '%VERSION%': ['1.1-1'],
      '%BASE%': ['demo'],
      '%DESC%': ['A test package'],
      '%URL%': ['https://example.org'],
      '%ARCH%': ['x86_64'],
      '%BUILDDATE%': ['1700000000'],
      '%INSTALLDATE%': [String(T0.sec)],
      '%PACKAGER%': ['Test <t@example.org>'],
      '%SIZE%': ['12345'],
      '%LICENSE%': ['MIT', 'GPL'],
      '%VALIDATION%': ['none'],
      '%DEPENDS%': ['glibc', 'bash>=5'],
    });
    const files = readSections(fs.readFileSync(join(local, 'demo-1.1-1/files'), 'utf8'));
    expect(files.get('%FILES%')).toEqual(['etc/', 'etc/demo.conf', 'usr/', 'usr/bin/', 'usr/bin/demo']);
    expect(files.get('%BACKUP%')).toEqual([`etc/demo.conf\t${md5(Buffer.from('conf=1\n'))}`]);
    expect(fs.readFileSync(join(local, 'demo-1.1-1/install'), 'utf8')).toBe('post_install() { :; }\n');
    expect(gunzipSync(fs.readFileSync(join(local, 'demo-1.1-1/mtree'))).toString()).toContain('./usr/bin/demo');
    // Metadata never reaches the tree itself.
    expect(tree.exists('.PKGINFO')).toBe(false);

    if (missingTools(['pacman'])) {
      console.log('pacman not installed: the local database judged by the section reader only (apt-get install pacman-package-manager for pacman -Q)');
      return;
    }
    const q = sh('pacman', ['-Q', '--root', root, '--dbpath', join(root, 'var/lib/pacman')]);
    expect([q.code, q.err]).toEqual([0, '']);
    expect(q.out).toBe('demo 1.1-1\ndemo-libs 2:3.1-2\n');
    const ql = sh('pacman', ['-Ql', '--root', root, '--dbpath', join(root, 'var/lib/pacman'), 'demo']);
    expect(ql.out).toBe(['etc/', 'etc/demo.conf', 'usr/', 'usr/bin/', 'usr/bin/demo'].map((p) => `demo ${root}/${p}\n`).join(''));
    const qk = sh('pacman', ['-Qk', '--root', root, '--dbpath', join(root, 'var/lib/pacman'), 'demo']);
    expect([qk.code, qk.out, qk.err]).toEqual([0, 'demo: 5 total files, 0 missing files\n', '']);
  });
});
