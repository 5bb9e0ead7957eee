/**
 * zstd frames decoded by zstd's streaming decoder (ZSTD_decompressStream) in WebAssembly, from
 * the `zstddec` package's streaming build, for Node without zstd in node:zlib (< 22.15).
 *
 * Why streaming, when the whole frame is in memory: V8 runs WebAssembly on its baseline compiler
 * first and swaps in optimized code only at the next call of a function, and one
 * ZSTD_decompress call over a 50 MB frame never returns to pick it up. Called once per MiB of
 * output, the first decode of Debian's initrd took 0.31–0.36 s against 0.42–0.47 s for
 * @bokuweb/zstd-wasm's one-shot call (BENCHMARKS.md).
 *
 * The package's own generator neither reports zstd's error codes nor stops when the decoder
 * makes no progress (on corrupt input it spins for ever), so the loop is ours; we take the
 * package's instance when it is created. Its version is pinned in package.json.
 */
import type { ZSTDDecoder } from 'zstddec/stream';

interface StreamExports {
  memory: { buffer: ArrayBuffer };
  malloc(size: number): number;
  free(ptr: number): void;
  ZSTD_createDCtx(): number;
  ZSTD_freeDCtx(dctx: number): number;
  ZSTD_decompressStream(dctx: number, output: number, input: number): number;
  ZSTD_decompress(dst: number, dstCapacity: number, src: number, srcSize: number): number;
}

/** zstd error codes (zstd_errors.h); a size_t result of -code, read as an i32. */
const ZSTD_ERRORS: Record<number, string> = {
  10: 'unknown frame prefix',
  12: 'unsupported zstd version',
  14: 'unsupported frame parameter',
  16: 'window too large',
  20: 'data corrupt',
  22: 'checksum mismatch',
  24: 'literals header wrong',
  30: 'dictionary corrupt',
  32: 'wrong dictionary',
  64: 'out of memory',
  70: 'output larger than declared',
  72: 'compressed size wrong',
  80: 'no progress with the output full',
  82: 'truncated',
};
/** ZSTD_isError(): results above (size_t)-ZSTD_error_maxCode. */
const ERROR_MAX = 120;
/** Output handed back per call. */
const CHUNK = 1 << 20;

let loaded: Promise<StreamExports> | undefined;

/**
 * Run `start` (synchronous up to the promise it returns) with no global fetch. zstddec's init()
 * loads its base64 WebAssembly through fetch() of a data: URL whenever fetch exists, and in
 * Node that first fetch loads undici: 70–320 ms against 3–18 ms through Buffer, which init()
 * uses otherwise, in every thread that decodes zstd. init() decides synchronously, so the
 * global is put back before anything else runs.
 */
function withoutFetch<T>(start: () => T): T {
  const own = Object.getOwnPropertyDescriptor(globalThis, 'fetch');
  if (!own?.configurable) return start();
  Object.defineProperty(globalThis, 'fetch', { value: undefined, configurable: true, writable: true, enumerable: false });
  try {
    return start();
  } finally {
    Object.defineProperty(globalThis, 'fetch', own);
  }
}

async function load(): Promise<StreamExports> {
  // Loaded when first needed: the package is 84 KB of JavaScript (its wasm inline as base64),
  // which start-up would parse in every process and worker, Node 22 (node:zlib) included.
  const { ZSTDDecoder: Decoder } = await import('zstddec/stream');
  const decoder = new Decoder();
  let exports: Partial<StreamExports> | undefined;
  // init() passes the instantiated module to this._init; keep the instance's exports on the way.
  type Instantiated = Parameters<ZSTDDecoder['_init']>[0];
  const own = decoder._init.bind(decoder);
  decoder._init = (result: Instantiated): void => {
    exports = (result as unknown as { instance: { exports: Partial<StreamExports> } }).instance.exports;
    own(result);
  };
  await withoutFetch(() => decoder.init());
  const x = exports;
  if (!x?.memory || !x.malloc || !x.free || !x.ZSTD_createDCtx || !x.ZSTD_freeDCtx || !x.ZSTD_decompressStream || !x.ZSTD_decompress) {
    throw new Error('zstddec/stream did not expose its decoder (the package changed?)');
  }
  return x as StreamExports;
}

/** Load the decoder now (its WebAssembly compiles off this thread while the caller goes on). */
export function zstdStreamDecoder(): Promise<StreamExports> {
  loaded ??= load();
  return loaded.catch((e: unknown) => {
    loaded = undefined;
    throw e;
  });
}

