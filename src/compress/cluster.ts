/**
 * One-shot, synchronous decoders for compressed clusters of a known size (qcow2: a cluster of at
 * most 2 MiB, read while the ext reader asks for a block). Both take the compressed bytes with
 * whatever follows them (qcow2 knows a compressed cluster's length to a 512-byte sector only)
 * and must produce exactly `outSize` bytes, as qemu's qcow2_zlib_decompress() and
 * qcow2_zstd_decompress() require.
 *
 * zstd is node:zlib's where Node has it (>= 22.15), else zstd's WebAssembly decoder, which loads
 * asynchronously: loadClusterDecoders() first (a read that needs it before then is refused).
 */
import * as zlib from 'node:zlib';
import { describe } from './fail.js';
import { zstdFrameEnd } from './zstd.js';
import { decodeFrameStreaming, ZstdOutOfMemory, zstdStreamDecoder } from './zstd-decode-wasm.js';

/** Why a cluster did not decode: the caller names the image and the cluster. */
export class ClusterDecodeError extends Error {
  constructor(
    message: string,
    /** The zstd WebAssembly decoder is not loaded (loadClusterDecoders()). */
    readonly notLoaded = false,
  ) {
    super(message);
  }
}

/**
 * Raw deflate (RFC 1951, no zlib header: qemu deflates with windowBits -12) to exactly `outSize`
 * bytes; input after the end of the deflate stream is ignored.
 */
export function inflateRawCluster(data: Uint8Array, outSize: number): Uint8Array {
  let out: Uint8Array;
  try {
    out = zlib.inflateRawSync(data, { maxOutputLength: Math.max(outSize, 1) });
  } catch (e) {
    throw new ClusterDecodeError(`corrupt deflate data: ${describe(e)}`);
  }
  if (out.length !== outSize) throw new ClusterDecodeError(`deflate data decodes to ${out.length} bytes, not ${outSize}`);
  return out;
}

type ZlibZstd = (buf: Uint8Array, options?: { maxOutputLength?: number }) => Uint8Array;
const nativeZstd = (zlib as unknown as { zstdDecompressSync?: ZlibZstd }).zstdDecompressSync;

let wasm: Awaited<ReturnType<typeof zstdStreamDecoder>> | undefined;

/** Load what zstdCluster() needs where node:zlib has no zstd (once; later calls return at once). */
export async function loadClusterDecoders(): Promise<void> {
  if (nativeZstd || wasm) return;
  wasm = await zstdStreamDecoder();
}

/** Whether zstdCluster() can run now. */
export function clusterDecodersReady(): boolean {
  return nativeZstd !== undefined || wasm !== undefined;
}

/**
 * zstd frames to exactly `outSize` bytes: frame after frame until the cluster is full, as qemu
 * decodes them (it compresses a cluster as one frame; several are allowed).
 */
export function zstdCluster(data: Uint8Array, outSize: number): Uint8Array {
  const decode = frameDecoder();
  const out = new Uint8Array(outSize);
  let filled = 0;
  let pos = 0;
  while (filled < outSize) {
    const end = zstdFrameEnd(data, pos);
    if (end === undefined) throw new ClusterDecodeError(`corrupt or truncated zstd frame at byte ${pos} of the cluster's data`);
    let part: Uint8Array;
    try {
      part = decode(data.subarray(pos, end), outSize - filled);
    } catch (e) {
      if (e instanceof ZstdOutOfMemory) throw new ClusterDecodeError('out of memory decoding a zstd frame');
      throw new ClusterDecodeError(`corrupt zstd frame: ${describe(e)}`);
    }
    if (part.length > outSize - filled) throw new ClusterDecodeError(`zstd data decodes to more than ${outSize} bytes`);
    out.set(part, filled);
    filled += part.length;
    pos = end;
  }
  return out;
}

function frameDecoder(): (frame: Uint8Array, capacity: number) => Uint8Array {
  if (nativeZstd) {
    const native = nativeZstd;
    return (frame, capacity) => native(frame, { maxOutputLength: Math.max(capacity, 1) });
  }
  const x = wasm;
  if (!x) throw new ClusterDecodeError('zstd clusters need the WebAssembly zstd decoder loaded first (loadClusterDecoders())', true);
  return (frame, capacity) => decodeFrameStreaming(x, frame, capacity);
}
