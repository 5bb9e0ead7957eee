// Helpers shared by the benchmark scripts (run.mjs, debs.mjs): running and timing tools,
// reading images back with e2fsprogs, medians.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const MiB = 1024 * 1024;
export const GNU_TIME = '/usr/bin/time';

export function which(cmd) {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {}
  }
  return null;
}

export function runSync(cmd, args, { allowFail = false, cwd } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * MiB, cwd });
  if (r.error) throw r.error;
  if (r.status !== 0 && !allowFail) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stdout}${r.stderr}`);
  return r;
}

/**
 * Run a command and measure wall seconds, CPU seconds and peak RSS: through GNU time when
 * `gnuTime` (default), else by polling /proc/PID/status VmHWM and /proc/PID/stat every 10 ms.
 */
export function measure(cmd, args, { gnuTime = true, cwd, workDir, env, timeoutSeconds } = {}) {
  return new Promise((resolve, reject) => {
    const timeFile = path.join(workDir ?? os.tmpdir(), `.extimg-bench-time-${process.pid}.txt`);
    let child;
    let hwmKB = 0;
    let cpu = 0;
    let poll = null;
    const t0 = process.hrtime.bigint();
    if (gnuTime) {
      fs.rmSync(timeFile, { force: true });
      child = spawn(GNU_TIME, ['-f', '%e %M %U %S', '-o', timeFile, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd, env, detached: timeoutSeconds !== undefined });
    } else {
      child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd, env, detached: timeoutSeconds !== undefined });
      const status = `/proc/${child.pid}/status`;
      const stat = `/proc/${child.pid}/stat`;
      const tick = 100; // USER_HZ on Linux
      poll = setInterval(() => {
        try {
          const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(status, 'utf8'));
          if (m) hwmKB = Math.max(hwmKB, Number(m[1]));
          // utime and stime: fields 14 and 15, counted after the ")" that ends the command name.
          const f = fs.readFileSync(stat, 'utf8').split(') ')[1].split(' ');
          cpu = (Number(f[11]) + Number(f[12])) / tick;
        } catch {}
      }, 10);
    }
    let stdout = '';
    let stderr = '';
    // A run that exceeds the timeout is killed (its whole process group: GNU time's child too)
    // and reported with timedOut, not as a failure.
    let timedOut = false;
    const timer =
      timeoutSeconds === undefined
        ? null
        : setTimeout(() => {
            timedOut = true;
            try {
              process.kill(-child.pid, 'SIGKILL'); // the group this child leads (detached below)
            } catch {
              child.kill('SIGKILL');
            }
          }, timeoutSeconds * 1000);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (poll) clearInterval(poll);
      if (timer) clearTimeout(timer);
      if (timedOut) return resolve({ seconds, cpu: NaN, rssMB: NaN, code: 124, timedOut: true, stdout, stderr });
      if (gnuTime) {
        // GNU time puts "Command exited with non-zero status N" before the format line.
        const lines = fs.readFileSync(timeFile, 'utf8').trim().split('\n');
        const f = lines[lines.length - 1].split(' ').map(Number);
        hwmKB = f[1];
        cpu = f[2] + f[3];
      }
      resolve({ seconds, cpu, rssMB: hwmKB / 1024, code: signal ? 128 : code, stdout, stderr });
    });
  });
}

export function e2fsckClean(image) {
  const r = runSync('e2fsck', ['-fn', image], { allowFail: true });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}`.trim() };
}

/** The superblock as dumpe2fs -h reads it: geometry and use. */
export function dumpe2fs(image) {
  const text = runSync('dumpe2fs', ['-h', image]).stdout;
  const field = (name) => new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(text)?.[1]?.trim() ?? null;
  const blocks = Number(field('Block count'));
  const inodes = Number(field('Inode count'));
  return {
    blockSize: Number(field('Block size')),
    inodeSize: Number(field('Inode size')),
    blocks,
    usedBlocks: blocks - Number(field('Free blocks')),
    inodes,
    usedInodes: inodes - Number(field('Free inodes')),
    features: field('Filesystem features'),
  };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
