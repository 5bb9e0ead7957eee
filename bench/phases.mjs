#!/usr/bin/env node
// Where an extimg build of a host directory spends its time, phase by phase, without a
// profiler's overhead: ingest (addHostDirectory), plan (planTree), sizing (placement), and the
// write (buildToFile less its own plan and sizing, which run again there). Each sample is the
// first (cold: V8 has not optimized anything yet, as in a CLI run) build of a fresh process;
// with several dist/ copies the processes alternate A B A B ...
//
//   node bench/phases.mjs [--runs 9] [--dist DIR]... -t ext4 -b 1024 -I 256 -N 8624 --size 228M TREE
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median } from './lib.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const argv = process.argv.slice(2);
const take = (flag) => {
  const out = [];
  for (let i = argv.indexOf(flag); i >= 0; i = argv.indexOf(flag)) out.push(argv.splice(i, 2)[1]);
  return out;
};

if (argv[0] === '--child') {
  // One cold build in this process; prints its phases as JSON.
  const [, dist, type, bs, is, inodes, size, tree] = argv;
  const imp = (p) => import(pathToFileURL(path.join(dist, p)).href);
  const t0 = performance.now();
  const lib = await imp('index.js');
  const { planTree } = await imp('ext/write/plan.js');
  const { chooseSizing } = await imp('ext/write/size.js');
  const { resolveConfig } = await imp('ext/write/config.js');
  const load = performance.now() - t0;
  const options = { type, blockSize: Number(bs), inodeSize: Number(is), inodes: Number(inodes) || undefined, size: Number(size) || undefined };
  let t = performance.now();
  const tr = new lib.Tree();
  lib.addHostDirectory(tr, tree);
  const ingest = performance.now() - t;
  const cfg = resolveConfig(tr, options);
  t = performance.now();
  const plan = planTree(tr, { blockSize: cfg.blockSize, inodeSize: cfg.inodeSize, features: cfg.features, htree: cfg.htree, hashSeed: cfg.hashSeed });
  const planMs = performance.now() - t;
  t = performance.now();
  chooseSizing({ plan, features: cfg.features, blockSize: cfg.blockSize, inodeSize: cfg.inodeSize, size: options.size, inodes: options.inodes, headroom: cfg.headroom });
  const sizing = performance.now() - t;
  const out = path.join(ROOT, 'bench', 'out', `phases-${process.pid}.img`);
  t = performance.now();
  lib.buildToFile(tr, out, options);
  const build = performance.now() - t;
  fs.rmSync(out, { force: true });
  console.log(JSON.stringify({ load, ingest, plan: planMs, sizing, build }));
  process.exit(0);
}

const dists = take('--dist').map((d) => path.resolve(d));
if (dists.length === 0) dists.push(path.join(ROOT, 'dist'));
const runs = Number(take('--runs')[0] ?? 9);
const type = take('-t')[0] ?? 'ext4';
const bs = take('-b')[0] ?? '1024';
const is = take('-I')[0] ?? '256';
const inodes = take('-N')[0] ?? '0';
const sizeText = take('--size')[0];
const size = sizeText ? String(Number(/^(\d+)M$/.exec(sizeText)[1]) * 1024 * 1024) : '0';
const tree = argv[0];
const samples = dists.map(() => []);
for (let r = 0; r < runs; r++) {
  for (const [k, dist] of dists.entries()) {
    spawnSync('sync');
    const c = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', dist, type, bs, is, inodes, size, tree], { encoding: 'utf8' });
    if (c.status !== 0) throw new Error(c.stderr);
    samples[k].push(JSON.parse(c.stdout));
  }
}
for (const [k, dist] of dists.entries()) {
  const m = (key) => median(samples[k].map((s) => s[key]));
  const write = median(samples[k].map((s) => s.build - s.plan - s.sizing));
  console.log(
    `${(path.relative(ROOT, dist) || dist).padEnd(24)} load ${m('load').toFixed(1)} ms  ingest ${m('ingest').toFixed(1)}  plan ${m('plan').toFixed(1)}  sizing ${m('sizing').toFixed(1)}  build ${m('build').toFixed(1)} (write ≈ ${write.toFixed(1)})  — cold, medians of ${runs}`,
  );
}
