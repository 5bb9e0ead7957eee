#!/usr/bin/env node
// node bench/ingest.mjs [--sizes 1G,4G] [--rounds N] [--debs-gib N] [--node PATH] [--keep]
//
// Ingestion at scale (issue #13): peak RSS and time against input size, extimg against the
// rootless recipe, timed alternately in the same run (A, B, A, B, ... after one untimed warm-up
// of each), medians and ratios:
//
//   tar.zst of SIZE incompressible bytes (files of 1-32 MiB of random data, zstd -1):
//     extimg file:   node dist/cli/main.js build -q -o IMG -t ext4 --size S IN.tar.zst
//     extimg stdin:  sh -c 'zstd -dc IN.tar.zst | node dist/cli/main.js build -q -o IMG -t ext4 --size S -'
//     reference:     fakeroot sh -c 'zstd -dc IN.tar.zst | tar -x -C ROOT && mke2fs -q -F -t ext4 -d ROOT IMG S'
//   .debs of N GiB in all (16 packages of random data, dpkg-deb -Zgzip -z1):
//     extimg:        node dist/cli/main.js build -q -o IMG -t ext4 --size S DEBS...
//     reference:     fakeroot sh -c 'for p in DEBS; do dpkg-deb --fsys-tarfile $p | tar -x -C ROOT; done;
//                    mke2fs -q -F -t ext4 -d ROOT IMG S'
//
// S: the uncompressed size times 1.1 plus 64 MiB, the same for every tool. Peak RSS is GNU
// time's %M: for a pipeline, the largest process in it. Every image must pass e2fsck -fn
// (outside the timing). Inputs are generated under bench/out/ingest/ (git-ignored) once and kept
// (delete the folder to make new ones); images are deleted unless --keep. --node runs extimg
// under another Node (fixtures/out/node22/bin/node for Node 22's zstd in node:zlib).
// Writes bench/out/ingest.json.
import { spawn, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { e2fsckClean, GNU_TIME, measure, median, runSync, which } from './lib.mjs';

const MiB = 1024 * 1024;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = path.join(ROOT, 'bench', 'out');
const WORK = path.join(OUT, 'ingest');
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');

function parseOptions(argv) {
  const o = { sizes: ['1G', '4G'], rounds: 3, debsGiB: 2, keep: false, node: process.execPath };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--sizes') o.sizes = argv[++i].split(',').filter(Boolean);
    else if (a === '--rounds') o.rounds = Number(argv[++i]);
    else if (a === '--debs-gib') o.debsGiB = Number(argv[++i]);
    else if (a === '--node') o.node = argv[++i];
    else if (a === '--keep') o.keep = true;
    else if (a === '-h' || a === '--help') {
      const lines = fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1);
      console.log(lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).join('\n').replace(/^\/\/ ?/gm, ''));
      process.exit(0);
    } else die(`unknown option '${a}' (see --help)`);
  }
  if (!Number.isInteger(o.rounds) || o.rounds < 1) die('--rounds: want a positive integer');
  return o;
}

function die(message) {
  console.error(`bench/ingest: ${message}`);
  process.exit(2);
}

