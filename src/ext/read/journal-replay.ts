/**
 * In-memory jbd2 journal recovery: what the kernel does at mount (fs/jbd2/recovery.c,
 * jbd2_journal_recover) and e2fsck does before checking (e2fsck/recovery.c is the same file),
 * except that the replayed blocks go into a map instead of onto the disk. The image is never
 * written. Facts from Documentation/filesystems/ext4/journal.rst and include/linux/jbd2.h.
 *
 * Three passes over the circular log, each walking from s_start with s_sequence:
 *  1. scan: find the end of the log, the first transaction without a valid commit block;
 *  2. revoke: collect revoke records, each with the newest transaction that revoked the block;
 *  3. replay: every tagged block of a committed transaction, unless a transaction at or after
 *     it revoked that block; the last write of a block wins.
 *
 * Where the kernel would fail the mount (or e2fsck would ask), we refuse with ExtimgError and
 * the hint to run e2fsck -fy; where the kernel quietly ends the log, so do we:
 *  - a bad commit checksum (CSUM_V2/V3 or the old COMPAT_CHECKSUM) on a commit older than the
 *    previous one is stale data: the log ends there. Otherwise, without ASYNC_COMMIT, the kernel
 *    sets j_failed_commit and jbd2_journal_load refuses the mount ("journal transaction N is
 *    corrupt"): refused here too. With ASYNC_COMMIT the log ends before that transaction (the
 *    kernel moves the end to a later bad commit if there is one; we keep the first).
 *  - a bad descriptor or revoke block checksum found while scanning ends the log if the
 *    transaction's commit is older than the previous commit (stale), and is refused otherwise;
 *    a bad descriptor checksum or a bad data-block tag checksum met while replaying is refused.
 *  - fast-commit blocks that belong to the end of the log (an EXT4_FC_TAG_HEAD with that tid
 *    in the fast-commit area) would need ext4's fast-commit replay, which we do not do: refused.
 * A hostile log cannot loop: each pass consumes at most the log's length in blocks.
 */
import { ExtimgError, type ErrorCode } from '../../errors.js';
import { journalSuperblockChecksum, storedJournalSuperblockChecksum, JBD2_CRC32C_CHKSUM } from '../checksum.js';
import { JBD2_MAGIC_NUMBER } from '../constants.js';
import { crc32cUpdate, crc32cZeros } from '../crc32c.js';
import { JSB } from '../struct.js';

export interface JournalBlocks {
  /** Journal block size (the filesystem's). */
  readonly blockSize: number;
  /** Number of blocks in the journal (the journal inode's size / blockSize). */
  readonly blocks: number;
  /** The journal's logical block `n` (0 = the journal superblock). Throws ExtimgError on a bad read. */
  read(n: number): Uint8Array;
}

export interface ReplayResult {
  /** Filesystem block number -> its newest contents from committed transactions (last write wins), revoked blocks handled per jbd2. */
  readonly blocks: Map<number, Uint8Array>;
  readonly transactions: number;
}

// journal_header_t h_blocktype (include/linux/jbd2.h).
const JBD2_DESCRIPTOR_BLOCK = 1;
const JBD2_COMMIT_BLOCK = 2;
const JBD2_SUPERBLOCK_V1 = 3;
const JBD2_SUPERBLOCK_V2 = 4;
const JBD2_REVOKE_BLOCK = 5;

// Feature bits; a v1 superblock has none.
const JBD2_FEATURE_COMPAT_CHECKSUM = 0x1;
const JBD2_FEATURE_INCOMPAT_REVOKE = 0x1;
const JBD2_FEATURE_INCOMPAT_64BIT = 0x2;
const JBD2_FEATURE_INCOMPAT_ASYNC_COMMIT = 0x4;
const JBD2_FEATURE_INCOMPAT_CSUM_V2 = 0x8;
const JBD2_FEATURE_INCOMPAT_CSUM_V3 = 0x10;
const JBD2_FEATURE_INCOMPAT_FAST_COMMIT = 0x20;
const JBD2_KNOWN_INCOMPAT =
  JBD2_FEATURE_INCOMPAT_REVOKE |
  JBD2_FEATURE_INCOMPAT_64BIT |
  JBD2_FEATURE_INCOMPAT_ASYNC_COMMIT |
  JBD2_FEATURE_INCOMPAT_CSUM_V2 |
  JBD2_FEATURE_INCOMPAT_CSUM_V3 |
  JBD2_FEATURE_INCOMPAT_FAST_COMMIT;
