import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// "A failed build leaves no output file behind": also when the build is interrupted. The
// writer pauses every 32 MiB, so the CLI's signal handlers run and remove the temp file.
const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli', 'main.js');
const work = mkdtempSync(join(tmpdir(), 'extimg-int-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('extimg build interrupted', () => {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    it(`${sig} during the write leaves neither image nor temp file`, async () => {
      const src = join(work, `src-${sig}`);
      mkdirSync(src);
      // 40 files of 16 MiB of non-zero data: long enough to be caught mid-write.
      const chunk = new Uint8Array(16 << 20).fill(0x5a);
      for (let i = 0; i < 40; i++) writeFileSync(join(src, `f${i}`), chunk);
      const outDir = join(work, `out-${sig}`);
      mkdirSync(outDir);
      const child = spawn(process.execPath, [CLI, 'build', '-q', '-t', 'ext2', '-o', join(outDir, 'x.img'), src], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      // Wait until the temp file exists (the write phase has begun), then interrupt.
      const started = Date.now();
      while (!readdirSync(outDir).some((f) => f.endsWith('.tmp'))) {
        if (Date.now() - started > 30_000) throw new Error('the build never started writing');
        await new Promise((r) => setTimeout(r, 20));
      }
      child.kill(sig);
      const status = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      expect(status).toBe(sig === 'SIGINT' ? 130 : 143);
      expect(stderr.trim()).toBe(`extimg: ${join(outDir, 'x.img')}: interrupted by ${sig}; nothing written`);
      expect(readdirSync(outDir)).toEqual([]);
    });
  }
});
