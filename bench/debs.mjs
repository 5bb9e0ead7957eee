#!/usr/bin/env node
// node bench/debs.mjs [--rounds N] [--keep]
//
// An ext3 image from Debian packages: extimg reading the .debs directly against what a rootless
// user runs today, measured in the same run, timed alternately (A, B, A, B, ...) after one
// untimed warm-up of each, medians and the ratio extimg / reference reported:
//
//   extimg:     node dist/cli/main.js build -q -o IMG -t ext3 -b 4096 -I 256 -N N --size S DEBS...
//   reference:  fakeroot sh -c 'for p in DEBS; do dpkg-deb --fsys-tarfile $p |
//                 tar -x -C ROOT --keep-directory-symlink; done; mke2fs -t ext3 ... -d ROOT IMG S'
//
// DEBS: the `required` set of fixtures/fetch-debs.sh (Priority: required plus dependencies,
// ~100 packages), in the order of its LIST (sorted names), the same order for both. S and N:
// what extimg fits the unpacked tree into (untimed probe from a directory), times 1.3, rounded up
// to MiB; the inode count extimg picks for S. Both are passed to both tools. Every image must
// pass `e2fsck -fn` (outside the timing); `dumpe2fs -h` reads back used blocks and inodes.
// Peak RSS: GNU time's %M (the largest single process: for the reference that is the biggest of
// sh, dpkg-deb, tar, mke2fs; fakeroot's faked daemon is not counted).
//
// Until extimg takes .deb inputs the extimg rows say why it failed (its own one-line error) and
// only the reference is timed. Writes bench/out/debs.json; images and the unpacked tree stay
// under bench/out/ (git-ignored) and images are deleted unless --keep.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dumpe2fs, e2fsckClean, GNU_TIME, measure, median, runSync, which } from './lib.mjs';

const MiB = 1024 * 1024;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = path.join(ROOT, 'bench', 'out');
const WORK = path.join(OUT, 'debs');
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
const DEBS = path.join(ROOT, 'fixtures', 'out', 'debs', 'required');
const SIZE_FACTOR = 1.3;

function parseOptions(argv) {
  const o = { rounds: 3, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--rounds') {
      o.rounds = Number(argv[++i]);
      if (!Number.isInteger(o.rounds) || o.rounds < 1) die('--rounds: want a positive integer');
    } else if (a === '--keep') o.keep = true;
    else if (a === '-h' || a === '--help') {
      const lines = fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1);
      console.log(lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).join('\n').replace(/^\/\/ ?/gm, ''));
      process.exit(0);
    } else die(`unknown option '${a}' (see --help)`);
  }
  return o;
}

function die(message) {
  console.error(`bench/debs: ${message}`);
  process.exit(2);
}

const sh = (s) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Wall time around the process; peak RSS and CPU from GNU time (`%e %M %U %S`). */
function readDebs() {
  const list = path.join(DEBS, 'LIST');
  if (!fs.existsSync(list)) die(`no ${path.relative(ROOT, list)}: run fixtures/fetch-debs.sh required`);
  const files = fs.readdirSync(DEBS).filter((f) => f.endsWith('.deb'));
  const debs = [];
  for (const pkg of fs.readFileSync(list, 'utf8').split('\n').filter(Boolean)) {
    const found = files.filter((f) => f.startsWith(`${pkg}_`)).sort();
    if (found.length === 0) die(`${pkg} is in the LIST but not downloaded: run fixtures/fetch-debs.sh required`);
    debs.push(path.join(DEBS, found[found.length - 1]));
  }
  return debs;
}