const JBD2_KNOWN_RO_COMPAT = 0;

// Tag flags (journal_block_tag_t t_flags, the low 16 bits of tag3's t_flags).
const JBD2_FLAG_ESCAPE = 1;
const JBD2_FLAG_SAME_UUID = 2;
const JBD2_FLAG_LAST_TAG = 8;

/** journal_header_t: every log block but data blocks starts with it. */
const HEADER = { h_magic: 0, h_blocktype: 4, h_sequence: 8, size: 12 } as const;
/** struct commit_header after the journal header. */
const COMMIT = { h_chksum_type: 12, h_chksum_size: 13, h_chksum: 16, h_commit_sec: 48 } as const;
/** jbd2_journal_revoke_header_t: r_count is the bytes used, header included. */
const REVOKE_R_COUNT = 12;
const REVOKE_RECORDS = 16;
/** struct jbd2_journal_block_tail at the end of descriptor and revoke blocks (CSUM_V2/V3). */
const BLOCK_TAIL_SIZE = 4;
const UUID_SIZE = 16;
const JBD2_CRC32_CHKSUM = 1;
const JBD2_CRC32_CHKSUM_SIZE = 4;
/** JBD2_DEFAULT_FAST_COMMIT_BLOCKS: s_num_fc_blks 0 means this many. */
const JBD2_DEFAULT_FAST_COMMIT_BLOCKS = 256;
/** JBD2_MIN_JOURNAL_BLOCKS: e2fsck's floor for the log left beside the fast-commit area. */
const JBD2_MIN_JOURNAL_BLOCKS = 1024;
/** ext4_fc_tl fc_tag of the fast-commit head (fs/ext4/fast_commit.h), little-endian. */
const EXT4_FC_TAG_HEAD = 0x0009;

const HINT = 'needs recovery: run e2fsck -fy first';

/** The journal as the passes see it: the superblock's fields, features resolved. */
interface Journal {
  readonly origin: string;
  readonly src: JournalBlocks;
  readonly blockSize: number;
  readonly first: number; // s_first
  /** One past the last log block (j_last): s_maxlen, less the fast-commit area. */
  readonly last: number;
  readonly maxlen: number; // s_maxlen
  readonly sequence: number; // s_sequence
  readonly start: number; // s_start
  readonly csum: boolean; // CSUM_V2 or CSUM_V3
  readonly csumV3: boolean;
  readonly is64: boolean;
  readonly checksumV1: boolean; // COMPAT_CHECKSUM
  readonly asyncCommit: boolean;
  readonly fastCommit: boolean;
  /** journal_tag_bytes(): the size of one tag, without the UUID that may follow it. */
  readonly tagBytes: number;
  /** j_csum_seed: crc32c(~0, s_uuid). */
  readonly csumSeed: number;
}

function be32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
function be16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function be64(b: Uint8Array, o: number): number {
  return be32(b, o) * 0x100000000 + be32(b, o + 4);
}
function hex(v: number): string {
  return `0x${v.toString(16)}`;
}

function refuse(j: { origin: string }, code: ErrorCode, what: string, journalBlock: number): ExtimgError {
  return new ExtimgError(code, `${j.origin}: journal: ${what} at journal block ${journalBlock}; ${HINT}`, {
    path: j.origin,
    journalBlock,
  });
}

/** The most replayed block bytes held in memory (DESIGN.md: 300 MB in all). */
export const MAX_REPLAY_BYTES = 128 << 20;

/** tid_gt / tid_geq: transaction IDs compare modulo 2^32. */
function tidGt(x: number, y: number): boolean {
  return ((x - y) | 0) > 0;
}
function tidGeq(x: number, y: number): boolean {
  return ((x - y) | 0) >= 0;
}

