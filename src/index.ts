// The public API: re-exports only.
export * from './tree/index.js';
export * from './errors.js';
export * from './ext/options.js';
export { buildImage, buildImageAsync } from './ext/write/writer.js';
export { buildToBuffer, buildToFile, buildToFileAsync, type BuildToFileOptions } from './ext/write/build.js';
export * from './io/index.js';
export { addHostDirectory, HostFileContent, decodeDev, type HostDirectoryOptions } from './ingest/hostdir.js';
export type { ArchiveOptions } from './ingest/options.js';
export { addArchive, applyPrepared, prepareArchive, prepareArchives, type ArchiveKind, type Prepared, type PreparedInMemory } from './ingest/archive.js';
export { ArchiveFiles, type ArchiveFilesOptions } from './ingest/archive-file.js';
export { sniffArchive } from './ingest/sniff.js';
export { readCpio, writeNewc, type CpioEntry } from './ingest/cpio.js';
export { type Codec, decompress, decompressAuto, decompressMany, detectCodec } from './compress/index.js';
export * from './edit/index.js';
export * from './initrd/index.js';
