import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

describe.each([
  { type: 'ext4' as const },
  { type: 'ext3' as const },
  { type: 'ext2' as const },
])('boot $type root with Debian cloud kernel (qemu)', ({ type }) => {
  it(
    'boots to /sbin/init, reads the tree back, writes through the kernel, stays fsck-clean',
    async (ctx) => {
      requireJudge(ctx, notReady, WHAT);
      const dir = join(work, type);
      mkdirSync(dir);
      const root: StagedRoot = stageBootRoot(dir, debs.map((d) => d.path!), { asRoot });
      const image = join(dir, `root-${type}.img`);

      // `extimg build -o IMG busybox-static.deb base-files.deb probes/ --write /sbin/init=FILE
      // --mknod ...`. As root the host's owners of the probe files are kept (the 32-bit owner
      // probe); otherwise everything is made root's.
      const args = [CLI, 'build', '-q', '-o', image, '-t', type, ...(asRoot ? [] : ['--owner', '0:0']), ...root.inputs, ...root.edits];
      const built = spawnSync(process.execPath, args, { encoding: 'utf8' });
      expect(built.status, `extimg build failed:\n${built.stdout}${built.stderr}`).toBe(0);
      const before = e2fsck(image);
      expect(before.code, `e2fsck -fn before boot:\n${before.output}`).toBe(0);

      const r = await boot({ env: env.env!, image, fsType: type, accel, timeoutMs: BOOT_TIMEOUT_MS });
      const where = `${accel}, ${r.seconds.toFixed(1)} s, qemu ${r.timedOut ? 'killed after the timeout' : `exit ${r.code ?? r.signal}`}`;
      const failure = `\n$ ${r.command.join(' ')}\n---- console tail (${where})\n${tail(r.console)}`;
      // The whole capture stays for a look after the run (fixtures/out/ is git-ignored).
      const log = join(ROOT, 'fixtures', 'out', 'boot', `console-${type}.log`);
      mkdirSync(join(log, '..'), { recursive: true });
      writeFileSync(log, `$ ${r.command.join(' ')}\n${r.console}`);
      console.log(`boot ${type}: ${where}; console in ${log.slice(ROOT.length + 1)}`);

      expect(r.console.includes(root.marker), `no boot marker ${root.marker}${failure}`).toBe(true);
      expect(r.console, `the root was not remounted read-only${failure}`).not.toContain('EXTIMG-REMOUNT-RO-FAILED');
      expect(r.console, failure).toMatch(new RegExp(`^EXTIMG-ROOT /dev/(root|vda) / ${type} `, 'm'));
      expect(r.timedOut, `qemu did not power off${failure}`).toBe(false);
      expect(kernelComplaints(r.console), `the kernel's messages about the image${failure}`).toEqual([]);
      expect(parseChecks(r.console), `what the guest read back${failure}`).toEqual(
        Object.fromEntries(root.probes.map((p) => [p.name, p.expect])),
      );

      // After the kernel wrote to it, the image is still clean and holds the guest's file.
      const after = e2fsck(image);
      expect(after.code, `e2fsck -fn after boot:\n${after.output}`).toBe(0);
      const [cat] = runDebugfs(image, ['cat /boot-ok']).outputs;
      expect(cat?.trim()).toBe(root.written);
    },
    BOOT_TIMEOUT_MS + 60_000,
  );
});