/** Replay committed transactions in memory. `origin` names the image for errors. */
export function replayJournal(j: JournalBlocks, origin: string, maxBytes = MAX_REPLAY_BYTES): ReplayResult {
  const journal = loadSuperblock(j, origin);
  if (journal === undefined) return { blocks: new Map(), transactions: 0 };
  const end = scanPass(journal);
  if (journal.fastCommit) checkFastCommit(journal, end);
  const revokes = revokePass(journal, end);
  const blocks = replayPass(journal, end, revokes, maxBytes);
  return { blocks, transactions: (end - journal.sequence) >>> 0 };
}

// ---- the journal superblock ---------------------------------------------------------------

/**
 * Validate the journal superblock as journal_check_superblock / journal_load_superblock do
 * (fs/jbd2/journal.c) and e2fsck's e2fsck_journal_load. Undefined when s_start is 0: the
 * journal is clean and nothing is replayed (jbd2_journal_recover), whatever its features say.
 */
function loadSuperblock(src: JournalBlocks, origin: string): Journal | undefined {
  const o = { origin };
  const bs = src.blockSize;
  if (!Number.isInteger(bs) || bs < 1024 || bs > 65536 || (bs & (bs - 1)) !== 0) {
    throw refuse(o, 'EFORMAT', `block size ${bs} is not one jbd2 supports`, 0);
  }
  if (!Number.isSafeInteger(src.blocks) || src.blocks < 2) throw refuse(o, 'ECORRUPT', `a journal of ${src.blocks} blocks is too small`, 0);
  const sb = readBlock(src, o, 0);
  if (be32(sb, JSB.h_magic) !== JBD2_MAGIC_NUMBER) throw refuse(o, 'ECORRUPT', `bad superblock magic ${hex(be32(sb, JSB.h_magic))}`, 0);
  const type = be32(sb, JSB.h_blocktype);
  if (type !== JBD2_SUPERBLOCK_V1 && type !== JBD2_SUPERBLOCK_V2) throw refuse(o, 'ECORRUPT', `unknown superblock type ${type}`, 0);
  if (be32(sb, JSB.s_blocksize) !== bs) throw refuse(o, 'ECORRUPT', `superblock block size ${be32(sb, JSB.s_blocksize)} is not the filesystem's ${bs}`, 0);
  const start = be32(sb, JSB.s_start);
  if (start === 0) return undefined;

  const maxlen = be32(sb, JSB.s_maxlen);
  const first = be32(sb, JSB.s_first);
  if (maxlen > src.blocks) throw refuse(o, 'ECORRUPT', `s_maxlen ${maxlen} is past the journal's ${src.blocks} blocks`, 0);
  if (first === 0 || first >= maxlen) throw refuse(o, 'ECORRUPT', `s_first ${first} is outside the journal's ${maxlen} blocks`, 0);
  const v2 = type === JBD2_SUPERBLOCK_V2;
  const compat = v2 ? be32(sb, JSB.s_feature_compat) : 0;
  const incompat = v2 ? be32(sb, JSB.s_feature_incompat) : 0;
  const roCompat = v2 ? be32(sb, JSB.s_feature_ro_compat) : 0;
  const unknownIncompat = (incompat & ~JBD2_KNOWN_INCOMPAT) >>> 0;
  const unknownRoCompat = (roCompat & ~JBD2_KNOWN_RO_COMPAT) >>> 0;
  if (unknownIncompat !== 0 || unknownRoCompat !== 0) {
    const parts = [unknownIncompat ? `incompat ${hex(unknownIncompat)}` : '', unknownRoCompat ? `ro_compat ${hex(unknownRoCompat)}` : ''];
    throw refuse(o, 'EFORMAT', `unknown journal features (${parts.filter(Boolean).join(', ')})`, 0);
  }
  const csumV2 = (incompat & JBD2_FEATURE_INCOMPAT_CSUM_V2) !== 0;
  const csumV3 = (incompat & JBD2_FEATURE_INCOMPAT_CSUM_V3) !== 0;
  const checksumV1 = (compat & JBD2_FEATURE_COMPAT_CHECKSUM) !== 0;
  if (csumV2 && csumV3) throw refuse(o, 'ECORRUPT', 'checksum v2 and v3 both set', 0);
  if ((csumV2 || csumV3) && checksumV1) throw refuse(o, 'ECORRUPT', 'checksum v1 and v2/v3 both set', 0);
  if (csumV2 || csumV3) {
    if (sb[JSB.s_checksum_type] !== JBD2_CRC32C_CHKSUM) throw refuse(o, 'EFORMAT', `unknown checksum type ${sb[JSB.s_checksum_type]}`, 0);
    if (journalSuperblockChecksum(sb) !== storedJournalSuperblockChecksum(sb)) throw refuse(o, 'ECORRUPT', 'superblock checksum mismatch', 0);
  }
  const fastCommit = (incompat & JBD2_FEATURE_INCOMPAT_FAST_COMMIT) !== 0;
  let last = maxlen;
  if (fastCommit) {
    const fc = be32(sb, JSB.s_num_fc_blks) || JBD2_DEFAULT_FAST_COMMIT_BLOCKS;
    if (fc >= maxlen || maxlen - fc < JBD2_MIN_JOURNAL_BLOCKS) throw refuse(o, 'ECORRUPT', `${fc} fast-commit blocks leave too small a log in ${maxlen}`, 0);
    last = maxlen - fc;
  }
  if (first >= last) throw refuse(o, 'ECORRUPT', `s_first ${first} leaves no log before block ${last}`, 0);
  if (start < first || start >= last) throw refuse(o, 'ECORRUPT', `s_start ${start} is outside the log (${first}..${last - 1})`, 0);
  const is64 = (incompat & JBD2_FEATURE_INCOMPAT_64BIT) !== 0;
  // journal_tag_bytes(): tag3 is 16 bytes; journal_block_tag_t is 12, +2 with CSUM_V2, -4
  // (no t_blocknr_high) without 64BIT.
  const tagBytes = csumV3 ? 16 : 12 + (csumV2 ? 2 : 0) - (is64 ? 0 : 4);
  return {
    origin,
    src,
    blockSize: bs,
    first,
    last,
    maxlen,
    sequence: be32(sb, JSB.s_sequence),
    start,
    csum: csumV2 || csumV3,
    csumV3,
    is64,
    checksumV1,
    asyncCommit: (incompat & JBD2_FEATURE_INCOMPAT_ASYNC_COMMIT) !== 0,
    fastCommit,
    tagBytes,
    csumSeed: crc32cUpdate(0xffffffff, sb, JSB.s_uuid, JSB.s_uuid + UUID_SIZE),
  };
}

