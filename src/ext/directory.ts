import { DIR_ENTRY, DIR_ENTRY_TAIL } from './struct.js';

/**
 * Linear directories (ext2_dir_entry_2 with the filetype feature). Each block is fully covered
 * by entries; the last entry's rec_len runs to the end of the block (or, with metadata_csum, to
 * the 12-byte ext4_dir_entry_tail that ends every leaf block); an entry never crosses a block.
 * Block 0 starts with "." and "..".
 */
export interface DirEntryInput {
  /** The name as a byte string (one char per byte, see tree/names.ts). */
  name: string;
  inode: number;
  fileType: number;
}

const D = DIR_ENTRY.off;
/** ext4_dir_entry_tail's det_reserved_ft: marks the fake entry that holds a leaf's checksum. */
export const EXT4_FT_DIR_CSUM = 0xde;

/** rec_len of an entry: 8-byte header plus the name, rounded up to 4 (EXT2_DIR_REC_LEN). */
export function dirRecLen(nameLen: number): number {
  return (8 + nameLen + 3) & ~3;
}

/** Write the checksum tail (checksum 0, filled by checksum.ts) at the end of a leaf block at `at`. */
export function writeDirTail(out: Uint8Array, at: number, blockSize: number): void {
  DIR_ENTRY_TAIL.encode({ det_reserved_zero1: 0, det_rec_len: DIR_ENTRY_TAIL.size, det_reserved_zero2: 0, det_reserved_ft: EXT4_FT_DIR_CSUM, det_checksum: 0 }, out, at + blockSize - DIR_ENTRY_TAIL.size);
}

/**
 * Pack entries into blocks. With `out` (a buffer of `blocks * blockSize` bytes, zeroed) it writes
 * them; without, it only counts the blocks. Returns the number of blocks (at least `minBlocks`).
 * With `tail` (metadata_csum) every block keeps its last 12 bytes for ext4_dir_entry_tail.
 */
export function packDirectory(
  self: number,
  parent: number,
  entries: readonly DirEntryInput[],
  blockSize: number,
  minBlocks: number,
  out?: Uint8Array,
  tail = false,
): number {
  const dv = out ? new DataView(out.buffer, out.byteOffset, out.byteLength) : undefined;
  const room = tail ? blockSize - DIR_ENTRY_TAIL.size : blockSize;
  let block = 0;
  let pos = 0; // offset within the current block
  let lastEntry = -1; // absolute offset of the previous entry in this block

  const put = (name: string, inode: number, fileType: number): void => {
    const len = dirRecLen(name.length);
    if (pos + len > room) {
      // Close the block: stretch the last entry to its end.
      if (dv) dv.setUint16(lastEntry + D.rec_len, room - (lastEntry - block * blockSize), true);
      block++;
      pos = 0;
    }
    const at = block * blockSize + pos;
    if (dv && out) {
      dv.setUint32(at + D.inode, inode, true);
      dv.setUint16(at + D.rec_len, len, true);
      out[at + D.name_len] = name.length;
      out[at + D.file_type] = fileType;
      for (let i = 0; i < name.length; i++) out[at + 8 + i] = name.charCodeAt(i);
    }
    lastEntry = at;
    pos += len;
  };

  put('.', self, 2);
  put('..', parent, 2);
  for (const e of entries) put(e.name, e.inode, e.fileType);
  if (dv) dv.setUint16(lastEntry + D.rec_len, room - (lastEntry - block * blockSize), true);
  const used = block + 1;
  const blocks = Math.max(used, minBlocks);
  if (dv && out) {
    // Empty blocks hold one unused entry spanning the block (inode 0), as ext2fs_new_dir_block.
    for (let b = used; b < blocks; b++) dv.setUint16(b * blockSize + D.rec_len, room, true);
    if (tail) for (let b = 0; b < blocks; b++) writeDirTail(out, b * blockSize, blockSize);
  }
  return blocks;
}
