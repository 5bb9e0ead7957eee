#!/usr/bin/env node
// npm run bench [-- --only small,large,base,bigdir] [--rounds N] [--large-size 2G] [--keep] [--no-gnu-time]
//                  [--base-block-size 1024] [--bigdir-ref-rounds 1] [--bigdir-60k-ref ext3,ext4] [--unset-env NAME]
//                  [--dist DIR]
//
// extimg against the reference tools, measured in the same run, timed alternately
// (A, B, C, A, B, C, ...) after one untimed warm-up of each, medians reported as ratios against
// mke2fs -d of the same fs type. Every image must pass `e2fsck -fn` (checked outside the timing).
// See BENCHMARKS.md.
//
//   small:  a copy of the project's own node_modules/ (a few thousand real files), 1 KiB blocks;
//           extimg ext3 vs mke2fs -t ext3 -d; extimg ext2 vs mke2fs -t ext2 -d vs genext2fs -d.
//   empty:  the small case's image from an empty directory: the fixed cost (Node start-up); runs
//           with small.
//   base:   the Debian base system (the `required` .debs extracted with dpkg-deb -x as root,
//           fixtures/make-ext4-trees.mjs), --base-block-size blocks (default 1024, what both tools
//           pick at that size); extimg vs mke2fs -d, ext3 and ext4.
//   rebuild: the base system's ext4 image (mke2fs -t ext4 -d of the base tree, made once, untimed)
//           rebuilt by extimg into a new ext4 image (`extimg build -o IMG SRC.img`: the rebuild
//           rule keeps size, geometry and UUID), against mke2fs -t ext4 -d from the extracted tree.
//   bigdir: one directory of 30,000 empty files, ext3 and ext4 (htree); mke2fs -d is quadratic
//           there, so it runs --bigdir-ref-rounds times (default 1) without a warm-up; then
//           60,000 files, extimg only unless --bigdir-60k-ref TYPES (mke2fs once, killed after 600 s).
//   large:  a generated 2 GiB tree (fixtures/make-bench-trees.mjs), 4 KiB blocks, ~2.3 GiB image;
//           extimg vs mke2fs -d, ext3 and ext4, with peak RSS.
//
// --unset-env NAME runs every tool without that environment variable (e.g. NODE_EXTRA_CA_CERTS,
// which makes every node process load a CA bundle at start-up); the machine line says which.
// Writes bench/out/results.json; images and trees stay under bench/out/ and fixtures/out/
// (git-ignored) and images are deleted between runs unless --keep.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dumpe2fs, e2fsckClean, GNU_TIME, measure, median, runSync, which } from './lib.mjs';
import { ensureLargeTree, parseSize } from '../fixtures/make-bench-trees.mjs';
import { ensureBaseTree, ensureBigDirTree } from '../fixtures/make-ext4-trees.mjs';

const MiB = 1024 * 1024;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = path.join(ROOT, 'bench', 'out');
// --dist DIR measures another build of extimg (a copy of dist/ kept from before a change).
let CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
// Peak RSS target for extimg on the large tree (DESIGN.md: bounded memory for multi-GiB images).
const RSS_TARGET_MB = 300;

// ---------------------------------------------------------------------------------------------
// Options

function parseOptions(argv) {
  const o = {
    only: null,
    rounds: 3,
    largeSize: 2 * 1024 * MiB,
    keep: false,
    gnuTime: true,
    smallFactor: 1.3,
    baseBlockSize: 1024,
    bigdirRefRounds: 1,
    bigdir60kRef: [],
    unsetEnv: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) die(`option ${a} needs a value`);
      return v;
    };
    if (a === '--only') {
      o.only = value().split(',');
      for (const c of o.only) if (!CASES.includes(c)) die(`--only: want some of ${CASES.join(', ')}, got '${c}'`);
    } else if (a === '--base-block-size') {
      o.baseBlockSize = Number(value());
      if (![1024, 2048, 4096].includes(o.baseBlockSize)) die('--base-block-size: want 1024, 2048 or 4096');
    } else if (a === '--dist') {
      CLI = path.resolve(value(), 'cli', 'main.js');
    } else if (a === '--bigdir-ref-rounds') {
      o.bigdirRefRounds = Number(value());
      if (!Number.isInteger(o.bigdirRefRounds) || o.bigdirRefRounds < 1) die('--bigdir-ref-rounds: want a positive integer');
    } else if (a === '--bigdir-60k-ref') {
      o.bigdir60kRef = value().split(',');
      for (const t of o.bigdir60kRef) if (t !== 'ext3' && t !== 'ext4') die(`--bigdir-60k-ref: want ext3 and/or ext4, got '${t}'`);
    }
    else if (a === '--unset-env') o.unsetEnv.push(value());
    else if (a === '--rounds') {
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

const CASES = ['small', 'large', 'base', 'rebuild', 'bigdir'];

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
    cli: path.relative(ROOT, CLI),
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
  const fit = fitTree(tree, { factor: opts.smallFactor });
  const { sizeMiB, inodes } = fit;
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
    tree: { path: path.relative(ROOT, tree), source: 'node_modules/ (cp -a)', ...census(tree) },
    size,
    inodes,
    fittedBytes: fit.fittedBytes,
    tools,
  };
}

