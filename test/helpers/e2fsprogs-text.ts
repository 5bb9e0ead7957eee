/**
 * Parsers for what e2fsprogs 1.47 prints, so tests can compare our decoded structs with the tools'
 * view of the same bytes. Each parser names the e2fsprogs function whose format it reads; numbers
 * come back as printed (the tools' own arithmetic, e.g. lo | hi << 32), never recomputed here.
 */

/** `dumpe2fs` (misc/dumpe2fs.c + lib/e2p/ls.c, ljs.c): "Key: value" lines before the first group. */
export function parseHeader(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (/^Group \d+:/.test(line)) break;
    const m = /^([A-Za-z][A-Za-z0-9 _#/()-]*?):\s*(.*)$/.exec(line);
    if (m && !fields.has(m[1]!)) fields.set(m[1]!, m[2]!.trim());
  }
  return fields;
}

export interface GroupLine {
  group: number;
  /** " csum 0x%04x" after the block range (group descriptor checksums only). */
  csum?: number;
  /** "[INODE_UNINIT, BLOCK_UNINIT, ITABLE_ZEROED]", as printed (print_bg_opts). */
  flags: string[];
  blockBitmap: number;
  /** ", csum 0x%08x" (metadata_csum): ext2fs_block_bitmap_checksum, lo | hi << 16 with 64-byte descriptors. */
  blockBitmapCsum?: number;
  inodeBitmap: number;
  inodeBitmapCsum?: number;
  inodeTable: number;
  freeBlocks: number;
  freeInodes: number;
  dirs: number;
  /** ", %u unused inodes" (only with group descriptor checksums). */
  unusedInodes?: number;
}

/** `dumpe2fs` group sections (misc/dumpe2fs.c list_desc). */
export function parseGroups(text: string): GroupLine[] {
  const out: GroupLine[] = [];
  const sections = text.split(/^(?=Group \d+:)/m).slice(1);
  for (const s of sections) {
    const head = /^Group (\d+): \(Blocks \d+-\d+\)(?: csum 0x([0-9a-f]+))?(?: \[([A-Z_, ]+)\])?/.exec(s);
    const bb = /Block bitmap at (\d+) \([^)]*\)(?:, csum 0x([0-9a-f]+))?/.exec(s);
    const ib = /Inode bitmap at (\d+) \([^)]*\)(?:, csum 0x([0-9a-f]+))?/.exec(s);
    const it = /Inode table at (\d+)-\d+/.exec(s);
    const counts = /^ {2}(\d+) free (?:blocks|clusters), (\d+) free inodes, (\d+) directories(?:, (\d+) unused inodes)?/m.exec(s);
    if (!head || !bb || !ib || !it || !counts) throw new Error(`dumpe2fs: cannot parse group section:\n${s}`);
    const g: GroupLine = {
      group: Number(head[1]),
      flags: head[3] ? head[3].split(', ') : [],
      blockBitmap: Number(bb[1]),
      inodeBitmap: Number(ib[1]),
      inodeTable: Number(it[1]),
      freeBlocks: Number(counts[1]),
      freeInodes: Number(counts[2]),
      dirs: Number(counts[3]),
    };
    if (head[2] !== undefined) g.csum = parseInt(head[2], 16);
    if (bb[2] !== undefined) g.blockBitmapCsum = parseInt(bb[2], 16);
    if (ib[2] !== undefined) g.inodeBitmapCsum = parseInt(ib[2], 16);
    if (counts[4] !== undefined) g.unusedInodes = Number(counts[4]);
    out.push(g);
  }
  return out;
}

export interface StatTime {
  seconds: number;
  /** The raw *_extra word, when debugfs prints "0x%08x:%08x" (large inodes). */
  extra?: number;
}

