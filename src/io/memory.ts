import { ExtimgError } from '../errors.js';
import type { ImageSink } from './sink.js';

/** Collects the image in one Uint8Array: for small images, tests and browsers. */
export class MemorySink implements ImageSink {
  bytes: Uint8Array = new Uint8Array(0);

  setSize(bytes: number): void {
    if (bytes > 2 ** 31) {
      throw new ExtimgError('EINVAL', `image of ${bytes} bytes is too large to build in memory; write it to a file`, { bytes });
    }
    this.bytes = new Uint8Array(bytes);
  }

  write(offset: number, data: Uint8Array): void {
    if (offset + data.length > this.bytes.length) throw new RangeError(`write past end of image at ${offset}`);
    this.bytes.set(data, offset);
  }
}
