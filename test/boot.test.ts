import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootEnv, fetchedDeb, pickAccel, ROOT } from './boot/env.js';
import { boot, tail } from './boot/qemu.js';
import { kernelComplaints, parseChecks, stageBootRoot, type StagedRoot } from './boot/rootfs.js';
import { runDebugfs } from './helpers/debugfs.js';
import { e2fsck } from './helpers/e2fsck.js';
import { missingTools, requireJudge } from './helpers/env.js';

/**
 * Judge 3 of DESIGN.md: Debian's cloud kernel boots what we build. An ext4, ext3 and ext2 image
 * of busybox-static plus a shell-script /sbin/init is booted under qemu-system-x86_64 with its
 * stock initramfs-tools initrd and the image as the virtio root disk. Init reports what the
 * kernel reads back (content through direct/IND/DIND/TIND maps, symlinks, hard links, a
 * multi-block directory, modes, times, owners, devices), writes a file through the kernel,
 * remounts read-only and powers off. Then e2fsck -fn must still be clean and debugfs must read
 * the guest's file.
 *
 * Issue 15: the ext4 root also as partition 1 of a GPT disk, of an MBR disk and of a GPT disk in
 * qcow2, booted with root=/dev/vda1; e2fsck and debugfs then judge the partition, sfdisk
 * --verify the table and qemu-img check the qcow2, before and after the boot.
 *
 * Setup: .ci/setup-boot.sh (qemu, kernel, initrd, busybox-static .deb). Locally a missing piece
 * skips with the reason; in CI it fails. Software emulation (TCG) by default;
 * EXTIMG_BOOT_ACCEL=kvm uses KVM where it works.
 */

const CLI = join(ROOT, 'dist', 'cli', 'main.js');
// Software emulation boots in ~15-60 s; a loaded CI machine may take several times that.
const BOOT_TIMEOUT_MS = 240_000;
const WHAT = 'qemu boot of a built image';

const env = bootEnv();
// Real Debian packages as inputs, as issue 3 asks: busybox-static (the shell and tools init
// uses) and base-files (the /etc skeleton), both fetched by fixtures/fetch-debs.sh in .ci/run.
const debs = [fetchedDeb('boot', 'busybox-static'), fetchedDeb('required', 'base-files')];
const notReady = missingTools(['e2fsck', 'debugfs', 'mkfifo', 'dpkg-deb', 'tar']) ?? env.reason ?? debs.find((d) => d.reason)?.reason;
const asRoot = process.getuid?.() === 0;
const accel = pickAccel();

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'extimg-boot-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/**
 * One boot: the filesystem type, and how it reaches qemu. `disk`: the image is a whole disk
 * (`--partition-table`) with the filesystem in partition 1, root=/dev/vda1; `format`: qemu's
 * -drive format (qcow2 from an output named .qcow2).
 */
interface BootCase {
  name: string;
  type: 'ext2' | 'ext3' | 'ext4';
  disk?: { table: 'gpt' | 'mbr'; args: string[] };
  format: 'raw' | 'qcow2';
}

const cases: BootCase[] = [
  { name: 'ext4', type: 'ext4', format: 'raw' },
  { name: 'ext3', type: 'ext3', format: 'raw' },
  { name: 'ext2', type: 'ext2', format: 'raw' },
  // Issue 15: the same root as a partitioned disk, raw and qcow2.
  { name: 'ext4-gpt', type: 'ext4', disk: { table: 'gpt', args: ['--partition-type', 'root-x86-64'] }, format: 'raw' },
  { name: 'ext4-mbr', type: 'ext4', disk: { table: 'mbr', args: [] }, format: 'raw' },
  { name: 'ext4-gpt-qcow2', type: 'ext4', disk: { table: 'gpt', args: [] }, format: 'qcow2' },
];

const what = (c: BootCase): string =>
  `${c.type} ${c.disk ? `as partition 1 of ${c.disk.table === 'mbr' ? 'an' : 'a'} ${c.disk.table.toUpperCase()} disk${c.format === 'qcow2' ? ' in qcow2' : ''}` : 'image'}`;

/**
 * The filesystem as a file of its own, for e2fsck and debugfs: the image itself, or partition 1
 * copied out of the disk (a qcow2 disk converted to raw by qemu-img first). On the way the disk
 * is judged: `qemu-img check` of a qcow2, `sfdisk --verify` of the (raw) disk, one partition at
 * 1 MiB.
 */
