import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDiskAsync, imageSizeOf, planMultiDisk, type DiskPartition } from '../src/disk/build.js';
import { MemoryAccess } from '../src/disk/random-access.js';
import { parseRecipe, RECIPE_DISK_KEYS, RECIPE_FILESYSTEM_KEYS, RECIPE_PARTITION_KEYS } from '../src/edit/recipe.js';
import { RECIPE_SCHEMA } from '../src/edit/recipe-schema.js';
import { ExtimgError } from '../src/errors.js';
import { BytesContent } from '../src/tree/content.js';
import { Tree } from '../src/tree/tree.js';
import { makeSourceTree, randomBytes } from './helpers/archives.js';
import { expectSameManifest } from './helpers/compare.js';
import { e2fsck } from './helpers/e2fsck.js';
import { missingTools, mountAvailable, requireJudge } from './helpers/env.js';
import { workDir } from './helpers/image.js';
import { validate } from './helpers/json-schema.js';
import type { Manifest } from './helpers/manifest.js';
import { manifestFromDir } from './helpers/mount.js';

// Issue #15, several partitions in a recipe: `"disk": { "table": "gpt", "partitions": [...] }`.
// Judges: sfdisk --verify and -J, the kernel mounting each filesystem partition at its offset
// against the partition's own source directory, e2fsck of each partition's bytes, the raw
// partition's bytes against its file, qemu-img check and convert back to the raw build's bytes.

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const main = path.join(root, 'dist', 'cli', 'main.js');
const work = workDir('recipe-disk');
const tmp = work.dir;
afterAll(() => work.cleanup());
const missing = missingTools(['e2fsck', 'sfdisk', 'qemu-img']);
const MiB = 1 << 20;
const SECTOR = 512;

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', cwd: tmp, env: { ...process.env, SOURCE_DATE_EPOCH: undefined } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Write a recipe into the work directory; its paths are relative to it. */
function recipe(name: string, json: unknown): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, JSON.stringify(json, null, 2));
  return file;
}

let rootSrc: string;
let bootSrc: string;
let dataSrc: string;
let esp: Buffer;
beforeAll(() => {
  rootSrc = path.join(tmp, 'root');
  fs.mkdirSync(rootSrc);
  const isRoot = process.getuid?.() === 0;
  makeSourceTree(rootSrc, { devices: isRoot, socket: true, owners: isRoot ? 'big' : undefined, nanoseconds: true, sparse: true, xattrs: true });
  bootSrc = path.join(tmp, 'boot');
  fs.mkdirSync(path.join(bootSrc, 'grub'), { recursive: true });
  fs.writeFileSync(path.join(bootSrc, 'vmlinuz'), randomBytes(200_000, 3));
  fs.writeFileSync(path.join(bootSrc, 'grub', 'grub.cfg'), 'linux /vmlinuz root=/dev/vda4\n');
  fs.symlinkSync('vmlinuz', path.join(bootSrc, 'vmlinuz.old'));
  dataSrc = path.join(tmp, 'data');
  fs.mkdirSync(path.join(dataSrc, 'srv'), { recursive: true });
  fs.writeFileSync(path.join(dataSrc, 'srv', 'index.html'), '<p>hi</p>\n');
  // Not a whole number of sectors: the partition rounds up, the rest of it stays zero.
  esp = randomBytes(300_000 + 123, 11);
  fs.writeFileSync(path.join(tmp, 'esp.bin'), esp);
});

interface SfdiskPartition {
  node: string;
  start: number;
  size: number;
  type: string;
  uuid?: string;
  name?: string;
  bootable?: boolean;
}
function sfdiskJson(disk: string): { label: string; partitions: SfdiskPartition[] } {
  return (JSON.parse(execFileSync('sfdisk', ['-J', disk]).toString()) as { partitiontable: { label: string; partitions: SfdiskPartition[] } }).partitiontable;
}