/** extimg and mke2fs -d (the reference) for each fs type, 1 KiB blocks, same size and inodes. */
function smallTools(caseName, tree, sizeMiB, inodes, types) {
  return pairTools(caseName, tree, { sizeMiB, inodes, blockSize: 1024, types });
}

/**
 * extimg and mke2fs -d for each fs type: same size, inodes, block and inode size. `ref` options
 * go to the mke2fs tools: rounds (fewer timed runs), warmup (false: none), timeoutSeconds.
 */
function pairTools(caseName, tree, { sizeMiB, inodes, blockSize, types, ref = {}, refTypes = types }) {
  const img = (name) => path.join(OUT, `${caseName}-${name}.img`);
  const tools = [];
  const geometry = ['-b', `${blockSize}`, '-I', '256', '-N', `${inodes}`];
  for (const type of types) {
    tools.push({
      tool: 'extimg',
      fs: type,
      image: img(`extimg-${type}`),
      cmd: process.execPath,
      args: [CLI, 'build', '-q', '-o', img(`extimg-${type}`), '-t', type, ...geometry, '--size', `${sizeMiB}M`, tree],
      display: `extimg build -q -o IMG -t ${type} -b ${blockSize} -I 256 -N ${inodes} --size ${sizeMiB}M TREE`,
    });
    if (!refTypes.includes(type)) continue;
    tools.push({
      tool: 'mke2fs -d',
      fs: type,
      image: img(`mke2fs-${type}`),
      before: (image) => truncate(image, sizeMiB * MiB), // `truncate -s S IMG`, as users do (untimed)
      cmd: 'mke2fs',
      args: ['-q', '-F', '-t', type, ...geometry, '-d', tree, img(`mke2fs-${type}`), `${sizeMiB}M`],
      display: `truncate -s ${sizeMiB}M IMG && mke2fs -q -F -t ${type} -b ${blockSize} -I 256 -N ${inodes} -d TREE IMG ${sizeMiB}M`,
      ref: true,
      ...ref,
    });
  }
  return tools;
}

/** Size S = factor × what extimg fits the tree into (MiB, rounded up) and the inodes extimg picks for S. */
function fitTree(tree, { type = 'ext3', blockSize = 1024, factor = 1.3 } = {}) {
  const probe = path.join(OUT, 'probe.img');
  const fitted = extimgJson(['-o', probe, '-t', type, '-b', `${blockSize}`, '-I', '256', tree]);
  const sizeMiB = Math.ceil((fitted.bytes * factor) / MiB);
  const atSize = extimgJson(['-o', probe, '-t', type, '-b', `${blockSize}`, '-I', '256', '--size', `${sizeMiB}M`, tree]);
  fs.rmSync(probe, { force: true });
  return { fittedBytes: fitted.bytes, sizeMiB, inodes: atSize.inodesCount };
}

function census(tree) {
  const types = runSync('find', [tree, '-mindepth', '1', '-printf', '%y\n']).stdout.trim().split('\n').filter(Boolean);
  const byType = {};
  for (const t of types) byType[t] = (byType[t] ?? 0) + 1;
  const bytes = Number(runSync('du', ['-sb', tree]).stdout.split('\t')[0]);
  return { entries: types.length, files: byType.f ?? 0, dirs: byType.d ?? 0, symlinks: byType.l ?? 0, bytes };
}

