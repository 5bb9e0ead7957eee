import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bootEnv, fetchedDeb, pickAccel, ROOT } from './boot/env.js';
import { boot, tail } from './boot/qemu.js';
import { missingTools, requireJudge } from './helpers/env.js';

/**
 * The initrd judge: Debian's own initramfs-tools initrd for its cloud kernel (zstd), rewritten
 * by `extimg initrd rewrite --add` with a conf/conf.d hook, kept in zstd or recompressed, lists
 * as the original plus the hook in lsinitramfs and boots the kernel under qemu: the hook's
 * marker is on the console, then the root (built by extimg from busybox-static) runs its init.
 */
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const env = bootEnv();
const busybox = fetchedDeb('boot', 'busybox-static');
const notReady = missingTools(['lsinitramfs']) ?? env.reason ?? busybox.reason;
const work = mkdtempSync(join(tmpdir(), 'extimg-initrd-boot-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function run(args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  expect(r.status, `extimg ${args.join(' ')}:\n${r.stderr}`).toBe(0);
  return r.stdout;
}

describe('initrd rewrite boots the Debian cloud kernel', () => {
  let rootImage = '';
  for (const compress of ['same', 'gzip', 'xz', 'lz4', 'bzip2', 'lzma'] as const) {
    it(`hook added, ${compress === 'same' ? 'kept in zstd' : `recompressed to ${compress}`}`, { timeout: 300_000 }, async (ctx) => {
      requireJudge(ctx, notReady, 'initrd boot');
      const id = `${compress}-${process.pid}`;
      if (!rootImage) {
        const init = join(work, 'init');
        writeFileSync(init, '#!/bin/busybox sh\necho EXTIMG-ROOT-OK\n/bin/busybox poweroff -f\n');
        rootImage = join(work, 'root.img');
        run(['build', '-q', '-o', rootImage, '-t', 'ext3', busybox.path!, '--mkdir', '/proc', '--mkdir', '/sys', '--mkdir', '/dev', '--write', `/sbin/init=${init}`, '--chmod', '/sbin/init=0755']);
      }
      const hook = join(work, `hook-${id}`);
      writeFileSync(hook, `echo EXTIMG-HOOK-${id} > /dev/console 2>/dev/null || echo EXTIMG-HOOK-${id}\n`);
      const out = join(work, `initrd-${id}.img`);
      run(['initrd', 'rewrite', env.env!.initrd, '-o', out, '-q', '--add', `${hook}:/conf/conf.d/zz-extimg:0644`, '--compress', compress]);

      // lsinitramfs: the original listing plus the hook, nothing lost.
      const before = execFileSync('lsinitramfs', [env.env!.initrd], { maxBuffer: 64 << 20 }).toString().split('\n').filter(Boolean);
      const after = execFileSync('lsinitramfs', [out], { maxBuffer: 64 << 20 }).toString().split('\n').filter(Boolean);
      expect([...after].sort()).toEqual([...before, 'conf/conf.d/zz-extimg'].sort());

      const r = await boot({ env: { ...env.env!, initrd: out }, image: rootImage, fsType: 'ext3', accel: pickAccel(), timeoutMs: 240_000 });
      const where = `\n---- console tail (${r.seconds.toFixed(1)} s)\n${tail(r.console)}`;
      expect(r.console, `hook marker missing${where}`).toContain(`EXTIMG-HOOK-${id}`);
      expect(r.console, `root init did not run${where}`).toContain('EXTIMG-ROOT-OK');
    });
  }
});