function expectVerified(disk: string): void {
  const verify = spawnSync('sfdisk', ['--verify', disk], { encoding: 'utf8' });
  expect([verify.status, verify.stderr], verify.stdout).toEqual([0, '']);
}

/** What the kernel reads from the filesystem at `offset`, lost+found and the root entry aside. */
function viewAt(disk: string, offset: number, sizelimit: number): Manifest {
  const mnt = fs.mkdtempSync(path.join(tmp, 'mnt-'));
  execFileSync('mount', ['-o', `ro,loop,offset=${offset},sizelimit=${sizelimit}`, disk, mnt]);
  try {
    const m = manifestFromDir(mnt, { blocks: false });
    for (const k of [...m.keys()]) if (k === '' || k === 'lost+found' || k.startsWith('lost+found/')) m.delete(k);
    return m;
  } finally {
    execFileSync('umount', [mnt]);
    fs.rmdirSync(mnt);
  }
}

function hostView(dir: string): Manifest {
  const m = manifestFromDir(dir, { blocks: false });
  m.delete('');
  return m;
}

/** The bytes of partition `p` (sfdisk's sectors) of `disk`, also as a file for e2fsck. */
function partition(disk: string, p: SfdiskPartition, name: string): { bytes: Buffer; file: string } {
  const bytes = fs.readFileSync(disk).subarray(p.start * SECTOR, (p.start + p.size) * SECTOR);
  const file = path.join(tmp, name);
  fs.writeFileSync(file, bytes);
  return { bytes, file };
}

const isZero = (b: Uint8Array): boolean => b.every((x) => x === 0);
const noTemps = (): string[] => fs.readdirSync(tmp).filter((n) => n.includes('.tmp'));

/** The GPT layout of the issue: an ESP of raw bytes, /boot fitted, swap left empty, root the rest. */
function gptRecipe(extra: Record<string, unknown> = {}, root: Record<string, unknown> = {}) {
  return {
    output: 'gpt-disk.img',
    ...extra,
    disk: {
      table: 'gpt',
      size: '96M',
      partitions: [
        { size: 'fit', type: 'esp', label: 'ESP', raw: 'esp.bin' },
        { size: 'fit', type: 'xbootldr', label: 'boot', filesystem: { type: 'ext2', inputs: ['boot'] } },
        { size: '8M', type: 'swap', label: 'swap' },
        {
          size: 'rest',
          type: 'root-x86-64',
          label: 'root',
          bootable: true,
          filesystem: { type: 'ext4', label: 'rootfs', inputs: ['root'], edits: [{ op: 'write', path: '/extimg-edit', content: 'edited\n' }], ...root },
        },
      ],
    },
  };
}

interface JsonResult {
  output: string;
  format: string;
  disk: { table: string; diskSize: number; partitions: Array<{ number: number; start: number; size: number }> };
  partitions: Array<{ number: number; start: number; size: number; content: string; build?: { type: string; bytes: number; label?: string }; raw?: { name: string; bytes: number } }>;
}