const WINDOW_TOO_LARGE = 16;

function errorFor(code: number): Error {
  return code === 64 ? new ZstdOutOfMemory() : new Error(ZSTD_ERRORS[code] ?? `zstd error ${code}`);
}

/** ZSTD_decompress of the frame already copied to `input`, into a `capacity`-byte heap buffer. */
function decodeOneShot(x: StreamExports, frame: Uint8Array, capacity: number, input: number): Uint8Array {
  const dst = x.malloc(Math.max(capacity, 1));
  if (!dst) throw new ZstdOutOfMemory();
  try {
    const ret = x.ZSTD_decompress(dst, capacity, input, frame.length);
    if (ret < 0 && ret >= -ERROR_MAX) throw errorFor(-ret);
    return new Uint8Array(x.memory.buffer, dst, ret).slice();
  } finally {
    x.free(dst);
  }
}

/** The output or the decoder's memory could not be allocated (not a fault of the data). */
export class ZstdOutOfMemory extends Error {
  constructor() {
    super(ZSTD_ERRORS[64]);
  }
}

/**
 * Decode `frame` (exactly one zstd frame) into at most `capacity` bytes: a view of the front of
 * a `capacity`-byte buffer when the frame holds less. Throws ZstdOutOfMemory, or an Error whose
 * message says what zstd found wrong.
 */
export function decodeFrameStreaming(x: StreamExports, frame: Uint8Array, capacity: number): Uint8Array {
  let out: Uint8Array;
  try {
    out = new Uint8Array(capacity);
  } catch {
    throw new ZstdOutOfMemory();
  }
  let input = 0;
  let buffers = 0;
  let chunk = 0;
  let dctx = 0;
  try {
    input = x.malloc(frame.length);
    buffers = x.malloc(24); // ZSTD_inBuffer { src, size, pos } then ZSTD_outBuffer { dst, size, pos }
    chunk = x.malloc(CHUNK);
    dctx = x.ZSTD_createDCtx();
    if (!input || !buffers || !chunk || !dctx) throw new ZstdOutOfMemory();
    let view = new DataView(x.memory.buffer);
    new Uint8Array(x.memory.buffer).set(frame, input);
    const inPos = buffers + 8;
    const outBuf = buffers + 12;
    view.setUint32(buffers, input, true);
    view.setUint32(buffers + 4, frame.length, true);
    view.setUint32(inPos, 0, true);
    let n = 0;
    for (;;) {
      view.setUint32(outBuf, chunk, true);
      view.setUint32(outBuf + 4, CHUNK, true);
      view.setUint32(outBuf + 8, 0, true);
      const before = view.getUint32(inPos, true);
      const ret = x.ZSTD_decompressStream(dctx, outBuf, buffers);
      // The memory may have grown (and its old buffer detached) during the call.
      if (view.buffer !== x.memory.buffer) view = new DataView(x.memory.buffer);
      if (ret < 0 && ret >= -ERROR_MAX) {
        // A window over the streaming decoder's default limit (128 MiB; the zstd CLI wants
        // --long=N for it, the kernel refuses it): the one-shot call has no window to keep,
        // so it decodes such a frame, as the one-shot decoder before this one did.
        if (-ret === WINDOW_TOO_LARGE && n === 0) return decodeOneShot(x, frame, capacity, input);
        throw errorFor(-ret);
      }
      const got = view.getUint32(outBuf + 8, true);
      const consumed = view.getUint32(inPos, true);
      if (n + got > capacity) throw new Error('output larger than its blocks allow');
      out.set(new Uint8Array(x.memory.buffer, chunk, got), n);
      n += got;
      if (ret === 0) {
        if (consumed !== frame.length) throw new Error(`frame ends after ${consumed} of its ${frame.length} bytes`);
        break;
      }
      // Output space was there; no input taken and nothing written means it is stuck.
      if (got === 0 && consumed === before) throw new Error(consumed === frame.length ? 'truncated' : 'decoder made no progress');
    }
    return n === capacity ? out : out.subarray(0, n);
  } finally {
    if (dctx) x.ZSTD_freeDCtx(dctx);
    if (chunk) x.free(chunk);
    if (buffers) x.free(buffers);
    if (input) x.free(input);
  }
}