export interface DebugfsStat {
  ino: number;
  type: string;
  /** i_mode & 07777. */
  perm: number;
  flags: number;
  generation: number;
  /** [i_version_hi, l_i_version] for large inodes, [l_i_version] otherwise. */
  version: number[];
  uid: number;
  gid: number;
  project?: number;
  size: number;
  fileAcl: number;
  links: number;
  blockcount: number;
  faddr: number;
  times: Partial<Record<'ctime' | 'atime' | 'mtime' | 'crtime' | 'dtime', StatTime>>;
  extraIsize?: number;
  checksum?: number;
  fastLink?: string;
  /** The text after "EXTENTS:" or "BLOCKS:" (one line), with which of the two it was. */
  map?: { kind: 'EXTENTS' | 'BLOCKS'; text: string };
}

function need(re: RegExp, text: string, what: string): RegExpExecArray {
  const m = re.exec(text);
  if (!m) throw new Error(`debugfs stat: no ${what} in:\n${text}`);
  return m;
}

/** `debugfs stat <ino>` (debugfs/debugfs.c internal_dump_inode). */
export function parseStat(text: string): DebugfsStat {
  const head = need(/^Inode: (\d+)\s+Type: (.+?)\s+Mode:\s+(\d+)\s+Flags: 0x([0-9a-f]+)/m, text, 'Inode line');
  const gen = need(/^Generation: (\d+)\s+Version: 0x([0-9a-f]{8})(?::([0-9a-f]{8}))?/m, text, 'Generation line');
  const user = need(/^User:\s+(\d+)\s+Group:\s+(\d+)(?:\s+Project:\s+(\d+))?\s+Size: (\d+)/m, text, 'User line');
  const acl = need(/^File ACL: (\d+)/m, text, 'File ACL');
  const links = need(/^Links: (\d+)\s+Blockcount: (\d+)/m, text, 'Links line');
  const frag = need(/^Fragment:\s+Address: (\d+)/m, text, 'Fragment line');
  const st: DebugfsStat = {
    ino: Number(head[1]),
    type: head[2]!,
    perm: parseInt(head[3]!, 8),
    flags: parseInt(head[4]!, 16),
    generation: Number(gen[1]),
    version: gen[3] !== undefined ? [parseInt(gen[2]!, 16), parseInt(gen[3], 16)] : [parseInt(gen[2]!, 16)],
    uid: Number(user[1]),
    gid: Number(user[2]),
    size: Number(user[4]),
    fileAcl: Number(acl[1]),
    links: Number(links[1]),
    blockcount: Number(links[2]),
    faddr: Number(frag[1]),
    times: {},
  };
  if (user[3] !== undefined) st.project = Number(user[3]);
  for (const m of text.matchAll(/^\s*(c|a|m|cr|d)time: 0x([0-9a-f]{8})(?::\(?([0-9a-f]{8})\)?)? --/gm)) {
    const t: StatTime = { seconds: parseInt(m[2]!, 16) };
    if (m[3] !== undefined) t.extra = parseInt(m[3], 16);
    st.times[`${m[1]}time` as keyof DebugfsStat['times']] = t;
  }
  const extra = /^Size of extra inode fields: (\d+)/m.exec(text);
  if (extra) st.extraIsize = Number(extra[1]);
  const csum = /^Inode checksum: 0x([0-9a-f]{8})/m.exec(text);
  if (csum) st.checksum = parseInt(csum[1]!, 16);
  const fast = /^Fast link dest: "(.*)"$/m.exec(text);
  if (fast) st.fastLink = fast[1]!;
  const map = /^(EXTENTS|BLOCKS):\n(.*)$/m.exec(text);
  if (map) st.map = { kind: map[1] as 'EXTENTS' | 'BLOCKS', text: map[2]! };
  return st;
}

export type BlockListItem = { kind: 'data'; logical: number; count: number; physical: number } | { kind: 'IND' | 'DIND' | 'TIND'; physical: number };

