import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  const ensureRoot = async (): Promise<void> => {
    if (rootImage) return;
    const init = join(work, 'init');
    writeFileSync(init, '#!/bin/busybox sh\necho EXTIMG-ROOT-OK\n/bin/busybox poweroff -f\n');
    rootImage = join(work, 'root.img');
    run(['build', '-q', '-o', rootImage, '-t', 'ext3', busybox.path!, '--mkdir', '/proc', '--mkdir', '/sys', '--mkdir', '/dev', '--write', `/sbin/init=${init}`, '--chmod', '/sbin/init=0755']);
  };
  /** Boot with `initrd`: the hook's marker, then the root's init, on the console. */
  const bootsWithHook = async (initrd: string, id: string): Promise<void> => {
    const r = await boot({ env: { ...env.env!, initrd }, image: rootImage, fsType: 'ext3', accel: pickAccel(), timeoutMs: 240_000 });
    const where = `\n---- console tail (${r.seconds.toFixed(1)} s)\n${tail(r.console)}`;
    expect(r.console, `hook marker missing${where}`).toContain(`EXTIMG-HOOK-${id}`);
    expect(r.console, `root init did not run${where}`).toContain('EXTIMG-ROOT-OK');
    expect(r.console, `the kernel refused the initrd${where}`).not.toMatch(/Initramfs unpacking failed|rootfs image is not initramfs|junk (at the end|in|within) compressed archive|broken padding|decompressor failed/);
  };
  for (const compress of ['same', 'gzip', 'xz', 'lz4', 'bzip2', 'lzma'] as const) {
    it(`hook added, ${compress === 'same' ? 'kept in zstd' : `recompressed to ${compress}`}`, { timeout: 300_000 }, async (ctx) => {
      requireJudge(ctx, notReady, 'initrd boot');
      const id = `${compress}-${process.pid}`;
      await ensureRoot();
      const hook = join(work, `hook-${id}`);
      writeFileSync(hook, `echo EXTIMG-HOOK-${id} > /dev/console 2>/dev/null || echo EXTIMG-HOOK-${id}\n`);
      const out = join(work, `initrd-${id}.img`);
      run(['initrd', 'rewrite', env.env!.initrd, '-o', out, '-q', '--add', `${hook}:/conf/conf.d/zz-extimg:0644`, '--compress', compress]);

      // lsinitramfs: the original listing plus the hook, nothing lost.
      const before = execFileSync('lsinitramfs', [env.env!.initrd], { maxBuffer: 64 << 20 }).toString().split('\n').filter(Boolean);
      const after = execFileSync('lsinitramfs', [out], { maxBuffer: 64 << 20 }).toString().split('\n').filter(Boolean);
      expect([...after].sort()).toEqual([...before, 'conf/conf.d/zz-extimg'].sort());

      await bootsWithHook(out, id);
    });
  }

  it('an early (microcode) segment in front: kept byte for byte, listed, boots', { timeout: 300_000 }, async (ctx) => {
    requireJudge(ctx, notReady ?? missingTools(['cpio']), 'initrd boot with an early segment');
    const id = `early-${process.pid}`;
    await ensureRoot();
    // What initramfs-tools' early hook writes: an uncompressed newc archive (GNU cpio pads it to
    // 512 bytes) with the microcode path, then the compressed main initrd.
    const dir = join(work, 'early');
    mkdirSync(join(dir, 'kernel/x86/microcode'), { recursive: true });
    writeFileSync(join(dir, 'kernel/x86/microcode/GenuineIntel.bin'), Buffer.alloc(2048, 0x5a));
    const early = execFileSync('sh', ['-c', 'find kernel | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet'], { cwd: dir });
    const input = join(work, 'with-early.img');
    writeFileSync(input, Buffer.concat([early, readFileSync(env.env!.initrd)]));
    const hook = join(work, `hook-${id}`);
    writeFileSync(hook, `echo EXTIMG-HOOK-${id} > /dev/console 2>/dev/null || echo EXTIMG-HOOK-${id}\n`);
    const out = join(work, `initrd-${id}.img`);
    run(['initrd', 'rewrite', input, '-o', out, '-q', '--add', `${hook}:/conf/conf.d/zz-extimg:0644`]);
    expect(Buffer.compare(readFileSync(out).subarray(0, early.length), early)).toBe(0);
    // extimg initrd ls names the same entries as lsinitramfs, early segment included.
    const before = execFileSync('lsinitramfs', [input], { maxBuffer: 64 << 20 }).toString().split('\n').filter(Boolean);
    expect(before).toContain('kernel/x86/microcode/GenuineIntel.bin');
    const after = execFileSync('lsinitramfs', [out], { maxBuffer: 64 << 20 }).toString().split('\n').filter(Boolean);
    expect([...after].sort()).toEqual([...before, 'conf/conf.d/zz-extimg'].sort());
    const ours = run(['initrd', 'ls', '--json', out]);
    const names = (JSON.parse(ours) as { name: string }[]).map((e) => e.name);
    expect([...new Set(names)].sort()).toEqual([...new Set(after)].sort());
    await bootsWithHook(out, id);
  });
});
