import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { crc32 } from '../src/compress/crc.js';
import { ExtimgError } from '../src/errors.js';
import { openDisk, openDiskAsync, selectFilesystem, type DiskInfo } from '../src/disk/open.js';
import { MAX_EBRS } from '../src/disk/mbr.js';
import { Qcow2Access } from '../src/disk/qcow2.js';
import { MemoryAccess, type RandomAccess } from '../src/disk/random-access.js';
import { FileSource } from '../src/io/file-source.js';
import { hasTool } from './helpers/e2fsck.js';
import { requireJudge, type SkipContext } from './helpers/env.js';
import { workDir } from './helpers/image.js';

/**
 * Issue #14, the disk layer of reading images: MBR (with logical partitions), GPT (and its
 * backup) and qcow2 (v2, v3, compressed with deflate and zstd, extended L2 entries) read from
 * disks made by sfdisk, mke2fs and qemu-img, judged by `sfdisk -J` (the partitions) and by the
 * raw file qemu-img converted (every byte of the virtual disk). Hostile tables and images are
 * refused with typed errors, one test each, and a fuzz checks that mutated ones never throw
 * anything else.
 */

const work = workDir('disk-read');
afterAll(() => {
  FileSource.closeAll();
  work.cleanup();
});

const TOOLS = ['sfdisk', 'qemu-img', 'mke2fs', 'truncate', 'dd'];
const toolsMissing = (): string | undefined => {
  const missing = TOOLS.filter((t) => !hasTool(t));
  return missing.length ? `missing host tool(s): ${missing.join(', ')} (install fdisk, qemu-utils, e2fsprogs)` : undefined;
};
const needTools = (ctx: SkipContext, what: string): void => requireJudge(ctx, toolsMissing(), what);

function sh(cmd: string, args: readonly string[], input?: string): string {
  const r = spawnSync(cmd, args, { input, cwd: work.dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

const path = (name: string): string => join(work.dir, name);
const MiB = 1 << 20;

/** Deterministic bytes: half compressible text, half noise (so qemu-img -c stores some clusters compressed, some not). */
function payload(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i += 4096) {
    const noisy = ((i >> 12) & 1) === 1;
    for (let j = i; j < Math.min(size, i + 4096); j++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[j] = noisy ? x & 0xff : 0x61 + ((j * 7 + (x & 3)) % 26);
    }
  }
  return out;
}

function writeAt(file: string, offset: number, data: Uint8Array): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, data, 0, data.length, offset);
  } finally {
    fs.closeSync(fd);
  }
}

let fixtures: { mbr: string; gpt: string; tiny: string } | undefined;

/**
 * The disks, made once: an MBR disk (ext4 on 1, data on 2, extended 3 holding ext2 on 5 and ext3
 * on 6) and a GPT disk (EFI System, ext4 named "root", swap with data), 24 MiB each; a 640 KiB
 * GPT disk with a small ext2 for the fuzz.
 */
function disks(): { mbr: string; gpt: string; tiny: string } {
  if (fixtures) return fixtures;
  const mbr = path('mbr.img');
  sh('truncate', ['-s', '24M', mbr]);
  sh('sfdisk', ['-q', mbr], 'label: dos\nstart=2048, size=8192, type=83\nstart=10240, size=4096, type=82\nstart=14336, type=5\nstart=16384, size=8192, type=83\nstart=26624, type=83\n');
  sh('mke2fs', ['-q', '-F', '-t', 'ext4', '-E', `offset=${2048 * 512}`, mbr, '4M']);
  sh('mke2fs', ['-q', '-F', '-t', 'ext2', '-E', `offset=${16384 * 512}`, mbr, '4M']);
  sh('mke2fs', ['-q', '-F', '-t', 'ext3', '-E', `offset=${26624 * 512}`, mbr, '8M']);
  writeAt(mbr, 10240 * 512, payload(2 * MiB, 1));

  const gpt = path('gpt.img');
  sh('truncate', ['-s', '24M', gpt]);
  sh('sfdisk', ['-q', gpt], 'label: gpt\nstart=2048, size=4096, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI"\nstart=6144, size=16384, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"\nstart=22528, size=20480, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F\n');
  // mke2fs on a file of its own, copied in with dd conv=notrunc (the other way in).
  const root = path('root.ext4');
  sh('truncate', ['-s', '8M', root]);
  sh('mke2fs', ['-q', '-F', '-t', 'ext4', root]);
  sh('dd', [`if=${root}`, `of=${gpt}`, 'bs=512', 'seek=6144', 'conv=notrunc', 'status=none']);
  writeAt(gpt, 22528 * 512, payload(3 * MiB, 2));

  const tiny = path('tiny.img');
  sh('truncate', ['-s', '640K', tiny]);
  sh('sfdisk', ['-q', tiny], 'label: gpt\nfirst-lba: 34\nstart=64, size=1024, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n');
  sh('mke2fs', ['-q', '-F', '-t', 'ext2', '-b', '1024', '-N', '16', '-E', `offset=${64 * 512}`, tiny, '512']);
  writeAt(tiny, 64 * 512 + 200 * 1024, payload(64 * 1024, 3));
  fixtures = { mbr, gpt, tiny };
  return fixtures;
}

