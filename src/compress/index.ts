export { type Codec, DETECT_BYTES, detectCodec } from './detect.js';
export { CODECS, type Decompressed, decompress, decompressAuto } from './decompress.js';
export { type DecompressJob, type DecompressManyOptions, decompressMany, dropWarmDecoders, poolStats, warmDecoders, workersAvailable } from './pool.js';
export { zstdBackend } from './zstd.js';