function readBlock(src: JournalBlocks, o: { origin: string }, n: number): Uint8Array {
  const b = src.read(n);
  if (b.length < src.blockSize) throw refuse(o, 'EIO', `short read (${b.length} of ${src.blockSize} bytes)`, n);
  return b;
}

// ---- walking the circular log -------------------------------------------------------------

/**
 * A position in the log, wrapping from j_last back to s_first. `consumed` counts the blocks
 * walked over; a log never holds more than the log area, so a walk past that (a hostile
 * descriptor pointing the walk back onto itself) is refused instead of looping.
 */
class Cursor {
  pos: number;
  private consumed = 0;
  private readonly length: number;
  constructor(private readonly j: Journal) {
    this.pos = j.start;
    this.length = j.last - j.first;
  }
  /** Read the block at the cursor and step past it. */
  take(): { n: number; block: Uint8Array } {
    // Reading the first block once more (consumed === length) is legitimate: a full log ends
    // there on the old sequence number. Anything further has walked the log twice.
    if (this.consumed > this.length) throw refuse(this.j, 'ECORRUPT', `log runs past its own start (more than ${this.length} blocks)`, this.pos);
    const n = this.pos;
    const block = readBlock(this.j.src, this.j, n);
    this.skip(1);
    return { n, block };
  }
  skip(count: number): void {
    this.consumed += count;
    this.pos = this.j.first + ((this.pos - this.j.first + count) % this.length);
  }
}

interface Header {
  n: number;
  block: Uint8Array;
  type: number;
}

