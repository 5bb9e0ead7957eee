import { spawnSync } from 'node:child_process';

/** e2fsprogs as the judge: `e2fsck -fn` must exit 0; `dumpe2fs -h` for the superblock's own view. */

export interface FsckResult {
  code: number;
  output: string;
  /** From the summary line "IMAGE: X/Y files (...), A/B blocks". */
  usedInodes?: number;
  totalInodes?: number;
  usedBlocks?: number;
  totalBlocks?: number;
}

export function e2fsck(image: string): FsckResult {
  const r = spawnSync('e2fsck', ['-fn', image], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.error) throw new Error(`e2fsck could not run: ${r.error.message}`);
  const output = `${r.stdout}${r.stderr}`;
  const result: FsckResult = { code: r.status ?? -1, output };
  const m = /: (\d+)\/(\d+) files \([^)]*\), (\d+)\/(\d+) blocks/.exec(output);
  if (m) {
    result.usedInodes = Number(m[1]);
    result.totalInodes = Number(m[2]);
    result.usedBlocks = Number(m[3]);
    result.totalBlocks = Number(m[4]);
  }
  return result;
}

/** Throw with e2fsck's full output unless it exits 0. */
export function expectClean(image: string, label = image): FsckResult {
  const r = e2fsck(image);
  if (r.code !== 0) throw new Error(`e2fsck -fn ${label} exited ${r.code}:\n${r.output}`);
  return r;
}

export interface SuperblockInfo {
  /** Every "Key: value" line of `dumpe2fs -h`, keys as printed. */
  fields: Map<string, string>;
  blockCount: number;
  freeBlocks: number;
  inodeCount: number;
  freeInodes: number;
  blockSize: number;
  inodeSize: number;
  blocksPerGroup: number;
  inodesPerGroup: number;
  reservedGdtBlocks: number;
  features: string[];
  uuid: string;
  label: string;
  /** Number of block groups (derived). */
  groups: number;
  journalSizeBlocks?: number;
}

function num(fields: Map<string, string>, key: string, fallback?: number): number {
  const v = fields.get(key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new Error(`dumpe2fs -h: no '${key}'`);
  }
  return Number(v);
}

export function dumpe2fs(image: string): SuperblockInfo {
  const r = spawnSync('dumpe2fs', ['-h', image], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`dumpe2fs -h ${image} exited ${r.status}: ${r.stderr}`);
  const fields = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const m = /^([A-Za-z][A-Za-z0-9 _#/()-]*?):\s*(.*)$/.exec(line);
    if (m && !fields.has(m[1]!)) fields.set(m[1]!, m[2]!.trim());
  }
  const blockCount = num(fields, 'Block count');
  const blocksPerGroup = num(fields, 'Blocks per group');
  const firstDataBlock = num(fields, 'First block', 0);
  const info: SuperblockInfo = {
    fields,
    blockCount,
    freeBlocks: num(fields, 'Free blocks'),
    inodeCount: num(fields, 'Inode count'),
    freeInodes: num(fields, 'Free inodes'),
    blockSize: num(fields, 'Block size'),
    inodeSize: num(fields, 'Inode size', 128),
    blocksPerGroup,
    inodesPerGroup: num(fields, 'Inodes per group'),
    reservedGdtBlocks: num(fields, 'Reserved GDT blocks', 0),
    features: (fields.get('Filesystem features') ?? '').split(/\s+/).filter(Boolean),
    uuid: fields.get('Filesystem UUID') ?? '',
    label: (fields.get('Filesystem volume name') ?? '').replace(/^<none>$/, ''),
    groups: Math.ceil((blockCount - firstDataBlock) / blocksPerGroup),
  };
  const jb = fields.get('Total journal blocks');
  const js = fields.get('Total journal size') ?? fields.get('Journal size');
  if (jb !== undefined) info.journalSizeBlocks = Number(jb);
  else if (js !== undefined) {
    // "Journal size: 4096k" / "1024M": convert to blocks.
    const jm = /^(\d+)([kMG])$/.exec(js);
    if (jm) {
      const mult = jm[2] === 'k' ? 1024 : jm[2] === 'M' ? 1024 ** 2 : 1024 ** 3;
      info.journalSizeBlocks = (Number(jm[1]) * mult) / info.blockSize;
    }
  }
  return info;
}

export function hasTool(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}
