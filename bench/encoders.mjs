#!/usr/bin/env node
// node bench/encoders.mjs [--rounds N]   (after `npm run build`)
//
// extimg's encoders as `initrd rewrite`/`create` run them (xz, lzma, bzip2, lz4 ours; zstd
// through WASM or node:zlib; gzip through node:zlib) against the reference CLIs on the same
// input: the cpio inside Debian's initrd (INITRD= in fixtures/out/boot/env), ~52 MB. Each pair is timed alternately (ours, theirs, ...),
// wall time through GNU time, medians (the encodes take seconds: no warm-up run); every output
// is checked by decompressing it with the reference tool and comparing with the input.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GNU_TIME, measure, which } from './lib.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = path.join(ROOT, 'bench', 'out', 'encoders');
const argv = process.argv.slice(2);
const rounds = argv.includes('--rounds') ? Number(argv[argv.indexOf('--rounds') + 1]) : 1;

const env = path.join(ROOT, 'fixtures', 'out', 'boot', 'env');
const m = fs.existsSync(env) ? /^INITRD=(.*)$/m.exec(fs.readFileSync(env, 'utf8')) : null;
const initrd = m?.[1].trim();
if (!initrd || !fs.existsSync(initrd)) {
  console.log('bench/encoders: skipped: no initrd (INITRD= in fixtures/out/boot/env; run .ci/setup-boot.sh)');
  process.exit(0);
}
for (const t of ['zstd', 'xz', 'bzip2', 'lz4', 'gzip', GNU_TIME]) {
  if (!which(path.basename(t)) && !fs.existsSync(t)) {
    console.log(`bench/encoders: skipped: ${t} not found`);
    process.exit(0);
  }
}
fs.rmSync(OUT, { recursive: true, force: true });
fs.mkdirSync(OUT, { recursive: true });
const input = path.join(OUT, 'initrd.cpio');
fs.writeFileSync(input, spawnSync('zstd', ['-dc', initrd], { maxBuffer: 1 << 30 }).stdout);
const size = fs.statSync(input).size;

// One node process per encode (as the CLI pays it), reading the file and writing the output,
// through compressArchive as initrd rewrite/create use it: gzip, zstd (WASM), bzip2 and xz in
// ~4 MiB parts cut between entries, on worker threads; lzma and lz4 as one stream.
const ENCODE = path.join(OUT, 'encode.mjs');
fs.writeFileSync(
  ENCODE,
  `import fs from 'node:fs';
const { compressArchive } = await import(${JSON.stringify(path.join(ROOT, 'dist', 'initrd', 'compress.js'))});
const [codec, level, src, dst] = process.argv.slice(2);
fs.writeFileSync(dst, await compressArchive(new Uint8Array(fs.readFileSync(src)), codec, level === '-' ? undefined : Number(level)));
`,
);

// [codec, our level, reference command (shell, $IN and $OUT), reference decompressor]
const PAIRS = [
  ['xz', 2, 'xz -1 -T1 --check=crc32 -c "$IN" > "$OUT"', 'xz -dc'],
  ['xz', 6, 'xz -6 -T1 --check=crc32 -c "$IN" > "$OUT"', 'xz -dc'],
  ['lzma', 2, 'xz --format=lzma -1 -c "$IN" > "$OUT"', 'xz --format=lzma -dc'],
  ['bzip2', 9, 'bzip2 -9 -c "$IN" > "$OUT"', 'bzip2 -dc'],
  ['lz4', '-', 'lz4 -l -q -c "$IN" > "$OUT"', 'lz4 -dc'],
  ['zstd', 3, 'zstd -3 -q -c "$IN" > "$OUT"', 'zstd -dc'],
  ['gzip', 6, 'gzip -6 -c "$IN" > "$OUT"', 'gzip -dc'],
];

function check(file, decomp) {
  const r = spawnSync('sh', ['-c', `${decomp} "${file}" | cmp - "${input}"`]);
  if (r.status !== 0) throw new Error(`${file}: does not decompress to the input: ${r.stderr}`);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`input: the cpio of ${initrd}, ${(size / 1e6).toFixed(1)} MB`);
console.log(`machine: ${os.cpus()[0]?.model ?? '?'}, ${os.cpus().length} CPUs, Node ${process.version}, ${os.release()}; ${rounds} rounds, medians\n`);
console.log('| codec | extimg level | extimg s | extimg MB | reference | reference s | reference MB | time ratio |');
console.log('|:--|--:|--:|--:|:--|--:|--:|--:|');
for (const [codec, level, ref, decomp] of PAIRS) {
  const ours = path.join(OUT, `ours.${codec}`);
  const theirs = path.join(OUT, `ref.${codec}`);
  const a = [];
  const b = [];
  for (let i = 0; i < rounds; i++) {
    const ra = await measure('node', [ENCODE, codec, String(level), input, ours], { workDir: OUT });
    if (ra.code !== 0) throw new Error(`${codec}: ${ra.stderr}`);
    const rb = await measure('sh', ['-c', ref.replaceAll('$IN', input).replaceAll('$OUT', theirs)], { workDir: OUT });
    if (rb.code !== 0) throw new Error(`${ref}: ${rb.stderr}`);
    if (i === 0) {
      check(ours, decomp);
      check(theirs, decomp);
    }
    a.push(ra.seconds);
    b.push(rb.seconds);
  }
  const [ma, mb] = [median(a), median(b)];
  const mbOf = (f) => (fs.statSync(f).size / 1e6).toFixed(2);
  console.log(`| ${codec} | ${level} | ${ma.toFixed(2)} | ${mbOf(ours)} | \`${ref.split(' -c')[0].split(' >')[0]}\` | ${mb.toFixed(2)} | ${mbOf(theirs)} | ×${(ma / mb).toFixed(2)} |`);
}