/** The Debian base system as root extracts it: extimg and mke2fs -d, ext3 and ext4. */
function baseCase(opts) {
  const t = ensureBaseTree({ log: (m) => console.log(m) });
  console.log(`base tree: ${t.reused ? 'reused' : `extracted in ${t.generatedSeconds} s`}: ${t.dir}`);
  const fit = fitTree(t.dir, { blockSize: opts.baseBlockSize, factor: opts.smallFactor });
  return {
    name: 'base',
    tree: { path: path.relative(ROOT, t.dir), source: `${t.debs} .debs of fixtures/out/debs/required, dpkg-deb -x${t.root ? ' as root' : ''}`, ...census(t.dir) },
    size: fit.sizeMiB * MiB,
    inodes: fit.inodes,
    fittedBytes: fit.fittedBytes,
    tools: pairTools('base', t.dir, { sizeMiB: fit.sizeMiB, inodes: fit.inodes, blockSize: opts.baseBlockSize, types: ['ext3', 'ext4'] }),
  };
}

/** The base system's ext4 image read back by extimg (issue 14) against mke2fs -d from the directory. */
function rebuildCase(opts) {
  const t = ensureBaseTree({ log: (m) => console.log(m) });
  const fit = fitTree(t.dir, { type: 'ext4', blockSize: opts.baseBlockSize, factor: opts.smallFactor });
  const geometry = ['-b', `${opts.baseBlockSize}`, '-I', '256', '-N', `${fit.inodes}`];
  const source = path.join(OUT, 'rebuild-source.img');
  fs.rmSync(source, { force: true });
  runSync('mke2fs', ['-q', '-F', '-t', 'ext4', ...geometry, '-d', t.dir, source, `${fit.sizeMiB}M`]);
  const img = (name) => path.join(OUT, `rebuild-${name}.img`);
  return {
    name: 'rebuild',
    tree: { path: path.relative(ROOT, source), source: `mke2fs -t ext4 -d of the base tree (${t.debs} .debs)`, ...census(t.dir) },
    size: fit.sizeMiB * MiB,
    inodes: fit.inodes,
    fittedBytes: fit.fittedBytes,
    tools: [
      {
        tool: 'extimg',
        fs: 'ext4',
        image: img('extimg-ext4'),
        cmd: process.execPath,
        args: [CLI, 'build', '-q', '-o', img('extimg-ext4'), source],
        display: 'extimg build -q -o IMG SRC.img (plain rebuild: same type, size, geometry, UUID)',
      },
      {
        tool: 'mke2fs -d',
        fs: 'ext4',
        image: img('mke2fs-ext4'),
        before: (image) => truncate(image, fit.sizeMiB * MiB),
        cmd: 'mke2fs',
        args: ['-q', '-F', '-t', 'ext4', ...geometry, '-d', t.dir, img('mke2fs-ext4'), `${fit.sizeMiB}M`],
        display: `truncate -s ${fit.sizeMiB}M IMG && mke2fs -q -F -t ext4 -b ${opts.baseBlockSize} -I 256 -N ${fit.inodes} -d TREE IMG ${fit.sizeMiB}M`,
        ref: true,
      },
    ],
  };
}

/**
 * One directory of `entries` empty files (an htree for extimg). mke2fs -d adds each name with a
 * linear scan of the directory, so it is timed `refRounds` times without a warm-up (the tree is
 * warm from extimg's), or not at all (refTypes empty).
 */
