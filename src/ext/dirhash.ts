/**
 * The directory-entry hash of hash-indexed (dir_index) directories, as the kernel's
 * fs/ext4/hash.c `ext4fs_dirhash()` and e2fsprogs' lib/ext2fs/dirhash.c compute it: the legacy
 * hash, half-MD4 and TEA, each reading name bytes as signed or unsigned chars. No casefolding
 * (and no siphash, which exists only for casefolded encrypted directories).
 *
 * Names are bytes: a `Uint8Array`, or a byte string (one char per byte, codes 0..255, as
 * src/tree/names.ts keys them).
 */

/** Hash versions (s_def_hash_version, dx_root_info.hash_version; EXT2_HASH_* / DX_HASH_*). */
export const DX_HASH_LEGACY = 0;
export const DX_HASH_HALF_MD4 = 1;
export const DX_HASH_TEA = 2;
/** The unsigned-char variants exist only in memory: disks store 0..2 plus an s_flags bit. */
export const DX_HASH_LEGACY_UNSIGNED = 3;
export const DX_HASH_HALF_MD4_UNSIGNED = 4;
export const DX_HASH_TEA_UNSIGNED = 5;

/** s_flags bits saying how the platform that made the filesystem read `char`. */
export const EXT2_FLAGS_SIGNED_HASH = 0x0001;
export const EXT2_FLAGS_UNSIGNED_HASH = 0x0002;

/** EXT4_HTREE_EOF_32BIT: the kernel keeps 0x7fffffff << 1 free as an end-of-directory cookie. */
const EXT4_HTREE_EOF_32BIT = 0x7fffffff;

/** The default seed when s_hash_seed is all zero (the MD4 initial state). */
const DEFAULT_SEED = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476] as const;

export interface DirHash {
  /** The major hash, low bit clear (that bit marks collision continuations in the index). */
  hash: number;
  /** The minor hash (0 for the legacy hash). */
  minorHash: number;
}

/** A name as bytes or as a byte string. */
export type NameBytes = Uint8Array | string;

/** s_hash_seed as its 16 on-disk bytes (four little-endian words), or as the four words. */
export type HashSeed = Uint8Array | readonly number[];

/**
 * The in-memory hash version for a directory: the on-disk version (0..2) moved to its unsigned
 * variant when s_flags says EXT2_FLAGS_UNSIGNED_HASH, as the kernel (`s_hash_unsigned`) and
 * e2fsck do. Versions above TEA are returned unchanged.
 */
export function effectiveHashVersion(hashVersion: number, s_flags: number): number {
  return hashVersion <= DX_HASH_TEA && s_flags & EXT2_FLAGS_UNSIGNED_HASH ? hashVersion + 3 : hashVersion;
}

/** The four seed words the hash starts from: the given seed, or the default when it is all zero. */
export function hashSeedWords(seed?: HashSeed): Uint32Array {
  const words = new Uint32Array(4);
  if (seed instanceof Uint8Array) {
    if (seed.length !== 16) throw new RangeError(`hash seed must be 16 bytes, got ${seed.length}`);
    const dv = new DataView(seed.buffer, seed.byteOffset, 16);
    for (let i = 0; i < 4; i++) words[i] = dv.getUint32(i * 4, true);
  } else if (seed) {
    if (seed.length !== 4) throw new RangeError(`hash seed must be 4 words, got ${seed.length}`);
    for (let i = 0; i < 4; i++) words[i] = seed[i]! >>> 0;
  }
  if (words[0] === 0 && words[1] === 0 && words[2] === 0 && words[3] === 0) words.set(DEFAULT_SEED);
  return words;
}

/** A hasher for one (version, seed): call it once per name. Reuses its buffers; not reentrant. */
export type DirHasher = (name: NameBytes) => DirHash;

