/**
 * Decompression as a stream: compressed chunks in (any sizes), decoded chunks out, never the
 * whole input or output in memory. gzip goes through node:zlib's streaming decoder, which runs
 * on libuv's threads; zstd through zstd's own streaming decoder in WebAssembly; xz, lzma, bzip2
 * and lz4 through the push decoders here.
 * The consumer (`emit`) sees each decoded chunk once, synchronously, and must copy what it keeps.
 */
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { bzip2Decoder } from './bzip2.js';
import { asExtimgError } from './decompress.js';
import type { Codec } from './detect.js';
import { corrupt, describe, truncated } from './fail.js';
import { lz4Decoder } from './lz4.js';
import { lzmaAloneDecoder } from './lzma.js';
import { xzDecoder } from './xz.js';
import { ZstdOutOfMemory, ZstdWasmStream, zstdStreamDecoder } from './zstd-decode-wasm.js';
import { ExtimgError } from '../errors.js';

export type Emit = (bytes: Uint8Array) => void;

/**
 * Output chunk of node:zlib's gunzip. Its default (16 KiB) costs a round trip to libuv's thread
 * pool per 16 KiB (measured with its zstd: 3.2 s for 1 GiB of incompressible data, 0.67 s with 1 MiB).
 */
const ZLIB_CHUNK = 1 << 20;


/**
 * Whether decodeStream is done with each chunk once it asks for the next (it copies what it
 * keeps): true for the push decoders and zstd in WebAssembly, false for node:zlib's streams,
 * which queue chunks. A reader may then refill the chunk before last instead of allocating.
 */
export function releasesChunks(codec: Codec): boolean {
  return codec !== 'gzip';
}

/** Decode `chunks` (the whole compressed stream, in order) with `codec`; resolves when all is emitted. */
export async function decodeStream(codec: Codec, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, origin: string, emit: Emit): Promise<void> {
  try {
    switch (codec) {
      case 'gzip':
        return await throughZlib(zlib.createGunzip({ chunkSize: ZLIB_CHUNK }), chunks, emit, origin, codec);
      case 'zstd':
        // zstd's own streaming decoder in WebAssembly on every Node, also where node:zlib has
        // zstd (>= 22.15): as a stream feeding a spool file, node:zlib's took 1.8-3.4 s per GiB
        // against 0.75 s (its work on libuv's pool and our writes interfere; decoding alone is
        // 0.25 s either way on a compressible base system, 0.44 s WASM against 0.8 s native on
        // incompressible data). Whole buffers still go through node:zlib (zstd.ts).
        return await throughZstdWasm(chunks, emit, origin);
      case 'xz':
        return await throughPush(xzDecoder(origin, emit), chunks);
      case 'lzma':
        return await throughPush(lzmaAloneDecoder(origin, emit), chunks);
      case 'bzip2':
        return await throughPush(bzip2Decoder(origin, emit), chunks);
      case 'lz4':
        return await throughPush(lz4Decoder(origin, emit), chunks);
      default:
        throw new ExtimgError('EFORMAT', `${origin}: unknown compression '${String(codec)}'`, { origin, codec });
    }
  } catch (e) {
    throw asExtimgError(e, origin, codec);
  }
}

async function throughPush(dec: { push(chunk: Uint8Array): void; end(): void }, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
  for await (const c of chunks) dec.push(c);
  dec.end();
}

async function throughZlib(z: zlib.Zlib & NodeJS.ReadWriteStream, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, emit: Emit, origin: string, codec: Codec): Promise<void> {
  const src = Readable.from(chunks, { objectMode: false });
  let failed: unknown;
  src.on('error', (e) => {
    failed = e;
    (z as unknown as { destroy(e?: unknown): void }).destroy(e);
  });
  src.pipe(z as unknown as NodeJS.WritableStream);
  try {
    for await (const out of z as unknown as AsyncIterable<Buffer>) emit(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
  } catch (e) {
    if (failed !== undefined) throw failed;
    const code = (e as { code?: string }).code;
    if (code === 'Z_BUF_ERROR') throw truncated(origin, codec, 0);
    throw corrupt(origin, codec, `corrupt ${codec} stream: ${describe(e)}`);
  }
  if (failed !== undefined) throw failed;
}

async function throughZstdWasm(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, emit: Emit, origin: string): Promise<void> {
  const x = await zstdStreamDecoder();
  const dec = new ZstdWasmStream(x, emit);
  try {
    for await (const c of chunks) dec.push(c);
    dec.end();
  } catch (e) {
    dec.free();
    if (e instanceof ZstdOutOfMemory) throw new ExtimgError('ETOOBIG', `${origin}: zstd frame does not fit in memory`, { origin, codec: 'zstd' });
    if (e instanceof ExtimgError) throw e;
    const m = describe(e);
    if (m === 'truncated') throw truncated(origin, 'zstd', 0);
    throw corrupt(origin, 'zstd', `corrupt zstd stream: ${m}`);
  }
}
