import type { CpioEntry } from '../ingest/cpio.js';
import type { Segment, SegmentCompression } from './segments.js';

/** One listed entry: what `lsinitramfs -l` (cpio -tv) shows, with numbers instead of names. */
export interface ListedEntry {
  segment: number;
  compression: SegmentCompression;
  /** ls(1)'s type letter: d - l c b p s, or ? for an unknown type. */
  type: string;
  /** Permission bits (st_mode & 07777). */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  size: number;
  mtime: number;
  /** UTF-8 text; bytes that are not valid UTF-8, control characters and '\' are escaped (\xNN, \\). */
  name: string;
  /** The name's raw bytes in hex, present only when the name is not valid UTF-8. */
  nameHex?: string;
  target?: string;
  targetHex?: string;
  major?: number;
  minor?: number;
}

const TYPES: Record<number, string> = {
  0o100000: '-',
  0o040000: 'd',
  0o120000: 'l',
  0o020000: 'c',
  0o060000: 'b',
  0o010000: 'p',
  0o140000: 's',
};

export function typeLetter(mode: number): string {
  return TYPES[mode & 0o170000] ?? '?';
}

const strict = new TextDecoder('utf-8', { fatal: true });

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Bytes as printable text: valid UTF-8 stays as is except control characters and '\' (escaped
 * so the text form is unambiguous); otherwise every byte outside printable ASCII becomes \xNN.
 */
export function escapeName(bytes: Uint8Array): { text: string; valid: boolean } {
  let decoded: string | undefined;
  try {
    decoded = strict.decode(bytes);
  } catch {
    decoded = undefined;
  }
  if (decoded !== undefined) {
    // eslint-disable-next-line no-control-regex
    const text = decoded.replace(/[\\\x00-\x1f\x7f]/g, (c) => (c === '\\' ? '\\\\' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
    return { text, valid: true };
  }
  let text = '';
  for (const b of bytes) {
    if (b === 0x5c) text += '\\\\';
    else if (b >= 0x20 && b < 0x7f) text += String.fromCharCode(b);
    else text += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return { text, valid: false };
}

function withoutNul(data: Uint8Array): Uint8Array {
  return data.length && data[data.length - 1] === 0 ? data.subarray(0, data.length - 1) : data;
}

export function listEntry(seg: Segment, e: CpioEntry): ListedEntry {
  const type = typeLetter(e.mode);
  const name = escapeName(e.name);
  const row: ListedEntry = {
    segment: seg.index,
    compression: seg.compression,
    type,
    mode: e.mode & 0o7777,
    uid: e.uid,
    gid: e.gid,
    nlink: e.nlink,
    size: e.data.length,
    mtime: e.mtime,
    name: name.text,
  };
  if (!name.valid) row.nameHex = hex(e.name);
  if (type === 'l') {
    const raw = withoutNul(e.data);
    const t = escapeName(raw);
    row.target = t.text;
    if (!t.valid) row.targetHex = hex(raw);
  }
  if (type === 'c' || type === 'b') {
    row.major = e.rdevmajor;
    row.minor = e.rdevminor;
  }
  return row;
}

/** Every entry but the trailers, segment by segment. */
export function listSegments(segments: Segment[]): ListedEntry[] {
  const rows: ListedEntry[] = [];
  for (const seg of segments) for (const e of seg.entries) if (!e.trailer) rows.push(listEntry(seg, e));
  return rows;
}

/** One text line: segment compression type mode uid gid size name [-> target | major,minor]. */
export function formatEntry(r: ListedEntry): string {
  const size = r.major !== undefined ? `${r.major},${r.minor}` : String(r.size);
  const tail = r.target !== undefined ? ` -> ${r.target}` : '';
  return `${r.segment} ${r.compression} ${r.type} ${r.mode.toString(8).padStart(4, '0')} ${r.uid} ${r.gid} ${size} ${r.name}${tail}`;
}