/** The BLOCKS: line of `debugfs stat` (list_blocks_proc/finish_range), in debugfs's order. */
export function parseBlockList(text: string): BlockListItem[] {
  const out: BlockListItem[] = [];
  for (const m of text.matchAll(/\((?:(IND|DIND|TIND)|(\d+)(?:-(\d+))?)\):(\d+)(?:-(\d+))?/g)) {
    if (m[1]) out.push({ kind: m[1] as 'IND' | 'DIND' | 'TIND', physical: Number(m[4]) });
    else {
      const first = Number(m[2]);
      const last = m[3] !== undefined ? Number(m[3]) : first;
      out.push({ kind: 'data', logical: first, count: last - first + 1, physical: Number(m[4]) });
    }
  }
  return out;
}

export interface ExtentRow {
  level: number;
  maxLevel: number;
  entry: number;
  entries: number;
  logical: number;
  physical: number;
  /** Leaf rows only: the run length and whether debugfs marked it Uninit. */
  leaf?: { length: number; uninit: boolean };
}

/** `debugfs ex <ino>` (debugfs/debugfs.c dump_extents, DUMP_LEAF_EXTENTS|DUMP_NODE_EXTENTS). */
export function parseExtents(text: string): ExtentRow[] {
  const rows: ExtentRow[] = [];
  for (const m of text.matchAll(/^\s*(\d+)\/\s*(\d+)\s+(\d+)\/\s*(\d+)\s+(\d+) -\s+(\d+)\s+(\d+)(?: -\s+(\d+))?\s+(\d+)\s*(Uninit)?\s*$/gm)) {
    const row: ExtentRow = { level: Number(m[1]), maxLevel: Number(m[2]), entry: Number(m[3]), entries: Number(m[4]), logical: Number(m[5]), physical: Number(m[7]) };
    if (m[8] !== undefined) row.leaf = { length: Number(m[9]), uninit: m[10] !== undefined };
    rows.push(row);
  }
  return rows;
}

export interface HtreeNode {
  count: number;
  limit: number;
  checksum?: number;
  /** Entry 0's hash is printed as 0: its slot holds the count/limit. */
  entries: Array<{ hash: number; block: number }>;
}

export interface HtreeLeafEntry {
  inode: number;
  recLen: number;
  name: string;
}

export interface HtreeLeaf {
  logical: number;
  physical: number;
  entries: HtreeLeafEntry[];
  /** "leaf block checksum: 0x%08x" for the ext4_dir_entry_tail. */
  tailChecksum?: number;
}

export interface HtreeDump {
  root: { reservedZero: number; hashVersion: number; infoLength: number; indirectLevels: number; flags: number };
  /** Interior nodes (the root's dx entries first), in the depth-first order debugfs prints them. */
  nodes: HtreeNode[];
  leaves: HtreeLeaf[];
}

/** `debugfs htree_dump <dir>` (debugfs/htree.c htree_dump_int_node / htree_dump_leaf_node). */
export function parseHtreeDump(text: string): HtreeDump {
  const r = (k: string) => Number(need(new RegExp(`^\\t ${k}: (\\d+)$`, 'm'), text, k)[1]);
  const dump: HtreeDump = {
    root: { reservedZero: r('Reserved zero'), hashVersion: r('Hash Version'), infoLength: r('Info length'), indirectLevels: r('Indirect levels'), flags: r('Flags') },
    nodes: [],
    leaves: [],
  };
  let node: HtreeNode | undefined;
  let leaf: HtreeLeaf | undefined;
  for (const line of text.split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = /^Number of entries \(count\): (\d+)$/.exec(line))) {
      node = { count: Number(m[1]), limit: -1, entries: [] };
      dump.nodes.push(node);
      leaf = undefined;
    } else if ((m = /^Number of entries \(limit\): (\d+)$/.exec(line)) && node) node.limit = Number(m[1]);
    else if ((m = /^Checksum: 0x([0-9a-f]{8})$/.exec(line)) && node) node.checksum = parseInt(m[1]!, 16);
    else if ((m = /^Entry #\d+: Hash 0x([0-9a-f]{8})(?: \(\*\*\))?, block (\d+)$/.exec(line))) {
      // The node's own list, until the blank line; afterwards each entry is repeated as a heading.
      if (node && node.entries.length < node.count) node.entries.push({ hash: parseInt(m[1]!, 16), block: Number(m[2]) });
    } else if (line === '') {
      if (node && node.entries.length === node.count) node = undefined;
    } else if ((m = /^Reading directory block (\d+), phys (\d+)$/.exec(line))) {
      leaf = { logical: Number(m[1]), physical: Number(m[2]), entries: [] };
      dump.leaves.push(leaf);
    } else if (leaf) {
      for (const e of line.matchAll(/(\d+) 0x[0-9a-f]{8}-[0-9a-f]{8} \((\d+)\) (\S*) {3}|leaf block checksum: 0x([0-9a-f]{8}) {2}/g)) {
        if (e[4] !== undefined) leaf.tailChecksum = parseInt(e[4], 16);
        else leaf.entries.push({ inode: Number(e[1]), recLen: Number(e[2]), name: e[3]! });
      }
    }
  }
  return dump;
}