function filesystemOf(c: BootCase, image: string, when: string): string {
  if (!c.disk) return image;
  let raw = image;
  if (c.format === 'qcow2') {
    const check = spawnSync('qemu-img', ['check', image], { encoding: 'utf8' });
    expect(check.status, `qemu-img check ${when}:\n${check.stdout}${check.stderr}`).toBe(0);
    raw = `${image}.${when}.raw`;
    const conv = spawnSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', image, raw], { encoding: 'utf8' });
    expect(conv.status, `qemu-img convert ${when}:\n${conv.stderr}`).toBe(0);
  }
  // sfdisk (util-linux 2.38) exits 0 even when it finds errors: it reports them on stderr.
  const verify = spawnSync('sfdisk', ['--verify', raw], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  expect([verify.status, verify.stderr], `sfdisk --verify ${when}:\n${verify.stdout}`).toEqual([0, '']);
  expect(verify.stdout, `sfdisk --verify ${when}`).toContain('No errors detected.');
  const pt = (JSON.parse(execFileSync('sfdisk', ['-J', raw], { encoding: 'utf8' })) as { partitiontable: SfdiskTable }).partitiontable;
  expect(pt.label).toBe(c.disk.table === 'gpt' ? 'gpt' : 'dos');
  expect(pt.partitions.length).toBe(1);
  const { start, size } = pt.partitions[0]!;
  expect(start).toBe(2048);
  const part = `${image}.${when}.p1`;
  writeFileSync(part, readFileSync(raw).subarray(start * 512, (start + size) * 512));
  if (raw !== image) rmSync(raw);
  return part;
}

interface SfdiskTable {
  label: string;
  partitions: { start: number; size: number }[];
}

describe.each(cases)('boot $name root with Debian cloud kernel (qemu)', (c) => {
  const { name, type } = c;
  it(
    `boots ${what(c)} to /sbin/init, reads the tree back, writes through the kernel, stays fsck-clean`,
    async (ctx) => {
      requireJudge(ctx, notReady ?? (c.disk ? missingTools(['sfdisk', 'qemu-img']) : undefined), WHAT);
      const dir = join(work, name);
      mkdirSync(dir);
      const root: StagedRoot = stageBootRoot(dir, debs.map((d) => d.path!), { asRoot });
      const image = join(dir, `root-${name}.${c.format === 'qcow2' ? 'qcow2' : 'img'}`);

      // `extimg build -o IMG busybox-static.deb base-files.deb probes/ --write /sbin/init=FILE
      // --mknod ...` (with `--partition-table gpt|mbr` a disk; named .qcow2, a qcow2 one). As root
      // the host's owners of the probe files are kept (the 32-bit owner probe); otherwise
      // everything is made root's.
      const disk = c.disk ? ['--partition-table', c.disk.table, ...c.disk.args] : [];
      const args = [CLI, 'build', '-q', '-o', image, '-t', type, ...disk, ...(asRoot ? [] : ['--owner', '0:0']), ...root.inputs, ...root.edits];
      const built = spawnSync(process.execPath, args, { encoding: 'utf8' });
      expect(built.status, `extimg build failed:\n${built.stdout}${built.stderr}`).toBe(0);
      const before = e2fsck(filesystemOf(c, image, 'before'));
      expect(before.code, `e2fsck -fn before boot:\n${before.output}`).toBe(0);

      const rootDev = c.disk ? '/dev/vda1' : '/dev/vda';
      const r = await boot({ env: env.env!, image, fsType: type, accel, timeoutMs: BOOT_TIMEOUT_MS, root: rootDev, format: c.format });
      const where = `${accel}, ${r.seconds.toFixed(1)} s, qemu ${r.timedOut ? 'killed after the timeout' : `exit ${r.code ?? r.signal}`}`;
      const failure = `\n$ ${r.command.join(' ')}\n---- console tail (${where})\n${tail(r.console)}`;
      // The whole capture stays for a look after the run (fixtures/out/ is git-ignored).
      const log = join(ROOT, 'fixtures', 'out', 'boot', `console-${name}.log`);
      mkdirSync(join(log, '..'), { recursive: true });
      writeFileSync(log, `$ ${r.command.join(' ')}\n${r.console}`);
      console.log(`boot ${name}: ${where}; console in ${log.slice(ROOT.length + 1)}`);

      expect(r.console.includes(root.marker), `no boot marker ${root.marker}${failure}`).toBe(true);
      expect(r.console, `the root was not remounted read-only${failure}`).not.toContain('EXTIMG-REMOUNT-RO-FAILED');
      // /proc/mounts names the root device as given (or /dev/root).
      expect(r.console, failure).toMatch(new RegExp(`^EXTIMG-ROOT /dev/(root|${rootDev.slice('/dev/'.length)}) / ${type} `, 'm'));
      expect(r.timedOut, `qemu did not power off${failure}`).toBe(false);
      expect(kernelComplaints(r.console), `the kernel's messages about the image${failure}`).toEqual([]);
      expect(parseChecks(r.console), `what the guest read back${failure}`).toEqual(
        Object.fromEntries(root.probes.map((p) => [p.name, p.expect])),
      );

      // After the kernel wrote to it, the disk and the filesystem are still clean and the
      // filesystem holds the guest's file.
      const fs = filesystemOf(c, image, 'after');
      const after = e2fsck(fs);
      expect(after.code, `e2fsck -fn after boot:\n${after.output}`).toBe(0);
      const [cat] = runDebugfs(fs, ['cat /boot-ok']).outputs;
      expect(cat?.trim()).toBe(root.written);
    },
    BOOT_TIMEOUT_MS + 60_000,
  );
});
