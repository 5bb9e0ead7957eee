import { ExtimgError } from '../errors.js';

/**
 * The feature set of a filesystem, derived from the type (ext2, ext3, ext4: mke2fs.conf's
 * base_features plus the type's) and `-O feature,^feature` as mke2fs takes it. Everything that
 * depends on a feature asks this object: the superblock's flag words, the descriptor size, the
 * link limits, the largest file, which block mapping (indirect or extents) and which directory
 * format (linear or htree) to write. A feature that is set is honoured on disk; one extimg does
 * not implement is refused by name.
 *
 * Bits: the kernel's fs/ext4/ext4.h (EXT4_FEATURE_*); names: e2fsprogs lib/e2p/feature.c.
 */

export type FsType = 'ext2' | 'ext3' | 'ext4';

type Word = 'compat' | 'incompat' | 'roCompat';

/** Every feature name e2fsprogs knows, with its word and bit; `ok` marks the ones extimg writes. */
const FEATURES = {
  dir_prealloc: ['compat', 0x0001, false],
  imagic_inodes: ['compat', 0x0002, false],
  has_journal: ['compat', 0x0004, true],
  ext_attr: ['compat', 0x0008, true],
  resize_inode: ['compat', 0x0010, true],
  dir_index: ['compat', 0x0020, true],
  sparse_super2: ['compat', 0x0200, false],
  fast_commit: ['compat', 0x0400, false],
  stable_inodes: ['compat', 0x0800, false],
  orphan_file: ['compat', 0x1000, false],
  sparse_super: ['roCompat', 0x0001, true],
  large_file: ['roCompat', 0x0002, true],
  huge_file: ['roCompat', 0x0008, true],
  uninit_bg: ['roCompat', 0x0010, true],
  dir_nlink: ['roCompat', 0x0020, true],
  extra_isize: ['roCompat', 0x0040, true],
  quota: ['roCompat', 0x0100, false],
  bigalloc: ['roCompat', 0x0200, false],
  metadata_csum: ['roCompat', 0x0400, true],
  replica: ['roCompat', 0x0800, false],
  read_only: ['roCompat', 0x1000, false],
  project: ['roCompat', 0x2000, false],
  shared_blocks: ['roCompat', 0x4000, false],
  verity: ['roCompat', 0x8000, false],
  orphan_present: ['roCompat', 0x10000, false],
  compression: ['incompat', 0x0001, false],
  filetype: ['incompat', 0x0002, true],
  needs_recovery: ['incompat', 0x0004, false],
  journal_dev: ['incompat', 0x0008, false],
  meta_bg: ['incompat', 0x0010, false],
  extent: ['incompat', 0x0040, true],
  '64bit': ['incompat', 0x0080, true],
  mmp: ['incompat', 0x0100, false],
  flex_bg: ['incompat', 0x0200, true],
  ea_inode: ['incompat', 0x0400, false],
  dirdata: ['incompat', 0x1000, false],
  metadata_csum_seed: ['incompat', 0x2000, true],
  large_dir: ['incompat', 0x4000, false],
  inline_data: ['incompat', 0x8000, false],
  encrypt: ['incompat', 0x10000, false],
  casefold: ['incompat', 0x20000, false],
} as const satisfies Record<string, readonly [Word, number, boolean]>;

export type FeatureName = keyof typeof FEATURES;

/** Other spellings e2fsprogs accepts (e2p_string2feature's table has both). */
const ALIASES: Readonly<Record<string, FeatureName>> = {
  extents: 'extent',
  uninit_groups: 'uninit_bg',
  'read-only': 'read_only',
  fname_encoding: 'casefold',
};

/** mke2fs.conf [defaults] base_features and [fs_types] (e2fsprogs 1.47's misc/mke2fs.conf.in). */
const BASE: readonly FeatureName[] = ['sparse_super', 'large_file', 'filetype', 'resize_inode', 'dir_index', 'ext_attr'];
const BY_TYPE: Readonly<Record<FsType, readonly FeatureName[]>> = {
  ext2: [],
  ext3: ['has_journal'],
  ext4: ['has_journal', 'extent', 'huge_file', 'flex_bg', 'metadata_csum', '64bit', 'dir_nlink', 'extra_isize'],
};