interface SfdiskPartition {
  node: string;
  start: number;
  size: number;
  type: string;
  name?: string;
}

function sfdiskJson(file: string): { label: string; partitions: SfdiskPartition[] } {
  return (JSON.parse(sh('sfdisk', ['-J', basename(file)])) as { partitiontable: { label: string; partitions: SfdiskPartition[] } }).partitiontable;
}

/** Our partitions as sfdisk prints them. */
function asSfdisk(info: DiskInfo, device: string): SfdiskPartition[] {
  return info.partitions.map((p) => ({
    node: `${device}${p.number}`,
    start: p.start / 512,
    size: p.size / 512,
    type: info.table === 'gpt' ? p.type : parseInt(p.type, 16).toString(16),
    ...(p.name !== undefined ? { name: p.name } : {}),
  }));
}

function open(file: string, warnings: string[] = []): DiskInfo {
  return openDisk(FileSource.openFile(file), file.split('/').pop()!, { onWarning: (m) => warnings.push(m) });
}

function sha256Of(access: RandomAccess): string {
  const h = createHash('sha256');
  const buf = new Uint8Array(MiB);
  for (let at = 0; at < access.size; at += buf.length) {
    const part = buf.subarray(0, Math.min(buf.length, access.size - at));
    access.read(at, part);
    h.update(part);
  }
  return h.digest('hex');
}

/** Every byte of `access` equal to `expected`: whole, then unaligned ranges across cluster edges. */
function expectSameBytes(access: RandomAccess, expected: Buffer, seed: number): void {
  expect(access.size).toBe(expected.length);
  expect(sha256Of(access)).toBe(createHash('sha256').update(expected).digest('hex'));
  let x = seed;
  for (let i = 0; i < 200; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    const len = 1 + (x % 200_000);
    const at = Math.min(expected.length - len, (x * 7919) % expected.length);
    const got = new Uint8Array(len);
    access.read(at, got);
    if (!Buffer.from(got).equals(expected.subarray(at, at + len))) expect.fail(`bytes differ in [${at}, ${at + len})`);
  }
}

function expectError(f: () => unknown, code: string, message: RegExp): ExtimgError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ExtimgError);
    const err = e as ExtimgError;
    expect([err.code, err.message]).toEqual([code, expect.stringMatching(message)]);
    expect(err.message).not.toContain('\n');
    return err;
  }
  return expect.fail(`no error; expected ${code} ${message}`);
}

/** Read every byte (in chunks): what the fuzz and the truncation tests do with a damaged disk. */
function readAll(access: RandomAccess, limit = 4 * MiB): void {
  const buf = new Uint8Array(64 << 10);
  const end = Math.min(access.size, limit);
  for (let at = 0; at < end; at += buf.length) access.read(at, buf.subarray(0, Math.min(buf.length, end - at)));
  if (access.size > limit) access.read(access.size - 4096, new Uint8Array(4096));
}

describe('MBR (sfdisk -J is the judge)', () => {
  it('primaries, the extended partition and its logical partitions numbered from 5; ext kinds as mke2fs made them', (ctx) => {
    needTools(ctx, 'MBR disk read');
    const { mbr } = disks();
    const info = open(mbr);
    expect([info.container, info.table]).toEqual(['raw', 'mbr']);
    const ref = sfdiskJson(mbr);
    expect(ref.label).toBe('dos');
    expect(asSfdisk(info, 'mbr.img')).toEqual(ref.partitions);
    expect(info.partitions.map((p) => [p.number, p.fsKind ?? p.typeName, p.extended ?? false])).toEqual([
      [1, 'ext4', false],
      [2, 'Linux swap', false],
      [3, 'Extended', true],
      [5, 'ext2', false],
      [6, 'ext3', false],
    ]);
    const raw = fs.readFileSync(mbr);
    expectSameBytes(info.partition(5), raw.subarray(16384 * 512, (16384 + 8192) * 512), 5);
  });

  it('selectFilesystem: several ext partitions are listed; @N picks one; an absent one or the extended one is refused', (ctx) => {
    needTools(ctx, 'MBR disk read');
    const info = open(disks().mbr);
    expectError(() => selectFilesystem(info, undefined, 'disk.qcow2'), 'EUSAGE', /^disk\.qcow2: 3 partitions hold ext filesystems \(1: ext4 4 MiB, 5: ext2 4 MiB, 6: ext3 11 MiB\); name one as disk\.qcow2@N$/);
    const five = selectFilesystem(info, 5, 'mbr.img');
    expect([five.origin, five.size, five.partition?.number]).toEqual(['mbr.img@5', 4 * MiB, 5]);
    expectError(() => selectFilesystem(info, 4, 'mbr.img'), 'EUSAGE', /^mbr\.img: has no partition 4 \(its partitions: 1: ext4 4 MiB, 2: Linux swap 2 MiB, 3: Extended 17 MiB, 5: ext2 4 MiB, 6: ext3 11 MiB\)$/);
    expectError(() => selectFilesystem(info, 3, 'mbr.img'), 'EUSAGE', /partition 3 is an extended partition.*logical partitions 5, 6/);
    expectError(() => info.partition(9), 'EUSAGE', /has no partition 9/);
  });
});