describe('build --recipe with "disk"', () => {
  it('GPT: a raw ESP, an ext2 /boot fitted, an empty swap, an ext4 root taking the rest of a 96M disk', (ctx) => {
    requireJudge(ctx, missing, 'recipe disk');
    const file = recipe('gpt.json', gptRecipe());
    const r = cli(['build', '-q', '--json', '--recipe', file]);
    expect([r.status, r.stderr]).toEqual([0, '']);
    const disk = path.join(tmp, 'gpt-disk.img');
    const json = JSON.parse(r.stdout) as JsonResult;
    expect(fs.statSync(disk).size).toBe(96 * MiB);
    expectVerified(disk);
    const pt = sfdiskJson(disk);
    expect(pt.label).toBe('gpt');
    expect(pt.partitions.map((p) => [p.type, p.name])).toEqual([
      ['C12A7328-F81F-11D2-BA4B-00A0C93EC93B', 'ESP'],
      ['BC13C2FF-59E6-4262-A352-B275FD6F7172', 'boot'],
      ['0657FD6D-A4AB-43C4-84E5-0933C84B4F4F', 'swap'],
      ['4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709', 'root'],
    ]);
    // The --json layout is what sfdisk reads; each partition at a 1 MiB boundary.
    expect(json.disk.partitions.map((p) => [p.start, p.size])).toEqual(pt.partitions.map((p) => [p.start * SECTOR, p.size * SECTOR]));
    for (const p of pt.partitions) expect((p.start * SECTOR) % MiB).toBe(0);
    expect(json.partitions.map((p) => p.content)).toEqual(['raw', 'filesystem', 'empty', 'filesystem']);
    const [pEsp, pBoot, pSwap, pRoot] = pt.partitions as [SfdiskPartition, SfdiskPartition, SfdiskPartition, SfdiskPartition];

    // The raw partition: the file's bytes, rounded up to a sector with zeros ('fit').
    expect(pEsp.size).toBe(Math.ceil(esp.length / SECTOR));
    const espBytes = partition(disk, pEsp, 'gpt.p1').bytes;
    expect(sha(espBytes.subarray(0, esp.length))).toBe(sha(esp));
    expect(isZero(espBytes.subarray(esp.length))).toBe(true);
    // The empty partition: zeros.
    expect(pSwap.size * SECTOR).toBe(8 * MiB);
    expect(isZero(partition(disk, pSwap, 'gpt.p3').bytes)).toBe(true);
    // 'fit': the partition is the fitted filesystem; 'rest': up to the backup GPT, the filesystem fills it.
    expect(json.partitions[1]!.build!.bytes).toBe(pBoot.size * SECTOR);
    expect(pRoot.start + pRoot.size).toBe(96 * 2048 - 33);
    expect(json.partitions[3]!.build).toMatchObject({ type: 'ext4', bytes: pRoot.size * SECTOR });

    for (const [p, name] of [[pBoot, 'gpt.p2'], [pRoot, 'gpt.p4']] as const) {
      const fsck = e2fsck(partition(disk, p, name).file);
      expect(fsck.code, fsck.output).toBe(0);
    }
    if (!mountAvailable('recipe disk: kernel read-back')) return;
    expectSameManifest(hostView(bootSrc), viewAt(disk, pBoot.start * SECTOR, pBoot.size * SECTOR), 'the boot source vs partition 2');
    const got = viewAt(disk, pRoot.start * SECTOR, pRoot.size * SECTOR);
    // The root's edit is there, and otherwise its tree is its input's.
    expect(got.get('extimg-edit')).toMatchObject({ type: 'file', size: 7 });
    got.delete('extimg-edit');
    expectSameManifest(hostView(rootSrc), got, 'the root source vs partition 4');
  });

  it('MBR: three partitions, a fitted disk; the bootable flag, type bytes, raw bytes and two filesystems', (ctx) => {
    requireJudge(ctx, missing, 'recipe disk');
    const file = recipe('mbr.json', {
      output: 'mbr-disk.img',
      disk: {
        table: 'mbr',
        partitions: [
          { size: 'fit', bootable: true, filesystem: { type: 'ext4', inputs: [{ path: 'boot', dest: '/' }] } },
          { size: '1M', type: '0c', raw: 'esp.bin' },
          { size: 16777216, type: 'linux', filesystem: { type: 'ext3', inputs: ['data'], edits: [{ op: 'mkdir', path: '/new-dir' }] } },
        ],
      },
    });
    const r = cli(['build', '--recipe', file]);
    expect(r.status, r.stderr).toBe(0);
    // The summary: the disk, then a line per partition.
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(4);
    expect(r.stderr).toMatch(/an MBR disk of .*, 3 partitions:\n  1: .*: ext4, .*\n  2: 1\.0 MiB .*: raw, .* of esp\.bin\n  3: 16\.0 MiB .*: ext3, /);
    const disk = path.join(tmp, 'mbr-disk.img');
    expectVerified(disk);
    const pt = sfdiskJson(disk);
    expect(pt.label).toBe('dos');
    expect(pt.partitions.map((p) => [p.type, p.bootable ?? false, p.size * SECTOR])).toEqual([
      ['83', true, pt.partitions[0]!.size * SECTOR],
      ['c', false, MiB],
      ['83', false, 16 * MiB],
    ]);
    // Fitted: the disk ends at the next MiB after the last partition.
    const last = pt.partitions[2]!;
    expect(fs.statSync(disk).size).toBe(Math.ceil(((last.start + last.size) * SECTOR) / MiB) * MiB);
    const raw = partition(disk, pt.partitions[1]!, 'mbr.p2').bytes;
    expect(sha(raw.subarray(0, esp.length))).toBe(sha(esp));
    expect(isZero(raw.subarray(esp.length))).toBe(true);
    for (const [i, name] of [[0, 'mbr.p1'], [2, 'mbr.p3']] as const) {
      const fsck = e2fsck(partition(disk, pt.partitions[i]!, name).file);
      expect(fsck.code, fsck.output).toBe(0);
    }
    if (!mountAvailable('recipe disk: kernel read-back')) return;
    const [p1, , p3] = pt.partitions as [SfdiskPartition, SfdiskPartition, SfdiskPartition];
    expectSameManifest(hostView(bootSrc), viewAt(disk, p1.start * SECTOR, p1.size * SECTOR), 'the boot source vs partition 1');
    const data = viewAt(disk, p3.start * SECTOR, p3.size * SECTOR);
    expect(data.get('new-dir')).toMatchObject({ type: 'dir' });
    data.delete('new-dir');
    expectSameManifest(hostView(dataSrc), data, 'the data source vs partition 3');
  });

  it('qcow2 ("format" in the recipe, or a .qcow2 output): qemu-img check is clean, convert -O raw gives the raw build of the same timestamp', (ctx) => {
    requireJudge(ctx, missing, 'recipe disk qcow2');
    const T = 1700000000;
    const raw = path.join(tmp, 'repro.img');
    const again = path.join(tmp, 'repro-again.img');
    const qcowA = path.join(tmp, 'repro-a.qcow2');
    const qcowB = path.join(tmp, 'repro-b.img');
    const file = recipe('repro.json', gptRecipe({ output: 'repro.img', timestamp: T }));
    expect(cli(['build', '-q', '--recipe', file])).toMatchObject({ status: 0, stderr: '' });
    // Reproducible: the same bytes again, GUIDs and UUIDs included.
    expect(cli(['build', '-q', '--recipe', file, '-o', again])).toMatchObject({ status: 0, stderr: '' });
    expect(sha(fs.readFileSync(again))).toBe(sha(fs.readFileSync(raw)));
    // Two filesystems on one reproducible disk still get UUIDs of their own.
    const blkid = (p: SfdiskPartition, name: string): string => execFileSync('dumpe2fs', ['-h', partition(raw, p, name).file], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().match(/UUID:\s+(\S+)/)![1]!;
    const pt = sfdiskJson(raw);
    expect(blkid(pt.partitions[1]!, 'repro.p2')).not.toBe(blkid(pt.partitions[3]!, 'repro.p4'));

    expect(cli(['build', '-q', '--recipe', file, '-o', qcowA])).toMatchObject({ status: 0, stderr: '' });
    const withFormat = recipe('repro-q.json', { ...gptRecipe({ output: 'repro-b.img', timestamp: T }), disk: { ...gptRecipe().disk, format: 'qcow2' } });
    expect(cli(['build', '-q', '--recipe', withFormat])).toMatchObject({ status: 0, stderr: '' });
    for (const q of [qcowA, qcowB]) {
      const check = spawnSync('qemu-img', ['check', '--output=json', q], { encoding: 'utf8' });
      expect(check.status, check.stdout + check.stderr).toBe(0);
      const report = JSON.parse(check.stdout) as { 'check-errors': number; leaks?: number; corruptions?: number };
      expect([report['check-errors'], report.leaks ?? 0, report.corruptions ?? 0]).toEqual([0, 0, 0]);
      const back = `${q}.back`;
      execFileSync('qemu-img', ['convert', '-O', 'raw', q, back]);
      expect(sha(fs.readFileSync(back)), q).toBe(sha(fs.readFileSync(raw)));
      // Only the clusters that hold data: the empty swap and root's free space take no room.
      expect(fs.statSync(q).size).toBeLessThan(48 * MiB);
    }
    // --format raw wins over the recipe's qcow2.
    const forced = path.join(tmp, 'forced.img');
    expect(cli(['build', '-q', '--recipe', withFormat, '--format', 'raw', '-o', forced]).status).toBe(0);
    expect(sha(fs.readFileSync(forced))).toBe(sha(fs.readFileSync(raw)));
  });
});

describe('refusals: one line naming the partition, before the output exists', () => {
  const out = (): string => path.join(tmp, 'refused.img');
  function refused(name: string, json: unknown, pattern: RegExp, status = 1): void {
    fs.rmSync(out(), { force: true });
    const file = recipe(name, { output: 'refused.img', ...(json as object) });
    const r = cli(['build', '--recipe', file]);
    expect(r.status, r.stderr).toBe(status);
    expect(r.stderr.split('\n')).toHaveLength(2); // one line and its newline
    expect(r.stderr).toMatch(new RegExp(`^extimg: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ${pattern.source}`));
    expect(fs.existsSync(out())).toBe(false);
    expect(noTemps()).toEqual([]);
  }

  it('an overlap through "start"', () => {
    refused('overlap.json', { disk: { table: 'gpt', partitions: [{ size: '4M' }, { size: '4M', start: '3M' }] } }, /disk\.partitions\[1\]: partition 2 \(from byte 3145728\) overlaps partition 1, which ends at byte 5242880\n$/);
  });

  it('sizes over the disk', () => {
    refused('oversize.json', { disk: { table: 'mbr', size: '16M', partitions: [{ size: '8M' }, { size: '10M' }] } }, /disk\.partitions\[1\]: partition 2 \(10 MiB .*\) does not fit the disk of 16 MiB .*; the disk needs at least .*\n$/);
  });

  it('two "rest"', () => {
    refused('two-rest.json', { disk: { table: 'gpt', size: '64M', partitions: [{ size: 'rest' }, { size: '1M' }, { size: 'rest' }] } }, /disk\.partitions\[2\]: partitions 1 and 3 both ask for the rest of the disk; at most one may\n$/);
  });

  it('"rest" without a disk size', () => {
    refused('rest-no-size.json', { disk: { table: 'gpt', partitions: [{ size: '1M' }, { size: 'rest' }] } }, /disk\.partitions\[1\]: partition 2 asks for the rest of the disk, but no disk size is given\n$/);
  });

  it('a raw file larger than its partition', () => {
    refused('raw-big.json', { disk: { table: 'gpt', partitions: [{ size: '64K', raw: 'esp.bin' }] } }, /disk\.partitions\[0\]: esp\.bin is 293 KiB \(300123 bytes\); the partition holds 64 KiB \(65536 bytes\)\n$/);
  });

  it('a filesystem that does not fit its fixed partition says what it needs', () => {
    refused(
      'fs-big.json',
      { disk: { table: 'gpt', partitions: [{ size: '1M', raw: 'esp.bin' }, { size: '1M', filesystem: { type: 'ext4', inputs: ['root'] } }] } },
      /disk\.partitions\[1\]: the filesystem does not fit its partition of 1 MiB \(1048576 bytes\): it needs .* \((\d+) bytes\) \(size "\d+K", or "fit"\)\n$/,
    );
    // What it says it needs is enough.
    const r = cli(['build', '--recipe', path.join(tmp, 'fs-big.json')]);
    const needK = /size "(\d+)K"/.exec(r.stderr)![1]!;
    const file = recipe('fs-fits.json', { output: 'refused.img', disk: { table: 'gpt', partitions: [{ size: `${needK}K`, filesystem: { type: 'ext4', inputs: ['root'] } }] } });
    expect(cli(['build', '-q', '--recipe', file])).toMatchObject({ status: 0, stderr: '' });
    fs.rmSync(out());
  });

  it('top-level filesystem keys next to "disk" (a usage error)', () => {
    refused('top-inputs.json', { inputs: ['root'], disk: { table: 'gpt', partitions: [{ size: '1M' }] } }, /inputs: with "disk", the keys of a filesystem belong in a partition's "filesystem" \(disk\.partitions\[N\]\.filesystem\)\n$/, 2);
    refused('top-size.json', { size: '1G', disk: { table: 'gpt', partitions: [{ size: '1M' }] } }, /size: with "disk", the whole disk's size is disk\.size/, 2);
  });

  it('an unknown key inside a partition, or inside its filesystem (a usage error)', () => {
    refused('unknown.json', { disk: { table: 'gpt', partitions: [{ size: '1M' }, { size: '1M', fs: {} }] } }, /disk\.partitions\[1\]\.fs: unknown key\n$/, 2);
    refused('unknown-fs.json', { disk: { table: 'gpt', partitions: [{ size: '1M', filesystem: { size: '1M' } }] } }, /disk\.partitions\[0\]\.filesystem\.size: unknown key\n$/, 2);
  });

  it('filesystem options and inputs on the command line with a disk recipe (usage errors naming them)', () => {
    const file = recipe('cmdline.json', { output: 'refused.img', disk: { table: 'gpt', partitions: [{ size: '1M' }] } });
    for (const [args, name] of [
      [['-t', 'ext4'], '-t'],
      [['--partition-table', 'mbr'], '--partition-table'],
      [['--mkdir', '/x'], '--mkdir'],
      [['--size', '1G'], '--size'],
    ] as const) {
      const r = cli(['build', '--recipe', file, ...args]);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^extimg: ${name}: .*cmdline\\.json describes a disk`));
    }
    const r = cli(['build', '--recipe', file, 'root']);
    expect([r.status, r.stderr]).toEqual([2, expect.stringMatching(/^extimg: 'root': .* inputs go in a partition's "filesystem"/)]);
    expect(fs.existsSync(out())).toBe(false);
    // What does go with it: -o, --timestamp, --format, -q, --json.
    expect(cli(['build', '--recipe', file, '-q', '--json', '--timestamp', '1', '--format', 'raw', '-o', out()]).status).toBe(0);
    expect(fs.statSync(out()).size).toBe(3 * MiB);
    fs.rmSync(out());
  });
});

describe('disk recipes: parsing and the schema', () => {
  const parse = (v: unknown) => parseRecipe(JSON.stringify(v), 'disk.json', { baseDir: '/r' });

  it('reads the disk, its partitions and each filesystem like a recipe of its own', () => {
    const json = gptRecipe({ timestamp: 5 });
    const r = parse(json);
    expect(r.output).toBe('/r/gpt-disk.img');
    expect(r.options).toEqual({ timestamp: 5 });
    expect(r.inputs).toEqual([]);
    const d = r.disk!;
    expect([d.table, d.size, d.format]).toEqual(['gpt', 96 * MiB, undefined]);
    expect(d.partitions.map((p) => [p.at, p.size, p.type, p.label])).toEqual([
      ['disk.json: disk.partitions[0]', 'fit', 'esp', 'ESP'],
      ['disk.json: disk.partitions[1]', 'fit', 'xbootldr', 'boot'],
      ['disk.json: disk.partitions[2]', 8 * MiB, 'swap', 'swap'],
      ['disk.json: disk.partitions[3]', 'rest', 'root-x86-64', 'root'],
    ]);
    expect(d.partitions[0]!.raw).toEqual({ arg: 'esp.bin', source: '/r/esp.bin' });
    expect(d.partitions[3]!.bootable).toBe(true);
    const rootFs = d.partitions[3]!.filesystem!;
    expect(rootFs.options).toEqual({ type: 'ext4', label: 'rootfs' });
    expect(rootFs.inputs).toEqual([{ arg: 'root', source: '/r/root', dest: '/' }]);
    expect(rootFs.edits.map((e) => e.label)).toEqual(['disk.json: disk.partitions[3].filesystem.edits[0] (write /extimg-edit)']);
    expect(d.partitions[2]!.filesystem).toBeUndefined();
    expect(validate(RECIPE_SCHEMA, json)).toEqual([]);
  });

  it.each<[unknown, string]>([
    [{ disk: { partitions: [] } }, "disk.json: disk: missing 'table' (\"gpt\" or \"mbr\")"],
    [{ disk: { table: 'apm', partitions: [{ size: '1M' }] } }, "disk.json: disk.table 'apm': must be one of gpt, mbr"],
    [{ disk: { table: 'gpt', partitions: [] } }, 'disk.json: disk.partitions: expected an array of partitions, got an empty one'],
    [{ disk: { table: 'gpt', format: 'vmdk', partitions: [{ size: '1M' }] } }, "disk.json: disk.format 'vmdk': must be one of raw, qcow2"],
    [{ disk: { table: 'gpt', partitions: [{}] } }, 'disk.json: disk.partitions[0]: missing \'size\' (bytes, "512M", "fit" or "rest")'],
    [{ disk: { table: 'gpt', partitions: [{ size: 'all' }] } }, "disk.json: disk.partitions[0].size 'all': not a size (bytes, or a number with K, M, G or T: 64M, 1.5G)"],
    [{ disk: { table: 'gpt', partitions: [{ size: 'fit' }] } }, 'disk.json: disk.partitions[0].size: "fit" needs something to fit: a "filesystem" or "raw" bytes; an empty partition needs a size'],
    [{ disk: { table: 'gpt', partitions: [{ size: '1M', raw: 'a', filesystem: {} }] } }, 'disk.json: disk.partitions[0]: a partition holds a "filesystem" or "raw" bytes, not both'],
    [{ disk: { table: 'mbr', partitions: [{ size: '1M', type: 300 }] } }, 'disk.json: disk.partitions[0].type: expected a type name, a GUID or an MBR type byte (1-255), got number 300'],
    [{ disk: { table: 'gpt', partitions: [{ size: '1M', filesystem: { type: 'ext5' } }] } }, "disk.json: disk.partitions[0].filesystem.type 'ext5': must be one of ext2, ext3, ext4"],
    [{ disk: { table: 'gpt', partitions: [{ size: '1M', filesystem: { inputs: [{ path: 'x', dest: 'opt' }] } }] } }, "disk.json: disk.partitions[0].filesystem.inputs[0].dest: 'opt' is not an absolute path in the image"],
    [{ disk: { table: 'gpt', partitions: [{ size: '1M', filesystem: { features: 'bogus' } }] } }, "disk.json: disk.partitions[0].filesystem.features: unknown feature 'bogus'"],
    [{ disk: { table: 'gpt', partitions: [{ size: '1M', filesystem: { type: 'ext2', journalBlocks: 1024 } }] } }, 'disk.json: disk.partitions[0].filesystem.journalBlocks: only ext3 and ext4 (or features has_journal) have a journal'],
    [{ edits: [], disk: { table: 'gpt', partitions: [{ size: '1M' }] } }, 'disk.json: edits: with "disk", the keys of a filesystem belong in a partition\'s "filesystem" (disk.partitions[N].filesystem)'],
  ])('refuses %j', (json, message) => {
    let e: unknown;
    try {
      parse(json);
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(ExtimgError);
    expect([(e as ExtimgError).code, (e as ExtimgError).message]).toEqual(['EUSAGE', message]);
  });

  it('the schema has the keys the parser takes, at every level, and refuses what it refuses structurally', () => {
    const disk = RECIPE_SCHEMA.properties.disk;
    expect(Object.keys(disk.properties).sort()).toEqual([...RECIPE_DISK_KEYS].sort());
    const part = disk.properties.partitions.items;
    expect(Object.keys(part.properties).sort()).toEqual([...RECIPE_PARTITION_KEYS].sort());
    expect(Object.keys(part.properties.filesystem.properties).sort()).toEqual([...RECIPE_FILESYSTEM_KEYS].sort());
    for (const bad of [
      { disk: { partitions: [{ size: '1M' }] } },
      { disk: { table: 'gpt', partitions: [{ size: '1M', fs: {} }] } },
      { disk: { table: 'gpt', partitions: [{ size: 'all' }] } },
      { disk: { table: 'gpt', partitions: [{ size: '1M', filesystem: { size: '1M' } }] } },
      { disk: { table: 'gpt', format: 'vmdk', partitions: [] } },
    ]) {
      expect(validate(RECIPE_SCHEMA, bad), JSON.stringify(bad)).not.toEqual([]);
      expect(() => parse(bad), JSON.stringify(bad)).toThrow(ExtimgError);
    }
    for (const good of [{ disk: { table: 'mbr', size: 1 << 30, partitions: [{ size: 'rest', type: 12, start: '1M' }] } }]) {
      expect(validate(RECIPE_SCHEMA, good)).toEqual([]);
      expect(() => parse(good)).not.toThrow();
    }
  });
});

describe('planMultiDisk and buildDiskAsync (library)', () => {
  function smallTree(): Tree {
    const t = new Tree({ time: { sec: 1_700_000_000, nsec: 0 } });
    t.writeFile('/hello', new BytesContent(new TextEncoder().encode('hello\n')));
    return t;
  }

  it("'fit' is the writer's fitted size; a fixed partition's filesystem gets exactly its size", () => {
    const tree = smallTree();
    const fitted = imageSizeOf(tree, { type: 'ext2', timestamp: 1 });
    const parts: DiskPartition[] = [
      { spec: { size: 'fit' }, fill: { tree, options: { type: 'ext2', timestamp: 1 } }, origin: 'p0' },
      { spec: { size: 4 * MiB }, fill: { tree: smallTree(), options: { type: 'ext4', timestamp: 1, size: 123 } }, origin: 'p1' },
      { spec: { size: 'fit' }, fill: { raw: new MemoryAccess(new Uint8Array(1000)), name: 'x' }, origin: 'p2' },
    ];
    const plan = planMultiDisk(parts, { table: 'gpt', origin: 'disk', timestamp: 1 });
    expect(plan.layout.partitions.map((p) => p.size)).toEqual([fitted, 4 * MiB, 1024]);
    const f1 = plan.fills[1] as { options: { size?: number; uuid?: string } };
    expect(f1.options.size).toBe(4 * MiB);
    // Reproducible: a UUID of its own per partition.
    expect((plan.fills[0] as { options: { uuid?: string } }).options.uuid).not.toBe(f1.options.uuid);
    // The caller's options are not changed.
    expect(parts[1]!.fill).toMatchObject({ options: { size: 123 } });
  });

  it('an aborted build leaves no output', async () => {
    const out = path.join(tmp, 'aborted.img');
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(buildDiskAsync([{ spec: { size: 'fit' }, fill: { tree: smallTree(), options: {} }, origin: 'p0' }], out, { table: 'gpt' }, controller.signal)).rejects.toThrow('stop');
    expect(fs.existsSync(out)).toBe(false);
    expect(noTemps()).toEqual([]);
  });
});