/** EXT4_LINK_MAX: i_links_count's limit; with dir_nlink a directory past it counts 1. */
export const EXT4_LINK_MAX = 65000;

export class Features {
  private readonly set: ReadonlySet<FeatureName>;

  constructor(names: Iterable<FeatureName>) {
    this.set = new Set(names);
  }

  has(name: FeatureName): boolean {
    return this.set.has(name);
  }

  /** The same set without `name` (resize_inode where mke2fs clears it: past 2^32 blocks). */
  without(name: FeatureName): Features {
    const s = new Set(this.set);
    s.delete(name);
    return new Features(s);
  }

  /** Names in e2fsprogs' order (as dumpe2fs lists them: compat, incompat, ro_compat by bit). */
  names(): FeatureName[] {
    const order: Word[] = ['compat', 'incompat', 'roCompat'];
    return [...this.set].sort((a, b) => order.indexOf(FEATURES[a][0]) - order.indexOf(FEATURES[b][0]) || FEATURES[a][1] - FEATURES[b][1]);
  }

  private word(w: Word): number {
    let v = 0;
    for (const n of this.set) if (FEATURES[n][0] === w) v |= FEATURES[n][1];
    return v >>> 0;
  }

  get compat(): number {
    return this.word('compat');
  }
  get incompat(): number {
    return this.word('incompat');
  }
  get roCompat(): number {
    return this.word('roCompat');
  }

  /** s_desc_size: 64 with the 64bit feature (EXT2_MIN_DESC_SIZE_64BIT), else the 32-byte descriptor. */
  get descSize(): 32 | 64 {
    return this.has('64bit') ? 64 : 32;
  }

  /** Block numbers beyond 2^32 need 64bit. */
  get maxBlocks(): number {
    return this.has('64bit') ? 2 ** 48 : 2 ** 32;
  }

  get mapping(): 'indirect' | 'extents' {
    return this.has('extent') ? 'extents' : 'indirect';
  }

  get metadataCsum(): boolean {
    return this.has('metadata_csum');
  }

  /** Group descriptors carry a checksum (and may be flagged uninitialized): metadata_csum or uninit_bg. */
  get groupChecksums(): boolean {
    return this.has('metadata_csum') || this.has('uninit_bg');
  }

  /** Whether a directory of more than one block is written as an htree. */
  get htree(): boolean {
    return this.has('dir_index');
  }

  /** The most subdirectories a directory may have (its link count is 2 + subdirectories). */
  get maxSubdirs(): number {
    return this.has('dir_nlink') ? Infinity : EXT4_LINK_MAX - 2;
  }

  /** The largest i_blocks (in 512-byte sectors) an inode can count: 32 bits, or 48 with huge_file. */
  get maxSectors(): number {
    return this.has('huge_file') ? 2 ** 48 - 1 : 2 ** 32 - 1;
  }
}

export interface FeatureOptions {
  type: FsType;
  /** `-O` lists as given: `extent,^resize_inode`, several allowed. */
  spec?: readonly string[];
  inodeSize?: number;
}

/** Resolve one -O name (or alias) to a feature, or throw naming it. */
function featureNamed(raw: string, origin: string): FeatureName {
  const name = raw.trim().toLowerCase();
  const f = (Object.hasOwn(FEATURES, name) ? name : ALIASES[name]) as FeatureName | undefined;
  if (f === undefined) throw new ExtimgError('EUSAGE', `${origin}: unknown feature '${raw.trim()}'`, { feature: raw });
  return f;
}

/** Check the names in -O lists (unknown names are usage errors), without resolving a set. */
export function checkFeatureNames(spec: readonly string[], origin: string): void {
  for (const list of spec) {
    for (const item of list.split(',')) {
      const t = item.trim();
      if (t !== '') featureNamed(t.startsWith('^') ? t.slice(1) : t, origin);
    }
  }
}

/**
 * The features of a new filesystem, as mke2fs decides them: the type's list, then each `-O`
 * item in order (`^name` clears), then the rules mke2fs enforces. Unsupported features and
 * impossible combinations are usage errors naming the feature.
 */