export interface XattrDumpEntry {
  offset: number;
  hash: number;
  nameLen: number;
  nameIndex: number;
  valueOffset: number;
  valueInum: number;
  valueSize: number;
  name: string;
}

export interface XattrDump {
  magic: number;
  /** block_dump -x only. */
  header?: { refcount: number; blocks: number; hash: number; checksum: number; reserved: number[] };
  entries: XattrDumpEntry[];
  /** "last entry found at offset %u". */
  end?: number;
}

/** `debugfs block_dump -x <blk>` and `debugfs inode_dump -x <ino>` (debugfs/xattrs.c, dump_xattr_raw_entries). */
export function parseXattrDump(text: string): XattrDump {
  const dump: XattrDump = { magic: parseInt(need(/^magic = ([0-9a-f]{8})/m, text, 'magic')[1]!, 16), entries: [] };
  const rc = /^refcount = (\d+), blocks = (\d+)\nhash = ([0-9a-f]{8}), checksum = ([0-9a-f]{8})\nreserved: ([0-9a-f]{8}) ([0-9a-f]{8}) ([0-9a-f]{8})/m.exec(text);
  if (rc) {
    dump.header = {
      refcount: Number(rc[1]),
      blocks: Number(rc[2]),
      hash: parseInt(rc[3]!, 16),
      checksum: parseInt(rc[4]!, 16),
      reserved: [rc[5], rc[6], rc[7]].map((x) => parseInt(x!, 16)),
    };
  }
  const re = /^offset = (\d+) \(\d+\), hash = (\d+), name_len = (\d+), name_index = (\d+)\nvalue_offset = (\d+) \(\d+\), value_inum = (\d+), value_size = (\d+)\nname = (.*)$/gm;
  for (const m of text.matchAll(re)) {
    dump.entries.push({
      offset: Number(m[1]),
      hash: Number(m[2]),
      nameLen: Number(m[3]),
      nameIndex: Number(m[4]),
      valueOffset: Number(m[5]),
      valueInum: Number(m[6]),
      valueSize: Number(m[7]),
      name: m[8]!,
    });
  }
  const end = /^last entry found at offset (\d+)/m.exec(text);
  if (end) dump.end = Number(end[1]);
  return dump;
}

/** `debugfs ea_list <ino>` (debugfs/xattrs.c dump_inode_attributes): "  name (size)[ = value]". */
export function parseEaList(text: string): Array<{ name: string; size: number }> {
  return [...text.matchAll(/^ {2}(\S+) \((\d+)\)/gm)].map((m) => ({ name: m[1]!, size: Number(m[2]) }));
}

/** ctime(3) in UTC, as dumpe2fs prints times when run with TZ=UTC: "Fri Dec  4 19:18:13 2026". */
export function ctimeUtc(seconds: number): string {
  const d = new Date(seconds * 1000);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]} ${months[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}
