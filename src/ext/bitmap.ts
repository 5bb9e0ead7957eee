/**
 * A plain bit array (bit i of byte i>>3 is i&7, as ext bitmaps are laid out). Indexes are
 * relative to `base`, so a block bitmap can start at s_first_data_block and each group's
 * bits begin on a byte boundary.
 */
export class Bitmap {
  readonly bits: Uint8Array;
  constructor(
    readonly length: number,
    readonly base = 0,
  ) {
    this.bits = new Uint8Array(Math.ceil(length / 8));
  }
  get(i: number): boolean {
    i -= this.base;
    return (this.bits[i >> 3]! & (1 << (i & 7))) !== 0;
  }
  set(i: number): void {
    i -= this.base;
    this.bits[i >> 3]! |= 1 << (i & 7);
  }
  /** Set bits [start, start + count). */
  setRange(start: number, count: number): void {
    let i = start - this.base;
    const end = i + count;
    while (i < end && i & 7) this.setRel(i++);
    const fullEnd = end & ~7;
    if (i < fullEnd) {
      this.bits.fill(0xff, i >> 3, fullEnd >> 3);
      i = fullEnd;
    }
    while (i < end) this.setRel(i++);
  }
  private setRel(i: number): void {
    this.bits[i >> 3]! |= 1 << (i & 7);
  }
  private getRel(i: number): boolean {
    return (this.bits[i >> 3]! & (1 << (i & 7))) !== 0;
  }
  /** Count set bits in [start, start + count). */
  countRange(start: number, count: number): number {
    let n = 0;
    let i = start - this.base;
    const end = i + count;
    while (i < end && i & 7) n += this.getRel(i++) ? 1 : 0;
    while (i + 8 <= end) {
      n += POPCOUNT[this.bits[i >> 3]!]!;
      i += 8;
    }
    while (i < end) n += this.getRel(i++) ? 1 : 0;
    return n;
  }
}

const POPCOUNT = new Uint8Array(256);
for (let i = 1; i < 256; i++) POPCOUNT[i] = (i & 1) + POPCOUNT[i >> 1]!;