export function createDirHasher(version: number, seed?: HashSeed): DirHasher {
  if (!Number.isInteger(version) || version < 0 || version > DX_HASH_TEA_UNSIGNED) {
    throw new RangeError(`unsupported directory hash version ${version}`);
  }
  const seedWords = hashSeedWords(seed);
  const unsigned = version >= DX_HASH_LEGACY_UNSIGNED;
  const base = unsigned ? version - 3 : version;
  const buf = new Uint32Array(4);
  const words = new Uint32Array(8);
  let scratch = new Uint8Array(256);

  return (name: NameBytes): DirHash => {
    let bytes: Uint8Array;
    if (typeof name === 'string') {
      if (name.length > scratch.length) scratch = new Uint8Array(name.length);
      for (let i = 0; i < name.length; i++) scratch[i] = name.charCodeAt(i);
      bytes = scratch;
    } else {
      bytes = name;
    }
    const len = name.length;
    let hash: number;
    let minorHash = 0;
    if (base === DX_HASH_LEGACY) {
      hash = legacyHash(bytes, len, unsigned);
    } else {
      buf.set(seedWords);
      // half_md4 eats 32 bytes per round, TEA 16; each round's words carry the remaining length.
      const chunk = base === DX_HASH_HALF_MD4 ? 32 : 16;
      for (let p = 0; p < len; p += chunk) {
        str2hashbuf(bytes, p, len - p, words, chunk >> 2, unsigned);
        if (base === DX_HASH_HALF_MD4) halfMd4Transform(buf, words);
        else teaTransform(buf, words);
      }
      if (base === DX_HASH_HALF_MD4) {
        hash = buf[1]!;
        minorHash = buf[2]!;
      } else {
        hash = buf[0]!;
        minorHash = buf[1]!;
      }
    }
    hash = (hash & ~1) >>> 0;
    if (hash === (EXT4_HTREE_EOF_32BIT << 1) >>> 0) hash = ((EXT4_HTREE_EOF_32BIT - 1) << 1) >>> 0;
    return { hash, minorHash };
  };
}

/** One-off hash of a name; for many names use createDirHasher. */
export function dirhash(name: NameBytes, version: number, seed?: HashSeed): DirHash {
  return createDirHasher(version, seed)(name);
}

/** A name byte as the C code reads it: `signed char` (-128..127) or `unsigned char`. */
function charValue(b: number, unsigned: boolean): number {
  return unsigned || b < 0x80 ? b : b - 256;
}

/** dx_hack_hash: the original ext3 htree hash. */
function legacyHash(name: Uint8Array, len: number, unsigned: boolean): number {
  let hash0 = 0x12a3fe2d;
  let hash1 = 0x37abe8f9;
  for (let i = 0; i < len; i++) {
    const c = charValue(name[i]!, unsigned);
    let hash = (hash1 + ((hash0 ^ Math.imul(c, 7152373)) >>> 0)) >>> 0;
    if (hash & 0x80000000) hash = (hash - 0x7fffffff) >>> 0;
    hash1 = hash0;
    hash0 = hash;
  }
  return (hash0 << 1) >>> 0;
}

/**
 * str2hashbuf: pack up to `num * 4` bytes from `name[start..]` big-endian-ish into `num` words,
 * each word seeded with the remaining length repeated in every byte ("pad"), short words and
 * missing words filled with the pad.
 */
function str2hashbuf(name: Uint8Array, start: number, len: number, out: Uint32Array, num: number, unsigned: boolean): void {
  let pad = (len | (len << 8)) >>> 0;
  pad = (pad | (pad << 16)) >>> 0;
  let val = pad;
  const n = Math.min(len, num * 4);
  let w = 0;
  for (let i = 0; i < n; i++) {
    val = (charValue(name[start + i]!, unsigned) + (val << 8)) >>> 0;
    if ((i & 3) === 3) {
      out[w++] = val;
      val = pad;
    }
  }
  if (w < num) out[w++] = val;
  while (w < num) out[w++] = pad;
}

const TEA_DELTA = 0x9e3779b9;