const sh = (s) => `'${s.replace(/'/g, `'\\''`)}'`;

function bytesOf(size) {
  const m = /^(\d+(?:\.\d+)?)([MG])$/.exec(size);
  if (!m) die(`size '${size}': want like 512M or 4G`);
  return Math.round(Number(m[1]) * (m[2] === 'G' ? 1024 * MiB : MiB));
}

/** A tar of files of 1-32 MiB of random bytes, `total` bytes of data in all, through `zstd -1`. */
async function makeTarZst(file, total) {
  if (fs.existsSync(file)) return;
  const tmp = `${file}.partial`;
  const z = spawn('zstd', ['-1', '-q', '-T0', '-f', '-o', tmp], { stdio: ['pipe', 'ignore', 'inherit'] });
  const write = (b) => new Promise((resolve, reject) => z.stdin.write(b, (e) => (e ? reject(e) : resolve())));
  const chunk = new Uint8Array(MiB);
  let done = 0;
  for (let i = 0; done < total; i++) {
    const size = Math.min(total - done, (1 + ((i * 7) % 32)) * MiB);
    await write(tarHeader(`d${i % 64}/f${i}`, size));
    for (let left = size; left > 0; left -= chunk.length) {
      randomFillSync(chunk);
      await write(chunk.slice(0, Math.min(chunk.length, left)));
    }
    await write(new Uint8Array((512 - (size % 512)) % 512));
    done += size;
  }
  await write(new Uint8Array(1024));
  z.stdin.end();
  const status = await new Promise((r) => z.on('exit', r));
  if (status !== 0) die(`zstd exited with ${status}`);
  fs.renameSync(tmp, file);
}

function tarHeader(name, size) {
  const h = new Uint8Array(512);
  const enc = new TextEncoder();
  const put = (off, len, s) => h.set(enc.encode(s).subarray(0, len), off);
  const octal = (off, len, v) => put(off, len, `${v.toString(8).padStart(len - 1, '0')}\0`);
  put(0, 100, name);
  octal(100, 8, 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, 1_700_000_000);
  put(148, 8, '        ');
  put(156, 1, '0');
  put(257, 8, 'ustar\x0000');
  let sum = 0;
  for (const b of h) sum += b;
  put(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

/** `count` packages of random files, `total` bytes of data in all (dpkg-deb -Zgzip -z1: fast to make). */
function makeDebs(dir, total, count) {
  const done = path.join(dir, 'DONE');
  if (fs.existsSync(done)) return fs.readdirSync(dir).filter((f) => f.endsWith('.deb')).sort().map((f) => path.join(dir, f));
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const per = Math.ceil(total / count);
  const chunk = new Uint8Array(MiB);
  const debs = [];
  for (let p = 0; p < count; p++) {
    const pkg = path.join(dir, `pkg${p}`);
    fs.mkdirSync(path.join(pkg, 'DEBIAN'), { recursive: true });
    fs.writeFileSync(path.join(pkg, 'DEBIAN', 'control'), `Package: bench${p}\nVersion: 1\nArchitecture: all\nMaintainer: bench <b@example.org>\nDescription: bench\n`);
    fs.mkdirSync(path.join(pkg, 'usr', 'share', `bench${p}`), { recursive: true });
    for (let done = 0, i = 0; done < per; i++) {
      const size = Math.min(per - done, (1 + ((i * 5) % 16)) * MiB);
      const fd = fs.openSync(path.join(pkg, 'usr', 'share', `bench${p}`, `f${i}`), 'w');
      for (let left = size; left > 0; left -= chunk.length) {
        randomFillSync(chunk);
        fs.writeSync(fd, chunk, 0, Math.min(chunk.length, left));
      }
      fs.closeSync(fd);
      done += size;
    }
    const deb = path.join(dir, `bench${p}.deb`);
    runSync('dpkg-deb', ['-Zgzip', '-z1', '--root-owner-group', '--build', pkg, deb]);
    fs.rmSync(pkg, { recursive: true, force: true });
    debs.push(deb);
  }
  fs.writeFileSync(done, '');
  return debs;
}

async function runCase(c, opts) {
  console.log(`\n${c.name}: ${c.what}`);
  const rows = [];
  const runOne = async (t, timed) => {
    fs.rmSync(t.image, { force: true });
    t.before?.();
    spawnSync('sync');
    const r = await measure(t.cmd, t.args, { workDir: WORK });
    if (r.code !== 0) die(`${t.tool} failed (exit ${r.code}): ${`${r.stdout}${r.stderr}`.trim().split('\n')[0]}`);
    const fsck = e2fsckClean(t.image);
    if (!fsck.ok) die(`e2fsck -fn is not clean on the ${t.tool} image (${t.image}, kept):\n${fsck.output}`);
    if (!opts.keep) fs.rmSync(t.image, { force: true });
    t.after?.();
    process.stdout.write(`  ${timed ? 'run   ' : 'warmup'} ${t.tool.padEnd(34)} ${r.seconds.toFixed(2)} s  cpu ${r.cpu.toFixed(2)} s  ${r.rssMB.toFixed(0)} MB\n`);
    return r;
  };
  for (const t of c.tools) {
    await runOne(t, false);
    t.runs = [];
  }
  for (let round = 0; round < opts.rounds; round++) for (const t of c.tools) t.runs.push(await runOne(t, true));
  const ref = c.tools.find((t) => t.ref);
  const refMed = median(ref.runs.map((r) => r.seconds));
  for (const t of c.tools) {
    const med = median(t.runs.map((r) => r.seconds));
    rows.push({
      case: c.name,
      tool: t.tool,
      command: t.display,
      inputBytes: c.inputBytes,
      dataBytes: c.dataBytes,
      seconds: t.runs.map((r) => Math.round(r.seconds * 100) / 100),
      medianSeconds: Math.round(med * 100) / 100,
      medianCpuSeconds: Math.round(median(t.runs.map((r) => r.cpu)) * 100) / 100,
      peakRssMB: Math.round(Math.max(...t.runs.map((r) => r.rssMB))),
      ratioVsReference: Math.round((med / refMed) * 100) / 100,
    });
  }
  for (const r of rows.slice(-c.tools.length)) {
    console.log(`  ${r.tool.padEnd(34)} ${r.medianSeconds.toFixed(2)} s  x${r.ratioVsReference.toFixed(2)}  peak RSS ${r.peakRssMB} MB`);
  }
  return rows;
}

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  if (!fs.existsSync(CLI)) die(`${path.relative(ROOT, CLI)} is missing: run \`npm run build\` first`);
  for (const cmd of ['mke2fs', 'e2fsck', 'fakeroot', 'tar', 'zstd', 'dpkg-deb']) if (!which(cmd)) die(`${cmd} not found`);
  if (!fs.existsSync(GNU_TIME)) die(`${GNU_TIME} not found (apt-get install time)`);
  fs.mkdirSync(WORK, { recursive: true });
  const node = opts.node;
  const refRoot = path.join(WORK, 'root');
  const clearRoot = () => {
    fs.rmSync(refRoot, { recursive: true, force: true });
    fs.mkdirSync(refRoot);
  };
  const cases = [];
  for (const size of opts.sizes) {
    const data = bytesOf(size);
    const input = path.join(WORK, `random-${size}.tar.zst`);
    await makeTarZst(input, data);
    const imageSize = `${Math.ceil((data * 1.1) / MiB) + 64}M`;
    const img = (n) => path.join(WORK, `${n}.img`);
    cases.push({
      name: `tar.zst ${size}`,
      what: `${(fs.statSync(input).size / MiB).toFixed(0)} MiB tar.zst of incompressible files, ext4 of ${imageSize}`,
      inputBytes: fs.statSync(input).size,
      dataBytes: data,
      tools: [
        { tool: 'extimg (file)', image: img('x-file'), cmd: node, args: [CLI, 'build', '-q', '-o', img('x-file'), '-t', 'ext4', '--size', imageSize, input], display: `extimg build -t ext4 --size ${imageSize} IN.tar.zst` },
        {
          tool: 'extimg (stdin, zstd -dc |)',
          image: img('x-stdin'),
          cmd: 'sh',
          args: ['-c', `zstd -dcq ${sh(input)} | ${sh(node)} ${sh(CLI)} build -q -o ${sh(img('x-stdin'))} -t ext4 --size ${imageSize} -`],
          display: `zstd -dc IN.tar.zst | extimg build -t ext4 --size ${imageSize} -`,
        },
        {
          tool: 'fakeroot zstd -dc|tar -x; mke2fs -d',
          ref: true,
          image: img('ref'),
          before: clearRoot,
          after: () => fs.rmSync(refRoot, { recursive: true, force: true }),
          cmd: 'fakeroot',
          args: ['sh', '-c', `zstd -dcq ${sh(input)} | tar -x -C ${sh(refRoot)} && mke2fs -q -F -t ext4 -d ${sh(refRoot)} ${sh(img('ref'))} ${imageSize}`],
          display: `fakeroot sh -c 'zstd -dc IN.tar.zst | tar -x -C ROOT && mke2fs -q -F -t ext4 -d ROOT IMG ${imageSize}'`,
        },
      ],
    });
  }
  if (opts.debsGiB > 0) {
    const data = Math.round(opts.debsGiB * 1024 * MiB);
    const debs = makeDebs(path.join(WORK, `debs-${opts.debsGiB}G`), data, 16);
    const inputBytes = debs.reduce((n, f) => n + fs.statSync(f).size, 0);
    const imageSize = `${Math.ceil((data * 1.1) / MiB) + 64}M`;
    const img = (n) => path.join(WORK, `${n}.img`);
    cases.push({
      name: `.debs ${opts.debsGiB}G`,
      what: `${debs.length} .debs, ${(inputBytes / MiB).toFixed(0)} MiB, ext4 of ${imageSize}`,
      inputBytes,
      dataBytes: data,
      tools: [
        { tool: 'extimg', image: img('x-debs'), cmd: node, args: [CLI, 'build', '-q', '-o', img('x-debs'), '-t', 'ext4', '--size', imageSize, ...debs], display: `extimg build -t ext4 --size ${imageSize} DEBS...` },
        {
          tool: 'fakeroot dpkg-deb|tar -x; mke2fs -d',
          ref: true,
          image: img('ref-debs'),
          before: clearRoot,
          after: () => fs.rmSync(refRoot, { recursive: true, force: true }),
          cmd: 'fakeroot',
          args: ['sh', '-c', `for p in ${debs.map(sh).join(' ')}; do dpkg-deb --fsys-tarfile "$p" | tar -x -C ${sh(refRoot)} || exit 1; done; mke2fs -q -F -t ext4 -d ${sh(refRoot)} ${sh(img('ref-debs'))} ${imageSize}`],
          display: `fakeroot sh -c 'for p in DEBS; do dpkg-deb --fsys-tarfile $p | tar -x -C ROOT; done; mke2fs -q -F -t ext4 -d ROOT IMG ${imageSize}'`,
        },
      ],
    });
  }
  const started = Date.now();
  const rows = [];
  for (const c of cases) rows.push(...(await runCase(c, opts)));
  const results = {
    date: new Date().toISOString(),
    machine: {
      cpu: /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? os.cpus()[0]?.model,
      nproc: os.cpus().length,
      memMB: Math.round(os.totalmem() / MiB),
      kernel: os.release(),
      node: runSync(node, ['--version']).stdout.trim(),
      extimg: runSync('git', ['-C', ROOT, 'describe', '--always', '--dirty'], { allowFail: true }).stdout.trim() || 'unknown',
      loadavg: os.loadavg().map((v) => Math.round(v * 100) / 100),
    },
    rounds: opts.rounds,
    results: rows,
    totalSeconds: Math.round((Date.now() - started) / 1000),
  };
  for (const f of fs.readdirSync(WORK)) if (f.startsWith('.extimg-bench-time-')) fs.rmSync(path.join(WORK, f), { force: true });
  const file = path.join(OUT, 'ingest.json');
  fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(ROOT, file)} (${results.totalSeconds} s of runs)`);
}

await main();
