/**
 * Which blocks of the filesystem are in use: per block group, a sorted list of used runs
 * [start, end) that merge when they touch (as e2fsprogs' rb-tree bitmaps, lib/ext2fs/blkmap64_rb.c,
 * keep extents rather than bits). A 20 TiB filesystem has 163,840 groups and 5.4 billion
 * blocks; as runs, a freshly built one costs a few entries per group that holds anything, where
 * a bit array would take 640 MiB. The writer turns each group's runs into its bitmap block only
 * when it writes it.
 */
export class BlockSpace {
  /** Used runs per group: flat [start0, end0, start1, end1, ...], sorted, never touching. */
  private readonly runs = new Map<number, number[]>();
  private usedTotal = 0;

  constructor(
    /** s_first_data_block: 1 with 1 KiB blocks (block 0 belongs to no group), else 0. */
    readonly firstDataBlock: number,
    readonly blocksPerGroup: number,
    readonly blocksCount: number,
  ) {}

  get groupCount(): number {
    return Math.ceil((this.blocksCount - this.firstDataBlock) / this.blocksPerGroup);
  }

  groupOf(block: number): number {
    return Math.floor((block - this.firstDataBlock) / this.blocksPerGroup);
  }

  groupStart(g: number): number {
    return this.firstDataBlock + g * this.blocksPerGroup;
  }

  groupEnd(g: number): number {
    return Math.min(this.groupStart(g) + this.blocksPerGroup, this.blocksCount);
  }

  /** A copy with the same marks (the geometry's metadata map, for one placement attempt). */
  clone(): BlockSpace {
    const copy = new BlockSpace(this.firstDataBlock, this.blocksPerGroup, this.blocksCount);
    for (const [g, r] of this.runs) copy.runs.set(g, [...r]);
    copy.usedTotal = this.usedTotal;
    return copy;
  }

  /** Blocks marked in use, in all. */
  get used(): number {
    return this.usedTotal;
  }

  /** Mark [start, start + count) in use (it may cross groups and overlap used blocks). */
  mark(start: number, count: number): void {
    let b = start;
    const end = start + count;
    while (b < end) {
      const g = this.groupOf(b);
      const e = Math.min(end, this.groupEnd(g));
      this.markInGroup(g, b, e);
      b = e;
    }
  }

  private markInGroup(g: number, s: number, e: number): void {
    let r = this.runs.get(g);
    if (!r) {
      r = [];
      this.runs.set(g, r);
    }
    // The common case: appending at or after the last run.
    const n = r.length;
    if (n === 0 || s > r[n - 1]!) {
      r.push(s, e);
      this.usedTotal += e - s;
      return;
    }
    if (s === r[n - 1]) {
      this.usedTotal += e - s;
      r[n - 1] = e;
      return;
    }
    // General case: merge [s, e) into the sorted runs.
    let i = 0;
    while (i < n && r[i + 1]! < s) i += 2; // first run that ends at or after s
    let j = i;
    let ns = s;
    let ne = e;
    let covered = 0;
    while (j < n && r[j]! <= e) {
      ns = Math.min(ns, r[j]!);
      ne = Math.max(ne, r[j + 1]!);
      covered += r[j + 1]! - r[j]!;
      j += 2;
    }
    r.splice(i, j - i, ns, ne);
    this.usedTotal += ne - ns - covered;
  }

  /** Whether `block` is in use. */
  isUsed(block: number): boolean {
    const r = this.runs.get(this.groupOf(block));
    if (!r) return false;
    const i = this.runIndex(r, block);
    return i >= 0 && block < r[i + 1]!;
  }

  /** Index (even) of the last run starting at or before `block`, or -2. */
  private runIndex(r: number[], block: number): number {
    let lo = 0;
    let hi = r.length / 2 - 1;
    let found = -2;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (r[mid * 2]! <= block) {
        found = mid * 2;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** The first free block at or after `block`, or blocksCount when there is none. */
  nextFree(block: number): number {
    let b = Math.max(block, this.firstDataBlock);
    while (b < this.blocksCount) {
      const g = this.groupOf(b);
      const r = this.runs.get(g);
      if (r) {
        const i = this.runIndex(r, b);
        if (i >= 0 && b < r[i + 1]!) b = r[i + 1]!;
      }
      if (b < this.groupEnd(g)) return b;
      b = this.groupEnd(g);
    }
    return this.blocksCount;
  }

  /** How many blocks from `block` (which must be free) on are free, counting at most `max`. */
  freeRun(block: number, max: number): number {
    let b = block;
    const limit = Math.min(this.blocksCount, block + max);
    while (b < limit) {
      const g = this.groupOf(b);
      const r = this.runs.get(g);
      const ge = Math.min(this.groupEnd(g), limit);
      if (r) {
        const i = this.runIndex(r, b);
        if (i >= 0 && b < r[i + 1]!) return b - block;
        const next = i + 2 < r.length ? r[i + 2]! : Infinity;
        if (next < ge) return next - block;
      }
      b = ge;
    }
    return b - block;
  }

  /**
   * ext2fs_get_free_blocks2(): the first block b in [start, finish) with `num` free blocks from
   * b on; past the end it wraps to the first data block when finish <= start. Undefined if none.
   */
  findFree(start: number, finish: number, num: number): number | undefined {
    let b = start || this.firstDataBlock;
    const wrap = finish <= start;
    let wrapped = false;
    for (;;) {
      if (!wrap && b >= finish) return undefined;
      if (wrap && wrapped && b >= finish) return undefined;
      if (b + num - 1 >= this.blocksCount) {
        if (!wrap || wrapped) return undefined;
        wrapped = true;
        b = this.firstDataBlock;
        continue;
      }
      const f = this.nextFree(b);
      if (f !== b) {
        b = f;
        continue;
      }
      const run = this.freeRun(b, num);
      if (run >= num) return b;
      b += run;
    }
  }

  /** Used blocks of group g. */
  usedInGroup(g: number): number {
    const r = this.runs.get(g);
    if (!r) return 0;
    let n = 0;
    for (let i = 0; i < r.length; i += 2) n += r[i + 1]! - r[i]!;
    return n;
  }

  /** Groups that hold at least one used block, ascending. */
  usedGroups(): number[] {
    return [...this.runs.keys()].filter((g) => this.runs.get(g)!.length > 0).sort((a, b) => a - b);
  }

  /** The used runs of group g (absolute blocks), as [start, end) pairs. */
  runsOf(g: number): readonly number[] {
    return this.runs.get(g) ?? [];
  }

  /**
   * Group g's block bitmap: `bytes` long (a block), bit i for block groupStart + i; bits past
   * the group's last block set, as e2fsck expects of a short last group.
   */
  bitmap(g: number, bytes: number): Uint8Array {
    const out = new Uint8Array(bytes);
    const base = this.groupStart(g);
    const r = this.runs.get(g) ?? [];
    for (let i = 0; i < r.length; i += 2) setBits(out, r[i]! - base, r[i + 1]! - base);
    const n = this.groupEnd(g) - base;
    if (n < bytes * 8) setBits(out, n, bytes * 8);
    return out;
  }
}

/** Set bits [from, to) of a bit array (bit i in byte i >> 3, position i & 7). */
export function setBits(bits: Uint8Array, from: number, to: number): void {
  let i = from;
  while (i < to && i & 7) {
    bits[i >> 3]! |= 1 << (i & 7);
    i++;
  }
  const full = to & ~7;
  if (i < full) {
    bits.fill(0xff, i >> 3, full >> 3);
    i = full;
  }
  while (i < to) {
    bits[i >> 3]! |= 1 << (i & 7);
    i++;
  }
}
