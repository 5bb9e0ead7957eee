#!/usr/bin/env node
// A/B timing of two builds of extimg (e.g. a copy of dist/ kept from before a change against the
// current dist/), or of extimg against mke2fs -d, on the same build arguments, alternating
// A B A B ... after one untimed warm-up of each. Prints medians and B/A.
//
//   node bench/ab.mjs [--rounds 9] [--sha] A B -- BUILD-ARGS...
//
// A and B: a dist/ directory (runs DIR/cli/main.js build -q -o IMG BUILD-ARGS; DIR@--opt,--opt
// adds node options), or `mke2fs`
// (needs -t, -b, -I, -N, --size in BUILD-ARGS; runs truncate + mke2fs -q -F ... -d TREE IMG SIZE).
// The image is deleted (untimed) before each run; --sha prints each tool's image sha256 once
// (give --uuid and --timestamp to compare bytes).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { measure, median, which } from './lib.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = path.join(ROOT, 'bench', 'out');
const argv = process.argv.slice(2);
const dd = argv.indexOf('--');
if (dd < 0) throw new Error('usage: ab.mjs [--rounds N] [--sha] A B -- BUILD-ARGS');
const head = argv.slice(0, dd);
const build = argv.slice(dd + 1);
let rounds = 9;
let sha = false;
const tools = [];
for (let i = 0; i < head.length; i++) {
  if (head[i] === '--rounds') rounds = Number(head[++i]);
  else if (head[i] === '--sha') sha = true;
  else tools.push(head[i]);
}
if (tools.length < 2) throw new Error('want two tools');
fs.mkdirSync(OUT, { recursive: true });

function command(tool, image) {
  if (tool === 'mke2fs') {
    const get = (flag) => build[build.indexOf(flag) + 1];
    const size = get('--size');
    const tree = build[build.length - 1];
    return { cmd: 'mke2fs', args: ['-q', '-F', '-t', get('-t'), '-b', get('-b'), '-I', get('-I'), '-N', get('-N'), '-d', tree, image, size], size };
  }
  // DIR@FLAGS: node options for that tool (comma-separated), e.g. dist@--max-semi-space-size=16.
  const [dir, flags] = tool.split('@');
  const nodeFlags = flags ? flags.split(',') : [];
  return { cmd: process.execPath, args: [...nodeFlags, path.join(path.resolve(dir), 'cli', 'main.js'), 'build', '-q', '-o', image, ...build] };
}

function sizeBytes(text) {
  const m = /^(\d+)([KMG]?)$/.exec(text);
  return Number(m[1]) * { '': 1, K: 1024, M: 1 << 20, G: 1 << 30 }[m[2]];
}

// With perf (Linux perf_events; software counters work in VMs too): CPU time of all the
// process's threads in ms (task-clock), steadier under a loaded machine than wall time.
const perf = which('perf') !== null && !process.env.AB_NO_PERF;
const statFile = path.join(OUT, `.ab-perf-${process.pid}.txt`);
function perfStat(cmd, args) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const child = spawn('perf', ['stat', '-x,', '-e', 'task-clock', '-o', statFile, cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const line = fs.readFileSync(statFile, 'utf8').split('\n').find((l) => l.includes('task-clock'));
      resolve({ seconds, cpu: Number(line.split(',')[0]) / 1000, rssMB: 0, code, stderr });
    });
  });
}

const times = tools.map(() => []);
const cpus = tools.map(() => []);
const rss = tools.map(() => 0);
for (let round = -1; round < rounds; round++) {
  for (const [k, tool] of tools.entries()) {
    const image = path.join(OUT, `ab-${k}.img`);
    fs.rmSync(image, { force: true });
    spawnSync('sync'); // no run pays for another's write-back (as run.mjs)
    const c = command(tool, image);
    if (c.size) {
      const fd = fs.openSync(image, 'w');
      fs.ftruncateSync(fd, sizeBytes(c.size));
      fs.closeSync(fd);
    }
    const r = perf ? await perfStat(c.cmd, c.args) : await measure(c.cmd, c.args, { workDir: OUT });
    if (r.code !== 0) throw new Error(`${tool} failed: ${r.stderr}`);
    if (round >= 0) {
      times[k].push(r.seconds);
      cpus[k].push(r.cpu);
      rss[k] = Math.max(rss[k], r.rssMB);
    } else if (sha) console.log(`${tool}: sha256 ${createHash('sha256').update(fs.readFileSync(image)).digest('hex')}`);
    fs.rmSync(image, { force: true });
  }
}
const med = times.map(median);
for (const [k, tool] of tools.entries()) {
  const sorted = [...times[k]].sort((a, b) => a - b);
  console.log(`${tool.padEnd(28)} median ${med[k].toFixed(3)} s  min ${sorted[0].toFixed(3)}  q1 ${sorted[Math.floor(sorted.length / 4)].toFixed(3)}  cpu ${median(cpus[k]).toFixed(3)} s${perf ? ' (perf task-clock)' : `  rss ${rss[k].toFixed(0)} MB`}  [${times[k].map((t) => t.toFixed(3)).join(' ')}]`);
}
// Per-round ratios (each pair ran back to back): their median is steadier than a ratio of medians.
for (let k = 1; k < tools.length; k++) {
  const pairs = times[k].map((t, i) => t / times[0][i]);
  const cpuPairs = cpus[k].map((t, i) => t / cpus[0][i]);
  console.log(`${tools[k]} / ${tools[0]}: wall ×${(med[k] / med[0]).toFixed(3)} (medians), ×${median(pairs).toFixed(3)} (median of per-round ratios); cpu ×${median(cpuPairs).toFixed(3)}`);
}
fs.rmSync(statFile, { force: true });
