#!/usr/bin/env node
// node bench/profile.mjs [--tree small|large|DIR] [--top N] [--runs N] [-- extra extimg build options]
//
// Runs `node --cpu-prof dist/cli/main.js build ...` on a benchmark tree (small: the copy of
// node_modules/ that `npm run bench` makes, large: the generated tree) and prints the functions
// with the most self time (summed over --runs runs, default 3), their hottest lines, and the same
// summed per source file and per kind (extimg JS, GC, native fs calls, Node internals).
// The profile stays in bench/out/prof/ for Chrome DevTools (Performance → Load profile).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = path.join(ROOT, 'bench', 'out');
const PROF = path.join(OUT, 'prof');
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');

const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const extra = dash >= 0 ? argv.slice(dash + 1) : [];
const own = dash >= 0 ? argv.slice(0, dash) : argv;
const opt = (name, dflt) => {
  const i = own.indexOf(name);
  return i >= 0 ? own[i + 1] : dflt;
};
const which = opt('--tree', 'small');
const top = Number(opt('--top', '10'));
const runs = Number(opt('--runs', '3'));

if (!fs.existsSync(CLI)) {
  console.error('profile: dist/cli/main.js is missing: run `npm run build` first');
  process.exit(2);
}
fs.mkdirSync(OUT, { recursive: true });
let tree;
let buildArgs;
if (which === 'small') {
  tree = path.join(OUT, 'tree-small');
  if (!fs.existsSync(tree)) spawnSync('cp', ['-a', path.join(ROOT, 'node_modules'), tree], { stdio: 'inherit' });
  buildArgs = ['-t', 'ext3', '-b', '1024', '-I', '256'];
} else if (which === 'large') {
  const { ensureLargeTree } = await import('../fixtures/make-bench-trees.mjs');
  tree = ensureLargeTree({ log: console.log }).dir;
  buildArgs = ['-t', 'ext3', '-b', '4096', '-I', '256', '--size', '2356M'];
} else {
  tree = path.resolve(which);
  buildArgs = ['-t', 'ext3'];
}

fs.rmSync(PROF, { recursive: true, force: true });
fs.mkdirSync(PROF, { recursive: true });
const image = path.join(OUT, 'profile.img');
// Sample every 100 µs (default 1 ms) for a useful count on a sub-second run.
const args = ['--cpu-prof', '--cpu-prof-dir', PROF, '--cpu-prof-interval', '100', CLI, 'build', '-q', '-o', image, ...buildArgs, ...extra, tree];
console.log(`node ${args.map((a) => path.relative(ROOT, a) || a).join(' ')}   (× ${runs}, summed)`);
const walls = [];
for (let i = 0; i < runs; i++) {
  fs.rmSync(image, { force: true });
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  walls.push(Number(process.hrtime.bigint() - t0) / 1e9);
  fs.rmSync(image, { force: true });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const byFunction = new Map();
const byFile = new Map();
const byKind = new Map();
const lineTicks = new Map(); // function key → Map(line → ticks), from V8's positionTicks
let total = 0;
let samples = 0;
const files = fs.readdirSync(PROF).filter((f) => f.endsWith('.cpuprofile'));
for (const file of files) {
  const profile = JSON.parse(fs.readFileSync(path.join(PROF, file), 'utf8'));
  samples += profile.samples.length;
  // Self time per node = the sum of the time deltas of the samples that landed on it.
  const selfUs = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (!us) continue;
    total += us;
    const cf = node.callFrame;
    const url = cf.url ? cf.url.replace(`file://${ROOT}`, '') : '';
    const where = url ? `${url}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'}\t${where}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    const fileKey = url || `(${cf.functionName})`;
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + us);
    // Native frames without a URL are V8 builtins and Node's C++ bindings (fs: read, lstat ...).
    const kind = url.startsWith('dist/')
      ? 'extimg JS (dist/)'
      : url.startsWith('node:')
        ? 'Node internals (node:*)'
        : url
          ? 'other JS'
          : /^\((garbage collector|program|idle|root)\)$/.test(cf.functionName)
            ? cf.functionName
            : 'native calls (fs bindings, builtins)';
    byKind.set(kind, (byKind.get(kind) ?? 0) + us);
    if (node.positionTicks) {
      const lines = lineTicks.get(key) ?? new Map();
      for (const { line, ticks } of node.positionTicks) lines.set(line, (lines.get(line) ?? 0) + ticks);
      lineTicks.set(key, lines);
    }
  }
}

const sources = new Map();
const sourceLine = (where, line) => {
  const file = path.join(ROOT, where.replace(/:\d+$/, ''));
  if (!sources.has(file)) sources.set(file, fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n') : []);
  return (sources.get(file)[line - 1] ?? '').trim().slice(0, 90);
};
const print = (title, map, n, withLines = false) => {
  console.log(`\n${title}`);
  console.log('   ms/run      %  function  location');
  for (const [k, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) {
    const [fn, where = ''] = k.split('\t');
    console.log(`${(us / 1000 / runs).toFixed(1).padStart(9)} ${((100 * us) / total).toFixed(1).padStart(6)}  ${fn}  ${where}`);
    const lines = withLines && where.startsWith('dist/') ? lineTicks.get(k) : undefined;
    if (lines) {
      const sum = [...lines.values()].reduce((a, b) => a + b, 0);
      for (const [line, ticks] of [...lines].sort((a, b) => b[1] - a[1]).slice(0, 3)) {
        console.log(`                    ${((100 * ticks) / sum).toFixed(0).padStart(3)}% of it at line ${line}: ${sourceLine(where, line)}`);
      }
    }
  }
};
const ms = (us) => `${(us / 1000).toFixed(1)} ms`;
console.log(`\nwall ${walls.map((w) => w.toFixed(3)).join(', ')} s; profiled ${(total / 1e6 / runs).toFixed(3)} s a run, ${samples} samples in all; ${path.relative(ROOT, PROF)}/*.cpuprofile`);
console.log('\nself time by kind (a run)');
for (const [k, us] of [...byKind].sort((a, b) => b[1] - a[1])) console.log(`${ms(us / runs).padStart(12)} ${((100 * us) / total).toFixed(1).padStart(6)}%  ${k}`);
print(`top ${top} functions by self time (hottest lines: dist/ JS, see the .js.map for src/)`, byFunction, top, true);
print('self time by file', byFile, 12);