/** TEA in a Davies-Meyer construction: 16 rounds over buf[0..1] keyed by the four words. */
function teaTransform(buf: Uint32Array, w: Uint32Array): void {
  let sum = 0;
  let b0 = buf[0]!;
  let b1 = buf[1]!;
  const a = w[0]!;
  const b = w[1]!;
  const c = w[2]!;
  const d = w[3]!;
  for (let n = 0; n < 16; n++) {
    sum = (sum + TEA_DELTA) | 0;
    b0 = (b0 + ((((b1 << 4) + a) ^ (b1 + sum) ^ ((b1 >>> 5) + b)) | 0)) | 0;
    b1 = (b1 + ((((b0 << 4) + c) ^ (b0 + sum) ^ ((b0 >>> 5) + d)) | 0)) | 0;
  }
  buf[0] = buf[0]! + b0;
  buf[1] = buf[1]! + b1;
}

const K2 = 0x5a827999; // 013240474631
const K3 = 0x6ed9eba1; // 015666365641

function rotl(x: number, s: number): number {
  return (x << s) | (x >>> (32 - s));
}

/** The cut-down MD4 transform (three rounds of eight steps) the htree hash uses. */
function halfMd4Transform(buf: Uint32Array, w: Uint32Array): void {
  let a = buf[0]! | 0;
  let b = buf[1]! | 0;
  let c = buf[2]! | 0;
  let d = buf[3]! | 0;
  const x0 = w[0]! | 0, x1 = w[1]! | 0, x2 = w[2]! | 0, x3 = w[3]! | 0;
  const x4 = w[4]! | 0, x5 = w[5]! | 0, x6 = w[6]! | 0, x7 = w[7]! | 0;
  // Round 1: F = selection.
  a = rotl(a + (d ^ (b & (c ^ d))) + x0, 3);
  d = rotl(d + (c ^ (a & (b ^ c))) + x1, 7);
  c = rotl(c + (b ^ (d & (a ^ b))) + x2, 11);
  b = rotl(b + (a ^ (c & (d ^ a))) + x3, 19);
  a = rotl(a + (d ^ (b & (c ^ d))) + x4, 3);
  d = rotl(d + (c ^ (a & (b ^ c))) + x5, 7);
  c = rotl(c + (b ^ (d & (a ^ b))) + x6, 11);
  b = rotl(b + (a ^ (c & (d ^ a))) + x7, 19);
  // Round 2: G = majority.
  a = rotl(a + ((b & c) + ((b ^ c) & d)) + x1 + K2, 3);
  d = rotl(d + ((a & b) + ((a ^ b) & c)) + x3 + K2, 5);
  c = rotl(c + ((d & a) + ((d ^ a) & b)) + x5 + K2, 9);
  b = rotl(b + ((c & d) + ((c ^ d) & a)) + x7 + K2, 13);
  a = rotl(a + ((b & c) + ((b ^ c) & d)) + x0 + K2, 3);
  d = rotl(d + ((a & b) + ((a ^ b) & c)) + x2 + K2, 5);
  c = rotl(c + ((d & a) + ((d ^ a) & b)) + x4 + K2, 9);
  b = rotl(b + ((c & d) + ((c ^ d) & a)) + x6 + K2, 13);
  // Round 3: H = parity.
  a = rotl(a + (b ^ c ^ d) + x3 + K3, 3);
  d = rotl(d + (a ^ b ^ c) + x7 + K3, 9);
  c = rotl(c + (d ^ a ^ b) + x2 + K3, 11);
  b = rotl(b + (c ^ d ^ a) + x6 + K3, 15);
  a = rotl(a + (b ^ c ^ d) + x1 + K3, 3);
  d = rotl(d + (a ^ b ^ c) + x5 + K3, 9);
  c = rotl(c + (d ^ a ^ b) + x0 + K3, 11);
  b = rotl(b + (c ^ d ^ a) + x4 + K3, 15);
  buf[0] = buf[0]! + a;
  buf[1] = buf[1]! + b;
  buf[2] = buf[2]! + c;
  buf[3] = buf[3]! + d;
}