/** The unpacked tree (untimed, for sizing): the reference recipe without mke2fs. */
function unpack(debs, dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const script = `for p in ${debs.map(sh).join(' ')}; do dpkg-deb --fsys-tarfile "$p" | tar -x -C ${sh(dir)} --keep-directory-symlink || exit 1; done`;
  runSync('fakeroot', ['sh', '-c', script]);
}

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  if (!fs.existsSync(CLI)) die(`${path.relative(ROOT, CLI)} is missing: run \`npm run build\` first`);
  for (const cmd of ['mke2fs', 'e2fsck', 'dumpe2fs', 'fakeroot', 'dpkg-deb', 'tar']) if (!which(cmd)) die(`${cmd} not found`);
  if (!fs.existsSync(GNU_TIME)) die(`${GNU_TIME} not found (apt-get install time)`);
  fs.mkdirSync(WORK, { recursive: true });
  const debs = readDebs();
  const debBytes = debs.reduce((n, f) => n + fs.statSync(f).size, 0);

  // Size and inode count from the unpacked tree: extimg fits it from a directory (works today).
  const tree = path.join(WORK, 'probe-root');
  unpack(debs, tree);
  const entries = Number(runSync('sh', ['-c', `find ${sh(tree)} -mindepth 1 | wc -l`]).stdout.trim());
  const treeBytes = Number(runSync('du', ['-sb', tree]).stdout.split('\t')[0]);
  const probe = path.join(WORK, 'probe.img');
  const extimgJson = (args) => JSON.parse(runSync(process.execPath, [CLI, 'build', '--json', '-o', probe, ...args]).stdout);
  const common = ['-t', 'ext3', '-b', '4096', '-I', '256'];
  const fitted = extimgJson([...common, tree]);
  const sizeMiB = Math.ceil((fitted.bytes * SIZE_FACTOR) / MiB);
  const inodes = extimgJson([...common, '--size', `${sizeMiB}M`, tree]).inodesCount;
  fs.rmSync(probe, { force: true });
  fs.rmSync(tree, { recursive: true, force: true });

  const root = path.join(WORK, 'root');
  const tools = [
    {
      tool: 'extimg',
      image: path.join(WORK, 'extimg.img'),
      cmd: process.execPath,
      args: (image) => [CLI, 'build', '-q', '-o', image, ...common, '-N', `${inodes}`, '--size', `${sizeMiB}M`, ...debs],
      display: `node dist/cli/main.js build -q -o IMG ${common.join(' ')} -N ${inodes} --size ${sizeMiB}M DEBS...`,
    },
    {
      tool: 'fakeroot+dpkg-deb+tar+mke2fs',
      ref: true,
      image: path.join(WORK, 'reference.img'),
      // mke2fs -d reads the tree inside the same fakeroot session, so owners come out as packaged.
      before: () => {
        fs.rmSync(root, { recursive: true, force: true });
        fs.mkdirSync(root);
      },
      cmd: 'fakeroot',
      args: (image) => [
        'sh',
        '-c',
        `for p in ${debs.map(sh).join(' ')}; do dpkg-deb --fsys-tarfile "$p" | tar -x -C ${sh(root)} --keep-directory-symlink || exit 1; done; ` +
          `mke2fs -q -F ${common.join(' ')} -N ${inodes} -d ${sh(root)} ${sh(image)} ${sizeMiB}M`,
      ],
      display: `fakeroot sh -c 'for p in DEBS; do dpkg-deb --fsys-tarfile $p | tar -x -C ROOT --keep-directory-symlink; done; mke2fs -q -F ${common.join(' ')} -N ${inodes} -d ROOT IMG ${sizeMiB}M'`,
    },
  ];

  console.log(`debs: ${debs.length} packages of the required set, ${(debBytes / MiB).toFixed(1)} MiB of .deb; unpacked ${entries} entries, ${(treeBytes / MiB).toFixed(0)} MiB`);
  console.log(`image: ext3, 4 KiB blocks, 256-byte inodes, ${sizeMiB} MiB (${SIZE_FACTOR} x extimg's fit of the unpacked tree), ${inodes} inodes`);

  const runOne = async (t, timed) => {
    fs.rmSync(t.image, { force: true });
    t.before?.();
    spawnSync('sync');
    const r = await measure(t.cmd, t.args(t.image), { workDir: WORK });
    if (r.code !== 0) {
      const message = `${r.stdout}${r.stderr}`.trim();
      return { failed: true, code: r.code, message };
    }
    const fsck = e2fsckClean(t.image);
    if (!fsck.ok) {
      console.error(`\nbench/debs: FAILED: e2fsck -fn is not clean on the ${t.tool} image (${t.image}, kept):\n${fsck.output}`);
      process.exit(1);
    }
    const info = dumpe2fs(t.image);
    if (!opts.keep) fs.rmSync(t.image, { force: true });
    process.stdout.write(`  ${timed ? 'run   ' : 'warmup'} ${t.tool.padEnd(30)} ${r.seconds.toFixed(3)} s  cpu ${r.cpu.toFixed(2)} s  ${r.rssMB.toFixed(0)} MB  e2fsck clean\n`);
    return { seconds: r.seconds, cpu: r.cpu, rssMB: r.rssMB, info };
  };

  const started = Date.now();
  for (const t of tools) {
    const w = await runOne(t, false);
    if (w.failed) {
      t.unsupported = w.message;
      const why = /not (supported|available) yet/.test(w.message) ? 'not supported yet' : 'failed';
      console.log(`  warmup ${t.tool.padEnd(30)} ${why} (exit ${w.code}): ${w.message.split('\n')[0]}`);
      if (t.ref) die(`the reference failed:\n${w.message}`);
    } else t.warmup = w;
    t.runs = [];
  }
  const active = tools.filter((t) => !t.unsupported);
  for (let round = 0; round < opts.rounds; round++) {
    for (const t of active) t.runs.push(await runOne(t, true));
  }
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(path.join(WORK, '.time.txt'), { force: true });

  const ref = tools.find((t) => t.ref);
  const refMedian = median(ref.runs.map((r) => r.seconds));
  const rows = tools.map((t) => {
    if (t.unsupported) return { tool: t.tool, command: t.display, supported: false, error: t.unsupported };
    const med = median(t.runs.map((r) => r.seconds));
    return {
      tool: t.tool,
      command: t.display,
      supported: true,
      seconds: t.runs.map((r) => Math.round(r.seconds * 1000) / 1000),
      medianSeconds: Math.round(med * 1000) / 1000,
      medianCpuSeconds: Math.round(median(t.runs.map((r) => r.cpu)) * 100) / 100,
      peakRssMB: Math.round(Math.max(...t.runs.map((r) => r.rssMB))),
      ratioVsReference: Math.round((med / refMedian) * 100) / 100,
      usedBlocks: t.runs[0].info.usedBlocks,
      usedInodes: t.runs[0].info.usedInodes,
      features: t.runs[0].info.features,
      e2fsck: 'clean',
    };
  });

  console.log(`\nmedians of ${opts.rounds}, ratio = tool / reference:`);
  for (const r of rows) {
    if (!r.supported) console.log(`  ${r.tool.padEnd(30)} not measured: ${r.error.split('\n')[0]}`);
    else console.log(`  ${r.tool.padEnd(30)} ${r.medianSeconds.toFixed(3)} s  x${r.ratioVsReference.toFixed(2)}  cpu ${r.medianCpuSeconds.toFixed(2)} s  peak RSS ${r.peakRssMB} MB  used ${r.usedBlocks} blocks, ${r.usedInodes} inodes`);
  }
  const x = rows.find((r) => r.tool === 'extimg');
  const verdict = x.supported
    ? `extimg ${x.ratioVsReference <= 1 ? 'no slower than' : 'SLOWER than'} the rootless recipe (x${x.ratioVsReference.toFixed(2)})`
    : `extimg cannot build from .debs yet: ${x.error.split('\n')[0]}`;
  console.log(`\n${verdict}`);

  const results = {
    date: new Date().toISOString(),
    machine: {
      cpu: /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? os.cpus()[0]?.model,
      nproc: os.cpus().length,
      kernel: os.release(),
      node: process.version,
      mke2fs: runSync('mke2fs', ['-V'], { allowFail: true }).stderr.trim().split('\n')[0],
      extimg: runSync('git', ['-C', ROOT, 'describe', '--always', '--dirty'], { allowFail: true }).stdout.trim() || 'unknown',
      loadavg: os.loadavg().map((v) => Math.round(v * 100) / 100),
    },
    rounds: opts.rounds,
    input: { set: 'required', packages: debs.length, debBytes, unpackedEntries: entries, unpackedBytes: treeBytes, list: debs.map((d) => path.basename(d)) },
    image: { type: 'ext3', blockSize: 4096, inodeSize: 256, sizeMiB, inodes, extimgFittedBytes: fitted.bytes },
    results: rows,
    verdict,
    totalSeconds: Math.round((Date.now() - started) / 1000),
  };
  const file = path.join(OUT, 'debs.json');
  fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`wrote ${path.relative(ROOT, file)} (${results.totalSeconds} s of runs)`);
}

await main();
