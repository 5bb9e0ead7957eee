import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildBlockMap, countIndirectBlocks, maxLogicalBlocks, type LogicalRun } from '../../src/ext/blockmap.js';

function sequentialAllocator(first = 100, limit = Infinity) {
  let next = first;
  return {
    allocate(max: number) {
      const count = Math.min(max, limit);
      const start = next;
      next += count;
      return { start, count };
    },
  };
}

/** Resolve a logical block through the map the way the kernel's ext2_get_block walks it. */
function lookup(map: ReturnType<typeof buildBlockMap>, apb: number, l: number): number {
  const byPhys = new Map(map.indirect.map((b) => [b.physical, b.pointers]));
  const deref = (blk: number, i: number): number => (blk === 0 ? 0 : byPhys.get(blk)![i]!);
  if (l < 12) return map.iBlock[l]!;
  l -= 12;
  if (l < apb) return deref(map.iBlock[12]!, l);
  l -= apb;
  if (l < apb * apb) return deref(deref(map.iBlock[13]!, Math.floor(l / apb)), l % apb);
  l -= apb * apb;
  return deref(deref(deref(map.iBlock[14]!, Math.floor(l / (apb * apb))), Math.floor(l / apb) % apb), l % apb);
}

const runsArb = (apb: number) =>
  fc
    .array(fc.tuple(fc.nat({ max: 12 + apb + apb * apb + 3 * apb }), fc.integer({ min: 1, max: 3 * apb })), { maxLength: 8 })
    .map((pairs) => {
      // Turn (gap, length) pairs into sorted, non-overlapping runs.
      const runs: LogicalRun[] = [];
      let at = 0;
      for (const [gap, len] of pairs) {
        const start = at + (gap % (apb * 4));
        runs.push({ start, count: len });
        at = start + len;
      }
      return runs;
    });

describe('block map', () => {
  for (const apb of [256, 512, 1024]) {
    it(`counts indirect blocks exactly as it places them (apb ${apb})`, () => {
      fc.assert(
        fc.property(runsArb(apb), fc.integer({ min: 1, max: 50 }), (runs, chunk) => {
          const map = buildBlockMap(runs, apb, sequentialAllocator(100, chunk));
          expect(map.indirect.length).toBe(countIndirectBlocks(runs, apb));
          const dataBlocks = runs.reduce((a, r) => a + r.count, 0);
          expect(map.totalBlocks).toBe(dataBlocks + map.indirect.length);
          // Every data block resolves through the pointers to where it was placed.
          for (const d of map.data) {
            for (const k of [0, d.count - 1]) expect(lookup(map, apb, d.logical + k)).toBe(d.physical + k);
          }
          // Holes resolve to 0.
          const mapped = new Set<number>();
          for (const r of runs) for (let i = 0; i < r.count; i++) mapped.add(r.start + i);
          for (const r of runs) if (r.start > 0 && !mapped.has(r.start - 1)) expect(lookup(map, apb, r.start - 1)).toBe(0);
        }),
        { numRuns: 200 },
      );
    });
  }

  it('puts each indirect block before the data it maps', () => {
    const map = buildBlockMap([{ start: 0, count: 12 + 256 + 300 }], 256, sequentialAllocator(1000));
    // 12 direct, IND, 256 data, DIND, IND, 256 data, IND, 44 data
    expect(map.iBlock[12]).toBe(1012);
    expect(map.iBlock[13]).toBe(1012 + 1 + 256);
    expect(map.indirect.map((b) => b.physical)).toEqual([1012, 1269, 1270, 1527]);
  });

  it('reaches triple indirect for a sparse file at 1 KiB blocks', () => {
    const apb = 256;
    const l = 12 + apb + apb * apb + 5;
    const map = buildBlockMap([{ start: l, count: 1 }], apb, sequentialAllocator(50));
    expect(map.iBlock[14]).not.toBe(0);
    expect(map.indirect.length).toBe(3);
    expect(lookup(map, apb, l)).toBe(map.data[0]!.physical);
    expect(maxLogicalBlocks(apb)).toBe(12 + 256 + 65536 + 16777216);
  });
});
