/**
 * One entry point per job: decompress a whole in-memory stream with the codec detect.ts named.
 * Every refusal is an ExtimgError: ECORRUPT for truncated or corrupt data (naming the input and,
 * where known, the byte offset), EFORMAT for a variant we do not decode. Whatever a dependency
 * throws is wrapped the same way; no stack trace reaches a message.
 */
import { ExtimgError, isExtimgError } from '../errors.js';
import { decodeBzip2 } from './bzip2.js';
import { type Codec, detectCodec } from './detect.js';
import { describe } from './fail.js';
import { decodeGzip } from './gzip.js';
import { decodeLz4 } from './lz4.js';
import { decodeLzmaAlone } from './lzma.js';
import { decodeXz } from './xz.js';
import { decodeZstd } from './zstd.js';

export const CODECS: readonly Codec[] = ['gzip', 'xz', 'zstd', 'bzip2', 'lzma', 'lz4'];

export interface Decompressed {
  /** The codec found by its magic bytes; undefined when the input was not compressed. */
  codec: Codec | undefined;
  data: Uint8Array;
}

export async function decompress(data: Uint8Array, codec: Codec, origin: string): Promise<Uint8Array> {
  try {
    switch (codec) {
      case 'gzip':
        return decodeGzip(data, origin);
      case 'xz':
        return decodeXz(data, origin);
      case 'zstd':
        return await decodeZstd(data, origin);
      case 'bzip2':
        return decodeBzip2(data, origin);
      case 'lzma':
        return decodeLzmaAlone(data, origin);
      case 'lz4':
        return decodeLz4(data, origin);
      default:
        throw new ExtimgError('EFORMAT', `${origin}: unknown compression '${String(codec)}'`, { origin, codec });
    }
  } catch (e) {
    throw asExtimgError(e, origin, codec);
  }
}

/** Detect by magic bytes, then decompress; data that is not compressed comes back as is. */
export async function decompressAuto(data: Uint8Array, origin: string): Promise<Decompressed> {
  const codec = detectCodec(data.subarray(0, 64));
  if (codec === undefined) return { codec, data };
  return { codec, data: await decompress(data, codec, origin) };
}

/** Anything thrown while decoding, as one ExtimgError. */
export function asExtimgError(e: unknown, origin: string, codec: Codec): ExtimgError {
  if (isExtimgError(e)) return e;
  if (e instanceof RangeError && /allocat|Invalid (typed )?array length|Array buffer/i.test(e.message)) {
    return new ExtimgError('ETOOBIG', `${origin}: decompressed ${codec} data does not fit in memory`, { origin, codec });
  }
  return new ExtimgError('ECORRUPT', `${origin}: cannot decompress ${codec} data: ${describe(e)}`, { origin, codec });
}