export function resolveFeatures(o: FeatureOptions, origin = '-O'): Features {
  const set = new Set<FeatureName>([...BASE, ...BY_TYPE[o.type]]);
  const asked = new Set<FeatureName>();
  for (const list of o.spec ?? []) {
    for (const item of list.split(',')) {
      if (item.trim() === '') continue;
      const off = item.trim().startsWith('^');
      const f = featureNamed(off ? item.trim().slice(1) : item, origin);
      if (off) set.delete(f);
      else {
        set.add(f);
        asked.add(f);
      }
    }
  }
  for (const f of set) {
    if (!FEATURES[f][2]) {
      const why = f === 'inline_data' ? 'not supported by extimg yet' : f === 'needs_recovery' || f === 'orphan_present' ? 'a state, not a feature to create' : 'not supported by extimg';
      throw new ExtimgError('EUSAGE', `${origin}: feature '${f}' is ${why}`, { feature: f });
    }
  }
  // mke2fs's rules (misc/mke2fs.c PRS()).
  if (set.has('64bit') && !set.has('extent')) {
    throw new ExtimgError('EUSAGE', `${origin}: 64bit needs extent (block maps hold 32-bit block numbers)`, { feature: '64bit' });
  }
  if (set.has('metadata_csum') && set.has('uninit_bg')) {
    // metadata_csum includes what uninit_bg does; mke2fs drops uninit_bg the same way.
    if (asked.has('uninit_bg')) throw new ExtimgError('EUSAGE', `${origin}: metadata_csum and uninit_bg exclude each other`, { feature: 'uninit_bg' });
    set.delete('uninit_bg');
  }
  if (set.has('metadata_csum_seed') && !set.has('metadata_csum')) {
    throw new ExtimgError('EUSAGE', `${origin}: metadata_csum_seed needs metadata_csum`, { feature: 'metadata_csum_seed' });
  }
  if (set.has('resize_inode') && !set.has('sparse_super')) {
    throw new ExtimgError('EUSAGE', `${origin}: resize_inode needs sparse_super`, { feature: 'resize_inode' });
  }
  // extra_isize means nothing without room past 128 bytes; mke2fs clears it for 128-byte inodes.
  if (o.inodeSize === 128) set.delete('extra_isize');
  return new Features(set);
}

/** What to call a feature set, as blkid does (identify.ts): ext4 past ext3's features, ext3 with a journal. */
export function typeOfFeatures(f: Features): FsType {
  const ext3Incompat = FEATURES.filetype[1] | FEATURES.needs_recovery[1] | FEATURES.meta_bg[1];
  const ext3RoCompat = FEATURES.sparse_super[1] | FEATURES.large_file[1] | 0x0004;
  if (f.incompat & ~ext3Incompat || f.roCompat & ~ext3RoCompat) return 'ext4';
  return f.has('has_journal') ? 'ext3' : 'ext2';
}

/**
 * The names of the feature bits set in `value` of one word, as e2fsprogs spells them; a bit no
 * name covers shows as FEATURE_I13 etc. (e2p_feature2string's form), so nothing is unnamed.
 */
export function featureNamesOf(word: Word, value: number): string[] {
  const out: string[] = [];
  let rest = value >>> 0;
  for (const [name, [w, bit]] of Object.entries(FEATURES) as [FeatureName, readonly [Word, number, boolean]][]) {
    if (w === word && rest & bit) {
      out.push(name);
      rest &= ~bit;
    }
  }
  const letter = word === 'compat' ? 'C' : word === 'incompat' ? 'I' : 'R';
  for (let b = 0; b < 32; b++) if (rest & (1 << b)) out.push(`FEATURE_${letter}${b}`);
  return out;
}

/** Whether a feature (by name) is one extimg writes. */
export function featureIsWritten(name: FeatureName): boolean {
  return FEATURES[name][2];
}

/** The features whose bits are set in a superblock's three words (names extimg knows). */
export function featuresOfWords(compat: number, incompat: number, roCompat: number): FeatureName[] {
  const out: FeatureName[] = [];
  for (const [name, [w, bit]] of Object.entries(FEATURES) as [FeatureName, readonly [Word, number, boolean]][]) {
    const v = w === 'compat' ? compat : w === 'incompat' ? incompat : roCompat;
    if (v & bit) out.push(name);
  }
  return out;
}

/** The features a type starts from before any -O (mke2fs.conf's base_features plus the type's). */
export function defaultFeatures(type: FsType): FeatureName[] {
  return [...BASE, ...BY_TYPE[type]];
}
