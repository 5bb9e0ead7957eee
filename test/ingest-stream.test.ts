import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { CliContext } from '../src/cli/context.js';
import { formatBytes } from '../src/cli/progress.js';
import { run as runCli } from '../src/cli/run.js';
import { ExtimgError } from '../src/errors.js';
import { ArchiveFiles } from '../src/ingest/archive-file.js';
import { addArchive, applyPrepared } from '../src/ingest/archive.js';
import { SourceContent } from '../src/ingest/source.js';
import type { FileNode } from '../src/tree/node.js';
import { Tree } from '../src/tree/tree.js';
import { extimgErrorAsync, isRoot, makeSourceTree, randomBytes, readBytes, run } from './helpers/archives.js';
import { member, tar } from './helpers/tar-writer.js';
import { expectClean } from './helpers/e2fsck.js';
import { missingTools, requireJudge } from './helpers/env.js';
import { workDir } from './helpers/image.js';
import { manifestFromTree } from './helpers/manifest.js';

/**
 * Issue #13: archives read from files and standard input as streams. Every file and stdin path
 * must give the same tree as the in-memory reader (addArchive on the whole bytes, which the
 * archive oracle tests judge against GNU tar, dpkg-deb, cpio), whether the decompressed archive
 * stays in memory or goes to a spool file, decoded in this thread or on the worker threads of
 * the built package; spool files never show in the output folder and are closed with the build.
 */

const work = workDir('ingest-stream');
afterAll(() => work.cleanup());

const T0 = { sec: 1_000_000_000, nsec: 0 };
const DIST = join(import.meta.dirname, '..', 'dist');
const CLI = join(DIST, 'cli', 'main.js');

const COMPRESS: Record<string, string[]> = {
  gzip: ['gzip', '-c'],
  xz: ['xz', '-c', '-T1'],
  zstd: ['zstd', '-c', '-q'],
  bzip2: ['bzip2', '-c'],
  lzma: ['xz', '--format=lzma', '-c'],
  lz4: ['lz4', '-c', '-q'],
};

/** A GNU tar of the fixture tree (sparse members, long names, hard links, xattr-free). */
function fixtureTar(): string {
  const dir = join(work.dir, 'src');
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(dir);
    makeSourceTree(dir, { sparse: true, devices: isRoot });
    run('tar', ['-c', '--format=posix', '--sparse', '--numeric-owner', '-f', join(work.dir, 'src.tar'), '-C', dir, '.']);
  }
  return join(work.dir, 'src.tar');
}

function compressed(codec: string): string {
  const out = `${fixtureTar()}.${codec}`;
  if (!fs.existsSync(out)) fs.writeFileSync(out, run(COMPRESS[codec]![0]!, [...COMPRESS[codec]!.slice(1), fixtureTar()]));
  return out;
}

async function inMemory(file: string): Promise<Tree> {
  const t = new Tree({ time: T0 });
  await addArchive(t, readBytes(file), { origin: file });
  return t;
}

/** Open descriptors of this process that are spool files. */
function openSpools(): string[] {
  const out: string[] = [];
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (target.includes('.extimg-spool-')) out.push(target);
    } catch {
      // Closed while listing.
    }
  }
  return out;
}

type ArchiveFilesClass = typeof ArchiveFiles;

