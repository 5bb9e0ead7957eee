#!/usr/bin/env node
// npm run demo: build a small ext3 root filesystem from fixtures/sample-root through the library
// API (no root, no mke2fs), then let e2fsprogs judge it: `e2fsck -fn` must pass.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const distIndex = join(root, 'dist', 'index.js');
if (!existsSync(distIndex)) {
  console.error('demo: dist/index.js is missing; run `npm install` (or `npm run build`) first');
  process.exit(1);
}
const { Tree, addHostDirectory, buildToFile } = await import(pathToFileURL(distIndex).href);

// A fixed time unless SOURCE_DATE_EPOCH says otherwise, so the demo image is reproducible.
const sde = process.env.SOURCE_DATE_EPOCH;
if (sde && !/^\d+$/.test(sde)) {
  console.error(`demo: SOURCE_DATE_EPOCH='${sde}' is not a number of seconds`);
  process.exit(2);
}
const timestamp = sde ? Number(sde) : 1_700_000_000;

const tree = new Tree({ time: { sec: timestamp, nsec: 0 } });
addHostDirectory(tree, join(root, 'fixtures', 'sample-root'), { owner: { uid: 0, gid: 0 } });
// What git cannot carry: device nodes, special modes, empty directories.
tree.mkdir('/dev', { mode: 0o755 });
tree.mknod('/dev/console', 'chr', 5, 1, { mode: 0o600 });
tree.mknod('/dev/null', 'chr', 1, 3, { mode: 0o666 });
tree.mknod('/dev/xvda', 'blk', 220, 0, { mode: 0o660, gid: 6 });
tree.mkdir('/tmp', { mode: 0o1777 });
tree.mkdir('/proc', { mode: 0o555 });
tree.mkdir('/sys', { mode: 0o555 });
tree.chmod('/root', 0o700);

const outDir = join(root, 'demo');
const image = join(outDir, 'sample.ext3.img');
mkdirSync(outDir, { recursive: true });
const result = buildToFile(tree, image, { type: 'ext3', label: 'extimg-demo', timestamp });
const inodesUsed = result.inodesCount - result.freeInodes;
console.log(`demo: wrote ${image}`);
console.log(
  `demo: ${result.type}, ${result.bytes} bytes, ${result.blockSize}-byte blocks ${result.usedBlocks}/${result.blocksCount} used, ` +
    `inodes ${inodesUsed}/${result.inodesCount} used, journal ${result.journalBlocks} blocks, uuid ${result.uuid}`,
);

/** e2fsprogs live in sbin, often not on a normal user's PATH. */
function findTool(name) {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/sbin', '/usr/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

function runTool(name, args) {
  const path = findTool(name);
  if (!path) {
    console.log(`\ndemo: ${name} skipped: not found on PATH or in /sbin, /usr/sbin (install e2fsprogs)`);
    return undefined;
  }
  console.log(`\n$ ${name} ${args.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ')}`);
  const r = spawnSync(path, args, { encoding: 'utf8' });
  if (r.error) {
    console.log(`demo: ${name} could not run: ${r.error.message}`);
    return undefined;
  }
  // Both tools print their version banner on stderr first.
  process.stdout.write(r.stderr);
  process.stdout.write(r.stdout);
  return r.status;
}

const fsck = runTool('e2fsck', ['-fn', image]);
runTool('debugfs', ['-R', 'ls -l /', image]);
runTool('debugfs', ['-R', 'ls -l /dev', image]);

if (fsck === undefined) {
  console.log('\ndemo: image built; not verified (e2fsck unavailable)');
} else if (fsck !== 0) {
  console.error(`\ndemo: e2fsck found problems (exit status ${fsck})`);
  process.exit(1);
} else {
  console.log('\ndemo: e2fsck -fn: clean');
}
