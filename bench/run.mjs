#!/usr/bin/env node
// npm run bench [-- --only small|large] [--rounds N] [--large-size 2G] [--keep] [--no-gnu-time]
//
// extimg against the reference tools, measured in the same run, timed alternately
// (A, B, C, A, B, C, ...) after one untimed warm-up of each, medians reported as ratios against
// mke2fs -d. Every image must pass `e2fsck -fn` (checked outside the timing). See BENCHMARKS.md.
//
//   small: a copy of the project's own node_modules/ (a few thousand real files), 1 KiB blocks;
//          extimg ext3 vs mke2fs -t ext3 -d; extimg ext2 vs mke2fs -t ext2 -d vs genext2fs -d.
//   empty: the small case's image from an empty directory: the fixed cost (Node start-up).
//   large: a generated 2 GiB tree (fixtures/make-bench-trees.mjs), 4 KiB blocks, ~2.3 GiB image;
//          extimg ext3 vs mke2fs -t ext3 -d, with peak RSS.
//
// Writes bench/out/results.json; images and trees stay under bench/out/ and fixtures/out/
// (git-ignored) and images are deleted between runs unless --keep.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dumpe2fs, e2fsckClean, GNU_TIME, measure, median, runSync, which } from './lib.mjs';
import { ensureLargeTree, parseSize } from '../fixtures/make-bench-trees.mjs';

const MiB = 1024 * 1024;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = path.join(ROOT, 'bench', 'out');
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
// Peak RSS target for extimg on the large tree (DESIGN.md: bounded memory for multi-GiB images).
const RSS_TARGET_MB = 300;

// ---------------------------------------------------------------------------------------------
// Options

function parseOptions(argv) {
  const o = { only: null, rounds: 3, largeSize: 2 * 1024 * MiB, keep: false, gnuTime: true, smallFactor: 1.3 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) die(`option ${a} needs a value`);
      return v;
    };
    if (a === '--only') {
      o.only = value();
      if (o.only !== 'small' && o.only !== 'large') die(`--only: want small or large, got '${o.only}'`);
    } else if (a === '--rounds') {
      o.rounds = Number(value());
      if (!Number.isInteger(o.rounds) || o.rounds < 1) die('--rounds: want a positive integer');
    } else if (a === '--large-size') {
      o.largeSize = parseSize(value());
      if (o.largeSize < 64 * MiB) die('--large-size: want at least 64M');
    } else if (a === '--keep') o.keep = true;
    else if (a === '--no-gnu-time') o.gnuTime = false;
    else if (a === '-h' || a === '--help') {
      // The header comment is the help.
      const lines = fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1);
      console.log(lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).join('\n').replace(/^\/\/ ?/gm, ''));
      process.exit(0);
    } else die(`unknown option '${a}' (see --help)`);
  }
  return o;
}