describe('archive files read as streams (ArchiveFiles)', () => {
  for (const codec of Object.keys(COMPRESS)) {
    it(`tar.${codec}: the same tree as the in-memory reader, spooled to a file or kept in memory`, async (ctx) => {
      requireJudge(ctx, missingTools(['tar', COMPRESS[codec]![0]!]), `tar.${codec} stream test`);
      const file = compressed(codec);
      const want = manifestFromTree(await inMemory(file));
      for (const memoryBudget of [0, 64 << 20]) {
        const spoolDir = join(work.dir, `spool-${codec}-${memoryBudget}`);
        fs.mkdirSync(spoolDir);
        const files = new ArchiveFiles({ spoolDir, memoryBudget, workers: 0 });
        try {
          const p = await files.prepareFile(file);
          expect(p.codec).toBe(codec);
          const t = new Tree({ time: T0 });
          applyPrepared(t, p, { origin: file });
          expect(manifestFromTree(t)).toEqual(want);
          // An unlinked spool file: nothing in the folder, an open descriptor while the tree needs it.
          expect(fs.readdirSync(spoolDir)).toEqual([]);
          expect(openSpools().length > 0).toBe(memoryBudget === 0);
          expect(files.memoryKept > 0).toBe(memoryBudget > 0);
        } finally {
          await files.close();
        }
        expect(openSpools()).toEqual([]);
      }
    });
  }

  it('an uncompressed tar is read in place: contents refer to the file, nothing is spooled', async (ctx) => {
    requireJudge(ctx, missingTools(['tar']), 'tar stream test');
    const file = fixtureTar();
    const files = new ArchiveFiles({ spoolDir: work.dir, workers: 0 });
    try {
      const p = await files.prepareFile(file);
      const t = new Tree({ time: T0 });
      applyPrepared(t, p, { origin: file });
      expect(manifestFromTree(t)).toEqual(manifestFromTree(await inMemory(file)));
      expect((t.get('usr/lib/big.bin') as FileNode).content).toBeInstanceOf(SourceContent);
      expect(openSpools()).toEqual([]);
      expect(files.memoryKept).toBe(0);
    } finally {
      await files.close();
    }
  });

  it('on the worker threads of the built package: the same trees, one spool file per worker', async (ctx) => {
    requireJudge(ctx, missingTools(['tar', 'xz', 'zstd', 'dpkg-deb']), 'worker stream test');
    const { ArchiveFiles: Built } = (await import(join(DIST, 'ingest', 'archive-file.js'))) as { ArchiveFiles: ArchiveFilesClass };
    const { applyPrepared: applyBuilt } = (await import(join(DIST, 'ingest', 'archive.js'))) as { applyPrepared: typeof applyPrepared };
    const { Tree: BuiltTree } = (await import(join(DIST, 'tree', 'tree.js'))) as { Tree: typeof Tree };
    // A .deb too: its data.tar.xz is decoded from its range of the file.
    const pkg = join(work.dir, 'pkg');
    fs.mkdirSync(join(pkg, 'DEBIAN'), { recursive: true });
    fs.writeFileSync(join(pkg, 'DEBIAN', 'control'), 'Package: t\nVersion: 1\nArchitecture: all\nMaintainer: T <t@example.org>\nDescription: t\n');
    makeSourceTree(pkg, { sparse: false });
    const deb = join(work.dir, 'p.deb');
    run('dpkg-deb', ['-Zxz', '--root-owner-group', '--build', pkg, deb]);
    const inputs = [compressed('xz'), compressed('zstd'), deb, compressed('gzip')];
    const files = new Built({ spoolDir: work.dir, workers: 2 });
    try {
      // All at once, as the CLI does: the pool runs them in parallel.
      const prepared = await Promise.all(inputs.map((f) => files.prepareFile(f)));
      await files.stopWorkers();
      for (const [i, f] of inputs.entries()) {
        const t = new BuiltTree({ time: T0 });
        applyBuilt(t, prepared[i]!, { origin: f });
        expect(manifestFromTree(t as unknown as Tree), f).toEqual(manifestFromTree(await inMemory(f)));
      }
      // One spool file per worker, filled job after job: descriptors do not grow with inputs.
      expect(openSpools().length).toBeGreaterThan(0);
      expect(openSpools().length).toBeLessThanOrEqual(2);
    } finally {
      await files.close();
    }
    expect(openSpools()).toEqual([]);
  });

  it('a thousand compressed inputs hold a few descriptors: inputs closed once decoded, spools shared', async () => {
    const { ArchiveFiles: Built } = (await import(join(DIST, 'ingest', 'archive-file.js'))) as { ArchiveFiles: ArchiveFilesClass };
    const dir = join(work.dir, 'many');
    fs.mkdirSync(dir);
    const inputs = Array.from({ length: 1000 }, (_, i) => {
      const f = join(dir, `p${i}.tar.gz`);
      fs.writeFileSync(f, gzipSync(tar(member({ name: `d/f${i}`, size: 10 }, `file ${String(i).padStart(5)}`))));
      return f;
    });
    const openInputs = (): number => fs.readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir);
      } catch {
        return false;
      }
    }).length;
    const files = new Built({ spoolDir: work.dir, workers: 2, memoryBudget: 0 });
    try {
      const prepared = await Promise.all(inputs.map((f) => files.prepareFile(f)));
      expect(openInputs()).toBe(0);
      expect(openSpools().length).toBeLessThanOrEqual(2);
      const t = new Tree({ time: T0 });
      for (const [i, p] of prepared.entries()) applyPrepared(t, p, { origin: inputs[i]! });
      const f = t.get('d/f999') as FileNode;
      const got = new Uint8Array(f.content.size);
      f.content.open().read(0, got);
      expect(new TextDecoder().decode(got)).toBe('file   999');
    } finally {
      await files.close();
    }
    expect(openSpools()).toEqual([]);
  });

  it('a corrupt or truncated stream fails naming the input; no spool stays open', async (ctx) => {
    requireJudge(ctx, missingTools(['tar', 'xz', 'zstd']), 'stream errors');
    for (const codec of ['xz', 'zstd', 'gzip']) {
      const whole = readBytes(compressed(codec));
      const cut = join(work.dir, `cut.tar.${codec}`);
      fs.writeFileSync(cut, whole.subarray(0, whole.length >> 1));
      const files = new ArchiveFiles({ spoolDir: work.dir, memoryBudget: 0, workers: 0 });
      const e = await extimgErrorAsync(() => files.prepareFile(cut));
      await files.close();
      expect(e.message).toMatch(new RegExp(`^${cut.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*(truncated|corrupt|unexpected end)`));
      expect(openSpools()).toEqual([]);
    }
  });

  it('a missing file is one error naming it', async () => {
    const files = new ArchiveFiles({ spoolDir: work.dir, workers: 0 });
    const e = await extimgErrorAsync(() => files.prepareFile(join(work.dir, 'nope.tar')));
    await files.close();
    expect(e).toBeInstanceOf(ExtimgError);
    expect(e.message).toBe(`${join(work.dir, 'nope.tar')}: cannot open (ENOENT)`);
  });
});

