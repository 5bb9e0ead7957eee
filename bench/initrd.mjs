#!/usr/bin/env node
// node bench/initrd.mjs [--rounds N]
//
// Adding one hook to Debian's real initrd (INITRD= in fixtures/out/boot/env, written by
// .ci/setup-boot.sh), three ways, timed alternately (A, B, C, A, B, C, ...) after one untimed
// warm-up of each, medians and peak RSS from GNU time (-f '%e %M'):
//   pipeline: unmkinitramfs IN dir && cp HOOK dir/main/conf/conf.d/ (dir/conf/conf.d without an
//             early segment) && (cd dir/main-or-dir && find . | LC_ALL=C sort |
//             cpio -o -H newc -R 0:0 | zstd -q -9 -T0) > OUT
//   rewrite:  extimg initrd rewrite IN -o OUT --add HOOK:/conf/conf.d/zz-bench (zstd kept)
//   append:   the same with --append-segment
//   and, when fixtures/fetch-node.sh has fetched Node 22, the same under it (node:zlib zstd).
// Every output is checked outside the timing: the hook is listed by `extimg initrd ls`.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = path.join(ROOT, 'bench', 'out', 'initrd');
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
const GNU_TIME = '/usr/bin/time';
const argv = process.argv.slice(2);
const rounds = argv.includes('--rounds') ? Number(argv[argv.indexOf('--rounds') + 1]) : 3;

function initrdPath() {
  const env = path.join(ROOT, 'fixtures', 'out', 'boot', 'env');
  if (!fs.existsSync(env)) return undefined;
  const m = /^INITRD=(.*)$/m.exec(fs.readFileSync(env, 'utf8'));
  return m && fs.existsSync(m[1].trim()) ? m[1].trim() : undefined;
}

const IN = initrdPath();
if (!IN) {
  console.log('bench/initrd: skipped: no initrd (INITRD= in fixtures/out/boot/env; run .ci/setup-boot.sh)');
  process.exit(0);
}
for (const t of ['unmkinitramfs', 'cpio', 'zstd', GNU_TIME]) {
  if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0) {
    console.log(`bench/initrd: skipped: ${t} not found`);
    process.exit(0);
  }
}
if (!fs.existsSync(CLI)) {
  console.error('bench/initrd: run `npm run build` first');
  process.exit(1);
}

fs.rmSync(OUT, { recursive: true, force: true });
fs.mkdirSync(OUT, { recursive: true });
const HOOK = path.join(OUT, 'zz-bench');
fs.writeFileSync(HOOK, '#!/bin/sh\necho bench hook\n', { mode: 0o755 });
const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;

const pipelineScript = (out) => {
  const dir = path.join(OUT, 'unpacked');
  return [
    `rm -rf ${q(dir)}`,
    `unmkinitramfs ${q(IN)} ${q(dir)}`,
    `if [ -d ${q(dir)}/main ]; then d=${q(dir)}/main; else d=${q(dir)}; fi`,
    `mkdir -p "$d/conf/conf.d" && cp ${q(HOOK)} "$d/conf/conf.d/"`,
    `(cd "$d" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | zstd -q -9 -T0) > ${q(out)}`,
  ].join(' && ');
};

const rewrite = (nodeBin, out, ...extra) => [nodeBin, CLI, 'initrd', 'rewrite', IN, '-o', out, '-q', ...extra, '--add', `${HOOK}:/conf/conf.d/zz-bench`];
const CASES = [
  { name: 'pipeline', label: 'unmkinitramfs + cpio + zstd -9 -T0', cmd: (out) => ['bash', '-c', pipelineScript(out)] },
  { name: 'rewrite', label: `extimg initrd rewrite (zstd 3, full), Node ${process.version}`, cmd: (out) => rewrite('node', out) },
  { name: 'append', label: `extimg initrd rewrite --append-segment, Node ${process.version}`, cmd: (out) => rewrite('node', out, '--append-segment') },
];
// Node >= 22.15 has zstd in node:zlib (native, multi-threaded), which extimg then uses instead
// of its WebAssembly zstd: the same runs under that Node when fixtures/fetch-node.sh fetched it.
const NODE22 = path.join(ROOT, 'fixtures', 'out', 'node22', 'bin', 'node');
if (fs.existsSync(NODE22)) {
  const v = spawnSync(NODE22, ['--version'], { encoding: 'utf8' }).stdout.trim();
  CASES.push(
    { name: 'rewrite22', label: `extimg initrd rewrite (zstd 3, full), Node ${v}`, cmd: (out) => rewrite(NODE22, out) },
    { name: 'rewrite22l9', label: `extimg initrd rewrite (zstd --level 9, full), Node ${v}`, cmd: (out) => rewrite(NODE22, out, '--level', '9') },
    { name: 'append22', label: `extimg initrd rewrite --append-segment, Node ${v}`, cmd: (out) => rewrite(NODE22, out, '--append-segment') },
  );
} else {
  console.log('bench/initrd: no fixtures/out/node22 (run fixtures/fetch-node.sh): Node 22 rows left out');
}

function timed(c) {
  const out = path.join(OUT, `${c.name}.img`);
  fs.rmSync(out, { force: true });
  const [cmd, ...args] = c.cmd(out);
  const r = spawnSync(GNU_TIME, ['-f', '%e %M', cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${c.name}: exited ${r.status}: ${r.stderr}`);
  const last = r.stderr.trim().split('\n').pop();
  const [secs, kb] = last.split(' ').map(Number);
  return { secs, rssMB: kb / 1024, out };
}

function check(c, out) {
  const r = spawnSync('node', [CLI, 'initrd', 'ls', out], { encoding: 'latin1', maxBuffer: 1 << 28 });
  if (r.status !== 0 || !/conf\/conf\.d\/zz-bench$/m.test(r.stdout)) throw new Error(`${c.name}: ${out} does not list the hook`);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const res = Object.fromEntries(CASES.map((c) => [c.name, { secs: [], rss: [], bytes: 0 }]));
for (const c of CASES) check(c, timed(c).out); // warm-up + correctness
for (let i = 0; i < rounds; i++) {
  for (const c of CASES) {
    const t = timed(c);
    res[c.name].secs.push(t.secs);
    res[c.name].rss.push(t.rssMB);
    res[c.name].bytes = fs.statSync(t.out).size;
  }
}

const inBytes = fs.statSync(IN).size;
console.log(`input: ${IN} (${(inBytes / 1e6).toFixed(1)} MB)`);
console.log(`machine: ${os.cpus()[0]?.model ?? '?'}, ${os.cpus().length} CPUs, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.release()}`);
console.log(`${rounds} rounds, alternating, medians\n`);
const base = median(res.pipeline.secs);
console.log('| method | median s | runs (s) | vs pipeline | peak RSS MB | output MB |');
console.log('|:--|--:|:--|--:|--:|--:|');
for (const c of CASES) {
  const r = res[c.name];
  const m = median(r.secs);
  console.log(
    `| ${c.label} | ${m.toFixed(2)} | ${r.secs.map((s) => s.toFixed(2)).join(', ')} | ×${(m / base).toFixed(2)} | ${median(r.rss).toFixed(0)} | ${(r.bytes / 1e6).toFixed(2)} |`,
  );
}
fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify({ input: IN, inBytes, rounds, res }, null, 1));
