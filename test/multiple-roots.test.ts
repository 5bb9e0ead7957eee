import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { e2fsck } from './helpers/e2fsck.js';
import { IN_CI, missingTools, requireJudge } from './helpers/env.js';
import { workDir } from './helpers/image.js';

// Issue #15's README example, end to end, as an ordinary user: the "multiple roots" job on a
// qcow2 GPT disk whose partition 1 is a Debian-like root. Its /bin /etc /lib /sbin /usr move into
// /r0; the initrd under /boot is read out with `image cat`, patched with `initrd rewrite`, and
// written back with `edit --write`. No root, no qemu-nbd, no mount.

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const main = path.join(root, 'dist', 'cli', 'main.js');
const work = workDir('multiple-roots');
const tmp = work.dir;
afterAll(() => work.cleanup());
const missing = missingTools(['qemu-img', 'sfdisk', 'e2fsck', 'debugfs', 'lsinitramfs']);

/** Run as nobody when we are root (setpriv), as ourselves otherwise. */
function asUser(args: string[]): { status: number | null; stdout: Buffer; stderr: string } {
  const isRoot = process.getuid?.() === 0;
  const cmd = isRoot ? 'setpriv' : process.execPath;
  const argv = isRoot ? ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, main, ...args] : [main, ...args];
  const r = spawnSync(cmd, argv, { cwd: tmp, env: { ...process.env, SOURCE_DATE_EPOCH: undefined } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

describe('the multiple-roots job on a qcow2 disk, as an ordinary user', () => {
  it('moves the OS into /r0, patches the initrd under /boot and writes it back', (ctx) => {
    requireJudge(ctx, missing, 'multiple roots');
    if (process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status !== 0) {
      if (IN_CI) throw new Error('setpriv is missing (util-linux)');
      ctx.skip();
    }
    fs.chmodSync(tmp, 0o777);
    // A Debian-like root: the usual top-level directories, a kernel's initrd under /boot.
    const src = path.join(tmp, 'debian');
    for (const d of ['bin', 'etc', 'lib', 'sbin', 'usr/bin', 'boot', 'home', 'var/log']) fs.mkdirSync(path.join(src, d), { recursive: true });
    fs.writeFileSync(path.join(src, 'etc', 'os-release'), 'ID=debian\n');
    fs.writeFileSync(path.join(src, 'etc', 'fstab'), 'UUID=x / ext4 defaults 0 1\n');
    fs.writeFileSync(path.join(src, 'bin', 'sh'), '#!fake shell\n');
    fs.writeFileSync(path.join(src, 'usr', 'bin', 'env'), '#!fake env\n');
    const initrdSrc = path.join(tmp, 'initrd-src');
    fs.mkdirSync(path.join(initrdSrc, 'scripts', 'local-bottom'), { recursive: true });
    fs.writeFileSync(path.join(initrdSrc, 'init'), '#!/bin/sh\necho init\n', { mode: 0o755 });
    const initrd = path.join(src, 'boot', 'initrd.img-6.1.0-amd64');
    execFileSync(process.execPath, [main, 'initrd', 'create', '-q', '-o', initrd, '--compress', 'gzip', initrdSrc]);
    const disk = path.join(tmp, 'debian.qcow2');
    execFileSync(process.execPath, [main, 'build', '-q', '-o', disk, '-t', 'ext4', '--owner', '0:0', '--partition-table', 'gpt', '--size', '256M', '-L', 'debian-root', src]);
    fs.chmodSync(disk, 0o666);
    const uuidBefore = uuidOf(disk);

    // 1. Move the OS into /r0.
    const moves = ['bin', 'etc', 'lib', 'sbin', 'usr'].flatMap((d) => ['--mv', `/${d}=/r0/${d}`]);
    let r = asUser(['edit', '-q', disk, '--mkdir', '/r0', ...moves]);
    expect([r.status, r.stderr]).toEqual([0, '']);

    // 2. The initrd out, patched, and back.
    r = asUser(['image', 'cat', disk, '/boot/initrd.img-6.1.0-amd64']);
    expect(r.status).toBe(0);
    fs.writeFileSync(path.join(tmp, 'initrd.old'), r.stdout);
    expect(r.stdout.equals(fs.readFileSync(initrd))).toBe(true);
    fs.writeFileSync(path.join(tmp, 'r0-hook'), '#!/bin/sh\nmount --bind /root/r0 /root\n');
    r = asUser(['initrd', 'rewrite', '-q', 'initrd.old', '-o', 'initrd.new', '--write', '/scripts/local-bottom/r0=r0-hook', '--chmod', '/scripts/local-bottom/r0=0755']);
    expect([r.status, r.stderr]).toEqual([0, '']);
    r = asUser(['edit', '-q', disk, '--write', '/boot/initrd.img-6.1.0-amd64=initrd.new']);
    expect([r.status, r.stderr]).toEqual([0, '']);

    // Judges: qemu-img check, the partition table, e2fsck, debugfs, lsinitramfs.
    expect(spawnSync('qemu-img', ['check', disk]).status).toBe(0);
    const raw = path.join(tmp, 'debian.raw');
    execFileSync('qemu-img', ['convert', '-O', 'raw', disk, raw]);
    // sfdisk --verify exits 0 even when it finds errors: they are on stderr.
    const verified = spawnSync('sfdisk', ['--verify', raw], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
    expect([verified.status, verified.stderr, /No errors detected/.test(verified.stdout)]).toEqual([0, '', true]);
    const part = partition1(raw);
    expect(e2fsck(part).code).toBe(0);
    expect(uuidOf(disk)).toBe(uuidBefore);
    const ls = execFileSync('debugfs', ['-R', 'ls -p /', part], { stdio: 'pipe' }).toString();
    for (const name of ['r0', 'boot', 'home', 'var']) expect(ls).toContain(`/${name}/`);
    for (const name of ['bin', 'etc', 'usr']) expect(ls).not.toContain(`/${name}/`);
    expect(execFileSync('debugfs', ['-R', 'cat /r0/etc/os-release', part], { stdio: 'pipe' }).toString()).toBe('ID=debian\n');
    const back = path.join(tmp, 'initrd.back');
    execFileSync('debugfs', ['-R', `dump /boot/initrd.img-6.1.0-amd64 ${back}`, part], { stdio: 'pipe' });
    expect(fs.readFileSync(back).equals(fs.readFileSync(path.join(tmp, 'initrd.new')))).toBe(true);
    expect(execFileSync('lsinitramfs', [back]).toString()).toMatch(/^scripts\/local-bottom\/r0$/m);
  });
});

function uuidOf(disk: string): string {
  const r = spawnSync(process.execPath, [main, 'image', 'info', '--json', disk], { encoding: 'utf8' });
  const m = /"Filesystem UUID":\s*"([0-9a-f-]+)"/.exec(r.stdout);
  if (!m) throw new Error(`no UUID in image info: ${r.stdout}${r.stderr}`);
  return m[1]!;
}

function partition1(raw: string): string {
  const pt = JSON.parse(execFileSync('sfdisk', ['-J', raw]).toString()) as { partitiontable: { partitions: Array<{ start: number; size: number }> } };
  const p = pt.partitiontable.partitions[0]!;
  const out = `${raw}.p1`;
  fs.writeFileSync(out, fs.readFileSync(raw).subarray(p.start * 512, (p.start + p.size) * 512));
  return out;
}