/** The next log block if it is a jbd2 block of transaction `sequence`; undefined ends the log. */
function nextHeader(c: Cursor, sequence: number): Header | undefined {
  const { n, block } = c.take();
  if (be32(block, HEADER.h_magic) !== JBD2_MAGIC_NUMBER) return undefined;
  if (be32(block, HEADER.h_sequence) !== sequence) return undefined;
  return { n, block, type: be32(block, HEADER.h_blocktype) };
}

interface Tag {
  blocknr: number;
  flags: number;
  /** Offset of the tag in its descriptor (for the checksum field). */
  at: number;
}

/**
 * The tags of a descriptor block, as count_tags and the replay loop walk them: from behind the
 * header while a whole tag fits before the tail, a 16-byte UUID after each tag without
 * SAME_UUID, up to the tag flagged LAST_TAG. At most (blockSize - 12) / tagBytes tags.
 */
function tags(j: Journal, block: Uint8Array): Tag[] {
  const out: Tag[] = [];
  const size = j.blockSize - (j.csum ? BLOCK_TAIL_SIZE : 0);
  let at = HEADER.size;
  while (at + j.tagBytes <= size) {
    const flags = be16(block, at + 6); // tag3's be32 t_flags ends at the same offset
    const lo = be32(block, at);
    const blocknr = j.is64 ? be32(block, at + 8) * 0x100000000 + lo : lo;
    out.push({ blocknr, flags, at });
    at += j.tagBytes;
    if (!(flags & JBD2_FLAG_SAME_UUID)) at += UUID_SIZE;
    if (flags & JBD2_FLAG_LAST_TAG) break;
  }
  return out;
}

/** crc32c(seed, block with the 4 bytes at `field` as zeros), jbd2_chksum style. */
function blockCsum(j: Journal, block: Uint8Array, field: number): number {
  let c = crc32cUpdate(j.csumSeed, block, 0, field);
  c = crc32cZeros(c, 4);
  return crc32cUpdate(c, block, field + 4, j.blockSize);
}

/** jbd2_descriptor_block_csum_verify: descriptor and revoke blocks end in a block tail. */
function tailCsumOk(j: Journal, block: Uint8Array): boolean {
  if (!j.csum) return true;
  const tail = j.blockSize - BLOCK_TAIL_SIZE;
  return blockCsum(j, block, tail) === be32(block, tail);
}

/** jbd2_commit_block_csum_verify: h_chksum[0] over the whole commit block. */
function commitCsumOk(j: Journal, block: Uint8Array): boolean {
  if (!j.csum) return true;
  return blockCsum(j, block, COMMIT.h_chksum) === be32(block, COMMIT.h_chksum);
}

/** jbd2_block_tag_csum_verify: crc32c(seed, be32 sequence, the logged block). */
function tagCsumOk(j: Journal, descriptor: Uint8Array, tag: Tag, data: Uint8Array, sequence: number): boolean {
  if (!j.csum) return true;
  const seq = new Uint8Array([sequence >>> 24, (sequence >>> 16) & 0xff, (sequence >>> 8) & 0xff, sequence & 0xff]);
  const c = crc32cUpdate(crc32cUpdate(j.csumSeed, seq), data, 0, j.blockSize);
  return j.csumV3 ? be32(descriptor, tag.at + 12) === c : be16(descriptor, tag.at + 4) === (c & 0xffff);
}

// ---- pass 1: scan -------------------------------------------------------------------------

