import type { ImageSink } from '../../io/sink.js';

/**
 * Batches block writes that arrive in increasing block order into one large buffer and hands
 * the sink contiguous runs, leaving out all-zero blocks so the image file stays sparse.
 */
export class BlockOutput {
  private readonly buf: Uint8Array;
  private readonly words: Int32Array;
  private readonly touched: Uint8Array;
  private start = 0; // first block of the window
  private high = 0; // one past the highest touched block, relative to start
  readonly windowBlocks: number;
  bytesWritten = 0;

  constructor(
    private readonly sink: ImageSink,
    private readonly blockSize: number,
    windowBytes = 8 << 20,
  ) {
    this.windowBlocks = Math.max(1, Math.floor(windowBytes / blockSize));
    this.buf = new Uint8Array(this.windowBlocks * blockSize);
    this.words = new Int32Array(this.buf.buffer);
    this.touched = new Uint8Array(this.windowBlocks);
  }

  /**
   * A buffer for blocks [block, block + count) to be filled completely by the caller. `count`
   * must not exceed windowBlocks. Blocks before the window are written through directly.
   */
  reserve(block: number, count: number): Uint8Array {
    if (count > this.windowBlocks) throw new RangeError('reserve larger than the output window');
    if (block < this.start || block + count > this.start + this.windowBlocks) {
      this.flush();
      this.start = block;
    }
    const rel = block - this.start;
    this.touched.fill(1, rel, rel + count);
    if (rel + count > this.high) this.high = rel + count;
    return this.buf.subarray(rel * this.blockSize, (rel + count) * this.blockSize);
  }

  /** Copy `data` (whole blocks) to `block`. */
  put(block: number, data: Uint8Array): void {
    const bs = this.blockSize;
    const n = Math.ceil(data.length / bs);
    for (let i = 0; i < n; i += this.windowBlocks) {
      const c = Math.min(this.windowBlocks, n - i);
      const dst = this.reserve(block + i, c);
      const src = data.subarray(i * bs, Math.min(data.length, (i + c) * bs));
      dst.set(src);
      if (src.length < dst.length) dst.fill(0, src.length);
    }
  }

  flush(): void {
    const bs = this.blockSize;
    const wpb = bs >> 2;
    let runStart = -1;
    for (let i = 0; i <= this.high; i++) {
      let keep = false;
      if (i < this.high && this.touched[i]) {
        for (let w = i * wpb, e = w + wpb; w < e; w++) {
          if (this.words[w] !== 0) {
            keep = true;
            break;
          }
        }
      }
      if (keep) {
        if (runStart < 0) runStart = i;
      } else if (runStart >= 0) {
        const data = this.buf.subarray(runStart * bs, i * bs);
        this.sink.write((this.start + runStart) * bs, data);
        this.bytesWritten += data.length;
        runStart = -1;
      }
    }
    this.touched.fill(0, 0, this.high);
    this.high = 0;
  }
}