/**
 * zstd as a stream (for inputs not held whole): push compressed chunks, end(); decoded bytes go
 * to `emit` (views valid only during the call). Concatenated frames and skippable frames are
 * read as zstd -d reads them; zero bytes after the last frame (initramfs padding) are accepted.
 * Memory: the decoder's window (at most 128 MiB, zstd's default limit) plus one input chunk.
 */
export class ZstdWasmStream {
  private input = 0;
  private inputCap = 0;
  private buffers = 0;
  private chunk = 0;
  private dctx = 0;
  /** The decoder returned 0 (a frame just ended) and has not started another. */
  private atFrameEnd = true;
  private sawFrame = false;
  private consumedTotal = 0;

  constructor(
    private readonly x: StreamExports,
    private readonly emit: (bytes: Uint8Array) => void,
  ) {
    this.buffers = x.malloc(24);
    this.chunk = x.malloc(CHUNK);
    this.dctx = x.ZSTD_createDCtx();
    if (!this.buffers || !this.chunk || !this.dctx) {
      this.free();
      throw new ZstdOutOfMemory();
    }
  }

  /** Decode `data`; throws an Error with zstd's message, or ZstdOutOfMemory. */
  push(data: Uint8Array): void {
    const x = this.x;
    let off = 0;
    // After a frame, zeros are padding; anything else starts the next frame.
    if (this.atFrameEnd && this.sawFrame) {
      while (off < data.length && data[off] === 0) off++;
      this.consumedTotal += off;
      if (off === data.length) return;
    }
    while (off < data.length) {
      const n = Math.min(data.length - off, 1 << 20);
      if (n > this.inputCap) {
        if (this.input) x.free(this.input);
        this.input = x.malloc(n);
        this.inputCap = this.input ? n : 0;
        if (!this.input) throw new ZstdOutOfMemory();
      }
      new Uint8Array(x.memory.buffer).set(data.subarray(off, off + n), this.input);
      let view = new DataView(x.memory.buffer);
      const b = this.buffers;
      view.setUint32(b, this.input, true);
      view.setUint32(b + 4, n, true);
      view.setUint32(b + 8, 0, true);
      for (;;) {
        view.setUint32(b + 12, this.chunk, true);
        view.setUint32(b + 16, CHUNK, true);
        view.setUint32(b + 20, 0, true);
        const before = view.getUint32(b + 8, true);
        const ret = x.ZSTD_decompressStream(this.dctx, b + 12, b);
        if (view.buffer !== x.memory.buffer) view = new DataView(x.memory.buffer);
        if (ret < 0 && ret >= -ERROR_MAX) throw errorFor(-ret);
        const got = view.getUint32(b + 20, true);
        const consumed = view.getUint32(b + 8, true);
        if (got > 0) this.emit(new Uint8Array(x.memory.buffer, this.chunk, got));
        this.sawFrame = true;
        this.atFrameEnd = ret === 0;
        if (ret === 0 && consumed < n) {
          // A frame ended inside this chunk: zeros after it are padding, else a new frame.
          const rest = new Uint8Array(x.memory.buffer, this.input + consumed, n - consumed);
          let z = 0;
          while (z < rest.length && rest[z] === 0) z++;
          if (z === rest.length) {
            view.setUint32(b + 8, n, true);
            break;
          }
          view.setUint32(b + 8, consumed + z, true);
          continue;
        }
        // A frame done with all input taken, or all input taken and all output flushed (the
        // output was not filled): wait for the next chunk. A frame that ended exactly as the
        // output filled must not be called again (it would start reading a next frame).
        if (consumed === n && (ret === 0 || got < CHUNK)) break;
        if (got === 0 && consumed === before) throw new Error('decoder made no progress');
      }
      off += n;
      this.consumedTotal += n;
    }
  }

  /** No more input: the last frame must be complete. */
  end(): void {
    try {
      if (!this.atFrameEnd || !this.sawFrame) throw new Error(this.sawFrame ? 'truncated' : 'no zstd frame');
    } finally {
      this.free();
    }
  }

  free(): void {
    const x = this.x;
    if (this.dctx) x.ZSTD_freeDCtx(this.dctx);
    if (this.chunk) x.free(this.chunk);
    if (this.buffers) x.free(this.buffers);
    if (this.input) x.free(this.input);
    this.dctx = this.chunk = this.buffers = this.input = 0;
  }
}