function bigdirCase(opts, entries, { refTypes, refRounds, timeoutSeconds }) {
  const t = ensureBigDirTree({ entries });
  console.log(`bigdir tree: ${t.reused ? 'reused' : `generated in ${t.generatedSeconds} s`}: ${t.dir}`);
  const fit = fitTree(t.dir, { factor: opts.smallFactor });
  const name = `bigdir-${entries / 1000}k`;
  return {
    name,
    tree: { path: path.relative(ROOT, t.dir), source: `fixtures/make-ext4-trees.mjs: ${entries} empty files in one directory`, ...census(t.dir) },
    size: fit.sizeMiB * MiB,
    inodes: fit.inodes,
    fittedBytes: fit.fittedBytes,
    htreeDir: '/d',
    tools: pairTools(name, t.dir, {
      sizeMiB: fit.sizeMiB,
      inodes: fit.inodes,
      blockSize: 1024,
      types: ['ext3', 'ext4'],
      refTypes,
      ref: { rounds: refRounds, warmup: false, timeoutSeconds },
    }),
  };
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
  // ~2.3 GiB for the 2 GiB tree: 1.15 × the tree, rounded up to MiB; inodes: what extimg picks
  // for that size (an untimed --json build), then given to every tool.
  const sizeMiB = Math.ceil((opts.largeSize * 1.15) / MiB);
  const probe = path.join(OUT, 'probe.img');
  const inodes = extimgJson(['-o', probe, '-t', 'ext3', '-b', '4096', '-I', '256', '--size', `${sizeMiB}M`, t.dir]).inodesCount;
  fs.rmSync(probe, { force: true });
  return {
    name: 'large',
    tree: { path: path.relative(ROOT, t.dir), source: 'fixtures/make-bench-trees.mjs', files: t.files, dirs: t.dirs, sparseFiles: t.sparseFiles, bytes: t.bytes, dataBytes: t.dataBytes, largestFile: t.largestFile },
    size: sizeMiB * MiB,
    inodes,
    tools: pairTools('large', t.dir, { sizeMiB, inodes, blockSize: 4096, types: ['ext3', 'ext4'] }),
  };
}

/**
 * The image's directory `dir` as debugfs reads it: whether it is indexed (EXT2_INDEX_FL, an
 * htree) and how many blocks it takes.
 */
function directoryIndex(image, dir) {
  const r = runSync('debugfs', ['-R', `stat ${dir}`, image], { allowFail: true });
  const flags = Number(/Flags: (0x[0-9a-f]+)/.exec(r.stdout)?.[1] ?? 0);
  const size = Number(/Size: (\d+)/.exec(r.stdout)?.[1] ?? 0);
  return { htree: (flags & 0x1000) !== 0, bytes: size };
}

/** One tool run: fresh image, flushed host, timed; then fsync timing, e2fsck and dumpe2fs. */
async function runOne(c, t, opts, { timed, args = t.args }) {
  fs.rmSync(t.image, { force: true });
  spawnSync('sync');
  if (t.before) t.before(t.image);
  const r = await measure(t.cmd, args, { gnuTime: opts.gnuTime, workDir: OUT, env: opts.env, timeoutSeconds: t.timeoutSeconds });
  if (r.timedOut) {
    fs.rmSync(t.image, { force: true });
    process.stdout.write(`  ${timed ? 'run   ' : 'warmup'} ${c.name} ${t.tool.padEnd(10)} ${t.fs} killed after ${r.seconds.toFixed(0)} s (timeout)\n`);
    return { ...r, sync: NaN, info: null, hostBytes: NaN, stderr: undefined };
  }
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
  if (c.htreeDir) info.dir = directoryIndex(t.image, c.htreeDir);
  const hostBytes = fs.statSync(t.image).blocks * 512;
  if (!opts.keep) fs.rmSync(t.image, { force: true });
  process.stdout.write(`  ${timed ? 'run   ' : 'warmup'} ${c.name} ${t.tool.padEnd(10)} ${t.fs} ${r.seconds.toFixed(3)} s  cpu ${r.cpu.toFixed(2)} s  +fsync ${sync.toFixed(3)} s  ${r.rssMB.toFixed(0)} MB  e2fsck clean\n`);
  return { ...r, sync, info, hostBytes, stderr: undefined };
}

async function runCase(c, opts) {
  console.log(`\n${c.name}: tree ${c.tree.path} (${c.tree.entries ?? c.tree.files} entries, ${(c.tree.bytes / MiB).toFixed(0)} MiB), image ${(c.size / MiB).toFixed(0)} MiB, ${c.inodes} inodes`);
  // Warm-up: one untimed run of each tool (page cache of the tree, node's code cache), unless
  // the tool says otherwise (mke2fs -d on big directories: minutes a run).
  for (const t of c.tools) if (t.warmup !== false) t.warmupRun = await runOne(c, t, opts, { timed: false });
  for (const t of c.tools) t.runs = [];
  // Alternating: A, B, C, A, B, C, ...; a tool with fewer rounds drops out of the later ones, a
  // tool that timed out is not run again.
  for (let round = 0; round < opts.rounds; round++) {
    for (const t of c.tools) {
      if (t.runs.length >= (t.rounds ?? opts.rounds) || t.runs.some((r) => r.timedOut)) continue;
      t.runs.push(await runOne(c, t, opts, { timed: true }));
    }
  }
  return c.tools.filter((t) => t.runs.length > 0).map((t) => row(c, t));
}