/** PASS_SCAN: the ID of the first transaction that is not replayed (end_transaction). */
function scanPass(j: Journal): number {
  const c = new Cursor(j);
  let next = j.sequence;
  let end: number | undefined;
  let failedCommit: { tid: number; n: number } | undefined;
  let crc32Sum = 0xffffffff; // COMPAT_CHECKSUM: crc32_be over descriptors and data
  let needCheckCommitTime = false;
  let lastCommitTime = 0;
  scan: for (;;) {
    const h = nextHeader(c, next);
    if (h === undefined) break;
    switch (h.type) {
      case JBD2_DESCRIPTOR_BLOCK: {
        // A bad descriptor checksum may be a stale block (lazy journal init): the commit
        // block's time decides below.
        if (!tailCsumOk(j, h.block)) needCheckCommitTime = true;
        const count = tags(j, h.block).length;
        if (j.checksumV1 && !needCheckCommitTime && end === undefined) {
          crc32Sum = crc32be(crc32Sum, h.block, j.blockSize);
          for (let i = 0; i < count; i++) crc32Sum = crc32be(crc32Sum, c.take().block, j.blockSize);
        } else {
          c.skip(count);
        }
        continue;
      }
      case JBD2_COMMIT_BLOCK: {
        const commitTime = be64(h.block, COMMIT.h_commit_sec);
        if (needCheckCommitTime) {
          if (commitTime >= lastCommitTime) throw refuse(j, 'ECORRUPT', `bad checksum in transaction ${next}`, h.n);
          break scan; // older than the previous commit: stale, the log ends here
        }
        let bad = false;
        if (j.checksumV1) {
          if (end !== undefined) {
            failedCommit = { tid: end, n: h.n };
            break scan;
          }
          const found = be32(h.block, COMMIT.h_chksum);
          const type = h.block[COMMIT.h_chksum_type];
          const size = h.block[COMMIT.h_chksum_size];
          const match = crc32Sum === found && type === JBD2_CRC32_CHKSUM && size === JBD2_CRC32_CHKSUM_SIZE;
          const unused = type === 0 && size === 0 && found === 0;
          if (match || unused) crc32Sum = 0xffffffff;
          else bad = true;
        }
        if (bad || !commitCsumOk(j, h.block)) {
          if (commitTime < lastCommitTime) break scan; // stale
          end ??= next;
          if (!j.asyncCommit) {
            failedCommit = { tid: next, n: h.n };
            break scan;
          }
        }
        lastCommitTime = commitTime;
        next = (next + 1) >>> 0;
        continue;
      }
      case JBD2_REVOKE_BLOCK:
        if (!tailCsumOk(j, h.block)) needCheckCommitTime = true;
        continue;
      default:
        break scan; // an unknown block type ends the log
    }
  }
  if (failedCommit !== undefined) {
    // jbd2_journal_load: "journal transaction N is corrupt" fails the mount.
    throw refuse(j, 'ECORRUPT', `commit checksum mismatch: transaction ${failedCommit.tid} is corrupt`, failedCommit.n);
  }
  return end ?? next;
}

// ---- pass 2: revoke -----------------------------------------------------------------------

/** PASS_REVOKE: block number -> the newest transaction that revoked it. */
function revokePass(j: Journal, end: number): Map<number, number> {
  const revoked = new Map<number, number>();
  const c = new Cursor(j);
  let next = j.sequence;
  while (!tidGeq(next, end)) {
    const h = nextHeader(c, next);
    if (h === undefined) break;
    if (h.type === JBD2_DESCRIPTOR_BLOCK) {
      if (!tailCsumOk(j, h.block)) throw refuse(j, 'ECORRUPT', 'descriptor block checksum mismatch', h.n);
      c.skip(tags(j, h.block).length);
    } else if (h.type === JBD2_COMMIT_BLOCK) {
      next = (next + 1) >>> 0;
    } else if (h.type === JBD2_REVOKE_BLOCK) {
      readRevokes(j, h, next, revoked);
    } else {
      break;
    }
  }
  if (next !== end) throw refuse(j, 'ECORRUPT', `revoke pass ended at transaction ${next}, the scan at ${end}`, c.pos);
  return revoked;
}

/** scan_revoke_records: r_count bytes of 4- or 8-byte (64BIT) big-endian block numbers. */
function readRevokes(j: Journal, h: Header, sequence: number, revoked: Map<number, number>): void {
  const rcount = be32(h.block, REVOKE_R_COUNT);
  if (rcount > j.blockSize - (j.csum ? BLOCK_TAIL_SIZE : 0)) throw refuse(j, 'ECORRUPT', `revoke block r_count ${rcount} is past the block`, h.n);
  const recordLen = j.is64 ? 8 : 4;
  for (let at = REVOKE_RECORDS; at + recordLen <= rcount; at += recordLen) {
    const blocknr = recordLen === 4 ? be32(h.block, at) : be64(h.block, at);
    const seen = revoked.get(blocknr);
    if (seen === undefined || tidGt(sequence, seen)) revoked.set(blocknr, sequence);
  }
}

