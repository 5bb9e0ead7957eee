import fc from 'fast-check';
import type { BuildOptions } from '../../src/ext/options.js';
import { BytesContent, type FileContent } from '../../src/tree/content.js';
import { bytesToKey, keyToBytes } from '../../src/tree/names.js';
import type { MetaInput } from '../../src/tree/tree.js';
import { Tree } from '../../src/tree/tree.js';
import { denseBytes, SparseContent } from './content.js';

/**
 * Random trees for property tests. The arbitrary produces a plain-data spec (printable and
 * shrinkable by fast-check); `specToTree` turns it into a Tree.
 */

export interface MetaSpec {
  mode: number;
  uid: number;
  gid: number;
  mtime: { sec: number; nsec: number };
}

/** File content: dense bytes from a seed, or a sparse file with seeded data in `ranges`. */
export interface ContentSpec {
  seed: number;
  size: number;
  /** [offset, length] pairs, any order, may overlap (normalised when built). */
  ranges?: Array<[number, number]>;
}

export type NodeSpec =
  | { kind: 'dir'; meta: MetaSpec; children: Array<[name: string, node: NodeSpec]> }
  | { kind: 'file'; meta: MetaSpec; content: ContentSpec }
  | { kind: 'symlink'; meta: MetaSpec; target: string }
  | { kind: 'chr' | 'blk'; meta: MetaSpec; major: number; minor: number }
  | { kind: 'fifo' | 'socket'; meta: MetaSpec };

export type SpecOptions = Required<Pick<BuildOptions, 'type' | 'blockSize' | 'inodeSize'>> &
  Pick<BuildOptions, 'features'> &
  Pick<BuildOptions, 'resizeInode' | 'reservedPercent' | 'headroom' | 'journalBlocks' | 'label'>;

export interface TreeSpec {
  options: SpecOptions;
  root: Extract<NodeSpec, { kind: 'dir' }>;
  /** Hard links: [index into the non-directories, index into the directories, new name]. */
  links: Array<[number, number, string]>;
}

// Names and targets are byte strings (one char per byte) so the spec prints readably.

const encoder = new TextEncoder();
const asKey = (s: string): string => bytesToKey(encoder.encode(s));

function cleanName(key: string): string {
  let k = key.replace(/[\0/]/g, '_');
  if (k.length > 255) k = k.slice(0, 255);
  if (k === '' || k === '.' || k === '..') k = `${k}x`;
  return k;
}

export const nameArb: fc.Arbitrary<string> = fc
  .oneof(
    { weight: 6, arbitrary: fc.stringMatching(/^[a-z0-9_.-]{1,12}$/) },
    { weight: 2, arbitrary: fc.fullUnicodeString({ minLength: 1, maxLength: 24 }).map(asKey) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => bytesToKey(b)) },
    { weight: 1, arbitrary: fc.integer({ min: 100, max: 255 }).map((n) => 'L'.repeat(n)) },
  )
  .map(cleanName);

function metaArb(inodeSize: 128 | 256, defaultMode?: number): fc.Arbitrary<MetaSpec> {
  const maxSec = inodeSize === 256 ? 2 ** 34 - 2 ** 31 - 1 : 2 ** 31 - 1;
  return fc.record({
    mode: defaultMode !== undefined ? fc.constant(defaultMode) : fc.oneof(fc.constantFrom(0o644, 0o755, 0o600), fc.integer({ min: 0, max: 0o7777 })),
    // 0xffffffff is (uid_t)-1, which the kernel shows as the overflow id: not a round-trip value.
    uid: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 70000 }), fc.constant(0xfffffffe), fc.integer({ min: 0, max: 0xfffffffe })),
    gid: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 70000 }), fc.constant(0xfffffffe), fc.integer({ min: 0, max: 0xfffffffe })),
    mtime: fc.record({
      sec: fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: 0, max: 2 ** 31 - 1 }) },
        { weight: 1, arbitrary: fc.integer({ min: -(2 ** 31), max: maxSec }) },
      ),
      nsec: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 999_999_999 })),
    }),
  });
}