/** A table row: medians of the tool's runs and their ratio to mke2fs -d of the same fs type. */
function row(c, t) {
  const ref = c.tools.find((u) => u.ref && u.fs === t.fs && u.runs?.length > 0);
  const timedOut = t.runs.some((r) => r.timedOut);
  const refTimedOut = ref?.runs.some((r) => r.timedOut) ?? false;
  const sec = median(t.runs.map((r) => r.seconds));
  const durable = timedOut ? NaN : median(t.runs.map((r) => r.seconds + r.sync));
  // A reference that was killed gives only a bound: "at least" its timeout.
  const refSec = ref ? median(ref.runs.map((r) => r.seconds)) : NaN;
  const refDurable = ref && !refTimedOut ? median(ref.runs.map((r) => r.seconds + r.sync)) : NaN;
  const last = [...t.runs].reverse().find((r) => !r.timedOut);
  return {
    case: c.name,
    tool: t.tool,
    fs: t.fs,
    runs: t.runs.length,
    timedOut,
    medianSeconds: round3(sec),
    ratioVsMke2fs: ref ? round3(sec / refSec) : null,
    ratioIsBound: refTimedOut && !timedOut,
    medianSecondsWithFsync: round3(durable),
    ratioWithFsync: Number.isFinite(refDurable) ? round3(durable / refDurable) : null,
    medianCpuSeconds: timedOut ? null : round3(median(t.runs.map((r) => r.cpu))),
    peakRssMB: timedOut ? null : Math.round(Math.max(...t.runs.map((r) => r.rssMB))),
    usedBlocks: last?.info.usedBlocks ?? null,
    blocks: last?.info.blocks ?? null,
    blockSize: last?.info.blockSize ?? null,
    inodeSize: last?.info.inodeSize ?? null,
    inodes: last?.info.inodes ?? null,
    usedInodes: last?.info.usedInodes ?? null,
    hostAllocatedMiB: last ? Math.round(last.hostBytes / MiB) : null,
    features: last?.info.features ?? null,
    directory: last?.info.dir ?? null,
    seconds: t.runs.map((r) => round3(r.seconds)),
    fsyncSeconds: t.runs.map((r) => round3(r.sync)),
    cpuSeconds: t.runs.map((r) => round3(r.cpu)),
    e2fsck: timedOut ? 'not run (timeout)' : 'clean',
    command: t.display,
  };
}

function round3(x) {
  return Math.round(x * 1000) / 1000;
}

// ---------------------------------------------------------------------------------------------
// Report