/** Run the CLI in this process with `stdin` as standard input (chunks of random sizes). */
async function cliWithStdin(args: string[], stdin: Uint8Array, env: NodeJS.ProcessEnv = {}): Promise<{ status: number; stderr: string }> {
  let stderr = '';
  const chunks = async function* (): AsyncGenerator<Uint8Array> {
    let at = 0;
    let k = 1;
    while (at < stdin.length) {
      const n = Math.min(stdin.length - at, ((k * 7919) % 65536) + 1);
      yield stdin.slice(at, at + n);
      at += n;
      k++;
    }
  };
  const ctx = new CliContext({ write: () => true }, { write: (s: string) => ((stderr += s), true) }, { SOURCE_DATE_EPOCH: '1700000000', ...env }, chunks);
  const status = await runCli(args, ctx);
  return { status, stderr };
}

describe("'-' reads an archive from standard input", () => {
  for (const codec of ['zstd', 'xz', 'gzip', 'none'] as const) {
    it(`tar${codec === 'none' ? '' : `.${codec}`} through stdin builds the same bytes as from the file`, async (ctx) => {
      requireJudge(ctx, missingTools(['tar', 'e2fsck', ...(codec === 'none' ? [] : [COMPRESS[codec]![0]!])]), 'stdin test');
      const file = codec === 'none' ? fixtureTar() : compressed(codec);
      const fromFile = join(work.dir, `file-${codec}.img`);
      const fromStdin = join(work.dir, `stdin-${codec}.img`);
      expect((await cliWithStdin(['build', '-q', '-t', 'ext4', '-o', fromFile, file], new Uint8Array(0))).status).toBe(0);
      const r = await cliWithStdin(['build', '-q', '-t', 'ext4', '-o', fromStdin, '-'], readBytes(file));
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expectClean(fromStdin);
      expect(Buffer.compare(fs.readFileSync(fromStdin), fs.readFileSync(fromFile))).toBe(0);
      expect(fs.readdirSync(work.dir).filter((n) => n.startsWith('.extimg'))).toEqual([]);
    });
  }

  it('-:/DEST puts it under DEST; a cpio archive reads too', async (ctx) => {
    requireJudge(ctx, missingTools(['cpio', 'debugfs']), 'stdin cpio');
    const dir = join(work.dir, 'cpio-src');
    fs.mkdirSync(join(dir, 'etc'), { recursive: true });
    fs.writeFileSync(join(dir, 'etc', 'motd'), 'hello\n');
    const cpio = run('sh', ['-c', 'find . | cpio -o -H newc --quiet'], { cwd: dir });
    const img = join(work.dir, 'stdin-cpio.img');
    const r = await cliWithStdin(['build', '-q', '-o', img, '-:/opt/x'], new Uint8Array(cpio));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(run('debugfs', ['-R', 'cat /opt/x/etc/motd', img]).toString()).toBe('hello\n');
  });

  it('on a terminal, a progress line counts input bytes read (of the total for files), cleared before the summary', async (ctx) => {
    requireJudge(ctx, missingTools(['tar', 'xz']), 'progress test');
    const file = compressed('xz');
    let err = '';
    const term = new CliContext({ write: () => true }, { isTTY: true, write: (s: string) => ((err += s), true) }, {});
    expect(await runCli(['build', '-o', join(work.dir, 'progress.img'), file], term)).toBe(0);
    const size = formatBytes(fs.statSync(file).size);
    expect(err).toContain(`\r\x1b[Kextimg: reading inputs 100% (${size} of ${size})`);
    // The summary starts on a clean line.
    expect(err).toMatch(/\r\x1b\[K[^\r]*progress\.img: ext3, /);
    err = '';
    const piped = new CliContext({ write: () => true }, { isTTY: true, write: (s: string) => ((err += s), true) }, {}, async function* () {
      yield readBytes(file);
    });
    expect(await runCli(['build', '-o', join(work.dir, 'progress2.img'), '-'], piped)).toBe(0);
    // Standard input has no total: the bytes so far.
    expect(err).toContain(`\r\x1b[Kextimg: reading inputs ${size}`);
    expect(err).not.toContain('%');
  });

  it('refuses - twice, and says what an empty or unknown stdin is', async () => {
    const img = join(work.dir, 'never.img');
    const twice = await cliWithStdin(['build', '-o', img, '-', '-:/x'], new Uint8Array(0));
    expect(twice.status).toBe(2);
    expect(twice.stderr).toMatch(/^extimg: standard input \('-'\) can be read once; it is given 2 times/);
    const empty = await cliWithStdin(['build', '-o', img, '-'], new Uint8Array(0));
    expect(empty.status).toBe(1);
    expect(empty.stderr).toBe('extimg: standard input: not a tar, cpio, .deb, .rpm or pacman archive (it is empty)\n');
    const text = await cliWithStdin(['build', '-o', img, '-'], new TextEncoder().encode('hello, world\n'.repeat(100)));
    expect(text.status).toBe(1);
    expect(text.stderr).toMatch(/^extimg: standard input: not a tar, cpio, \.deb, \.rpm or pacman archive \(starts with 68 65 6c 6c/);
    const cut = await cliWithStdin(['build', '-o', img, '-'], new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x24, 0x00]));
    expect(cut.status).toBe(1);
    expect(cut.stderr).toMatch(/^extimg: standard input: /);
    expect(fs.existsSync(img)).toBe(false);
  });

  it('from a real pipe into the built CLI; killed while reading, it leaves nothing behind', async (ctx) => {
    requireJudge(ctx, missingTools(['tar', 'zstd', 'e2fsck']), 'stdin pipe');
    const out = join(work.dir, 'pipe');
    fs.mkdirSync(out);
    const data = readBytes(compressed('zstd'));
    const ok = spawn(process.execPath, [CLI, 'build', '-q', '-o', join(out, 'a.img'), '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    ok.stderr.on('data', (d: Buffer) => (err += d.toString()));
    ok.stdin.end(data);
    expect(await new Promise((r) => ok.on('exit', r))).toBe(0);
    expect(err).toBe('');
    expectClean(join(out, 'a.img'));

    // 48 MiB of a tar, past what stays in memory, then the pipe stays open: the build is
    // spooling to a file in the output folder when it is killed.
    const killed = spawn(process.execPath, [CLI, 'build', '-q', '-o', join(out, 'b.img'), '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    // Writes still queued when it dies fail with EPIPE: expected here.
    killed.stdin.on('error', () => {});
    const big = tar(member({ name: 'big', size: 64 << 20 }, randomBytes(64 << 20, 3)));
    killed.stdin.write(big.subarray(0, 48 << 20));
    const spooling = (): boolean => {
      try {
        return fs.readdirSync(`/proc/${killed.pid}/fd`).some((fd) => fs.readlinkSync(`/proc/${killed.pid}/fd/${fd}`).startsWith(join(out, '.extimg-spool-')));
      } catch {
        return false;
      }
    };
    const started = Date.now();
    while (!spooling()) {
      if (Date.now() - started > 30_000) throw new Error('the build never spooled standard input');
      await new Promise((r) => setTimeout(r, 20));
    }
    killed.kill('SIGTERM');
    await new Promise((r) => killed.on('exit', r));
    expect(fs.readdirSync(out)).toEqual(['a.img']);
  });
});