// ---- pass 3: replay -----------------------------------------------------------------------

/** PASS_REPLAY: every un-revoked tagged block of transactions before `end`, newest last. */
function replayPass(j: Journal, end: number, revoked: Map<number, number>, maxBytes: number): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  const c = new Cursor(j);
  let next = j.sequence;
  while (!tidGeq(next, end)) {
    const h = nextHeader(c, next);
    if (h === undefined) break;
    if (h.type === JBD2_DESCRIPTOR_BLOCK) {
      if (!tailCsumOk(j, h.block)) throw refuse(j, 'ECORRUPT', 'descriptor block checksum mismatch', h.n);
      for (const tag of tags(j, h.block)) {
        const { n, block } = c.take();
        // jbd2_journal_test_revoke: revoked by this transaction or a later one.
        const by = revoked.get(tag.blocknr);
        if (by !== undefined && tidGeq(by, next)) continue;
        if (!tagCsumOk(j, h.block, tag, block, next)) throw refuse(j, 'ECORRUPT', `data block checksum mismatch (filesystem block ${tag.blocknr})`, n);
        if (!Number.isSafeInteger(tag.blocknr)) throw refuse(j, 'ECORRUPT', `tag block number ${tag.blocknr} is out of range`, h.n);
        const copy = block.slice(0, j.blockSize);
        if (tag.flags & JBD2_FLAG_ESCAPE) new DataView(copy.buffer).setUint32(0, JBD2_MAGIC_NUMBER);
        out.delete(tag.blocknr); // keep insertion order = order of the last write
        out.set(tag.blocknr, copy);
        // Replayed blocks are held in memory: a journal with more to replay than the reader's
        // memory bound is left to e2fsck (a valid one too: it is rare, and safe to refuse).
        if (out.size * j.blockSize > maxBytes) throw refuse(j, 'EFORMAT', `more than ${maxBytes} bytes of blocks to replay, more than extimg holds in memory`, n);
      }
    } else if (h.type === JBD2_COMMIT_BLOCK) {
      next = (next + 1) >>> 0;
    } else if (h.type !== JBD2_REVOKE_BLOCK) {
      break;
    }
  }
  if (next !== end) throw refuse(j, 'ECORRUPT', `replay pass ended at transaction ${next}, the scan at ${end}`, c.pos);
  return out;
}

// ---- fast commits -------------------------------------------------------------------------

/**
 * fc_do_one_pass with ext4's scan callback: fast commits follow the last full commit when the
 * first block of the fast-commit area (j_fc_first = j_last + 1) starts with an
 * EXT4_FC_TAG_HEAD whose fc_tid is the end of the log. Replaying them means re-doing inode and
 * extent changes (fs/ext4/fast_commit.c), which is e2fsck's job, not ours.
 */
function checkFastCommit(j: Journal, end: number): void {
  const fcFirst = j.last + 1;
  if (fcFirst >= j.maxlen) return;
  const b = readBlock(j.src, j, fcFirst);
  const tag = b[0]! | (b[1]! << 8);
  const tid = (b[8]! | (b[9]! << 8) | (b[10]! << 16) | (b[11]! << 24)) >>> 0; // ext4_fc_head.fc_tid
  if (tag === EXT4_FC_TAG_HEAD && tid === end) {
    throw refuse(j, 'EFORMAT', `fast-commit blocks of transaction ${end} need replaying (fast_commit replay is not supported)`, fcFirst);
  }
}

// ---- crc32_be (COMPAT_CHECKSUM v1) --------------------------------------------------------

/** The kernel's crc32_be: CRC-32 polynomial 0x04C11DB7, MSB first, no inversion. */
const CRC32_BE = new Uint32Array(256);
for (let i = 0; i < 256; i++) {
  let c = i << 24;
  for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
  CRC32_BE[i] = c >>> 0;
}
function crc32be(crc: number, data: Uint8Array, len: number): number {
  let c = crc >>> 0;
  for (let i = 0; i < len; i++) c = ((c << 8) ^ CRC32_BE[((c >>> 24) ^ data[i]!) & 0xff]!) >>> 0;
  return c;
}