describe('GPT (sfdisk -J is the judge)', () => {
  it('entries numbered by index + 1 with types, names; the one ext partition is selected', (ctx) => {
    needTools(ctx, 'GPT disk read');
    const { gpt } = disks();
    const warnings: string[] = [];
    const info = open(gpt, warnings);
    expect(warnings).toEqual([]);
    expect([info.container, info.table, info.gpt?.header]).toEqual(['raw', 'gpt', 'primary']);
    const ref = sfdiskJson(gpt);
    expect(ref.label).toBe('gpt');
    expect(asSfdisk(info, 'gpt.img').map(({ node, start, size, type, name }) => ({ node, start, size, type, name: name ?? '' }))).toEqual(
      ref.partitions.map(({ node, start, size, type, name }) => ({ node, start, size, type, name: name ?? '' })),
    );
    expect(info.partitions.map((p) => [p.number, p.fsKind ?? p.typeName])).toEqual([
      [1, 'EFI System'],
      [2, 'ext4'],
      [3, 'Linux swap'],
    ]);
    const fsys = selectFilesystem(info, undefined, 'gpt.img');
    expect([fsys.origin, fsys.partition?.number, fsys.size]).toEqual(['gpt.img@2', 2, 8 * MiB]);
    expect(sha256Of(fsys)).toBe(createHash('sha256').update(fs.readFileSync(path('root.ext4'))).digest('hex'));
  });

  for (const [what, offset] of [
    ['header', 512 + 60],
    ['entry array', 1024 + 130],
    ['signature', 512],
  ] as const) it(`a damaged primary (${what}) is replaced by the backup, and a warning says so`, (ctx) => {
    needTools(ctx, 'GPT disk read');
    const bytes = fs.readFileSync(disks().gpt);
    bytes[offset] ^= 0x5a;
    const warnings: string[] = [];
    const info = openDisk(new MemoryAccess(bytes), 'gpt.img', { onWarning: (m) => warnings.push(m) });
    expect(info.gpt?.header).toBe('backup');
    expect(warnings).toEqual([expect.stringMatching(/^gpt\.img: the primary GPT header is damaged \(.+\); using the backup at LBA 49151$/)]);
    expect(asSfdisk(info, 'gpt.img')).toEqual(asSfdisk(open(disks().gpt), 'gpt.img'));
  });

  it('4096-byte sectors: the header at byte 4096, LBAs in 4 KiB units', () => {
    const bytes = gpt4k([{ first: 256, last: 767, type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', name: 'root' }]);
    const warnings: string[] = [];
    const info = openDisk(new MemoryAccess(bytes), 'g4.img', { onWarning: (m) => warnings.push(m) });
    expect(warnings).toEqual([]);
    expect(info.gpt).toEqual({ diskGuid: '11111111-2222-4333-8444-555555555555', sectorSize: 4096, header: 'primary' });
    expect(info.partitions).toEqual([{ number: 1, start: 256 * 4096, size: 512 * 4096, type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', typeName: 'Linux filesystem', name: 'root' }]);
    bytes[4096 + 60] ^= 1;
    const backup = openDisk(new MemoryAccess(bytes), 'g4.img', { onWarning: (m) => warnings.push(m) });
    expect([backup.gpt?.header, backup.partitions]).toEqual(['backup', info.partitions]);
    expect(warnings).toEqual([expect.stringMatching(/using the backup at LBA 2047$/)]);
  });

  it('a damaged backup is said while the primary is used', (ctx) => {
    needTools(ctx, 'GPT disk read');
    const bytes = fs.readFileSync(disks().gpt);
    bytes[bytes.length - 512 + 60] ^= 1;
    const warnings: string[] = [];
    openDisk(new MemoryAccess(bytes), 'gpt.img', { onWarning: (m) => warnings.push(m) });
    expect(warnings).toEqual([expect.stringMatching(/backup GPT header at LBA 49151 is damaged \(header CRC32 mismatch\); the primary is used/)]);
  });
});

/** A GUID's bytes as GPT stores them (the first three fields little-endian). */
function guidBytes(text: string): Uint8Array {
  const h = text.replace(/-/g, '');
  const b = Uint8Array.from({ length: 16 }, (_, i) => parseInt(h.slice(2 * i, 2 * i + 2), 16));
  return Uint8Array.from([b[3]!, b[2]!, b[1]!, b[0]!, b[5]!, b[4]!, b[7]!, b[6]!, ...b.subarray(8)]);
}

/**
 * A GPT disk with 4096-byte sectors (sfdisk cannot make one in a file: it takes the file's
 * 512-byte sectors), written from UEFI 5.3: protective MBR, header at LBA 1, 128 entries at
 * LBA 2, the backup at the last LBA.
 */
function gpt4k(partitions: { first: number; last: number; type: string; name: string }[], sectors = 2048): Uint8Array {
  const ss = 4096;
  const bytes = new Uint8Array(sectors * ss);
  const dv = new DataView(bytes.buffer);
  const last = sectors - 1;
  bytes[446 + 4] = 0xee;
  dv.setUint32(446 + 8, 1, true);
  dv.setUint32(446 + 12, last, true);
  dv.setUint16(510, 0xaa55, true);
  const entries = new Uint8Array(128 * 128);
  partitions.forEach((p, i) => {
    const e = new DataView(entries.buffer, i * 128, 128);
    entries.set(guidBytes(p.type), i * 128);
    entries.set(guidBytes(`00000000-0000-4000-8000-00000000000${i + 1}`), i * 128 + 16);
    e.setBigUint64(32, BigInt(p.first), true);
    e.setBigUint64(40, BigInt(p.last), true);
    [...p.name].forEach((c, j) => e.setUint16(56 + 2 * j, c.charCodeAt(0), true));
  });
  for (const [my, alt, entryLba] of [
    [1, last, 2],
    [last, 1, last - 4],
  ] as const) {
    bytes.set(entries, entryLba * ss);
    const h = new DataView(bytes.buffer, my * ss, ss);
    bytes.set(new TextEncoder().encode('EFI PART'), my * ss);
    h.setUint32(8, 0x00010000, true);
    h.setUint32(12, 92, true);
    h.setBigUint64(24, BigInt(my), true);
    h.setBigUint64(32, BigInt(alt), true);
    h.setBigUint64(40, 6n, true);
    h.setBigUint64(48, BigInt(last - 5), true);
    bytes.set(guidBytes('11111111-2222-4333-8444-555555555555'), my * ss + 56);
    h.setBigUint64(72, BigInt(entryLba), true);
    h.setUint32(80, 128, true);
    h.setUint32(84, 128, true);
    h.setUint32(88, crc32(entries), true);
    h.setUint32(16, crc32(bytes, my * ss, my * ss + 92), true);
  }
  return bytes;
}

/** The GPT header at `lba` with its entry array and header CRCs recomputed after an edit. */
function resealGpt(bytes: Uint8Array, lba: number): void {
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  const h = lba * 512;
  const entries = Number(dv.getBigUint64(h + 72, true)) * 512;
  const count = dv.getUint32(h + 80, true);
  const size = dv.getUint32(h + 84, true);
  // Mutated fields may say anything: CRCs only over what lies in the buffer (a header size of
  // 4 GiB made crc32 walk 4e9 bytes past the end: a fuzz run that took minutes).
  if (count * size <= 1 << 20 && entries + count * size <= bytes.length) dv.setUint32(h + 88, crc32(bytes, entries, entries + count * size), true);
  dv.setUint32(h + 16, 0, true);
  dv.setUint32(h + 16, crc32(bytes, h, h + Math.min(dv.getUint32(h + 12, true), 512)), true);
}

describe('hostile partition tables: typed errors naming the place', () => {
  /** Sector 0 with one extended partition (sectors 100-1099), EBRs written by `ebrs`. */
  function mbrWithChain(ebrs: (sector: (n: number) => DataView) => void, diskSectors = 2048): Uint8Array {
    const bytes = new Uint8Array(diskSectors * 512);
    const sector = (n: number): DataView => new DataView(bytes.buffer, n * 512, 512);
    const entry = (dv: DataView, i: number, type: number, start: number, count: number): void => {
      dv.setUint8(446 + 16 * i + 4, type);
      dv.setUint32(446 + 16 * i + 8, start, true);
      dv.setUint32(446 + 16 * i + 12, count, true);
      dv.setUint16(510, 0xaa55, true);
    };
    entry(sector(0), 0, 0x05, 100, 1000);
    ebrs((n) => {
      const dv = sector(n);
      dv.setUint16(510, 0xaa55, true);
      return Object.assign(dv, { entry: (i: number, type: number, start: number, count: number) => entry(dv, i, type, start, count) });
    });
    return bytes;
  }
  type Ebr = DataView & { entry(i: number, type: number, start: number, count: number): void };

  it('an EBR chain that loops', () => {
    const bytes = mbrWithChain((s) => {
      const a = s(100) as Ebr;
      a.entry(0, 0x83, 1, 10);
      a.entry(1, 0x05, 100, 50); // next EBR at 100 + 100
      const b = s(200) as Ebr;
      b.entry(0, 0x83, 1, 10);
      b.entry(1, 0x05, 0, 50); // back to the first
    });
    expectError(() => openDisk(new MemoryAccess(bytes), 'loop.img'), 'ECORRUPT', /^loop\.img: EBR chain of partition 1 loops back to sector 100$/);
  });

  it('an EBR chain longer than the bound', () => {
    const bytes = mbrWithChain((s) => {
      for (let i = 0; i < 300; i++) {
        const e = s(100 + 3 * i) as Ebr;
        e.entry(0, 0x83, 1, 1);
        e.entry(1, 0x05, 3 * (i + 1), 3);
      }
    }, 4096);
    // The extended partition must hold them all.
    new DataView(bytes.buffer).setUint32(446 + 12, 3000, true);
    expectError(() => openDisk(new MemoryAccess(bytes), 'long.img'), 'ECORRUPT', new RegExp(`EBR chain of partition 1 is longer than ${MAX_EBRS} entries`));
  });

  it('an EBR link outside the extended partition and the disk', () => {
    const bytes = mbrWithChain((s) => {
      const a = s(100) as Ebr;
      a.entry(0, 0x83, 1, 10);
      a.entry(1, 0x05, 5000, 50);
    });
    expectError(() => openDisk(new MemoryAccess(bytes), 'out.img'), 'ECORRUPT', /EBR at sector 5100 lies outside extended partition 1/);
  });

  it('a primary partition past the end of the disk', () => {
    const bytes = mbrWithChain(() => {});
    new DataView(bytes.buffer).setUint32(446 + 12, 100_000, true);
    expectError(() => openDisk(new MemoryAccess(bytes), 'big.img'), 'ECORRUPT', /MBR partition 1 \(sectors 100-100099\) passes the end of the disk \(2048 sectors\)/);
  });

  const entry = (n: number): number => 1024 + (n - 1) * 128;
  const backupEntry = (size: number, n: number): number => size - 33 * 512 + (n - 1) * 128;
  const editGpt = (edit: (bytes: Buffer, dv: DataView, backupLba: number) => void): Buffer => {
    const bytes = fs.readFileSync(disks().gpt);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const backupLba = bytes.length / 512 - 1;
    edit(bytes, dv, backupLba);
    resealGpt(bytes, 1);
    resealGpt(bytes, backupLba);
    return bytes;
  };

  it('GPT: an entry that ends before it starts', (ctx) => {
    needTools(ctx, 'GPT fixtures');
    const bytes = editGpt((b, dv) => {
      for (const at of [entry(2), backupEntry(b.length, 2)]) dv.setBigUint64(at + 40, 100n, true);
    });
    expectError(() => openDisk(new MemoryAccess(bytes), 'gpt.img'), 'ECORRUPT', /^gpt\.img: GPT partition 2 ends \(LBA 100\) before it starts \(LBA 6144\)$/);
  });

  it('GPT: an entry past the end of the disk', (ctx) => {
    needTools(ctx, 'GPT fixtures');
    const bytes = editGpt((b, dv) => {
      for (const at of [entry(3), backupEntry(b.length, 3)]) dv.setBigUint64(at + 40, 1n << 40n, true);
    });
    expectError(() => openDisk(new MemoryAccess(bytes), 'gpt.img'), 'ECORRUPT', /GPT partition 3 \(LBA 22528-1099511627776\) is not on the disk \(last LBA 49151\)/);
  });

  it('GPT: entry size under 128 bytes and an absurd entry count (in both headers, CRCs valid)', (ctx) => {
    needTools(ctx, 'GPT fixtures');
    const small = editGpt((_b, dv, backup) => {
      for (const lba of [1, backup]) dv.setUint32(lba * 512 + 84, 64, true);
    });
    expectError(() => openDisk(new MemoryAccess(small), 'gpt.img'), 'ECORRUPT', /both GPT headers are damaged \(primary: partition entry size 64 is not 128 x 2\^n; backup: partition entry size 64/);
    const many = editGpt((_b, dv, backup) => {
      for (const lba of [1, backup]) dv.setUint32(lba * 512 + 80, 1_000_000, true);
    });
    expectError(() => openDisk(new MemoryAccess(many), 'gpt.img'), 'ECORRUPT', /both GPT headers are damaged \(primary: 1000000 partition entries of 128 bytes are more than we read/);
  });

  it('GPT: both headers with a bad CRC', (ctx) => {
    needTools(ctx, 'GPT fixtures');
    const bytes = fs.readFileSync(disks().gpt);
    bytes[512 + 60] ^= 1;
    bytes[bytes.length - 512 + 60] ^= 1;
    expectError(() => openDisk(new MemoryAccess(bytes), 'gpt.img'), 'ECORRUPT', /^gpt\.img: both GPT headers are damaged \(primary: header CRC32 mismatch; backup: header CRC32 mismatch at LBA 49151\)$/);
  });
});

/** qemu-img's options for each variant, and what its header must say. */
const QCOW2_VARIANTS: { name: string; args: string[]; version: number; compressed?: 'deflate' | 'zstd'; extendedL2?: boolean }[] = [
  { name: 'v3', args: [], version: 3 },
  { name: 'v2 (compat=0.10)', args: ['-o', 'compat=0.10'], version: 2 },
  { name: 'deflate-compressed', args: ['-c'], version: 3, compressed: 'deflate' },
  { name: 'deflate-compressed v2, 4 KiB clusters', args: ['-c', '-o', 'compat=0.10,cluster_size=4096'], version: 2, compressed: 'deflate' },
  { name: 'zstd-compressed', args: ['-c', '-o', 'compression_type=zstd'], version: 3, compressed: 'zstd' },
  { name: 'extended L2 entries', args: ['-o', 'extended_l2=on,cluster_size=128k'], version: 3, extendedL2: true },
  { name: '512-byte clusters', args: ['-o', 'cluster_size=512'], version: 3 },
  { name: '2 MiB clusters, compressed', args: ['-c', '-o', 'cluster_size=2M'], version: 3, compressed: 'deflate' },
];

function qemuImgSupports(option: string): boolean {
  const r = spawnSync('qemu-img', ['create', '-f', 'qcow2', '-o', 'help'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes(option);
}

describe('qcow2: the virtual disk equals the raw disk qemu-img converted', () => {
  for (const { name, args, version, compressed, extendedL2 } of QCOW2_VARIANTS) it(name, async (ctx) => {
    needTools(ctx, 'qcow2 read');
    if (compressed === 'zstd') requireJudge(ctx, qemuImgSupports('compression_type') ? undefined : 'this qemu-img has no compression_type option', 'qcow2 zstd');
    if (extendedL2) requireJudge(ctx, qemuImgSupports('extended_l2') ? undefined : 'this qemu-img has no extended_l2 option', 'qcow2 extended L2');
    const { mbr, gpt } = disks();
    for (const [raw, label] of [
      [mbr, 'mbr'],
      [gpt, 'gpt'],
    ] as const) {
      const out = path(`${label}-${name.replace(/[^a-z0-9]+/gi, '_')}.qcow2`);
      sh('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', ...args, raw, out]);
      const warnings: string[] = [];
      const info = await openDiskAsync(FileSource.openFile(out), 'disk.qcow2', { onWarning: (m) => warnings.push(m) });
      expect(warnings).toEqual([]);
      expect([info.container, info.table, info.qcow2?.version, info.qcow2?.extendedL2]).toEqual(['qcow2', label, version, extendedL2 ?? false]);
      if (compressed) expect(info.qcow2?.compressionType).toBe(compressed);
      const rawInfo = open(raw);
      expect(info.partitions).toEqual(rawInfo.partitions);
      expectSameBytes(info.disk, fs.readFileSync(raw), version * 31 + args.length);
      // With the L2 cache at its floor (two tables), tables are evicted and read again.
      expectSameBytes(new Qcow2Access(new MemoryAccess(fs.readFileSync(out)), 'disk.qcow2', { l2CacheBytes: 0 }), fs.readFileSync(raw), 7);
      if (compressed) {
        // qemu-img check agrees the image is sound and has compressed clusters.
        const check = JSON.parse(sh('qemu-img', ['check', '--output=json', out])) as { 'compressed-clusters'?: number; 'check-errors': number };
        expect(check['check-errors']).toBe(0);
        expect(check['compressed-clusters']).toBeGreaterThan(0);
      }
    }
  });
});

/** A qcow2 image of the GPT disk, its header fields and L1 table at hand for editing. */
function qcow2Fixture(args: string[] = []): { bytes: Buffer; dv: DataView; l1: number; clusterSize: number } {
  const out = path(`edit-${args.join('_').replace(/[^a-z0-9]+/gi, '_')}.qcow2`);
  if (!fs.existsSync(out)) sh('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', ...args, disks().gpt, out]);
  const bytes = fs.readFileSync(out);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return { bytes, dv, l1: Number(dv.getBigUint64(40)), clusterSize: 2 ** dv.getUint32(20) };
}

describe('hostile qcow2 images: refused by name', () => {
  it('an L1 entry pointing outside the file', (ctx) => {
    needTools(ctx, 'qcow2 fixtures');
    const { bytes, dv, l1 } = qcow2Fixture();
    dv.setBigUint64(l1, (1n << 63n) | (1n << 40n));
    expectError(() => openDisk(new MemoryAccess(bytes), 'disk.qcow2'), 'ECORRUPT', /^disk\.qcow2: qcow2 L1 entry 0 points to an L2 table at offset 1099511627776, outside the file \(\d+ bytes\)$/);
  });

  it('an L2 entry pointing outside the file, and one not cluster-aligned', (ctx) => {
    needTools(ctx, 'qcow2 fixtures');
    for (const [target, message] of [
      [1n << 40n, /qcow2 guest cluster 0 maps to host offset 1099511627776, outside the file/],
      [0x10200n, /qcow2 guest cluster 0 maps to unaligned host offset 66048/],
    ] as const) {
      const { bytes, dv, l1 } = qcow2Fixture();
      const l2 = Number(dv.getBigUint64(l1) & 0x00fffffffffffe00n);
      dv.setBigUint64(l2, (1n << 63n) | target);
      expectError(() => openDisk(new MemoryAccess(bytes), 'disk.qcow2'), 'ECORRUPT', message);
    }
  });

  it('a backing file', (ctx) => {
    needTools(ctx, 'qcow2 fixtures');
    qcow2Fixture();
    sh('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', disks().tiny, path('base.qcow2')]);
    sh('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', path('over.qcow2')]);
    const err = expectError(() => open(path('over.qcow2')), 'EFORMAT', /^over\.qcow2: has a backing file 'base\.qcow2'; reading qcow2 overlays is not supported/);
    expect(err.data.backingFile).toBe('base.qcow2');
  });

  it('a truncated image: the header, and the clusters', (ctx) => {
    needTools(ctx, 'qcow2 fixtures');
    const { bytes } = qcow2Fixture();
    expectError(() => openDisk(new MemoryAccess(bytes.subarray(0, 50)), 'disk.qcow2'), 'ECORRUPT', /^disk\.qcow2: truncated qcow2 header \(50 bytes\)$/);
    expectError(
      () => {
        const info = openDisk(new MemoryAccess(bytes.subarray(0, Math.floor(bytes.length / 2))), 'disk.qcow2');
        readAll(info.disk, 64 * MiB);
      },
      'ECORRUPT',
      /outside the file/,
    );
  });

  it('a huge l1_size', (ctx) => {
    needTools(ctx, 'qcow2 fixtures');
    const { bytes, dv } = qcow2Fixture();
    dv.setUint32(36, 0xffffffff);
    expectError(() => openDisk(new MemoryAccess(bytes), 'disk.qcow2'), 'ECORRUPT', /^disk\.qcow2: qcow2 L1 table of 4294967295 entries is larger than qemu allows \(32 MiB\)$/);
    dv.setUint32(36, 0);
    expectError(() => openDisk(new MemoryAccess(bytes), 'disk.qcow2'), 'ECORRUPT', /L1 table of 0 entries is too small for a 25165824-byte disk/);
  });

  it('an unknown incompatible feature bit, encryption, the corrupt bit; the dirty bit reads', (ctx) => {
    needTools(ctx, 'qcow2 fixtures');
    const { bytes, dv } = qcow2Fixture();
    const incompat = dv.getBigUint64(72);
    dv.setBigUint64(72, incompat | (1n << 7n) | (1n << 40n));
    expectError(() => openDisk(new MemoryAccess(bytes), 'disk.qcow2'), 'EFORMAT', /^disk\.qcow2: uses unknown qcow2 incompatible feature bits 7, 40$/);
    dv.setBigUint64(72, incompat | 2n);
    expectError(() => openDisk(new MemoryAccess(bytes), 'disk.qcow2'), 'ECORRUPT', /is marked corrupt by qemu/);
    dv.setBigUint64(72, incompat | 4n);
    expectError(() => openDisk(new MemoryAccess(bytes), 'disk.qcow2'), 'EFORMAT', /keeps its data in an external data file/);
    dv.setBigUint64(72, incompat | 1n);
    expect(openDisk(new MemoryAccess(bytes), 'disk.qcow2').qcow2?.dirty).toBe(true);
    dv.setBigUint64(72, incompat);
    dv.setUint32(32, 2);
    expectError(() => openDisk(new MemoryAccess(bytes), 'disk.qcow2'), 'EFORMAT', /^disk\.qcow2: is encrypted \(LUKS\); encrypted qcow2 images are not supported$/);
  });

  it('a compressed cluster that does not decode', (ctx) => {
    needTools(ctx, 'qcow2 fixtures');
    const { bytes, dv, l1, clusterSize } = qcow2Fixture(['-c']);
    const l2 = Number(dv.getBigUint64(l1) & 0x00fffffffffffe00n);
    // The first compressed cluster: garble its data.
    let found = -1;
    for (let i = 0; i < clusterSize / 8 && found < 0; i++) if (dv.getBigUint64(l2 + i * 8) & (1n << 62n)) found = i;
    expect(found).toBeGreaterThanOrEqual(0);
    const x = 62n - (BigInt(Math.log2(clusterSize)) - 8n);
    const host = Number(dv.getBigUint64(l2 + found * 8) & ((1n << x) - 1n));
    bytes.fill(0xff, host, host + 16);
    const q = new Qcow2Access(new MemoryAccess(bytes), 'disk.qcow2');
    expectError(() => q.read(found * clusterSize, new Uint8Array(10)), 'ECORRUPT', new RegExp(`^disk\\.qcow2: qcow2 compressed guest cluster ${found} at host offset ${host}: corrupt deflate data`));
  });
});

describe('fuzz: mutated disks open and read, or throw ExtimgError (never anything else)', () => {
  /** Mutate `bytes` at (position, value) pairs, positions mostly in the first `hot` bytes. */
  const mutations = (length: number, hot: number[]): fc.Arbitrary<[number, number][]> =>
    fc.array(fc.tuple(fc.oneof(...hot.map((h) => fc.nat(Math.min(h, length) - 1)), fc.nat(length - 1)), fc.oneof(fc.nat(255), fc.constantFrom(0, 0xff, 0x80, 0x01))), { minLength: 1, maxLength: 8 });

  const outcomes = new Map<string, number>();
  function survives(bytes: Uint8Array): void {
    try {
      const info = openDisk(new MemoryAccess(bytes), 'fuzz.img', { onWarning: () => {} });
      readAll(info.disk, 2 * MiB);
      for (const p of info.partitions) readAll(info.partition(p.number), 256 << 10);
      readAll(selectFilesystem(info, undefined), 256 << 10);
      outcomes.set('read', (outcomes.get('read') ?? 0) + 1);
    } catch (e) {
      if (!(e instanceof ExtimgError)) throw e;
      outcomes.set(e.code, (outcomes.get(e.code) ?? 0) + 1);
    }
  }

  it('a small compressed qcow2 (4 KiB clusters)', (ctx) => {
    needTools(ctx, 'fuzz fixtures');
    const out = path('fuzz.qcow2');
    sh('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', '-c', '-o', 'cluster_size=4096', disks().tiny, out]);
    const original = fs.readFileSync(out);
    survives(original);
    fc.assert(
      fc.property(mutations(original.length, [112, 4096 * 4]), (m) => {
        const bytes = Uint8Array.from(original);
        for (const [at, v] of m) bytes[at] = v;
        survives(bytes);
      }),
      { numRuns: 150 },
    );
    if (process.env.EXTIMG_FUZZ_STATS) console.log('qcow2', [...outcomes]);
  });

  it('a small GPT disk', (ctx) => {
    needTools(ctx, 'fuzz fixtures');
    const original = fs.readFileSync(disks().tiny);
    const backup = original.length - 33 * 512;
    fc.assert(
      fc.property(mutations(original.length, [34 * 512, 1024 + 256]), fc.boolean(), (m, alsoBackup) => {
        const bytes = Uint8Array.from(original);
        for (const [at, v] of m) {
          bytes[at] = v;
          if (alsoBackup && at >= 1024 && at < 1024 + 32 * 512) bytes[backup + at - 1024] = v;
        }
        if (alsoBackup) {
          // Valid CRCs over the mutated fields: the checks behind the CRCs get exercised too.
          resealGpt(bytes, 1);
          resealGpt(bytes, original.length / 512 - 1);
        }
        survives(bytes);
      }),
      { numRuns: 200 },
    );
    if (process.env.EXTIMG_FUZZ_STATS) console.log('gpt', [...outcomes]);
  });
});
