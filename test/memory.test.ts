import { spawn, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectClean } from './helpers/e2fsck.js';
import { judgeAvailable, missingTools, requireJudge } from './helpers/env.js';
import { workDir } from './helpers/image.js';
import { header } from './helpers/tar-writer.js';

/**
 * Issue #13's bound, measured as a user would: the peak RSS of the built CLI (GNU time's %M)
 * around a build of a 544 MiB incompressible tar.zst, from the file and from standard input,
 * and of the Debian base system's .debs, must stay at or under 300 MB. Before streaming, the
 * same tar.zst needed about 3 GB and the .debs 343 MB.
 */

const LIMIT_KB = 300 * 1000;
const CLI = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');
const TIME = '/usr/bin/time';
const DEBS = join(import.meta.dirname, '..', 'fixtures', 'out', 'debs', 'required');
const work = workDir('memory');
afterAll(() => work.cleanup());

/** Files of 1 to 32 MiB of random bytes: 544 MiB of tar, piped through `zstd -1`. */
async function makeTarZst(path: string): Promise<number> {
  const z = spawn('zstd', ['-1', '-q', '-T0', '-o', path], { stdio: ['pipe', 'ignore', 'inherit'] });
  const write = (b: Uint8Array): Promise<void> => new Promise((resolve, reject) => (z.stdin.write(b, (e) => (e ? reject(e) : resolve())) ? undefined : undefined));
  const chunk = new Uint8Array(1 << 20);
  let total = 0;
  for (let i = 0; total < 544 << 20; i++) {
    const size = (1 + ((i * 7) % 32)) << 20;
    await write(header({ name: `d${i % 16}/f${i}`, size, mode: 0o644 }));
    for (let left = size; left > 0; left -= chunk.length) {
      randomFillSync(chunk);
      await write(chunk.slice(0, Math.min(chunk.length, left)));
    }
    total += 512 + size;
  }
  await write(new Uint8Array(1024));
  z.stdin.end();
  const status = await new Promise<number | null>((r) => z.on('exit', r));
  if (status !== 0) throw new Error(`zstd exited with ${status}`);
  return total;
}

/** Peak RSS in kB of `sh -c script` (GNU time measures the command it runs: the CLI). */
function peakKb(script: string): { kb: number; seconds: number; stderr: string } {
  const r = spawnSync('sh', ['-c', script], { encoding: 'utf8' });
  const m = /^PEAK (\d+) (\S+)$/m.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`${script}: exit ${r.status}: ${r.stderr}`);
  return { kb: Number(m[1]), seconds: Number(m[2]), stderr: r.stderr.replace(/^PEAK.*\n?/m, '') };
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

describe('peak memory of archive builds (issue #13: at most 300 MB for any input size)', () => {
  it('a 544 MiB incompressible tar.zst, from the file and from standard input', async (ctx) => {
    requireJudge(ctx, missingTools(['zstd', 'e2fsck', TIME]), 'memory bound');
    const input = join(work.dir, 'big.tar.zst');
    const tarBytes = await makeTarZst(input);
    expect(fs.statSync(input).size).toBeGreaterThan(512 << 20);
    const img = join(work.dir, 'big.img');
    const fromFile = peakKb(`${TIME} -f 'PEAK %M %e' ${q(process.execPath)} ${q(CLI)} build -q -t ext4 -o ${q(img)} ${q(input)}`);
    expect(fromFile.stderr).toBe('');
    expectClean(img);
    fs.rmSync(img);
    const fromStdin = peakKb(`${TIME} -f 'PEAK %M %e' ${q(process.execPath)} ${q(CLI)} build -q -t ext4 -o ${q(img)} - < ${q(input)}`);
    expect(fromStdin.stderr).toBe('');
    expectClean(img);
    console.log(
      `memory: ${(tarBytes / 2 ** 20).toFixed(0)} MiB tar.zst: file ${(fromFile.kb / 1000).toFixed(0)} MB in ${fromFile.seconds} s, ` +
        `stdin ${(fromStdin.kb / 1000).toFixed(0)} MB in ${fromStdin.seconds} s`,
    );
    expect(fromFile.kb).toBeLessThanOrEqual(LIMIT_KB);
    expect(fromStdin.kb).toBeLessThanOrEqual(LIMIT_KB);
    // No spool file is left in the output folder.
    expect(fs.readdirSync(work.dir).sort()).toEqual(['big.img', 'big.tar.zst']);
  });

  it("the Debian base system's .debs", (ctx) => {
    requireJudge(ctx, missingTools(['e2fsck', TIME]), 'memory bound');
    if (!judgeAvailable(fs.existsSync(DEBS) ? undefined : 'run fixtures/fetch-debs.sh required', 'memory bound (.debs)')) return ctx.skip();
    const debs = fs.readdirSync(DEBS).filter((n) => n.endsWith('.deb')).sort().map((n) => join(DEBS, n));
    const img = join(work.dir, 'debs.img');
    const r = peakKb(`${TIME} -f 'PEAK %M %e' ${q(process.execPath)} ${q(CLI)} build -q -o ${q(img)} ${debs.map(q).join(' ')}`);
    expect(r.stderr).toBe('');
    expectClean(img);
    console.log(`memory: ${debs.length} .debs: ${(r.kb / 1000).toFixed(0)} MB in ${r.seconds} s`);
    expect(r.kb).toBeLessThanOrEqual(LIMIT_KB);
    fs.rmSync(img);
  });
});