function contentArb(blockSize: number): fc.Arbitrary<ContentSpec> {
  return fc.oneof(
    { weight: 5, arbitrary: fc.record({ seed: fc.nat(), size: fc.integer({ min: 0, max: 3 * blockSize }) }) },
    { weight: 2, arbitrary: fc.record({ seed: fc.nat(), size: fc.integer({ min: 0, max: 300 * blockSize }) }) },
    {
      weight: 2,
      arbitrary: fc
        .record({
          seed: fc.nat(),
          size: fc.integer({ min: 1, max: 5000 * blockSize }),
          ranges: fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 3 * blockSize })), {
            maxLength: 4,
          }),
        })
        .map(({ seed, size, ranges }) => ({
          seed,
          size,
          ranges: ranges.map(([at, len]): [number, number] => {
            const offset = Math.min(size - 1, Math.floor(at * size));
            return [offset, Math.min(len, size - offset)];
          }),
        })),
    },
  );
}

function targetArb(blockSize: number): fc.Arbitrary<string> {
  const max = Math.min(blockSize - 1, 4095);
  return fc
    .oneof(
      { weight: 4, arbitrary: fc.stringMatching(/^[a-z0-9_./-]{1,40}$/) },
      { weight: 1, arbitrary: fc.integer({ min: 55, max: 65 }).map((n) => 't'.repeat(n)) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: max }).map((n) => 'p/'.repeat(n).slice(0, n)) },
      { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 80 }).map((b) => bytesToKey(b)) },
      { weight: 1, arbitrary: fc.fullUnicodeString({ minLength: 1, maxLength: 30 }).map(asKey) },
    )
    .map((k) => {
      let t = k.replace(/\0/g, '_');
      if (t.length > max) t = t.slice(0, max);
      return t === '' ? 'x' : t;
    });
}

/** -O changes tried on top of each type's defaults (mke2fs.conf's lists). */
const FEATURE_TOGGLES = {
  ext2: ['^dir_index', 'uninit_bg'],
  ext3: ['^dir_index', 'metadata_csum', 'uninit_bg', 'flex_bg'],
  ext4: ['^flex_bg', '^64bit', '^metadata_csum', 'metadata_csum_seed', '^huge_file', '^dir_nlink', '^extra_isize', '^has_journal', '^dir_index', 'uninit_bg'],
} as const;

/** Drop toggles mke2fs would refuse together: uninit_bg beside metadata_csum, a csum seed without it. */
function consistentToggles(type: 'ext2' | 'ext3' | 'ext4', toggles: readonly string[]): string[] {
  const has = (t: string): boolean => toggles.includes(t);
  const csum = type === 'ext4' ? !has('^metadata_csum') : has('metadata_csum');
  return toggles.filter((t) => !(t === 'uninit_bg' && csum) && !(t === 'metadata_csum_seed' && !csum));
}

export function treeSpecArb(
  constraints: { maxDepth?: number; maxChildren?: number; options?: Partial<SpecOptions>; varyLayout?: boolean } = {},
): fc.Arbitrary<TreeSpec> {
  const maxDepth = constraints.maxDepth ?? 4;
  const maxChildren = constraints.maxChildren ?? 8;
  const layoutArb = fc.record(
    {
      resizeInode: fc.boolean(),
      reservedPercent: fc.integer({ min: 0, max: 50 }),
      headroom: fc.constantFrom(0, 0.05, 0.5),
      journalBlocks: fc.integer({ min: 1024, max: 4096 }),
      label: fc.stringMatching(/^[a-z0-9_-]{0,16}$/),
    },
    { requiredKeys: [] },
  );
  const baseArb = fc.record({
    type: constraints.options?.type !== undefined ? fc.constant(constraints.options.type) : fc.constantFrom('ext2' as const, 'ext3' as const, 'ext4' as const),
    blockSize:
      constraints.options?.blockSize !== undefined
        ? fc.constant(constraints.options.blockSize)
        : fc.constantFrom(1024 as const, 2048 as const, 4096 as const),
    inodeSize:
      constraints.options?.inodeSize !== undefined ? fc.constant(constraints.options.inodeSize) : fc.constantFrom(128 as const, 256 as const),
  });
  const optionsArb: fc.Arbitrary<SpecOptions> =
    constraints.varyLayout === false
      ? baseArb
      : fc
          .tuple(baseArb, layoutArb)
          .chain(([base, layout]) => fc.subarray([...FEATURE_TOGGLES[base.type]]).map((toggles) => [base, layout, toggles] as const))
          .map(([base, layout, toggles]) => {
            const o: SpecOptions = { ...base, ...layout };
            const features = consistentToggles(base.type, toggles);
            if (features.length) o.features = [features.join(',')];
            if (o.type === 'ext2' || features.includes('^has_journal')) delete o.journalBlocks; // a journal size needs a journal
            return o;
          });
  return optionsArb.chain((options) => {
    const { blockSize, inodeSize } = options;
    const leaf: fc.Arbitrary<NodeSpec> = fc.oneof(
      { weight: 6, arbitrary: fc.record({ kind: fc.constant('file' as const), meta: metaArb(inodeSize), content: contentArb(blockSize) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('symlink' as const), meta: metaArb(inodeSize, 0o777), target: targetArb(blockSize) }) },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constantFrom('chr' as const, 'blk' as const),
          meta: metaArb(inodeSize),
          major: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xfff })),
          minor: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xfffff })),
        }),
      },
      { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('fifo' as const, 'socket' as const), meta: metaArb(inodeSize) }) },
    );
    const dir = fc.letrec<{ dir: Extract<NodeSpec, { kind: 'dir' }>; node: NodeSpec }>((tie) => ({
      dir: fc.record({
        kind: fc.constant('dir' as const),
        meta: metaArb(inodeSize),
        children: fc.uniqueArray(fc.tuple(nameArb, tie('node')), { maxLength: maxChildren, selector: ([n]) => n }),
      }),
      node: fc.oneof({ maxDepth, depthIdentifier: 'tree' }, { weight: 3, arbitrary: leaf }, { weight: 1, arbitrary: tie('dir') }),
    })).dir;
    return fc.record({
      options: fc.constant(options),
      root: dir,
      links: fc.array(fc.tuple(fc.nat(), fc.nat(), nameArb), { maxLength: 4 }),
    });
  });
}