function die(message) {
  console.error(`bench: ${message}`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Processes

/** Time to get the image durably on disk after the tool exited (mke2fs fsyncs; extimg does not). */
function fsyncSeconds(file) {
  const t0 = process.hrtime.bigint();
  const fd = fs.openSync(file, 'r+');
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** `truncate -s SIZE FILE`: create the sparse image file mke2fs is pointed at. */
function truncate(file, size) {
  const fd = fs.openSync(file, 'w');
  fs.ftruncateSync(fd, size);
  fs.closeSync(fd);
}

/** Geometry and usage as e2fsprogs reads them (the same judge for every tool). */
// ---------------------------------------------------------------------------------------------
// Machine

function firstLine(text) {
  return (text ?? '').trim().split('\n')[0] ?? '';
}

function machine() {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const meminfo = fs.readFileSync('/proc/meminfo', 'utf8');
  const memKB = Number(/MemTotal:\s+(\d+)/.exec(meminfo)?.[1] ?? 0);
  const genext2fs = which('genext2fs');
  return {
    cpu: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown',
    nproc: Number(runSync('nproc', []).stdout.trim()),
    ramGiB: Math.round((memKB / 1024 / 1024) * 10) / 10,
    kernel: os.release(),
    node: process.version,
    mke2fs: firstLine(runSync('mke2fs', ['-V'], { allowFail: true }).stderr),
    genext2fs: genext2fs ? firstLine(runSync(genext2fs, ['--version'], { allowFail: true }).stdout) : 'not installed',
    hostFs: runSync('stat', ['-f', '-c', '%T', OUT]).stdout.trim(),
    // The code measured: dist/ is built from the work tree, which may be ahead of the commit.
    extimg: firstLine(runSync('git', ['-C', ROOT, 'describe', '--always', '--dirty'], { allowFail: true }).stdout) || 'unknown',
    gnuTime: fs.existsSync(GNU_TIME),
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

// ---------------------------------------------------------------------------------------------
// Cases

function extimgJson(args) {
  const r = runSync(process.execPath, [CLI, 'build', '--json', ...args]);
  return JSON.parse(r.stdout);
}

/** The tools of one case, each { tool, fs, image, cmd, args, before?, ref }. */
function smallCase(opts) {
  const tree = path.join(OUT, 'tree-small');
  fs.rmSync(tree, { recursive: true, force: true });
  runSync('cp', ['-a', path.join(ROOT, 'node_modules'), tree]);
  const count = runSync('find', [tree, '-mindepth', '1', '-printf', '%y\n']).stdout.trim().split('\n');
  const byType = {};
  for (const t of count) byType[t] = (byType[t] ?? 0) + 1;
  const bytes = Number(runSync('du', ['-sb', tree]).stdout.split('\t')[0]);

  // Size S: 1.3 × what extimg fits the tree into, rounded up to MiB; inodes: what extimg picks
  // for S. Both are then given explicitly to every tool, with the block and inode sizes.
  const probe = path.join(OUT, 'probe.img');
  const fitted = extimgJson(['-o', probe, '-t', 'ext3', '-b', '1024', '-I', '256', tree]);
  const sizeMiB = Math.ceil((fitted.bytes * opts.smallFactor) / MiB);
  const atSize = extimgJson(['-o', probe, '-t', 'ext3', '-b', '1024', '-I', '256', '--size', `${sizeMiB}M`, tree]);
  fs.rmSync(probe, { force: true });
  const inodes = atSize.inodesCount;
  const size = sizeMiB * MiB;

  const tools = [...smallTools('small', tree, sizeMiB, inodes, ['ext3', 'ext2'])];
  const genext2fs = which('genext2fs');
  if (genext2fs) {
    const image = path.join(OUT, 'small-genext2fs-ext2.img');
    tools.push({
      tool: 'genext2fs',
      fs: 'ext2',
      image,
      cmd: genext2fs,
      // genext2fs always writes 128-byte inodes and has no -I.
      args: ['-d', tree, '-B', '1024', '-b', `${size / 1024}`, '-N', `${inodes}`, image],
      display: `genext2fs -d TREE -B 1024 -b ${size / 1024} -N ${inodes} IMG`,
    });
  } else console.warn('bench: genext2fs not installed; skipping it (apt-get install genext2fs)');
  return {
    name: 'small',
    tree: { path: path.relative(ROOT, tree), source: 'node_modules/ (cp -a)', entries: count.length, files: byType.f ?? 0, dirs: byType.d ?? 0, symlinks: byType.l ?? 0, bytes },
    size,
    inodes,
    fittedBytes: fitted.bytes,
    tools,
  };
}

/** extimg and mke2fs -d (the reference) for each fs type, 1 KiB blocks, same size and inodes. */
function smallTools(caseName, tree, sizeMiB, inodes, types) {
  const img = (name) => path.join(OUT, `${caseName}-${name}.img`);
  const tools = [];
  for (const type of types) {
    tools.push({
      tool: 'extimg',
      fs: type,
      image: img(`extimg-${type}`),
      cmd: process.execPath,
      args: [CLI, 'build', '-q', '-o', img(`extimg-${type}`), '-t', type, '-b', '1024', '-I', '256', '-N', `${inodes}`, '--size', `${sizeMiB}M`, tree],
      display: `extimg build -q -o IMG -t ${type} -b 1024 -I 256 -N ${inodes} --size ${sizeMiB}M TREE`,
    });
    tools.push({
      tool: 'mke2fs -d',
      fs: type,
      image: img(`mke2fs-${type}`),
      before: (image) => truncate(image, sizeMiB * MiB), // `truncate -s S IMG`, as users do (untimed)
      cmd: 'mke2fs',
      args: ['-q', '-F', '-t', type, '-b', '1024', '-I', '256', '-N', `${inodes}`, '-d', tree, img(`mke2fs-${type}`), `${sizeMiB}M`],
      display: `truncate -s ${sizeMiB}M IMG && mke2fs -q -F -t ${type} -b 1024 -I 256 -N ${inodes} -d TREE IMG ${sizeMiB}M`,
      ref: true,
    });
  }
  return tools;
}

/**
 * The fixed cost floor: the small case's image (same size and inodes) from an empty directory.
 * For extimg that is mostly Node's start-up and module loading, which no tree size amortises.
 */
function emptyCase(small) {
  const tree = path.join(OUT, 'tree-empty');
  fs.rmSync(tree, { recursive: true, force: true });
  fs.mkdirSync(tree);
  const sizeMiB = small.size / MiB;
  return {
    name: 'empty',
    tree: { path: path.relative(ROOT, tree), source: 'an empty directory', files: 0, bytes: 0 },
    size: small.size,
    inodes: small.inodes,
    tools: smallTools('empty', tree, sizeMiB, small.inodes, ['ext3']),
  };
}

function largeCase(opts) {
  console.log(`large tree: generating or reusing ${(opts.largeSize / MiB).toFixed(0)} MiB under fixtures/out/ ...`);
  const t = ensureLargeTree({ size: opts.largeSize, log: (m) => console.log(m) });
  console.log(`large tree: ${t.reused ? 'reused' : `generated in ${t.generatedSeconds} s`}: ${t.dir}`);
  // ~2.3 GiB for the 2 GiB tree: 1.15 × the tree, rounded up to MiB.
  const sizeMiB = Math.ceil((opts.largeSize * 1.15) / MiB);
  const size = sizeMiB * MiB;
  const img = (name) => path.join(OUT, `large-${name}.img`);
  const common = ['-b', '4096', '-I', '256'];
  return {
    name: 'large',
    tree: { path: path.relative(ROOT, t.dir), source: 'fixtures/make-bench-trees.mjs', files: t.files, dirs: t.dirs, sparseFiles: t.sparseFiles, bytes: t.bytes, dataBytes: t.dataBytes, largestFile: t.largestFile },
    size,
    inodes: null, // from extimg's warm-up (--json), then given to both
    tools: [
      {
        tool: 'extimg',
        fs: 'ext3',
        image: img('extimg-ext3'),
        cmd: process.execPath,
        args: [CLI, 'build', '-q', '-o', img('extimg-ext3'), '-t', 'ext3', ...common, '--size', `${sizeMiB}M`, t.dir],
        display: `extimg build -q -o IMG -t ext3 -b 4096 -I 256 -N INODES --size ${sizeMiB}M TREE`,
        inodesFrom: true,
      },
      {
        tool: 'mke2fs -d',
        fs: 'ext3',
        image: img('mke2fs-ext3'),
        before: (image) => truncate(image, size),
        cmd: 'mke2fs',
        args: ['-q', '-F', '-t', 'ext3', ...common, '-d', t.dir, img('mke2fs-ext3'), `${sizeMiB}M`],
        display: `truncate -s ${sizeMiB}M IMG && mke2fs -q -F -t ext3 -b 4096 -I 256 -N INODES -d TREE IMG ${sizeMiB}M`,
        ref: true,
      },
    ],
  };
}

/** One tool run: fresh image, flushed host, timed; then fsync timing, e2fsck and dumpe2fs. */
async function runOne(c, t, opts, { timed, args = t.args }) {
  fs.rmSync(t.image, { force: true });
  spawnSync('sync');
  if (t.before) t.before(t.image);
  const r = await measure(t.cmd, args, { gnuTime: opts.gnuTime, workDir: OUT });
  if (r.code !== 0) {
    console.error(`\nbench: FAILED: ${t.tool} (${c.name}, ${t.fs}) exited ${r.code}\n  ${t.cmd} ${args.join(' ')}\n${r.stdout}${r.stderr}`);
    process.exit(1);
  }
  const sync = fsyncSeconds(t.image);
  const fsck = e2fsckClean(t.image);
  if (!fsck.ok) {
    console.error(`\nbench: FAILED: e2fsck -fn is not clean on the ${t.tool} ${t.fs} image of the ${c.name} tree (${t.image}):\n${fsck.output}`);
    console.error(`bench: the image is kept for inspection; command was:\n  ${t.cmd} ${args.join(' ')}`);
    process.exit(1);
  }
  const info = dumpe2fs(t.image);
  const hostBytes = fs.statSync(t.image).blocks * 512;
  if (!opts.keep) fs.rmSync(t.image, { force: true });
  process.stdout.write(`  ${timed ? 'run   ' : 'warmup'} ${c.name} ${t.tool.padEnd(10)} ${t.fs} ${r.seconds.toFixed(3)} s  cpu ${r.cpu.toFixed(2)} s  +fsync ${sync.toFixed(3)} s  ${r.rssMB.toFixed(0)} MB  e2fsck clean\n`);
  return { ...r, sync, info, hostBytes, stderr: undefined };
}

async function runCase(c, opts) {
  console.log(`\n${c.name}: tree ${c.tree.path} (${c.tree.files} files, ${(c.tree.bytes / MiB).toFixed(0)} MiB), image ${(c.size / MiB).toFixed(0)} MiB`);
  // Warm-up: one untimed run of each tool (page cache of the tree, node's code cache).
  for (const t of c.tools) {
    if (t.inodesFrom) {
      // The warm-up prints --json: its inode count becomes -N for every tool of the case.
      const args = t.args.map((a) => (a === '-q' ? '--json' : a));
      t.warmup = await runOne(c, t, opts, { timed: false, args });
      c.inodes = JSON.parse(t.warmup.stdout).inodesCount;
      for (const u of c.tools) {
        const at = u.tool === 'extimg' ? u.args.indexOf('--size') : u.args.indexOf('-d');
        u.args.splice(at, 0, '-N', `${c.inodes}`);
        u.display = u.display.replace('INODES', `${c.inodes}`);
      }
      continue;
    }
    t.warmup = await runOne(c, t, opts, { timed: false });
  }
  for (const t of c.tools) t.runs = [];
  for (let round = 0; round < opts.rounds; round++) {
    for (const t of c.tools) t.runs.push(await runOne(c, t, opts, { timed: true }));
  }
  return c.tools.map((t) => {
    const ref = c.tools.find((u) => u.ref && u.fs === t.fs);
    const sec = median(t.runs.map((r) => r.seconds));
    const durable = median(t.runs.map((r) => r.seconds + r.sync));
    const refSec = median(ref.runs.map((r) => r.seconds));
    const refDurable = median(ref.runs.map((r) => r.seconds + r.sync));
    const cpu = median(t.runs.map((r) => r.cpu));
    const last = t.runs[t.runs.length - 1];
    return {
      case: c.name,
      tool: t.tool,
      fs: t.fs,
      medianSeconds: round3(sec),
      ratioVsMke2fs: round3(sec / refSec),
      medianSecondsWithFsync: round3(durable),
      ratioWithFsync: round3(durable / refDurable),
      medianCpuSeconds: round3(cpu),
      peakRssMB: Math.round(Math.max(...t.runs.map((r) => r.rssMB))),
      usedBlocks: last.info.usedBlocks,
      blocks: last.info.blocks,
      blockSize: last.info.blockSize,
      inodeSize: last.info.inodeSize,
      inodes: last.info.inodes,
      usedInodes: last.info.usedInodes,
      hostAllocatedMiB: Math.round(last.hostBytes / MiB),
      features: last.info.features,
      seconds: t.runs.map((r) => round3(r.seconds)),
      fsyncSeconds: t.runs.map((r) => round3(r.sync)),
      cpuSeconds: t.runs.map((r) => round3(r.cpu)),
      e2fsck: 'clean',
      command: t.display,
    };
  });
}

function round3(x) {
  return Math.round(x * 1000) / 1000;
}

// ---------------------------------------------------------------------------------------------
// Report

function table(rows) {
  const head = ['tool', 'case', 'fs', 'median s', 'ratio', 's+fsync', 'ratio', 'cpu s', 'peak RSS MB', 'used blocks', 'inodes'];
  const body = rows.map((r) => [
    r.tool,
    r.case,
    r.fs,
    r.medianSeconds.toFixed(3),
    r.ratioVsMke2fs.toFixed(2),
    r.medianSecondsWithFsync.toFixed(3),
    r.ratioWithFsync.toFixed(2),
    r.medianCpuSeconds.toFixed(2),
    `${r.peakRssMB}`,
    `${r.usedBlocks} × ${r.blockSize / 1024}K`,
    `${r.inodes} × ${r.inodeSize}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  return [line(head), `|${widths.map((w, i) => (i < 3 ? ':' : '-') + '-'.repeat(w) + (i < 3 ? '-' : ':')).join('|')}|`, ...body.map(line)].join('\n');
}

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  if (!fs.existsSync(CLI)) die(`${path.relative(ROOT, CLI)} is missing: run \`npm run build\` first`);
  for (const cmd of ['mke2fs', 'e2fsck', 'dumpe2fs']) if (!which(cmd)) die(`${cmd} not found (apt-get install e2fsprogs)`);
  fs.mkdirSync(OUT, { recursive: true });
  if (opts.gnuTime && !fs.existsSync(GNU_TIME)) {
    console.warn(`bench: ${GNU_TIME} not found (apt-get install time): polling /proc/PID/status VmHWM for peak RSS`);
    opts.gnuTime = false;
  }
  const m = machine();
  console.log(`machine: ${m.cpu}, ${m.nproc} CPUs, ${m.ramGiB} GiB RAM, Linux ${m.kernel}, host fs ${m.hostFs}`);
  console.log(`tools:   extimg ${m.extimg}, node ${m.node}, ${m.mke2fs}, ${m.genext2fs}; peak RSS via ${opts.gnuTime ? 'GNU time %M' : '/proc VmHWM polling'}`);
  console.log(`rounds:  ${opts.rounds} timed (alternating) after 1 warm-up each; load average ${m.loadavg.join(' ')}`);

  const started = Date.now();
  const cases = [];
  const rows = [];
  if (opts.only !== 'large') {
    const c = smallCase(opts);
    rows.push(...(await runCase(c, opts)));
    cases.push(c);
    const e = emptyCase(c);
    rows.push(...(await runCase(e, opts)));
    cases.push(e);
  }
  if (opts.only !== 'small') {
    const c = largeCase(opts);
    rows.push(...(await runCase(c, opts)));
    cases.push(c);
  }

  console.log(`\nratio = extimg (or genext2fs) / mke2fs -d of the same fs type, medians of ${opts.rounds}; s+fsync adds an fsync of the image after exit (mke2fs fsyncs itself, extimg does not); cpu s = user + sys\n`);
  console.log(table(rows));
  const verdicts = [];
  for (const r of rows.filter((x) => x.tool === 'extimg' && x.case !== 'empty')) {
    verdicts.push(`${r.case} ${r.fs}: extimg ${r.ratioVsMke2fs <= 1 ? 'no slower than' : 'SLOWER than'} mke2fs -d (×${r.ratioVsMke2fs.toFixed(2)}; ×${r.ratioWithFsync.toFixed(2)} with fsync)`);
    if (r.case === 'large') verdicts.push(`large ${r.fs}: extimg peak RSS ${r.peakRssMB} MB ${r.peakRssMB <= RSS_TARGET_MB ? '<=' : 'OVER'} target ${RSS_TARGET_MB} MB`);
  }
  // Net of the fixed cost (the empty case): how the per-file work compares.
  const pick = (caseName, tool) => rows.find((r) => r.case === caseName && r.tool === tool && r.fs === 'ext3');
  const [se, sm, ee, em] = [pick('small', 'extimg'), pick('small', 'mke2fs -d'), pick('empty', 'extimg'), pick('empty', 'mke2fs -d')];
  if (se && sm && ee && em) {
    const net = (se.medianSeconds - ee.medianSeconds) / (sm.medianSeconds - em.medianSeconds);
    verdicts.push(`small ext3 net of the empty-tree floor (extimg ${ee.medianSeconds.toFixed(3)} s, mke2fs ${em.medianSeconds.toFixed(3)} s): ×${net.toFixed(2)}`);
  }
  console.log(`\n${verdicts.join('\n')}`);
  const results = {
    date: new Date().toISOString(),
    machine: m,
    options: { rounds: opts.rounds, only: opts.only, largeSize: opts.largeSize, rssTargetMB: RSS_TARGET_MB },
    cases: cases.map((c) => ({ name: c.name, tree: c.tree, imageBytes: c.size, inodes: c.inodes, fittedBytes: c.fittedBytes, commands: c.tools.map((t) => t.display) })),
    results: rows,
    verdicts,
    loadavgAtEnd: os.loadavg().map((x) => Math.round(x * 100) / 100),
    totalSeconds: Math.round((Date.now() - started) / 1000),
  };
  fs.writeFileSync(path.join(OUT, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  fs.rmSync(path.join(OUT, '.time.txt'), { force: true });
  console.log(`\nwrote ${path.relative(ROOT, path.join(OUT, 'results.json'))} (${results.totalSeconds} s in all)`);
}

await main();