function table(rows) {
  const head = ['tool', 'case', 'fs', 'median s', 'ratio', 's+fsync', 'ratio', 'cpu s', 'peak RSS MB', 'used blocks', 'inodes'];
  const num = (x, digits) => (x === null || !Number.isFinite(x) ? '—' : x.toFixed(digits));
  const body = rows.map((r) => [
    r.tool,
    r.case,
    r.fs,
    r.timedOut ? `>${r.medianSeconds.toFixed(0)}` : r.medianSeconds.toFixed(3),
    r.ratioVsMke2fs === null ? '—' : `${r.ratioIsBound ? '<' : ''}${num(r.ratioVsMke2fs, r.ratioVsMke2fs < 0.1 ? 3 : 2)}`,
    num(r.medianSecondsWithFsync, 3),
    num(r.ratioWithFsync, r.ratioWithFsync !== null && r.ratioWithFsync < 0.1 ? 3 : 2),
    num(r.medianCpuSeconds, 2),
    r.peakRssMB === null ? '—' : `${r.peakRssMB}`,
    r.usedBlocks === null ? '—' : `${r.usedBlocks} × ${r.blockSize / 1024}K`,
    r.inodes === null ? '—' : `${r.inodes} × ${r.inodeSize}`,
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
  // The tools' environment: ours, less what --unset-env names.
  opts.env = { ...process.env };
  for (const name of opts.unsetEnv) delete opts.env[name];
  const m = machine();
  m.env = {
    NODE_EXTRA_CA_CERTS: opts.env.NODE_EXTRA_CA_CERTS !== undefined ? 'set' : 'unset',
    NODE_OPTIONS: opts.env.NODE_OPTIONS ?? '',
    unset: opts.unsetEnv,
  };
  console.log(`machine: ${m.cpu}, ${m.nproc} CPUs, ${m.ramGiB} GiB RAM, Linux ${m.kernel}, host fs ${m.hostFs}`);
  console.log(`tools:   extimg ${m.extimg} (${m.cli}), node ${m.node}, ${m.mke2fs}, ${m.genext2fs}; peak RSS via ${opts.gnuTime ? 'GNU time %M' : '/proc VmHWM polling'}`);
  console.log(`rounds:  ${opts.rounds} timed (alternating) after 1 warm-up each; load average ${m.loadavg.join(' ')}`);
  console.log(`env:     NODE_EXTRA_CA_CERTS ${m.env.NODE_EXTRA_CA_CERTS} for the tools${opts.unsetEnv.length ? ` (--unset-env ${opts.unsetEnv.join(' ')})` : ''}${m.env.NODE_OPTIONS ? `, NODE_OPTIONS=${m.env.NODE_OPTIONS}` : ''}`);
  if (m.loadavg[0] > 0.5) console.warn(`bench: load average ${m.loadavg[0]} > 0.5: other work shares the CPUs, wall times will be noisy`);

  const started = Date.now();
  const cases = [];
  const rows = [];
  const want = (name) => opts.only === null || opts.only.includes(name);
  const run = async (c) => {
    rows.push(...(await runCase(c, opts)));
    cases.push(c);
  };
  if (want('small')) {
    const c = smallCase(opts);
    await run(c);
    await run(emptyCase(c));
  }
  if (want('base')) await run(baseCase(opts));
  if (want('rebuild')) await run(rebuildCase(opts));
  if (want('bigdir')) {
    await run(bigdirCase(opts, 30000, { refTypes: ['ext3', 'ext4'], refRounds: opts.bigdirRefRounds, timeoutSeconds: 900 }));
    await run(bigdirCase(opts, 60000, { refTypes: opts.bigdir60kRef, refRounds: 1, timeoutSeconds: 600 }));
  }
  if (want('large')) await run(largeCase(opts));

  console.log(`\nratio = extimg (or genext2fs) / mke2fs -d of the same fs type, medians of ${opts.rounds} (mke2fs on bigdir: of its runs; > and <: it was killed at the timeout); s+fsync adds an fsync of the image after exit (mke2fs fsyncs itself, extimg does not); cpu s = user + sys\n`);
  console.log(table(rows));
  const verdicts = [];
  for (const r of rows.filter((x) => x.tool === 'extimg' && x.case !== 'empty')) {
    if (r.ratioVsMke2fs === null) verdicts.push(`${r.case} ${r.fs}: extimg ${r.medianSeconds.toFixed(3)} s (mke2fs -d not run)`);
    else {
      const bound = r.ratioIsBound ? ' (mke2fs -d killed at the timeout: a bound)' : '';
      verdicts.push(`${r.case} ${r.fs}: extimg ${r.ratioVsMke2fs <= 1 ? 'no slower than' : 'SLOWER than'} mke2fs -d (×${r.ratioVsMke2fs.toFixed(3)}${r.ratioWithFsync !== null ? `; ×${r.ratioWithFsync.toFixed(3)} with fsync` : ''})${bound}`);
    }
    if (r.case === 'large') verdicts.push(`large ${r.fs}: extimg peak RSS ${r.peakRssMB} MB ${r.peakRssMB <= RSS_TARGET_MB ? '<=' : 'OVER'} target ${RSS_TARGET_MB} MB`);
  }
  for (const r of rows.filter((x) => x.directory)) {
    verdicts.push(`${r.case} ${r.fs}: ${r.tool}'s /d is ${r.directory.htree ? 'indexed (htree)' : 'linear (no index)'}, ${Math.round(r.directory.bytes / 1024)} KiB`);
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
    options: {
      rounds: opts.rounds,
      only: opts.only,
      largeSize: opts.largeSize,
      baseBlockSize: opts.baseBlockSize,
      bigdirRefRounds: opts.bigdirRefRounds,
      bigdir60kRef: opts.bigdir60kRef,
      unsetEnv: opts.unsetEnv,
      rssTargetMB: RSS_TARGET_MB,
    },
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