export function contentOf(spec: ContentSpec): FileContent {
  if (!spec.ranges) return new BytesContent(denseBytes(spec.seed, spec.size));
  const sorted = spec.ranges.filter(([, l]) => l > 0).sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const [o, l] of sorted) {
    const last = merged[merged.length - 1];
    if (last && o <= last[0] + last[1]) last[1] = Math.max(last[1], o + l - last[0]);
    else merged.push([o, l]);
  }
  return new SparseContent(
    spec.size,
    merged.map(([offset, length], i) => ({ offset, bytes: denseBytes(spec.seed + i, length) })),
  );
}

function metaInput(m: MetaSpec): MetaInput {
  return { mode: m.mode, uid: m.uid, gid: m.gid, mtime: m.mtime };
}

/** Build the Tree a spec describes (deterministic). */
export function specToTree(spec: TreeSpec): Tree {
  const t = new Tree({ time: { sec: 1_600_000_000, nsec: 0 } });
  const nonDirs: string[] = [];
  const dirs: string[] = [''];
  const path = (key: string): Uint8Array => keyToBytes(key);
  const add = (prefix: string, node: Extract<NodeSpec, { kind: 'dir' }>): void => {
    for (const [name, child] of node.children) {
      const key = prefix === '' ? name : `${prefix}/${name}`;
      const p = path(key);
      switch (child.kind) {
        case 'dir':
          t.mkdir(p, metaInput(child.meta));
          dirs.push(key);
          add(key, child);
          break;
        case 'file':
          t.writeFile(p, contentOf(child.content), metaInput(child.meta));
          nonDirs.push(key);
          break;
        case 'symlink':
          t.symlink(p, keyToBytes(child.target), metaInput(child.meta));
          nonDirs.push(key);
          break;
        case 'chr':
        case 'blk':
          t.mknod(p, child.kind, child.major, child.minor, metaInput(child.meta));
          nonDirs.push(key);
          break;
        default:
          t.mknod(p, child.kind, 0, 0, metaInput(child.meta));
          nonDirs.push(key);
      }
    }
  };
  t.mkdir('', metaInput(spec.root.meta));
  add('', spec.root);
  if (nonDirs.length) {
    for (const [src, dst, name] of spec.links) {
      const dir = dirs[dst % dirs.length]!;
      const key = dir === '' ? name : `${dir}/${name}`;
      if (t.get(path(key)) !== undefined) continue;
      t.link(path(nonDirs[src % nonDirs.length]!), path(key));
    }
  }
  // Directory metadata again: mkdir of the root merged, but be explicit about the root's time.
  t.setTimes('', { mtime: spec.root.meta.mtime });
  return t;
}

/** An arbitrary of tree builders: call the value to get a fresh Tree; `.spec` holds the data. */
export function treeArb(constraints: Parameters<typeof treeSpecArb>[0] = {}): fc.Arbitrary<(() => Tree) & { spec: TreeSpec }> {
  return treeSpecArb(constraints).map((spec) => {
    const build = Object.assign(() => specToTree(spec), { spec });
    Object.defineProperty(build, 'toString', { value: () => fc.stringify(spec) });
    return build;
  });
}
